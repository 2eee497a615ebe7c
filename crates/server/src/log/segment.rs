//! One partition's segment files: recovery on open, appends, positioned reads, and the
//! primitives retention and compaction use to drop or replace closed segments.
//!
//! A partition directory holds two kinds of segment files:
//!
//! * `<base, 20 digits>.log`: frames (see [`super::record`]) with contiguous offsets from
//!   `base`, as the writer appends them. The last segment is the active one.
//! * `<base, 20 digits>-<end, 20 digits>.log`: a *cleaned* segment written by compaction
//!   ([`super::cleaner`]): the surviving frames of the range `[base, end)`, byte for byte, so
//!   offsets keep their values and increase with gaps. It supersedes every other file whose
//!   base lies in its range (the segments it was merged from, or an older cleaning).
//!
//! A cleaned segment is written as `<base>-<end>.cleaned`, fsynced, renamed to its `.log` name
//! and the directory fsynced; only then does the in-memory view switch to it and the files it
//! supersedes go. Recovery on open removes `.cleaned` leftovers (a swap that never happened)
//! and files a complete cleaned segment supersedes (a swap that happened but whose old files
//! were not removed yet), so a crash at any point leaves either the old segments or the new
//! one, never half of either.
//!
//! The index is kept per segment, so retention drops a segment with its index and compaction
//! replaces one segment's. A segment that can still change (the active one, or one a failed
//! write could make active again) holds one entry per record (its offset relative to the
//! base, position, length and running max timestamp). Once closed (followed by a segment
//! with an acknowledged record) it is *sealed*: those entries give way to a sparse index,
//! kept in memory and written beside the segment as `<name>.index` (format, validation and
//! the reads it leaves in [`super::index`]), and a restart reads the segment only if that
//! file is missing, corrupt or stale. The active segment is checkpointed the same way as it
//! grows ([`DiskStore::checkpoint_active`]): its acknowledged records give way to a sparse
//! prefix written to the same file name, so it holds dense entries only for its last
//! [`CHECKPOINT_BYTES`] and a restart scans only what follows the checkpoint. Reads in a
//! sealed segment or a checkpointed prefix decode forward from the sparse point at or before
//! the wanted offset ([`ReadPlan::Scan`]). Values are read back from the files,
//! which are opened on demand through the log's [`FileCache`] (a partition holds no
//! descriptor of its own). A read is planned under the partition lock with the open
//! descriptors themselves ([`Run::file`]), so a segment deleted or replaced after planning is
//! still read from the file the plan was made for.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{FileCache, SegmentFile};
use super::index::{self, SparseIndex};
use super::marks;
use super::record::{self, FRAME_HEADER, MAX_PAYLOAD, StoredRecord};

/// Where one record lives in its segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexEntry {
    /// Offset minus the segment's base.
    pub delta: u32,
    /// Frame length.
    pub len: u32,
    /// Byte position of the frame in its segment.
    pub pos: u64,
    /// Largest timestamp of this record and all before it (Kafka's time-index rule).
    pub max_ts: i64,
}

/// One segment file and its index.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of its first record (in its file name).
    pub base: i64,
    /// For a cleaned segment, the end of the range it covers (exclusive; in its file name).
    /// `None` for a segment the writer appended: its offsets are contiguous from `base`.
    pub end: Option<i64>,
    /// The file, opened through the cache when read or written.
    pub file: SegmentFile,
    /// Bytes written so far (including not yet acknowledged ones).
    pub size: u64,
    /// Its records, offsets increasing, while it is not sealed (the active segment, or a
    /// closed one the writer has not sealed yet), after those its `prefix` covers; empty
    /// once it is sealed.
    pub entries: Vec<IndexEntry>,
    /// The sparse index that replaces `entries` once the segment is closed (see
    /// [`super::index`]).
    pub sealed: Option<SparseIndex>,
    /// For a segment not sealed, its checkpointed first records (see
    /// [`DiskStore::checkpoint_active`]): a sparse index of the records before `entries`,
    /// already acknowledged and also written beside the segment, so that neither memory nor
    /// a restart pays for them per record.
    pub prefix: Option<SparseIndex>,
    /// Latest `stored_at` of an idempotency mark written into it, if any (goes into its
    /// index, so that a restart scans for marks only the segments of the window).
    pub marks_until: Option<i64>,
    /// Wall-clock ms when its first record was appended (for `segment_ms`); for a segment
    /// found on open, the file's last modification (record timestamps may be anything a
    /// producer chose), so after a restart it rolls at most `segment_ms` after its last write.
    pub first_write_ms: Option<i64>,
}

impl Segment {
    /// Offset of the record of `entries[i]` (of a segment not sealed).
    pub fn offset_at(&self, i: usize) -> i64 {
        self.base + i64::from(self.entries[i].delta)
    }

    /// How many records it holds.
    pub fn records(&self) -> u64 {
        match &self.sealed {
            Some(s) => s.records,
            None => self.prefix_records() + self.entries.len() as u64,
        }
    }

    /// How many records its checkpointed prefix holds (none if it has none).
    fn prefix_records(&self) -> u64 {
        self.prefix.as_ref().map_or(0, |p| p.records)
    }

    /// Offset delta the next appended record gets, if it still fits a `u32` (a segment is
    /// rolled before that).
    fn next_delta(&self) -> Option<u32> {
        u32::try_from(self.records()).ok().filter(|d| *d < u32::MAX)
    }

    /// The offset after its range: where the next segment starts.
    pub fn next_offset(&self) -> i64 {
        self.end
            .unwrap_or(self.base.saturating_add(self.records() as i64))
    }

    /// Largest timestamp of its records (and all before them), if it has any.
    pub fn max_ts(&self) -> Option<i64> {
        match &self.sealed {
            Some(s) => s.max_ts,
            None => self
                .entries
                .last()
                .map(|e| e.max_ts)
                .or_else(|| self.prefix.as_ref().and_then(|p| p.max_ts)),
        }
    }

    /// Replaces its dense entries with a sparse index; returns the index file's bytes.
    /// A checkpointed prefix is extended with the remaining entries.
    fn seal(&mut self) -> Vec<u8> {
        let sealed = match self.prefix.take() {
            Some(mut prefix) => {
                prefix.extend(&self.entries, self.size, self.marks_until);
                prefix.points.shrink_to_fit();
                prefix
            }
            None => SparseIndex::from_entries(&self.entries, self.size, self.marks_until),
        };
        let bytes = sealed.encode();
        self.entries = Vec::new();
        self.sealed = Some(sealed);
        bytes
    }

