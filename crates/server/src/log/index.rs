//! The sparse index of a closed segment (issue 19): what the log keeps in memory for a segment
//! that no longer changes (or for the checkpointed start of the active one), and the file
//! beside the segment that lets a restart skip scanning it.
//!
//! Without it every record ever retained cost 24 bytes of memory and every start read every
//! segment. A closed segment now holds a [`SparseIndex`]: one [`Point`] per
//! [`INTERVAL_BYTES`] of frames (always including its first record), plus its record count,
//! size and largest timestamp. A read by offset binary-searches the segments, then the points,
//! then decodes frames forward from the point found (at most [`INTERVAL_BYTES`] plus one frame
//! before the first wanted record); a read by time does the same with the running max
//! timestamp each point carries.
//!
//! On disk, `<segment stem>.index` beside `<segment stem>.log`, little-endian:
//!
//! ```text
//! magic "UKIX" | version u32 (1)
//! points: count u32, then per point: delta u32 | pos u64 | max_ts i64     (20 bytes)
//! footer: segment size u64 | records u64 | max_ts i64 | marks_until i64
//! checksum: xxh3-64 of everything before it, u64
//! ```
//!
//! `max_ts` and `marks_until` are `i64::MIN` when absent. `marks_until` is the latest
//! `stored_at` of an idempotency mark written into the segment (see [`super::marks`]): on open
//! a segment is scanned for marks only if it is at or after the start of the idempotency
//! window, so the marks of the window are all found without reading older segments.
//!
//! The same file beside the *active* segment is its checkpoint: the index of its first
//! records, all acknowledged, with `size` where they end (at most the file's length; see
//! [`super::segment::DiskStore::checkpoint_active`] and [`load_prefix`]).
//!
//! The file is written to `<stem>.index.tmp`, fsynced and renamed, when a segment closes (the
//! writer, after the fsync that made its successor's first record acknowledged), when
//! compaction installs a cleaned segment, and on open for a closed segment that had none (a
//! data directory written before this format, or a crash before the index was written). It is
//! never trusted blindly: a file whose magic, version or checksum is wrong, or whose recorded
//! segment size differs from the segment file's length, is ignored and rebuilt by scanning the
//! segment. No directory fsync is needed: a lost rename only means one more rebuild.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::segment::IndexEntry;

/// Bytes of frames between two sparse points: the bound of the forward scan of a read, and
/// what sets the memory of a closed segment (a 128 MiB segment holds 4,096 points, 80 KiB).
pub(crate) const INTERVAL_BYTES: u64 = 32 * 1024;

const MAGIC: &[u8; 4] = b"UKIX";
const VERSION: u32 = 1;
const POINT_BYTES: usize = 20;
const HEADER_BYTES: usize = 12;
const FOOTER_BYTES: usize = 32;

/// One sparse point: a record where a scan may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Point {
    /// Offset minus the segment's base.
    pub delta: u32,
    /// Byte position of its frame.
    pub pos: u64,
    /// Largest timestamp of this record and all before it (across segments).
    pub max_ts: i64,
}

/// What a closed segment keeps in memory instead of one entry per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SparseIndex {
    /// Points in offset order; the first is the segment's first record.
    pub points: Vec<Point>,
    /// Records in the segment.
    pub records: u64,
    /// Bytes of the segment file.
    pub size: u64,
    /// Largest timestamp of its records (and all before them), if it has any.
    pub max_ts: Option<i64>,
    /// Latest `stored_at` of an idempotency mark in it, if any.
    pub marks_until: Option<i64>,
}

impl SparseIndex {
    /// The sparse index of a segment from its dense entries (`size`: its bytes).
    pub fn from_entries(entries: &[IndexEntry], size: u64, marks_until: Option<i64>) -> Self {
        let mut index = SparseIndex {
            points: Vec::new(),
            records: 0,
            size: 0,
            max_ts: None,
            marks_until: None,
        };
        index.extend(entries, size, marks_until);
        index.points.shrink_to_fit();
        index
    }

