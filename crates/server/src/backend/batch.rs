//! Batch planning, the same on every backend: where each record of a produce goes (topic,
//! partition) and its timestamp, with the whole batch checked before anything is written
//! (spec §12 question 2: all or nothing, never per-record errors).

use std::future::Future;

use smallvec::SmallVec;
use upkafka_protocol::ProduceRecord;

use super::BackendResult;
use super::checks::check_record;
use super::clock::now_ms;
use crate::error::BackendError;
use crate::log::settings::{CleanupPolicy, TopicSettings};
use crate::partitioner::partition_for_key;

/// What a backend provides to plan a batch on it: its topics and their partitions.
pub(crate) trait ProduceTarget: Sync {
    /// A topic as the backend writes to it (the embedded log's topic, the cluster's
    /// partition count).
    type Topic: Send;

    /// The topic `name` for a produce: created here if the backend auto-creates topics.
    ///
    /// # Errors
    /// [`BackendError::UnknownTopic`] when it does not exist (and is not created).
    fn topic(&self, name: &str) -> impl Future<Output = BackendResult<Self::Topic>> + Send;

    /// The name of `topic`.
    fn name<'t>(&self, topic: &'t Self::Topic) -> &'t str;

    /// How many partitions `topic` has.
    fn partitions(&self, topic: &Self::Topic) -> i32;

    /// Checks that `partition`, named explicitly by a record, exists in `topic` (a backend
    /// may refresh its view of the topic first).
    ///
    /// # Errors
    /// [`BackendError::UnknownPartition`] naming the topic's partition count.
    fn check_partition(
        &self,
        name: &str,
        topic: &Self::Topic,
        partition: i32,
    ) -> impl Future<Output = BackendResult<()>> + Send;

    /// The next partition of `topic` for a record with neither partition nor key.
    fn next_round_robin(&self, name: &str, topic: &Self::Topic) -> i32;

    /// The topic's own rules for its records (its settings); none by default, as on a
    /// backend whose storage enforces them itself (Kafka does).
    fn rules(&self, topic: &Self::Topic) -> TopicRules {
        let _ = topic;
        TopicRules::default()
    }
}

/// What a topic's settings demand of each record produced to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TopicRules {
    /// A lower record-size limit than the server's (the topic's `max_message_size`).
    pub(crate) max_message_bytes: Option<usize>,
    /// Records need a key: the topic is compacted, which keeps the latest record per key.
    pub(crate) needs_key: bool,
}

impl TopicRules {
    /// The rules a topic's settings make.
    pub(crate) fn of(settings: &TopicSettings) -> Self {
        Self {
            max_message_bytes: settings
                .max_message_bytes
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            needs_key: settings.cleanup_policy == CleanupPolicy::Compact,
        }
    }
}

/// Where one record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Index into [`BatchPlan::topics`].
    pub(crate) topic: usize,
    /// The partition: the record's own, else by key (Kafka's murmur2), else round-robin.
    pub(crate) partition: i32,
    /// The record's timestamp, or the time of planning (epoch ms).
    pub(crate) timestamp: i64,
}

/// A checked batch: the distinct topics it writes to, and one placement per record, in
/// request order. Both hold one inline: most requests are one message to one topic, and their
/// plan allocates nothing (two vectors were two of a single-message produce's 24 allocations,
/// issue 19).
pub(crate) struct BatchPlan<T> {
    /// The topics as the backend writes to them.
    pub(crate) topics: SmallVec<[T; 1]>,
    /// One per record.
    pub(crate) placements: SmallVec<[Placement; 1]>,
    /// When it was planned (epoch ms): the timestamp of its records that came without one,
    /// and the time the embedded log's in-memory append writes it at (one clock reading per
    /// request; with a data directory the writer reads its own).
    pub(crate) now_ms: i64,
}

