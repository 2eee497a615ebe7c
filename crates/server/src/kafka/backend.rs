//! [`KafkaBackend`]: the REST API's operations mapped onto a Kafka cluster with librdkafka.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::backend::batch::{ProduceTarget, plan_batch};
use crate::backend::checks::{InstanceCaps, check_consume_topics, check_fetch};
use crate::backend::housekeeping::Housekeeping;
use crate::backend::idempotency::{Dedup, Fingerprint};
use crate::backend::{
    Backend, BackendResult, BoxFuture, ConsumeParams, IdempotencyKey, Produced, TopicInfo,
};
use crate::config::{Limits, TopicSpec};
use crate::error::BackendError;
use crate::log::settings::SettingsPatch;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use upkafka_protocol::{
    AutoOffsetReset, ConsumerConfig, GroupAssignments, Message, OffsetSpec, ProduceMetadata,
    ProduceRecord, TopicPartition, TopicPartitionOffset, Topics, validate_topic_name,
};

use super::convert::{api_offset, backend_error};
use super::health::BrokerWatch;
use super::instances::{
    Inserted, Instance, InstanceConsumer, InstanceContext, Instances, OnPollError, PollLimits,
    Settle, close_in_background, poll_consumer,
};
use super::settings::KafkaSettings;
use super::shared_keys::{KeyReader, KeyWriter};

/// Options of the gateway backend, mirroring [`EmbeddedOptions`](crate::EmbeddedOptions)
/// where the two overlap.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// The cluster and the client properties for it.
    pub settings: KafkaSettings,
    /// Topics to create in the cluster at start when missing (existing ones are left as they
    /// are, whatever their partition count).
    pub topics: Vec<TopicSpec>,
    /// Create unknown topics on produce (1 partition, the cluster's default replication).
    pub auto_create_topics: bool,
    /// Record size and response limits (`max_message_bytes`, checked before anything is
    /// sent; `max_poll_records`, `max_poll_bytes`), the server's [`Limits`].
    pub limits: Limits,
    /// How often idle consumer instances are looked for.
    pub housekeeping_interval: Duration,
    /// Longest wait for a metadata, offset or admin answer from the cluster (default 10 s).
    pub request_timeout: Duration,
}

impl KafkaOptions {
    /// Options for `settings` with the topics and limits of a server configuration, as
    /// `upkafka serve --kafka` derives them.
    pub fn for_server(settings: KafkaSettings, config: &crate::ServerConfig) -> Self {
        Self {
            topics: config.topics.clone(),
            auto_create_topics: config.auto_create_topics,
            limits: config.limits.clone(),
            housekeeping_interval: config.housekeeping_interval,
            ..Self::new(settings)
        }
    }

