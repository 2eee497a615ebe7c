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
    /// Record value: always a string on the wire.
    pub value: String,
    /// Record headers in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
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
