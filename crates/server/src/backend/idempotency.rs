//! Idempotent produce (issue 16): the `Idempotency-Key` rule, written once for both backends.
//!
//! A produce may carry an [`IdempotencyKey`]. Per key the server remembers the answer it gave
//! and a fingerprint of the batch ([`fingerprint`], XXH3-128 of every record with its topic,
//! partition, key, value, headers and timestamp as requested):
//!
//! - a repeat with the same fingerprint answers the first answer (same partitions, offsets
//!   and timestamps) and stores nothing;
//! - a repeat with another fingerprint is [`BackendError::IdempotencyKeyReused`] (422);
//! - a repeat that arrives while the first is still being stored waits for its answer, at
//!   most [`WAIT_FOR_FIRST`]; past it the repeat is [`BackendError::IdempotencyKeyBusy`]
//!   (409 with `Retry-After: 1`), which the upkafka client retries. When the first fails
//!   (nothing stored) or its store panics, a waiting repeat stores the batch itself;
//! - the store runs to its end whatever happens to the request: in the request's task, handed
//!   to a task of its own if the request is dropped first (a client that disconnects
//!   mid-produce still leaves its answer for the retry);
//! - keys are kept for `Limits::idempotency_window` after their answer, and at most
//!   `Limits::max_idempotency_bytes` of them: the oldest are forgotten first. A forgotten
//!   key's repeat is stored again: at-least-once at worst.
//!
//! Each backend holds one [`Dedup`] and gives it the store to run: the embedded log writes the
//! key into the batch's frames (so the table is rebuilt from the log after a crash, see
//! [`Dedup::restore`]); the gateway keeps it in memory (see `kafka::backend`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use upkafka_protocol::{IDEMPOTENCY_KEY, ProduceMetadata, ProduceRecord};

use super::BackendResult;
use super::clock::now_ms;
use crate::error::BackendError;

/// Longest key, in characters (the draft's common bound; every key is visible ASCII).
pub const MAX_KEY_LEN: usize = 255;

/// How long a repeat waits for the first request of its key to be stored before it is
/// answered 409 (the first is still being stored; retry). Well under the upkafka client's
/// 30 s per-attempt timeout, so the client gets the 409 and retries instead of timing out.
pub const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);

/// The answer of a produce under a key: the metadata, and whether it is the answer of an
/// earlier request with this key (nothing was stored by this one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// Where each record is stored, in request order.
    pub metadata: Vec<ProduceMetadata>,
    /// `true` when this request repeated an earlier one: the metadata is the first answer.
    pub repeated: bool,
}

/// A valid `Idempotency-Key`: 1 to 255 visible ASCII characters. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(Arc<str>);

impl IdempotencyKey {
    /// Parses a header value: the key bare, or as the draft's quoted string (`"key"`, with
    /// `\"` and `\\` escapes).
    ///
    /// # Errors
    /// A sentence naming the header and what is wrong with the value.
    pub fn parse(raw: &[u8]) -> Result<Self, String> {
        let key: std::borrow::Cow<'_, [u8]> = match raw {
            // Two characters or more: a lone `"` is a bare one-character key.
            [b'"', inner @ .., b'"'] => {
                let mut out = Vec::with_capacity(inner.len());
                let mut bytes = inner.iter();
                while let Some(&b) = bytes.next() {
                    match b {
                        b'\\' => match bytes.next() {
                            Some(&e @ (b'"' | b'\\')) => out.push(e),
                            _ => {
                                return Err(format!(
                                    "{IDEMPOTENCY_KEY}: a quoted key may escape only `\"` and \
                                     `\\` with a backslash"
                                ));
                            }
                        },
                        b'"' => {
                            return Err(format!(
                                "{IDEMPOTENCY_KEY}: a `\"` inside a quoted key must be escaped \
                                 as `\\\"`"
                            ));
                        }
                        _ => out.push(b),
                    }
                }
                out.into()
            }
            _ => raw.into(),
        };
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(format!(
                "{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LEN} characters, not {}",
                key.len()
            ));
        }
        // One branch-free pass for the usual valid key; the byte is looked for only to name
        // it in the error.
        if !key.iter().fold(true, |ok, b| ok & b.is_ascii_graphic())
            && let Some(b) = key.iter().find(|b| !b.is_ascii_graphic())
        {
            return Err(format!(
                "{IDEMPOTENCY_KEY} must be visible ASCII characters (no spaces or control \
                 characters); found byte 0x{b:02x}"
            ));
        }
        // Only visible ASCII is left, which is UTF-8.
        let key =
            std::str::from_utf8(&key).map_err(|_| format!("{IDEMPOTENCY_KEY} is not ASCII"))?;
        Ok(Self(Arc::from(key)))
    }

    /// The key (unquoted).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key, shared (for the log's batch marks, without a copy).
    pub(crate) fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", &*self.0)
    }
}

