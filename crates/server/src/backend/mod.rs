//! The storage interface behind the routes, and the core both backends are built on.
//!
//! The routes only parse, validate the wire shape and call a [`Backend`]; the embedded log
//! ([`EmbeddedBackend`](super::EmbeddedBackend)) is one implementation, the gateway to a real
//! Kafka cluster (`kafka::KafkaBackend`) the other. The trait returns boxed futures so that it
//! stays object-safe (`Arc<dyn Backend>` in the router state).
//!
//! Every rule the two share is written once here: batch planning ([`batch`]: topic lookup,
//! record checks, explicit/key/round-robin partition), the checks of a fetch and a consume
//! ([`checks`]), idempotent produce ([`idempotency`]: the `Idempotency-Key` rule), the clock ([`clock`]), the housekeeping task ([`housekeeping`]), and what a
//! consume's `Kafka-*` headers mean ([`ConsumerSettings`]). The limits come from one
//! [`Limits`](crate::Limits).

pub(crate) mod batch;
pub(crate) mod checks;
pub(crate) mod clock;
pub(crate) mod housekeeping;
pub(crate) mod idempotency;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use upkafka_protocol::{
    ConsumerConfig, GroupAssignments, Message, OffsetSpec, ProduceMetadata, ProduceRecord,
    TopicPartition, TopicPartitionOffset, Topics,
};

use super::error::BackendError;
use super::log::settings::{SettingsPatch, TopicSettings};
pub use idempotency::{
    Fingerprint, IdempotencyKey, Produced, fingerprint_body, fingerprint_records,
};

/// How the server is connected to the storage behind it (the gateway's Kafka cluster), for
/// `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterConnection {
    /// Brokers the client knows of.
    pub brokers_known: u32,
    /// Of those, the ones it is connected to now.
    pub brokers_up: u32,
}

/// A topic as the management API sees it: its partitions, creation time and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name (also its id in the management API).
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Creation time, ms since the epoch (0 when the backend does not know it).
    pub created_ms: i64,
    /// Retention, compaction and size settings.
    pub settings: TopicSettings,
    /// Bytes its records take now, where the backend knows it.
    pub bytes: Option<u64>,
}

/// A boxed, sendable future: what every [`Backend`] method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Shorthand for the result of a backend operation.
pub type BackendResult<T> = Result<T, BackendError>;

/// A consume call: which instance, which topics, how long to wait.
#[derive(Debug, Clone)]
pub struct ConsumeParams {
    /// Consumer group id.
    pub group: String,
    /// Instance id within the group.
    pub instance: String,
    /// Topics to consume; a different list than last time resubscribes the instance.
    pub topics: Vec<String>,
    /// Longest wait for data (already clamped by the routes).
    pub timeout: Duration,
    /// What the `Kafka-*` headers ask for; only the consume that creates the instance
    /// applies them.
    pub settings: ConsumerSettings,
}

/// The settings a consume's `Kafka-*` headers ask for, as the route parsed them: valid
/// settings, or the error they make. Only the consume that creates an instance applies them
/// (spec §4.3: an instance is configured once), so invalid headers fail that consume (400)
/// and are ignored on every later one; [`ConsumerSettings::for_new_instance`] is that rule.
#[derive(Debug, Clone)]
pub enum ConsumerSettings {
    /// The settings (the defaults where no header was sent).
    Valid(ConsumerConfig),
    /// Why the headers cannot be applied: an [`BackendError::InvalidRequest`] naming the
    /// header and its value's problem.
    Invalid(BackendError),
}

/// The longest session (and so idle) timeout a consumer instance may ask for: 30 minutes, as
/// Kafka's default `group.max.session.timeout.ms` caps it.
pub const MAX_SESSION_TIMEOUT_MS: u64 = 30 * 60 * 1000;

impl ConsumerSettings {
    /// Settings parsed from request headers; `get` looks a header up by name.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        match ConsumerConfig::from_headers(get) {
            Ok(config) => match config.session_timeout_ms {
                // An instance that never expires holds its memory forever (issue 20).
                Some(ms) if ms > MAX_SESSION_TIMEOUT_MS => {
                    Self::Invalid(BackendError::InvalidRequest(format!(
                        "Kafka-Session-Timeout-Ms of {ms} is over the maximum of \
                         {MAX_SESSION_TIMEOUT_MS} ms (30 minutes, Kafka's default \
                         group.max.session.timeout.ms)"
                    )))
                }
                _ => Self::Valid(config),
            },
            Err(why) => Self::Invalid(BackendError::InvalidRequest(why)),
        }
    }

    /// The settings to create a new instance with.
    ///
    /// # Errors
    /// The headers' error when they were invalid.
    pub fn for_new_instance(&self) -> BackendResult<&ConsumerConfig> {
        match self {
            Self::Valid(config) => Ok(config),
            Self::Invalid(e) => Err(e.clone()),
        }
    }
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self::Valid(ConsumerConfig::default())
    }
}

