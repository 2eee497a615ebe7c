//! Topic/partition/offset triples, `/topics` and the `/offsets/{timestamp}` path value.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A partition of a topic (spec §2.3 `TopicPartition`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// An offset in a partition (spec §2.3 `TopicPartitionOffset`).
///
/// In `/committed` answers a partition without a committed offset has offset `-1` (our choice for
/// spec open question 8, the value Kafka's admin API uses); in `/offsets` answers `-1` means no
/// record at or after the timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

impl TopicPartitionOffset {
    /// A topic/partition/offset triple.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    /// The partition this offset belongs to.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}

/// The `/topics` answer: topic name → number of partitions.
pub type Topics = BTreeMap<String, i32>;

/// The `{timestamp}` of `/offsets/{timestamp}`: a time in epoch milliseconds, or the literal
/// `earliest` / `latest` (spec §4.9; milliseconds is our reading of open question 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The first retained offset of each partition.
    Earliest,
    /// The offset the next produced message will get (the end of the partition).
    Latest,
    /// The first offset whose record timestamp is ≥ this time (epoch ms).
    Timestamp(i64),
}

impl fmt::Display for OffsetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetSpec::Earliest => f.write_str("earliest"),
            OffsetSpec::Latest => f.write_str("latest"),
            OffsetSpec::Timestamp(ms) => write!(f, "{ms}"),
        }
    }
}

impl FromStr for OffsetSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" => Ok(OffsetSpec::Earliest),
            "latest" => Ok(OffsetSpec::Latest),
            other => other.parse::<i64>().map(OffsetSpec::Timestamp).map_err(|_| {
                format!(
                    "invalid offsets timestamp `{other}`: expected epoch milliseconds, `earliest` or `latest`"
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_spec_parses_and_prints_the_path_value() {
        for s in ["earliest", "latest", "1642591892000"] {
            assert_eq!(s.parse::<OffsetSpec>().unwrap().to_string(), s);
        }
        assert!("yesterday".parse::<OffsetSpec>().is_err());
    }
}
