//! Messages as the API returns them from fetch and consume.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A Kafka record header: a key and a plain-string value (not base64, spec §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    /// Header name; Kafka allows duplicates, and order is kept.
    pub key: String,
    /// Header value as text.
    pub value: String,
}

impl Header {
    /// A header from a name and a value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One record read by fetch or consume (spec §2.3 `Message`).
///
/// `key` is `""` for a record without a key and `headers` is `[]` when there are none: the API
/// never sends `null` for either, and missing fields decode to those values too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "WireMessage")]
pub struct Message {
    /// Topic the record was read from.
    pub topic: String,
    /// Partition within the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Record timestamp, epoch milliseconds.
    pub timestamp: i64,
    /// Record key, `""` when the record has none.
    pub key: String,
    /// Record value as text (`""` for a tombstone).
    pub value: String,
    /// Record headers in order.
    pub headers: Vec<Header>,
    /// A tombstone: the value is Kafka's null (`"value": null` on the wire), which deletes
    /// its key on a compacted topic.
    pub tombstone: bool,
}

/// [`Message`] as it is on the wire, where a tombstone's value is `null`.
#[derive(Deserialize)]
struct WireMessage {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    #[serde(default)]
    key: String,
    /// `null` for a tombstone; a missing value reads as `""`, as before tombstones.
    #[serde(default = "empty_value")]
    value: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
}

#[allow(clippy::unnecessary_wraps)] // serde's `default` wants the field's type
fn empty_value() -> Option<String> {
    Some(String::new())
}

impl From<WireMessage> for Message {
    fn from(w: WireMessage) -> Self {
        Self {
            topic: w.topic,
            partition: w.partition,
            offset: w.offset,
            timestamp: w.timestamp,
            key: w.key,
            tombstone: w.value.is_none(),
            value: w.value.unwrap_or_default(),
            headers: w.headers,
        }
    }
}

/// [`WireMessage`] borrowed from a [`Message`], to serialise one without copying its strings.
#[derive(Serialize)]
struct WireMessageRef<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: &'a str,
    value: Option<&'a str>,
    headers: &'a [Header],
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireMessageRef {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: &self.key,
            value: (!self.tombstone).then_some(self.value.as_str()),
            headers: &self.headers,
        }
        .serialize(serializer)
    }
}

/// The size a record counts for against a size limit (Upstash's `max_message_size`, Kafka's
/// `max.message.bytes`) and a response's byte budget: key + value + every header's name and
/// value, in bytes of UTF-8. Framing and timestamps are not counted, so the number is the
/// same for a record on the way in ([`ProduceRecord`](crate::ProduceRecord)), in storage and
/// on the way out ([`Message`]).
///
/// ```
/// use upkafka_protocol::{Header, record_size};
/// assert_eq!(record_size(Some("k"), "vv", &[Header::new("h", "xyz")]), 1 + 2 + 1 + 3);
/// ```
pub fn record_size(key: Option<&str>, value: &str, headers: &[Header]) -> usize {
    key.map_or(0, str::len)
        + value.len()
        + headers
            .iter()
            .map(|h| h.key.len() + h.value.len())
            .sum::<usize>()
}

impl Message {
    /// This message's [`record_size`] (an empty key counts for nothing).
    pub fn size(&self) -> usize {
        record_size(Some(&self.key), &self.value, &self.headers)
    }

    /// Decodes the value as JSON into `T`, the counterpart of sending with
    /// [`ProduceRecord::json`](crate::ProduceRecord::json).
    ///
    /// # Errors
    /// The serde error when the value is not JSON of the shape of `T`.
    pub fn value_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.value)
    }

    /// The value of the first header named `key`, if any.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.key == key)
            .map(|h| h.value.as_str())
    }
}

/// The offsets to commit after processing `messages`: per partition, the last offset + 1 (the
/// next to read, where a new instance of the group resumes), in topic/partition order.
pub fn next_offsets<'a>(
    messages: impl IntoIterator<Item = &'a Message>,
) -> Vec<super::TopicPartitionOffset> {
    let mut next: std::collections::BTreeMap<(&str, i32), i64> = std::collections::BTreeMap::new();
    for m in messages {
        let e = next
            .entry((m.topic.as_str(), m.partition))
            .or_insert(i64::MIN);
        *e = (*e).max(m.offset + 1);
    }
    next.into_iter()
        .map(|((t, p), o)| super::TopicPartitionOffset::new(t, p, o))
        .collect()
}

/// Any [`Message`], its topic drawn from `topic`: the encoder's and the decoder's proptests
/// share it (a tombstone has an empty value, as the server sends one).
#[cfg(test)]
pub(crate) fn any_message(
    topic: impl proptest::strategy::Strategy<Value = String>,
) -> impl proptest::strategy::Strategy<Value = Message> {
    use proptest::prelude::*;
    (
        topic,
        any::<i32>(),
        any::<i64>(),
        any::<i64>(),
        any::<String>(),
        any::<String>(),
        proptest::collection::vec((any::<String>(), any::<String>()), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(topic, partition, offset, timestamp, key, value, headers, tombstone)| Message {
                topic,
                partition,
                offset,
                timestamp,
                key,
                value: if tombstone { String::new() } else { value },
                headers: headers
                    .into_iter()
                    .map(|(k, v)| Header::new(k, v))
                    .collect(),
                tombstone,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_key_and_headers_decode_as_empty() {
        let m: Message = serde_json::from_str(
            r#"{"topic":"t","partition":0,"offset":5,"timestamp":1637745824883,"value":"v"}"#,
        )
        .unwrap();
        assert_eq!(m.key, "");
        assert!(m.headers.is_empty());
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["key"], "");
        assert_eq!(back["headers"], serde_json::json!([]));
    }

    #[test]
    fn a_tombstone_is_a_null_value_and_a_missing_value_an_empty_one() {
        let t: Message = serde_json::from_str(
            r#"{"topic":"t","partition":0,"offset":3,"timestamp":1,"key":"k","value":null}"#,
        )
        .unwrap();
        assert!(t.tombstone);
        assert_eq!(t.value, "");
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["value"], serde_json::Value::Null);
        let old: Message =
            serde_json::from_str(r#"{"topic":"t","partition":0,"offset":3,"timestamp":1}"#)
                .unwrap();
        assert!(!old.tombstone, "a missing value is an empty one, as before");
        assert_eq!(serde_json::to_value(&old).unwrap()["value"], "");
    }

    #[test]
    fn value_json_decodes_typed_values() {
        #[derive(Deserialize, PartialEq, Debug)]
        struct Reading {
            device: u32,
        }
        let m = Message {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
            key: String::new(),
            value: r#"{"device":7}"#.into(),
            headers: vec![Header::new("a", "1")],
            tombstone: false,
        };
        assert_eq!(m.value_json::<Reading>().unwrap(), Reading { device: 7 });
        assert_eq!(m.header("a"), Some("1"));
        assert_eq!(m.header("b"), None);
    }
}
