//! Typed command-line values: every flag with a syntax parses into one of these at the edge,
//! so nothing downstream parses strings again.
//!
//! Durations and timestamps are read by [`jiff`], byte sizes by [`parse_size`]; the rest are
//! the project's own small syntaxes (`-H name=value`, offsets, delimiters, `-f` formats).
//! Each `FromStr` error is a sentence about the value; clap adds the flag that carried it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;

use upkafka_protocol::{Header, OffsetSpec, TopicPartitionOffset};

/// A duration such as `500ms`, `3s`, `2m`, `1h30m` (jiff's friendly format, or ISO 8601
/// `PT5M`); a bare number means seconds. Days and longer are refused: they are not a fixed
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(HumanDuration(Duration::from_secs(secs)));
        }
        let signed: jiff::SignedDuration = s.parse().map_err(|e: jiff::Error| {
            // jiff's own wording here is advice to a Rust programmer (about `jiff::Span`).
            if e.to_string().contains("calendar units") {
                format!("`{s}` is not a duration: days and longer have no fixed length, use hours (e.g. 72h)")
            } else {
                format!("`{s}` is not a duration (try 500ms, 3s, 2m, 1h30m): {e}")
            }
        })?;
        Duration::try_from(signed)
            .map(HumanDuration)
            .map_err(|_| format!("`{s}` is negative; a duration must be 0 or more"))
    }
}

impl fmt::Display for HumanDuration {
    /// The friendly form that [`FromStr`] reads back, e.g. `30s`, `1m 30s`, `200ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::SignedDuration::try_from(self.0) {
            Ok(d) => write!(f, "{d:#}"),
            Err(_) => write!(f, "{}s", self.0.as_secs()),
        }
    }
}

/// How long a topic keeps records: a duration where a day is 24 hours (`7d`, `36h`, `90s`,
/// `500ms`; a bare number is seconds), or `forever` (also `-1`, `unlimited`), as retention is
/// counted in Kafka. `0` keeps nothing past the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

impl Retention {
    /// The management API's value: milliseconds, `-1` forever.
    pub fn as_api_ms(self) -> i64 {
        self.0
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

impl FromStr for Retention {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if matches!(t, "forever" | "unlimited" | "-1") {
            return Ok(Retention(None));
        }
        if let Ok(secs) = t.parse::<u64>() {
            return Ok(Retention(Some(Duration::from_secs(secs))));
        }
        let span: jiff::Span = t
            .parse()
            .map_err(|e| format!("`{s}` is not a retention (try 7d, 36h, 90s, forever): {e}"))?;
        let ms = span
            .total((
                jiff::Unit::Millisecond,
                jiff::SpanRelativeTo::days_are_24_hours(),
            ))
            .map_err(|e| format!("`{s}` is not a retention (try 7d, 36h, 90s, forever): {e}"))?;
        if ms < 0.0 {
            return Err(format!(
                "`{s}` is negative; use `forever` to keep records forever"
            ));
        }
        // Whole milliseconds: what the management API counts in.
        Ok(Retention(Some(Duration::from_millis(ms as u64))))
    }
}

/// A byte limit that may be `unlimited` (also `-1`), else a [`ByteSize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteLimit(pub Option<u64>);

impl ByteLimit {
    /// The management API's value: bytes, `-1` unlimited.
    pub fn as_api(self) -> i64 {
        self.0.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl FromStr for ByteLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "unlimited" | "-1" => Ok(ByteLimit(None)),
            other => other.parse::<ByteSize>().map(|b| ByteLimit(Some(b.0))),
        }
    }
}

/// A byte count such as `65536`, `512KiB`, `1MiB`, `1.5 MiB`. Every unit is a power of 1024:
/// `k`, `KB` and `KiB` all mean 1024 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size as a `usize` (saturating on 32-bit targets).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = parse_size::Config::new()
            .with_binary()
            .parse_size(s.trim())
            .map_err(|e| format!("`{s}` is not a size (try 65536, 512KiB, 1MiB): {e}"))?;
        if v == 0 {
            return Err("the size must be at least 1 byte".to_owned());
        }
        Ok(ByteSize(v))
    }
}

