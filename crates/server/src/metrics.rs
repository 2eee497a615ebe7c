//! Operator metrics at `GET /metrics`, on [prometheus-client](https://docs.rs/prometheus-client)
//! (the Prometheus project's Rust client): its registry, metric types and encoder.
//!
//! - Messages and bytes produced and consumed per topic are counted by [`MeteredBackend`], a
//!   decorator around any [`Backend`]: counted after the backend answers, so they hold for
//!   every backend. Bytes of a message are key + value + every header name and value
//!   (UTF-8). Consumed messages carry `api="consume"` (consumer groups) or `api="fetch"`. The
//!   console reads the same counters ([`Metrics::topic_counters`]).
//! - Requests are counted and timed by the request pipeline
//!   ([`ApiService`](crate::ApiService)) through [`Metrics::record_request`], keyed on method,
//!   matched route (trailing `/` folded) and status; unmatched paths are `route="unmatched"`,
//!   methods outside the standard set `method="other"`. The pipeline also writes one
//!   structured `tracing` event per request (target `upkafka::access`: method, route, status,
//!   latency) and never logs headers, so credentials cannot leak. No label carries a header,
//!   a credential or a message: only topic and group names, partitions, routes, methods and
//!   statuses.
//! - Consumer instances, committed offsets and lag per group and partition, earliest and latest
//!   offsets per partition are read from the backend at scrape time. Lag is latest − committed,
//!   or latest − earliest while the group has committed nothing.
//! - `upkafka_log_size_bytes` is the size of the data directory (embedded log with
//!   `--data-dir` only; absent otherwise).
//! - Cardinality is bounded: each family of the backend gauges and of the per-topic counters
//!   shows at most `Limits::max_metric_series` series (default 10,000, `--max-metric-series`),
//!   the first in label order; `upkafka_metrics_series_dropped{family}` counts, per family, the
//!   series a scrape left out (0 when none). Committed offsets are asked once per group, so a
//!   scrape costs what it shows, not the number of instances.
//!
//! # Exposition format
//!
//! `/metrics` answers the Prometheus text format, version 0.0.4
//! (`text/plain; version=0.0.4; charset=utf-8`), written by prometheus-client's
//! `encoding::prometheus_text`, not its default OpenMetrics encoder. That keeps what scrapers,
//! dashboards and tests already read: the same content type, counters declared under their
//! sample names (`# TYPE upkafka_messages_produced_total counter`, where OpenMetrics would
//! declare `upkafka_messages_produced`), and no `# EOF` line. Prometheus reads either format,
//! and the series names are the same in both. Counters are registered without `_total`; the
//! encoder appends it.
//!
//! The console's per-second rate history is not a metric: it lives in [`crate::history`],
//! fed from the same events.

mod metered;
mod requests;
mod scrape;
mod topics;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use upkafka_protocol::{Header, Message};

pub use metered::{MeteredBackend, Tally};
pub use requests::RouteLabel;
pub use scrape::{dir_size, lag};
pub use topics::TopicCounters;

use crate::backend::Backend;
use crate::history::{History, Second};
use metered::tally;
use requests::Requests;
use scrape::{ScrapeGauges, Snapshot};
use topics::{TopicTable, Traffic};

/// The `Content-Type` of [`Metrics::render`]'s output: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the request latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// How consumed messages were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadApi {
    /// Through a consumer group (`/consume`).
    Consume,
    /// By offset (`/fetch`).
    Fetch,
}

impl ReadApi {
    fn label(self) -> &'static str {
        match self {
            ReadApi::Consume => "consume",
            ReadApi::Fetch => "fetch",
        }
    }
}

/// The bytes a message counts for: key + value + header names and values.
pub fn message_bytes(key: Option<&str>, value: &str, headers: &[Header]) -> u64 {
    u64::try_from(upkafka_protocol::record_size(key, value, headers)).unwrap_or(u64::MAX)
}