/// XXH3-128 of a produce request: what tells a repeat from another request under the same
/// `Idempotency-Key`. The route computes it ([`fingerprint_body`] or
/// [`fingerprint_records`]) and the backend stores it with the batch (in the log, for the
/// embedded one), so it must not change between versions: XXH3's output is fixed by its
/// specification. Not a cryptographic hash: a client can make two of its own batches collide
/// on purpose, which only harms that client (its second batch would be answered as the first).
pub type Fingerprint = [u8; 16];

/// The [`Fingerprint`] of a JSON batch (`POST /produce`, `POST /produce/{topic}`): the request
/// body's bytes as sent, seeded with the path's topic (`None` for `/produce`), as the
/// idempotency-key draft fingerprints a request by its payload. A retry is the same bytes
/// (the upkafka client resends its encoded batch); a body encoded differently is another
/// request (422 under the same key), even if it means the same records.
///
/// Chosen over [`fingerprint_records`] for batches because it costs one pass of XXH3 over
/// the body and nothing per record: `bench/idempotency_cost.sh` measured the per-record form
/// at about 145,000 instructions for a batch of 500 × 100 B, 7 % of the whole request.
pub fn fingerprint_body(path_topic: Option<&str>, body: &[u8]) -> Fingerprint {
    // The seed tells `/produce` from `/produce/{topic}` (and one topic from another); both
    // differ from the per-record form, which is unseeded over another encoding.
    const PATHLESS: u64 = 0x7570_6b61_666b_6131; // "upkafka1"
    const WITH_TOPIC: u64 = 0x7570_6b61_666b_6132; // "upkafka2"
    let seed = match path_topic {
        None => PATHLESS,
        Some(t) => xxhash_rust::xxh3::xxh3_64_with_seed(t.as_bytes(), WITH_TOPIC),
    };
    xxhash_rust::xxh3::xxh3_128_with_seed(body, seed).to_le_bytes()
}