impl fmt::Display for ByteSize {
    /// The exact size in the largest binary unit that divides it, e.g. `1MiB`, `1536KiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        match UNITS
            .iter()
            .find(|(n, _)| self.0 != 0 && self.0.is_multiple_of(*n))
        {
            Some((n, unit)) => write!(f, "{}{unit}", self.0 / n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A separator given on the command line, with `\n`, `\t`, `\r`, `\0` and `\\` escapes.
#[derive(Clone, PartialEq, Eq)]
pub struct Delimiter(pub Vec<u8>);

impl fmt::Debug for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delimiter({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0).escape_debug().to_string())
    }
}

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = unescape(s)?.into_bytes();
        if bytes.is_empty() {
            return Err("the delimiter is empty".to_owned());
        }
        Ok(Delimiter(bytes))
    }
}

/// Resolves `\n`, `\t`, `\r`, `\0` and `\\` in `s`.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                return Err(format!(
                    "unknown escape `\\{other}` (use \\n \\t \\r \\0 \\\\)"
                ));
            }
            None => return Err("a trailing `\\` escapes nothing".to_owned()),
        }
    }
    Ok(out)
}

/// `-H name=value`: a message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderArg(pub Header);

impl FromStr for HeaderArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok(HeaderArg(Header::new(name, value))),
            _ => Err(format!("`{s}` is not NAME=VALUE")),
        }
    }
}

/// A point in time, as epoch milliseconds: RFC 3339 (`2024-05-01T12:00:00Z`,
/// `2024-05-01T14:00:00+02:00`), epoch milliseconds (`1714564800000`), or a duration ago
/// (`-15m`, `-1h30m`), counted from when the command line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeArg(pub i64);

impl FromStr for TimeArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(ms) = s.parse::<i64>() {
            return Ok(TimeArg(ms));
        }
        if let Some(ago) = s.strip_prefix('-') {
            let d: HumanDuration = ago
                .parse()
                .map_err(|e| format!("`{s}` is not a time ago: {e}"))?;
            let now = jiff::Timestamp::now().as_millisecond();
            let ms = i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX);
            return Ok(TimeArg(now.saturating_sub(ms)));
        }
        if !(s.contains('-') && s.contains(':')) {
            return Err(format!(
                "`{s}` is not a time: use RFC 3339 (2024-05-01T12:00:00Z), epoch milliseconds \
                 or a duration ago (-15m, -2h)"
            ));
        }
        let ts: jiff::Timestamp = s.parse().map_err(|e| {
            format!("`{s}` is not a valid RFC 3339 time (e.g. 2024-05-01T12:00:00Z): {e}")
        })?;
        Ok(TimeArg(ts.as_millisecond()))
    }
}

/// `fetch -o`: where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetArg {
    /// The first retained offset.
    Earliest,
    /// The end of the partition (only new messages).
    Latest,
    /// N messages before the end.
    FromEnd(u64),
    /// This offset.
    At(i64),
    /// The first message at or after this time (epoch ms), `@TIME`.
    Time(i64),
}

impl FromStr for OffsetArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" | "beginning" => Ok(OffsetArg::Earliest),
            "latest" | "end" => Ok(OffsetArg::Latest),
            _ if s.starts_with('@') => s[1..].parse::<TimeArg>().map(|t| OffsetArg::Time(t.0)),
            _ => {
                let bad =
                    || format!("`{s}` is not an offset: use N, -N, earliest, latest or @TIME");
                if let Some(n) = s.strip_prefix('-') {
                    n.parse::<u64>().map(OffsetArg::FromEnd).map_err(|_| bad())
                } else {
                    s.parse::<i64>().map(OffsetArg::At).map_err(|_| bad())
                }
            }
        }
    }
}

/// `inspect offsets --at`: `earliest`, `latest`, epoch milliseconds, or an RFC 3339 UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtTime(pub OffsetSpec);

impl FromStr for AtTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(spec) = s.parse::<OffsetSpec>() {
            return Ok(AtTime(spec));
        }
        if !s.contains(['-', ':']) {
            return Err(format!(
                "`{s}` is not a time: use earliest, latest, epoch milliseconds or \
                 YYYY-MM-DDTHH:MM:SSZ"
            ));
        }
        parse_rfc3339_utc(s).map(|ms| AtTime(OffsetSpec::Timestamp(ms)))
    }
}