    /// Bytes of its frames past its checkpointed prefix: what a restart after `kill -9`
    /// scans, and what its dense entries describe.
    fn tail_bytes(&self) -> u64 {
        self.size
            .saturating_sub(self.prefix.as_ref().map_or(0, |p| p.size))
    }

    /// Index of its first record at offset ≥ `offset`.
    fn first_at_or_after(&self, offset: i64) -> usize {
        let Ok(delta) = u32::try_from(offset.saturating_sub(self.base).max(0)) else {
            return self.entries.len();
        };
        self.entries.partition_point(|e| e.delta < delta)
    }
}

/// Bytes of frames of the active segment between two checkpoints (see
/// [`DiskStore::checkpoint_active`]): bounds what a restart after `kill -9` scans and the
/// dense entries the active segment holds (24 bytes per record of this many bytes: 3 MB for
/// records of 100 bytes). Each checkpoint rewrites the segment's index file (at most 80 KiB
/// for a 128 MiB segment) with one fsync, so at this interval a partition taking 200 MB/s
/// writes about a dozen a second.
pub(crate) const CHECKPOINT_BYTES: u64 = 16 << 20;

/// When the active segment rolls to a new file: the topic's settings, read at each append.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollPolicy {
    /// Roll before a frame that would take the segment beyond this size.
    pub segment_bytes: u64,
    /// Roll once the segment's first record was written this long ago.
    pub segment_ms: u64,
    /// Now, in ms since the epoch.
    pub now_ms: i64,
}

impl RollPolicy {
    /// Whether a segment of `size` bytes whose first record was written at `first_write_ms`
    /// must roll before a frame of `next_len` bytes. An empty segment never rolls.
    pub fn must_roll(&self, size: u64, first_write_ms: Option<i64>, next_len: u64) -> bool {
        if size == 0 {
            return false;
        }
        let too_big = size.saturating_add(next_len) > self.segment_bytes;
        let too_old = first_write_ms.is_some_and(|t| {
            self.now_ms.saturating_sub(t) >= i64::try_from(self.segment_ms).unwrap_or(i64::MAX)
        });
        too_big || too_old
    }
}

/// A planned read of consecutive frames of one file: read it outside the partition lock.
#[derive(Debug)]
pub(crate) struct Run {
    /// The descriptor the plan was made for (kept alive even if the segment is deleted or
    /// replaced meanwhile).
    pub file: Arc<File>,
    /// Byte position of the first frame.
    pub pos: u64,
    /// Bytes of the run.
    pub len: usize,
    /// Offsets of its frames, increasing (with gaps in a cleaned segment).
    pub offsets: Vec<i64>,
}

/// A sealed segment's frames from a sparse point on, to decode outside the partition lock:
/// its frames are immutable, and only those from `from` on (below `visible`) are wanted.
#[derive(Debug)]
pub(crate) struct ScanRun {
    /// The descriptor the plan was made for.
    pub file: Arc<File>,
    /// Byte position of the sparse point to start decoding at.
    pub pos: u64,
    /// The segment's size: decoding stops there.
    pub end_pos: u64,
    /// The first offset wanted.
    pub from: i64,
    /// Offsets from here on are not acknowledged yet.
    pub visible: i64,
    /// Where the next segment starts: the read goes on there if room is left.
    pub next: i64,
}

/// How a read proceeds: frames located one by one (segments not sealed), or one sealed
/// segment scanned from a sparse point.
#[derive(Debug)]
pub(crate) enum ReadPlan {
    /// Runs of frames whose offsets the dense index gave.
    Frames(Vec<Run>),
    /// A sealed segment to decode forward.
    Scan(ScanRun),
}

/// Decodes the frames of a [`ScanRun`] in order, handing those wanted to `f` while
/// `records` and `bytes` (counted from `spent` bytes already read) allow (at least one
/// record when nothing was read yet). Returns the records and bytes taken and whether the
/// segment's end was reached with room left (the read may go on at [`ScanRun::next`]).
pub(crate) fn read_scan(
    run: &ScanRun,
    max_records: usize,
    max_bytes: usize,
    spent: usize,
    mut f: impl FnMut(i64, StoredRecord),
) -> io::Result<(usize, usize, bool)> {
    let mut frames = FrameReader::new(&run.file, run.pos, run.end_pos, max_bytes);
    let (mut records, mut bytes) = (0usize, 0usize);
    let mut last: Option<i64> = None;
    while let Some(frame) = frames.next_frame()? {
        // Frames before the wanted offset (up to a sparse interval of them, for a consumer
        // reading on from where its last poll ended) are only stepped over: their offset is
        // all that is needed, not a decoded record.
        let (offset, _) = frame
            .get(FRAME_HEADER..)
            .and_then(record::payload_offset_timestamp)
            .ok_or_else(|| corrupt("a frame without offset and timestamp"))?;
        if last.is_some_and(|l| offset <= l) {
            return Err(corrupt(format!("offset {offset} out of order")));
        }
        last = Some(offset);
        if offset < run.from {
            continue;
        }
        let (offset, rec, flen) = record::decode(frame).map_err(corrupt)?;
        if offset >= run.visible || records >= max_records {
            return Ok((records, bytes, false));
        }
        if spent + bytes > 0 && spent + bytes + flen > max_bytes {
            return Ok((records, bytes, false));
        }
        records += 1;
        bytes += flen;
        f(offset, rec);
    }
    Ok((records, bytes, true))
}

fn corrupt(why: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Reads a segment's frames forward from a position, in chunks, whole frames at a time.
struct FrameReader<'a> {
    file: &'a File,
    /// File position of `buf[0]`.
    at: u64,
    end: u64,
    buf: Vec<u8>,
    /// Start of the next frame in `buf`.
    next: usize,
    /// Bytes of the next read from the file: doubles from 64 KiB up to `max_chunk`, so a read
    /// that wants a few records does not copy a whole poll's byte limit.
    chunk: usize,
    max_chunk: usize,
}

