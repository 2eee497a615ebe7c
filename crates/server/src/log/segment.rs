//! One partition's segment files: recovery on open, appends, and positioned reads.
//!
//! A partition directory holds `<base offset, 20 digits>.log` files. Each is a run of frames
//! (see [`super::record`]) with contiguous offsets starting at its base. Only the index
//! (position, length and running max timestamp per offset) is kept in memory; values are read
//! back from the files, which are opened on demand through the log's [`FileCache`] (a
//! partition holds no descriptor of its own).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{FileCache, SegmentFile};
use super::marks;
use super::record::{self, FRAME_HEADER, MAX_PAYLOAD};

/// One segment file (its base offset is in its name).
#[derive(Debug)]
pub(crate) struct Segment {
    /// The file, opened through the cache when read or written.
    pub file: SegmentFile,
    /// Bytes written so far (including not yet acknowledged ones).
    pub size: u64,
}

/// Where one record lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexEntry {
    /// Index into [`DiskStore::segments`].
    pub seg: u32,
    /// Frame length.
    pub len: u32,
    /// Byte position of the frame in its segment.
    pub pos: u64,
    /// Largest timestamp of this record and all before it (Kafka's time-index rule).
    pub max_ts: i64,
}

/// The files and index of one durable partition.
#[derive(Debug)]
pub(crate) struct DiskStore {
    dir: PathBuf,
    /// Segments in offset order; the last one is active.
    pub segments: Vec<Segment>,
    /// One entry per offset, starting at offset 0 (no retention yet).
    pub index: Vec<IndexEntry>,
    /// Number of acknowledged (fsynced) records: readers see offsets below this.
    pub visible: usize,
    segment_bytes: u64,
    /// The log's open files.
    files: Arc<FileCache>,
    /// A rollback could not cut the active segment back to its size: the next append does
    /// it first, so that its frames land where the index says they are.
    repair_tail: bool,
    /// Idempotency marks seen by the scan on open (issue 16), until the log takes them.
    marks: marks::Collector,
}

fn segment_name(base: i64) -> String {
    format!("{base:020}.log")
}

