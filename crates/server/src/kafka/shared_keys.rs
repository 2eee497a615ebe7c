//! Idempotency keys shared by every gateway of one Kafka cluster (issue 16).
//!
//! A gateway that answers a keyed produce also writes the answer to the topic [`TOPIC`]
//! (the idempotency key as the record key; fingerprint, time and answer as a JSON value),
//! and every gateway reads that topic into its own key table. So a retry that reaches
//! another gateway, or this one after a restart, is answered from the first answer instead
//! of being stored again. Kafka offers nothing closer to this for HTTP requests: its
//! idempotent producer deduplicates one producer session's retries, not requests that reach
//! another producer, and a transactional producer per REST producer would hold a broker-side
//! transaction per client.
//!
//! What it does not cover, stated precisely:
//! - a repeat that reaches another gateway *before* that gateway has read the answer (the
//!   topic's consumer lag, a few tens of milliseconds on a healthy cluster) or while the
//!   first is still being stored is stored again (at-least-once, as without a key);
//! - an answer whose write to the topic fails (the records themselves were acknowledged, so
//!   the produce is still answered `200`; the failure is logged) is known to its gateway
//!   only.
//!
//! The topic has one partition and keeps records for the idempotency window
//! (`retention.ms`); keys are unique per batch, so compaction would gain nothing. A
//! starting gateway reads it from the beginning, and waits (at most its request timeout) to
//! have read what was there before it serves.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use upkafka_protocol::ProduceMetadata;

use crate::backend::idempotency::{Dedup, Fingerprint, IdempotencyKey, StoredBatch};

use super::health::BrokerWatch;

/// The topic of shared answers. Names starting with `__` are the cluster's own: the REST
/// API neither lists them nor produces to them.
pub(super) const TOPIC: &str = "__upkafka_idempotency_keys";

/// The value of one shared answer.
#[derive(Serialize, Deserialize)]
struct SharedAnswer {
    /// The request's fingerprint: a repeat with another body is still refused (422).
    fingerprint: Fingerprint,
    /// When it was answered, epoch ms: the window counts from there.
    stored_at_ms: i64,
    /// The answer, in request order.
    answer: Vec<ProduceMetadata>,
}

/// The record value of an answer.
fn encode(fingerprint: Fingerprint, stored_at_ms: i64, answer: &[ProduceMetadata]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        fingerprint: Fingerprint,
        stored_at_ms: i64,
        answer: &'a [ProduceMetadata],
    }
    // Serialising these plain fields cannot fail; an empty value is ignored by `decode`.
    serde_json::to_vec(&Borrowed {
        fingerprint,
        stored_at_ms,
        answer,
    })
    .unwrap_or_default()
}

/// The answer a record of [`TOPIC`] holds, or `None` for a record that is not one (written
/// by something else, or cut): such records are skipped, never trusted.
fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<StoredBatch> {
    let key = IdempotencyKey::parse(key?).ok()?;
    let shared: SharedAnswer = serde_json::from_slice(value?).ok()?;
    Some(StoredBatch {
        key,
        fingerprint: shared.fingerprint,
        stored_at_ms: shared.stored_at_ms,
        answer: shared.answer,
    })
}

/// Writes the answers of this gateway to [`TOPIC`].
pub(super) struct KeyWriter {
    producer: FutureProducer<BrokerWatch>,
    timeout: Duration,
}

impl KeyWriter {
    pub(super) fn new(producer: FutureProducer<BrokerWatch>, timeout: Duration) -> Self {
        Self { producer, timeout }
    }

    /// Shares the answer of `key`, and waits until Kafka acknowledged it, so that a client
    /// that got the answer and retries elsewhere finds it. A failure is logged, not
    /// returned: the records of the answer are stored either way.
    pub(super) async fn share(
        &self,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        answer: &[ProduceMetadata],
    ) {
        let value = encode(fingerprint, crate::backend::clock::now_ms(), answer);
        let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(TOPIC)
            .partition(0)
            .key(key.as_str())
            .payload(&value);
        if let Err((e, _)) = self.producer.send(record, self.timeout).await {
            tracing::warn!(
                error = %e,
                "an Idempotency-Key's answer could not be shared with the other gateways: \
                 only this one recognises a retry of it"
            );
        }
    }
}