/// The [`Fingerprint`] of `records` produced with `default_topic` (the `/produce/{topic}`
/// path's): every record's topic, partition, key, value, headers and timestamp, each
/// length-prefixed, so that two different batches cannot encode alike. For the routes whose
/// record is not a JSON body (`/produce/{topic}/{message}`, `/webhook`, whose headers are
/// part of the record); cheap for their one record.
pub fn fingerprint_records(default_topic: Option<&str>, records: &[ProduceRecord]) -> Fingerprint {
    fn put(buf: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => buf.push(0),
            Some(s) => {
                buf.push(1);
                buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
    let size: usize = records
        .iter()
        .map(|r| 64 + upkafka_protocol::record_size(r.key.as_deref(), &r.value, &r.headers))
        .sum();
    let mut buf = Vec::with_capacity(size + 16);
    buf.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for r in records {
        put(&mut buf, r.topic.as_deref().or(default_topic));
        buf.extend_from_slice(&r.partition.map_or(i64::MIN, i64::from).to_le_bytes());
        put(&mut buf, r.key.as_deref());
        // A tombstone (null value) is another batch than one with an empty value.
        put(&mut buf, (!r.tombstone).then_some(r.value.as_str()));
        buf.extend_from_slice(&(r.headers.len() as u64).to_le_bytes());
        for h in &r.headers {
            put(&mut buf, Some(&h.key));
            put(&mut buf, Some(&h.value));
        }
        match r.timestamp {
            None => buf.push(0),
            Some(t) => {
                buf.push(1);
                buf.extend_from_slice(&t.to_le_bytes());
            }
        }
    }
    xxhash_rust::xxh3::xxh3_128(&buf).to_le_bytes()
}

/// A batch stored earlier under a key, as a backend recovers it (the embedded log after a
/// restart): what [`Dedup::restore`] puts back into the table.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    /// The key it was stored with.
    pub key: IdempotencyKey,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// When it was stored, epoch ms (the window counts from there).
    pub stored_at_ms: i64,
    /// The answer it got, in request order.
    pub answer: Vec<ProduceMetadata>,
}

/// Consecutive records of a remembered answer that went to one topic (an index into the
/// answer's topics) and partition, at consecutive offsets from `offset`, with one timestamp:
/// a whole batch to one partition is usually one run.
#[derive(Clone, Copy)]
struct Run {
    topic: u32,
    partition: i32,
    offset: i64,
    timestamp: i64,
    len: u32,
}

/// A remembered answer, compact: the batch's topics once, and its records as [`Run`]s. A
/// batch to one partition is one run, kept inline: remembering it allocates nothing, whatever
/// its size (a 12 KB list of placements per 500-record batch was most of what a key added to
/// a batch in `bench/idempotency_cost.sh`), and a batch spread over partitions costs one
/// allocation, 32 bytes a run. Topic names are shared through [`TopicNames`].
pub(crate) struct Answer {
    /// The first record's topic, index 0: most batches name only this one.
    topic: Arc<str>,
    /// The other topics, from index 1, in order of first appearance; empty (and not
    /// allocated) for a batch to one topic.
    more_topics: Box<[Arc<str>]>,
    runs: Runs,
}

/// The runs of an [`Answer`], in request order; one run is kept inline.
enum Runs {
    One(Run),
    Many(Box<[Run]>),
}

impl Runs {
    fn as_slice(&self) -> &[Run] {
        match self {
            Self::One(r) => std::slice::from_ref(r),
            Self::Many(rs) => rs,
        }
    }
}

/// The topic names of the remembered answers, each allocated once and shared by every
/// answer naming it. Bounded: past [`TopicNames::MAX`] names it starts again empty (the
/// answers keep theirs), so a server whose topics come and go does not grow it forever.
#[derive(Default)]
pub(crate) struct TopicNames {
    names: std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>,
    /// The name asked for last: most answers in a row name the same topic, and comparing
    /// it costs less than hashing.
    last: Option<Arc<str>>,
}

impl TopicNames {
    /// Names kept before the set starts again.
    const MAX: usize = 4096;

    /// The shared copy of `name`.
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(last) = self.last.as_ref().filter(|l| ***l == *name) {
            return Arc::clone(last);
        }
        let n = match self.names.get(name) {
            Some(n) => Arc::clone(n),
            None => {
                if self.names.len() >= Self::MAX {
                    self.names.clear();
                }
                let n: Arc<str> = Arc::from(name);
                self.names.insert(Arc::clone(&n));
                n
            }
        };
        self.last = Some(Arc::clone(&n));
        n
    }
}