impl<'a> FrameReader<'a> {
    /// `hint`: how many bytes the caller may want past the sparse point's interval (it
    /// bounds the size of one read, not how far the reader goes).
    fn new(file: &'a File, pos: u64, end: u64, hint: usize) -> Self {
        const MIN_CHUNK: usize = 64 * 1024;
        let max_chunk = hint
            .saturating_add(index::INTERVAL_BYTES as usize)
            .clamp(MIN_CHUNK, 4 << 20);
        FrameReader {
            file,
            at: pos,
            end,
            buf: Vec::new(),
            next: 0,
            chunk: MIN_CHUNK,
            max_chunk,
        }
    }

    /// The next whole frame (header included), `None` at the end.
    fn next_frame(&mut self) -> io::Result<Option<&[u8]>> {
        let pos = self.at + self.next as u64;
        if pos >= self.end {
            return Ok(None);
        }
        if !self.have(FRAME_HEADER)? {
            return Err(corrupt("frame header beyond the segment's end"));
        }
        let head: [u8; FRAME_HEADER] = self.buf[self.next..self.next + FRAME_HEADER]
            .try_into()
            .map_err(corrupt)?;
        let (len, _) = record::frame_header(&head);
        if len > MAX_PAYLOAD {
            return Err(corrupt("frame longer than any frame"));
        }
        let flen = FRAME_HEADER + len;
        if !self.have(flen)? {
            return Err(corrupt("frame beyond the segment's end"));
        }
        let start = self.next;
        self.next += flen;
        Ok(Some(&self.buf[start..start + flen]))
    }

    /// Makes sure `n` bytes from `next` are in `buf`; false if the segment ends first.
    fn have(&mut self, n: usize) -> io::Result<bool> {
        if self.buf.len() - self.next >= n {
            return Ok(true);
        }
        let from = self.at + self.next as u64;
        let left = self.end.saturating_sub(from);
        if (n as u64) > left {
            return Ok(false);
        }
        let want = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(self.chunk.max(n));
        self.buf = read_at(self.file, from, want)?;
        self.at = from;
        self.next = 0;
        self.chunk = self.chunk.saturating_mul(2).min(self.max_chunk);
        Ok(true)
    }
}

/// A closed segment as compaction sees it: what to read, and what to check before swapping.
#[derive(Debug)]
pub(crate) struct ClosedSegment {
    /// Base offset.
    pub base: i64,
    /// Where the next segment starts (the end of this one's range).
    pub end: i64,
    /// Its file, to check that it is still the one in place when swapping.
    pub file: SegmentFile,
    /// Its open descriptor, to read it without the lock.
    pub open: Arc<File>,
    /// Its bytes.
    pub size: u64,
    /// Where its frames are: empty for a sealed segment until [`ClosedSegment::load_entries`].
    pub entries: Vec<IndexEntry>,
    /// Whether `entries` must still be loaded from the file.
    sealed: bool,
}

impl ClosedSegment {
    /// Fills in the per-record entries of a sealed segment by scanning its file (compaction
    /// needs every record; this runs outside the partition lock).
    pub fn load_entries(&mut self) -> io::Result<()> {
        if !self.sealed {
            return Ok(());
        }
        // Offsets increase within [base, end) in a plain segment as in a cleaned one. The
        // running max starts at this segment: compaction only copies it into the cleaned
        // segment, where a per-segment max finds the same segment and record by time.
        let mut ignore = marks::Collector::new(i64::MAX);
        let found = scan(
            &self.open,
            self.base,
            Some(self.end),
            START,
            i64::MIN,
            &mut ignore,
        )?;
        let (entries, good) = (found.entries, found.good_len);
        if good != self.size {
            return Err(corrupt(format!(
                "segment {}: {good} of its {} bytes are valid frames",
                self.file.path().display(),
                self.size
            )));
        }
        self.entries = entries;
        self.sealed = false;
        Ok(())
    }
}

/// The files and index of one durable partition.
#[derive(Debug)]
pub(crate) struct DiskStore {
    dir: PathBuf,
    /// Segments in offset order; the last one is active.
    pub segments: Vec<Segment>,
    /// The acknowledged (fsynced) end: readers see offsets below this.
    pub visible: i64,
    /// The log's open files.
    files: Arc<FileCache>,
    /// A rollback could not cut the active segment back to its size: the next append does
    /// it first, so that its frames land where the index says they are.
    repair_tail: bool,
    /// Idempotency marks seen by the scan on open (issue 16), until the log takes them.
    marks: marks::Collector,
    /// Bytes of segment files [`DiskStore::open`] read.
    #[cfg_attr(not(test), allow(dead_code))]
    scanned_bytes: u64,
}

/// Where the log stood before a write, to undo it with [`DiskStore::rollback`]: offsets and
/// the active segment's base, not indexes, since retention may drop segments meanwhile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    next: i64,
    active_base: i64,
    size: u64,
}

/// The name of the segment of `base` (`end`: a cleaned segment's range end).
pub(crate) fn segment_name(base: i64, end: Option<i64>) -> String {
    match end {
        None => format!("{base:020}.log"),
        Some(end) => format!("{base:020}-{end:020}.log"),
    }
}

/// The temporary name of a cleaned segment being written.
pub(crate) fn cleaned_temp_name(base: i64, end: i64) -> String {
    format!("{base:020}-{end:020}.cleaned")
}

/// `(base, end)` of a segment file name, `end` for a cleaned one.
fn parse_name(name: &str) -> Option<(i64, Option<i64>)> {
    let stem = name.strip_suffix(".log")?;
    match stem.split_once('-') {
        None => Some((stem.parse().ok()?, None)),
        Some((b, e)) => {
            let (base, end): (i64, i64) = (b.parse().ok()?, e.parse().ok()?);
            (base < end).then_some((base, Some(end)))
        }
    }
}

/// Fsyncs a directory so that a created or renamed entry survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn now_ms() -> i64 {
    crate::backend::clock::now_ms()
}

