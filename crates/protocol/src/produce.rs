//! Produce request items and their acknowledgements (spec §4.1).

use serde::{Deserialize, Serialize};

use super::Header;

/// One message to produce: an item of the body of `/produce` or `/produce/{topic}`.
///
/// `topic` is required by `/produce` (several topics in one batch) and left out for
/// `/produce/{topic}`, where the path names it. Only `value` is always required.
///
/// ```
/// use upkafka_protocol::ProduceRecord;
/// let record = ProduceRecord::new("Istanbul").topic("cities").partition(1).key("city")
///     .header("expire", "1637745834756");
/// assert_eq!(record.topic.as_deref(), Some("cities"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireRecord", into = "WireRecord")]
pub struct ProduceRecord {
    /// Target topic; `None` when the path names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Target partition; by default chosen by the server (key hash, or round robin without key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// Record timestamp in epoch milliseconds; by default the time the server stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Record key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Record value: a string on the wire (empty for a tombstone).
    pub value: String,
    /// Record headers in order.
    pub headers: Vec<Header>,
    /// A tombstone: `"value": null` on the wire, Kafka's null value. On a compacted topic it
    /// deletes its key (after the topic's `delete_retention_ms`); `value` is then empty. An
    /// upkafka extension: Upstash's value was always a string.
    pub tombstone: bool,
}

/// [`ProduceRecord`] as it is on the wire, where a tombstone is a `null` value.
#[derive(Serialize, Deserialize)]
struct WireRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// Required: `null` only for a tombstone (a missing value is still an error, which
    /// `deserialize_with` keeps: serde would read a missing `Option` as `None`).
    #[serde(deserialize_with = "required_nullable")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<Header>,
}

fn required_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

impl From<WireRecord> for ProduceRecord {
    fn from(w: WireRecord) -> Self {
        Self {
            topic: w.topic,
            partition: w.partition,
            timestamp: w.timestamp,
            key: w.key,
            tombstone: w.value.is_none(),
            value: w.value.unwrap_or_default(),
            headers: w.headers,
        }
    }
}

impl From<ProduceRecord> for WireRecord {
    fn from(r: ProduceRecord) -> Self {
        Self {
            topic: r.topic,
            partition: r.partition,
            timestamp: r.timestamp,
            key: r.key,
            value: (!r.tombstone).then_some(r.value),
            headers: r.headers,
        }
    }
}

impl ProduceRecord {
    /// This record's [`record_size`](crate::record_size): what a server's
    /// `max_message_bytes` is checked against.
    pub fn size(&self) -> usize {
        crate::record_size(self.key.as_deref(), &self.value, &self.headers)
    }

    /// A record with this value and nothing else set.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            topic: None,
            partition: None,
            timestamp: None,
            key: None,
            value: value.into(),
            headers: Vec::new(),
            tombstone: false,
        }
    }

    /// A tombstone for `key`: a record with a null value, which deletes the key on a
    /// compacted topic.
    ///
    /// ```
    /// use upkafka_protocol::ProduceRecord;
    /// let t = ProduceRecord::tombstone("device-7").topic("devices");
    /// assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"topic":"devices","key":"device-7","value":null}"#);
    /// ```
    pub fn tombstone(key: impl Into<String>) -> Self {
        Self {
            tombstone: true,
            ..Self::new("").key(key)
        }
    }

    /// A record whose value is `value` serialised as JSON text (what the official client does
    /// with every non-string value).
    ///
    /// # Errors
    /// The serde error when `value` cannot be serialised.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::to_string(value)?))
    }

    /// Sets the topic (needed for `/produce`).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (epoch milliseconds).
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Appends a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }
}

/// Where a produced message was stored (spec §2.3 `ProduceMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProduceMetadata {
    /// Topic written to.
    pub topic: String,
    /// Partition written to.
    pub partition: i32,
    /// Offset assigned to the message.
    pub offset: i64,
    /// Record timestamp, epoch milliseconds.
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_null_value_is_a_tombstone_and_a_missing_one_an_error() {
        let t: ProduceRecord = serde_json::from_str(r#"{"key":"k","value":null}"#).unwrap();
        assert!(t.tombstone);
        assert_eq!(t, ProduceRecord::tombstone("k"));
        let e = serde_json::from_str::<ProduceRecord>(r#"{"key":"k"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `value`"), "{e}");
        let plain: ProduceRecord = serde_json::from_str(r#"{"value":"v"}"#).unwrap();
        assert!(!plain.tombstone);
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"value":"v"}"#);
    }

    use super::*;

    #[test]
    fn only_set_fields_are_sent() {
        let v = serde_json::to_value(ProduceRecord::new("hello_kafka")).unwrap();
        assert_eq!(v, serde_json::json!({"value": "hello_kafka"}));
        let v = serde_json::to_value(
            ProduceRecord::new("Istanbul")
                .partition(1)
                .key("city")
                .header("expire", "1637745834756"),
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"partition": 1, "key": "city", "value": "Istanbul",
                "headers": [{"key": "expire", "value": "1637745834756"}]})
        );
    }

    #[test]
    fn json_values_become_json_text() {
        let r = ProduceRecord::json(&serde_json::json!({"device": 7})).unwrap();
        assert_eq!(r.value, r#"{"device":7}"#);
    }
}
