//! [`MeteredBackend`]: a decorator around any [`Backend`] that counts produced and delivered
//! messages and bytes into [`Metrics`], after the inner backend answered (so refused requests
//! count nothing, and the counts hold for every backend).

use std::sync::Arc;
use std::time::Duration;

use upkafka_protocol::{
    GroupAssignments, Message, OffsetSpec, ProduceMetadata, ProduceRecord, TopicPartition,
    TopicPartitionOffset, Topics,
};

use super::{Metrics, ReadApi, message_bytes};
use crate::backend::{
    Backend, BackendResult, BoxFuture, ConsumeParams, Fingerprint, IdempotencyKey, Produced,
    TopicInfo,
};
use crate::log::settings::SettingsPatch;

/// A [`Backend`] that counts what passes through another one.
#[derive(Debug)]
pub struct MeteredBackend {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
}

/// Messages and bytes of one topic in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Topic name.
    pub topic: String,
    /// Messages.
    pub messages: u64,
    /// Key + value + header bytes.
    pub bytes: u64,
}

/// Sums `(topic, bytes)` per topic, copying each topic name once (a request names few topics,
/// so a linear search beats a map).
pub(super) fn tally<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> Vec<Tally> {
    let mut out: Vec<Tally> = Vec::new();
    for (topic, bytes) in items {
        match out.iter_mut().find(|t| t.topic == topic) {
            Some(t) => {
                t.messages += 1;
                t.bytes += bytes;
            }
            None => out.push(Tally {
                topic: topic.to_owned(),
                messages: 1,
                bytes,
            }),
        }
    }
    out
}

/// What a produce request will count once stored, taken from its records before they go to
/// the backend (which consumes them).
enum ProducedCount {
    /// Every record goes to the path's topic (`/produce/{topic}`: the route refuses a record
    /// naming another), counted without a tally per record, under the name the answer
    /// carries (no copy of it).
    ToPath { messages: u64, bytes: u64 },
    /// Records that name their topics.
    PerTopic(Vec<Tally>),
}

impl ProducedCount {
    fn of(to_path: bool, records: &[ProduceRecord]) -> Self {
        let bytes = |r: &ProduceRecord| message_bytes(r.key.as_deref(), &r.value, &r.headers);
        if to_path {
            Self::ToPath {
                messages: records.len() as u64,
                bytes: records.iter().map(bytes).sum(),
            }
        } else {
            Self::PerTopic(tally(
                records
                    .iter()
                    .map(|r| (r.topic.as_deref().unwrap_or_default(), bytes(r))),
            ))
        }
    }

    /// Counts the stored request whose answer is `meta`.
    fn record(&self, metrics: &Metrics, meta: &[ProduceMetadata]) {
        match (self, meta.first()) {
            (Self::PerTopic(per_topic), _) => metrics.record_produced(per_topic),
            (Self::ToPath { messages, bytes }, Some(first)) => {
                metrics.record_produced_to(&first.topic, *messages, *bytes);
            }
            (Self::ToPath { .. }, None) => {}
        }
    }
}

impl MeteredBackend {
    /// Counts the traffic of `inner` into `metrics`.
    pub fn new(inner: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

impl Backend for MeteredBackend {
    fn topics(&self) -> BoxFuture<'_, BackendResult<Topics>> {
        self.inner.topics()
    }

    fn produce(
        &self,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        Box::pin(async move {
            let count = ProducedCount::of(false, &records);
            let meta = self.inner.produce(records).await?;
            count.record(&self.metrics, &meta);
            Ok(meta)
        })
    }

    fn produce_to(
        &self,
        topic: String,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Vec<ProduceMetadata>>> {
        // Forwarded, not left to the trait default, so the inner backend's own `produce_to`
        // (which avoids a topic copy per record) is used.
        Box::pin(async move {
            let count = ProducedCount::of(true, &records);
            let meta = self.inner.produce_to(topic, records).await?;
            count.record(&self.metrics, &meta);
            Ok(meta)
        })
    }

    fn produce_idempotent(
        &self,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        topic: Option<String>,
        records: Vec<ProduceRecord>,
    ) -> BoxFuture<'_, BackendResult<Produced>> {
        Box::pin(async move {
            let count = ProducedCount::of(topic.is_some(), &records);
            let produced = self
                .inner
                .produce_idempotent(key, fingerprint, topic, records)
                .await?;
            // A repeat stored nothing: it is not counted again.
            if !produced.repeated {
                count.record(&self.metrics, &produced.metadata);
            }
            Ok(produced)
        })
    }

    fn fetch(
        &self,
        entries: Vec<TopicPartitionOffset>,
        timeout: Duration,
    ) -> BoxFuture<'_, BackendResult<Vec<Message>>> {
        Box::pin(async move {
            let messages = self.inner.fetch(entries, timeout).await?;
            self.metrics.record_read(ReadApi::Fetch, &messages);
            Ok(messages)
        })
    }

    fn consume(&self, params: ConsumeParams) -> BoxFuture<'_, BackendResult<Vec<Message>>> {
        Box::pin(async move {
            let messages = self.inner.consume(params).await?;
            self.metrics.record_read(ReadApi::Consume, &messages);
            Ok(messages)
        })
    }

    fn open_stream(
        &self,
        params: ConsumeParams,
        resume: Vec<TopicPartitionOffset>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        self.inner.open_stream(params, resume)
    }

    fn commit(
        &self,
        group: String,
        instance: String,
        offsets: Option<Vec<TopicPartitionOffset>>,
    ) -> BoxFuture<'_, BackendResult<()>> {
        self.inner.commit(group, instance, offsets)
    }

    fn committed(
        &self,
        group: String,
        instance: String,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        self.inner.committed(group, instance, partitions)
    }

    fn delete_consumer(&self, group: String, instance: String) -> BoxFuture<'_, BackendResult<()>> {
        self.inner.delete_consumer(group, instance)
    }

    fn consumers(&self) -> BoxFuture<'_, BackendResult<Vec<GroupAssignments>>> {
        self.inner.consumers()
    }

    fn offsets(
        &self,
        spec: OffsetSpec,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicPartitionOffset>>> {
        self.inner.offsets(spec, partitions)
    }

    fn create_topic(
        &self,
        name: String,
        partitions: i32,
        settings: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>> {
        self.inner.create_topic(name, partitions, settings)
    }

    fn describe_topics(
        &self,
        name: Option<String>,
    ) -> BoxFuture<'_, BackendResult<Vec<TopicInfo>>> {
        self.inner.describe_topics(name)
    }

    fn alter_topic(
        &self,
        name: String,
        patch: SettingsPatch,
    ) -> BoxFuture<'_, BackendResult<TopicInfo>> {
        self.inner.alter_topic(name, patch)
    }

    fn delete_topic(&self, name: String) -> BoxFuture<'_, BackendResult<()>> {
        self.inner.delete_topic(name)
    }

    fn cluster_connection(&self) -> Option<crate::backend::ClusterConnection> {
        self.inner.cluster_connection()
    }

    fn close(&self) -> BoxFuture<'_, BackendResult<()>> {
        self.inner.close()
    }
}