/// The segment files of `dir` to open, in offset order, after removing what an interrupted
/// cleaning left: `.cleaned` files, and files that a complete cleaned segment supersedes.
fn recover_file_list(dir: &Path) -> io::Result<Vec<(i64, Option<i64>, PathBuf)>> {
    let mut found: Vec<(i64, Option<i64>, PathBuf)> = Vec::new();
    let mut indexes: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".index") || name.ends_with(".index.tmp") {
            indexes.push(entry.path());
        } else if name.ends_with(".cleaned") {
            tracing::warn!(path = %entry.path().display(), "removing an unfinished cleaned segment (a compaction interrupted before its swap)");
            fs::remove_file(entry.path())?;
        } else if let Some((base, end)) = parse_name(name) {
            found.push((base, end, entry.path()));
        }
    }
    // By base; for one base, the cleaned segment covering most first, the plain one last.
    found.sort_by_key(|(base, end, _)| (*base, std::cmp::Reverse(end.unwrap_or(i64::MIN))));
    let mut keep = Vec::with_capacity(found.len());
    let mut covered = i64::MIN;
    let mut superseded = false;
    for (base, end, path) in found {
        if base < covered {
            tracing::warn!(path = %path.display(), "removing a segment a cleaned segment replaced (a compaction interrupted after its swap)");
            fs::remove_file(&path)?;
            superseded = true;
            continue;
        }
        covered = end.unwrap_or(base.saturating_add(1));
        keep.push((base, end, path));
    }
    if superseded {
        sync_dir(dir)?;
    }
    // Indexes whose segment is gone (removed after them, or after a crash), and unfinished
    // index writes: never read, so removed without a directory fsync.
    for path in indexes {
        let is_tmp = path.extension().is_some_and(|e| e == "tmp");
        if is_tmp || !keep.iter().any(|(_, _, seg)| index::path_for(seg) == path) {
            let _ = fs::remove_file(&path);
        }
    }
    Ok(keep)
}

