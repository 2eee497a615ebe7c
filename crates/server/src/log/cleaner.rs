//! Retention and compaction: the log's background work, off the produce path.
//!
//! [`Cleaner::start`] runs one thread for the whole log. Every `interval`, and at once when
//! an append rolled a segment ([`Signal::wake`]: retention then keeps up with any write
//! rate, a closed segment waits for no timer), it visits each partition and applies its topic's settings, read live (an altered topic is cleaned by the
//! new settings on the next pass), to its **closed** segments only (see
//! [`super::segment::DiskStore::closed_count`]; the active segment is never touched, and neither is one a
//! rollback could make active again):
//!
//! * `cleanup_policy: delete`: the leading closed segments whose newest record is older than
//!   `retention_ms` are deleted, then more of them while the partition stays at least
//!   `retention_bytes` large without them (Kafka's rules, per partition). The start offset
//!   moves to the first remaining segment.
//! * `cleanup_policy: compact`: each key keeps only its latest record of the closed
//!   segments; a tombstone (null value) that is the latest of its key goes too once its
//!   timestamp is `delete_retention_ms` old. Records without a key are kept. Frames are
//!   copied byte for byte, so offsets and per-key order never change. Consecutive closed
//!   segments are merged while the survivors fit in `segment_bytes`. A partition is compacted
//!   again when a segment was closed since its last pass, or when a kept tombstone comes due,
//!   but at most once per cleaner interval (Kafka's cleaner backs off likewise,
//!   `log.cleaner.backoff.ms`): a burst of rolls is compacted in one pass, not one pass per
//!   segment, which in `bench/cleaner.sh` cut the passes from 20/s to 1/s with the same bytes
//!   read. Retention is not held back: it acts on every roll.
//!
//! The partition lock is taken to plan (a snapshot of the closed segments with their open
//! descriptors) and to swap the in-memory view; reading and writing files happens outside
//! it. Readers therefore keep reading the descriptors their reads were planned with: a file
//! deleted or replaced meanwhile stays readable to them until they are done.
//!
//! Crash safety (durable store): a deleted segment leaves the view first, then its file is
//! unlinked; a crash in between brings the whole segment back, which the next pass deletes
//! again. A cleaned segment is written under a temporary name, fsynced, renamed into place
//! and the directory fsynced before the view switches to it and the files it replaces are
//! removed; `DiskStore::open` finishes or discards a swap a crash interrupted (see
//! [`super::segment`]). Groups are swapped in offset order, so a tombstone never goes before
//! the older records of its key.
//!
//! Every path-based change of a partition directory (creating, renaming or removing a file)
//! is made under the log's topic lock, after checking that the partition was not deleted:
//! a topic deleted and created again under the same name has a new directory at the same
//! path, and nothing of the old topic may land in it.
//!
//! Memory: compaction keeps one key (and offset) per record of the closed segments of the
//! partition being compacted, and one segment's bytes at a time.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::memory::{MemEntry, MemSegment};
use super::record;
use super::segment::{self, ClosedSegment, IndexEntry};
use super::settings::{CleanupPolicy, TopicSettings};
use super::{Partition, Store, Topic};
use crate::by_name::ByName;

/// How often the cleaner visits every partition unless the log is opened with another
/// interval: 1 s, so that retention and compaction act within seconds of a segment closing.
pub const DEFAULT_CLEANER_INTERVAL: Duration = Duration::from_secs(1);

/// What the cleaner remembers of a partition between passes.
#[derive(Debug, Default)]
pub(crate) struct CleanState {
    /// The end of the closed segments at the last compaction pass (`None`: never compacted).
    cleaned_through: Option<i64>,
    /// When the earliest tombstone kept by the last pass may go.
    tombstone_due: Option<i64>,
    /// When the last compaction pass started.
    last_pass: Option<Instant>,
}

/// One closed segment's size and newest timestamp, as retention sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentStat {
    /// Bytes.
    pub bytes: u64,
    /// Largest record timestamp (`None`: no records).
    pub max_ts: Option<i64>,
}

