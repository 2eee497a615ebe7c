//! Per-topic settings of the embedded log (issue 15): how long records are kept, how large a
//! partition may grow, how segments roll, and whether old records are deleted or compacted.
//!
//! The fields are Upstash's topic fields (`retention_time`, `retention_size`,
//! `max_message_size`, `cleanup_policy`, spec §9) and Kafka's segment settings beside them
//! (`segment.bytes`, `segment.ms`, `delete.retention.ms`), so that retention and compaction
//! can act within seconds when a user or a test asks. Unlimited is `None` here; on the wire it
//! is `-1`, as on Upstash.
//!
//! Defaults follow Kafka's broker defaults where Kafka has one (`retention.ms` 7 days,
//! `retention.bytes` unlimited, `segment.ms` 7 days, `delete.retention.ms` 1 day) and the
//! log's own segment size (128 MiB, smaller than Kafka's 1 GiB so that retention acts on a
//! small server's disk). Topics stored by a version without settings open with
//! [`TopicSettings::unlimited`]: nothing a server kept before is deleted by an upgrade.

use serde::{Deserialize, Serialize};

/// Kafka's default `retention.ms`: 7 days.
pub const DEFAULT_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `segment.ms`: 7 days.
pub const DEFAULT_SEGMENT_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `delete.retention.ms`: 1 day.
pub const DEFAULT_DELETE_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;
/// Default segment size before rolling to a new file: 128 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 128 * 1024 * 1024;
/// Smallest segment size accepted: 64 bytes, about one small frame (Kafka's `segment.bytes`
/// minimum is 14). Only the server's own credential may set it; tests use tiny segments.
pub const MIN_SEGMENT_BYTES: u64 = 64;
/// Smallest segment age accepted: 100 ms (a roll per produce would only make files).
pub const MIN_SEGMENT_MS: u64 = 100;

/// What happens to records past retention (Kafka's `cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CleanupPolicy {
    /// Whole closed segments past `retention_ms` or beyond `retention_bytes` are deleted.
    #[default]
    Delete,
    /// Closed segments keep only the latest record per key; a record with a null value (a
    /// tombstone) deletes its key after `delete_retention_ms`. Records need a key.
    Compact,
}

impl CleanupPolicy {
    /// The wire name: `delete` or `compact`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
        }
    }
}

impl std::str::FromStr for CleanupPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "delete" => Ok(Self::Delete),
            "compact" => Ok(Self::Compact),
            other => Err(format!(
                "unknown cleanup policy `{other}`: expected `delete` or `compact`"
            )),
        }
    }
}

/// Retention, compaction and size settings of one topic. Unlimited is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicSettings {
    /// Records older than this (by their timestamp) are deleted, a closed segment at a time
    /// once its newest record is that old (Upstash `retention_time`, Kafka `retention.ms`).
    pub retention_ms: Option<u64>,
    /// Each partition keeps at most about this many bytes: the oldest closed segments are
    /// deleted while the partition is larger (Upstash `retention_size`, Kafka
    /// `retention.bytes`, which is also per partition).
    pub retention_bytes: Option<u64>,
    /// Largest record accepted on this topic; `None` is the server's `--max-message-bytes`
    /// (Upstash `max_message_size`, Kafka `max.message.bytes`). It can only lower the
    /// server's limit, never raise it.
    pub max_message_bytes: Option<u64>,
    /// Delete or compact (Upstash `cleanup_policy`).
    pub cleanup_policy: CleanupPolicy,
    /// A segment rolls to a new file at this size (Kafka `segment.bytes`).
    pub segment_bytes: u64,
    /// A segment rolls to a new file once its first record is this old, so that retention
    /// and compaction can act on a quiet topic (Kafka `segment.ms`).
    pub segment_ms: u64,
    /// A tombstone of a compacted topic is kept this long after its segment was first
    /// compacted, so that consumers see the deletion (Kafka `delete.retention.ms`).
    pub delete_retention_ms: u64,
}

impl Default for TopicSettings {
    fn default() -> Self {
        Self {
            retention_ms: Some(DEFAULT_RETENTION_MS),
            retention_bytes: None,
            max_message_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: DEFAULT_SEGMENT_MS,
            delete_retention_ms: DEFAULT_DELETE_RETENTION_MS,
        }
    }
}

