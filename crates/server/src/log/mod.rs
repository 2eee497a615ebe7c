//! The embedded log: partitioned topics, in memory or durable in a data directory.
//!
//! Layout of a data directory:
//!
//! ```text
//! <data-dir>/topics.json                      topic name → partition count
//! <data-dir>/offsets.json                     committed offsets of consumer groups
//! <data-dir>/topics/<topic>/<partition>/<base offset>.log   segment files
//! ```
//!
//! Durability: a produce is acknowledged only after its records are written and fsynced. A
//! single writer thread does the writing ("group commit"): it drains every batch queued while
//! the previous fsync ran, writes them all, fsyncs each touched segment once, and then
//! acknowledges them together, so concurrent producers share fsyncs. On open every segment is
//! scanned and a torn or corrupt tail (bad CRC, short frame, offset gap) is truncated, so what
//! was acknowledged before a crash is back and nothing half-written is ever served.
//!
//! File descriptors: as in Kafka only the last segment of a partition is written, but unlike
//! Kafka no partition keeps its files open. Segments are opened on demand through one cache
//! for the whole log ([`files`]), which keeps at most `max_open_files` open (least recently
//! used out first), so thousands of partitions do not take the descriptors that connections
//! need. The writer fsyncs the very descriptors it wrote through, whatever the cache closed
//! meanwhile.
//!
//! Caps: at most `max_topics` topics and `max_partitions` partitions in all ([`Limits`]);
//! creating more is [`BackendError::OverLimit`] (429), naming the cap and its flag. An
//! exhausted OS resource (descriptors, disk space, memory) is
//! [`BackendError::ResourceExhausted`] (503): the failed produce is taken back whole, nothing
//! of it is acknowledged, and the next one succeeds once the resource is back.

pub(crate) mod files;
pub(crate) mod marks;
pub(crate) mod meta;
pub(crate) mod record;
pub(crate) mod segment;
mod writer;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::watch;

use crate::config::Limits;
use crate::error::BackendError;
use upkafka_protocol::{Message, validate_topic_name};

use files::FileCache;
pub(crate) use record::{BatchMark, StoredRecord};
use segment::DiskStore;

/// Default segment size before rolling to a new file.
pub const DEFAULT_SEGMENT_BYTES: u64 = 128 * 1024 * 1024;

/// How to open the embedded log: where it is stored and how its segments roll.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Directory for durable storage; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Segment size before a new file is started (default 128 MiB).
    pub segment_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Records of an in-memory partition.
#[derive(Debug, Default)]
pub(crate) struct MemStore {
    records: Vec<StoredRecord>,
    max_ts: Vec<i64>,
}

#[derive(Debug)]
pub(crate) enum Store {
    Mem(MemStore),
    Disk(DiskStore),
}

/// One partition: its storage behind one lock, and a watch channel carrying the end offset so
/// that long-polling readers wake when records become visible.
#[derive(Debug)]
pub struct Partition {
    topic: Arc<str>,
    id: i32,
    store: Mutex<Store>,
    end: watch::Sender<i64>,
}

impl Partition {
    fn new(topic: Arc<str>, id: i32, store: Store) -> Self {
        let end = match &store {
            Store::Mem(m) => m.records.len(),
            Store::Disk(d) => d.visible,
        } as i64;
        Self {
            topic,
            id,
            store: Mutex::new(store),
            end: watch::channel(end).0,
        }
    }

    /// Partition number.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-updated in a way readers
        // would misinterpret (visibility is published last), so poisoning is ignored.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offset the next record will get (the high watermark): `latest`.
    pub fn end_offset(&self) -> i64 {
        *self.end.borrow()
    }