/// How many of the leading closed segments retention deletes: Kafka's rules, time first
/// (a segment whose newest record is older than `retention_ms`), then size (while the
/// partition, `total_bytes` with the active segment, stays at least `retention_bytes`
/// without it). Only for `cleanup_policy: delete`.
pub(crate) fn retention_cut(
    closed: &[SegmentStat],
    total_bytes: u64,
    settings: &TopicSettings,
    now_ms: i64,
) -> usize {
    if settings.cleanup_policy != CleanupPolicy::Delete {
        return 0;
    }
    let mut n = 0;
    if let Some(ms) = settings.retention_ms {
        let oldest_kept = now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
        n = closed
            .iter()
            .take_while(|s| s.max_ts.is_none_or(|t| t < oldest_kept))
            .count();
    }
    if let Some(limit) = settings.retention_bytes {
        let mut remaining =
            total_bytes.saturating_sub(closed[..n].iter().map(|s| s.bytes).sum::<u64>());
        while n < closed.len() && remaining.saturating_sub(closed[n].bytes) >= limit {
            remaining -= closed[n].bytes;
            n += 1;
        }
    }
    n
}

/// A record of a closed segment, as compaction decides on it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Its offset.
    pub offset: i64,
    /// Its key (`None`: kept whatever happens).
    pub key: Option<String>,
    /// Whether its value is null.
    pub tombstone: bool,
    /// Its timestamp.
    pub timestamp: i64,
    /// Bytes it takes in a segment.
    pub bytes: u64,
}

/// Consecutive closed segments rewritten as one, and which of their records stay.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Group {
    /// Index of its first segment among the closed ones.
    pub first: usize,
    /// Per segment of the group, in order: per record, whether it stays.
    pub keep: Vec<Vec<bool>>,
}

/// What one compaction pass does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CompactionPlan {
    /// The groups that change (records removed, or segments merged), in offset order.
    pub groups: Vec<Group>,
    /// When the earliest tombstone kept now may go (for the next pass).
    pub tombstone_due: Option<i64>,
}

/// Kafka's cleaner rules over closed segments (`(base, end, records)` each, in order): the
/// latest record of each key stays, a tombstone only until it is `delete_retention_ms` old,
/// records without a key stay; consecutive segments merge while the survivors fit in
/// `segment_bytes` and their offsets in one segment's index.
pub(crate) fn plan_compaction(
    segments: &[(i64, i64, Vec<Candidate>)],
    settings: &TopicSettings,
    now_ms: i64,
) -> CompactionPlan {
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for (_, _, records) in segments {
        for c in records {
            if let Some(k) = &c.key {
                latest.insert(k.as_str(), c.offset);
            }
        }
    }
    let delay = i64::try_from(settings.delete_retention_ms).unwrap_or(i64::MAX);
    let mut tombstone_due: Option<i64> = None;
    let keeps: Vec<Vec<bool>> = segments
        .iter()
        .map(|(_, _, records)| {
            records
                .iter()
                .map(|c| match &c.key {
                    None => true,
                    Some(k) if latest.get(k.as_str()) != Some(&c.offset) => false,
                    Some(_) if !c.tombstone => true,
                    Some(_) => {
                        let due = c.timestamp.saturating_add(delay);
                        let stays = due > now_ms;
                        if stays {
                            tombstone_due = Some(tombstone_due.map_or(due, |d| d.min(due)));
                        }
                        stays
                    }
                })
                .collect()
        })
        .collect();
    let kept_bytes = |i: usize| -> u64 {
        segments[i]
            .2
            .iter()
            .zip(&keeps[i])
            .filter(|(_, k)| **k)
            .map(|(c, _)| c.bytes)
            .sum()
    };
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let base = segments[i].0;
        let mut bytes = kept_bytes(i);
        let mut j = i + 1;
        while j < segments.len() {
            let more = kept_bytes(j);
            let fits = bytes + more <= settings.segment_bytes
                && segments[j].1 - base <= i64::from(u32::MAX);
            if !fits {
                break;
            }
            bytes += more;
            j += 1;
        }
        let removes = (i..j).any(|s| keeps[s].iter().any(|k| !k));
        if removes || j - i > 1 {
            groups.push(Group {
                first: i,
                keep: keeps[i..j].to_vec(),
            });
        }
        i = j;
    }
    CompactionPlan {
        groups,
        tombstone_due,
    }
}

/// Wakes the cleaner thread early (a segment rolled) or stops it.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// (woken, stopped).
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Signal {
    /// Asks for a pass now (an append closed a segment).
    pub(crate) fn wake(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.0 {
            state.0 = true;
            self.changed.notify_one();
        }
    }

    fn stop(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.changed.notify_one();
    }

    /// Waits until woken or `interval` passed; `false` once stopped.
    fn wait(&self, interval: Duration) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, interval, |s| !s.0 && !s.1)
            .unwrap_or_else(|p| p.into_inner());
        state.0 = false;
        !state.1
    }
}