impl TopicSettings {
    /// Keeps everything forever: the settings of a topic stored before topics had settings.
    pub fn unlimited() -> Self {
        Self {
            retention_ms: None,
            ..Self::default()
        }
    }

    /// Checks the values a log can work with; the error names the field.
    ///
    /// # Errors
    /// A message naming the field and its bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return Err(format!(
                "segment_bytes {} is below the minimum of {MIN_SEGMENT_BYTES}",
                self.segment_bytes
            ));
        }
        if self.segment_ms < MIN_SEGMENT_MS {
            return Err(format!(
                "segment_ms {} is below the minimum of {MIN_SEGMENT_MS}",
                self.segment_ms
            ));
        }
        if self.max_message_bytes == Some(0) {
            return Err("max_message_size must be at least 1 byte (or -1)".into());
        }
        Ok(())
    }
}

/// The settings a request names (create or update); the others keep their value: the
/// default on create, the current one on update. `Some(None)` sets unlimited.
///
/// The gateway sends only these to Kafka, so that the cluster's own defaults apply to the
/// rest; the embedded log applies them to its defaults or the current settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    /// New `retention_ms` (`Some(None)`: forever).
    pub retention_ms: Option<Option<u64>>,
    /// New `retention_bytes` (`Some(None)`: no limit).
    pub retention_bytes: Option<Option<u64>>,
    /// New `max_message_bytes` (`Some(None)`: the server's limit).
    pub max_message_bytes: Option<Option<u64>>,
    /// New cleanup policy (only on create: Upstash's update has no such field).
    pub cleanup_policy: Option<CleanupPolicy>,
    /// New segment size.
    pub segment_bytes: Option<u64>,
    /// New segment age.
    pub segment_ms: Option<u64>,
    /// New tombstone retention.
    pub delete_retention_ms: Option<u64>,
}

impl SettingsPatch {
    /// `base` with the named settings replaced.
    #[must_use]
    pub fn apply(&self, base: TopicSettings) -> TopicSettings {
        TopicSettings {
            retention_ms: self.retention_ms.unwrap_or(base.retention_ms),
            retention_bytes: self.retention_bytes.unwrap_or(base.retention_bytes),
            max_message_bytes: self.max_message_bytes.unwrap_or(base.max_message_bytes),
            cleanup_policy: self.cleanup_policy.unwrap_or(base.cleanup_policy),
            segment_bytes: self.segment_bytes.unwrap_or(base.segment_bytes),
            segment_ms: self.segment_ms.unwrap_or(base.segment_ms),
            delete_retention_ms: self.delete_retention_ms.unwrap_or(base.delete_retention_ms),
        }
    }
}

impl From<TopicSettings> for SettingsPatch {
    /// A patch that names every setting.
    fn from(s: TopicSettings) -> Self {
        Self {
            retention_ms: Some(s.retention_ms),
            retention_bytes: Some(s.retention_bytes),
            max_message_bytes: Some(s.max_message_bytes),
            cleanup_policy: Some(s.cleanup_policy),
            segment_bytes: Some(s.segment_bytes),
            segment_ms: Some(s.segment_ms),
            delete_retention_ms: Some(s.delete_retention_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_stored_topics_keep_everything() {
        let d = TopicSettings::default();
        assert_eq!(d.retention_ms, Some(7 * 24 * 3600 * 1000));
        assert_eq!(d.retention_bytes, None);
        assert_eq!(d.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(TopicSettings::unlimited().retention_ms, None);
        assert!(d.validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let tiny = TopicSettings {
            segment_bytes: 10,
            ..TopicSettings::default()
        };
        assert!(tiny.validate().unwrap_err().contains("segment_bytes"));
        let fast = TopicSettings {
            segment_ms: 1,
            ..TopicSettings::default()
        };
        assert!(fast.validate().unwrap_err().contains("segment_ms"));
        assert_eq!("compact".parse(), Ok(CleanupPolicy::Compact));
        assert!(
            "Compact"
                .parse::<CleanupPolicy>()
                .unwrap_err()
                .contains("Compact")
        );
    }
}
