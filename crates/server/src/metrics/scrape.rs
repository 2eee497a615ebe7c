//! Gauges read at scrape time: earliest and latest offsets per partition, consumer instances
//! per group, committed offsets and lag per group and assigned partition (from the backend),
//! and the size of the data directory.
//!
//! Reading the backend is asynchronous and prometheus-client encodes synchronously, so a
//! scrape first takes a [`Snapshot`] and then encodes it through a [`Collector`] on a registry
//! of that scrape alone: concurrent scrapes share no state.
//!
//! Cost (issue 20): committed offsets belong to a group, so a scrape asks them once per group
//! (through any of its live instances), never once per instance, and stops asking once the
//! committed-offset family is full. Every family keeps at most `max_metric_series` series
//! (in label order); what a scrape left out is counted, per family, in
//! `upkafka_metrics_series_dropped{family}`, which is always written, 0 when nothing was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use upkafka_protocol::{GroupAssignments, OffsetSpec, TopicPartition, TopicPartitionOffset};

use crate::backend::Backend;

/// Lag of a partition: latest − committed, or latest − earliest with nothing committed.
pub fn lag(committed: i64, earliest: i64, latest: i64) -> i64 {
    let from = if committed >= 0 { committed } else { earliest };
    (latest - from).max(0)
}

type PartitionKey = (String, i32);

/// What the backend knows right now, for the gauges.
#[derive(Debug)]
pub(super) struct Snapshot {
    earliest: BTreeMap<PartitionKey, i64>,
    latest: BTreeMap<PartitionKey, i64>,
    /// Group name → live instances.
    instances: BTreeMap<String, usize>,
    committed: BTreeMap<(String, String, i32), i64>,
    /// Assigned partitions of the groups whose committed offsets were not asked for, the
    /// committed-offset family being full (`max_series`).
    committed_left_out: usize,
}

/// How many of a group's instances a scrape tries before it gives up on the group's committed
/// offsets (an instance may expire between `consumers()` and the question).
const COMMITTED_TRIES: usize = 3;

impl Snapshot {
    /// Reads offsets, groups and committed offsets from `backend`, the committed offsets of
    /// at most `max_series` assigned partitions; the error is the first failure's text.
    pub(super) async fn take(backend: &dyn Backend, max_series: usize) -> Result<Self, String> {
        let topics = backend.topics().await.map_err(|e| e.to_string())?;
        let partitions: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(|p| TopicPartition::new(t.clone(), p)))
            .collect();
        let to_map = |v: Vec<TopicPartitionOffset>| {
            v.into_iter()
                .map(|o| ((o.topic, o.partition), o.offset))
                .collect::<BTreeMap<_, _>>()
        };
        let earliest = to_map(
            backend
                .offsets(OffsetSpec::Earliest, partitions.clone())
                .await
                .map_err(|e| e.to_string())?,
        );
        let latest = to_map(
            backend
                .offsets(OffsetSpec::Latest, partitions)
                .await
                .map_err(|e| e.to_string())?,
        );
        let groups: Vec<GroupAssignments> = backend.consumers().await.map_err(|e| e.to_string())?;
        let mut committed = BTreeMap::new();
        let mut committed_left_out = 0;
        for g in &groups {
            // The group's assigned partitions, over all its instances.
            let assigned: BTreeSet<(&str, i32)> = g
                .instances
                .iter()
                .flat_map(|i| i.topics.iter())
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.as_str(), *p)))
                .collect();
            if assigned.is_empty() {
                continue;
            }
            if committed.len() >= max_series {
                committed_left_out += assigned.len();
                continue;
            }
            let asked: Vec<TopicPartition> = assigned
                .into_iter()
                .map(|(t, p)| TopicPartition::new(t, p))
                .collect();
            // Committed offsets are the group's: any live instance can ask for all of them.
            // One may have expired since `consumers()`: then the next is asked.
            for i in g.instances.iter().take(COMMITTED_TRIES) {
                if let Ok(offsets) = backend
                    .committed(g.name.clone(), i.name.clone(), asked.clone())
                    .await
                {
                    for o in offsets {
                        committed.insert((g.name.clone(), o.topic, o.partition), o.offset);
                    }
                    break;
                }
            }
        }
        let instances = groups
            .into_iter()
            .map(|g| (g.name, g.instances.len()))
            .collect();
        Ok(Self {
            earliest,
            latest,
            instances,
            committed,
            committed_left_out,
        })
    }
}

