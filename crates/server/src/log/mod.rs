//! The embedded log: partitioned topics, in memory or durable in a data directory.
//!
//! Layout of a data directory:
//!
//! ```text
//! <data-dir>/topics.json                      topic name → partitions, creation time, settings
//! <data-dir>/offsets.json                     committed offsets of consumer groups
//! <data-dir>/topics/<topic>/<partition>/<base offset>.log   segment files
//! <data-dir>/topics/<topic>/<partition>/<base>-<end>.log     compacted segment files
//! <data-dir>/deleted/<topic>-<nanos>/          a deleted topic's files, until removed
//! ```
//!
//! Topics ([`Log::add_topic`], [`Log::alter_topic`], [`Log::delete_topic`]) carry their
//! [`TopicSettings`]; `topics.json` is replaced atomically on every change. Deleting a topic
//! first renames its directory into `deleted/` (one atomic rename, fsynced), then rewrites
//! `topics.json`, then removes the files. A crash between the steps leaves either the topic
//! whole and listed, or listed with no data, or a leftover in `deleted/` that the next start
//! removes; never the old data under a re-created topic of the same name.
//!
//! Durability: a produce is acknowledged only after its records are written and fsynced. A
//! single writer thread does the writing ("group commit"): it drains every batch queued while
//! the previous fsync ran, writes them all, fsyncs each touched segment once, and then
//! acknowledges them together, so concurrent producers share fsyncs. On open every segment is
//! scanned and a torn or corrupt tail (bad CRC, short frame, offset gap) is truncated, so what
//! was acknowledged before a crash is back and nothing half-written is ever served.
//!
//! Retention and compaction ([`cleaner`]): segments roll by size and age (`segment_bytes`,
//! `segment_ms` of the topic, read at every append); a background thread deletes closed
//! segments past `retention_ms`/`retention_bytes`, or compacts them on a compacted topic, and
//! the start offset ([`Partition::start_offset`]) moves up. A read from below the start
//! offset starts at it (the records carry their real offsets, so the jump shows).
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

pub(crate) mod cleaner;
pub(crate) mod files;
pub(crate) mod index;
pub(crate) mod marks;
pub(crate) mod memory;
pub(crate) mod meta;
pub(crate) mod record;
pub(crate) mod segment;
pub mod settings;
mod writer;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::by_name::ByName;
use crate::config::Limits;
use crate::error::BackendError;
use upkafka_protocol::{Message, validate_topic_name};

pub(crate) use cleaner::DEFAULT_CLEANER_INTERVAL;
use cleaner::{CleanState, Cleaner, Signal};
use files::FileCache;
pub(crate) use memory::MemStore;
use meta::StoredTopic;
pub(crate) use record::{BatchMark, StoredRecord};
use segment::{DiskStore, RollPolicy};
#[cfg(test)]
pub(crate) use settings::DEFAULT_SEGMENT_BYTES;
pub use settings::{SettingsPatch, TopicSettings};
use smallvec::SmallVec;

/// One append ([`Log::append_at`]): per partition, its records in order. Room for one partition
/// inline, where every single-message produce lands: its groups and their [`Bases`] allocate
/// nothing of their own (issue 19). A `Vec` of groups converts into it.
pub(crate) type Append = SmallVec<[(Arc<Partition>, Vec<StoredRecord>); 1]>;

/// The base offset of each group of an append, in the order of its [`Append`].
pub(crate) type Bases = SmallVec<[i64; 1]>;

