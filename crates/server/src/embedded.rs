//! [`EmbeddedBackend`]: the [`Backend`] on the embedded [`Log`] plus consumer groups.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::select_all;
use smallvec::SmallVec;

use upkafka_protocol::{
    GroupAssignments, Message, OffsetSpec, ProduceMetadata, ProduceRecord, TopicPartition,
    TopicPartitionOffset, Topics,
};

use super::backend::batch::{ProduceTarget, TopicRules, plan_batch};
use super::backend::checks::{InstanceCaps, check_fetch};
use super::backend::housekeeping::Housekeeping;
use super::backend::idempotency::{Dedup, Fingerprint, StoredBatch};
use super::backend::{
    Backend, BackendResult, BoxFuture, ConsumeParams, IdempotencyKey, Produced, TopicInfo,
};
use super::config::{Limits, TopicSpec};
use super::error::BackendError;
use super::groups::{Groups, check_partition};
use super::log::{
    Append, BatchMark, Log, LogOptions, Partition, SettingsPatch, StoredRecord, Topic, meta,
};

/// Up to this many partitions in one produce request, a record finds its partition's group by a
/// linear search (no hashing); beyond, through a map.
const LINEAR_GROUPS: usize = 8;

/// Settings of the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Where and how the log is stored.
    pub log: LogOptions,
    /// Topics to create at start (existing ones keep their partition count).
    pub topics: Vec<TopicSpec>,
    /// Create unknown topics on produce, with `auto_create_partitions` partitions
    /// (default off, as on Upstash).
    pub auto_create_topics: bool,
    /// Partition count of auto-created topics (default 1).
    pub auto_create_partitions: i32,
    /// Record size, response and instance limits (`max_message_bytes`, `max_poll_records`,
    /// `max_poll_bytes`, `max_instances_per_group`, `max_consumer_instances`) and the log's
    /// caps (`max_open_files`, `max_topics`, `max_partitions`), the server's [`Limits`].
    pub limits: Limits,
    /// How often expiry and auto-commit run (default 100 ms).
    pub housekeeping_interval: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            log: LogOptions::default(),
            topics: Vec::new(),
            auto_create_topics: false,
            auto_create_partitions: 1,
            limits: Limits::default(),
            housekeeping_interval: Duration::from_millis(100),
        }
    }
}

#[derive(Debug)]
struct Inner {
    log: Log,
    groups: Mutex<Groups>,
    opts: EmbeddedOptions,
    /// Serialises writes of the groups' files (committed offsets, consumer instances), so
    /// that the newest snapshot of each is the last one written.
    meta_io: tokio::sync::Mutex<()>,
    rotate: AtomicUsize,
    /// Idempotency keys (issue 16), rebuilt from the log's batch marks on open.
    dedup: Dedup,
}

/// The embedded backend: topics in memory or in a data directory, consumer groups in memory
/// with committed offsets and consumer instances persisted next to the log.
#[derive(Debug)]
pub struct EmbeddedBackend {
    inner: Arc<Inner>,
    housekeeping: Housekeeping,
}

impl Inner {
    fn groups(&self) -> MutexGuard<'_, Groups> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes committed offsets to the data directory (no-op in memory).
    async fn persist_offsets(self: &Arc<Self>) -> BackendResult<()> {
        self.persist(
            "offset",
            |g| Some(g.snapshot_committed()),
            |dir, s: &Vec<_>| meta::write_offsets(dir, s),
        )
        .await
    }

    /// Writes the consumer instances to the data directory if they changed since the last
    /// write, or always with `force` (no-op in memory). A failed write is tried again by the
    /// next housekeeping tick. The rules are in `groups/membership.rs`.
    async fn persist_membership(self: &Arc<Self>, force: bool) -> BackendResult<()> {
        let written = self
            .persist(
                "consumer",
                |g| g.take_membership(force),
                |dir, s: &Vec<_>| meta::write_consumers(dir, s),
            )
            .await;
        if written.is_err() {
            self.groups().membership_unsaved();
        }
        written
    }