impl DiskStore {
    /// Opens (creating if needed) the partition directory, finishes or discards an
    /// interrupted cleaning, and recovers the segments: a closed segment with a valid index
    /// (see [`super::index`]) is not read at all; one without (a directory written before
    /// indexes existed, or a crash before its index was written) or with a corrupt or stale
    /// one is scanned and gets its index written; the last segment is scanned from the end
    /// of its checkpoint if that is valid, else all of it (see [`recover_active`]). A torn
    /// or corrupt tail found by a scan is truncated: everything after the first bad frame is
    /// dropped. Segment files are opened only to be checked or scanned, and closed again;
    /// later reads and appends open them through `files`. Idempotency marks stored at
    /// `mark_since` (epoch ms) or later are collected on the way, for
    /// [`DiskStore::take_marks`]: a segment with a valid index (or checkpoint) is scanned for
    /// them only if it says it holds a mark stored at `mark_since` or later.
    pub fn open(dir: &Path, files: Arc<FileCache>, mark_since: i64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut store = DiskStore {
            dir: dir.to_owned(),
            segments: Vec::new(),
            visible: 0,
            files,
            repair_tail: false,
            marks: marks::Collector::new(mark_since),
            scanned_bytes: 0,
        };
        let mut corrupt = false;
        let found = recover_file_list(dir)?;
        let last = found.len().saturating_sub(1);
        for (i, (base, end, path)) in found.into_iter().enumerate() {
            let expected = store.segments.last().map(Segment::next_offset);
            if corrupt || expected.is_some_and(|e| e > base) {
                if !corrupt {
                    tracing::warn!(path = %path.display(), "segment overlaps the one before; removing it and everything after");
                }
                corrupt = true;
                index::remove(&path);
                fs::remove_file(&path)?;
                continue;
            }
            if expected.is_some_and(|e| e < base) {
                // A hole: only retention removes segments, oldest first, so what lies before
                // it is what a deletion did not finish (unlinks reach the disk in any order
                // after a power loss). Finish it rather than lose the newer records.
                tracing::warn!(path = %path.display(), "segments before a hole in the offsets; removing them (an interrupted retention)");
                for old in store.segments.drain(..) {
                    store.files.forget(&old.file);
                    index::remove(old.file.path());
                    fs::remove_file(old.file.path())?;
                }
                sync_dir(dir)?;
            }
            let file = OpenOptions::new().read(true).append(true).open(&path)?;
            let meta = file.metadata()?;
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok());
            // The last plain segment becomes the active one again: appended to, so never
            // sealed (a cleaned one is never appended to: a new segment follows it).
            let prev_max = store.last_max_ts();
            let found = if i == last && end.is_none() {
                let len = meta.len();
                recover_active(
                    &file,
                    &path,
                    len,
                    base,
                    prev_max,
                    mark_since,
                    &mut store.marks,
                )?
            } else {
                let len = meta.len();
                recover_closed(
                    &file,
                    &path,
                    len,
                    base,
                    end,
                    prev_max,
                    mark_since,
                    &mut store.marks,
                )?
            };
            store.scanned_bytes += found.scanned;
            if found.torn {
                tracing::warn!(path = %path.display(), keep = found.size, "torn or corrupt segment tail; truncating");
                file.set_len(found.size)?;
                file.sync_all()?;
                corrupt = true;
            }
            drop(file);
            let Recovered {
                entries,
                sealed,
                prefix,
                size,
                marks_until,
                ..
            } = found;
            let has_records = !entries.is_empty()
                || sealed
                    .as_ref()
                    .or(prefix.as_ref())
                    .is_some_and(|s| s.records > 0);
            let first_write_ms =
                has_records.then(|| modified_ms.unwrap_or_else(now_ms).min(now_ms()));
            store.segments.push(Segment {
                base,
                end,
                file: store.files.register(path),
                size,
                entries,
                sealed,
                prefix,
                marks_until,
                first_write_ms,
            });
        }
        // Appends never go into a cleaned segment (none is ever last, but a damaged directory
        // may end with one): start a new active segment after it.
        match store.segments.last() {
            None => store.new_segment(0)?,
            Some(last) if last.end.is_some() => store.new_segment(last.next_offset())?,
            Some(_) => {}
        }
        store.visible = store.next_offset();
        // Everything before the last segment is closed now: index what had no valid index.
        for (path, bytes) in store.seal_closed() {
            index::store_or_warn(&path, &bytes);
        }
        // The scan grew the active segment's entries by doubling: give back the slack.
        if let Some(active) = store.segments.last_mut() {
            active.entries.shrink_to_fit();
        }
        Ok(store)
    }

    /// Seals the closed segments that still hold dense entries (see [`Segment::seal`]):
    /// returns each one's path and index bytes, for the caller to write outside the lock.
    pub fn seal_closed(&mut self) -> Vec<(PathBuf, Vec<u8>)> {
        let n = self.closed_count();
        self.segments[..n]
            .iter_mut()
            .filter(|s| s.sealed.is_none())
            .map(|s| (s.file.path().to_owned(), s.seal()))
            .collect()
    }

    /// Whether the active segment holds at least `min_bytes` of frames past its checkpoint
    /// (see [`DiskStore::checkpoint_active`]).
    pub fn needs_checkpoint(&self, min_bytes: u64) -> bool {
        self.segments.last().is_some_and(|s| {
            s.sealed.is_none()
                && s.end.is_none()
                && !s.entries.is_empty()
                && s.tail_bytes() >= min_bytes
        })
    }

    /// Checkpoints the active segment: folds the dense entries of its acknowledged records
    /// into its sparse prefix (one point per [`index::INTERVAL_BYTES`], as a sealed segment
    /// keeps) and returns its path and the prefix's index bytes, for the caller to write
    /// beside it, outside the lock; `None` if there is nothing to fold.
    ///
    /// The writer calls it every [`CHECKPOINT_BYTES`] of a segment (after the fsync that
    /// acknowledged them) and [`super::Log::close`] on a graceful stop, so the active
    /// segment's memory per record is bounded by that interval, not by `segment.bytes`, and a
    /// restart scans only the frames written after the last checkpoint: none after a graceful
    /// stop. Records not acknowledged yet stay dense (only they can be rolled back), so the
    /// file never describes frames that are not durable.
    pub fn checkpoint_active(&mut self) -> Option<(PathBuf, Vec<u8>)> {
        let visible = self.visible;
        let seg = self.segments.last_mut()?;
        if seg.sealed.is_some() || seg.end.is_some() {
            return None;
        }
        let base = seg.base;
        let acked = seg
            .entries
            .partition_point(|e| base + i64::from(e.delta) < visible);
        if acked == 0 {
            return None;
        }
        let size = seg.entries.get(acked).map_or(seg.size, |e| e.pos);
        let marks_until = seg.marks_until;
        let prefix = seg
            .prefix
            .get_or_insert_with(|| SparseIndex::from_entries(&[], 0, None));
        prefix.extend(&seg.entries[..acked], size, marks_until);
        let bytes = prefix.encode();
        // The capacity stays: the next interval fills it again.
        seg.entries.drain(..acked);
        Some((seg.file.path().to_owned(), bytes))
    }

    /// Whether a segment may be waiting for [`DiskStore::seal_closed`]: the one before the
    /// active segment is not sealed (only it becomes closed as appends go on; a cheap test
    /// for every write round).
    pub fn needs_seal(&self) -> bool {
        self.segments.len() >= 2
            && self.segments[self.segments.len() - 2].sealed.is_none()
            && self.closed_count() > 0
    }

    /// Bytes of segment files read by [`DiskStore::open`] (to show what a restart costs).
    #[cfg(test)]
    pub fn scanned_bytes(&self) -> u64 {
        self.scanned_bytes
    }

    /// The idempotency marks the scan on open found complete (once; later calls get none).
    pub fn take_marks(&mut self) -> Vec<marks::MarkedGroup> {
        self.marks.take()
    }

    /// Starts the segment of offset `base`, empty: a file of that name can only hold records
    /// that were never acknowledged (a rollback that could not remove it).
    fn new_segment(&mut self, base: i64) -> io::Result<()> {
        let file = self.files.create(self.dir.join(segment_name(base, None)))?;
        if let Err(e) = sync_dir(&self.dir) {
            self.files.forget(&file);
            return Err(e);
        }
        self.segments.push(Segment {
            base,
            end: None,
            file,
            size: 0,
            entries: Vec::new(),
            sealed: None,
            prefix: None,
            marks_until: None,
            first_write_ms: None,
        });
        Ok(())
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Offset the next appended record gets.
    pub fn next_offset(&self) -> i64 {
        self.segments.last().map_or(0, Segment::next_offset)
    }

    /// The earliest offset kept: the base of the first segment.
    pub fn start_offset(&self) -> i64 {
        self.segments.first().map_or(0, |s| s.base)
    }

    /// Largest timestamp written so far.
    pub fn last_max_ts(&self) -> i64 {
        self.segments
            .iter()
            .rev()
            .find_map(Segment::max_ts)
            .unwrap_or(i64::MIN)
    }

    /// Bytes of all segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// How many leading segments are closed: not the active one, and followed by a segment
    /// with an acknowledged record, so that no rollback can make them active again. Only
    /// those are deleted or compacted.
    pub fn closed_count(&self) -> usize {
        self.segments
            .windows(2)
            .take_while(|w| w[1].base < self.visible)
            .count()
    }

    /// Closes this partition's cached files (its topic is being deleted).
    pub fn forget_files(&self) {
        for seg in &self.segments {
            self.files.forget(&seg.file);
        }
    }

    /// Where the log stands, to undo a failed write with [`DiskStore::rollback`].
    pub fn mark(&self) -> Mark {
        let active = self.segments.last();
        Mark {
            next: self.next_offset(),
            active_base: active.map_or(0, |s| s.base),
            size: active.map_or(0, |s| s.size),
        }
    }

    /// Whether the active segment changed since `mark` (an append rolled).
    pub fn rolled_since(&self, mark: Mark) -> bool {
        self.segments
            .last()
            .is_some_and(|s| s.base != mark.active_base)
    }

    /// Undoes writes after `mark` (used when a write or fsync failed). The index and sizes
    /// always go back; cutting the file is best effort, and if it fails (the process may be
    /// out of descriptors) the next append cuts it before writing.
    pub fn rollback(&mut self, mark: Mark) {
        while self.segments.len() > 1
            && self
                .segments
                .last()
                .is_some_and(|s| s.base > mark.active_base)
        {
            if let Some(seg) = self.segments.pop() {
                self.files.forget(&seg.file);
                let _ = fs::remove_file(seg.file.path());
            }
        }
        if let Some(last) = self.segments.last_mut() {
            let keep = last.first_at_or_after(mark.next);
            last.entries.truncate(keep);
            if last.records() == 0 {
                last.first_write_ms = None;
            }
            last.size = mark.size;
            self.repair_tail = !self
                .files
                .get(&last.file)
                .is_ok_and(|f| f.set_len(mark.size).is_ok());
        }
        self.visible = self.visible.min(self.next_offset());
    }

    /// Appends already-encoded frames (`lens` gives each frame's length, `max_ts` the running
    /// max timestamp per frame) at [`DiskStore::next_offset`], rolling to a new segment when
    /// `roll` says the active one is full or old. `marked`: the `stored_at` of the
    /// idempotency mark the first frame carries, recorded in every segment the frames go to
    /// (so that a restart scanning for marks reads the whole group). Adds the open files
    /// written to `touched`, for the writer to fsync (the same descriptors it wrote through).
    pub fn append_frames(
        &mut self,
        buf: &[u8],
        lens: &[u32],
        max_ts: &[i64],
        marked: Option<i64>,
        roll: RollPolicy,
        touched: &mut Vec<Arc<File>>,
    ) -> io::Result<()> {
        let mut start = 0usize;
        let mut i = 0usize;
        while i < lens.len() {
            let need_roll = self.segments.last().is_none_or(|s| {
                s.end.is_some()
                    || s.next_delta().is_none()
                    || roll.must_roll(s.size, s.first_write_ms, u64::from(lens[i]))
            });
            if need_roll {
                let base = self.next_offset();
                self.new_segment(base)?;
            }
            let seg_idx = self.segments.len() - 1;
            let seg = &mut self.segments[seg_idx];
            // Held until the writer has fsynced it, whatever the cache evicts meanwhile.
            let file = self.files.get(&seg.file)?;
            if self.repair_tail {
                file.set_len(seg.size)?;
                self.repair_tail = false;
            }
            // Take as many frames as fit (at least one).
            let mut end = start;
            let mut j = i;
            let mut size = seg.size;
            while j < lens.len() && (j == i || size + u64::from(lens[j]) <= roll.segment_bytes) {
                let Some(delta) = seg.next_delta() else {
                    break;
                };
                seg.entries.push(IndexEntry {
                    delta,
                    len: lens[j],
                    pos: size,
                    max_ts: max_ts[j],
                });
                size += u64::from(lens[j]);
                end += lens[j] as usize;
                j += 1;
            }
            seg.first_write_ms.get_or_insert(roll.now_ms);
            seg.marks_until = seg.marks_until.max(marked);
            (&*file).write_all(&buf[start..end])?;
            seg.size = size;
            if !touched.iter().any(|f| Arc::ptr_eq(f, &file)) {
                touched.push(file);
            }
            start = end;
            i = j;
        }
        Ok(())
    }

    /// The visible frames from `from` on (from the start offset if `from` is below it),
    /// limited by count and bytes (counting `spent` bytes already read; at least one record
    /// if nothing was): what to read without holding the partition lock, with the open
    /// descriptors it was planned for. A sealed segment is planned alone, as a
    /// [`ScanRun`] from the sparse point at or before `from`.
    pub fn plan_read(
        &self,
        from: i64,
        max_records: usize,
        max_bytes: usize,
        spent: usize,
    ) -> io::Result<ReadPlan> {
        let mut runs: Vec<Run> = Vec::new();
        let mut bytes = spent;
        let mut records = 0usize;
        let first_seg = self
            .segments
            .partition_point(|s| s.base <= from)
            .saturating_sub(1);
        'segments: for seg in &self.segments[first_seg.min(self.segments.len())..] {
            // A sealed segment, or the checkpointed prefix of the active one when the read
            // starts in it: decoded forward from a sparse point, up to where it ends.
            let sparse = match (&seg.sealed, &seg.prefix) {
                (Some(sealed), _) => Some((sealed, seg.next_offset())),
                (None, Some(prefix)) if from < seg.base + seg.prefix_records() as i64 => {
                    Some((prefix, seg.base + seg.prefix_records() as i64))
                }
                _ => None,
            };
            if let Some((sparse, next)) = sparse {
                if !runs.is_empty() {
                    break;
                }
                let delta = u32::try_from(from.saturating_sub(seg.base).max(0)).unwrap_or(u32::MAX);
                let Some(point) = sparse.point_for_delta(delta) else {
                    continue;
                };
                return Ok(ReadPlan::Scan(ScanRun {
                    file: self.files.get(&seg.file)?,
                    pos: point.pos,
                    end_pos: sparse.size,
                    from,
                    visible: self.visible,
                    next,
                }));
            }
            let mut open: Option<Arc<File>> = None;
            for (i, e) in seg
                .entries
                .iter()
                .enumerate()
                .skip(seg.first_at_or_after(from))
            {
                let offset = seg.offset_at(i);
                if offset >= self.visible || records >= max_records {
                    break 'segments;
                }
                let len = e.len as usize;
                if bytes > 0 && bytes + len > max_bytes {
                    break 'segments;
                }
                bytes += len;
                records += 1;
                match runs.last_mut() {
                    Some(run) if open.is_some() && run.pos + run.len as u64 == e.pos => {
                        run.len += len;
                        run.offsets.push(offset);
                    }
                    _ => {
                        let file = match &open {
                            Some(f) => Arc::clone(f),
                            None => {
                                let f = self.files.get(&seg.file)?;
                                open = Some(Arc::clone(&f));
                                f
                            }
                        };
                        runs.push(Run {
                            file,
                            pos: e.pos,
                            len,
                            offsets: vec![offset],
                        });
                    }
                }
            }
        }
        Ok(ReadPlan::Frames(runs))
    }

    /// First visible offset whose record timestamp is ≥ `ts`, if any. In a sealed segment
    /// this decodes at most [`index::INTERVAL_BYTES`] and one frame of it.
    pub fn offset_for_timestamp(&self, ts: i64) -> io::Result<Option<i64>> {
        for seg in &self.segments {
            if seg.max_ts().is_none_or(|m| m < ts) {
                continue;
            }
            let sparse = match (&seg.sealed, &seg.prefix) {
                (Some(sealed), _) => Some(sealed),
                // The active segment's checkpointed prefix, if the record is in it.
                (None, Some(prefix)) if prefix.max_ts.is_some_and(|m| m >= ts) => Some(prefix),
                _ => None,
            };
            let offset = match sparse {
                None => {
                    let i = seg.entries.partition_point(|e| e.max_ts < ts);
                    seg.offset_at(i)
                }
                Some(sealed) => match sealed.point_for_timestamp(ts) {
                    None => continue,
                    Some(Ok(p)) => seg.base + i64::from(p.delta),
                    Some(Err(p)) => {
                        let file = self.files.get(&seg.file)?;
                        let mut frames = FrameReader::new(&file, p.pos, sealed.size, 0);
                        let mut max = p.max_ts;
                        let mut found = None;
                        while let Some(frame) = frames.next_frame()? {
                            let (offset, t) = frame
                                .get(FRAME_HEADER..)
                                .and_then(record::payload_offset_timestamp)
                                .ok_or_else(|| corrupt("a frame without offset and timestamp"))?;
                            max = max.max(t);
                            if max >= ts {
                                found = Some(offset);
                                break;
                            }
                        }
                        // The index says a record of the segment reaches `ts`.
                        found.ok_or_else(|| corrupt("segment index and frames disagree"))?
                    }
                },
            };
            return Ok((offset < self.visible).then_some(offset));
        }
        Ok(None)
    }

    /// Fsyncs the active segment.
    pub fn sync(&self) -> io::Result<()> {
        match self.segments.last() {
            Some(s) => self.files.get(&s.file)?.sync_data(),
            None => Ok(()),
        }
    }

    /// Takes the first `n` segments (closed ones, see [`DiskStore::closed_count`]) out of the
    /// view, which advances the start offset; returns their files, for the caller to remove.
    pub fn drop_front(&mut self, n: usize) -> Vec<SegmentFile> {
        let n = n.min(self.closed_count());
        let gone: Vec<SegmentFile> = self.segments.drain(..n).map(|s| s.file).collect();
        for f in &gone {
            self.files.forget(f);
        }
        gone
    }

    /// The closed segments, with their open descriptors, for compaction to read.
    pub fn closed_segments(&self) -> io::Result<Vec<ClosedSegment>> {
        let n = self.closed_count();
        let mut out = Vec::with_capacity(n);
        for (i, seg) in self.segments[..n].iter().enumerate() {
            out.push(ClosedSegment {
                base: seg.base,
                end: self.segments[i + 1].base,
                file: seg.file.clone(),
                open: self.files.get(&seg.file)?,
                size: seg.size,
                // A checkpointed prefix has no entries: loaded like a sealed segment's.
                entries: if seg.prefix.is_some() {
                    Vec::new()
                } else {
                    seg.entries.clone()
                },
                sealed: seg.sealed.is_some() || seg.prefix.is_some(),
            });
        }
        Ok(out)
    }

    /// Puts the cleaned segment at `path` (already complete, fsynced and in place under its
    /// final name) where the consecutive segments `replaced` are. Returns the files it
    /// replaces, or `None` (and changes nothing) if those segments are no longer in place.
    pub fn install_cleaned(
        &mut self,
        replaced: &[SegmentFile],
        path: PathBuf,
        base: i64,
        end: i64,
        size: u64,
        entries: Vec<IndexEntry>,
    ) -> Option<Vec<SegmentFile>> {
        let first = self
            .segments
            .iter()
            .position(|s| replaced.first().is_some_and(|r| r.same(&s.file)))?;
        let in_place = self.segments[first..].len() > replaced.len()
            && replaced
                .iter()
                .zip(&self.segments[first..])
                .all(|(r, s)| r.same(&s.file));
        if !in_place || self.segments[first].base != base {
            return None;
        }
        let mut new = Segment {
            base,
            end: Some(end),
            file: self.files.register(path),
            size,
            entries,
            sealed: None,
            prefix: None,
            // Its frames keep the marks the replaced segments held.
            marks_until: self.segments[first..first + replaced.len()]
                .iter()
                .filter_map(|s| s.marks_until)
                .max(),
            first_write_ms: None,
        };
        // Under the lock, but compaction is rare and the index small; a crash before it is
        // written leaves a segment without a valid index, rebuilt on open.
        let bytes = new.seal();
        index::store_or_warn(new.file.path(), &bytes);
        let old: Vec<SegmentFile> = self
            .segments
            .splice(first..first + replaced.len(), [new])
            .map(|s| s.file)
            .collect();
        for f in &old {
            self.files.forget(f);
        }
        Some(old)
    }
}

