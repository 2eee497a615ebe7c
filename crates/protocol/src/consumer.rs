//! Fetch, consume and consumer-group bodies (spec §4.2–§4.8).

use serde::{Deserialize, Serialize};

use super::TopicPartitionOffset;
use super::headers::{
    AutoOffsetReset, KAFKA_AUTO_COMMIT_INTERVAL, KAFKA_AUTO_OFFSET_RESET, KAFKA_ENABLE_AUTO_COMMIT,
    KAFKA_SESSION_TIMEOUT_MS,
};

/// Body of `/fetch`: read by explicit offsets, without a consumer group (spec §4.2).
///
/// Either the `topic`/`partition`/`offset` triple, a list in `topicPartitionOffsets`, or both.
/// Reading starts at each offset, inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRequest {
    /// Topic of the single triple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Partition of the single triple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// First offset to read in the single triple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Further partitions and first offsets to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_partition_offsets: Option<Vec<TopicPartitionOffset>>,
    /// Longest wait for data in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl FetchRequest {
    /// A request for one partition from `offset` on.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        Self {
            topic: Some(topic.into()),
            partition: Some(partition),
            offset: Some(offset),
            ..Self::default()
        }
    }

    /// Every requested triple in the order the official client uses for split requests:
    /// the `topicPartitionOffsets` entries first, the top-level triple last.
    ///
    /// # Errors
    /// A message naming the missing field when the top-level triple is only partly given.
    pub fn entries(&self) -> Result<Vec<TopicPartitionOffset>, String> {
        let mut out: Vec<TopicPartitionOffset> =
            self.topic_partition_offsets.clone().unwrap_or_default();
        match (&self.topic, self.partition, self.offset) {
            (None, None, None) => {}
            (Some(topic), Some(partition), Some(offset)) => {
                out.push(TopicPartitionOffset::new(topic.clone(), partition, offset));
            }
            (topic, partition, offset) => {
                let missing: Vec<&str> = [
                    ("topic", topic.is_none()),
                    ("partition", partition.is_none()),
                    ("offset", offset.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect();
                return Err(format!(
                    "fetch needs topic, partition and offset together; missing: {}",
                    missing.join(", ")
                ));
            }
        }
        Ok(out)
    }
}

/// Body of `/consume/{group}/{instance}`: `topic` for one topic or `topics` for several.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumeRequest {
    /// The one topic to consume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Several topics to consume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    /// Longest wait for data in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl ConsumeRequest {
    /// The body the official client sends: `{topic}` for one topic, `{topics}` for several.
    pub fn for_topics<S: AsRef<str>>(topics: &[S], timeout_ms: Option<u64>) -> Self {
        let mut req = Self {
            timeout: timeout_ms,
            ..Self::default()
        };
        if let [one] = topics {
            req.topic = Some(one.as_ref().to_owned());
        } else {
            req.topics = Some(topics.iter().map(|t| t.as_ref().to_owned()).collect());
        }
        req
    }

    /// All named topics, `topic` first, without duplicates.
    pub fn topic_list(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.topic.iter().chain(self.topics.iter().flatten()) {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        out
    }
}

/// Settings of a consumer instance, carried by the `Kafka-*` headers of the consume request
/// that creates it (spec §4.3). `None` means "the server's default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// `Kafka-Enable-Auto-Commit` (default `true`).
    pub auto_commit: Option<bool>,
    /// `Kafka-Auto-Commit-Interval` in ms (default 5000).
    pub auto_commit_interval_ms: Option<u64>,
    /// `Kafka-Auto-Offset-Reset` (default `latest`).
    pub auto_offset_reset: Option<AutoOffsetReset>,
    /// `Kafka-Session-Timeout-Ms` (default 120000).
    pub session_timeout_ms: Option<u64>,
}

impl ConsumerConfig {
    /// Default auto-commit setting when the header is absent.
    pub const DEFAULT_AUTO_COMMIT: bool = true;
    /// Default auto-commit interval (ms) when the header is absent.
    pub const DEFAULT_AUTO_COMMIT_INTERVAL_MS: u64 = 5_000;
    /// Default session timeout (ms) when the header is absent.
    pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 120_000;