    /// Options for `settings` with the defaults of `upkafka serve`.
    pub fn new(settings: KafkaSettings) -> Self {
        Self {
            settings,
            topics: Vec::new(),
            auto_create_topics: false,
            limits: Limits::default(),
            housekeeping_interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Fetch consumers kept for reuse (each holds broker connections).
const FETCH_POOL: usize = 8;

/// The gateway: every operation goes to the Kafka cluster; nothing is stored here.
///
/// - produce: one idempotent producer (`enable.idempotence`, `acks=all`); a batch is answered
///   after the cluster acknowledged every record of it. Partitions for keyed records are
///   chosen with Kafka's murmur2 partitioner (as the embedded log and the Java client do),
///   records without key or partition round-robin.
/// - fetch: a pool of group-less consumers assigned to the asked offsets.
/// - consume, commit, committed, delete: one consumer per REST instance (see `instances`).
/// - `/topics`, `/offsets`: cluster metadata, watermarks and offsets-for-times.
pub struct KafkaBackend {
    inner: Arc<Inner>,
    housekeeping: Housekeeping,
    /// Reads the answers other gateways share (`shared_keys`); `None` once closed, or when
    /// the cluster refused its topic.
    key_reader: tokio::sync::Mutex<Option<KeyReader>>,
}

impl std::fmt::Debug for KafkaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBackend")
            .field("settings", &self.inner.options.settings)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    options: KafkaOptions,
    producer: FutureProducer<BrokerWatch>,
    /// The producer's view of the brokers (shared with its context).
    brokers: BrokerWatch,
    pub(super) admin: AdminClient<DefaultClientContext>,
    /// Group-less client for metadata, watermarks and offsets-for-times.
    meta: Arc<BaseConsumer>,
    fetchers: Mutex<Vec<StreamConsumer>>,
    /// Partition counts seen in the cluster's metadata, refreshed on a miss.
    partitions: RwLock<HashMap<String, i32>>,
    round_robin: Mutex<HashMap<String, AtomicU32>>,
    pub(super) instances: Instances,
    closed: AtomicBool,
    /// Idempotency keys answered by this gateway or shared by the others of its cluster
    /// (issue 16, `shared_keys`).
    dedup: Dedup,
    /// Shares this gateway's answers, once their topic exists.
    key_writer: std::sync::OnceLock<KeyWriter>,
}

impl KafkaBackend {
    /// Connects to the cluster (checking that it answers a metadata request within
    /// `request_timeout`) and creates the `topics` of `options` that are missing.
    ///
    /// # Errors
    /// Bad client properties, an unreachable cluster, a failed topic creation.
    pub async fn connect(options: KafkaOptions) -> BackendResult<Self> {
        options
            .settings
            .validate()
            .map_err(BackendError::InvalidRequest)?;
        let brokers = BrokerWatch::default();
        let producer: FutureProducer<BrokerWatch> = client_config(&options.settings)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // A record not acknowledged within the request timeout fails (503), so that no
            // REST produce waits librdkafka's default five minutes during an outage.
            .set(
                "message.timeout.ms",
                options.request_timeout.as_millis().max(1).to_string(),
            )
            .set("statistics.interval.ms", super::health::STATS_INTERVAL_MS)
            .set(
                "message.max.bytes",
                (options.limits.max_message_bytes + 64 * 1024).to_string(),
            )
            .create_with_context(brokers.clone())
            .map_err(|e| config_error(&options.settings, "producer", &e))?;
        let admin: AdminClient<DefaultClientContext> = client_config(&options.settings)
            .create()
            .map_err(|e| config_error(&options.settings, "admin client", &e))?;
        let meta: BaseConsumer = client_config(&options.settings)
            .set("allow.auto.create.topics", "false")
            .create()
            .map_err(|e| config_error(&options.settings, "metadata client", &e))?;
        let caps = InstanceCaps::of(&options.limits);
        let dedup = Dedup::new(
            options.limits.idempotency_window,
            options.limits.max_idempotency_bytes,
        );
        let inner = Arc::new(Inner {
            options,
            producer,
            brokers,
            admin,
            meta: Arc::new(meta),
            fetchers: Mutex::new(Vec::new()),
            partitions: RwLock::new(HashMap::new()),
            round_robin: Mutex::new(HashMap::new()),
            instances: Instances::new(caps),
            closed: AtomicBool::new(false),
            dedup,
            key_writer: std::sync::OnceLock::new(),
        });
        let topics = inner.metadata(None).await.map_err(|e| {
            BackendError::Internal(format!(
                "cannot reach the Kafka cluster at {}: {e}",
                inner.options.settings.bootstrap
            ))
        })?;
        let missing: Vec<TopicSpec> = inner
            .options
            .topics
            .iter()
            .filter(|t| !topics.contains_key(&t.name))
            .cloned()
            .collect();
        for t in &missing {
            let configs = super::topics::patch_configs(&t.settings);
            let configs: Vec<(&str, &str)> = configs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            inner
                .create_topic(&t.name, t.partitions, &configs, true)
                .await?;
        }
        // Topics that exist take the settings their spec names (a changed configuration
        // applies on restart), checked like any update.
        for t in inner
            .options
            .topics
            .iter()
            .filter(|t| topics.contains_key(&t.name) && t.settings != SettingsPatch::default())
        {
            inner.alter_managed(&t.name, &t.settings).await?;
        }
        let key_reader = share_keys(&inner).await;
        let interval = inner.options.housekeeping_interval;
        let housekeeping = Housekeeping::spawn(&inner, interval, |inner| async move {
            for instance in inner.instances.take_expired(Instant::now()) {
                tracing::info!(
                    group = %instance.group,
                    instance = %instance.id,
                    "consumer instance idle past its session timeout: closed"
                );
                close_instance(instance, true).await;
            }
        });
        Ok(Self {
            inner,
            housekeeping,
            key_reader: tokio::sync::Mutex::new(key_reader),
        })
    }
}

/// Creates the topic of shared idempotency answers if it is missing, starts sharing this
/// gateway's answers and reading the others'. A cluster that refuses the topic leaves the
/// keys to this gateway alone, and says so.
async fn share_keys(inner: &Arc<Inner>) -> Option<KeyReader> {
    let window_ms = inner
        .options
        .limits
        .idempotency_window
        .as_millis()
        .to_string();
    let created = inner
        .create_topic(
            super::shared_keys::TOPIC,
            1,
            &[("retention.ms", window_ms.as_str())],
            true,
        )
        .await;
    if let Err(e) = created {
        tracing::warn!(
            error = %e,
            topic = super::shared_keys::TOPIC,
            "cannot create the topic of shared Idempotency-Key answers: keys are recognised \
             only by the gateway that answered them"
        );
        return None;
    }
    let consumer: StreamConsumer = match client_config(&inner.options.settings)
        .set("group.id", "upkafka-idempotency-keys")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "fetch.wait.max.ms",
            inner
                .options
                .settings
                .get("fetch.wait.max.ms")
                .unwrap_or("100"),
        )
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %inner.options.settings.redact(&e.to_string()), "cannot create the reader of shared Idempotency-Key answers");
            return None;
        }
    };
    let reader = KeyReader::start(consumer, inner.dedup.clone(), inner.timeout()).await;
    match reader {
        Ok(reader) => {
            let _ = inner
                .key_writer
                .set(KeyWriter::new(inner.producer.clone(), inner.timeout()));
            Some(reader)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the shared Idempotency-Key answers");
            None
        }
    }
}

/// The longest wait between two connection attempts to a broker, in milliseconds.
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// Base properties of every client: bootstrap servers, then the user's `--kafka-config`.
fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.bootstrap);
    // librdkafka backs off reconnects up to 10 s by default, so a broker back after a short
    // restart could go unused for most of a request timeout, long enough for the producer's
    // records to time out (503) and its epoch to be bumped. Kafka's Java client caps the
    // backoff at 1 s; so does the gateway (`--kafka-config` may set another).
    c.set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
    // librdkafka logs through `tracing` (target `librdkafka`); its debug contexts
    // (`--kafka-config debug=fetch,cgrp`) are only worth setting with debug logging on.
    let debug = settings.config.iter().any(|s| s.key == "debug");
    c.set_log_level(if debug {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Warning
    });
    for s in &settings.config {
        c.set(&s.key, &s.value);
    }
    c
}