/// How to open the embedded log: where it is stored, the settings of topics created
/// without their own (`serve --topic`, auto-created topics), and how often retention and
/// compaction look at every partition.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Directory for durable storage; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Settings of topics created without their own ([`TopicSettings::default`]: Kafka's
    /// defaults, 128 MiB segments).
    pub topic_defaults: TopicSettings,
    /// Time between two passes of the cleaner (default 1 s; a rolled segment wakes it early).
    pub cleaner_interval: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            topic_defaults: TopicSettings::default(),
            cleaner_interval: DEFAULT_CLEANER_INTERVAL,
        }
    }
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
    /// Set once its topic is deleted: readers stop waiting and answer unknown topic.
    deleted: AtomicBool,
    /// Its topic's settings (shared with the topic, so an alter applies at once).
    settings: Arc<RwLock<TopicSettings>>,
    /// What the cleaner remembers of it between passes (only the cleaner takes it).
    clean_state: Mutex<CleanState>,
}

impl Partition {
    fn new(topic: Arc<str>, id: i32, store: Store, settings: Arc<RwLock<TopicSettings>>) -> Self {
        let end = match &store {
            Store::Mem(m) => m.next_offset(),
            Store::Disk(d) => d.visible,
        };
        Self {
            topic,
            id,
            store: Mutex::new(store),
            end: watch::channel(end).0,
            deleted: AtomicBool::new(false),
            settings,
            clean_state: Mutex::new(CleanState::default()),
        }
    }

    /// Its topic's settings now.
    pub(crate) fn settings(&self) -> TopicSettings {
        *self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    /// When the active segment rolls, by the topic's settings now.
    pub(crate) fn roll_policy(&self) -> RollPolicy {
        self.roll_policy_at(crate::backend::clock::now_ms())
    }

    /// [`Partition::roll_policy`] for a write at `now_ms` (epoch ms).
    fn roll_policy_at(&self, now_ms: i64) -> RollPolicy {
        let s = self.settings();
        RollPolicy {
            segment_bytes: s.segment_bytes.max(1),
            segment_ms: s.segment_ms,
            now_ms,
        }
    }

    /// The cleaner's memory of this partition.
    fn clean_state(&self) -> MutexGuard<'_, CleanState> {
        self.clean_state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether it lives in memory (no data directory).
    fn is_memory(&self) -> bool {
        matches!(&*self.lock(), Store::Mem(_))
    }

    /// The earliest offset still kept (Kafka's log start offset): 0 until retention deletes
    /// a segment. Reads from below it start at it.
    pub fn start_offset(&self) -> i64 {
        match &*self.lock() {
            Store::Mem(m) => m.start_offset(),
            Store::Disk(d) => d.start_offset(),
        }
    }

    /// Bytes this partition's records take: its segments' sizes on disk, or the records'
    /// sizes in memory.
    pub fn stored_bytes(&self) -> u64 {
        match &*self.lock() {
            Store::Mem(m) => m.size(),
            Store::Disk(d) => d.size(),
        }
    }

    /// Whether its topic was deleted (a reader holding it must stop and say so).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Marks the partition deleted and wakes every reader waiting on it, so that a long
    /// poll or a stream ends at once with an error instead of waiting for records that
    /// will never come.
    fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.end.send_modify(|_| {});
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

    /// First offset whose record timestamp is ≥ `ts` (Kafka `offsetsForTimes`), if any. On
    /// disk a closed segment's sparse index leaves a bounded scan of its file (under the
    /// partition lock: at most [`index::INTERVAL_BYTES`] and one frame).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<i64>, BackendError> {
        match &*self.lock() {
            Store::Mem(m) => Ok(m.offset_for_timestamp(ts)),
            Store::Disk(d) => d.offset_for_timestamp(ts).map_err(|e| {
                BackendError::storage(
                    format_args!("searching {}/{} by time", self.topic, self.id),
                    &e,
                )
            }),
        }
    }

