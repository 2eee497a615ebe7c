//! Small metadata files (topic definitions, committed offsets), replaced atomically:
//! write a temporary file, fsync it, rename it over the old one, fsync the directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::sync_dir;
use crate::error::BackendError;

const TOPICS: &str = "topics.json";
const OFFSETS: &str = "offsets.json";

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

/// Topic definitions of a data directory.
pub(crate) fn read_topics(dir: &Path) -> Result<BTreeMap<String, i32>, BackendError> {
    read_json(dir, TOPICS)
}

/// Replaces the topic definitions.
pub(crate) fn write_topics(dir: &Path, topics: &[(String, i32)]) -> Result<(), BackendError> {
    let map: BTreeMap<&str, i32> = topics.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let bytes = serde_json::to_vec_pretty(&map)
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