/// Epoch milliseconds of an RFC 3339 time in UTC, `YYYY-MM-DDTHH:MM:SS[.fff]Z`, checked by
/// jiff (so `2024-02-31` is refused, not rolled over into March).
fn parse_rfc3339_utc(s: &str) -> Result<i64, String> {
    if !s.ends_with(['Z', 'z']) {
        return Err(format!(
            "`{s}` is not a UTC time: write it as YYYY-MM-DDTHH:MM:SSZ, ending in Z"
        ));
    }
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|e| format!("`{s}` is not a valid RFC 3339 time: {e}"))?;
    Ok(ts.as_millisecond())
}

/// `group commit TOPIC:PARTITION=OFFSET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset(pub TopicPartitionOffset);

impl FromStr for CommitOffset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not TOPIC:PARTITION=OFFSET");
        let (tp, offset) = s.rsplit_once('=').ok_or_else(bad)?;
        let (topic, partition) = tp.rsplit_once(':').ok_or_else(bad)?;
        if topic.is_empty() {
            return Err(bad());
        }
        Ok(CommitOffset(TopicPartitionOffset::new(
            topic,
            partition.parse().map_err(|_| bad())?,
            offset.parse().map_err(|_| bad())?,
        )))
    }
}

/// `TOPIC` (every partition) or `TOPIC:PARTITION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSelector {
    /// Topic name.
    pub topic: String,
    /// One partition, or `None` for all.
    pub partition: Option<i32>,
}

impl FromStr for PartitionSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.rsplit_once(':') {
            Some((topic, p)) if !topic.is_empty() => Ok(PartitionSelector {
                topic: topic.to_owned(),
                partition: Some(
                    p.parse()
                        .map_err(|_| format!("`{p}` in `{s}` is not a partition number"))?,
                ),
            }),
            Some(_) => Err(format!("`{s}` is not TOPIC or TOPIC:PARTITION")),
            None if s.is_empty() => Err("the topic is empty".to_owned()),
            None => Ok(PartitionSelector {
                topic: s.to_owned(),
                partition: None,
            }),
        }
    }
}

/// One piece of a kcat-style `-f` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPiece {
    /// Text copied as is.
    Literal(String),
    /// `%t`
    Topic,
    /// `%p`
    Partition,
    /// `%o`
    Offset,
    /// `%k`
    Key,
    /// `%s`
    Value,
    /// `%T`
    Timestamp,
    /// `%h`
    Headers,
    /// `%K`
    KeyLen,
    /// `%S`
    ValueLen,
}

/// A kcat-style `-f` format such as `'%t/%p@%o %k=%s\n'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFormat(pub Vec<FormatPiece>);

impl MessageFormat {
    /// The default text format: the value and a newline.
    pub fn value_per_line() -> Self {
        MessageFormat(vec![FormatPiece::Value, FormatPiece::Literal("\n".into())])
    }
}

impl FromStr for MessageFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = unescape(s)?;
        let mut out = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let piece = match chars.next() {
                Some('%') => {
                    lit.push('%');
                    continue;
                }
                Some('t') => FormatPiece::Topic,
                Some('p') => FormatPiece::Partition,
                Some('o') => FormatPiece::Offset,
                Some('k') => FormatPiece::Key,
                Some('s') => FormatPiece::Value,
                Some('T') => FormatPiece::Timestamp,
                Some('h') => FormatPiece::Headers,
                Some('K') => FormatPiece::KeyLen,
                Some('S') => FormatPiece::ValueLen,
                Some(other) => {
                    return Err(format!(
                        "unknown field `%{other}` (use %t %p %o %k %s %T %h %K %S %%)"
                    ));
                }
                None => return Err("the format ends with a lone `%`".to_owned()),
            };
            if !lit.is_empty() {
                out.push(FormatPiece::Literal(std::mem::take(&mut lit)));
            }
            out.push(piece);
        }
        if !lit.is_empty() {
            out.push(FormatPiece::Literal(lit));
        }
        Ok(MessageFormat(out))
    }
}

/// An inclusive range of values, `LOW..=HIGH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeArg(pub std::ops::RangeInclusive<i64>);

impl fmt::Display for RangeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.0.start(), self.0.end())
    }
}

impl FromStr for RangeArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::sensor::Ranges::parse_range(s).map(RangeArg)
    }
}