    /// A receiver that changes whenever the end offset moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end.subscribe()
    }

    /// Moves the end offset to `end` and wakes the long-polling readers, if any. Waking is not
    /// free (tokio's watch notifies eight shards, each behind a lock), so with nobody
    /// subscribed only the value changes. That cannot lose a wake-up: a reader subscribes
    /// before it takes the store lock to read and this runs after the append released it, so
    /// either this sees the subscription or the reader sees the records.
    fn publish(&self, end: i64) {
        let waiting = self.end.receiver_count() > 0;
        self.end.send_if_modified(|v| {
            *v = end;
            waiting
        });
    }

    /// First offset whose record timestamp is ≥ `ts` (Kafka `offsetsForTimes`), if any.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<i64> {
        match &*self.lock() {
            Store::Mem(m) => {
                let idx = m.max_ts.partition_point(|t| *t < ts);
                (idx < m.max_ts.len()).then_some(idx as i64)
            }
            Store::Disk(d) => d.offset_for_timestamp(ts),
        }
    }

    /// Appends records to an in-memory partition under one lock; returns the base offset.
    fn append_mem(&self, records: Vec<StoredRecord>) -> Result<i64, BackendError> {
        let mut guard = self.lock();
        let Store::Mem(m) = &mut *guard else {
            return Err(BackendError::Internal(
                "in-memory append on a durable partition".into(),
            ));
        };
        let base = m.records.len() as i64;
        let mut max = m.max_ts.last().copied().unwrap_or(i64::MIN);
        m.max_ts.reserve(records.len());
        for r in &records {
            max = max.max(r.timestamp);
            m.max_ts.push(max);
        }
        m.records.extend(records);
        let end = m.records.len() as i64;
        drop(guard);
        self.publish(end);
        Ok(base)
    }

    /// Reads visible records from `from` on, at most `max_records` and about `max_bytes`
    /// (always at least one record if one is there), appending them to `out`.
    /// Returns the number of bytes counted.
    pub(crate) fn read_into(
        &self,
        from: i64,
        max_records: usize,
        max_bytes: usize,
        out: &mut Vec<Message>,
    ) -> Result<usize, BackendError> {
        if from < 0 || max_records == 0 {
            return Ok(0);
        }
        let from_idx = from as usize;
        let (files, runs) = {
            let guard = self.lock();
            match &*guard {
                Store::Mem(m) => {
                    let mut bytes = 0usize;
                    let end = m.records.len().min(from_idx.saturating_add(max_records));
                    for (i, r) in m
                        .records
                        .get(from_idx..end)
                        .unwrap_or(&[])
                        .iter()
                        .enumerate()
                    {
                        let size = r.size();
                        if bytes > 0 && bytes + size > max_bytes {
                            break;
                        }
                        bytes += size;
                        out.push(Message {
                            topic: self.topic.to_string(),
                            partition: self.id,
                            offset: from + i as i64,
                            timestamp: r.timestamp,
                            key: r.key.clone().unwrap_or_default(),
                            value: r.value.clone(),
                            headers: r.headers.clone(),
                        });
                    }
                    return Ok(bytes);
                }
                Store::Disk(d) => (
                    Arc::clone(d.files()),
                    d.plan_read(from_idx, max_records, max_bytes),
                ),
            }
        };
        // Read outside the lock; the frames are immutable once visible.
        let mut bytes = 0usize;
        let mut expected = from;
        for (seg, pos, len, count) in runs {
            let buf = files
                .get(&seg)
                .and_then(|file| segment::read_run(&file, pos, len))
                .map_err(|e| {
                    BackendError::storage(format_args!("reading {}/{}", self.topic, self.id), &e)
                })?;
            let mut at = 0usize;
            for _ in 0..count {
                let (offset, r, flen) = record::decode(&buf[at..]).map_err(|e| {
                    BackendError::Corrupt(format!(
                        "{}/{} offset {expected}: {e}",
                        self.topic, self.id
                    ))
                })?;
                if offset != expected {
                    return Err(BackendError::Corrupt(format!(
                        "{}/{}: expected offset {expected}, found {offset}",
                        self.topic, self.id
                    )));
                }
                at += flen;
                bytes += flen;
                expected += 1;
                out.push(Message {
                    topic: self.topic.to_string(),
                    partition: self.id,
                    offset,
                    timestamp: r.timestamp,
                    key: r.key.unwrap_or_default(),
                    value: r.value,
                    headers: r.headers,
                });
            }
        }
        Ok(bytes)
    }
}

