//! The storage interface behind the routes.
//!
//! The routes only parse, validate the wire shape and call a [`Backend`]; the embedded log
//! ([`EmbeddedBackend`](super::EmbeddedBackend)) is one implementation, and a gateway to a
//! real Kafka cluster can be another behind the same routes. The trait returns boxed futures so
//! that it stays object-safe (`Arc<dyn Backend>` in the router state).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use upkafka_protocol::{
    ConsumerConfig, GroupAssignments, Message, OffsetSpec, ProduceMetadata, ProduceRecord,
    TopicPartition, TopicPartitionOffset, Topics,
};

use super::error::BackendError;

/// A boxed, sendable future: what every [`Backend`] method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Shorthand for the result of a backend operation.
pub type BackendResult<T> = Result<T, BackendError>;

/// Checks one record of a produce batch, the same on every backend: a negative timestamp is
/// refused (Kafka's producer refuses them, so an Upstash produce with one failed; stored, it
/// would also break `/offsets` lookups), and so is a record over `max_message_bytes` (key +
/// value + header names and values).
///
/// # Errors
/// [`BackendError::InvalidRequest`] or [`BackendError::RecordTooLarge`] naming record `index`.
pub(crate) fn check_record(
    index: usize,
    record: &ProduceRecord,
    max_message_bytes: usize,
) -> BackendResult<()> {
    if let Some(ts) = record.timestamp.filter(|ts| *ts < 0) {
        return Err(BackendError::InvalidRequest(format!(
            "record {index}: timestamp {ts} is negative; give epoch milliseconds"
        )));
    }
    let size = record.key.as_ref().map_or(0, String::len)
        + record.value.len()
        + record
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.len())
            .sum::<usize>();
    if size > max_message_bytes {
        return Err(BackendError::RecordTooLarge {
            index,
            size,
            max: max_message_bytes,
        });
    }
    Ok(())
}

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
    /// Settings from the `Kafka-*` headers; only used when this call creates the instance.
    pub config: ConsumerConfig,
    /// Why the `Kafka-*` headers could not be read, if they could not. Only the consume that
    /// creates the instance reads them, so this fails that consume (400) and is ignored later.
    pub config_error: Option<String>,
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

    /// Reads from each `(topic, partition, offset)` on, inclusive, waiting up to `timeout` for
    /// data and returning as soon as any is there.
    fn fetch(
        &self,
        entries: Vec<TopicPartitionOffset>,
        timeout: Duration,
    ) -> BoxFuture<'_, BackendResult<Vec<Message>>>;

    /// Consumes through a consumer group instance (created by its first consume).
    fn consume(&self, params: ConsumeParams) -> BoxFuture<'_, BackendResult<Vec<Message>>>;

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

    /// Flushes and fsyncs everything and stops background work (graceful shutdown).
    fn close(&self) -> BoxFuture<'_, BackendResult<()>>;
}