    /// Adds the dense entries of the records that follow the ones it covers (the tail of an
    /// active segment being checkpointed, or sealed), keeping one point per
    /// [`INTERVAL_BYTES`]: the result is the index [`SparseIndex::from_entries`] would give
    /// for all of them. `size`: the segment's bytes up to the end of `entries`.
    pub fn extend(&mut self, entries: &[IndexEntry], size: u64, marks_until: Option<i64>) {
        let mut next_pos = self
            .points
            .last()
            .map_or(0, |p| p.pos.saturating_add(INTERVAL_BYTES));
        for e in entries {
            if self.points.is_empty() || e.pos >= next_pos {
                self.points.push(Point {
                    delta: e.delta,
                    pos: e.pos,
                    max_ts: e.max_ts,
                });
                next_pos = e.pos.saturating_add(INTERVAL_BYTES);
            }
        }
        self.records += entries.len() as u64;
        self.size = size;
        if let Some(last) = entries.last() {
            self.max_ts = Some(last.max_ts);
        }
        self.marks_until = self.marks_until.max(marks_until);
    }

    /// The last point at or before offset delta `delta` (the first point if none is).
    pub fn point_for_delta(&self, delta: u32) -> Option<&Point> {
        let i = self.points.partition_point(|p| p.delta <= delta);
        self.points.get(i.saturating_sub(1))
    }

    /// Where a search for the first record of running max timestamp ≥ `ts` starts: `Ok` with
    /// the point that is that record, or `Err` with the point to scan forward from.
    pub fn point_for_timestamp(&self, ts: i64) -> Option<Result<&Point, &Point>> {
        let i = self.points.partition_point(|p| p.max_ts < ts);
        match i.checked_sub(1) {
            None => self.points.first().map(Ok),
            Some(before) => self.points.get(before).map(Err),
        }
    }

    /// The file's bytes (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER_BYTES + self.points.len() * POINT_BYTES + FOOTER_BYTES + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.points.len() as u32).to_le_bytes());
        for p in &self.points {
            out.extend_from_slice(&p.delta.to_le_bytes());
            out.extend_from_slice(&p.pos.to_le_bytes());
            out.extend_from_slice(&p.max_ts.to_le_bytes());
        }
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.records.to_le_bytes());
        out.extend_from_slice(&self.max_ts.unwrap_or(i64::MIN).to_le_bytes());
        out.extend_from_slice(&self.marks_until.unwrap_or(i64::MIN).to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses and checks a file's bytes: `None` unless magic, version, length and checksum
    /// all agree and the points are increasing within the recorded size.
    pub fn decode(buf: &[u8]) -> Option<Self> {
        let body_len = buf.len().checked_sub(8)?;
        let (body, sum) = buf.split_at(body_len);
        if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(sum.try_into().ok()?) {
            return None;
        }
        if body.get(..4)? != MAGIC || u32_at(body, 4)? != VERSION {
            return None;
        }
        let n = usize::try_from(u32_at(body, 8)?).ok()?;
        if body.len() != HEADER_BYTES + n.checked_mul(POINT_BYTES)? + FOOTER_BYTES {
            return None;
        }
        let mut points = Vec::with_capacity(n);
        for i in 0..n {
            let at = HEADER_BYTES + i * POINT_BYTES;
            points.push(Point {
                delta: u32_at(body, at)?,
                pos: u64_at(body, at + 4)?,
                max_ts: u64_at(body, at + 12)? as i64,
            });
        }
        let at = HEADER_BYTES + n * POINT_BYTES;
        let size = u64_at(body, at)?;
        let records = u64_at(body, at + 8)?;
        let opt = |v: u64| Some(v as i64).filter(|v| *v != i64::MIN);
        let max_ts = opt(u64_at(body, at + 16)?);
        let marks_until = opt(u64_at(body, at + 24)?);
        let ordered = points
            .windows(2)
            .all(|w| w[0].delta < w[1].delta && w[0].pos < w[1].pos);
        let consistent = ordered
            && points.last().is_none_or(|p| p.pos < size)
            && points.first().is_none_or(|p| p.pos == 0)
            && (records == 0) == points.is_empty()
            && (n as u64) <= records;
        consistent.then_some(SparseIndex {
            points,
            records,
            size,
            max_ts,
            marks_until,
        })
    }
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// The index file of the segment at `segment` (`x.log` → `x.index`).
pub(crate) fn path_for(segment: &Path) -> PathBuf {
    segment.with_extension("index")
}

/// Reads the index of the segment at `segment`, if there is a valid one for a segment file
/// of `segment_len` bytes; a missing, unreadable, corrupt or stale one gives `None`.
pub(crate) fn load(segment: &Path, segment_len: u64) -> Option<SparseIndex> {
    read_checked(
        segment,
        "segment index",
        "rebuilding it from its segment",
        |i| i.size == segment_len,
    )
}

/// Reads the checkpoint of the active segment at `segment`: an index of its first records,
/// written by [`super::segment::DiskStore::checkpoint_active`]. Valid if it decodes and
/// covers no more than the `segment_len` bytes the file has; the caller still checks it
/// against the frames at its last point before trusting it.
pub(crate) fn load_prefix(segment: &Path, segment_len: u64) -> Option<SparseIndex> {
    read_checked(
        segment,
        "checkpoint of the active segment",
        "scanning the segment",
        |i| i.size <= segment_len,
    )
}

/// The index file beside `segment`, decoded, if it exists, is intact and `fits` its segment;
/// a corrupt or unfitting one is logged as `what`, with what happens `instead`.
fn read_checked(
    segment: &Path,
    what: &str,
    instead: &str,
    fits: impl FnOnce(&SparseIndex) -> bool,
) -> Option<SparseIndex> {
    let path = path_for(segment);
    let buf = fs::read(&path).ok()?;
    let Some(index) = SparseIndex::decode(&buf) else {
        tracing::warn!(path = %path.display(), "corrupt {what}; {instead}");
        return None;
    };
    if !fits(&index) {
        tracing::warn!(path = %path.display(), "{what} does not match its segment's size; {instead}");
        return None;
    }
    Some(index)
}

/// Writes `bytes` as the index of the segment at `segment`: a temporary file, fsynced, then
/// renamed over any older one.
pub(crate) fn store(segment: &Path, bytes: &[u8]) -> io::Result<()> {
    let path = path_for(segment);
    let temp = path.with_extension("index.tmp");
    let mut file = File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, &path)
}