    /// Appends records to an in-memory partition under one lock, written at `now_ms` (epoch
    /// ms, what `segment_ms` counts from); returns the base offset. Wakes the cleaner if a
    /// segment rolled.
    fn append_mem(
        &self,
        records: Vec<StoredRecord>,
        now_ms: i64,
        cleaner: &Signal,
    ) -> Result<i64, BackendError> {
        let roll = self.roll_policy_at(now_ms);
        let mut guard = self.lock();
        let Store::Mem(m) = &mut *guard else {
            return Err(BackendError::Internal(
                "in-memory append on a durable partition".into(),
            ));
        };
        let segments = m.segments.len();
        let base = m.append(records, roll);
        let end = m.next_offset();
        let rolled = m.segments.len() != segments;
        drop(guard);
        if rolled {
            cleaner.wake();
        }
        self.publish(end);
        Ok(base)
    }

    /// Reads visible records from `from` on, at most `max_records` and about `max_bytes`
    /// (always at least one record if one is there), appending them to `out`.
    /// Returns the number of bytes counted.
    ///
    /// A `from` below the start offset (records deleted by retention) reads from the start
    /// offset: the records carry their own offsets, so a reader sees where it resumed. On a
    /// compacted topic offsets have gaps; each record keeps the offset it was written at.
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
        // At the first record, room for all the answer may hold (up to 1024: beyond, it
        // grows): growing a 500-record answer by doubling cost a large allocation at every
        // step, each also consolidating glibc's freed small chunks. Nothing is reserved for a
        // read that finds nothing (a waiting poll reads on every append).
        let room = max_records.min(1024);
        let push = |out: &mut Vec<Message>, m: Message| {
            if out.len() == out.capacity() {
                out.reserve(room);
            }
            out.push(m);
        };
        let message = |offset: i64, r: StoredRecord| Message {
            topic: self.topic.to_string(),
            partition: self.id,
            offset,
            timestamp: r.timestamp,
            key: r.key.unwrap_or_default(),
            tombstone: r.value.is_none(),
            value: r.value.unwrap_or_default(),
            headers: r.headers,
        };
        let storage = |e: &io::Error| {
            BackendError::storage(format_args!("reading {}/{}", self.topic, self.id), e)
        };
        let mut bytes = 0usize;
        let mut records = 0usize;
        let mut from = from;
        loop {
            let plan = {
                let guard = self.lock();
                match &*guard {
                    Store::Mem(m) => {
                        m.read(from, max_records, max_bytes, |offset, r, size| {
                            bytes += size;
                            push(out, message(offset, r.clone()));
                        });
                        return Ok(bytes);
                    }
                    Store::Disk(d) => d
                        .plan_read(from, max_records - records, max_bytes, bytes)
                        .map_err(|e| storage(&e))?,
                }
            };
            // Read outside the lock, through the descriptors the plan was made with: the
            // frames are immutable once visible, and a segment deleted or compacted meanwhile
            // is still read from the file it was planned on.
            match plan {
                segment::ReadPlan::Frames(runs) => {
                    for run in runs {
                        let buf = segment::read_at(&run.file, run.pos, run.len)
                            .map_err(|e| storage(&e))?;
                        let mut at = 0usize;
                        for expected in run.offsets {
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
                            push(out, message(offset, r));
                        }
                    }
                    return Ok(bytes);
                }
                // A sealed segment: decode from its sparse point, then go on in the next
                // segment while the limits leave room.
                segment::ReadPlan::Scan(run) => {
                    let (n, b, at_end) = segment::read_scan(
                        &run,
                        max_records - records,
                        max_bytes,
                        bytes,
                        |offset, r| push(out, message(offset, r)),
                    )
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::InvalidData => {
                            BackendError::Corrupt(format!("{}/{}: {e}", self.topic, self.id))
                        }
                        _ => storage(&e),
                    })?;
                    records += n;
                    bytes += b;
                    if !at_end || records >= max_records || bytes >= max_bytes {
                        return Ok(bytes);
                    }
                    from = run.next;
                }
            }
        }
    }
}

