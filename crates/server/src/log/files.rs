//! The log's bounded cache of open segment files.
//!
//! Kafka keeps every segment of every partition open, and so did this log: each partition held
//! a file descriptor for as long as the server ran, so a few thousand topics took every
//! descriptor of the process and new connections could no longer be accepted. Now a segment
//! is named by a [`SegmentFile`] (its path and an id unique in the process) and opened on
//! demand through one [`FileCache`] for the whole log, which keeps at most `max_open_files` of
//! them open and closes the least recently used one to make room.
//!
//! An open file is shared as an `Arc<File>`: whoever reads or writes holds a clone, so an
//! eviction only drops the cache's reference, and the descriptor is closed when the last user
//! is done. A file in use may therefore stay open a little past the cap (at most one per
//! request being read and per partition the writer is writing in its round), never the other
//! way round. Two rules keep eviction from touching durability:
//!
//! * The writer keeps the `Arc` of every file it wrote to until it has fsynced that very
//!   descriptor (see `writer.rs`), so a file evicted between its write and its fsync is
//!   fsynced all the same, and a write error reported at fsync reaches the writer, not a
//!   later opener.
//! * Ids are never reused. A segment removed by a rollback is forgotten here, and a file
//!   created again at the same path gets a new id, so no stale descriptor of an unlinked file
//!   can be handed out for writing.
//!
//! When opening fails because the process is out of descriptors (`EMFILE`), the cache closes
//! the older half of the files it holds (those in use stay open until their users are done)
//! and tries once more before it reports the error.

use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

/// A segment file as the cache knows it: where it is, and the key of its open descriptor.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    id: u64,
    path: Arc<Path>,
}

impl SegmentFile {
    /// Where the file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether both name the same segment (the same file, opened through the same entry).
    pub(crate) fn same(&self, other: &SegmentFile) -> bool {
        self.id == other.id
    }
}

/// Open segment files of a whole log, at most `cap` of them, least recently used out first.
#[derive(Debug)]
pub(crate) struct FileCache {
    open: Mutex<LruCache<u64, Arc<File>>>,
    next_id: AtomicU64,
    opened: AtomicU64,
}

/// Whether `e` says the process or the system has no file descriptor left.
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).append(true).open(path)
}

impl FileCache {
    /// A cache keeping at most `cap` files open (at least 1).
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            open: Mutex::new(LruCache::new(
                NonZeroUsize::new(cap).unwrap_or(NonZeroUsize::MIN),
            )),
            next_id: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<u64, Arc<File>>> {
        // The map holds only descriptors; a panic elsewhere cannot leave it inconsistent.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Names the existing file at `path` (not opened until first used).
    pub(crate) fn register(&self, path: PathBuf) -> SegmentFile {
        SegmentFile {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            path: path.into(),
        }
    }

    /// Creates (or empties) the file at `path`, and keeps it open in the cache. Only for a
    /// new segment: whatever a file of that name held was never acknowledged.
    pub(crate) fn create(&self, path: PathBuf) -> io::Result<SegmentFile> {
        let open = || {
            // Appending (writes land at the end, wherever a rollback cut the file), so it is
            // emptied with `set_len`: `O_TRUNC` and `O_APPEND` do not go together in std.
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .truncate(false)
                .open(&path)
        };
        let file = self.retrying(open)?;
        file.set_len(0)?;
        let seg = self.register(path);
        self.put(&seg, Arc::new(file));
        Ok(seg)
    }

    /// The open file of `seg`, opening it (for reading and appending) if it is not open.
    pub(crate) fn get(&self, seg: &SegmentFile) -> io::Result<Arc<File>> {
        if let Some(f) = self.lock().get(&seg.id) {
            return Ok(Arc::clone(f));
        }
        // Opened outside the lock: other partitions' reads and writes do not wait for it.
        let file = Arc::new(self.retrying(|| open_rw(&seg.path))?);
        let mut open = self.lock();
        if let Some(f) = open.get(&seg.id) {
            // Another thread opened it meanwhile; ours is closed when dropped.
            return Ok(Arc::clone(f));
        }
        let evicted = open.push(seg.id, Arc::clone(&file));
        drop(open);
        drop(evicted); // closed outside the lock
        Ok(file)
    }

    fn put(&self, seg: &SegmentFile, file: Arc<File>) {
        let evicted = self.lock().push(seg.id, file);
        drop(evicted);
    }

    /// Closes the cache's descriptor of `seg` (a segment file that is being removed).
    pub(crate) fn forget(&self, seg: &SegmentFile) {
        let evicted = self.lock().pop(&seg.id);
        drop(evicted);
    }

    /// Runs `open`; if the process is out of descriptors, closes the older half of the cached
    /// files and runs it once more.
    fn retrying(&self, open: impl Fn() -> io::Result<File>) -> io::Result<File> {
        let file = match open() {
            Err(e) if out_of_descriptors(&e) => {
                let shed: Vec<Arc<File>> = {
                    let mut cache = self.lock();
                    let n = cache.len().div_ceil(2);
                    (0..n)
                        .filter_map(|_| cache.pop_lru().map(|(_, f)| f))
                        .collect()
                };
                tracing::warn!(
                    closed = shed.len(),
                    "out of file descriptors: closing cached segment files and retrying"
                );
                drop(shed);
                open()?
            }
            other => other?,
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(file)
    }

    /// Files the cache holds open now (at most its cap).
    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        self.lock().len()
    }

    /// Files opened or created through the cache since it was made (to see reopens).
    #[cfg(test)]
    pub(crate) fn opens(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}