/// A topic: its partitions and the round-robin cursor for records without key or partition.
#[derive(Debug)]
pub struct Topic {
    name: Arc<str>,
    partitions: Vec<Arc<Partition>>,
    round_robin: AtomicUsize,
}

impl Topic {
    /// Topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }

    /// Partition `id`, if it exists.
    pub fn partition(&self, id: i32) -> Option<&Arc<Partition>> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// The next partition for a record with neither key nor partition (round robin).
    pub fn next_round_robin(&self) -> i32 {
        (self.round_robin.fetch_add(1, Ordering::Relaxed) % self.partitions.len().max(1)) as i32
    }
}

/// The log: every topic, and for a data directory the writer that makes appends durable.
#[derive(Debug)]
pub struct Log {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    dir: Option<PathBuf>,
    segment_bytes: u64,
    writer: Option<writer::Writer>,
    /// Open segment files of every partition, at most `max_open_files`.
    files: Arc<FileCache>,
    max_topics: usize,
    max_partitions: usize,
    create_lock: Mutex<()>,
    /// Idempotency marks found on open (issue 16), until the backend takes them.
    recovered: Mutex<Vec<(Arc<str>, i32, marks::MarkedGroup)>>,
    /// Held open for the log's lifetime: an exclusive lock on `<data_dir>/LOCK`, so that a
    /// second server cannot open (and recover, i.e. possibly truncate) the same directory.
    _dir_lock: Option<fs::File>,
}