/// Reads [`TOPIC`] into a gateway's key table, in a task of its own, until dropped.
pub(super) struct KeyReader {
    task: tokio::task::JoinHandle<()>,
    consumer: Arc<StreamConsumer>,
}

impl KeyReader {
    /// Starts reading `consumer` (a group-less consumer) from the beginning of [`TOPIC`]
    /// into `dedup`, and waits until it has read what the topic held, at most `wait`.
    pub(super) async fn start(
        consumer: StreamConsumer,
        dedup: Dedup,
        wait: Duration,
    ) -> Result<Self, KafkaError> {
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(TOPIC, 0, Offset::Beginning)?;
        consumer.assign(&assignment)?;
        let consumer = Arc::new(consumer);
        // What the topic held at start: read up to there before serving.
        let end = {
            let consumer = Arc::clone(&consumer);
            tokio::task::spawn_blocking(move || consumer.fetch_watermarks(TOPIC, 0, wait))
                .await
                .map_err(|_| KafkaError::Canceled)??
        };
        let (caught_up, read_all) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(read(Arc::clone(&consumer), dedup, caught_up, end));
        if tokio::time::timeout(wait, read_all).await.is_err() {
            tracing::warn!(
                "the shared Idempotency-Key answers were not all read within {wait:?}: \
                 retries of keys answered by other gateways are recognised once they are"
            );
        }
        Ok(Self { task, consumer })
    }

    /// Stops reading; the consumer is closed off the async workers (closing waits for the
    /// broker).
    pub(super) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let consumer = self.consumer;
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    }
}

/// The reading loop: every answer into `dedup`; `caught_up` fires once the records below
/// `(low, high)`'s high watermark, what the topic held at start, are read.
async fn read(
    consumer: Arc<StreamConsumer>,
    dedup: Dedup,
    caught_up: tokio::sync::oneshot::Sender<()>,
    (low, high): (i64, i64),
) {
    let mut caught_up = Some(caught_up);
    if high <= low
        && let Some(tx) = caught_up.take()
    {
        let _ = tx.send(()); // nothing there
    }
    loop {
        match consumer.recv().await {
            Ok(m) => {
                if let Some(batch) = decode(m.key(), m.payload()) {
                    dedup.remember(batch);
                }
                if m.offset() + 1 >= high
                    && let Some(tx) = caught_up.take()
                {
                    let _ = tx.send(());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the shared Idempotency-Key answers");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(offset: i64) -> ProduceMetadata {
        ProduceMetadata {
            topic: "t".to_owned(),
            partition: 1,
            offset,
            timestamp: 7,
        }
    }

    #[test]
    fn an_answer_reads_back_as_it_was_written() {
        let answer = vec![meta(3), meta(4)];
        let value = encode([9; 16], 1234, &answer);
        let got = decode(Some(b"k-1"), Some(&value)).expect("an answer");
        assert_eq!(got.key.as_str(), "k-1");
        assert_eq!(got.fingerprint, [9; 16]);
        assert_eq!(got.stored_at_ms, 1234);
        assert_eq!(got.answer, answer);
    }

    #[test]
    fn records_that_are_not_answers_are_skipped() {
        let value = encode([9; 16], 1, &[meta(0)]);
        assert!(decode(None, Some(&value)).is_none(), "no key");
        assert!(
            decode(Some(b"bad key"), Some(&value)).is_none(),
            "not a valid key"
        );
        assert!(decode(Some(b"k"), None).is_none(), "no value");
        assert!(
            decode(Some(b"k"), Some(b"{\"fingerprint\":")).is_none(),
            "cut"
        );
        assert!(
            decode(Some(b"k"), Some(b"[1,2]")).is_none(),
            "another shape"
        );
    }
}