impl Answer {
    /// The compact form of `metadata`, its topic names shared through `names`.
    pub(crate) fn of(metadata: &[ProduceMetadata], names: &mut TopicNames) -> Self {
        // The answer of a single-record produce, the commonest, without the loop below.
        if let [m] = metadata {
            return Self {
                topic: names.get(&m.topic),
                more_topics: Box::default(),
                runs: Runs::One(Run {
                    topic: 0,
                    partition: m.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                    len: 1,
                }),
            };
        }
        let topic = names.get(metadata.first().map_or("", |m| m.topic.as_str()));
        let mut more_topics: Vec<Arc<str>> = Vec::new();
        // The run being extended, and the finished ones (allocated from the second run on).
        let mut current: Option<Run> = None;
        let mut done: Vec<Run> = Vec::new();
        for m in metadata {
            // A batch names one or a few topics: a linear search beats hashing.
            let t = if *m.topic == *topic {
                0
            } else if let Some(i) = more_topics.iter().rposition(|t| **t == *m.topic) {
                i + 1
            } else {
                more_topics.push(names.get(&m.topic));
                more_topics.len()
            } as u32;
            match &mut current {
                Some(r)
                    if r.topic == t
                        && r.partition == m.partition
                        && r.timestamp == m.timestamp
                        && r.offset.checked_add(i64::from(r.len)) == Some(m.offset)
                        && r.len < u32::MAX =>
                {
                    r.len += 1;
                }
                _ => {
                    let next = Run {
                        topic: t,
                        partition: m.partition,
                        offset: m.offset,
                        timestamp: m.timestamp,
                        len: 1,
                    };
                    if let Some(r) = current.replace(next) {
                        done.push(r);
                    }
                }
            }
        }
        let runs = match (current, done.is_empty()) {
            (Some(r), true) => Runs::One(r),
            (last, _) => {
                done.extend(last);
                Runs::Many(done.into())
            }
        };
        Self {
            topic,
            more_topics: more_topics.into(),
            runs,
        }
    }

    /// The name of topic `t` of this answer.
    fn topic(&self, t: u32) -> &str {
        match (t as usize).checked_sub(1) {
            None => &self.topic,
            Some(i) => self.more_topics.get(i).map_or("", |t| t),
        }
    }

    /// The answer as the produce gave it.
    pub(crate) fn metadata(&self) -> Vec<ProduceMetadata> {
        let runs = self.runs.as_slice();
        let mut out = Vec::with_capacity(runs.iter().map(|r| r.len as usize).sum());
        for r in runs {
            out.extend((0..i64::from(r.len)).map(|i| ProduceMetadata {
                topic: self.topic(r.topic).to_owned(),
                partition: r.partition,
                offset: r.offset + i,
                timestamp: r.timestamp,
            }));
        }
        out
    }
}

/// Bytes a remembered answer counts against `max_idempotency_bytes`: 160 for the table's own
/// bookkeeping (hash-table slot, queue slot, allocation headers; an estimate from the types'
/// sizes, not a measurement), the key, each topic name with 32 bytes of overhead (counted in
/// full although answers share names), and 32 bytes per run. A batch to one partition with a
/// 36-character key and a 6-character topic counts 266 bytes, whatever its size.
fn cost(key: &IdempotencyKey, answer: &Answer) -> usize {
    const ENTRY: usize = 160;
    ENTRY
        + key.as_str().len()
        + std::iter::once(&answer.topic)
            .chain(answer.more_topics.iter())
            .map(|t| 32 + t.len())
            .sum::<usize>()
        + 32 * answer.runs.as_slice().len()
}

enum State {
    /// The first request is being stored. The repeats waiting for it share `waiters`, made by
    /// the first of them: a key nobody repeats (nearly every key) costs no allocation for it.
    /// [`Table::finish`] wakes them.
    Storing { waiters: Option<Arc<Notify>> },
    /// Stored and answered at `at_ms`.
    Done {
        answer: Answer,
        at_ms: i64,
        cost: usize,
    },
}

struct Entry {
    key: IdempotencyKey,
    /// The key's hash, kept so that growing the table moves entries without hashing their
    /// keys again.
    hash: u64,
    fingerprint: Fingerprint,
    state: State,
    /// Unique per entry: how a [`Ticket`] and `order` find it again (by its hash, without
    /// hashing or comparing the key again), and tell it from a later entry of the same key.
    seq: u64,
}

/// What [`Table::begin`] decided for a request.
pub(crate) enum Begin {
    /// A repeat of a stored batch: its answer (built under the lock; repeats are rare).
    Answer(Vec<ProduceMetadata>),
    /// The key was used for another batch.
    Mismatch,
    /// The first request is being stored: wait until this completes (it is registered
    /// already, so a finish between the lock and the first poll still wakes it), then ask
    /// again.
    Wait(OwnedNotified),
    /// New: this request stores the batch and must report with [`Table::finish`] (the key
    /// stays "being stored" until then; [`Dedup`] makes sure it does, even on a panic).
    Store(Ticket),
}

