//! Small metadata files (topic definitions with their settings, committed offsets, consumer
//! instances), replaced atomically:
//! write a temporary file, fsync it, rename it over the old one, fsync the directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use upkafka_protocol::AutoOffsetReset;

use super::segment::sync_dir;
use super::settings::TopicSettings;
use crate::error::BackendError;

const TOPICS: &str = "topics.json";
const OFFSETS: &str = "offsets.json";
const CONSUMERS: &str = "consumers.json";

/// Writes `bytes` to `dir/name` so that after a crash the file is either old or new, never torn.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(
    dir: &Path,
    name: &str,
) -> Result<T, BackendError> {
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| BackendError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(BackendError::storage(
            format_args!("reading {}", path.display()),
            &e,
        )),
    }
}

/// One topic as `topics.json` stores it.
///
/// Versions before topic settings (issue 15) stored only the partition count
/// (`"orders": 6`); such an entry opens with [`TopicSettings::unlimited`], so an upgrade
/// deletes nothing that was kept before. New entries are objects and always written whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum StoredTopic {
    /// The current shape.
    Full {
        /// Number of partitions.
        partitions: i32,
        /// When the topic was created (ms since the epoch; 0 for a topic stored by a version
        /// that did not record it).
        #[serde(default)]
        created_ms: i64,
        /// Retention, compaction and segment settings.
        settings: TopicSettings,
    },
    /// A partition count alone (data directories written before topic settings).
    Legacy(i32),
}

impl StoredTopic {
    /// Partitions, creation time and settings of the entry.
    pub(crate) fn parts(&self) -> (i32, i64, TopicSettings) {
        match self {
            Self::Full {
                partitions,
                created_ms,
                settings,
            } => (*partitions, *created_ms, *settings),
            Self::Legacy(count) => (*count, 0, TopicSettings::unlimited()),
        }
    }
}

/// Topic definitions of a data directory.
pub(crate) fn read_topics(dir: &Path) -> Result<BTreeMap<String, StoredTopic>, BackendError> {
    read_json(dir, TOPICS)
}

/// Replaces the topic definitions.
pub(crate) fn write_topics(
    dir: &Path,
    topics: &BTreeMap<String, StoredTopic>,
) -> Result<(), BackendError> {
    let bytes = serde_json::to_vec_pretty(topics)
        .map_err(|e| BackendError::Internal(format!("encoding topics: {e}")))?;
    write_atomic(dir, TOPICS, &bytes)
        .map_err(|e| BackendError::storage(format_args!("writing {TOPICS}"), &e))
}

/// One committed offset as stored in `offsets.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommittedEntry {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Committed offsets of a data directory.
pub(crate) fn read_offsets(dir: &Path) -> Result<Vec<CommittedEntry>, BackendError> {
    read_json(dir, OFFSETS)
}

/// Replaces the committed offsets.
pub(crate) fn write_offsets(dir: &Path, entries: &[CommittedEntry]) -> Result<(), BackendError> {
    let bytes = serde_json::to_vec(entries)
        .map_err(|e| BackendError::Internal(format!("encoding offsets: {e}")))?;
    write_atomic(dir, OFFSETS, &bytes)
        .map_err(|e| BackendError::storage(format_args!("writing {OFFSETS}"), &e))
}

/// One consumer instance as `consumers.json` stores it: what its first consume set (group,
/// id, subscription and the `Kafka-*` settings), not its positions, which restart from the
/// group's committed offsets (issue 16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredInstance {
    pub group: String,
    pub instance: String,
    pub topics: Vec<String>,
    pub auto_commit: bool,
    pub auto_commit_interval_ms: u64,
    pub auto_offset_reset: AutoOffsetReset,
    pub session_timeout_ms: u64,
}

/// Consumer instances of a data directory (none for one written before issue 16).
pub(crate) fn read_consumers(dir: &Path) -> Result<Vec<StoredInstance>, BackendError> {
    read_json(dir, CONSUMERS)
}

/// Replaces the consumer instances.
pub(crate) fn write_consumers(
    dir: &Path,
    instances: &[StoredInstance],
) -> Result<(), BackendError> {
    let bytes = serde_json::to_vec(instances)
        .map_err(|e| BackendError::Internal(format!("encoding consumer instances: {e}")))?;
    write_atomic(dir, CONSUMERS, &bytes)
        .map_err(|e| BackendError::storage(format_args!("writing {CONSUMERS}"), &e))
}