/// The cleaner thread of a log; stopped (and joined) when dropped.
#[derive(Debug)]
pub(crate) struct Cleaner {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

/// The topics of a log, as the cleaner reaches them.
pub(crate) type Topics = RwLock<ByName<String, Arc<Topic>>>;

impl Cleaner {
    /// Starts the thread: a pass over every partition every `interval` and whenever
    /// `signal` is woken, until stopped or the log is gone. `topic_lock` is the log's lock
    /// over topic creation and deletion.
    pub(crate) fn start(
        topics: Weak<Topics>,
        topic_lock: Arc<Mutex<()>>,
        interval: Duration,
        signal: Arc<Signal>,
    ) -> Self {
        let waits = Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("upkafka-log-cleaner".into())
            .spawn(move || {
                while waits.wait(interval) {
                    let Some(topics) = topics.upgrade() else {
                        return;
                    };
                    let all: Vec<Arc<Topic>> = topics
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .values()
                        .cloned()
                        .collect();
                    drop(topics);
                    for topic in all {
                        for part in &topic.partitions {
                            clean_partition(part, &topic_lock, interval);
                        }
                    }
                }
            })
            .map_err(|e| tracing::error!("cannot start the log cleaner thread: {e}"))
            .ok();
        Self { signal, thread }
    }