    /// Writes one metadata file of the data directory (no-op in memory, or when `snapshot`
    /// has nothing to write). The snapshot is taken under the groups lock while the I/O lock
    /// is held, so that writes of a file land in the order of their snapshots and an older
    /// snapshot never overwrites a newer one; `write` runs on the blocking pool.
    async fn persist<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        snapshot: impl FnOnce(&mut Groups) -> Option<T>,
        write: impl FnOnce(&std::path::Path, &T) -> BackendResult<()> + Send + 'static,
    ) -> BackendResult<()> {
        let Some(dir) = self.log.data_dir().map(ToOwned::to_owned) else {
            return Ok(());
        };
        let _io = self.meta_io.lock().await;
        let Some(snapshot) = snapshot(&mut self.groups()) else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || write(&dir, &snapshot))
            .await
            .map_err(|e| BackendError::Internal(format!("{what} writer panicked: {e}")))?
    }

    /// Produces `records`; those without a topic go to `default_topic` (an error if `None`).
    /// The batch is planned (and checked whole) first, then appended per partition in one
    /// write each. With `key` (its key and the batch's fingerprint) the first record of each
    /// partition's group carries the batch's mark, so that the key outlives a restart.
    async fn produce(
        &self,
        default_topic: Option<String>,
        records: Vec<ProduceRecord>,
        key: Option<(&IdempotencyKey, Fingerprint)>,
    ) -> BackendResult<Vec<ProduceMetadata>> {
        let plan = plan_batch(
            self,
            &records,
            default_topic.as_deref(),
            self.opts.limits.max_message_bytes,
        )
        .await?;
        let (topics, placements, planned_ms) = (plan.topics, plan.placements, plan.now_ms);
        // Sized for the usual request, one partition (every single message): its one group
        // inline, and that group has room for the whole batch, so nothing grows (growing
        // vectors from empty was a tenth of a single-message produce's instructions, issue
        // 19). A batch over several partitions over-reserves its first group by at most the
        // batch.
        let mut groups = Append::new();
        // Group of each (topic index, partition): a request usually has one or a few, found by
        // a linear search; the map is built only once there are many.
        let mut keys: SmallVec<[(usize, i32); 1]> = SmallVec::new();
        let mut group_of: HashMap<(usize, i32), usize> = HashMap::new();
        // Per record: (group index, index in group).
        let mut slots: SmallVec<[(usize, usize); 1]> = SmallVec::with_capacity(placements.len());
        for (r, place) in records.into_iter().zip(&placements) {
            let key = (place.topic, place.partition);
            let found = if keys.len() <= LINEAR_GROUPS {
                keys.iter().position(|k| *k == key)
            } else {
                if group_of.is_empty() {
                    group_of.extend(keys.iter().enumerate().map(|(gi, k)| (*k, gi)));
                }
                group_of.get(&key).copied()
            };
            let gi = match found {
                Some(gi) => gi,
                None => {
                    let part = topics[place.topic]
                        .partition(place.partition)
                        .cloned()
                        .ok_or_else(|| {
                            BackendError::Internal(format!(
                                "partition {} vanished",
                                place.partition
                            ))
                        })?;
                    let room = if groups.is_empty() {
                        placements.len()
                    } else {
                        0
                    };
                    groups.push((part, Vec::with_capacity(room)));
                    keys.push(key);
                    if !group_of.is_empty() {
                        group_of.insert(key, groups.len() - 1);
                    }
                    groups.len() - 1
                }
            };
            slots.push((gi, groups[gi].1.len()));
            groups[gi].1.push(StoredRecord {
                timestamp: place.timestamp,
                key: r.key,
                value: (!r.tombstone).then_some(r.value),
                headers: r.headers,
            });
        }
        let bases = match key {
            None => self.log.append_at(groups, Some(planned_ms)).await?,
            Some((key, fingerprint)) => {
                let n = groups.len();
                self.log
                    .append_marked(groups, Some(planned_ms), || {
                        batch_marks(key, fingerprint, &slots, n)
                    })
                    .await?
            }
        };
        // The caller's copy of the path's topic name names the first record stored to it:
        // one copy of the name less per `/produce/{topic}` (issue 19).
        let mut spare = default_topic;
        Ok(placements
            .iter()
            .zip(slots)
            .map(|(place, (gi, idx))| ProduceMetadata {
                topic: {
                    let name = topics[place.topic].name();
                    spare
                        .take_if(|t| t == name)
                        .unwrap_or_else(|| name.to_owned())
                },
                partition: place.partition,
                offset: bases[gi] + idx as i64,
                timestamp: place.timestamp,
            })
            .collect())
    }

    /// [`Inner::produce`] under `key`, by the backend core's rule ([`Dedup::produce`]).
    async fn produce_idempotent(
        self: &Arc<Self>,
        key: IdempotencyKey,
        fp: Fingerprint,
        default_topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BackendResult<Produced> {
        let inner = Arc::clone(self);
        let k = key.clone();
        self.dedup
            .produce(key, fp, move || async move {
                inner.produce(default_topic, records, Some((&k, fp))).await
            })
            .await
    }

    /// Reads the plan once within the response limits, starting at a rotating partition so
    /// that one busy partition cannot starve the others.
    fn read_plan(&self, reads: &[(Arc<Partition>, i64)]) -> BackendResult<Vec<Message>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let n = reads.len();
        if n == 0 {
            return Ok(out);
        }
        let start = self.rotate.fetch_add(1, Ordering::Relaxed) % n;
        for k in 0..n {
            let limits = &self.opts.limits;
            let remaining = limits.poll_records().saturating_sub(out.len());
            if remaining == 0 || (bytes > 0 && bytes >= limits.poll_bytes()) {
                break;
            }
            let (part, from) = &reads[(start + k) % n];
            if part.is_deleted() {
                // Its topic was deleted while this read waited: say so instead of waiting
                // for records that will never come.
                return Err(BackendError::UnknownTopic(part.topic().to_owned()));
            }
            let budget = limits.poll_bytes().saturating_sub(bytes);
            bytes += part.read_into(*from, remaining, budget.max(1), &mut out)?;
        }
        Ok(out)
    }

    /// Long-poll: returns as soon as any planned partition has data, or `[]` at the deadline.
    async fn poll(
        &self,
        reads: &[(Arc<Partition>, i64)],
        timeout: Duration,
    ) -> BackendResult<Vec<Message>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribe before reading so that an append in between still wakes us.
            let mut rxs: Vec<_> = reads.iter().map(|(p, _)| p.subscribe()).collect();
            let msgs = self.read_plan(reads)?;
            if !msgs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(msgs);
            }
            if rxs.is_empty() {
                tokio::time::sleep_until(deadline).await;
                return Ok(msgs);
            }
            let changed = select_all(rxs.iter_mut().map(|rx| Box::pin(rx.changed())));
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.read_plan(reads);
            }
        }
    }
}