/// `--from`: where a consumer group without committed offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFrom {
    /// The first retained message.
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// `consume --from`: `earliest` or `latest` (where a group without committed offsets starts),
/// or a time (see [`TimeArg`]) to move the group to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeFrom {
    /// Where a group without committed offsets starts.
    Reset(StartFrom),
    /// The first message at or after this time (epoch ms).
    Time(i64),
}

impl FromStr for ConsumeFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "earliest" | "beginning" => Ok(ConsumeFrom::Reset(StartFrom::Earliest)),
            "latest" | "end" => Ok(ConsumeFrom::Reset(StartFrom::Latest)),
            t => t
                .parse::<TimeArg>()
                .map(|t| ConsumeFrom::Time(t.0))
                .map_err(|e| {
                    if t.chars().all(|c| c.is_ascii_alphabetic()) {
                        format!("`{t}` is not earliest, latest or a time")
                    } else {
                        e
                    }
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retentions_count_days_as_24_hours_and_forever_is_unlimited() {
        let r = |v: &str| v.parse::<Retention>().map(Retention::as_api_ms);
        assert_eq!(r("7d"), Ok(7 * 24 * 3600 * 1000));
        assert_eq!(r("36h"), Ok(36 * 3600 * 1000));
        assert_eq!(r("2s"), Ok(2000));
        assert_eq!(r("90"), Ok(90_000));
        assert_eq!(r("forever"), Ok(-1));
        assert_eq!(r("-1"), Ok(-1));
        let e = r("7 fortnights").unwrap_err();
        assert!(e.contains("`7 fortnights` is not a retention"), "{e}");
        let b = |v: &str| v.parse::<ByteLimit>().map(ByteLimit::as_api);
        assert_eq!(b("10GiB"), Ok(10 << 30));
        assert_eq!(b("unlimited"), Ok(-1));
        assert!(b("lots").is_err());
    }

    use super::*;

    #[test]
    fn durations_sizes_and_delimiters() {
        assert_eq!(
            "500ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "3".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(3)
        );
        assert_eq!(
            "2m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        assert!("3 weeks".parse::<HumanDuration>().is_err());
        assert_eq!("1MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!("512k".parse::<ByteSize>().unwrap().0, 512 << 10);
        assert!("0".parse::<ByteSize>().is_err());
        assert_eq!("\\t".parse::<Delimiter>().unwrap().0, b"\t");
        assert_eq!("\\0".parse::<Delimiter>().unwrap().0, b"\0");
        assert_eq!("||".parse::<Delimiter>().unwrap().0, b"||");
        assert!("".parse::<Delimiter>().is_err());
        assert!("\\q".parse::<Delimiter>().is_err());
    }

    #[test]
    fn durations_read_compound_and_iso_forms_and_refuse_negatives() {
        let d = |s: &str| s.parse::<HumanDuration>().map(|d| d.0);
        assert_eq!(d("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("PT5M"), Ok(Duration::from_secs(300)));
        assert_eq!(d("0"), Ok(Duration::ZERO));
        let err = d("-5s").unwrap_err();
        assert!(err.contains("`-5s`") && err.contains("negative"), "{err}");
        let err = d("3d").unwrap_err();
        assert!(err.contains("`3d`") && err.contains("use hours"), "{err}");
        let err = d("soon").unwrap_err();
        assert!(err.contains("`soon` is not a duration"), "{err}");
    }

    #[test]
    fn durations_and_sizes_print_what_they_parse() {
        for s in ["30s", "200ms", "1m 30s", "1h"] {
            let d: HumanDuration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d));
        }
        for (bytes, text) in [
            (1 << 20, "1MiB"),
            (16 << 20, "16MiB"),
            (1536 << 10, "1536KiB"),
            (1000, "1000"),
            (1 << 30, "1GiB"),
        ] {
            assert_eq!(ByteSize(bytes).to_string(), text);
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)));
        }
        assert_eq!("1MB".parse::<ByteSize>(), Ok(ByteSize(1 << 20)));
        assert_eq!("1.5 MiB".parse::<ByteSize>(), Ok(ByteSize(1536 << 10)));
        let err = "lots".parse::<ByteSize>().unwrap_err();
        assert!(err.contains("`lots` is not a size"), "{err}");
    }

    #[test]
    fn offsets_headers_and_selectors() {
        assert_eq!("-2".parse::<OffsetArg>().unwrap(), OffsetArg::FromEnd(2));
        assert_eq!("42".parse::<OffsetArg>().unwrap(), OffsetArg::At(42));
        assert_eq!(
            "earliest".parse::<OffsetArg>().unwrap(),
            OffsetArg::Earliest
        );
        assert!("soon".parse::<OffsetArg>().is_err());
        assert_eq!(
            "a=b=c".parse::<HeaderArg>().unwrap().0,
            Header::new("a", "b=c")
        );
        assert!("=x".parse::<HeaderArg>().is_err());
        assert!("x".parse::<HeaderArg>().is_err());
        assert_eq!(
            "cities:1=42".parse::<CommitOffset>().unwrap().0,
            TopicPartitionOffset::new("cities", 1, 42)
        );
        assert!("cities=42".parse::<CommitOffset>().is_err());
        assert_eq!(
            "cities:2".parse::<PartitionSelector>().unwrap().partition,
            Some(2)
        );
        assert_eq!(
            "cities".parse::<PartitionSelector>().unwrap().partition,
            None
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z").ok(), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2024-05-01T12:00:00Z").ok(),
            Some(1_714_564_800_000)
        );
        assert_eq!(
            parse_rfc3339_utc("2024-05-01T12:00:00.25Z").ok(),
            Some(1_714_564_800_250)
        );
        assert_eq!(parse_rfc3339_utc("2024-05-01T12:00:00+02:00").ok(), None);
        assert_eq!("latest".parse::<AtTime>().unwrap().0, OffsetSpec::Latest);
    }

    #[test]
    fn times_for_fetch_and_consume() {
        let t = |s: &str| s.parse::<TimeArg>().map(|t| t.0);
        assert_eq!(t("2024-05-01T12:00:00Z"), Ok(1_714_564_800_000));
        assert_eq!(t("2024-05-01T14:00:00+02:00"), Ok(1_714_564_800_000));
        assert_eq!(t("1714564800000"), Ok(1_714_564_800_000));
        let now = jiff::Timestamp::now().as_millisecond();
        let ago = t("-15m").unwrap();
        assert!((now - 15 * 60_000 - ago).abs() < 5_000, "{ago} vs {now}");
        assert!(t("-3d").unwrap_err().contains("use hours"));
        let err = t("2024-02-31T00:00:00Z").unwrap_err();
        assert!(err.contains("`2024-02-31T00:00:00Z`"), "{err}");
        assert!(
            t("yesterday")
                .unwrap_err()
                .contains("`yesterday` is not a time")
        );
        assert_eq!(
            "@1714564800000".parse::<OffsetArg>(),
            Ok(OffsetArg::Time(1_714_564_800_000))
        );
        assert!("@soon".parse::<OffsetArg>().unwrap_err().contains("`soon`"));
        assert_eq!(
            "earliest".parse::<ConsumeFrom>(),
            Ok(ConsumeFrom::Reset(StartFrom::Earliest))
        );
        assert_eq!(
            "2024-05-01T12:00:00Z".parse::<ConsumeFrom>(),
            Ok(ConsumeFrom::Time(1_714_564_800_000))
        );
        let err = "erliest".parse::<ConsumeFrom>().unwrap_err();
        assert!(
            err.contains("`erliest` is not earliest, latest or a time"),
            "{err}"
        );
    }

    #[test]
    fn impossible_calendar_dates_are_refused_not_rolled_over() {
        // 31 February used to become 2 March.
        for bad in [
            "2024-02-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
        ] {
            let err = bad.parse::<AtTime>().unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
        assert_eq!(
            "2024-02-29T00:00:00Z".parse::<AtTime>().unwrap().0,
            OffsetSpec::Timestamp(1_709_164_800_000)
        );
    }

    #[test]
    fn formats() {
        let f: MessageFormat = "%t/%p@%o %k=%s\\n%%".parse().unwrap();
        assert_eq!(
            f.0,
            vec![
                FormatPiece::Topic,
                FormatPiece::Literal("/".into()),
                FormatPiece::Partition,
                FormatPiece::Literal("@".into()),
                FormatPiece::Offset,
                FormatPiece::Literal(" ".into()),
                FormatPiece::Key,
                FormatPiece::Literal("=".into()),
                FormatPiece::Value,
                FormatPiece::Literal("\n%".into()),
            ]
        );
        assert!("%x".parse::<MessageFormat>().is_err());
        assert!("abc%".parse::<MessageFormat>().is_err());
    }
}