/// A topic: its partitions and the round-robin cursor for records without key or partition.
#[derive(Debug)]
pub struct Topic {
    name: Arc<str>,
    partitions: Vec<Arc<Partition>>,
    round_robin: AtomicUsize,
    /// Retention, compaction and size settings; replaced whole by [`Log::alter_topic`].
    /// Shared with its partitions, which read them at every append and cleaning pass.
    settings: Arc<RwLock<TopicSettings>>,
    /// Creation time, ms since the epoch (0 if stored by a version that did not record it).
    created_ms: i64,
}

impl Topic {
    /// Topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic's current settings.
    pub fn settings(&self) -> TopicSettings {
        *self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Creation time in ms since the epoch (0 if unknown).
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// Its entry in `topics.json`.
    fn stored(&self) -> StoredTopic {
        StoredTopic::Full {
            partitions: self.partition_count(),
            created_ms: self.created_ms,
            settings: self.settings(),
        }
    }

    /// Bytes its records take (the sum of its partitions' segment sizes, or of the record
    /// sizes in memory).
    pub fn stored_bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.stored_bytes()).sum()
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
    /// Shared with the cleaner thread (which holds it weakly).
    topics: Arc<cleaner::Topics>,
    dir: Option<PathBuf>,
    topic_defaults: TopicSettings,
    writer: Option<writer::Writer>,
    /// Open segment files of every partition, at most `max_open_files`.
    files: Arc<FileCache>,
    max_topics: usize,
    max_partitions: usize,
    /// Serializes topic creation, alteration and deletion; the cleaner takes it too, for its
    /// changes to partition directories (see [`cleaner`]).
    create_lock: Arc<Mutex<()>>,
    /// Retention and compaction; stopped when the log is dropped.
    cleaner: Mutex<Option<Cleaner>>,
    /// Wakes the cleaner when an append rolled a segment.
    cleaner_signal: Arc<Signal>,
    /// Idempotency marks found on open (issue 16), until the backend takes them.
    recovered: Mutex<Vec<marks::PartitionGroup>>,
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
        let mut topics = ByName::default();
        let mut dir_lock = None;
        let cleaner_signal = Arc::new(Signal::default());
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
                remove_deleted_leftovers(dir);
                for (name, stored) in meta::read_topics(dir)? {
                    validate_topic_name(&name).map_err(|e| {
                        BackendError::Corrupt(format!("topics.json names a bad topic: {e}"))
                    })?;
                    let (count, created_ms, settings) = stored.parts();
                    let topic = open_disk_topic(
                        dir, &name, count, created_ms, settings, &files, mark_since,
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
                Some(writer::Writer::start(Arc::clone(&cleaner_signal)))
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
        let topics = Arc::new(RwLock::new(topics));
        let create_lock = Arc::new(Mutex::new(()));
        let cleaner = Cleaner::start(
            Arc::downgrade(&topics),
            Arc::clone(&create_lock),
            options.cleaner_interval,
            Arc::clone(&cleaner_signal),
        );
        Ok(Self {
            topics,
            dir: options.data_dir.clone(),
            topic_defaults: options.topic_defaults,
            writer,
            files,
            max_topics: limits.max_topics,
            max_partitions: limits.max_partitions,
            create_lock,
            cleaner: Mutex::new(Some(cleaner)),
            cleaner_signal,
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

    /// The settings of topics created without their own.
    pub fn topic_defaults(&self) -> TopicSettings {
        self.topic_defaults
    }

    /// Every topic.
    pub fn all_topics(&self) -> Vec<Arc<Topic>> {
        let map = self.topics.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Topic name → partition count.
    pub fn topic_counts(&self) -> Vec<(String, i32)> {
        let map = self.topics.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(n, t)| (n.clone(), t.partition_count()))
            .collect()
    }

    /// Creates a topic with `partitions` partitions and the default settings, or returns the
    /// existing one (whose partition count and settings win; a different count is logged).
    /// For topics named at start and auto-created topics.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, BackendError> {
        self.create(name, partitions, self.topic_defaults, false)
    }

    /// Creates a topic with `settings`, or returns the existing one as it is (topics named
    /// at start).
    pub fn create_or_open_topic(
        &self,
        name: &str,
        partitions: i32,
        settings: TopicSettings,
    ) -> Result<Arc<Topic>, BackendError> {
        self.create(name, partitions, settings, false)
    }

    /// Creates a topic with its own settings (the management API): an existing topic of that
    /// name is [`BackendError::TopicExists`].
    pub fn add_topic(
        &self,
        name: &str,
        partitions: i32,
        settings: TopicSettings,
    ) -> Result<Arc<Topic>, BackendError> {
        self.create(name, partitions, settings, true)
    }

    fn create(
        &self,
        name: &str,
        partitions: i32,
        settings: TopicSettings,
        must_be_new: bool,
    ) -> Result<Arc<Topic>, BackendError> {
        validate_topic_name(name).map_err(BackendError::InvalidTopicName)?;
        if !(1..=100_000).contains(&partitions) {
            return Err(BackendError::InvalidRequest(format!(
                "topic {name}: partition count {partitions} must be between 1 and 100000"
            )));
        }
        settings
            .validate()
            .map_err(|e| BackendError::InvalidRequest(format!("topic {name}: {e}")))?;
        let _serial = self.create_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = self.topic(name) {
            if must_be_new {
                return Err(BackendError::TopicExists(name.to_owned()));
            }
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
        let created_ms = crate::backend::clock::now_ms();
        let topic = match &self.dir {
            None => {
                let name_arc: Arc<str> = Arc::from(name);
                let settings = Arc::new(RwLock::new(settings));
                Topic {
                    partitions: (0..partitions)
                        .map(|p| {
                            Arc::new(Partition::new(
                                Arc::clone(&name_arc),
                                p,
                                Store::Mem(MemStore::default()),
                                Arc::clone(&settings),
                            ))
                        })
                        .collect(),
                    name: name_arc,
                    round_robin: AtomicUsize::new(0),
                    settings,
                    created_ms,
                }
            }
            Some(dir) => {
                // A directory of this name that topics.json does not list can only be left by
                // a creation that crashed before it was recorded: the new topic starts empty.
                let tdir = dir.join("topics").join(name);
                if tdir.exists() {
                    move_to_deleted(dir, name)?;
                }
                // Marks are collected from the stored topics only (`Log::open`).
                open_disk_topic(
                    dir,
                    name,
                    partitions,
                    created_ms,
                    settings,
                    &self.files,
                    i64::MAX,
                )?
            }
        };
        let topic = Arc::new(topic);
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), Arc::clone(&topic));
        if let Err(e) = self.persist_topics() {
            self.topics
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
            return Err(e);
        }
        Ok(topic)
    }

    /// Changes the settings `patch` names (the management API's update); the new settings
    /// apply to the next roll, retention and compaction pass. Returns the topic.
    pub fn alter_topic(
        &self,
        name: &str,
        patch: &SettingsPatch,
    ) -> Result<Arc<Topic>, BackendError> {
        let _serial = self.create_lock.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self
            .topic(name)
            .ok_or_else(|| BackendError::UnknownTopic(name.to_owned()))?;
        let settings = patch.apply(topic.settings());
        settings
            .validate()
            .map_err(|e| BackendError::InvalidRequest(format!("topic {name}: {e}")))?;
        let before = std::mem::replace(
            &mut *topic.settings.write().unwrap_or_else(|p| p.into_inner()),
            settings,
        );
        if let Err(e) = self.persist_topics() {
            *topic.settings.write().unwrap_or_else(|p| p.into_inner()) = before;
            return Err(e);
        }
        Ok(topic)
    }

    /// Deletes a topic and its records. Readers waiting on it wake and answer unknown
    /// topic; producing to it afterwards is unknown topic (unless auto-creation makes a new,
    /// empty one). Committed offsets are the backend's to forget.
    pub fn delete_topic(&self, name: &str) -> Result<(), BackendError> {
        let _serial = self.create_lock.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self
            .topic(name)
            .ok_or_else(|| BackendError::UnknownTopic(name.to_owned()))?;
        let moved = match &self.dir {
            Some(dir) => Some(move_to_deleted(dir, name)?),
            None => None,
        };
        self.topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        for p in &topic.partitions {
            p.mark_deleted();
            if let Store::Disk(d) = &*p.lock() {
                d.forget_files();
            }
        }
        // The rename already took the data away; if topics.json cannot be rewritten the
        // topic comes back empty after a restart, and deleting it again finishes the job.
        let persisted = self.persist_topics();
        if let Some(moved) = moved
            && let Err(e) = fs::remove_dir_all(&moved)
        {
            tracing::warn!(path = %moved.display(), "cannot remove a deleted topic's files yet: {e}; the next start retries");
        }
        persisted
    }

    /// Rewrites `topics.json` from the topics in memory (under the creation lock).
    fn persist_topics(&self) -> Result<(), BackendError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let stored: BTreeMap<String, StoredTopic> = {
            let map = self.topics.read().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(n, t)| (n.clone(), t.stored())).collect()
        };
        meta::write_topics(dir, &stored)
    }