    /// Stops the thread after its current pass.
    pub(crate) fn stop(&mut self) {
        self.signal.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Applies retention or compaction to one partition; failures are logged and retried on
/// the next pass (nothing is removed from the view that is not gone for good). A partition
/// compacted less than `compaction_gap` ago is compacted on a later pass.
pub(crate) fn clean_partition(part: &Partition, topic_lock: &Mutex<()>, compaction_gap: Duration) {
    if part.is_deleted() {
        return;
    }
    let settings = part.settings();
    let now = crate::backend::clock::now_ms();
    match settings.cleanup_policy {
        CleanupPolicy::Delete
            if settings.retention_ms.is_none() && settings.retention_bytes.is_none() => {}
        CleanupPolicy::Delete => {
            if let Err(e) = apply_retention(part, &settings, now, topic_lock) {
                tracing::warn!(
                    topic = part.topic(),
                    partition = part.id(),
                    "retention pass failed, retrying later: {e}"
                );
            }
        }
        CleanupPolicy::Compact => {
            let started = Instant::now();
            match compact(part, &settings, now, topic_lock, compaction_gap) {
                Ok(0) => {}
                // `bench/compare.sh` sums these lines into the compaction's MB/s.
                Ok(bytes) => tracing::debug!(
                    topic = part.topic(),
                    partition = part.id(),
                    read_bytes = bytes,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "compaction pass"
                ),
                Err(e) => tracing::warn!(
                    topic = part.topic(),
                    partition = part.id(),
                    "compaction failed, retrying later: {e}"
                ),
            }
        }
    }
}

/// Runs `f` on the partition directory under the topic lock, unless the partition was
/// deleted (then its directory may already belong to a topic created again).
fn in_dir<T>(
    part: &Partition,
    topic_lock: &Mutex<()>,
    f: impl FnOnce() -> io::Result<T>,
) -> io::Result<Option<T>> {
    let _topics = topic_lock.lock().unwrap_or_else(|p| p.into_inner());
    if part.is_deleted() {
        return Ok(None);
    }
    f().map(Some)
}

fn apply_retention(
    part: &Partition,
    settings: &TopicSettings,
    now: i64,
    topic_lock: &Mutex<()>,
) -> io::Result<()> {
    let gone = {
        let mut store = part.lock();
        match &mut *store {
            Store::Mem(m) => {
                let closed: Vec<SegmentStat> = m.segments[..m.closed_count()]
                    .iter()
                    .map(|s| SegmentStat {
                        bytes: s.bytes,
                        max_ts: s.max_ts(),
                    })
                    .collect();
                let n = retention_cut(&closed, m.size(), settings, now);
                m.drop_front(n);
                return Ok(());
            }
            Store::Disk(d) => {
                let closed: Vec<SegmentStat> = d.segments[..d.closed_count()]
                    .iter()
                    .map(|s| SegmentStat {
                        bytes: s.size,
                        max_ts: s.max_ts(),
                    })
                    .collect();
                let n = retention_cut(&closed, d.size(), settings, now);
                if n == 0 {
                    return Ok(());
                }
                (d.dir().to_owned(), d.drop_front(n))
            }
        }
    };
    // No directory fsync after the unlinks: a deletion lost to a power loss only brings
    // whole old segments back (the next pass deletes them again, and `DiskStore::open`
    // removes older ones left before a hole), so the produce path's fsyncs do not share the
    // journal with one more commit per pass.
    let (_, files) = gone;
    in_dir(part, topic_lock, || {
        for f in &files {
            crate::log::index::remove(f.path());
            match fs::remove_file(f.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// One compaction pass, unless the last one started less than `gap` ago; returns the bytes
/// of the closed segments it read (0: nothing to do now).
fn compact(
    part: &Partition,
    settings: &TopicSettings,
    now: i64,
    topic_lock: &Mutex<()>,
    gap: Duration,
) -> io::Result<u64> {
    let mut state = part.clean_state();
    if state.last_pass.is_some_and(|t| t.elapsed() < gap) {
        return Ok(0);
    }
    let closed_end = {
        let store = part.lock();
        match &*store {
            Store::Mem(m) => m.segments.get(m.closed_count()).map(|s| s.base),
            Store::Disk(d) => d.segments.get(d.closed_count()).map(|s| s.base),
        }
    };
    let due = state.tombstone_due.is_some_and(|d| d <= now);
    if closed_end.is_none() || (state.cleaned_through == closed_end && !due) {
        return Ok(0);
    }
    state.last_pass = Some(Instant::now());
    let (done, tombstone_due) = if part.is_memory() {
        compact_memory(part, settings, now)
    } else {
        compact_disk(part, settings, now, topic_lock)?
    };
    state.cleaned_through = closed_end;
    state.tombstone_due = tombstone_due;
    Ok(done)
}

fn compact_memory(part: &Partition, settings: &TopicSettings, now: i64) -> (u64, Option<i64>) {
    let snapshot: Vec<MemSegment> = {
        let store = part.lock();
        let Store::Mem(m) = &*store else {
            return (0, None);
        };
        m.segments[..m.closed_count()].to_vec()
    };
    let inputs: Vec<(i64, i64, Vec<Candidate>)> = snapshot
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let end = snapshot
                .get(i + 1)
                .map_or_else(|| s.next_offset(), |n| n.base);
            let records = s
                .records
                .iter()
                .map(|e| Candidate {
                    offset: e.offset,
                    key: e.record.key.clone(),
                    tombstone: e.record.is_tombstone(),
                    timestamp: e.record.timestamp,
                    bytes: e.record.size() as u64,
                })
                .collect();
            (s.base, end, records)
        })
        .collect();
    let read: u64 = snapshot.iter().map(|s| s.bytes).sum();
    let plan = plan_compaction(&inputs, settings, now);
    if plan.groups.is_empty() {
        return (read, plan.tombstone_due);
    }
    let mut store = part.lock();
    let Store::Mem(m) = &mut *store else {
        return (0, None);
    };
    let unchanged = m.segments.len() > snapshot.len()
        && snapshot
            .iter()
            .zip(&m.segments)
            .all(|(a, b)| Arc::ptr_eq(&a.records, &b.records) && a.base == b.base);
    if !unchanged {
        return (0, None);
    }
    let mut rebuilt: Vec<MemSegment> = Vec::with_capacity(snapshot.len());
    let mut next_group = plan.groups.iter().peekable();
    let mut i = 0;
    while i < snapshot.len() {
        match next_group.peek() {
            Some(g) if g.first == i => {
                let n = g.keep.len();
                let end = m.segments[i + n].base;
                let mut records: Vec<MemEntry> = Vec::new();
                for (seg, keep) in snapshot[i..i + n].iter().zip(&g.keep) {
                    records.extend(
                        seg.records
                            .iter()
                            .zip(keep)
                            .filter(|(_, k)| **k)
                            .map(|(e, _)| e.clone()),
                    );
                }
                rebuilt.push(MemSegment {
                    base: snapshot[i].base,
                    end: Some(end),
                    bytes: records.iter().map(|e| e.record.size() as u64).sum(),
                    records: Arc::new(records),
                    first_write_ms: None,
                });
                next_group.next();
                i += n;
            }
            _ => {
                rebuilt.push(snapshot[i].clone());
                i += 1;
            }
        }
    }
    m.segments.splice(..snapshot.len(), rebuilt);
    (read, plan.tombstone_due)
}

/// Decodes the records of a closed segment read whole into `buf`.
fn candidates(seg: &ClosedSegment, buf: &[u8]) -> io::Result<Vec<Candidate>> {
    seg.entries
        .iter()
        .map(|e| {
            let at = usize::try_from(e.pos).unwrap_or(usize::MAX);
            let frame = buf.get(at..).unwrap_or(&[]);
            let head = record::decode_key(frame).map_err(|why| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("segment {}: {why}", seg.file.path().display()),
                )
            })?;
            let offset = head.offset;
            if offset != seg.base + i64::from(e.delta) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "segment {}: expected offset {}, found {offset}",
                        seg.file.path().display(),
                        seg.base + i64::from(e.delta)
                    ),
                ));
            }
            Ok(Candidate {
                offset,
                tombstone: head.value_len.is_none(),
                key: head.key.map(str::to_owned),
                timestamp: head.timestamp,
                bytes: head.frame_len as u64,
            })
        })
        .collect()
}