/// The right and duty of the request that stores a key's batch.
pub(crate) struct Ticket {
    /// The key's hash and the entry's sequence number.
    hash: u64,
    seq: u64,
}

/// The table of keys, without locking or time of its own (the caller passes `now_ms`), so
/// that the rule can be tested step by step.
pub(crate) struct Table {
    window_ms: i64,
    max_bytes: usize,
    /// The entries, each key hashed once: a key's store, its end and its eviction find it by
    /// the hash and `seq` they keep.
    entries: hashbrown::HashTable<Entry>,
    /// Keys are the clients', so the hasher is seeded per process (foldhash's `RandomState`).
    hasher: foldhash::fast::RandomState,
    /// Answered keys, oldest first: (hash, seq, answered at).
    order: VecDeque<(u64, u64, i64)>,
    /// Sum of the costs of the answered keys.
    bytes: usize,
    next_seq: u64,
    /// The answers' topic names, shared.
    names: TopicNames,
}

impl Table {
    /// An empty table keeping answers `window` long and at most `max_bytes` of them.
    pub(crate) fn new(window: Duration, max_bytes: usize) -> Self {
        Self {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            max_bytes,
            entries: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            order: VecDeque::new(),
            bytes: 0,
            next_seq: 0,
            names: TopicNames::default(),
        }
    }