/// Plans `records` on `target`; records without a topic go to `default_topic` (the
/// `/produce/{topic}` path), and a record without either is refused. Each record is
/// checked ([`check_record`]) and each explicit partition looked up before the next record.
///
/// # Errors
/// The first record that cannot be stored, named by its index.
pub(crate) async fn plan_batch<P: ProduceTarget>(
    target: &P,
    records: &[ProduceRecord],
    default_topic: Option<&str>,
    max_message_bytes: usize,
) -> BackendResult<BatchPlan<P::Topic>> {
    let now = now_ms();
    // Room for the one topic of most requests inline, and for every placement up front:
    // growing an empty vector costs more than allocating it (issue 19).
    let mut plan = BatchPlan {
        topics: SmallVec::new(),
        placements: SmallVec::with_capacity(records.len()),
        now_ms: now,
    };
    let mut rules: SmallVec<[TopicRules; 1]> = SmallVec::new();
    for (i, r) in records.iter().enumerate() {
        let Some(name) = r.topic.as_deref().or(default_topic) else {
            return Err(BackendError::InvalidRequest(format!(
                "record {i} has no `topic`"
            )));
        };
        // A request names one or a few topics: a linear search beats hashing.
        let ti = match plan.topics.iter().position(|t| target.name(t) == name) {
            Some(ti) => ti,
            None => {
                let topic = target.topic(name).await?;
                rules.push(target.rules(&topic));
                plan.topics.push(topic);
                plan.topics.len() - 1
            }
        };
        let rule = rules[ti];
        let max = rule
            .max_message_bytes
            .map_or(max_message_bytes, |m| m.min(max_message_bytes));
        check_record(i, r, max)?;
        if rule.needs_key && r.key.is_none() {
            return Err(BackendError::InvalidRequest(format!(
                "record {i} has no `key`: topic `{name}` is compacted (cleanup_policy \
                 compact), which keeps the latest record per key, so every record needs one \
                 (Kafka refuses keyless records on compacted topics too)"
            )));
        }
        let topic = &plan.topics[ti];
        let partition = match (r.partition, &r.key) {
            (Some(p), _) => {
                target.check_partition(name, topic, p).await?;
                p
            }
            (None, Some(k)) => partition_for_key(k.as_bytes(), target.partitions(topic)),
            (None, None) => target.next_round_robin(name, topic),
        };
        plan.placements.push(Placement {
            topic: ti,
            partition,
            timestamp: r.timestamp.unwrap_or(now),
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::*;

    /// Topics `a` (3 partitions) and `b` (2); round-robin counts up from 0.
    struct Fixed(AtomicI32);

    impl ProduceTarget for Fixed {
        type Topic = (&'static str, i32);

        async fn topic(&self, name: &str) -> BackendResult<(&'static str, i32)> {
            match name {
                "a" => Ok(("a", 3)),
                "b" => Ok(("b", 2)),
                "c" => Ok(("c", 1)),
                _ => Err(BackendError::UnknownTopic(name.into())),
            }
        }

        fn name<'t>(&self, topic: &'t (&'static str, i32)) -> &'t str {
            topic.0
        }

        fn partitions(&self, topic: &(&'static str, i32)) -> i32 {
            topic.1
        }

        async fn check_partition(
            &self,
            name: &str,
            topic: &(&'static str, i32),
            partition: i32,
        ) -> BackendResult<()> {
            if (0..topic.1).contains(&partition) {
                Ok(())
            } else {
                Err(BackendError::UnknownPartition {
                    topic: name.into(),
                    partition,
                    count: topic.1,
                })
            }
        }

        fn next_round_robin(&self, _name: &str, topic: &(&'static str, i32)) -> i32 {
            self.0.fetch_add(1, Ordering::Relaxed) % topic.1
        }

        /// `c` is compacted with records of at most 8 bytes.
        fn rules(&self, topic: &(&'static str, i32)) -> TopicRules {
            match topic.0 {
                "c" => TopicRules {
                    max_message_bytes: Some(8),
                    needs_key: true,
                },
                _ => TopicRules::default(),
            }
        }
    }

    #[tokio::test]
    async fn a_topic_s_own_rules_apply_to_its_records_only() {
        let target = Fixed(AtomicI32::new(0));
        let keyless = [ProduceRecord::new("x").topic("a"), ProduceRecord::new("x")];
        let err = plan_batch(&target, &keyless, Some("c"), 100)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("record 1 has no `key`: topic `c` is compacted"),
            "{err}"
        );
        let big = [ProduceRecord::new("123456789").key("k")];
        let err = plan_batch(&target, &big, Some("c"), 100)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, BackendError::RecordTooLarge { max: 8, .. }),
            "{err}"
        );
        // The server's limit still wins where it is lower, and other topics keep it.
        let err = plan_batch(
            &target,
            &[ProduceRecord::new("1234").key("k")],
            Some("c"),
            3,
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(err, BackendError::RecordTooLarge { max: 3, .. }),
            "{err}"
        );
        assert!(plan_batch(&target, &big, Some("a"), 100).await.is_ok());
    }

    #[tokio::test]
    async fn records_are_placed_by_partition_key_or_round_robin() {
        let target = Fixed(AtomicI32::new(0));
        let mut explicit = ProduceRecord::new("x").topic("b");
        explicit.partition = Some(1);
        explicit.timestamp = Some(7);
        let records = vec![
            ProduceRecord::new("x"),
            ProduceRecord::new("x").key("k"),
            explicit,
            ProduceRecord::new("x"),
        ];
        let plan = plan_batch(&target, &records, Some("a"), 100).await.unwrap();
        assert_eq!(plan.topics[..], [("a", 3), ("b", 2)]);
        let parts: Vec<(usize, i32)> = plan
            .placements
            .iter()
            .map(|p| (p.topic, p.partition))
            .collect();
        let by_key = partition_for_key(b"k", 3);
        assert_eq!(parts, [(0, 0), (0, by_key), (1, 1), (0, 1)]);
        assert_eq!(plan.placements[2].timestamp, 7);
        assert!(plan.placements[0].timestamp > 0);
    }

    #[tokio::test]
    async fn a_batch_fails_whole_on_its_first_bad_record() {
        let target = Fixed(AtomicI32::new(0));
        let mut bad_partition = ProduceRecord::new("x");
        bad_partition.partition = Some(5);
        let cases = [
            (
                vec![ProduceRecord::new("x")],
                None,
                "record 0 has no `topic`",
            ),
            (vec![ProduceRecord::new("x").topic("nope")], None, "nope"),
            (vec![ProduceRecord::new("x"), bad_partition], Some("b"), "5"),
            (
                vec![ProduceRecord::new("too long").topic("a")],
                None,
                "record 0",
            ),
        ];
        for (records, default, expected) in cases {
            let err = plan_batch(&target, &records, default, 4)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }
}
