//! The records of an in-memory partition (a server without `--data-dir`).
//!
//! They are kept in segments as on disk, rolled by the same rule ([`RollPolicy`]), so that
//! retention and compaction ([`super::cleaner`]) treat both stores alike: retention drops
//! whole closed segments, compaction replaces closed segments by their survivors. A segment
//! counts the bytes its records count against a response ([`StoredRecord::size`]). Closed
//! segments are shared (`Arc`), so the cleaner works on a snapshot outside the lock and only
//! swaps the result in.

use std::sync::Arc;

use super::record::StoredRecord;
use super::segment::RollPolicy;

/// One record and where it stands.
#[derive(Debug, Clone)]
pub(crate) struct MemEntry {
    /// Its offset.
    pub offset: i64,
    /// Largest timestamp of this record and all before it.
    pub max_ts: i64,
    /// The record.
    pub record: StoredRecord,
}

/// A run of records, as a segment file would hold them.
#[derive(Debug, Clone)]
pub(crate) struct MemSegment {
    /// Offset of its first record.
    pub base: i64,
    /// For a compacted segment, the end of its range (exclusive).
    pub end: Option<i64>,
    /// Its records, offsets increasing.
    pub records: Arc<Vec<MemEntry>>,
    /// Sum of the records' sizes.
    pub bytes: u64,
    /// Wall-clock ms when its first record was appended.
    pub first_write_ms: Option<i64>,
}

impl MemSegment {
    fn empty(base: i64) -> Self {
        Self {
            base,
            end: None,
            records: Arc::new(Vec::new()),
            bytes: 0,
            first_write_ms: None,
        }
    }

    /// The offset after its range.
    pub fn next_offset(&self) -> i64 {
        self.end.unwrap_or(self.base + self.records.len() as i64)
    }

    /// Largest timestamp of its records (and all before them), if it has any.
    pub fn max_ts(&self) -> Option<i64> {
        self.records.last().map(|e| e.max_ts)
    }
}

/// Records of an in-memory partition.
#[derive(Debug)]
pub(crate) struct MemStore {
    /// Segments in offset order; the last one is active.
    pub segments: Vec<MemSegment>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self {
            segments: vec![MemSegment::empty(0)],
        }
    }
}

impl MemStore {
    /// Offset the next record gets.
    pub fn next_offset(&self) -> i64 {
        self.segments.last().map_or(0, MemSegment::next_offset)
    }

    /// The earliest offset kept.
    pub fn start_offset(&self) -> i64 {
        self.segments.first().map_or(0, |s| s.base)
    }

    /// Bytes of all segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Every segment but the active one is closed (in memory an append is visible at once).
    pub fn closed_count(&self) -> usize {
        self.segments.len().saturating_sub(1)
    }

    /// Appends `records`, rolling as `roll` says; returns the base offset.
    pub fn append(&mut self, records: Vec<StoredRecord>, roll: RollPolicy) -> i64 {
        let base = self.next_offset();
        let mut max = self
            .segments
            .iter()
            .rev()
            .find_map(MemSegment::max_ts)
            .unwrap_or(i64::MIN);
        for (i, record) in records.into_iter().enumerate() {
            let size = record.size() as u64;
            let roll_now = self
                .segments
                .last()
                .is_none_or(|s| s.end.is_some() || roll.must_roll(s.bytes, s.first_write_ms, size));
            if roll_now {
                let next = self.next_offset();
                self.segments.push(MemSegment::empty(next));
            }
            let Some(seg) = self.segments.last_mut() else {
                continue;
            };
            max = max.max(record.timestamp);
            seg.first_write_ms.get_or_insert(roll.now_ms);
            seg.bytes += size;
            Arc::make_mut(&mut seg.records).push(MemEntry {
                offset: base + i as i64,
                max_ts: max,
                record,
            });
        }
        base
    }

    /// The records from `from` on (from the start if below it), at most `max_records` and
    /// about `max_bytes` (at least one), handed to `each` with their offsets and sizes (no
    /// list in between: a 500-record poll allocated and grew one).
    pub fn read(
        &self,
        from: i64,
        max_records: usize,
        max_bytes: usize,
        mut each: impl FnMut(i64, &StoredRecord, usize),
    ) {
        let (mut n, mut bytes) = (0usize, 0usize);
        let first = self
            .segments
            .partition_point(|s| s.base <= from)
            .saturating_sub(1);
        for seg in &self.segments[first.min(self.segments.len())..] {
            let skip = seg.records.partition_point(|e| e.offset < from);
            for e in &seg.records[skip..] {
                let size = e.record.size();
                if n >= max_records || (bytes > 0 && bytes + size > max_bytes) {
                    return;
                }
                bytes += size;
                n += 1;
                each(e.offset, &e.record, size);
            }
        }
    }

    /// First offset whose record timestamp is ≥ `ts`, if any.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        let seg = self
            .segments
            .iter()
            .find(|s| s.max_ts().is_some_and(|m| m >= ts))?;
        let i = seg.records.partition_point(|e| e.max_ts < ts);
        seg.records.get(i).map(|e| e.offset)
    }

    /// Drops the first `n` closed segments (retention).
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.closed_count());
        self.segments.drain(..n);
    }
}