/// What [`DiskStore::open`] recovered of one segment file.
struct Recovered {
    /// Dense entries (a segment not sealed: past its `prefix`, if any).
    entries: Vec<IndexEntry>,
    /// A closed segment's valid index, trusted without reading the segment.
    sealed: Option<SparseIndex>,
    /// The active segment's valid checkpoint.
    prefix: Option<SparseIndex>,
    /// Bytes of valid frames: the file is cut there if `torn`.
    size: u64,
    /// Latest `stored_at` of an idempotency mark in it.
    marks_until: Option<i64>,
    /// Bytes of the file read to get here.
    scanned: u64,
    /// Whether frames after `size` are torn or corrupt.
    torn: bool,
}

impl Recovered {
    /// What a scan of a whole segment found.
    fn scanned(found: Scanned, scanned: u64) -> Self {
        Recovered {
            entries: found.entries,
            sealed: None,
            prefix: None,
            size: found.good_len,
            marks_until: found.marks_until,
            scanned,
            torn: !found.clean,
        }
    }
}

/// Recovers a closed segment (or a cleaned one): from its index if that is valid (scanning
/// it only for the idempotency marks of the window, if its index says it holds some), else
/// by scanning it.
#[allow(clippy::too_many_arguments)]
fn recover_closed(
    file: &File,
    path: &Path,
    len: u64,
    base: i64,
    end: Option<i64>,
    prev_max: i64,
    mark_since: i64,
    marks: &mut marks::Collector,
) -> io::Result<Recovered> {
    let Some(sealed) = index::load(path, len) else {
        let found = scan(file, base, end, START, prev_max, marks)?;
        return Ok(Recovered::scanned(found, len));
    };
    let mut scanned = 0;
    if sealed.marks_until.is_some_and(|m| m >= mark_since) {
        // Only for its marks: the index stands.
        scanned = sealed.size;
        scan(file, base, end, START, prev_max, marks)?;
    }
    Ok(Recovered {
        entries: Vec::new(),
        size: sealed.size,
        marks_until: sealed.marks_until,
        sealed: Some(sealed),
        prefix: None,
        scanned,
        torn: false,
    })
}

