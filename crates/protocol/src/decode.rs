//! A direct JSON decoder for [`Message`] arrays, the body of every fetch and consume answer,
//! with serde_json as the fallback.
//!
//! [`decode_messages`] checks the body is UTF-8 once, then reads the array the way the API
//! writes it (the fields of [`Message`], any order, any JSON whitespace, any escapes) straight
//! into messages: no per-string UTF-8 check, no serde visitor per field. Anything else it
//! does not handle itself (an unknown field, a duplicate, a float where an integer goes, any
//! malformed input) goes to `serde_json::from_slice`, so the outcome, a value or an error, is
//! always serde_json's (issue 19: decoding was the largest part of the CLI's time per poll).

use super::message::{Header, Message};

/// Decodes a fetch or consume answer (`Message[]`): the same result as
/// `serde_json::from_slice::<Vec<Message>>(body)`, faster for the usual shape.
///
/// ```
/// let body = br#"[{"topic":"t","partition":0,"offset":7,"timestamp":1,"key":"","value":"v\n","headers":[]}]"#;
/// let ms = upkafka_protocol::decode_messages(body).unwrap();
/// assert_eq!(ms[0].value, "v\n");
/// ```
///
/// # Errors
/// serde_json's error for a body that is not a JSON array of messages.
pub fn decode_messages(body: &[u8]) -> Result<Vec<Message>, serde_json::Error> {
    match std::str::from_utf8(body)
        .ok()
        .and_then(|s| Reader { s, i: 0 }.messages())
    {
        Some(ms) => Ok(ms),
        None => serde_json::from_slice(body),
    }
}

/// [`Message`]'s member names as the API writes them, in its order, quoted.
const FIELDS: [&str; 7] = [
    "\"topic\"",
    "\"partition\"",
    "\"offset\"",
    "\"timestamp\"",
    "\"key\"",
    "\"value\"",
    "\"headers\"",
];

