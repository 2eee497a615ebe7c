//! Messages and bytes produced and consumed per topic: the `upkafka_messages_*_total` and
//! `upkafka_bytes_*_total` counters, also read by the console (`/ui/api/stats`).
//!
//! These are kept in a table of atomics with a [`Collector`] for the exposition rather than in
//! prometheus-client `Family`s, for two reasons: the console needs to list every topic's
//! counters, which a `Family` offers no way to iterate; and a `Family` is looked up by an owned
//! label set, so counting a request would copy the topic name every time, where this table is
//! looked up by `&str` and copies a name only when a topic is first seen. Per request that is
//! one read lock (as a `Family` takes) and relaxed atomic adds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::ReadApi;
use crate::by_name::ByName;

/// Counters of one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicCounters {
    /// Messages produced.
    pub produced_messages: u64,
    /// Bytes produced.
    pub produced_bytes: u64,
    /// Messages delivered through consumer groups.
    pub consumed_messages: u64,
    /// Bytes delivered through consumer groups.
    pub consumed_bytes: u64,
    /// Messages delivered by `/fetch`.
    pub fetched_messages: u64,
    /// Bytes delivered by `/fetch`.
    pub fetched_bytes: u64,
}

#[derive(Debug, Default)]
struct Cells {
    produced_messages: AtomicU64,
    produced_bytes: AtomicU64,
    consumed_messages: AtomicU64,
    consumed_bytes: AtomicU64,
    fetched_messages: AtomicU64,
    fetched_bytes: AtomicU64,
}

impl Cells {
    fn load(&self) -> TopicCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TopicCounters {
            produced_messages: get(&self.produced_messages),
            produced_bytes: get(&self.produced_bytes),
            consumed_messages: get(&self.consumed_messages),
            consumed_bytes: get(&self.consumed_bytes),
            fetched_messages: get(&self.fetched_messages),
            fetched_bytes: get(&self.fetched_bytes),
        }
    }
}

/// What to add to a topic's counters.
#[derive(Debug, Clone, Copy)]
pub(super) enum Traffic {
    /// Produced.
    Produced,
    /// Delivered through `api`.
    Read(ReadApi),
}

/// The per-topic counters; registered as a [`Collector`] on the metrics registry.
#[derive(Debug)]
pub(super) struct TopicTable {
    topics: RwLock<ByName<Box<str>, Cells>>,
    /// Most series one family shows (`Limits::max_metric_series`); the topics after are
    /// still counted, only left out of the exposition.
    max_series: usize,
}

impl Default for TopicTable {
    fn default() -> Self {
        Self::new(crate::Limits::default().max_metric_series)
    }
}

/// The per-topic families as exposed, and how many series each topic adds to them.
const FAMILIES: [(&str, usize); 4] = [
    ("upkafka_messages_produced_total", 1),
    ("upkafka_bytes_produced_total", 1),
    ("upkafka_messages_consumed_total", 2),
    ("upkafka_bytes_consumed_total", 2),
];

impl TopicTable {
    /// An empty table whose families show at most `max_series` series each.
    pub(super) fn new(max_series: usize) -> Self {
        Self {
            topics: RwLock::new(ByName::default()),
            max_series,
        }
    }

    /// The series each family leaves out of a scrape now (exposed family name, count).
    pub(super) fn dropped(&self) -> Vec<(&'static str, usize)> {
        let topics = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        FAMILIES
            .iter()
            .map(|(name, per_topic)| (*name, (topics * per_topic).saturating_sub(self.max_series)))
            .collect()
    }

    /// Adds `messages` and `bytes` of `traffic` to `topic`.
    pub(super) fn add(&self, topic: &str, traffic: Traffic, messages: u64, bytes: u64) {
        let bump = |c: &Cells| {
            let (m, b) = match traffic {
                Traffic::Produced => (&c.produced_messages, &c.produced_bytes),
                Traffic::Read(ReadApi::Consume) => (&c.consumed_messages, &c.consumed_bytes),
                Traffic::Read(ReadApi::Fetch) => (&c.fetched_messages, &c.fetched_bytes),
            };
            m.fetch_add(messages, Ordering::Relaxed);
            b.fetch_add(bytes, Ordering::Relaxed);
        };
        // Counts survive a panic elsewhere; there is no invariant a poisoned lock protects.
        if let Some(c) = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
        {
            return bump(c);
        }
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        bump(topics.entry(topic.into()).or_default());
    }