/// Recovers the active segment: from its checkpoint (see [`DiskStore::checkpoint_active`])
/// plus a scan of the frames after it, or by scanning all of it when the checkpoint is
/// missing, invalid, disagrees with the frames, or covers idempotency marks of the window
/// (which only a scan finds). After a graceful stop the checkpoint covers every record, so
/// nothing is scanned; after `kill -9`, what was written since the last checkpoint.
fn recover_active(
    file: &File,
    path: &Path,
    len: u64,
    base: i64,
    prev_max: i64,
    mark_since: i64,
    marks: &mut marks::Collector,
) -> io::Result<Recovered> {
    let usable = index::load_prefix(path, len).filter(|p| {
        p.records > 0
            && p.records < u64::from(u32::MAX)
            && p.marks_until.is_none_or(|m| m < mark_since)
    });
    if let Some(prefix) = usable {
        if checkpoint_matches(file, base, &prefix)? {
            let resume = Start {
                pos: prefix.size,
                delta: prefix.records as u32,
            };
            let max = prefix.max_ts.unwrap_or(prev_max);
            let found = scan(file, base, None, resume, max, marks)?;
            let mut recovered = Recovered::scanned(found, len.saturating_sub(prefix.size));
            recovered.marks_until = recovered.marks_until.max(prefix.marks_until);
            recovered.prefix = Some(prefix);
            return Ok(recovered);
        }
        tracing::warn!(path = %index::path_for(path).display(), "checkpoint of the active segment disagrees with its frames; scanning the segment");
    }
    index::remove(path);
    let found = scan(file, base, None, START, prev_max, marks)?;
    Ok(Recovered::scanned(found, len))
}