    /// Keys remembered now (answered or being stored).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes the answered keys count.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Decides what a request with `key` and `fingerprint` does at `now_ms`.
    pub(crate) fn begin(
        &mut self,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now_ms: i64,
    ) -> Begin {
        self.expire(now_ms);
        let hash = self.hasher.hash_one(key);
        // One hash and one probe for the lookup and the insert.
        match self.entries.entry(hash, |e| e.key == *key, |e| e.hash) {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                let e = e.get_mut();
                if e.fingerprint != fingerprint {
                    return Begin::Mismatch;
                }
                match &mut e.state {
                    State::Done { answer, .. } => Begin::Answer(answer.metadata()),
                    State::Storing { waiters } => Begin::Wait(
                        Arc::clone(waiters.get_or_insert_with(Default::default)).notified_owned(),
                    ),
                }
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                slot.insert(Entry {
                    key: key.clone(),
                    hash,
                    fingerprint,
                    state: State::Storing { waiters: None },
                    seq,
                });
                Begin::Store(Ticket { hash, seq })
            }
        }
    }

    /// Whether a repeat of `key` waits for its store (tests: a repeat is known to wait
    /// before the store is let go).
    #[cfg(test)]
    pub(crate) fn has_waiters(&self, key: &IdempotencyKey) -> bool {
        self.entries
            .find(self.hasher.hash_one(key), |e| e.key == *key)
            .is_some_and(|e| matches!(e.state, State::Storing { waiters: Some(_) }))
    }

    /// Records how the store of `ticket` ended: its answer (`Some`) is kept, and older keys
    /// forgotten beyond the memory bound; after a failure (`None`) the key is forgotten, so
    /// that a retry stores the batch. Either way the repeats waiting for it are woken.
    pub(crate) fn finish(
        &mut self,
        ticket: Ticket,
        answer: Option<&[ProduceMetadata]>,
        now_ms: i64,
    ) {
        let Ok(mut found) = self
            .entries
            .find_entry(ticket.hash, |e| e.seq == ticket.seq)
        else {
            return;
        };
        let entry = found.get_mut();
        if let State::Storing { waiters: Some(w) } = &entry.state {
            // They ask the table again, which they can only do once this lock is released.
            w.notify_waiters();
        }
        match answer {
            Some(metadata) => {
                let answer = Answer::of(metadata, &mut self.names);
                let cost = cost(&entry.key, &answer);
                entry.state = State::Done {
                    answer,
                    at_ms: now_ms,
                    cost,
                };
                self.order.push_back((ticket.hash, ticket.seq, now_ms));
                self.bytes += cost;
                self.evict_over_bound();
            }
            None => {
                found.remove();
            }
        }
    }

    /// Puts a batch stored earlier back (recovery at start), unless its window has passed or
    /// a newer answer of the key is already there. Call with batches oldest first.
    pub(crate) fn restore(&mut self, batch: StoredBatch, now_ms: i64) {
        if batch.stored_at_ms.saturating_add(self.window_ms) <= now_ms {
            return;
        }
        let hash = self.hasher.hash_one(&batch.key);
        if let Ok(old) = self.entries.find_entry(hash, |e| e.key == batch.key) {
            let newer = match old.get().state {
                // The same request known already (a gateway reading back its own shared
                // answer): the answer it has stays.
                State::Done { .. } if old.get().fingerprint == batch.fingerprint => true,
                State::Done { at_ms, .. } => at_ms > batch.stored_at_ms,
                State::Storing { .. } => true,
            };
            if newer {
                return;
            }
            let (old, _) = old.remove();
            if let State::Done { cost, .. } = old.state {
                self.bytes -= cost;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let answer = Answer::of(&batch.answer, &mut self.names);
        let cost = cost(&batch.key, &answer);
        self.entries.insert_unique(
            hash,
            Entry {
                key: batch.key,
                hash,
                fingerprint: batch.fingerprint,
                state: State::Done {
                    answer,
                    at_ms: batch.stored_at_ms,
                    cost,
                },
                seq,
            },
            |e| e.hash,
        );
        self.order.push_back((hash, seq, batch.stored_at_ms));
        self.bytes += cost;
        self.evict_over_bound();
    }

    /// Forgets the answered keys whose window has passed.
    fn expire(&mut self, now_ms: i64) {
        while let Some((_, _, at)) = self.order.front() {
            if at.saturating_add(self.window_ms) > now_ms {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Forgets the oldest answered keys while they take more than the bound.
    fn evict_over_bound(&mut self) {
        while self.bytes > self.max_bytes && !self.order.is_empty() {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        let Some((hash, seq, _)) = self.order.pop_front() else {
            return;
        };
        if let Ok(entry) = self.entries.find_entry(hash, |e| e.seq == seq)
            && let State::Done { cost, .. } = entry.get().state
        {
            entry.remove();
            self.bytes -= cost;
        }
    }
}

/// A backend's table of idempotency keys behind its lock: [`Dedup::produce`] applies the rule
/// of this module around a backend's store. Cheap to clone (one table).
#[derive(Clone)]
pub(crate) struct Dedup {
    table: Arc<Mutex<Table>>,
    window: Duration,
}

impl fmt::Debug for Dedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.lock();
        f.debug_struct("Dedup")
            .field("keys", &t.len())
            .field("bytes", &t.bytes())
            .field("window", &self.window)
            .finish()
    }
}

impl Dedup {
    /// An empty table keeping answers `window` long and at most `max_bytes` of them.
    pub(crate) fn new(window: Duration, max_bytes: usize) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table::new(window, max_bytes))),
            window,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update of the table is complete before it can panic: poisoning is ignored.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts batches recovered from storage back, oldest first (see [`Table::restore`]).
    pub(crate) fn restore(&self, mut batches: Vec<StoredBatch>) {
        batches.sort_by_key(|b| b.stored_at_ms);
        let now = now_ms();
        let mut t = self.lock();
        for b in batches {
            t.restore(b, now);
        }
    }

    /// Puts one batch answered elsewhere into the table (another gateway's shared answer, see
    /// `kafka::shared_keys`), with the rule of [`Table::restore`].
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn remember(&self, batch: StoredBatch) {
        let now = now_ms();
        self.lock().restore(batch, now);
    }

    /// Produces under `key`: answers a repeat from the table, or runs `store` and remembers
    /// its answer (see [`Storing`]: it ends and is remembered even if this request is
    /// dropped).
    ///
    /// # Errors
    /// [`BackendError::IdempotencyKeyReused`] for another batch under a known key,
    /// [`BackendError::IdempotencyKeyBusy`] when the first request of the key is still being
    /// stored after [`WAIT_FOR_FIRST`], else the store's own error.
    pub(crate) async fn produce<F, Fut>(
        &self,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        store: F,
    ) -> BackendResult<Produced>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = BackendResult<Vec<ProduceMetadata>>> + Send + 'static,
    {
        // Read the clock only for a repeat that waits (nearly never).
        let mut deadline = None;
        loop {
            // One clock read per attempt: a key's window is counted from when its stored
            // request began, not from when its store ended (earlier by the store's time).
            let began_ms = now_ms();
            let begin = self.lock().begin(&key, fingerprint, began_ms);
            match begin {
                Begin::Answer(metadata) => {
                    return Ok(Produced {
                        metadata,
                        repeated: true,
                    });
                }
                Begin::Mismatch => {
                    return Err(BackendError::IdempotencyKeyReused(format!(
                        "{IDEMPOTENCY_KEY} `{}` was already used for a different batch within \
                         the last {} s; send a fresh key for each batch",
                        key.as_str(),
                        self.window.as_secs()
                    )));
                }
                Begin::Wait(first_done) => {
                    let deadline = *deadline
                        .get_or_insert_with(|| tokio::time::Instant::now() + WAIT_FOR_FIRST);
                    if tokio::time::timeout_at(deadline, first_done).await.is_err() {
                        return Err(BackendError::IdempotencyKeyBusy(format!(
                            "a request with {IDEMPOTENCY_KEY} `{}` is still being stored after \
                             {} s; retry later",
                            key.as_str(),
                            WAIT_FOR_FIRST.as_secs()
                        )));
                    }
                }
                Begin::Store(ticket) => {
                    let storing = Storing {
                        work: Some(Box::pin(store())),
                        claim: Claim {
                            dedup: self.clone(),
                            ticket: Some(ticket),
                            began_ms,
                        },
                    };
                    return Ok(Produced {
                        metadata: storing.await?,
                        repeated: false,
                    });
                }
            }
        }
    }
}

/// The store of a key's first request, run in that request's task (no hop to another
/// thread on the way), and remembered when it ends. Dropped before its end (the client went
/// away, the request was cancelled), it hands the rest of the store to a task of its own, so
/// that the store still ends and its answer is still remembered for the retry.
struct Storing<Fut: Future<Output = BackendResult<Vec<ProduceMetadata>>> + Send + 'static> {
    work: Option<std::pin::Pin<Box<Fut>>>,
    claim: Claim,
}