impl EmbeddedBackend {
    /// Opens the log (recovering a data directory), creates the configured topics, loads
    /// committed offsets and starts the housekeeping task (expiry, auto-commit).
    /// Must be called within a Tokio runtime.
    pub async fn open(opts: EmbeddedOptions) -> BackendResult<Self> {
        let log_opts = opts.log.clone();
        let limits = opts.limits.clone();
        let topics = opts.topics.clone();
        let (log, committed, members) = tokio::task::spawn_blocking(move || {
            let log = Log::open(&log_opts, &limits)?;
            for t in &topics {
                let settings = t.settings.apply(log.topic_defaults());
                let topic = log.create_or_open_topic(&t.name, t.partitions, settings)?;
                // An existing topic takes the settings its spec names, so that a changed
                // configuration applies on restart.
                if t.settings != SettingsPatch::default()
                    && t.settings.apply(topic.settings()) != topic.settings()
                {
                    log.alter_topic(&t.name, &t.settings)?;
                }
            }
            let (committed, members) = match log.data_dir() {
                Some(dir) => (meta::read_offsets(dir)?, meta::read_consumers(dir)?),
                None => (Vec::new(), Vec::new()),
            };
            Ok::<_, BackendError>((log, committed, members))
        })
        .await
        .map_err(|e| BackendError::Internal(format!("opening the log panicked: {e}")))??;
        let mut groups = Groups::new(InstanceCaps::of(&opts.limits));
        groups.load_committed(committed);
        let restored = groups.restore_membership(members, &log, Instant::now());
        if restored > 0 {
            tracing::info!(instances = restored, "consumer instances restored");
        }
        let dedup = Dedup::new(
            opts.limits.idempotency_window,
            opts.limits.max_idempotency_bytes,
        );
        let recovered = stored_batches(&log);
        if !recovered.is_empty() {
            tracing::info!(
                keys = recovered.len(),
                "idempotency keys recovered from the log"
            );
        }
        dedup.restore(recovered);
        let interval = opts.housekeeping_interval;
        let inner = Arc::new(Inner {
            log,
            groups: Mutex::new(groups),
            opts,
            meta_io: tokio::sync::Mutex::new(()),
            rotate: AtomicUsize::new(0),
            dedup,
        });
        let housekeeping = Housekeeping::spawn(&inner, interval, |inner| async move {
            let changed = inner.groups().tick(Instant::now(), &inner.log);
            if changed && let Err(e) = inner.persist_offsets().await {
                tracing::error!(error = %e, "persisting committed offsets failed");
            }
            if let Err(e) = inner.persist_membership(false).await {
                tracing::error!(error = %e, "persisting consumer instances failed");
            }
        });
        Ok(Self {
            inner,
            housekeeping,
        })
    }
}