    /// [`Log::append_at`] at the time of the call: the tests' shorthand.
    #[cfg(test)]
    pub(crate) async fn append(&self, groups: impl Into<Append>) -> Result<Bases, BackendError> {
        self.append_at(groups, None).await
    }

    /// Appends record groups, one per partition (each group gets contiguous offsets).
    /// Returns each group's base offset, in input order. With a data directory this resolves
    /// only after the records are fsynced.
    ///
    /// `planned_ms` is when the groups were planned (epoch ms, the clock reading that gave
    /// their records without a timestamp theirs): in memory the segments roll by that time
    /// rather than by a second reading of the clock (issue 19); `None` reads the clock, and
    /// only for an in-memory append. With a data directory the writer reads the clock as it
    /// writes, since a write may wait for the round before it.
    pub(crate) async fn append_at(
        &self,
        groups: impl Into<Append>,
        planned_ms: Option<i64>,
    ) -> Result<Bases, BackendError> {
        let groups = groups.into();
        match &self.writer {
            None => {
                let now_ms = planned_ms.unwrap_or_else(crate::backend::clock::now_ms);
                groups
                    .into_iter()
                    .map(|(p, recs)| p.append_mem(recs, now_ms, &self.cleaner_signal))
                    .collect()
            }
            Some(w) => w.submit(groups).await,
        }
    }