/// Like [`store`], logging a failure instead of returning it: the index is an optimisation
/// (a missing one is rebuilt on the next open).
pub(crate) fn store_or_warn(segment: &Path, bytes: &[u8]) {
    if let Err(e) = store(segment, bytes) {
        tracing::warn!(path = %path_for(segment).display(), "cannot write segment index (it is rebuilt on the next start): {e}");
    }
}

/// Removes the index of the segment at `segment`, if any (best effort: a leftover index is
/// checked against its segment before use and removed on open when its segment is gone).
pub(crate) fn remove(segment: &Path) {
    let _ = fs::remove_file(path_for(segment));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(sizes: &[u32]) -> (Vec<IndexEntry>, u64) {
        let mut pos = 0u64;
        let mut out = Vec::new();
        for (i, len) in sizes.iter().enumerate() {
            out.push(IndexEntry {
                delta: i as u32 * 2,
                len: *len,
                pos,
                max_ts: 1000 + i as i64,
            });
            pos += u64::from(*len);
        }
        (out, pos)
    }

    #[test]
    fn an_index_round_trips_through_its_bytes() {
        let (e, size) = entries(&[5000; 100]);
        let index = SparseIndex::from_entries(&e, size, Some(77));
        assert!(index.points.len() > 1 && index.points.len() < 100);
        assert_eq!(index.points[0].pos, 0);
        assert!(
            index
                .points
                .windows(2)
                .all(|w| w[1].pos - w[0].pos >= INTERVAL_BYTES
                    && w[1].pos - w[0].pos < INTERVAL_BYTES + 5000)
        );
        assert_eq!(SparseIndex::decode(&index.encode()), Some(index.clone()));
        let empty = SparseIndex::from_entries(&[], 0, None);
        assert_eq!(SparseIndex::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn any_flipped_byte_or_cut_makes_an_index_invalid() {
        let (e, size) = entries(&[40_000; 10]);
        let bytes = SparseIndex::from_entries(&e, size, None).encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert_eq!(SparseIndex::decode(&bad), None, "byte {i} flipped");
        }
        for n in 0..bytes.len() {
            assert_eq!(SparseIndex::decode(&bytes[..n]), None, "cut at {n}");
        }
    }

    #[test]
    fn lookups_find_the_point_at_or_before() {
        let (e, size) = entries(&[40_000; 10]);
        let index = SparseIndex::from_entries(&e, size, None);
        assert_eq!(index.points.len(), 10);
        assert_eq!(index.point_for_delta(0).map(|p| p.delta), Some(0));
        assert_eq!(index.point_for_delta(5).map(|p| p.delta), Some(4));
        assert_eq!(index.point_for_delta(99).map(|p| p.delta), Some(18));
        assert_eq!(index.point_for_timestamp(0), Some(Ok(&index.points[0])));
        assert_eq!(index.point_for_timestamp(1003), Some(Err(&index.points[2])));
        assert_eq!(index.point_for_timestamp(5000), Some(Err(&index.points[9])));
    }
}