/// Reads a closed segment's frames whole.
fn read_segment(seg: &ClosedSegment) -> io::Result<Vec<u8>> {
    let len = seg.entries.last().map_or(0, |e| e.pos + u64::from(e.len));
    segment::read_at(&seg.open, 0, usize::try_from(len).unwrap_or(usize::MAX))
}

fn compact_disk(
    part: &Partition,
    settings: &TopicSettings,
    now: i64,
    topic_lock: &Mutex<()>,
) -> io::Result<(u64, Option<i64>)> {
    let (dir, closed) = {
        let store = part.lock();
        let Store::Disk(d) = &*store else {
            return Ok((0, None));
        };
        (d.dir().to_owned(), d.closed_segments()?)
    };
    // Sealed segments keep only a sparse index in memory: their records are listed here,
    // outside the lock.
    let mut closed = closed;
    for seg in &mut closed {
        seg.load_entries()?;
    }
    let mut inputs = Vec::with_capacity(closed.len());
    let mut read = 0u64;
    for seg in &closed {
        let buf = read_segment(seg)?;
        read += buf.len() as u64;
        inputs.push((seg.base, seg.end, candidates(seg, &buf)?));
    }
    let plan = plan_compaction(&inputs, settings, now);
    for group in &plan.groups {
        let segs = &closed[group.first..group.first + group.keep.len()];
        let (base, end) = (segs[0].base, segs[segs.len() - 1].end);
        let temp = dir.join(segment::cleaned_temp_name(base, end));
        let Some(file) = in_dir(part, topic_lock, || {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)
        })?
        else {
            return Ok((read, None));
        };
        let (size, entries) = write_survivors(&file, base, segs, &group.keep)?;
        file.sync_all()?;
        drop(file);
        let path = dir.join(segment::segment_name(base, Some(end)));
        let renamed = in_dir(part, topic_lock, || {
            fs::rename(&temp, &path)?;
            segment::sync_dir(&dir)
        })?;
        if renamed.is_none() {
            return Ok((read, None));
        }
        let replaced: Vec<_> = segs.iter().map(|s| s.file.clone()).collect();
        let old = {
            let mut store = part.lock();
            match &mut *store {
                Store::Disk(d) => {
                    d.install_cleaned(&replaced, path.clone(), base, end, size, entries)
                }
                Store::Mem(_) => None,
            }
        };
        let Some(old) = old else {
            // Cannot happen while this thread is the only one changing closed segments; the
            // file in place would only bring back records of segments no longer in the view.
            in_dir(part, topic_lock, || fs::remove_file(&path))?;
            return Err(io::Error::other(format!(
                "segments of {} changed while being compacted",
                path.display()
            )));
        };
        // Not fsynced: replaced files that come back after a power loss are superseded by
        // the cleaned segment, which `DiskStore::open` keeps.
        in_dir(part, topic_lock, || {
            for f in old.iter().filter(|f| f.path() != path.as_path()) {
                crate::log::index::remove(f.path());
                match fs::remove_file(f.path()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?;
    }
    Ok((read, plan.tombstone_due))
}

/// Copies the kept frames of `segs` into `out` (a new cleaned segment of base `base`);
/// returns its size and index.
fn write_survivors(
    out: &File,
    base: i64,
    segs: &[ClosedSegment],
    keep: &[Vec<bool>],
) -> io::Result<(u64, Vec<IndexEntry>)> {
    let mut writer = io::BufWriter::with_capacity(1 << 20, out);
    let mut entries = Vec::new();
    let mut pos = 0u64;
    for (seg, keep) in segs.iter().zip(keep) {
        let buf = read_segment(seg)?;
        for (e, _) in seg.entries.iter().zip(keep).filter(|(_, k)| **k) {
            let at = usize::try_from(e.pos).unwrap_or(usize::MAX);
            let frame = buf
                .get(at..at.saturating_add(e.len as usize))
                .ok_or_else(|| io::Error::other("frame beyond the segment's end"))?;
            writer.write_all(frame)?;
            let offset = seg.base + i64::from(e.delta);
            entries.push(IndexEntry {
                delta: u32::try_from(offset - base).map_err(io::Error::other)?,
                len: e.len,
                pos,
                max_ts: e.max_ts,
            });
            pos += u64::from(e.len);
        }
    }
    writer.flush()?;
    Ok((pos, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(f: impl FnOnce(&mut TopicSettings)) -> TopicSettings {
        let mut s = TopicSettings::unlimited();
        f(&mut s);
        s
    }

    fn stat(bytes: u64, max_ts: i64) -> SegmentStat {
        SegmentStat {
            bytes,
            max_ts: Some(max_ts),
        }
    }

    #[test]
    fn retention_deletes_old_segments_then_keeps_at_least_the_size_limit() {
        let closed = [stat(10, 100), stat(10, 200), stat(10, 300)];
        let by_time = settings(|s| s.retention_ms = Some(150));
        assert_eq!(
            retention_cut(&closed, 35, &by_time, 360),
            2,
            "100 and 200 < 210"
        );
        assert_eq!(
            retention_cut(&closed, 35, &by_time, 250),
            0,
            "100 is not older than 100"
        );
        assert_eq!(retention_cut(&closed, 35, &by_time, 251), 1);
        // 35 bytes in all (5 active), keep at least 20: dropping one leaves 25, two leave 15.
        let by_size = settings(|s| s.retention_bytes = Some(20));
        assert_eq!(retention_cut(&closed, 35, &by_size, 0), 1);
        let both = settings(|s| {
            s.retention_bytes = Some(5);
            s.retention_ms = Some(1000);
        });
        assert_eq!(retention_cut(&closed, 35, &both, 0), 3);
        let compacted = settings(|s| {
            s.retention_bytes = Some(0);
            s.cleanup_policy = CleanupPolicy::Compact;
        });
        assert_eq!(
            retention_cut(&closed, 35, &compacted, 0),
            0,
            "compact never deletes"
        );
        assert_eq!(
            retention_cut(&closed, 35, &TopicSettings::unlimited(), 1 << 40),
            0
        );
    }

    fn cand(offset: i64, key: &str, tombstone: bool, ts: i64) -> Candidate {
        Candidate {
            offset,
            key: (!key.is_empty()).then(|| key.to_owned()),
            tombstone,
            timestamp: ts,
            bytes: 10,
        }
    }

    #[test]
    fn compaction_keeps_the_latest_per_key_and_tombstones_until_due() {
        let segs = vec![
            (
                0,
                3,
                vec![
                    cand(0, "a", false, 0),
                    cand(1, "b", false, 0),
                    cand(2, "", false, 0),
                ],
            ),
            (3, 5, vec![cand(3, "a", false, 0), cand(4, "b", true, 50)]),
        ];
        let s = settings(|s| {
            s.delete_retention_ms = 100;
            s.segment_bytes = 15;
        });
        let plan = plan_compaction(&segs, &s, 100);
        // The older a and b go, the keyless record stays, and so does the tombstone of b
        // until 150; the second segment is unchanged and too big to merge with the first.
        assert_eq!(
            plan.groups,
            vec![Group {
                first: 0,
                keep: vec![vec![false, false, true]]
            }]
        );
        assert_eq!(plan.tombstone_due, Some(150));
        let later = plan_compaction(&segs, &s, 150);
        assert_eq!(
            later.groups[1].keep,
            vec![vec![true, false]],
            "the tombstone goes at 150"
        );
        assert_eq!(later.tombstone_due, None);
        // With room, the survivors of both segments merge into one.
        let roomy = settings(|s| s.segment_bytes = 1000);
        let merged = plan_compaction(&segs, &roomy, 0);
        assert_eq!(
            merged.groups,
            vec![Group {
                first: 0,
                keep: vec![vec![false, false, true], vec![true, true]]
            }]
        );
        // Nothing to remove and nothing to merge: nothing to do.
        let unique = vec![
            (0, 1, vec![cand(0, "a", false, 0)]),
            (1, 2, vec![cand(1, "b", false, 0)]),
        ];
        assert!(plan_compaction(&unique, &s, 0).groups.is_empty());
    }
}