/// The registry behind `/metrics` and the console's stats.
#[derive(Debug)]
pub struct Metrics {
    /// The request families and the per-topic counters' collector.
    registry: Registry,
    requests: Requests,
    topics: Arc<TopicTable>,
    history: History,
    data_dir: Option<PathBuf>,
    /// Most series one family of the exposition has (`Limits::max_metric_series`).
    max_series: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// A registry; `data_dir` is measured for `upkafka_log_size_bytes` at scrape time. Each
    /// family shows at most the default `max_metric_series` series.
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        Self::with_max_series(data_dir, crate::Limits::default().max_metric_series)
    }

    /// [`Metrics::new`] whose families show at most `max_series` series each
    /// (`Limits::max_metric_series`); the rest are counted in
    /// `upkafka_metrics_series_dropped{family}`.
    pub fn with_max_series(data_dir: Option<PathBuf>, max_series: usize) -> Self {
        let max_series = max_series.max(1);
        let mut registry = Registry::default();
        let requests = Requests::register(&mut registry);
        let topics = Arc::new(TopicTable::new(max_series));
        registry.register_collector(Box::new(Arc::clone(&topics)));
        Self {
            registry,
            requests,
            topics,
            history: History::new(),
            data_dir,
            max_series,
        }
    }

    /// Counts produced messages, per topic (after the backend stored them).
    pub fn record_produced(&self, per_topic: &[Tally]) {
        let mut total = 0;
        for t in per_topic {
            self.topics
                .add(&t.topic, Traffic::Produced, t.messages, t.bytes);
            self.history.record_topic(&t.topic, t.messages, 0);
            total += t.messages;
        }
        self.history.record(total, 0);
    }

    /// Counts `messages` produced messages of `bytes` bytes to one topic.
    pub fn record_produced_to(&self, topic: &str, messages: u64, bytes: u64) {
        self.topics.add(topic, Traffic::Produced, messages, bytes);
        self.history.record_with_topic(topic, messages, 0);
    }

    /// Counts delivered messages.
    pub fn record_read(&self, api: ReadApi, messages: &[Message]) {
        if messages.is_empty() {
            return;
        }
        let per_topic = tally(messages.iter().map(|m| {
            (
                m.topic.as_str(),
                message_bytes(Some(&m.key), &m.value, &m.headers),
            )
        }));
        for t in &per_topic {
            self.topics
                .add(&t.topic, Traffic::Read(api), t.messages, t.bytes);
            if api == ReadApi::Consume {
                self.history.record_topic(&t.topic, 0, t.messages);
            }
        }
        if api == ReadApi::Consume {
            self.history.record(0, messages.len() as u64);
        }
    }

    /// Counts one request and its latency; `route` is the pipeline's label of its route.
    /// Allocates nothing once the series exists.
    pub fn record_request(&self, method: &str, route: &RouteLabel, status: u16, latency: Duration) {
        self.requests.record(method, route, status, latency);
    }

    /// A copy of the per-topic counters.
    pub fn topic_counters(&self) -> BTreeMap<String, TopicCounters> {
        self.topics.snapshot()
    }

    /// Seconds with activity within the last [`HISTORY_SECONDS`](crate::history::HISTORY_SECONDS)
    /// seconds, oldest first (the console's rate chart).
    pub fn history(&self) -> Vec<Second> {
        self.history.seconds()
    }

    /// [`Metrics::history`] of one topic (the Developer API's topic stats).
    pub fn topic_history(&self, topic: &str) -> Vec<Second> {
        self.history.topic_seconds(topic)
    }

    /// The exposition ([`CONTENT_TYPE`]): registry counters, plus gauges read from `backend`
    /// now. A backend failure leaves those gauges out (with a comment) instead of failing.
    pub async fn render(&self, backend: &dyn Backend) -> String {
        let (snapshot, unavailable) = match Snapshot::take(backend, self.max_series).await {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        let log_size = match self.data_dir.clone() {
            Some(dir) => Some(
                tokio::task::spawn_blocking(move || dir_size(&dir))
                    .await
                    .unwrap_or(0),
            ),
            None => None,
        };
        let mut out = self.encode_registry();
        if let Some(e) = unavailable {
            // One comment line: no line break of the message may start a sample.
            let _ = writeln!(
                out,
                "# backend gauges unavailable: {}",
                e.replace(['\r', '\n'], " ")
            );
        }
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(ScrapeGauges {
            snapshot,
            log_size,
            cluster: backend.cluster_connection(),
            max_series: self.max_series,
            dropped_elsewhere: self.topics.dropped(),
        }));
        encode_into(&mut out, &scrape);
        out
    }

    /// The registry's families (requests and per-topic counters) in the text format.
    fn encode_registry(&self) -> String {
        let mut out = String::with_capacity(4096);
        encode_into(&mut out, &self.registry);
        out
    }
}