    /// [`Log::append_at`] of a batch that came with an idempotency key: the first record of each
    /// group carries that group's mark (`marks()[i]` for `groups[i]`), so that the key is
    /// rebuilt from the log after a restart ([`Log::take_recovered_batches`]). In memory the
    /// marks are not kept (nothing outlives the process), so they are not even built;
    /// `planned_ms` as for [`Log::append_at`].
    pub(crate) async fn append_marked(
        &self,
        groups: impl Into<Append>,
        planned_ms: Option<i64>,
        marks: impl FnOnce() -> Vec<BatchMark>,
    ) -> Result<Bases, BackendError> {
        let groups = groups.into();
        match &self.writer {
            None => self.append_at(groups, planned_ms).await,
            Some(w) => w.submit_marked(groups, Some(marks())).await,
        }
    }

    /// The keyed batches the log held complete when it was opened, stored within the
    /// idempotency window (once; later calls get none).
    pub(crate) fn take_recovered_batches(&self) -> Vec<marks::RecoveredBatch> {
        let groups = std::mem::take(&mut *self.recovered.lock().unwrap_or_else(|p| p.into_inner()));
        marks::assemble(groups)
    }

    /// Stops the cleaner, and the writer after it has written and fsynced everything queued.
    pub async fn close(&self) -> Result<(), BackendError> {
        let cleaner = self
            .cleaner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut c) = cleaner {
            // Joining waits for a pass under way; not on the runtime's threads.
            tokio::task::spawn_blocking(move || c.stop())
                .await
                .map_err(|e| BackendError::Internal(format!("stopping the cleaner: {e}")))?;
        }
        if let Some(w) = &self.writer {
            w.close().await?;
            // Nothing is written any more: checkpoint every active segment, so that the next
            // start reads none of them (see `DiskStore::checkpoint_active`).
            let topics = self.all_topics();
            tokio::task::spawn_blocking(move || checkpoint_all(&topics))
                .await
                .map_err(|e| BackendError::Internal(format!("checkpointing the log: {e}")))?;
        }
        Ok(())
    }
}