/// A [`Ticket`] that reports to its table however the store ends: with the store's result
/// ([`Claim::complete`]), or as a failure when it is dropped unreported (the store panicked,
/// or the runtime is shutting down), so that the key is never left "being stored" and its
/// waiting repeats store the batch themselves.
struct Claim {
    dedup: Dedup,
    ticket: Option<Ticket>,
    /// When the request began: the start of its answer's window.
    began_ms: i64,
}

impl Claim {
    /// Remembers how the store ended and wakes the repeats waiting for it.
    fn complete(&mut self, result: &BackendResult<Vec<ProduceMetadata>>) {
        if let Some(ticket) = self.ticket.take() {
            let answer = result.as_deref().ok();
            self.dedup.lock().finish(ticket, answer, self.began_ms);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.dedup.lock().finish(ticket, None, self.began_ms);
        }
    }
}

impl<Fut> Future for Storing<Fut>
where
    Fut: Future<Output = BackendResult<Vec<ProduceMetadata>>> + Send + 'static,
{
    type Output = BackendResult<Vec<ProduceMetadata>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(work) = self.work.as_mut() else {
            return std::task::Poll::Ready(Err(BackendError::Internal(
                "an idempotent produce was polled after its end".to_owned(),
            )));
        };
        let result = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        self.claim.complete(&result);
        std::task::Poll::Ready(result)
    }
}

impl<Fut> Drop for Storing<Fut>
where
    Fut: Future<Output = BackendResult<Vec<ProduceMetadata>>> + Send + 'static,
{
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        // A store that panicked is not polled again, and outside a runtime (it is shutting
        // down) it cannot be: the claim, dropped with this, reports a failure.
        if std::thread::panicking() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut claim = Claim {
                dedup: self.claim.dedup.clone(),
                ticket: self.claim.ticket.take(),
                began_ms: self.claim.began_ms,
            };
            runtime.spawn(async move {
                let result = work.await;
                claim.complete(&result);
            });
        }
    }
}

#[cfg(test)]
mod tests;
