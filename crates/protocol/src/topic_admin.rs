//! Topic management shapes of the Upstash Developer API (spec §9) under `/v2/kafka`:
//! create, describe, update and delete topics, and a topic's stats.
//!
//! Units and conventions, as on Upstash: times in milliseconds, sizes in bytes, `-1` for
//! unlimited. Beside Upstash's fields a topic carries Kafka's `segment_bytes`, `segment_ms`
//! and `delete_retention_ms` (upkafka extensions, optional on input), so that retention and
//! compaction can be made to act within seconds.

use serde::{Deserialize, Serialize};

/// Unlimited, in every size or time field: `-1`, as on Upstash.
pub const UNLIMITED: i64 = -1;

/// `POST /v2/kafka/topic` body. Fields left out take the server's defaults (Kafka's: 7 days
/// of retention, no size limit, the server's `--max-message-bytes`, `delete`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopicRequest {
    /// Topic name (Kafka's rules: `[a-zA-Z0-9._-]`, 1–249 characters, not `.` or `..`).
    pub name: String,
    /// Number of partitions (1–100,000; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Keep records this many milliseconds (`-1` forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_time: Option<i64>,
    /// Keep at most this many bytes per partition (`-1` no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_size: Option<i64>,
    /// Largest record in bytes (`-1`: the server's limit, which it can only lower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<i64>,
    /// `delete` or `compact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_policy: Option<String>,
    /// The cluster (`upkafka`); may be left out, the server is its only cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Extension: segment size in bytes before a new segment file starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_bytes: Option<i64>,
    /// Extension: a segment rolls once its first record is this many milliseconds old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ms: Option<i64>,
    /// Extension: how long a compacted topic keeps tombstones, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_retention_ms: Option<i64>,
}

/// `POST /v2/kafka/update-topic/{id}` body: the fields to change, the others stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateTopicRequest {
    /// Keep records this many milliseconds (`-1` forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_time: Option<i64>,
    /// Keep at most this many bytes per partition (`-1` no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_size: Option<i64>,
    /// Largest record in bytes (`-1`: the server's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<i64>,
    /// Extension: segment size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_bytes: Option<i64>,
    /// Extension: segment age in milliseconds before it rolls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ms: Option<i64>,
    /// Extension: how long tombstones are kept, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_retention_ms: Option<i64>,
}

/// A topic (spec §9 Topic). Its id is its name (Kafka names are URL-safe). The password
/// Upstash repeated here is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDetails {
    /// Its id for `/v2/kafka/topic/{id}`: the topic name.
    pub topic_id: String,
    /// Its name.
    pub topic_name: String,
    /// The cluster (`upkafka`).
    pub cluster_id: String,
    /// `local`.
    pub region: String,
    /// Creation time, epoch seconds (0 when the server does not know it).
    pub creation_time: i64,
    /// `active`.
    pub state: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Always false.
    pub multizone: bool,
    /// Empty: upkafka speaks REST only.
    pub tcp_endpoint: String,
    /// Empty when the server does not know its public address.
    pub rest_endpoint: String,
    /// The server credential's username.
    pub username: String,
    /// `delete` or `compact`.
    pub cleanup_policy: String,
    /// Bytes kept per partition, `-1` unlimited.
    pub retention_size: i64,
    /// Milliseconds records are kept, `-1` forever.
    pub retention_time: i64,
    /// Largest record in bytes.
    pub max_message_size: i64,
    /// Extension: segment size in bytes.
    #[serde(default)]
    pub segment_bytes: i64,
    /// Extension: segment age in milliseconds before it rolls.
    #[serde(default)]
    pub segment_ms: i64,
    /// Extension: how long tombstones are kept, in milliseconds.
    #[serde(default)]
    pub delete_retention_ms: i64,
}

/// One point of a stats series: `x` a time (epoch ms), `y` a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatPoint {
    /// Time, epoch milliseconds.
    pub x: i64,
    /// The value at that time.
    pub y: i64,
}

/// `GET /v2/kafka/stats/topic/{id}` (spec §9): per-second series over the last minutes the
/// server keeps, and the disk the topic uses now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicStats {
    /// Messages produced and consumed per second.
    pub throughput: Vec<StatPoint>,
    /// Messages produced per second.
    pub produce_throughput: Vec<StatPoint>,
    /// Messages delivered through consumer groups per second.
    pub consume_throughput: Vec<StatPoint>,
    /// Bytes the topic's records take, sampled now (one point).
    pub diskusage: Vec<StatPoint>,
    /// Messages produced over the kept history.
    pub total_monthly_produce: i64,
    /// Messages consumed over the kept history.
    pub total_monthly_consume: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_request_takes_upstash_fields_and_leaves_out_what_is_unset() {
        let req: CreateTopicRequest = serde_json::from_str(
            r#"{"name":"t","partitions":2,"retention_time":-1,"cleanup_policy":"compact","cluster_id":"upkafka"}"#,
        )
        .unwrap();
        assert_eq!(req.partitions, Some(2));
        assert_eq!(req.retention_time, Some(UNLIMITED));
        assert_eq!(req.retention_size, None);
        let json = serde_json::to_string(&CreateTopicRequest {
            name: "t".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(json, r#"{"name":"t"}"#);
    }
}
