//! A direct JSON encoder for the server's hot answers: [`Message`] arrays, the body of every
//! fetch and consume answer, and [`ProduceMetadata`] arrays, the answer of every produce.
//!
//! It writes byte for byte what `serde_json::to_vec` writes (same field order, same escapes,
//! compact), without serde's machinery: one pass over the records into one buffer sized up
//! front, strings copied in runs and escaped only where they must be. The server answers each
//! poll and each produce with it (issue 19: serialising a 500-record answer was a tenth of the
//! server's time per consume, and the `Json` answer of a single-message produce 7% of its).

use super::message::{Header, Message};
use super::produce::ProduceMetadata;

/// Bytes of JSON per record besides its strings (field names, punctuation, numbers), a little
/// over the real figure (about 75 for a record without headers), so that one allocation holds
/// the answer.
const PER_RECORD: usize = 96;
/// Bytes of JSON per header besides its strings (`{"key":"","value":""},`).
const PER_HEADER: usize = 24;

/// The size [`write_messages`] is likely to need for `messages`: an upper bound unless
/// strings need escapes (which only grow the buffer once more).
pub fn encoded_len_hint(messages: &[Message]) -> usize {
    2 + messages
        .iter()
        .map(|m| {
            PER_RECORD
                + m.topic.len()
                + m.key.len()
                + m.value.len()
                + m.headers
                    .iter()
                    .map(|h| PER_HEADER + h.key.len() + h.value.len())
                    .sum::<usize>()
        })
        .sum::<usize>()
}

/// The JSON array of `messages` as the API answers it, appended to `out`: exactly
/// `serde_json::to_vec(messages)`.
///
/// ```
/// use upkafka_protocol::{Message, write_messages};
/// let m = Message {
///     topic: "t".into(), partition: 0, offset: 7, timestamp: 1, key: String::new(),
///     value: "a \"b\"".into(), headers: vec![], tombstone: false,
/// };
/// let mut out = Vec::new();
/// write_messages(std::slice::from_ref(&m), &mut out);
/// assert_eq!(out, serde_json::to_vec(&[m]).unwrap());
/// ```
pub fn write_messages(messages: &[Message], out: &mut Vec<u8>) {
    out.reserve(encoded_len_hint(messages));
    out.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_message(m, out);
    }
    out.push(b']');
}

/// [`write_messages`] into a new buffer of the right size.
pub fn messages_to_vec(messages: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    write_messages(messages, &mut out);
    out
}

/// Bytes of JSON per produce answer entry besides its topic string and numbers: the field
/// names, punctuation and braces of `{"topic":…,"partition":…,"offset":…,"timestamp":…}`.
const PER_METADATA: usize = 9 + 13 + 10 + 13 + 1;

/// The length of `s` as [`write_str`] writes it, quotes included.
fn str_len(s: &str) -> usize {
    let escapes: usize = s
        .bytes()
        .filter(|&b| needs_escape(b))
        .map(|b| if short_escape(b).is_some() { 1 } else { 5 })
        .sum();
    2 + s.len() + escapes
}

/// The length of `n` in decimal, sign included.
fn int_len(n: i64) -> usize {
    usize::from(n < 0)
        + n.unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1)
}

/// The exact length of [`produce_metadata_to_vec`]'s answer for `metadata`.
fn produce_answer_len(metadata: &[ProduceMetadata]) -> usize {
    let entries: usize = metadata
        .iter()
        .map(|m| {
            PER_METADATA
                + str_len(&m.topic)
                + int_len(m.partition.into())
                + int_len(m.offset)
                + int_len(m.timestamp)
        })
        .sum();
    2 + entries + metadata.len().saturating_sub(1)
}

/// The JSON array of `metadata` as a produce answers it: exactly `serde_json::to_vec(metadata)`.
///
/// ```
/// use upkafka_protocol::{ProduceMetadata, produce_metadata_to_vec};
/// let m = ProduceMetadata { topic: "t".into(), partition: 1, offset: 7, timestamp: 3 };
/// let out = produce_metadata_to_vec(std::slice::from_ref(&m));
/// assert_eq!(out, serde_json::to_vec(&[m]).unwrap());
/// ```
pub fn produce_metadata_to_vec(metadata: &[ProduceMetadata]) -> Vec<u8> {
    // Exactly the answer's length, not an estimate: a buffer with no spare room becomes the
    // response body (`Bytes::from`) without the shared header a vector with spare capacity
    // needs, one allocation less per produce (issue 19).
    let mut out = Vec::with_capacity(produce_answer_len(metadata));
    out.push(b'[');
    for (i, m) in metadata.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_position(&m.topic, m.partition, m.offset, m.timestamp, &mut out);
        out.push(b'}');
    }
    out.push(b']');
    out
}

/// The fields a message and a produce answer entry share, in their order, from the opening
/// brace on (the object is left open).
fn write_position(topic: &str, partition: i32, offset: i64, timestamp: i64, out: &mut Vec<u8>) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"topic\":");
    write_str(topic, out);
    out.extend_from_slice(b",\"partition\":");
    out.extend_from_slice(num.format(partition).as_bytes());
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(num.format(offset).as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    out.extend_from_slice(num.format(timestamp).as_bytes());
}

