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
            let per_topic = tally(records.iter().map(|r| {
                (
                    r.topic.as_deref().unwrap_or_default(),
                    message_bytes(r.key.as_deref(), &r.value, &r.headers),
                )
            }));
            let meta = self.inner.produce(records).await?;
            self.metrics.record_produced(&per_topic);
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
            let bytes = records
                .iter()
                .map(|r| message_bytes(r.key.as_deref(), &r.value, &r.headers))
                .sum();
            let messages = records.len() as u64;
            let meta = self.inner.produce_to(topic, records).await?;
            // Every record went to the path's topic, which the answer names (no copy of the
            // name to count it).
            if let Some(first) = meta.first() {
                self.metrics
                    .record_produced_to(&first.topic, messages, bytes);
            }
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
            // With the path's topic every record goes there (the route refuses a record that
            // names another): counted as `produce_to` does, without a tally per record, under
            // the name the answer carries.
            let per_topic = topic.is_none().then(|| {
                tally(records.iter().map(|r| {
                    (
                        r.topic.as_deref().unwrap_or_default(),
                        message_bytes(r.key.as_deref(), &r.value, &r.headers),
                    )
                }))
            });
            let messages = records.len() as u64;
            let bytes: u64 = match per_topic {
                Some(_) => 0,
                None => records
                    .iter()
                    .map(|r| message_bytes(r.key.as_deref(), &r.value, &r.headers))
                    .sum(),
            };
            let produced = self
                .inner
                .produce_idempotent(key, fingerprint, topic, records)
                .await?;
            // A repeat stored nothing: it is not counted again.
            if !produced.repeated {
                match (&per_topic, produced.metadata.first()) {
                    (Some(per_topic), _) => self.metrics.record_produced(per_topic),
                    (None, Some(first)) => {
                        self.metrics
                            .record_produced_to(&first.topic, messages, bytes);
                    }
                    (None, None) => {}
                }
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