/// The mark of each of `groups` groups of a batch: the request indices of its records
/// (`slots[i]` is record `i`'s group and place in it) as runs.
fn batch_marks(
    key: &IdempotencyKey,
    fingerprint: Fingerprint,
    slots: &[(usize, usize)],
    groups: usize,
) -> Vec<BatchMark> {
    let stored_at = super::backend::clock::now_ms();
    let mut marks: Vec<BatchMark> = (0..groups)
        .map(|_| BatchMark {
            key: key.shared(),
            fingerprint,
            stored_at,
            request_len: slots.len() as u32,
            runs: Vec::new(),
        })
        .collect();
    for (i, &(gi, _)) in slots.iter().enumerate() {
        let i = i as u32;
        let runs = &mut marks[gi].runs;
        match runs.last_mut() {
            Some((start, n)) if *start + *n == i => *n += 1,
            _ => runs.push((i, 1)),
        }
    }
    marks
}

/// The batches the log holds under a key, as the backend core's table takes them.
fn stored_batches(log: &Log) -> Vec<StoredBatch> {
    log.take_recovered_batches()
        .into_iter()
        .filter_map(|b| {
            let key = IdempotencyKey::parse(b.key.as_bytes()).ok()?;
            Some(StoredBatch {
                key,
                fingerprint: b.fingerprint,
                stored_at_ms: b.stored_at,
                answer: b
                    .records
                    .into_iter()
                    .map(|r| ProduceMetadata {
                        topic: r.topic.to_string(),
                        partition: r.partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Ends a consume's "in flight" mark when dropped, also if the request is cancelled.
struct ConsumeGuard<'a> {
    inner: Arc<Inner>,
    group: &'a str,
    instance: &'a str,
}

impl Drop for ConsumeGuard<'_> {
    fn drop(&mut self) {
        self.inner
            .groups()
            .end_consume(self.group, self.instance, Instant::now());
    }
}

/// The embedded log as a place to produce to: topics are created on first use when
/// auto-creation is on. Note: a topic auto-created for an early record of a batch stays even
/// if a later record makes the batch fail; no record is written in that case, only the
/// (empty) topic exists.
impl ProduceTarget for Inner {
    type Topic = Arc<Topic>;

    async fn topic(&self, name: &str) -> BackendResult<Arc<Topic>> {
        if let Some(t) = self.log.topic(name) {
            return Ok(t);
        }
        if self.opts.auto_create_topics {
            return self
                .log
                .create_topic(name, self.opts.auto_create_partitions);
        }
        Err(BackendError::UnknownTopic(name.to_owned()))
    }

    fn name<'t>(&self, topic: &'t Arc<Topic>) -> &'t str {
        topic.name()
    }

    fn partitions(&self, topic: &Arc<Topic>) -> i32 {
        topic.partition_count()
    }

    async fn check_partition(
        &self,
        name: &str,
        topic: &Arc<Topic>,
        partition: i32,
    ) -> BackendResult<()> {
        match topic.partition(partition) {
            Some(_) => Ok(()),
            None => Err(BackendError::UnknownPartition {
                topic: name.to_owned(),
                partition,
                count: topic.partition_count(),
            }),
        }
    }

    fn next_round_robin(&self, _name: &str, topic: &Arc<Topic>) -> i32 {
        topic.next_round_robin()
    }

    fn rules(&self, topic: &Arc<Topic>) -> TopicRules {
        TopicRules::of(&topic.settings())
    }
}

/// What the management API shows of an embedded topic.
fn topic_info(topic: &Topic) -> TopicInfo {
    TopicInfo {
        name: topic.name().to_owned(),
        partitions: topic.partition_count(),
        created_ms: topic.created_ms(),
        settings: topic.settings(),
        bytes: Some(topic.stored_bytes()),
    }
}

fn resolve(log: &Log, topic: &str, partition: i32) -> BackendResult<Arc<Partition>> {
    check_partition(log, topic, partition)?;
    log.topic(topic)
        .and_then(|t| t.partition(partition).cloned())
        .ok_or_else(|| BackendError::UnknownTopic(topic.to_owned()))
}

impl Backend for EmbeddedBackend {
    fn topics(&self) -> BoxFuture<'_, BackendResult<Topics>> {
        Box::pin(async move { Ok(self.inner.log.topic_counts().into_iter().collect()) })
    }

    fn produce(
        &self,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        Box::pin(self.inner.produce(None, records, None))
    }

    fn produce_to(
        &self,
        topic: String,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        Box::pin(self.inner.produce(Some(topic), records, None))
    }

    fn produce_idempotent(
        &self,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Produced>> {
        Box::pin(
            self.inner
                .produce_idempotent(key, fingerprint, topic, records),
        )
    }

    fn fetch(
        &self,
        entries: Vec<TopicPartitionOffset>,
        timeout: Duration,
    ) -> BoxFuture<'_, BackendResult<Vec<Message>>> {
        Box::pin(async move {
            let mut reads = Vec::with_capacity(entries.len());
            for e in &entries {
                reads.push((resolve(&self.inner.log, &e.topic, e.partition)?, e.offset));
            }
            check_fetch(&entries)?;
            self.inner.poll(&reads, timeout).await
        })
    }

    fn consume(&self, params: ConsumeParams) -> BoxFuture<'_, BackendResult<Vec<Message>>> {
        Box::pin(async move {
            let inner = &self.inner;
            let (plan, changed) =
                inner
                    .groups()
                    .prepare_consume(&inner.log, &params, Instant::now())?;
            // From here on the instance counts as busy until this guard drops.
            let _busy = ConsumeGuard {
                inner: Arc::clone(inner),
                group: &params.group,
                instance: &params.instance,
            };
            if changed {
                inner.persist_offsets().await?;
            }
            let mut msgs = inner.poll(&plan.reads, params.timeout).await?;
            inner.groups().finish_consume(
                &params.group,
                &params.instance,
                &plan,
                &mut msgs,
                Instant::now(),
            );
            Ok(msgs)
        })
    }

    fn open_stream(
        &self,
        params: ConsumeParams,
        resume: Vec<TopicPartitionOffset>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        Box::pin(async move {
            let inner = &self.inner;
            let (starts, changed) =
                inner
                    .groups()
                    .open_stream(&inner.log, &params, &resume, Instant::now())?;
            if changed {
                inner.persist_offsets().await?;
            }
            Ok(starts)
        })
    }

    fn commit(
        &self,
        group: String,
        instance: String,
        offsets: Option<Vec<TopicPartitionOffset>>,
    ) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            let inner = &self.inner;
            let changed =
                inner
                    .groups()
                    .commit(&inner.log, &group, &instance, offsets, Instant::now())?;
            if changed {
                inner.persist_offsets().await?;
            }
            Ok(())
        })
    }

    fn committed(
        &self,
        group: String,
        instance: String,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        Box::pin(async move {
            let inner = &self.inner;
            let (out, changed) = inner.groups().committed(
                &inner.log,
                &group,
                &instance,
                partitions,
                Instant::now(),
            )?;
            if changed {
                inner.persist_offsets().await?;
            }
            Ok(out)
        })
    }

    fn delete_consumer(&self, group: String, instance: String) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            let inner = &self.inner;
            let changed = inner
                .groups()
                .delete(&inner.log, &group, &instance, Instant::now())?;
            if changed {
                inner.persist_offsets().await?;
            }
            Ok(())
        })
    }

    fn consumers(&self) -> BoxFuture<'_, BackendResult<Vec<GroupAssignments>>> {
        Box::pin(async move {
            let inner = &self.inner;
            let (list, changed) = {
                let mut g = inner.groups();
                let changed = g.expire(Instant::now(), &inner.log);
                (g.list(), changed)
            };
            if changed {
                inner.persist_offsets().await?;
            }
            Ok(list)
        })
    }

    fn offsets(
        &self,
        spec: OffsetSpec,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(partitions.len());
            for tp in partitions {
                let part = resolve(&self.inner.log, &tp.topic, tp.partition)?;
                // Earliest is the start offset (it moves up as retention deletes segments). A
                // timestamp after every record answers -1 (spec §12 q. 10; Kafka's "no such
                // offset").
                let offset = match spec {
                    OffsetSpec::Earliest => part.start_offset(),
                    OffsetSpec::Latest => part.end_offset(),
                    OffsetSpec::Timestamp(ts) => part.offset_for_timestamp(ts)?.unwrap_or(-1),
                };
                out.push(TopicPartitionOffset::new(tp.topic, tp.partition, offset));
            }
            Ok(out)
        })
    }

    fn create_topic(
        &self,
        name: String,
        partitions: i32,
        settings: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>> {
        Box::pin(async move {
            let inner = Arc::clone(&self.inner);
            let settings = settings.apply(inner.log.topic_defaults());
            let topic = tokio::task::spawn_blocking(move || {
                inner.log.add_topic(&name, partitions, settings)
            })
            .await
            .map_err(|e| BackendError::Internal(format!("creating a topic panicked: {e}")))??;
            Ok(topic_info(&topic))
        })
    }

    fn describe_topics(
        &self,
        name: Option<String>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicInfo>>> {
        Box::pin(async move {
            let log = &self.inner.log;
            match name {
                Some(name) => {
                    let topic = log
                        .topic(&name)
                        .ok_or_else(|| BackendError::UnknownTopic(name.clone()))?;
                    Ok(vec![topic_info(&topic)])
                }
                None => {
                    let mut all: Vec<TopicInfo> =
                        log.all_topics().iter().map(|t| topic_info(t)).collect();
                    all.sort_by(|a, b| a.name.cmp(&b.name));
                    Ok(all)
                }
            }
        })
    }

    fn alter_topic(
        &self,
        name: String,
        patch: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>> {
        Box::pin(async move {
            let inner = Arc::clone(&self.inner);
            let topic = tokio::task::spawn_blocking(move || inner.log.alter_topic(&name, &patch))
                .await
                .map_err(|e| BackendError::Internal(format!("altering a topic panicked: {e}")))??;
            Ok(topic_info(&topic))
        })
    }

    fn delete_topic(&self, name: String) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            let inner = Arc::clone(&self.inner);
            let topic = name.clone();
            tokio::task::spawn_blocking(move || inner.log.delete_topic(&topic))
                .await
                .map_err(|e| BackendError::Internal(format!("deleting a topic panicked: {e}")))??;
            let changed = self.inner.groups().forget_topic(&name, &self.inner.log);
            if changed {
                self.inner.persist_offsets().await?;
            }
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            self.housekeeping.stop();
            self.inner.groups().commit_on_shutdown();
            self.inner.persist_offsets().await?;
            self.inner.persist_membership(true).await?;
            self.inner.log.close().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `produce_to` hands its topic name to the first record's answer (no copy): every record
    /// of the batch is still answered with the topic it went to, in request order, including
    /// records that name the topic themselves.
    #[tokio::test]
    async fn every_record_to_the_path_topic_is_answered_with_its_name() {
        let backend = EmbeddedBackend::open(EmbeddedOptions {
            topics: vec![TopicSpec::new("t", 2), TopicSpec::new("u", 1)],
            ..EmbeddedOptions::default()
        })
        .await
        .unwrap();
        let records = vec![
            ProduceRecord::new("a").partition(1),
            ProduceRecord::new("b").topic("t"),
            ProduceRecord::new("c").partition(0),
        ];
        let meta = backend.produce_to("t".into(), records).await.unwrap();
        let got: Vec<(&str, i32)> = meta
            .iter()
            .map(|m| (m.topic.as_str(), m.partition))
            .collect();
        assert_eq!(got[0], ("t", 1));
        assert_eq!(got[1].0, "t");
        assert_eq!(got[2], ("t", 0));
        // Records of another topic (as `/produce` sends them) keep their own names.
        let mixed = vec![ProduceRecord::new("d").topic("u"), ProduceRecord::new("e")];
        let meta = backend.produce_to("t".into(), mixed).await.unwrap();
        let names: Vec<&str> = meta.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(names, ["u", "t"]);
    }
}