/// A cursor over a body known to be UTF-8. Every method returns `None` for anything it does
/// not read itself; the caller then hands the whole body to serde_json.
struct Reader<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    /// Skips whitespace, then consumes `b` or gives up.
    fn expect(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// Skips whitespace, then consumes `word` if it comes next.
    fn eat(&mut self, word: &str) -> bool {
        self.ws();
        let hit = self.s.as_bytes()[self.i..].starts_with(word.as_bytes());
        if hit {
            self.i += word.len();
        }
        hit
    }

    fn messages(mut self) -> Option<Vec<Message>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if !self.eat("]") {
            let start = self.i;
            out.push(self.message()?);
            // Room for as many more as the first one's length suggests (capped), rather than
            // growing by doubling through a 500-message answer.
            let first = (self.i - start).max(1);
            out.reserve(((self.s.len() - self.i) / first).min(4096));
            loop {
                if self.eat("]") {
                    break;
                }
                self.expect(b',')?;
                out.push(self.message()?);
            }
        }
        self.ws();
        (self.i == self.s.len()).then_some(out)
    }

    /// `,` then another member, or `}` (the end of the object): `Some(true)` for another.
    fn more_members(&mut self) -> Option<bool> {
        if self.eat("}") {
            return Some(false);
        }
        self.expect(b',')?;
        Some(true)
    }

    fn message(&mut self) -> Option<Message> {
        self.expect(b'{')?;
        let (mut topic, mut partition, mut offset, mut timestamp) = (None, None, None, None);
        let (mut key, mut value, mut headers) = (None, None, None);
        if !self.eat("}") {
            let mut nth = 0;
            loop {
                // The API writes the fields in this order: try the one expected next first.
                let name = match FIELDS.get(nth) {
                    Some(f) if self.eat(f) => &f[1..f.len() - 1],
                    _ => self.key()?,
                };
                nth += 1;
                self.expect(b':')?;
                // A duplicate is serde's error to report: `replace` says there was one.
                let fresh = match name {
                    "topic" => topic.replace(self.string()?).is_none(),
                    "partition" => partition
                        .replace(i32::try_from(self.integer()?).ok()?)
                        .is_none(),
                    "offset" => offset.replace(self.integer()?).is_none(),
                    "timestamp" => timestamp.replace(self.integer()?).is_none(),
                    "key" => key.replace(self.string()?).is_none(),
                    "value" => {
                        let v = if self.eat("null") {
                            None
                        } else {
                            Some(self.string()?)
                        };
                        value.replace(v).is_none()
                    }
                    "headers" => headers.replace(self.headers()?).is_none(),
                    _ => return None,
                };
                if !fresh {
                    return None;
                }
                if !self.more_members()? {
                    break;
                }
            }
        }
        // A missing value reads as "" (not a tombstone), as `WireMessage` says.
        let value = value.unwrap_or_else(|| Some(String::new()));
        Some(Message {
            topic: topic?,
            partition: partition?,
            offset: offset?,
            timestamp: timestamp?,
            key: key.unwrap_or_default(),
            tombstone: value.is_none(),
            value: value.unwrap_or_default(),
            headers: headers.unwrap_or_default(),
        })
    }

    fn headers(&mut self) -> Option<Vec<Header>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.eat("]") {
            return Some(out);
        }
        loop {
            self.expect(b'{')?;
            let (mut key, mut value) = (None, None);
            if !self.eat("}") {
                loop {
                    let name = self.key()?;
                    self.expect(b':')?;
                    let fresh = match name {
                        "key" => key.replace(self.string()?).is_none(),
                        "value" => value.replace(self.string()?).is_none(),
                        _ => return None,
                    };
                    if !fresh {
                        return None;
                    }
                    if !self.more_members()? {
                        break;
                    }
                }
            }
            out.push(Header {
                key: key?,
                value: value?,
            });
            if self.eat("]") {
                return Some(out);
            }
            self.expect(b',')?;
        }
    }

    /// A member name without escapes (the API's names have none; one with escapes goes to
    /// serde_json).
    fn key(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.i;
        let bytes = self.s.as_bytes();
        let mut end = start;
        loop {
            match *bytes.get(end)? {
                b'"' => break,
                b'\\' => return None,
                b if b < 0x20 => return None,
                _ => end += 1,
            }
        }
        self.i = end + 1;
        Some(&self.s[start..end])
    }

    /// A JSON integer (no fraction, no exponent: serde_json refuses those for an integer
    /// field) that fits an `i64`.
    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let bytes = self.s.as_bytes();
        let start = self.i;
        let mut j = start;
        if bytes.get(j) == Some(&b'-') {
            j += 1;
        }
        let digits = j;
        while bytes.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let n = j - digits;
        // No digits, a leading zero, or a fraction/exponent: serde_json's call.
        if n == 0
            || (n > 1 && bytes[digits] == b'0')
            || matches!(bytes.get(j), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        // At most 18 digits cannot overflow; longer ones are rare enough for `parse`.
        let v = if n <= 18 {
            let mag = bytes[digits..j]
                .iter()
                .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'));
            if digits > start { -mag } else { mag }
        } else {
            self.s[start..j].parse().ok()?
        };
        self.i = j;
        Some(v)
    }

    /// A JSON string, unescaped.
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let bytes = self.s.as_bytes();
        let mut out: Option<String> = None;
        let mut run = self.i; // start of the bytes not yet copied
        loop {
            let at = run + next_special(&bytes[run..])?;
            match bytes[at] {
                b'"' => {
                    let tail = &self.s[run..at];
                    self.i = at + 1;
                    return Some(match out {
                        Some(mut o) => {
                            o.push_str(tail);
                            o
                        }
                        None => tail.to_owned(),
                    });
                }
                b'\\' => {
                    let o = out.get_or_insert_with(|| String::with_capacity(at - self.i + 16));
                    o.push_str(&self.s[run..at]);
                    let (c, len) = unescape(&bytes[at..])?;
                    o.push(c);
                    run = at + len;
                }
                // A raw control character: not JSON.
                _ => return None,
            }
        }
    }
}

/// Position of the next `"`, `\` or control character in `bytes`, looking at 16 bytes at a
/// time.
fn next_special(bytes: &[u8]) -> Option<usize> {
    const CHUNK: usize = 16;
    let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut i = 0;
    while i + CHUNK <= bytes.len() {
        let chunk = &bytes[i..i + CHUNK];
        if chunk.iter().fold(false, |any, &b| any | special(b)) {
            break;
        }
        i += CHUNK;
    }
    bytes[i..].iter().position(|&b| special(b)).map(|p| i + p)
}

