//! Idempotency keys recovered from the log (issue 16): the batch marks found while segments
//! are scanned on open, put together into the answers the batches got.
//!
//! A keyed batch leaves one [`BatchMark`] per partition it wrote to, on the first of its
//! frames there (see [`super::record`]). [`Collector`] follows one partition's scan: a mark
//! opens a group, the next frames give its records' timestamps, and the group is complete
//! once it has as many frames as the mark counts. [`assemble`] joins the complete groups of
//! all partitions per batch; a batch missing a group (a torn tail cut it, or a crash hit the
//! middle of a multi-partition write) was never acknowledged and is left out, so its repeat is
//! stored again (at-least-once, as without a key).

use std::collections::HashMap;
use std::sync::Arc;

use super::record::{self, BatchMark};

/// One partition's records of a keyed batch, as found in the log.
#[derive(Debug, Clone)]
pub(crate) struct MarkedGroup {
    /// The mark on the group's first frame.
    pub mark: BatchMark,
    /// Offset of that frame.
    pub base: i64,
    /// Timestamps of the group's records, in offset order.
    pub timestamps: Vec<i64>,
}

/// Follows the frames of one partition's scan (every segment, in order).
#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// Marks stored before this (epoch ms) are out of every window: skipped.
    since: i64,
    pending: Option<MarkedGroup>,
    complete: Vec<MarkedGroup>,
}

impl Collector {
    /// A collector keeping marks stored at `since` (epoch ms) or later; `i64::MAX` keeps none.
    pub(crate) fn new(since: i64) -> Self {
        Self {
            since,
            pending: None,
            complete: Vec::new(),
        }
    }

    /// One frame of the scan, already checked (CRC, contiguous offset).
    pub(crate) fn frame(&mut self, offset: i64, timestamp: i64, payload: &[u8]) {
        if self.since == i64::MAX {
            return;
        }
        match record::payload_mark(payload) {
            Some(mark) => {
                // A mark only starts a group: one still open was cut short.
                self.pending = None;
                if mark.stored_at >= self.since {
                    self.pending = Some(MarkedGroup {
                        timestamps: Vec::with_capacity(mark.records().min(1 << 16)),
                        mark,
                        base: offset,
                    });
                    self.push(offset, timestamp);
                }
            }
            None => self.push(offset, timestamp),
        }
    }

    fn push(&mut self, offset: i64, timestamp: i64) {
        let Some(g) = &mut self.pending else { return };
        if g.base + g.timestamps.len() as i64 != offset {
            self.pending = None;
            return;
        }
        g.timestamps.push(timestamp);
        if g.timestamps.len() >= g.mark.records() {
            self.complete.extend(self.pending.take());
        }
    }

    /// The complete groups found (a group still open at the end was cut by a torn tail).
    pub(crate) fn take(&mut self) -> Vec<MarkedGroup> {
        self.pending = None;
        std::mem::take(&mut self.complete)
    }
}

/// A [`MarkedGroup`] with the topic and partition it was found in.
pub(crate) type PartitionGroup = (Arc<str>, i32, MarkedGroup);

/// What tells one keyed batch from another: its key, fingerprint and time.
type BatchId = (Arc<str>, [u8; 16], i64);

/// Where one record of a recovered batch is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecoveredRecord {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp.
    pub timestamp: i64,
}

/// A keyed batch found complete in the log: its key, fingerprint, time and answer.
#[derive(Debug, Clone)]
pub(crate) struct RecoveredBatch {
    /// The `Idempotency-Key`.
    pub key: Arc<str>,
    /// The batch's fingerprint.
    pub fingerprint: [u8; 16],
    /// When it was stored, epoch ms.
    pub stored_at: i64,
    /// Where each record is, in request order.
    pub records: Vec<RecoveredRecord>,
}