/// Fsyncs a directory so that a created or renamed entry survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl DiskStore {
    /// Opens (creating if needed) the partition directory, scans every segment, and truncates
    /// a torn or corrupt tail: everything after the first bad frame is dropped.
    /// Segment files are opened only to be scanned, and closed again; later reads and
    /// appends open them through `files`. Idempotency marks stored at `mark_since` (epoch ms)
    /// or later are collected on the way, for [`DiskStore::take_marks`].
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        files: Arc<FileCache>,
        mark_since: i64,
    ) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut bases: Vec<i64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(base) = name
                .strip_suffix(".log")
                .and_then(|b| b.parse::<i64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut store = DiskStore {
            dir: dir.to_owned(),
            segments: Vec::new(),
            index: Vec::new(),
            visible: 0,
            segment_bytes: segment_bytes.max(1),
            files,
            repair_tail: false,
            marks: marks::Collector::new(mark_since),
        };
        let mut corrupt = false;
        for base in bases {
            let path = dir.join(segment_name(base));
            if corrupt || base != store.index.len() as i64 {
                if !corrupt {
                    tracing::warn!(path = %path.display(), "segment does not continue the log; removing it and everything after");
                }
                corrupt = true;
                fs::remove_file(&path)?;
                continue;
            }
            let file = OpenOptions::new().read(true).append(true).open(&path)?;
            let seg_idx = store.segments.len() as u32;
            let (good_len, clean) = store.scan(&file, seg_idx)?;
            if !clean {
                tracing::warn!(path = %path.display(), keep = good_len, "torn or corrupt segment tail; truncating");
                file.set_len(good_len)?;
                file.sync_all()?;
                corrupt = true;
            }
            drop(file);
            store.segments.push(Segment {
                file: store.files.register(path),
                size: good_len,
            });
        }
        if store.segments.is_empty() {
            store.new_segment(0)?;
        }
        store.visible = store.index.len();
        Ok(store)
    }

    /// Reads frames of one segment into the index; returns the length of the valid prefix and
    /// whether the whole file was valid.
    fn scan(&mut self, file: &File, seg: u32) -> io::Result<(u64, bool)> {
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut pos: u64 = 0;
        let mut payload = Vec::new();
        let mut max_ts = self.index.last().map_or(i64::MIN, |e| e.max_ts);
        loop {
            let mut head = [0u8; FRAME_HEADER];
            match read_full(&mut reader, &mut head)? {
                0 => return Ok((pos, true)),
                n if n < FRAME_HEADER => return Ok((pos, false)),
                _ => {}
            }
            let (len, crc) = record::frame_header(&head);
            if !(16..=MAX_PAYLOAD).contains(&len) {
                return Ok((pos, false));
            }
            payload.resize(len, 0);
            if read_full(&mut reader, &mut payload)? < len {
                return Ok((pos, false));
            }
            if crc32fast::hash(&payload) != crc {
                return Ok((pos, false));
            }
            let Some((offset, ts)) = record::payload_offset_timestamp(&payload) else {
                return Ok((pos, false));
            };
            if offset != self.index.len() as i64 {
                return Ok((pos, false));
            }
            max_ts = max_ts.max(ts);
            let frame_len = (FRAME_HEADER + len) as u64;
            self.index.push(IndexEntry {
                seg,
                len: frame_len as u32,
                pos,
                max_ts,
            });
            self.marks.frame(offset, ts, &payload);
            pos += frame_len;
        }
    }

    /// Starts the segment of offset `base`, empty: a file of that name can only hold records
    /// that were never acknowledged (a rollback that could not remove it).
    fn new_segment(&mut self, base: i64) -> io::Result<()> {
        let file = self.files.create(self.dir.join(segment_name(base)))?;
        if let Err(e) = sync_dir(&self.dir) {
            self.files.forget(&file);
            return Err(e);
        }
        self.segments.push(Segment { file, size: 0 });
        Ok(())
    }

    /// The idempotency marks the scan on open found complete (once; later calls get none).
    pub fn take_marks(&mut self) -> Vec<marks::MarkedGroup> {
        self.marks.take()
    }

    /// Closes this partition's cached files (its topic is being deleted).
    pub fn forget_files(&self) {
        for seg in &self.segments {
            self.files.forget(&seg.file);
        }
    }

    /// The log's open files, to read planned runs with.
    pub fn files(&self) -> &Arc<FileCache> {
        &self.files
    }

    /// Where the log stands, to undo a failed write with [`DiskStore::rollback`].
    pub fn mark(&self) -> (usize, usize, u64) {
        let size = self.segments.last().map_or(0, |s| s.size);
        (self.index.len(), self.segments.len(), size)
    }

    /// Undoes writes after `mark` (used when a write or fsync failed). The index and sizes
    /// always go back; cutting the file is best effort, and if it fails (the process may be
    /// out of descriptors) the next append cuts it before writing.
    pub fn rollback(&mut self, mark: (usize, usize, u64)) {
        let (index_len, segs, size) = mark;
        self.index.truncate(index_len);
        while self.segments.len() > segs.max(1) {
            if let Some(seg) = self.segments.pop() {
                self.files.forget(&seg.file);
                let _ = fs::remove_file(seg.file.path());
            }
        }
        if let Some(last) = self.segments.last_mut() {
            last.size = size;
            self.repair_tail = !self
                .files
                .get(&last.file)
                .is_ok_and(|f| f.set_len(size).is_ok());
        }
        self.visible = self.visible.min(self.index.len());
    }

    /// Appends already-encoded frames (`lens` gives each frame's length, `max_ts` the running
    /// max timestamp per frame), rolling to a new segment when the active one is full.
    /// Adds the open files written to `touched`, for the writer to fsync (the same
    /// descriptors it wrote through).
    pub fn append_frames(
        &mut self,
        buf: &[u8],
        lens: &[u32],
        max_ts: &[i64],
        touched: &mut Vec<Arc<File>>,
    ) -> io::Result<()> {
        let mut start = 0usize;
        let mut i = 0usize;
        while i < lens.len() {
            let need_roll = self
                .segments
                .last()
                .is_none_or(|s| s.size > 0 && s.size + u64::from(lens[i]) > self.segment_bytes);
            if need_roll {
                let base = self.index.len() as i64;
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
            while j < lens.len() && (j == i || size + u64::from(lens[j]) <= self.segment_bytes) {
                self.index.push(IndexEntry {
                    seg: seg_idx as u32,
                    len: lens[j],
                    pos: size,
                    max_ts: max_ts[j],
                });
                size += u64::from(lens[j]);
                end += lens[j] as usize;
                j += 1;
            }
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

    /// The visible frames from `from` on, limited by count and bytes (at least one record):
    /// returned as (segment, position, length, count) runs to read without holding the
    /// partition lock.
    pub fn plan_read(
        &self,
        from: usize,
        max_records: usize,
        max_bytes: usize,
    ) -> Vec<(SegmentFile, u64, usize, usize)> {
        let mut runs: Vec<(SegmentFile, u64, usize, usize)> = Vec::new();
        let mut bytes = 0usize;
        let end = self.visible.min(from.saturating_add(max_records));
        for e in self.index.get(from..end).unwrap_or(&[]) {
            let len = e.len as usize;
            if bytes > 0 && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            match runs.last_mut() {
                Some((file, pos, rlen, count))
                    if file.same(&self.segments[e.seg as usize].file)
                        && *pos + *rlen as u64 == e.pos =>
                {
                    *rlen += len;
                    *count += 1;
                }
                _ => runs.push((self.segments[e.seg as usize].file.clone(), e.pos, len, 1)),
            }
        }
        runs
    }

    /// First visible offset whose record timestamp is ≥ `ts`, if any.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        let idx = self.index[..self.visible].partition_point(|e| e.max_ts < ts);
        (idx < self.visible).then_some(idx as i64)
    }

    /// Fsyncs the active segment.
    pub fn sync(&self) -> io::Result<()> {
        match self.segments.last() {
            Some(s) => self.files.get(&s.file)?.sync_data(),
            None => Ok(()),
        }
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

/// Reads one planned run of frames from its file.
pub(crate) fn read_run(file: &File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, pos)?;
    Ok(buf)
}