/// Whether the frames from a checkpoint's last point to its end are the records it says:
/// contiguous offsets from that point's, intact, ending exactly at its size with its record
/// count and largest timestamp. Reads at most [`index::INTERVAL_BYTES`] and one frame.
fn checkpoint_matches(file: &File, base: i64, prefix: &SparseIndex) -> io::Result<bool> {
    let Some(last) = prefix.points.last() else {
        return Ok(false);
    };
    let mut frames = FrameReader::new(file, last.pos, prefix.size, 0);
    let mut expected = base + i64::from(last.delta);
    let mut max = last.max_ts;
    loop {
        let frame = match frames.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(false),
            Err(e) => return Err(e),
        };
        match record::decode(frame) {
            Ok((offset, r, _)) if offset == expected => {
                max = max.max(r.timestamp);
                expected += 1;
            }
            _ => return Ok(false),
        }
    }
    Ok(
        u64::try_from(expected - base).is_ok_and(|n| n == prefix.records)
            && prefix.max_ts == Some(max),
    )
}

/// Where [`scan`] starts: a frame's position and its offset's delta from the segment's base.
#[derive(Debug, Clone, Copy)]
struct Start {
    pos: u64,
    delta: u32,
}

/// A scan of a whole segment.
const START: Start = Start { pos: 0, delta: 0 };

/// What [`scan`] found in a segment.
struct Scanned {
    /// One entry per valid frame.
    entries: Vec<IndexEntry>,
    /// Length of the valid prefix.
    good_len: u64,
    /// Whether the whole file was valid.
    clean: bool,
    /// Latest `stored_at` of the idempotency marks in the valid prefix.
    marks_until: Option<i64>,
}

/// Reads the frames of one segment from `start` on into its index. A plain segment's
/// offsets must be contiguous from `base` + `start.delta`; a cleaned one's (`end` given)
/// increasing within `[base, end)`. Every valid frame is shown to `marks` (idempotency keys
/// rebuilt from the log). `max_ts`: the running max timestamp before `start`.
fn scan(
    file: &File,
    base: i64,
    end: Option<i64>,
    start: Start,
    mut max_ts: i64,
    marks: &mut marks::Collector,
) -> io::Result<Scanned> {
    // Positioned reads: the descriptor may be shared through the cache, so its own position
    // means nothing.
    let mut reader = BufReader::with_capacity(
        1 << 20,
        PositionedReader {
            file,
            pos: start.pos,
        },
    );
    let mut pos: u64 = start.pos;
    let first = base + i64::from(start.delta);
    let mut payload = Vec::new();
    let mut entries: Vec<IndexEntry> = Vec::new();
    let mut last: Option<i64> = None;
    let mut marks_until: Option<i64> = None;
    let clean = loop {
        let mut head = [0u8; FRAME_HEADER];
        match read_full(&mut reader, &mut head)? {
            0 => break true,
            n if n < FRAME_HEADER => break false,
            _ => {}
        }
        let (len, crc) = record::frame_header(&head);
        if !(16..=MAX_PAYLOAD).contains(&len) {
            break false;
        }
        payload.resize(len, 0);
        if read_full(&mut reader, &mut payload)? < len {
            break false;
        }
        if crc32fast::hash(&payload) != crc {
            break false;
        }
        let Some((offset, ts)) = record::payload_offset_timestamp(&payload) else {
            break false;
        };
        let in_order = match end {
            None => offset == first + entries.len() as i64,
            Some(end) => offset < end && last.map_or(offset >= base, |l| offset > l),
        };
        let Some(delta) = in_order
            .then(|| u32::try_from(offset - base).ok())
            .flatten()
        else {
            break false;
        };
        max_ts = max_ts.max(ts);
        let frame_len = (FRAME_HEADER + len) as u64;
        entries.push(IndexEntry {
            delta,
            len: frame_len as u32,
            pos,
            max_ts,
        });
        if let Some(m) = record::payload_mark(&payload) {
            marks_until = marks_until.max(Some(m.stored_at));
        }
        marks.frame(offset, ts, &payload);
        last = Some(offset);
        pos += frame_len;
    };
    Ok(Scanned {
        entries,
        good_len: pos,
        clean,
        marks_until,
    })
}

/// [`Read`] over a file from a position of its own, with `pread`.
struct PositionedReader<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads `len` bytes at `pos` of a segment file.
pub(crate) fn read_at(file: &File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, pos)?;
    Ok(buf)
}