/// Joins the groups of every partition (`(topic, partition, group)`) into batches: the groups
/// of one batch share key, fingerprint and time, and together hold each request index once.
/// Incomplete or inconsistent batches are left out (logged).
pub(crate) fn assemble(groups: Vec<PartitionGroup>) -> Vec<RecoveredBatch> {
    let mut by_batch: HashMap<BatchId, Vec<PartitionGroup>> = HashMap::new();
    for (topic, partition, g) in groups {
        by_batch
            .entry((g.mark.key.clone(), g.mark.fingerprint, g.mark.stored_at))
            .or_default()
            .push((topic, partition, g));
    }
    let mut out = Vec::with_capacity(by_batch.len());
    for ((key, fingerprint, stored_at), parts) in by_batch {
        let len = parts
            .first()
            .map_or(0, |(_, _, g)| g.mark.request_len as usize);
        let mut slots: Vec<Option<RecoveredRecord>> = vec![None; len];
        let mut consistent = true;
        'parts: for (topic, partition, g) in &parts {
            if g.mark.request_len as usize != len {
                consistent = false;
                break;
            }
            let mut k = 0usize;
            for &(start, n) in &g.mark.runs {
                for index in start..start.saturating_add(n) {
                    let (Some(slot), Some(&timestamp)) =
                        (slots.get_mut(index as usize), g.timestamps.get(k))
                    else {
                        consistent = false;
                        break 'parts;
                    };
                    if slot.is_some() {
                        consistent = false;
                        break 'parts;
                    }
                    *slot = Some(RecoveredRecord {
                        topic: Arc::clone(topic),
                        partition: *partition,
                        offset: g.base + k as i64,
                        timestamp,
                    });
                    k += 1;
                }
            }
        }
        let records: Option<Vec<RecoveredRecord>> = slots.into_iter().collect();
        match records {
            Some(records) if consistent && !records.is_empty() => out.push(RecoveredBatch {
                key,
                fingerprint,
                stored_at,
                records,
            }),
            _ => tracing::warn!(
                key = %key,
                "a batch stored with an Idempotency-Key is incomplete in the log (never \
                 acknowledged); its repeat will be stored again"
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{FRAME_HEADER, StoredRecord, encode, encode_marked};

    fn rec(ts: i64) -> StoredRecord {
        StoredRecord {
            timestamp: ts,
            key: None,
            value: Some("v".into()),
            headers: Vec::new(),
        }
    }

    fn mark(runs: Vec<(u32, u32)>, request_len: u32) -> BatchMark {
        BatchMark {
            key: "k".into(),
            fingerprint: [1; 16],
            stored_at: 100,
            request_len,
            runs,
        }
    }

    /// Feeds frames `(offset, ts, mark)` to a collector, as a scan would.
    fn scan(frames: &[(i64, i64, Option<BatchMark>)]) -> Vec<MarkedGroup> {
        let mut c = Collector::new(0);
        for (offset, ts, m) in frames {
            let mut buf = Vec::new();
            let n = match m {
                Some(m) => encode_marked(&mut buf, *offset, &rec(*ts), Some(m)),
                None => encode(&mut buf, *offset, &rec(*ts)),
            };
            c.frame(*offset, *ts, &buf[FRAME_HEADER..n]);
        }
        c.take()
    }

    #[test]
    fn a_batch_over_two_partitions_is_put_back_in_request_order() {
        // Request of 3: indices 0 and 2 to partition 0 (offsets 5, 6), 1 to partition 1.
        let p0 = scan(&[
            (4, 1, None),
            (5, 10, Some(mark(vec![(0, 1), (2, 1)], 3))),
            (6, 12, None),
        ]);
        let p1 = scan(&[(0, 11, Some(mark(vec![(1, 1)], 3)))]);
        let t: Arc<str> = Arc::from("t");
        let mut groups: Vec<_> = p0.into_iter().map(|g| (Arc::clone(&t), 0, g)).collect();
        groups.extend(p1.into_iter().map(|g| (Arc::clone(&t), 1, g)));
        let batches = assemble(groups);
        assert_eq!(batches.len(), 1);
        let got: Vec<(i32, i64, i64)> = batches[0]
            .records
            .iter()
            .map(|r| (r.partition, r.offset, r.timestamp))
            .collect();
        assert_eq!(got, [(0, 5, 10), (1, 0, 11), (0, 6, 12)]);
    }

    #[test]
    fn a_batch_cut_short_or_missing_a_partition_is_left_out() {
        // The second frame of the group was cut by a torn tail.
        assert!(scan(&[(0, 1, Some(mark(vec![(0, 2)], 2)))]).is_empty());
        // The group is complete but the batch's other partition never got its frames.
        let g = scan(&[(0, 1, Some(mark(vec![(0, 1)], 2)))]);
        assert_eq!(g.len(), 1);
        let t: Arc<str> = Arc::from("t");
        assert!(assemble(g.into_iter().map(|g| (Arc::clone(&t), 0, g)).collect()).is_empty());
        // Marks older than the window are not collected.
        let mut c = Collector::new(101);
        let mut buf = Vec::new();
        let n = encode_marked(&mut buf, 0, &rec(1), Some(&mark(vec![(0, 1)], 1)));
        c.frame(0, 1, &buf[FRAME_HEADER..n]);
        assert!(c.take().is_empty());
    }
}