fn write_message(m: &Message, out: &mut Vec<u8>) {
    write_position(&m.topic, m.partition, m.offset, m.timestamp, out);
    out.extend_from_slice(b",\"key\":");
    write_str(&m.key, out);
    out.extend_from_slice(b",\"value\":");
    if m.tombstone {
        out.extend_from_slice(b"null");
    } else {
        write_str(&m.value, out);
    }
    out.extend_from_slice(b",\"headers\":[");
    for (i, h) in m.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_header(h, out);
    }
    out.extend_from_slice(b"]}");
}

fn write_header(h: &Header, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"key\":");
    write_str(&h.key, out);
    out.extend_from_slice(b",\"value\":");
    write_str(&h.value, out);
    out.push(b'}');
}

/// Whether JSON needs `b` escaped inside a string (as serde_json escapes: control characters,
/// the quote and the backslash; DEL and non-ASCII go as they are).
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Bytes looked at together when searching for the next byte to escape; the check of a whole
/// chunk compiles to a few vector instructions.
const CHUNK: usize = 16;

/// `s` as a JSON string with serde_json's escapes.
fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while i < bytes.len() {
        let end = (i + CHUNK).min(bytes.len());
        let chunk = &bytes[i..end];
        if !chunk.iter().fold(false, |any, &b| any | needs_escape(b)) {
            i = end;
            continue;
        }
        for (j, &b) in chunk.iter().enumerate() {
            if needs_escape(b) {
                out.extend_from_slice(&bytes[run..i + j]);
                write_escape(b, out);
                run = i + j + 1;
            }
        }
        i = end;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// The letter of `b`'s two-byte escape (`\\n`, …), if it has one (else it is `\\u00XX`).
fn short_escape(b: u8) -> Option<u8> {
    Some(match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => return None,
    })
}

fn write_escape(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if let Some(short) = short_escape(b) {
        out.push(b'\\');
        out.push(short);
    } else {
        out.extend_from_slice(b"\\u00");
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(value: &str) -> Message {
        Message {
            topic: "t".into(),
            partition: 2,
            offset: 41,
            timestamp: 1_700_000_000_000,
            key: "k".into(),
            value: value.into(),
            headers: vec![Header::new("h", "v")],
            tombstone: false,
        }
    }

    fn serde_bytes(ms: &[Message]) -> Vec<u8> {
        serde_json::to_vec(ms).unwrap()
    }

    #[test]
    fn an_empty_answer_is_an_empty_array() {
        assert_eq!(messages_to_vec(&[]), b"[]");
    }

    #[test]
    fn every_byte_that_needs_an_escape_is_escaped_as_serde_json_does() {
        // Every ASCII byte once, in strings long enough to cross chunks, at each chunk offset.
        let all: String = (0u8..0x80).map(char::from).collect();
        for pad in 0..CHUNK {
            let value = format!("{}{all}{}é\u{7f}\u{2028}", "x".repeat(pad), "y".repeat(pad));
            let ms = [message(&value)];
            assert_eq!(messages_to_vec(&ms), serde_bytes(&ms), "pad {pad}");
        }
    }

    #[test]
    fn a_tombstone_has_a_null_value() {
        let mut m = message("");
        m.tombstone = true;
        let ms = [m];
        let out = messages_to_vec(&ms);
        assert_eq!(out, serde_bytes(&ms));
        assert!(String::from_utf8(out).unwrap().contains(r#""value":null"#));
    }

    #[test]
    fn the_hint_covers_a_bench_answer() {
        let ms: Vec<Message> = (0..500).map(|_| message(&"x".repeat(100))).collect();
        let out = messages_to_vec(&ms);
        assert!(out.len() <= encoded_len_hint(&ms), "{} > hint", out.len());
        assert_eq!(out, serde_bytes(&ms));
    }

    #[test]
    fn a_produce_answer_is_what_serde_json_writes_and_fits_its_hint() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let extremes = [
            ProduceMetadata {
                topic: format!("{all}é"),
                partition: i32::MIN,
                offset: i64::MIN,
                timestamp: i64::MIN,
            },
            ProduceMetadata {
                topic: "t".into(),
                partition: i32::MAX,
                offset: i64::MAX,
                timestamp: i64::MAX,
            },
        ];
        assert_eq!(produce_metadata_to_vec(&[]), b"[]");
        let out = produce_metadata_to_vec(&extremes);
        assert_eq!(out, serde_json::to_vec(&extremes).unwrap());
        // The buffer is sized exactly, escapes and signs included: no regrowth, and no spare
        // room for `Bytes::from` to keep a shared header for.
        for ms in [&extremes[..], &extremes[1..], &extremes[..1], &[]] {
            let out = produce_metadata_to_vec(ms);
            assert_eq!(out.len(), out.capacity(), "{ms:?}");
        }
    }

    proptest! {
        #[test]
        fn the_produce_answer_is_sized_exactly(
            ms in proptest::collection::vec(
                (".{0,12}", any::<i32>(), any::<i64>(), any::<i64>()).prop_map(
                    |(topic, partition, offset, timestamp)| ProduceMetadata { topic, partition, offset, timestamp },
                ),
                0..6,
            )
        ) {
            let out = produce_metadata_to_vec(&ms);
            prop_assert_eq!(&out, &serde_json::to_vec(&ms).unwrap());
            prop_assert_eq!(out.len(), out.capacity());
        }

        #[test]
        fn the_encoder_writes_what_serde_json_writes(ms in proptest::collection::vec(crate::message::any_message(".{0,12}"), 0..6)) {
            prop_assert_eq!(messages_to_vec(&ms), serde_bytes(&ms));
        }
    }
}