    /// A copy of every topic's counters, by name.
    pub(super) fn snapshot(&self) -> BTreeMap<String, TopicCounters> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(t, c)| (t.to_string(), c.load()))
            .collect()
    }
}

type Field = fn(&TopicCounters) -> u64;

impl Collector for TopicTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Sorted by topic, so that a scrape reads the same from one time to the next.
        let topics = self.snapshot();
        // Names without `_total`: the encoder adds it to counters. The families are written
        // even with no topic yet, as the hand-written exposition did.
        let produced: [(&str, &str, Field); 2] = [
            (
                "upkafka_messages_produced",
                "Messages produced, per topic.",
                |c| c.produced_messages,
            ),
            (
                "upkafka_bytes_produced",
                "Bytes produced (key + value + headers), per topic.",
                |c| c.produced_bytes,
            ),
        ];
        for (name, help, field) in produced {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (topic, c) in topics.iter().take(self.max_series) {
                let labels = [("topic", topic.as_str())];
                ConstCounter::new(field(c)).encode(family.encode_family(&labels)?)?;
            }
        }
        let consumed: [(&str, &str, Field, Field); 2] = [
            (
                "upkafka_messages_consumed",
                "Messages delivered, per topic and API (consume = consumer groups, fetch = by offset).",
                |c| c.consumed_messages,
                |c| c.fetched_messages,
            ),
            (
                "upkafka_bytes_consumed",
                "Bytes delivered (key + value + headers), per topic and API.",
                |c| c.consumed_bytes,
                |c| c.fetched_bytes,
            ),
        ];
        for (name, help, consume, fetch) in consumed {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            let series = topics.iter().flat_map(|(topic, c)| {
                [(ReadApi::Consume, consume), (ReadApi::Fetch, fetch)]
                    .map(|(api, field)| (topic, api, field(c)))
            });
            for (topic, api, value) in series.take(self.max_series) {
                {
                    let labels = [("topic", topic.as_str()), ("api", api.label())];
                    ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_lands_in_its_counters() {
        let t = TopicTable::default();
        t.add("a", Traffic::Produced, 2, 10);
        t.add("a", Traffic::Produced, 1, 5);
        t.add("a", Traffic::Read(ReadApi::Fetch), 1, 4);
        t.add("b", Traffic::Read(ReadApi::Consume), 3, 9);
        let s = t.snapshot();
        assert_eq!(
            s["a"],
            TopicCounters {
                produced_messages: 3,
                produced_bytes: 15,
                fetched_messages: 1,
                fetched_bytes: 4,
                ..TopicCounters::default()
            }
        );
        assert_eq!(s["b"].consumed_messages, 3);
        assert_eq!(s["b"].consumed_bytes, 9);
    }

    #[test]
    fn families_show_at_most_max_series_and_the_rest_are_counted() {
        let t = TopicTable::new(3);
        for topic in ["a", "b", "c", "d"] {
            t.add(topic, Traffic::Produced, 1, 1);
        }
        let mut registry = prometheus_client::registry::Registry::default();
        let t = std::sync::Arc::new(t);
        registry.register_collector(Box::new(std::sync::Arc::clone(&t)));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        let series = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}{{")))
                .count()
        };
        assert_eq!(series("upkafka_messages_produced_total"), 3, "{text}");
        assert_eq!(series("upkafka_messages_consumed_total"), 3, "{text}");
        assert!(
            !text.contains(r#"topic="d""#),
            "the last topic is left out: {text}"
        );
        assert_eq!(
            t.dropped(),
            [
                ("upkafka_messages_produced_total", 1),
                ("upkafka_bytes_produced_total", 1),
                ("upkafka_messages_consumed_total", 5),
                ("upkafka_bytes_consumed_total", 5),
            ]
        );
    }
}