/// Takes the exclusive lock on `<dir>/LOCK`, released when the returned file is closed
/// (also when the process dies, so a `kill -9` leaves no stale lock).
fn lock_data_dir(dir: &Path) -> Result<fs::File, BackendError> {
    let path = dir.join("LOCK");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| BackendError::storage(format_args!("opening {}", path.display()), &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(BackendError::Io(format!(
            "data directory {} is in use by another upkafka server",
            dir.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(BackendError::storage(
            format_args!("locking {}", path.display()),
            &e,
        )),
    }
}

impl Log {
    /// Opens the log: in memory, or from (and into) `options.data_dir`, recovering every
    /// partition found in `topics.json`. Of `limits` it uses `max_open_files`, `max_topics`
    /// and `max_partitions`; topics already stored open even beyond the caps (nothing stored
    /// is ever hidden), only new ones are refused.
    pub fn open(options: &LogOptions, limits: &Limits) -> Result<Self, BackendError> {
        let mut topics = HashMap::new();
        let mut dir_lock = None;
        let files = Arc::new(FileCache::new(limits.max_open_files));
        let mut recovered = Vec::new();
        // Keys answered before the window began are forgotten anyway: not even collected.
        let window = i64::try_from(limits.idempotency_window.as_millis()).unwrap_or(i64::MAX);
        let mark_since = crate::backend::clock::now_ms().saturating_sub(window);
        let writer = match &options.data_dir {
            None => None,
            Some(dir) => {
                fs::create_dir_all(dir.join("topics")).map_err(|e| {
                    BackendError::storage(format_args!("creating data dir {}", dir.display()), &e)
                })?;
                dir_lock = Some(lock_data_dir(dir)?);
                for (name, count) in meta::read_topics(dir)? {
                    validate_topic_name(&name).map_err(|e| {
                        BackendError::Corrupt(format!("topics.json names a bad topic: {e}"))
                    })?;
                    let topic = open_disk_topic(
                        dir,
                        &name,
                        count,
                        options.segment_bytes,
                        &files,
                        mark_since,
                    )?;
                    for p in &topic.partitions {
                        if let Store::Disk(d) = &mut *p.lock() {
                            recovered.extend(
                                d.take_marks()
                                    .into_iter()
                                    .map(|g| (Arc::clone(&topic.name), p.id, g)),
                            );
                        }
                    }
                    topics.insert(name, Arc::new(topic));
                }
                Some(writer::Writer::start())
            }
        };
        let partitions: usize = topics.values().map(|t| t.partitions.len()).sum();
        if topics.len() > limits.max_topics || partitions > limits.max_partitions {
            tracing::warn!(
                topics = topics.len(),
                partitions,
                max_topics = limits.max_topics,
                max_partitions = limits.max_partitions,
                "the data directory holds more than --max-topics or --max-partitions allow; \
                 all are served, new topics are refused"
            );
        }
        Ok(Self {
            topics: RwLock::new(topics),
            dir: options.data_dir.clone(),
            segment_bytes: options.segment_bytes,
            writer,
            files,
            max_topics: limits.max_topics,
            max_partitions: limits.max_partitions,
            create_lock: Mutex::new(()),
            recovered: Mutex::new(recovered),
            _dir_lock: dir_lock,
        })
    }

    /// Segment files held open now (at most `max_open_files`).
    #[cfg(test)]
    pub(crate) fn open_files(&self) -> usize {
        self.files.open_count()
    }

    /// Segment files opened since the log was (to see reopens after evictions).
    #[cfg(test)]
    pub(crate) fn file_opens(&self) -> u64 {
        self.files.opens()
    }

    /// Refuses a new topic of `partitions` partitions beyond `max_topics` or
    /// `max_partitions` (called under the creation lock, so the counts cannot move).
    fn check_caps(&self, name: &str, partitions: i32) -> Result<(), BackendError> {
        let map = self.topics.read().unwrap_or_else(|p| p.into_inner());
        let topics = map.len();
        if topics >= self.max_topics {
            return Err(BackendError::OverLimit(format!(
                "topic `{name}` cannot be created: the server has {topics} topics, the most \
                 --max-topics allows ({})",
                self.max_topics
            )));
        }
        let existing: usize = map.values().map(|t| t.partitions.len()).sum();
        let wanted = usize::try_from(partitions).unwrap_or(0);
        if existing.saturating_add(wanted) > self.max_partitions {
            return Err(BackendError::OverLimit(format!(
                "topic `{name}` with {wanted} partition{} cannot be created: the server has \
                 {existing} partitions and --max-partitions allows {} in all",
                if wanted == 1 { "" } else { "s" },
                self.max_partitions
            )));
        }
        Ok(())
    }

    /// The data directory, if durable.
    pub fn data_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The topic named `name`, if it exists.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Topic name → partition count.
    pub fn topic_counts(&self) -> Vec<(String, i32)> {
        let map = self.topics.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(n, t)| (n.clone(), t.partition_count()))
            .collect()
    }

    /// Creates a topic with `partitions` partitions, or returns the existing one (whose
    /// partition count wins; a different request is logged).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, BackendError> {
        validate_topic_name(name).map_err(BackendError::InvalidTopicName)?;
        if !(1..=100_000).contains(&partitions) {
            return Err(BackendError::InvalidRequest(format!(
                "topic {name}: partition count {partitions} must be between 1 and 100000"
            )));
        }
        let _serial = self.create_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = self.topic(name) {
            if t.partition_count() != partitions {
                tracing::warn!(
                    topic = name,
                    existing = t.partition_count(),
                    requested = partitions,
                    "topic exists with a different partition count; keeping the existing one"
                );
            }
            return Ok(t);
        }
        self.check_caps(name, partitions)?;
        let topic = match &self.dir {
            None => {
                let name_arc: Arc<str> = Arc::from(name);
                Topic {
                    partitions: (0..partitions)
                        .map(|p| {
                            Arc::new(Partition::new(
                                Arc::clone(&name_arc),
                                p,
                                Store::Mem(MemStore::default()),
                            ))
                        })
                        .collect(),
                    name: name_arc,
                    round_robin: AtomicUsize::new(0),
                }
            }
            Some(dir) => {
                let t = open_disk_topic(
                    dir,
                    name,
                    partitions,
                    self.segment_bytes,
                    &self.files,
                    i64::MAX,
                )?;
                let mut counts: Vec<(String, i32)> = self.topic_counts();
                counts.push((name.to_owned(), partitions));
                meta::write_topics(dir, &counts)?;
                t
            }
        };
        let topic = Arc::new(topic);
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), Arc::clone(&topic));
        Ok(topic)
    }

    /// Appends record groups, one per partition (each group gets contiguous offsets).
    /// Returns each group's base offset, in input order. With a data directory this resolves
    /// only after the records are fsynced.
    pub(crate) async fn append(
        &self,
        groups: Vec<(Arc<Partition>, Vec<StoredRecord>)>,
    ) -> Result<Vec<i64>, BackendError> {
        match &self.writer {
            None => groups
                .into_iter()
                .map(|(p, recs)| p.append_mem(recs))
                .collect(),
            Some(w) => w.submit(groups).await,
        }
    }

    /// [`Log::append`] of a batch that came with an idempotency key: the first record of each
    /// group carries that group's mark (`marks[i]` for `groups[i]`), so that the key is
    /// rebuilt from the log after a restart ([`Log::take_recovered_batches`]). In memory the
    /// marks are not kept (nothing outlives the process).
    pub(crate) async fn append_marked(
        &self,
        groups: Vec<(Arc<Partition>, Vec<StoredRecord>)>,
        marks: Vec<BatchMark>,
    ) -> Result<Vec<i64>, BackendError> {
        match &self.writer {
            None => self.append(groups).await,
            Some(w) => w.submit_marked(groups, Some(marks)).await,
        }
    }

    /// The keyed batches the log held complete when it was opened, stored within the
    /// idempotency window (once; later calls get none).
    pub(crate) fn take_recovered_batches(&self) -> Vec<marks::RecoveredBatch> {
        let groups = std::mem::take(&mut *self.recovered.lock().unwrap_or_else(|p| p.into_inner()));
        marks::assemble(groups)
    }

    /// Stops the writer after it has written and fsynced everything queued.
    pub async fn close(&self) -> Result<(), BackendError> {
        if let Some(w) = &self.writer {
            w.close().await?;
        }
        Ok(())
    }
}