/// What the server stores and serves. All operations are independent requests; state lives
/// in the backend.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Topic name → number of partitions (`GET /topics`).
    fn topics(&self) -> BoxFuture<'_, BackendResult<Topics>>;

    /// Produces a batch. Every record has `topic` set. The whole batch is validated (topic,
    /// partition, size) before anything is written: either all are stored or none. Metadata
    /// comes back in request order, after the records are durable.
    fn produce(
        &self,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>>;

    /// [`Backend::produce`] for a batch whose records without `topic` go to `topic`
    /// (`/produce/{topic}`). The default fills in the topic and calls `produce`; a backend
    /// may override it to avoid a copy of the topic name per record.
    fn produce_to(
        &self,
        topic: String,
        mut records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        for r in &mut records {
            if r.topic.is_none() {
                r.topic = Some(topic.clone());
            }
        }
        self.produce(records)
    }

    /// [`Backend::produce`] (with `topic`: [`Backend::produce_to`]) under an idempotency key
    /// (the `Idempotency-Key` header) and the request's [`Fingerprint`]: a repeat of the key
    /// with the same fingerprint answers the first answer and stores nothing; with another it
    /// fails with
    /// [`BackendError::IdempotencyKeyReused`]. The rule is the backend core's
    /// (`backend/idempotency.rs`); each backend supplies the store.
    ///
    /// The default answers [`BackendError::Unsupported`] (501): a backend that does not keep
    /// keys must not pretend to.
    fn produce_idempotent(
        &self,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Produced>> {
        let _ = (key, fingerprint, topic, records);
        Box::pin(async {
            Err(BackendError::Unsupported(
                "this backend does not support Idempotency-Key; send the produce without it"
                    .to_owned(),
            ))
        })
    }

    /// Reads from each `(topic, partition, offset)` on, inclusive, waiting up to `timeout` for
    /// data and returning as soon as any is there.
    fn fetch(
        &self,
        entries: Vec<TopicPartitionOffset>,
        timeout: Duration,
    ) -> BoxFuture<'_, BackendResult<Vec<Message>>>;

    /// Consumes through a consumer group instance (created by its first consume).
    fn consume(&self, params: ConsumeParams) -> BoxFuture<'_, BackendResult<Vec<Message>>>;

    /// Prepares an event stream (`Accept: text/event-stream`) of a consumer-group instance:
    /// joins or creates the instance as a consume would (same settings, same subscription
    /// rules), without reading, and positions **every** assigned partition afresh: at the
    /// offset `resume` names for it (the next offset to deliver, from the client's
    /// `Last-Event-ID`), else at the group's committed offset (else the reset policy), as a
    /// Kafka consumer that joins. Answers the start position of each assigned partition.
    ///
    /// The default answers [`BackendError::Unsupported`] (501): a backend that cannot reposition
    /// an instance cannot stream a group without losing or skipping records on a reconnect.
    fn open_stream(
        &self,
        params: ConsumeParams,
        resume: Vec<TopicPartitionOffset>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        let _ = (params, resume);
        Box::pin(async {
            Err(BackendError::Unsupported(
                "this backend cannot stream a consumer group as server-sent events; \
                 long-poll /consume, or stream /fetch by offset"
                    .to_owned(),
            ))
        })
    }

    /// Commits `offsets` verbatim, or with `None` the instance's position in each of its
    /// partitions (last delivered offset + 1).
    fn commit(
        &self,
        group: String,
        instance: String,
        offsets: Option<Vec<TopicPartitionOffset>>,
    ) -> BoxFuture<'_, BackendResult<()>>;

    /// The group's committed offset per partition, `-1` where none; an empty list means the
    /// instance's assigned partitions.
    fn committed(
        &self,
        group: String,
        instance: String,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>>;

    /// Removes a consumer instance; its partitions go to the group's other instances.
    fn delete_consumer(&self, group: String, instance: String) -> BoxFuture<'_, BackendResult<()>>;

    /// Every live group and instance with its assignment (`GET /consumers`).
    fn consumers(&self) -> BoxFuture<'_, BackendResult<Vec<GroupAssignments>>>;

    /// Offsets by spec: earliest, latest, or the first offset with timestamp ≥ ms (`-1` if none).
    fn offsets(
        &self,
        spec: OffsetSpec,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>>;

    /// Creates a topic with the settings `settings` names, the backend's defaults for the
    /// others (`POST /v2/kafka/topic`); an existing one is
    /// [`BackendError::TopicExists`]. A setting the backend cannot apply is an error naming
    /// it, never silently dropped.
    fn create_topic(
        &self,
        name: String,
        partitions: i32,
        settings: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>>;

    /// Every topic with its settings, or the one named (unknown: [`BackendError::UnknownTopic`]).
    fn describe_topics(&self, name: Option<String>)
    -> BoxFuture<'_, BackendResult<Vec<TopicInfo>>>;

    /// Changes the settings `patch` names, keeping the others (`POST
    /// /v2/kafka/update-topic/{id}`).
    fn alter_topic(
        &self,
        name: String,
        patch: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>>;

    /// Deletes a topic, its records and the consumer groups' committed offsets of it
    /// (`DELETE /v2/kafka/topic/{id}`). Readers of it get unknown topic, not a hang.
    fn delete_topic(&self, name: String) -> BoxFuture<'_, BackendResult<()>>;

    /// The connection to a remote cluster, where there is one (the gateway); `None` for the
    /// embedded log, which has nothing to connect to.
    fn cluster_connection(&self) -> Option<ClusterConnection> {
        None
    }

    /// Flushes and fsyncs everything and stops background work (graceful shutdown).
    fn close(&self) -> BoxFuture<'_, BackendResult<()>>;
}