/// A client that could not be created: almost always a bad `--kafka-config` property. The
/// message is librdkafka's, which names the property and may quote a bad value: values of
/// secret properties are masked in it.
fn config_error(settings: &KafkaSettings, what: &str, e: &KafkaError) -> BackendError {
    BackendError::InvalidRequest(settings.redact(&format!("cannot create the Kafka {what}: {e}")))
}

/// Runs a blocking librdkafka call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> BackendResult<T> + Send + 'static,
) -> BackendResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackendError::Internal(format!("kafka call panicked: {e}")))?
}

/// How long a deleted or expired instance may take to leave its group.
const LEAVE_WAIT: Duration = Duration::from_secs(3);

/// How long a shutdown or a delete waits for an instance's consumer to close (its final
/// commit included) before it goes on and leaves the closing to finish in the background.
const CLOSE_WAIT: Duration = Duration::from_secs(15);

/// Closes an instance's consumer off the async workers (committing its delivered offsets
/// if auto-commit is on), waiting at most `CLOSE_WAIT`; `false` if it was still closing then.
///
/// With `leave` (delete-consumer, idle expiry) the member leaves the group first, so its
/// partitions go to the other members at once: a static member sends LeaveGroup on
/// unsubscribe, never on close, and librdkafka needs the revocation served by a poll before
/// it sends it. Without `leave` (gateway shutdown) it stays a member until its session times
/// out, so a restarted gateway takes its partitions back without a rebalance.
pub(super) async fn close_instance(instance: Arc<Instance>, leave: bool) -> bool {
    if leave {
        instance.leave(LEAVE_WAIT).await;
    }
    let (group, id) = (instance.group.clone(), instance.id.clone());
    let closed = close_in_background(instance);
    let in_time = tokio::time::timeout(CLOSE_WAIT, closed).await.is_ok();
    if !in_time {
        tracing::warn!(
            %group,
            instance = %id,
            "consumer instance still closing after {CLOSE_WAIT:?}; going on without it"
        );
    }
    in_time
}

impl Inner {
    pub(super) fn timeout(&self) -> Duration {
        self.options.request_timeout
    }

    /// Topic → partition count from the cluster (`topic` alone, or all topics), refreshing
    /// the cache. Internal topics (`__consumer_offsets`…) are left out.
    pub(super) async fn metadata(self: &Arc<Self>, topic: Option<&str>) -> BackendResult<Topics> {
        let meta = Arc::clone(&self.meta);
        let topic = topic.map(str::to_owned);
        let timeout = self.timeout();
        let topics = blocking(move || {
            let md = meta
                .fetch_metadata(topic.as_deref(), timeout)
                .map_err(|e| backend_error("metadata", &e))?;
            let mut out = Topics::new();
            for t in md.topics() {
                if t.error().is_some() || t.name().starts_with("__") {
                    continue;
                }
                let count = i32::try_from(t.partitions().len()).unwrap_or(i32::MAX);
                if count > 0 {
                    out.insert(t.name().to_owned(), count);
                }
            }
            Ok(out)
        })
        .await?;
        let mut cache = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        cache.extend(topics.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(topics)
    }

    /// The partition count of `topic`, from the cache or the cluster; `None` when it does
    /// not exist.
    pub(super) async fn partition_count(
        self: &Arc<Self>,
        topic: &str,
        fresh: bool,
    ) -> BackendResult<Option<i32>> {
        if !fresh
            && let Some(n) = self
                .partitions
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(topic)
        {
            return Ok(Some(*n));
        }
        Ok(self.metadata(Some(topic)).await?.get(topic).copied())
    }

    /// The partition count of a topic a client names; 400 for an unknown one.
    pub(super) async fn require_topic(self: &Arc<Self>, topic: &str) -> BackendResult<i32> {
        match self.partition_count(topic, false).await? {
            Some(n) => Ok(n),
            None => Err(BackendError::UnknownTopic(topic.to_owned())),
        }
    }

    /// Checks that `topic` has `partition`, looking at fresh metadata before refusing (the
    /// topic may have grown).
    async fn require_partition(self: &Arc<Self>, topic: &str, partition: i32) -> BackendResult<()> {
        let mut count = self.require_topic(topic).await?;
        if !(0..count).contains(&partition) {
            count = self
                .partition_count(topic, true)
                .await?
                .ok_or_else(|| BackendError::UnknownTopic(topic.to_owned()))?;
        }
        if (0..count).contains(&partition) {
            Ok(())
        } else {
            Err(BackendError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                count,
            })
        }
    }

    /// Drops the pooled group-less fetch consumers (a topic they were assigned to is gone).
    pub(super) fn drop_idle_fetchers(&self) {
        let idle = std::mem::take(&mut *self.fetchers.lock().unwrap_or_else(|p| p.into_inner()));
        // Closing a librdkafka consumer blocks: off the async workers.
        if !idle.is_empty() {
            tokio::task::spawn_blocking(move || drop(idle));
        }
    }

    /// Drops a topic from the partition-count cache (it was deleted).
    pub(super) fn forget_partitions(&self, topic: &str) {
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }

    /// Creates `name` with `partitions` partitions and the topic `configs`, waiting until it
    /// shows in the metadata. An existing topic is fine when `exists_ok` (topics named at
    /// start, auto-creation), else [`BackendError::TopicExists`].
    pub(super) async fn create_topic(
        self: &Arc<Self>,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
        exists_ok: bool,
    ) -> BackendResult<()> {
        validate_topic_name(name).map_err(BackendError::InvalidTopicName)?;
        if !(1..=100_000).contains(&partitions) {
            return Err(BackendError::InvalidRequest(format!(
                "topic {name}: partition count {partitions} must be between 1 and 100000"
            )));
        }
        // -1: the cluster's default replication factor (KIP-464).
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(self.timeout()));
        let results = self
            .admin
            .create_topics([&topic], &opts)
            .await
            .map_err(|e| backend_error("create topic", &e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) if exists_ok => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    return Err(BackendError::TopicExists(name.to_owned()));
                }
                Err((t, RDKafkaErrorCode::InvalidConfig | RDKafkaErrorCode::InvalidRequest)) => {
                    return Err(BackendError::InvalidRequest(format!(
                        "the Kafka cluster refused topic `{t}` with these settings"
                    )));
                }
                Err((t, code)) => {
                    return Err(BackendError::Internal(format!(
                        "creating topic `{t}` failed: {code}"
                    )));
                }
            }
        }
        tracing::info!(
            topic = name,
            partitions,
            "created topic in the Kafka cluster"
        );
        // Internal topics (`__…`) never show in the metadata this backend reads, which leaves
        // them out; their one reader (`shared_keys`) waits for its topic by itself.
        if name.starts_with("__") {
            return Ok(());
        }
        // The new topic may take a moment to show in metadata.
        let deadline = Instant::now() + self.timeout();
        loop {
            if self.partition_count(name, true).await?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BackendError::Internal(format!(
                    "topic `{name}` was created but does not show in the cluster's metadata"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The partition count of a topic to produce to, creating it when auto-creation is on.
    async fn topic_for_produce(self: &Arc<Self>, topic: &str) -> BackendResult<i32> {
        match self.partition_count(topic, false).await? {
            Some(n) => Ok(n),
            None if self.options.auto_create_topics => {
                self.create_topic(topic, 1, &[], true).await?;
                self.require_topic(topic).await
            }
            None => Err(BackendError::UnknownTopic(topic.to_owned())),
        }
    }

    fn next_round_robin(&self, topic: &str, count: i32) -> i32 {
        let mut rr = self.round_robin.lock().unwrap_or_else(|p| p.into_inner());
        let n = rr
            .entry(topic.to_owned())
            .or_insert_with(|| AtomicU32::new(0))
            .fetch_add(1, Ordering::Relaxed);
        i32::try_from(n % u32::try_from(count.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    async fn produce(
        self: &Arc<Self>,
        default_topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BackendResult<Vec<ProduceMetadata>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(BackendError::ShuttingDown);
        }
        // Validate the whole batch before anything is sent (spec §12 question 2).
        let max = self.options.limits.max_message_bytes;
        let batch = plan_batch(self, &records, default_topic.as_deref(), max).await?;
        let plan: Vec<(&str, i32, i64)> = batch
            .placements
            .iter()
            .map(|p| (batch.topics[p.topic].0.as_str(), p.partition, p.timestamp))
            .collect();
        // Send everything, then wait for every acknowledgement. `send` enqueues on its first
        // poll; `join_all` polls in order, so records of one partition keep their order (and
        // idempotence keeps it across retries).
        let sends = records
            .iter()
            .zip(&plan)
            .map(|(r, (topic, partition, ts))| {
                let mut rec: FutureRecord<'_, str, str> =
                    FutureRecord::to(topic).partition(*partition).timestamp(*ts);
                // A tombstone is Kafka's null payload.
                if !r.tombstone {
                    rec = rec.payload(r.value.as_str());
                }
                if let Some(k) = &r.key {
                    rec = rec.key(k.as_str());
                }
                if !r.headers.is_empty() {
                    let headers = r.headers.iter().fold(
                        OwnedHeaders::new_with_capacity(r.headers.len()),
                        |hs, h| {
                            hs.insert(KafkaHeader {
                                key: &h.key,
                                value: Some(h.value.as_bytes()),
                            })
                        },
                    );
                    rec = rec.headers(headers);
                }
                self.producer.send(rec, self.timeout())
            });
        let results = futures::future::join_all(sends).await;
        let mut out = Vec::with_capacity(results.len());
        for ((topic, _, ts), result) in plan.iter().zip(results) {
            match result {
                Ok(d) => out.push(ProduceMetadata {
                    topic: (*topic).to_owned(),
                    partition: d.partition,
                    offset: d.offset,
                    timestamp: d.timestamp.to_millis().unwrap_or(*ts),
                }),
                Err((e, _)) => return Err(backend_error("produce", &e)),
            }
        }
        Ok(out)
    }

    /// [`Inner::produce`] answered within the request timeout: when the cluster does not
    /// acknowledge in time (it is down, or has no leader) the answer is 503, never a hang and
    /// never a 200. A record librdkafka still delivers later is then stored without an
    /// answer, as after any timeout (at-least-once).
    async fn produce_in_time(
        self: &Arc<Self>,
        default_topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BackendResult<Vec<ProduceMetadata>> {
        let limit = self.timeout();
        tokio::time::timeout(limit, self.produce(default_topic, records))
            .await
            .unwrap_or_else(|_| {
                Err(BackendError::Unavailable(format!(
                    "the Kafka cluster did not acknowledge the records within the request \
                     timeout ({limit:?}); nothing was acknowledged, retry later"
                )))
            })
    }

    fn take_fetcher(&self) -> BackendResult<StreamConsumer> {
        if let Some(c) = self
            .fetchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            return Ok(c);
        }
        client_config(&self.options.settings)
            // librdkafka's assign() needs a group id even when the group is never joined
            // (no subscribe, no commits): fetch consumers use this one only as a label.
            .set("group.id", "upkafka-fetch")
            // librdkafka keeps one fetch in flight per broker, and a pooled consumer's last
            // one (of an earlier request) must come back before this request's can go out:
            // short broker-side waits keep that delay small. The REST long poll is ours.
            .set(
                "fetch.wait.max.ms",
                self.options
                    .settings
                    .get("fetch.wait.max.ms")
                    .unwrap_or("100"),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("enable.auto.offset.store", "false")
            // An offset outside the partition answers "nothing there" instead of jumping.
            .set("auto.offset.reset", "error")
            .set("allow.auto.create.topics", "false")
            .create()
            .map_err(|e| config_error(&self.options.settings, "fetch consumer", &e))
    }

    fn return_fetcher(&self, consumer: StreamConsumer) {
        if consumer.unassign().is_err() {
            return;
        }
        let mut pool = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < FETCH_POOL {
            pool.push(consumer);
        }
    }

    async fn fetch(
        self: &Arc<Self>,
        entries: Vec<TopicPartitionOffset>,
        timeout: Duration,
    ) -> BackendResult<Vec<Message>> {
        for e in &entries {
            self.require_partition(&e.topic, e.partition).await?;
        }
        check_fetch(&entries)?;
        // One consumer per topic: librdkafka reports "end of partition" by partition number
        // only, so a poll can tell which partitions the broker has answered for only within
        // one topic.
        let mut topics: Vec<&str> = entries.iter().map(|e| e.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        let polls = topics.iter().map(|topic| {
            let part: Vec<&TopicPartitionOffset> =
                entries.iter().filter(|e| e.topic == *topic).collect();
            self.fetch_topic(part, timeout)
        });
        let mut msgs = Vec::new();
        for got in futures::future::join_all(polls).await {
            msgs.extend(got?);
        }
        // Entry order, then offset order (as the embedded log answers); at most the poll
        // limits in all.
        let rank = |m: &Message| {
            entries
                .iter()
                .position(|e| e.topic == m.topic && e.partition == m.partition)
                .unwrap_or(usize::MAX)
        };
        msgs.sort_by_key(|m| (rank(m), m.offset));
        let mut bytes = 0usize;
        let mut keep = 0usize;
        for m in &msgs {
            if keep >= self.options.limits.poll_records()
                || (keep > 0 && bytes >= self.options.limits.poll_bytes())
            {
                break;
            }
            bytes += m.size();
            keep += 1;
        }
        msgs.truncate(keep);
        Ok(msgs)
    }

    /// Fetches the entries of one topic with one pooled consumer.
    async fn fetch_topic(
        self: &Arc<Self>,
        entries: Vec<&TopicPartitionOffset>,
        timeout: Duration,
    ) -> BackendResult<Vec<Message>> {
        let mut tpl = TopicPartitionList::with_capacity(entries.len());
        let mut start: HashMap<i32, i64> = HashMap::new();
        for e in &entries {
            tpl.add_partition_offset(&e.topic, e.partition, Offset::Offset(e.offset))
                .map_err(|err| backend_error("fetch", &err))?;
            start.insert(e.partition, e.offset);
        }
        let consumer = self.take_fetcher()?;
        consumer
            .assign(&tpl)
            .map_err(|e| backend_error("fetch", &e))?;
        let limits = PollLimits {
            max_records: self.options.limits.poll_records(),
            max_bytes: self.options.limits.poll_bytes(),
        };
        // Out of range (before the log start, after its end) reads as "nothing there".
        let mut settle = Settle::default();
        for e in &entries {
            settle.insert(&e.topic, e.partition);
        }
        let result = poll_consumer(&consumer, timeout, limits, settle, |e| {
            match e.rdkafka_error_code() {
                Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange) => {
                    OnPollError::Stop
                }
                _ => OnPollError::Skip,
            }
        })
        .await;
        self.return_fetcher(consumer);
        let mut msgs = result?;
        // librdkafka drops records of an earlier assignment itself; this keeps the promise
        // of "from the given offset on" even if one slipped through.
        msgs.retain(|m| start.get(&m.partition).is_some_and(|s| m.offset >= *s));
        Ok(msgs)
    }

    fn new_instance(&self, params: &ConsumeParams, c: &ConsumerConfig) -> BackendResult<Instance> {
        let session_ms = c
            .session_timeout_ms
            .unwrap_or(ConsumerConfig::DEFAULT_SESSION_TIMEOUT_MS);
        let reset = match c.auto_offset_reset.unwrap_or(AutoOffsetReset::Latest) {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
            AutoOffsetReset::None => "error",
        };
        let consumer: InstanceConsumer = client_config(&self.options.settings)
            .set("group.id", &params.group)
            .set("group.instance.id", &params.instance)
            .set(
                "enable.auto.commit",
                c.auto_commit
                    .unwrap_or(ConsumerConfig::DEFAULT_AUTO_COMMIT)
                    .to_string(),
            )
            .set(
                "auto.commit.interval.ms",
                c.auto_commit_interval_ms
                    .unwrap_or(ConsumerConfig::DEFAULT_AUTO_COMMIT_INTERVAL_MS)
                    .to_string(),
            )
            .set("auto.offset.reset", reset)
            .set("session.timeout.ms", session_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (session_ms / 3).clamp(1, 3_000).to_string(),
            )
            // A REST client polls when it likes; the instance lives until it is idle past
            // its session timeout (housekeeping), never shorter.
            .set("max.poll.interval.ms", session_ms.max(300_000).to_string())
            .set("allow.auto.create.topics", "false")
            .set("enable.partition.eof", "true")
            // Offsets are stored for records actually answered (`Instance::poll`), never
            // for records librdkafka fetched but no REST client received.
            .set("enable.auto.offset.store", "false")
            .create_with_context(InstanceContext::new(
                self.options.settings.get("partition.assignment.strategy"),
                self.options.settings.get("group.protocol"),
            ))
            .map_err(|e| match e {
                KafkaError::ClientCreation(_) => {
                    BackendError::InvalidRequest(self.options.settings.redact(&format!(
                        "cannot create consumer instance `{}` of group `{}`: {e}",
                        params.instance, params.group
                    )))
                }
                e => backend_error("consumer", &e),
            })?;
        Ok(Instance::new(
            params.group.clone(),
            params.instance.clone(),
            consumer,
            c,
        ))
    }

    /// The instance of `params`, created on its first use, subscribed to its topics.
    async fn join(self: &Arc<Self>, params: &ConsumeParams) -> BackendResult<Arc<Instance>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(BackendError::ShuttingDown);
        }
        check_consume_topics(&params.topics)?;
        for t in &params.topics {
            self.require_topic(t).await?;
        }
        let instance = match self.instances.get(&params.group, &params.instance) {
            Some(i) => i,
            None => {
                let config = params.settings.for_new_instance()?;
                self.instances.check_room(&params.group)?;
                match self.instances.insert(self.new_instance(params, config)?) {
                    Inserted::New(instance) => {
                        tracing::info!(
                            group = %params.group,
                            instance = %params.instance,
                            "consumer instance created"
                        );
                        instance
                    }
                    Inserted::Raced(instance, unused) => {
                        drop(close_in_background(unused));
                        instance
                    }
                    Inserted::OverLimit(e, unused) => {
                        drop(close_in_background(unused));
                        return Err(e);
                    }
                }
            }
        };
        instance.subscribe(&params.topics)?;
        Ok(instance)
    }

    /// A consume: records when there are some; none after its timeout when the cluster is
    /// reachable; and 503 when nothing came and no broker is connected (the producer's last
    /// statistics, at most a second old), so that a client can tell an outage from an idle
    /// topic, as it can on produce.
    async fn consume(self: &Arc<Self>, params: ConsumeParams) -> BackendResult<Vec<Message>> {
        let instance = self.join(&params).await?;
        let out = instance
            .poll(
                params.timeout,
                PollLimits {
                    max_records: self.options.limits.poll_records(),
                    max_bytes: self.options.limits.poll_bytes(),
                },
            )
            .await?;
        let down = self
            .brokers
            .connection()
            .is_some_and(|c| c.brokers_known > 0 && c.brokers_up == 0);
        if out.is_empty() && down {
            return Err(BackendError::Unavailable(
                "the Kafka cluster is unavailable (consume: no broker connected); nothing was \
                 delivered, retry later"
                    .into(),
            ));
        }
        Ok(out)
    }

    async fn open_stream(
        self: &Arc<Self>,
        params: ConsumeParams,
        resume: Vec<TopicPartitionOffset>,
    ) -> BackendResult<Vec<TopicPartitionOffset>> {
        for r in &resume {
            self.require_partition(&r.topic, r.partition).await?;
        }
        let instance = self.join(&params).await?;
        instance.reposition(&resume, self.timeout()).await
    }

    fn instance(&self, group: &str, instance: &str) -> BackendResult<Arc<Instance>> {
        self.instances
            .get(group, instance)
            .ok_or_else(|| BackendError::UnknownConsumer {
                group: group.to_owned(),
                instance: instance.to_owned(),
            })
    }

    async fn commit(
        self: &Arc<Self>,
        group: String,
        instance: String,
        offsets: Option<Vec<TopicPartitionOffset>>,
    ) -> BackendResult<()> {
        let inst = self.instance(&group, &instance)?;
        let consumer = Arc::clone(&inst.consumer);
        let tpl = match offsets {
            None => None,
            Some(list) => {
                let mut tpl = TopicPartitionList::with_capacity(list.len());
                for o in &list {
                    self.require_partition(&o.topic, o.partition).await?;
                    tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
                        .map_err(|e| backend_error("commit", &e))?;
                }
                Some(tpl)
            }
        };
        blocking(move || {
            let r = match &tpl {
                Some(tpl) if tpl.count() == 0 => Ok(()),
                Some(tpl) => consumer.commit(tpl, CommitMode::Sync),
                None => consumer.commit_consumer_state(CommitMode::Sync),
            };
            match r {
                // Nothing consumed since the last commit: nothing to do.
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) | Ok(()) => Ok(()),
                Err(e) => Err(backend_error("commit", &e)),
            }
        })
        .await
    }

    async fn committed(
        self: &Arc<Self>,
        group: String,
        instance: String,
        partitions: Vec<TopicPartition>,
    ) -> BackendResult<Vec<TopicPartitionOffset>> {
        let inst = self.instance(&group, &instance)?;
        let mut tpl = TopicPartitionList::new();
        if partitions.is_empty() {
            for a in inst.assignment() {
                for p in a.partitions {
                    tpl.add_partition(&a.topic, p);
                }
            }
        } else {
            for p in &partitions {
                self.require_partition(&p.topic, p.partition).await?;
                tpl.add_partition(&p.topic, p.partition);
            }
        }
        if tpl.count() == 0 {
            return Ok(Vec::new());
        }
        let consumer = Arc::clone(&inst.consumer);
        let timeout = self.timeout();
        blocking(move || {
            let got = consumer
                .committed_offsets(tpl, timeout)
                .map_err(|e| backend_error("committed", &e))?;
            Ok(got
                .elements()
                .iter()
                .map(|e| {
                    TopicPartitionOffset::new(e.topic(), e.partition(), api_offset(e.offset()))
                })
                .collect())
        })
        .await
    }

    async fn offsets(
        self: &Arc<Self>,
        spec: OffsetSpec,
        partitions: Vec<TopicPartition>,
    ) -> BackendResult<Vec<TopicPartitionOffset>> {
        for p in &partitions {
            self.require_partition(&p.topic, p.partition).await?;
        }
        let meta = Arc::clone(&self.meta);
        let timeout = self.timeout();
        let found = blocking(move || match spec {
            OffsetSpec::Earliest | OffsetSpec::Latest => partitions
                .iter()
                .map(|p| {
                    let (low, high) = meta
                        .fetch_watermarks(&p.topic, p.partition, timeout)
                        .map_err(|e| backend_error("offsets", &e))?;
                    let offset = if spec == OffsetSpec::Earliest {
                        low
                    } else {
                        high
                    };
                    Ok(TopicPartitionOffset::new(&p.topic, p.partition, offset))
                })
                .collect::<BackendResult<Vec<_>>>(),
            OffsetSpec::Timestamp(ms) => {
                let mut tpl = TopicPartitionList::with_capacity(partitions.len());
                for p in &partitions {
                    tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(ms))
                        .map_err(|e| backend_error("offsets", &e))?;
                }
                let got = meta
                    .offsets_for_times(tpl, timeout)
                    .map_err(|e| backend_error("offsets", &e))?;
                // Answer in request order.
                Ok(partitions
                    .iter()
                    .map(|p| {
                        let offset = got
                            .find_partition(&p.topic, p.partition)
                            .map_or(-1, |e| api_offset(e.offset()));
                        TopicPartitionOffset::new(&p.topic, p.partition, offset)
                    })
                    .collect())
            }
        })
        .await?;
        match spec {
            OffsetSpec::Timestamp(ms) => self.confirm_times(found, ms).await,
            _ => Ok(found),
        }
    }

    /// Checks each offset a time lookup found: the record there must exist and carry a
    /// timestamp ≥ `ms`, else the answer is `-1` ("no record at or after"). Kafka itself
    /// answers `-1` in that case; some Kafka-protocol brokers answer `0` (Tansu 0.6 does),
    /// which would send a client back to the start of the partition.
    async fn confirm_times(
        self: &Arc<Self>,
        found: Vec<TopicPartitionOffset>,
        ms: i64,
    ) -> BackendResult<Vec<TopicPartitionOffset>> {
        let checks = found.into_iter().map(|tpo| async move {
            if tpo.offset < 0 {
                return Ok(tpo);
            }
            let at = self.fetch_topic(vec![&tpo], Duration::ZERO).await?;
            let ok = at
                .first()
                .is_some_and(|m| m.offset == tpo.offset && m.timestamp >= ms);
            Ok(if ok {
                tpo
            } else {
                TopicPartitionOffset::new(tpo.topic, tpo.partition, -1)
            })
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .collect()
    }

    async fn close(self: &Arc<Self>) -> BackendResult<()> {
        self.closed.store(true, Ordering::SeqCst);
        // All at once: each close is mostly waiting for the broker.
        let closing = self
            .instances
            .take_all()
            .into_iter()
            .map(|instance| close_instance(instance, false));
        let stuck = futures::future::join_all(closing)
            .await
            .into_iter()
            .filter(|in_time| !in_time)
            .count();
        let inner = Arc::clone(self);
        blocking(move || {
            inner
                .producer
                .flush(inner.timeout())
                .map_err(|e| backend_error("flush", &e))
        })
        .await?;
        if stuck > 0 {
            // Their final commits may still land; the shutdown says it could not wait.
            return Err(BackendError::Internal(format!(
                "{stuck} consumer instance(s) had not closed {CLOSE_WAIT:?} into the shutdown"
            )));
        }
        Ok(())
    }
}

/// The cluster as a place to produce to: a topic is its name and partition count (from the
/// cached metadata, refreshed on a miss), created with 1 partition when auto-creation is on.
impl ProduceTarget for Arc<Inner> {
    type Topic = (String, i32);

    async fn topic(&self, name: &str) -> BackendResult<(String, i32)> {
        Ok((name.to_owned(), self.topic_for_produce(name).await?))
    }

    fn name<'t>(&self, topic: &'t (String, i32)) -> &'t str {
        &topic.0
    }

    fn partitions(&self, topic: &(String, i32)) -> i32 {
        topic.1
    }

    async fn check_partition(
        &self,
        name: &str,
        _topic: &(String, i32),
        partition: i32,
    ) -> BackendResult<()> {
        self.require_partition(name, partition).await
    }

    fn next_round_robin(&self, name: &str, topic: &(String, i32)) -> i32 {
        Inner::next_round_robin(self, name, topic.1)
    }
}

impl Backend for KafkaBackend {
    fn topics(&self) -> BoxFuture<'_, BackendResult<Topics>> {
        Box::pin(async move { self.inner.metadata(None).await })
    }

    fn create_topic(
        &self,
        name: String,
        partitions: i32,
        settings: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>> {
        Box::pin(async move {
            self.inner
                .create_managed_topic(&name, partitions, &settings)
                .await
        })
    }

    fn describe_topics(
        &self,
        name: Option<String>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicInfo>>> {
        Box::pin(async move { self.inner.describe_managed(name).await })
    }

    fn alter_topic(
        &self,
        name: String,
        patch: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>> {
        Box::pin(async move { self.inner.alter_managed(&name, &patch).await })
    }

    fn delete_topic(&self, name: String) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            // A librdkafka 2.12 consumer holding an assignment crashed the process when a
            // topic was deleted on Tansu 0.6 (RELIABILITY.md; `delete_managed` closes the
            // instances and idle fetchers first for the same reason). The reader of shared
            // keys is one: it is stopped for the deletion and started again, reading its
            // topic from the beginning.
            let mut reader = self.key_reader.lock().await;
            let was_reading = match reader.take() {
                Some(r) => {
                    r.stop().await;
                    true
                }
                None => false,
            };
            let deleted = self.inner.delete_managed(&name).await;
            if was_reading {
                *reader = share_keys(&self.inner).await;
            }
            deleted
        })
    }

    fn cluster_connection(&self) -> Option<crate::backend::ClusterConnection> {
        self.inner.brokers.connection()
    }

    fn produce(
        &self,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        Box::pin(async move { self.inner.produce_in_time(None, records).await })
    }

    fn produce_to(
        &self,
        topic: String,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        Box::pin(async move { self.inner.produce_in_time(Some(topic), records).await })
    }

    fn produce_idempotent(
        &self,
        key: IdempotencyKey,
        fp: Fingerprint,
        topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Produced>> {
        Box::pin(async move {
            let inner = Arc::clone(&self.inner);
            let k = key.clone();
            self.inner
                .dedup
                .produce(key, fp, move || async move {
                    let answer = inner.produce_in_time(topic, records).await?;
                    if let Some(writer) = inner.key_writer.get() {
                        writer.share(&k, fp, &answer).await;
                    }
                    Ok(answer)
                })
                .await
        })
    }

    fn fetch(
        &self,
        entries: Vec<TopicPartitionOffset>,
        timeout: Duration,
    ) -> BoxFuture<'_, BackendResult<Vec<Message>>> {
        Box::pin(async move { self.inner.fetch(entries, timeout).await })
    }

    fn consume(&self, params: ConsumeParams) -> BoxFuture<'_, BackendResult<Vec<Message>>> {
        Box::pin(async move { self.inner.consume(params).await })
    }

    fn open_stream(
        &self,
        params: ConsumeParams,
        resume: Vec<TopicPartitionOffset>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        Box::pin(async move { self.inner.open_stream(params, resume).await })
    }

    fn commit(
        &self,
        group: String,
        instance: String,
        offsets: Option<Vec<TopicPartitionOffset>>,
    ) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move { self.inner.commit(group, instance, offsets).await })
    }

    fn committed(
        &self,
        group: String,
        instance: String,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        Box::pin(async move { self.inner.committed(group, instance, partitions).await })
    }

    fn delete_consumer(&self, group: String, instance: String) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            let inst = self
                .inner
                .instances
                .remove(&group, &instance)
                .ok_or(BackendError::UnknownConsumer { group, instance })?;
            close_instance(inst, true).await;
            Ok(())
        })
    }

    fn consumers(&self) -> BoxFuture<'_, BackendResult<Vec<GroupAssignments>>> {
        Box::pin(async move { Ok(self.inner.instances.assignments()) })
    }

    fn offsets(
        &self,
        spec: OffsetSpec,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        Box::pin(async move { self.inner.offsets(spec, partitions).await })
    }

    fn close(&self) -> BoxFuture<'_, BackendResult<()>> {
        Box::pin(async move {
            self.housekeeping.stop();
            if let Some(reader) = self.key_reader.lock().await.take() {
                reader.stop().await;
            }
            self.inner.close().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker back after a restart is reconnected to within about a second, not after
    /// librdkafka's default 10 s backoff, which outlasted the request timeout and made the
    /// producer bump its epoch (found by `tests/gateway/network_faults.rs`, restart test).
    #[test]
    fn clients_reconnect_within_a_second_unless_told_otherwise() {
        let default = client_config(&KafkaSettings::new("127.0.0.1:9092"));
        assert_eq!(default.get("reconnect.backoff.max.ms"), Some("1000"));
        let told = client_config(
            &KafkaSettings::new("127.0.0.1:9092").with("reconnect.backoff.max.ms", "5000"),
        );
        assert_eq!(told.get("reconnect.backoff.max.ms"), Some("5000"));
    }
}