/// The escape at the start of `bytes` (which begins with `\`): the character and the length of
/// the escape. `None` for an invalid one, or a lone surrogate (serde_json's errors).
fn unescape(bytes: &[u8]) -> Option<(char, usize)> {
    let c = match *bytes.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(bytes.get(2..6)?)?;
            if !(0xD800..0xE000).contains(&hi) {
                return Some((char::from_u32(hi)?, 6));
            }
            // A surrogate pair: `\uD83D\uDE00`.
            if hi >= 0xDC00 || bytes.get(6..8)? != b"\\u" {
                return None;
            }
            let lo = hex4(bytes.get(8..12)?)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
            return Some((c, 12));
        }
        _ => return None,
    };
    Some((c, 2))
}

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + char::from(b).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(body: &str) -> Result<Vec<Message>, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }

    fn fast(body: &str) -> Option<Vec<Message>> {
        Reader { s: body, i: 0 }.messages()
    }

    /// The fast path reads `body` itself, and as serde_json does.
    #[track_caller]
    fn read_fast(body: &str) -> Vec<Message> {
        let ms = fast(body).unwrap_or_else(|| panic!("fast path gave up on {body}"));
        assert_eq!(Ok(ms.clone()), serde(body), "{body}");
        ms
    }

    #[test]
    fn the_api_shape_is_read_without_serde() {
        let ms = read_fast(
            r#"[{"topic":"t","partition":1,"offset":-2,"timestamp":3,"key":"k","value":"a\"b\\c\n\u00e9\ud83d\ude00/","headers":[{"key":"h","value":"v"}]}]"#,
        );
        assert_eq!(ms[0].value, "a\"b\\c\né😀/");
        assert_eq!(ms[0].header("h"), Some("v"));
        read_fast("[]");
        read_fast(" [ ] ");
        // Any order, whitespace, missing optional fields, a tombstone.
        let ms = read_fast(
            "[ {\"value\" : null ,\n\"offset\":0,\"timestamp\":0,\"partition\":0,\"topic\":\"t\"} ,\r\n\t{\"topic\":\"u\",\"partition\":0,\"offset\":1,\"timestamp\":0} ]",
        );
        assert!(ms[0].tombstone && ms[0].value.is_empty());
        assert!(!ms[1].tombstone && ms[1].value.is_empty() && ms[1].headers.is_empty());
    }

    #[test]
    fn what_the_fast_path_does_not_read_gets_serde_json_s_answer() {
        for body in [
            // Unknown field (serde ignores it), duplicate field (serde refuses it).
            r#"[{"topic":"t","partition":0,"offset":0,"timestamp":0,"extra":[1,{"a":null}]}]"#,
            r#"[{"topic":"t","topic":"u","partition":0,"offset":0,"timestamp":0}]"#,
            // Float and out-of-range numbers, a leading zero, a null key, a missing field.
            r#"[{"topic":"t","partition":0,"offset":1.0,"timestamp":0}]"#,
            r#"[{"topic":"t","partition":4294967296,"offset":0,"timestamp":0}]"#,
            r#"[{"topic":"t","partition":01,"offset":0,"timestamp":0}]"#,
            r#"[{"topic":"t","partition":0,"offset":0,"timestamp":0,"key":null}]"#,
            r#"[{"topic":"t","partition":0,"offset":0}]"#,
            // Lone surrogates, a bad escape, a raw newline, trailing garbage or commas.
            r#"[{"topic":"\ud800","partition":0,"offset":0,"timestamp":0}]"#,
            r#"[{"topic":"\udc00x","partition":0,"offset":0,"timestamp":0}]"#,
            r#"[{"topic":"\x","partition":0,"offset":0,"timestamp":0}]"#,
            "[{\"topic\":\"a\nb\",\"partition\":0,\"offset\":0,\"timestamp\":0}]",
            r#"[{"topic":"t","partition":0,"offset":0,"timestamp":0}] x"#,
            r#"[{"topic":"t","partition":0,"offset":0,"timestamp":0},]"#,
            r#"[{"topic":"t","partition":0,"offset":0,"timestamp":0,}]"#,
            r#"[{"headers":[{"key":"k"}],"topic":"t","partition":0,"offset":0,"timestamp":0}]"#,
            r#"{"error":"nope","status":500}"#,
            "",
        ] {
            let got = decode_messages(body.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(got, serde(body), "{body}");
        }
    }

    #[test]
    fn invalid_utf8_gets_serde_json_s_error() {
        let body = b"[{\"topic\":\"\xff\",\"partition\":0,\"offset\":0,\"timestamp\":0}]";
        assert!(decode_messages(body).is_err());
    }

    proptest! {
        #[test]
        fn it_reads_back_what_the_encoders_write(ms in proptest::collection::vec(crate::message::any_message(any::<String>()), 0..6)) {
            let compact = serde_json::to_string(&ms).unwrap();
            prop_assert_eq!(read_fast(&compact), ms.clone());
            let pretty = serde_json::to_string_pretty(&ms).unwrap();
            prop_assert_eq!(read_fast(&pretty), ms);
        }

        #[test]
        fn on_any_input_it_answers_as_serde_json(body in "[\\[\\]{}\",:0-9a-z\\\\ -]{0,40}") {
            let got = decode_messages(body.as_bytes()).map_err(|e| e.to_string());
            prop_assert_eq!(got, serde(&body));
        }

        #[test]
        fn on_a_damaged_answer_it_answers_as_serde_json(
            ms in proptest::collection::vec(crate::message::any_message(any::<String>()), 1..3),
            cut in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            // One byte of a real answer replaced by another, kept UTF-8.
            let mut body = serde_json::to_vec(&ms).unwrap();
            let at = cut.index(body.len());
            body[at] = byte & 0x7f;
            if let Ok(text) = std::str::from_utf8(&body) {
                let got = decode_messages(text.as_bytes()).map_err(|e| e.to_string());
                prop_assert_eq!(got, serde(text));
            }
        }
    }
}