fn open_disk_topic(
    dir: &Path,
    name: &str,
    partitions: i32,
    segment_bytes: u64,
    files: &Arc<FileCache>,
    mark_since: i64,
) -> Result<Topic, BackendError> {
    let name_arc: Arc<str> = Arc::from(name);
    let mut parts = Vec::with_capacity(partitions.max(0) as usize);
    for p in 0..partitions {
        let pdir = dir.join("topics").join(name).join(p.to_string());
        // Marks are collected from the scan of the stored topics only (`Log::open`), not for a
        // topic created now.
        let store =
            DiskStore::open(&pdir, segment_bytes, Arc::clone(files), mark_since).map_err(|e| {
                BackendError::storage(format_args!("opening partition {}", pdir.display()), &e)
            })?;
        parts.push(Arc::new(Partition::new(
            Arc::clone(&name_arc),
            p,
            Store::Disk(store),
        )));
    }
    // Make the new directory entries themselves durable (power loss, not just a crash).
    let tdir = dir.join("topics");
    for d in [tdir.join(name), tdir] {
        segment::sync_dir(&d)
            .map_err(|e| BackendError::storage(format_args!("syncing {}", d.display()), &e))?;
    }
    Ok(Topic {
        name: name_arc,
        partitions: parts,
        round_robin: AtomicUsize::new(0),
    })
}

#[cfg(test)]
mod tests;