/// Appends `registry` to `out`. Writing to a `String` cannot fail and neither can these
/// collectors; should that change, the scrape answers what was written and the error is logged.
fn encode_into(out: &mut String, registry: &Registry) {
    if let Err(e) = prometheus_text::encode(out, registry) {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(p: &str) -> RouteLabel {
        RouteLabel::from(p)
    }

    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
            .collect()
    }

    #[test]
    fn requests_with_the_same_labels_share_one_series() {
        let m = Metrics::new(None);
        let ms = Duration::from_millis(1);
        let produce = route("/produce");
        m.record_request("POST", &produce, 200, ms);
        m.record_request("POST", &produce, 200, ms);
        m.record_request("POST", &produce, 400, ms);
        m.record_request("GET", &produce, 200, ms);
        let text = m.encode_registry();
        let counts = samples(&text, "upkafka_http_requests_total");
        assert_eq!(counts.len(), 3, "{text}");
        for line in [
            r#"upkafka_http_requests_total{method="POST",route="/produce",status="200"} 2"#,
            r#"upkafka_http_requests_total{method="POST",route="/produce",status="400"} 1"#,
            r#"upkafka_http_requests_total{method="GET",route="/produce",status="200"} 1"#,
        ] {
            assert!(counts.contains(&line), "{line} in\n{text}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        let topics = route("/topics");
        m.record_request("GET", &topics, 200, Duration::from_millis(3));
        m.record_request("GET", &topics, 200, Duration::from_secs(60));
        let out = m.encode_registry();
        assert!(out.contains(
            "upkafka_http_requests_total{method=\"GET\",route=\"/topics\",status=\"200\"} 2"
        ));
        assert!(
            out.contains("route=\"/topics\",status=\"200\",le=\"0.005\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("route=\"/topics\",status=\"200\",le=\"30\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("route=\"/topics\",status=\"200\",le=\"+Inf\"} 2"),
            "{out}"
        );
        assert!(out.contains(
            "upkafka_http_request_duration_seconds_count{method=\"GET\",route=\"/topics\",status=\"200\"} 2"
        ));
    }

    #[test]
    fn text_format_0_0_4_with_the_old_headers() {
        let m = Metrics::default();
        m.record_request("GET", &RouteLabel::Unmatched, 404, Duration::from_millis(1));
        let out = m.encode_registry();
        assert!(out.contains(
            "# HELP upkafka_http_requests_total HTTP requests, per method, matched route and status.\n\
             # TYPE upkafka_http_requests_total counter\n"
        ), "{out}");
        assert!(out.contains("# TYPE upkafka_http_request_duration_seconds histogram\n"));
        // The per-topic families are declared before any traffic.
        assert!(out.contains("# TYPE upkafka_messages_produced_total counter\n"));
        assert!(out.contains("# HELP upkafka_bytes_consumed_total Bytes delivered"));
        assert!(out.contains(r#"route="unmatched",status="404"} 1"#));
        assert!(!out.contains("# EOF"));
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    }

    #[test]
    fn invented_methods_share_one_series() {
        let m = Metrics::default();
        let ms = Duration::from_millis(1);
        m.record_request("BREW", &RouteLabel::Unmatched, 405, ms);
        m.record_request("WHEN", &RouteLabel::Unmatched, 405, ms);
        let out = m.encode_registry();
        assert!(
            out.contains(
                r#"upkafka_http_requests_total{method="other",route="unmatched",status="405"} 2"#
            ),
            "{out}"
        );
    }

    #[test]
    fn topic_counters_are_exposed_and_escaped() {
        let m = Metrics::default();
        m.record_produced_to("t", 2, 9);
        m.record_produced_to("a\"b\\c\nd", 1, 1);
        let out = m.encode_registry();
        assert!(
            out.contains(r#"upkafka_messages_produced_total{topic="t"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"upkafka_bytes_produced_total{topic="t"} 9"#),
            "{out}"
        );
        assert!(out.contains(r#"upkafka_messages_consumed_total{topic="t",api="consume"} 0"#));
        assert!(out.contains(r#"upkafka_messages_consumed_total{topic="t",api="fetch"} 0"#));
        assert!(
            out.contains(r#"upkafka_messages_produced_total{topic="a\"b\\c\nd"} 1"#),
            "{out}"
        );
        assert_eq!(m.topic_counters()["t"].produced_bytes, 9);
        assert_eq!(m.history().iter().map(|s| s.produced).sum::<u64>(), 3);
    }

    #[test]
    fn lag_and_message_bytes() {
        assert_eq!(lag(-1, 0, 7), 7);
        assert_eq!(lag(5, 0, 7), 2);
        assert_eq!(lag(9, 0, 7), 0);
        assert_eq!(
            message_bytes(Some("k"), "vv", &[Header::new("h", "xyz")]),
            7
        );
    }
}