/// Writes the checkpoint of every partition's active segment (on a graceful stop, after the
/// writer has stopped). A checkpoint that cannot be written only means that the next start
/// scans that segment.
fn checkpoint_all(topics: &[Arc<Topic>]) {
    for topic in topics {
        for part in &topic.partitions {
            let checkpoint = match &mut *part.lock() {
                Store::Disk(d) => d.checkpoint_active(),
                Store::Mem(_) => None,
            };
            if let Some((path, bytes)) = checkpoint {
                index::store_or_warn(&path, &bytes);
            }
        }
    }
}

/// Renames `topics/<name>` into `deleted/` (fsynced, so that after a crash the topic's old
/// files are never found under its name again); returns where it went.
fn move_to_deleted(dir: &Path, name: &str) -> Result<PathBuf, BackendError> {
    let deleted = dir.join("deleted");
    let from = dir.join("topics").join(name);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let to = deleted.join(format!("{name}-{nanos}"));
    let io = |doing: &str, e: std::io::Error| {
        BackendError::storage(format_args!("{doing} while deleting topic {name}"), &e)
    };
    fs::create_dir_all(&deleted).map_err(|e| io("creating deleted/", e))?;
    match fs::rename(&from, &to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(to),
        Err(e) => return Err(io("moving its directory", e)),
    }
    segment::sync_dir(&dir.join("topics")).map_err(|e| io("syncing topics/", e))?;
    segment::sync_dir(&deleted).map_err(|e| io("syncing deleted/", e))?;
    Ok(to)
}

/// Removes what deleted topics left in `deleted/` (a crash, or files still open then).
fn remove_deleted_leftovers(dir: &Path) {
    let deleted = dir.join("deleted");
    let Ok(entries) = fs::read_dir(&deleted) else {
        return;
    };
    for entry in entries.flatten() {
        if let Err(e) = fs::remove_dir_all(entry.path()) {
            tracing::warn!(path = %entry.path().display(), "cannot remove a deleted topic's files: {e}");
        }
    }
}

fn open_disk_topic(
    dir: &Path,
    name: &str,
    partitions: i32,
    created_ms: i64,
    settings: TopicSettings,
    files: &Arc<FileCache>,
    mark_since: i64,
) -> Result<Topic, BackendError> {
    let name_arc: Arc<str> = Arc::from(name);
    let settings = Arc::new(RwLock::new(settings));
    let mut parts = Vec::with_capacity(partitions.max(0) as usize);
    for p in 0..partitions {
        let pdir = dir.join("topics").join(name).join(p.to_string());
        // Marks are collected from the scan of the stored topics only (`Log::open`), not for a
        // topic created now.
        let store = DiskStore::open(&pdir, Arc::clone(files), mark_since).map_err(|e| {
            BackendError::storage(format_args!("opening partition {}", pdir.display()), &e)
        })?;
        parts.push(Arc::new(Partition::new(
            Arc::clone(&name_arc),
            p,
            Store::Disk(store),
            Arc::clone(&settings),
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
        settings,
        created_ms,
    })
}

#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;