    /// The request headers for the settings that are set, as `(name, value)` pairs.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(v) = self.auto_commit {
            out.push((KAFKA_ENABLE_AUTO_COMMIT, v.to_string()));
        }
        if let Some(v) = self.auto_commit_interval_ms {
            out.push((KAFKA_AUTO_COMMIT_INTERVAL, v.to_string()));
        }
        if let Some(v) = self.auto_offset_reset {
            out.push((KAFKA_AUTO_OFFSET_RESET, v.as_str().to_owned()));
        }
        if let Some(v) = self.session_timeout_ms {
            out.push((KAFKA_SESSION_TIMEOUT_MS, v.to_string()));
        }
        out
    }

    /// Reads the settings from request headers; `get` looks a header up by name
    /// (case-insensitively, as HTTP header maps do).
    ///
    /// # Errors
    /// A message naming the header and its bad value.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, String> {
        fn num(name: &str, v: &str) -> Result<u64, String> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("header {name}: `{v}` is not a number of milliseconds"))
        }
        let mut cfg = Self::default();
        if let Some(v) = get(KAFKA_ENABLE_AUTO_COMMIT) {
            cfg.auto_commit = Some(match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(format!(
                        "header {KAFKA_ENABLE_AUTO_COMMIT}: `{v}` is not true or false"
                    ));
                }
            });
        }
        if let Some(v) = get(KAFKA_AUTO_COMMIT_INTERVAL) {
            cfg.auto_commit_interval_ms = Some(num(KAFKA_AUTO_COMMIT_INTERVAL, v)?);
        }
        if let Some(v) = get(KAFKA_AUTO_OFFSET_RESET) {
            cfg.auto_offset_reset = Some(
                v.parse()
                    .map_err(|e| format!("header {KAFKA_AUTO_OFFSET_RESET}: {e}"))?,
            );
        }
        if let Some(v) = get(KAFKA_SESSION_TIMEOUT_MS) {
            cfg.session_timeout_ms = Some(num(KAFKA_SESSION_TIMEOUT_MS, v)?);
        }
        Ok(cfg)
    }
}

/// One consumer group in the `/consumers` answer (spec §4.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAssignments {
    /// Group id.
    pub name: String,
    /// The group's REST consumer instances.
    pub instances: Vec<InstanceAssignments>,
}

/// One consumer instance and the partitions assigned to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAssignments {
    /// Instance id.
    pub name: String,
    /// Assigned partitions per topic.
    pub topics: Vec<TopicAssignments>,
}

/// The partitions of one topic assigned to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicAssignments {
    /// Topic name.
    pub topic: String,
    /// Assigned partition numbers.
    pub partitions: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_entries_put_the_list_first_and_the_triple_last() {
        let req: FetchRequest = serde_json::from_str(
            r#"{"topic":"a","partition":3,"offset":11,"topicPartitionOffsets":[{"topic":"b","partition":1,"offset":1}],"timeout":5000}"#,
        )
        .unwrap();
        let e = req.entries().unwrap();
        assert_eq!(e[0], TopicPartitionOffset::new("b", 1, 1));
        assert_eq!(e[1], TopicPartitionOffset::new("a", 3, 11));
        let partial = FetchRequest {
            topic: Some("a".into()),
            ..FetchRequest::default()
        };
        let err = partial.entries().unwrap_err();
        assert!(err.contains("partition, offset"), "{err}");
    }

    #[test]
    fn consume_body_matches_the_official_client() {
        let one = serde_json::to_value(ConsumeRequest::for_topics(&["a"], None)).unwrap();
        assert_eq!(one, serde_json::json!({"topic": "a"}));
        let many =
            serde_json::to_value(ConsumeRequest::for_topics(&["a", "b"], Some(3000))).unwrap();
        assert_eq!(
            many,
            serde_json::json!({"topics": ["a", "b"], "timeout": 3000})
        );
    }

    #[test]
    fn consumer_config_round_trips_through_headers() {
        let cfg = ConsumerConfig {
            auto_commit: Some(false),
            auto_commit_interval_ms: Some(1000),
            auto_offset_reset: Some(AutoOffsetReset::Earliest),
            session_timeout_ms: Some(30_000),
        };
        let headers = cfg.to_headers();
        let back = ConsumerConfig::from_headers(|name| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })
        .unwrap();
        assert_eq!(back, cfg);
        let err =
            ConsumerConfig::from_headers(|n| (n == KAFKA_ENABLE_AUTO_COMMIT).then_some("yes"))
                .unwrap_err();
        assert!(err.contains(KAFKA_ENABLE_AUTO_COMMIT));
    }
}