/// The gauges of one scrape.
#[derive(Debug)]
pub(super) struct ScrapeGauges {
    /// From the backend; `None` when it could not be read (the exposition then says so in a
    /// comment instead of failing the scrape).
    pub(super) snapshot: Option<Snapshot>,
    /// Size of the data directory, when there is one.
    pub(super) log_size: Option<u64>,
    /// The gateway's connection to its cluster, once it has been measured.
    pub(super) cluster: Option<crate::backend::ClusterConnection>,
    /// Most series of one family (`Limits::max_metric_series`).
    pub(super) max_series: usize,
    /// Series other collectors of this scrape left out, per exposed family name (the
    /// per-topic counters): written into `upkafka_metrics_series_dropped` with this
    /// collector's own.
    pub(super) dropped_elsewhere: Vec<(&'static str, usize)>,
}

/// The family that counts what the cap left out.
pub(super) const DROPPED_FAMILY: &str = "upkafka_metrics_series_dropped";

impl Collector for ScrapeGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let max = self.max_series;
        let mut dropped = self.dropped_elsewhere.clone();
        if let Some(s) = &self.snapshot {
            for (name, help, map) in [
                (
                    "upkafka_partition_earliest_offset",
                    "Earliest offset per partition.",
                    &s.earliest,
                ),
                (
                    "upkafka_partition_latest_offset",
                    "Latest offset (next to be written) per partition.",
                    &s.latest,
                ),
            ] {
                let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                for ((topic, partition), offset) in map.iter().take(max) {
                    let labels = ([("topic", topic.as_str())], [("partition", *partition)]);
                    ConstGauge::new(*offset).encode(family.encode_family(&labels)?)?;
                }
                dropped.push((name, map.len().saturating_sub(max)));
            }
            let mut family = encoder.encode_descriptor(
                "upkafka_consumer_instances",
                "Live consumer instances per group.",
                None,
                MetricType::Gauge,
            )?;
            for (group, n) in s.instances.iter().take(max) {
                let labels = [("group", group.as_str())];
                ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
            }
            dropped.push((
                "upkafka_consumer_instances",
                s.instances.len().saturating_sub(max),
            ));
            let committed_dropped = s.committed.len().saturating_sub(max) + s.committed_left_out;
            let mut family = encoder.encode_descriptor(
                "upkafka_consumer_group_committed_offset",
                "Committed offset per group and assigned partition (-1: none).",
                None,
                MetricType::Gauge,
            )?;
            for ((group, topic, partition), committed) in s.committed.iter().take(max) {
                let labels = (
                    [("group", group.as_str()), ("topic", topic.as_str())],
                    [("partition", *partition)],
                );
                ConstGauge::new(*committed).encode(family.encode_family(&labels)?)?;
            }
            dropped.push(("upkafka_consumer_group_committed_offset", committed_dropped));
            let mut family = encoder.encode_descriptor(
                "upkafka_consumer_group_lag",
                "Messages not yet committed per group and assigned partition.",
                None,
                MetricType::Gauge,
            )?;
            for ((group, topic, partition), committed) in s.committed.iter().take(max) {
                let key = (topic.clone(), *partition);
                let latest = s.latest.get(&key).copied().unwrap_or(0);
                let earliest = s.earliest.get(&key).copied().unwrap_or(0);
                let labels = (
                    [("group", group.as_str()), ("topic", topic.as_str())],
                    [("partition", *partition)],
                );
                ConstGauge::new(lag(*committed, earliest, latest))
                    .encode(family.encode_family(&labels)?)?;
            }
            dropped.push(("upkafka_consumer_group_lag", committed_dropped));
        }
        if let Some(size) = self.log_size {
            let family = encoder.encode_descriptor(
                "upkafka_log_size_bytes",
                "Size of the data directory on disk.",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(size).encode(family)?;
        }
        if let Some(c) = self.cluster {
            for (name, help, n) in [
                (
                    "upkafka_kafka_brokers",
                    "Brokers of the Kafka cluster the gateway knows of.",
                    c.brokers_known,
                ),
                (
                    "upkafka_kafka_brokers_up",
                    "Brokers the gateway is connected to now (0: the cluster is unreachable, \
                     produce and consume answer 503).",
                    c.brokers_up,
                ),
            ] {
                let family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(i64::from(n)).encode(family)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            DROPPED_FAMILY,
            "Series a scrape left out of a family, over max_metric_series (--max-metric-series).",
            None,
            MetricType::Gauge,
        )?;
        for (name, n) in dropped {
            let labels = [("family", name)];
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Total size of the regular files under `dir` (0 when it cannot be read).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            total += dir_size(&entry.path());
        } else if kind.is_file() {
            total += entry.metadata().map_or(0, |m| m.len());
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn render(gauges: ScrapeGauges) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(gauges));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    fn count(text: &str, family: &str) -> usize {
        text.lines()
            .filter(|l| l.strip_prefix(family).is_some_and(|r| r.starts_with('{')))
            .count()
    }

    #[test]
    fn every_family_keeps_at_most_max_series_and_counts_the_rest() {
        let partitions: BTreeMap<PartitionKey, i64> =
            (0..5).map(|p| (("t".to_owned(), p), 7)).collect();
        let snapshot = Snapshot {
            earliest: partitions.clone(),
            latest: partitions,
            instances: (0..4).map(|g| (format!("g{g}"), 1)).collect(),
            committed: (0..3)
                .map(|p| (("g0".to_owned(), "t".to_owned(), p), 1))
                .collect(),
            committed_left_out: 4,
        };
        let text = render(ScrapeGauges {
            snapshot: Some(snapshot),
            log_size: None,
            cluster: None,
            max_series: 2,
            dropped_elsewhere: vec![("upkafka_messages_produced_total", 9)],
        });
        for family in [
            "upkafka_partition_earliest_offset",
            "upkafka_partition_latest_offset",
            "upkafka_consumer_instances",
            "upkafka_consumer_group_committed_offset",
            "upkafka_consumer_group_lag",
        ] {
            assert_eq!(count(&text, family), 2, "{family} in\n{text}");
        }
        for line in [
            r#"upkafka_metrics_series_dropped{family="upkafka_partition_earliest_offset"} 3"#,
            r#"upkafka_metrics_series_dropped{family="upkafka_consumer_instances"} 2"#,
            r#"upkafka_metrics_series_dropped{family="upkafka_consumer_group_committed_offset"} 5"#,
            r#"upkafka_metrics_series_dropped{family="upkafka_consumer_group_lag"} 5"#,
            r#"upkafka_metrics_series_dropped{family="upkafka_messages_produced_total"} 9"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        // Under the cap nothing is dropped, and the gauge says so.
        let text = render(ScrapeGauges {
            snapshot: None,
            log_size: None,
            cluster: None,
            max_series: 2,
            dropped_elsewhere: vec![("upkafka_messages_produced_total", 0)],
        });
        assert!(
            text.contains(
                r#"upkafka_metrics_series_dropped{family="upkafka_messages_produced_total"} 0"#
            ),
            "{text}"
        );
        assert!(
            !text.contains("upkafka_kafka_brokers"),
            "no cluster, no gauge: {text}"
        );
        // The gateway's connection to its cluster, as librdkafka last reported it.
        let text = render(ScrapeGauges {
            snapshot: None,
            log_size: None,
            cluster: Some(crate::backend::ClusterConnection {
                brokers_known: 3,
                brokers_up: 2,
            }),
            max_series: 2,
            dropped_elsewhere: Vec::new(),
        });
        assert!(text.contains("upkafka_kafka_brokers 3"), "{text}");
        assert!(text.contains("upkafka_kafka_brokers_up 2"), "{text}");
    }
}
