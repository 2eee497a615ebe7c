//! Operator metrics: a small registry of exact counters and fixed-bucket histograms, written
//! in the Prometheus text format (version 0.0.4) at `GET /metrics`.
//!
//! - Messages and bytes produced and consumed per topic are counted by [`MeteredBackend`], a
//!   decorator around any [`Backend`]: counted after the backend answers, so they hold for
//!   every backend. Bytes of a message are key + value + every header name and value (UTF-8).
//!   Consumed messages carry `api="consume"` (consumer groups) or `api="fetch"`.
//! - Requests are counted and timed by the request pipeline
//!   ([`ApiService`](super::ApiService)) through [`Metrics::record_request`], keyed on method,
//!   matched route (trailing `/` folded) and status; unmatched paths are `route="unmatched"`.
//!   The pipeline also writes one structured `tracing` event per request (target
//!   `upkafka::access`: method, route, status, latency) and never logs headers, so credentials
//!   cannot leak.
//! - Consumer instances, committed offsets and lag per group and partition, earliest and latest
//!   offsets per partition are read from the backend at scrape time. Lag is latest − committed,
//!   or latest − earliest while the group has committed nothing.
//! - `upkafka_log_size_bytes` is the size of the data directory (embedded log with
//!   `--data-dir` only; absent otherwise).
//!
//! The console's rate chart reads a per-second history of produced and consumed messages kept
//! here for the last [`HISTORY_SECONDS`] seconds ([`Metrics::history`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use upkafka_protocol::{
    GroupAssignments, Header, Message, OffsetSpec, ProduceMetadata, ProduceRecord, TopicPartition,
    TopicPartitionOffset, Topics,
};

use super::backend::{Backend, BackendResult, BoxFuture, ConsumeParams};

/// How many seconds of per-second produce/consume counts the registry keeps for the console.
pub const HISTORY_SECONDS: u64 = 300;

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

/// Produced and consumed (consumer groups) messages in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Second {
    /// Unix time, seconds.
    pub t: u64,
    /// Messages produced in that second.
    pub produced: u64,
    /// Messages delivered through consumer groups in that second.
    pub consumed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The registry behind `/metrics` and the console's stats.
#[derive(Debug, Default)]
pub struct Metrics {
    topics: Mutex<BTreeMap<String, TopicCounters>>,
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
    history: Mutex<VecDeque<Second>>,
    data_dir: Option<PathBuf>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Applies `f` to the counters of `topic`, creating them on first use (the name is copied
/// only then, not on every request).
fn with_topic(
    topics: &mut BTreeMap<String, TopicCounters>,
    topic: &str,
    f: impl FnOnce(&mut TopicCounters),
) {
    match topics.get_mut(topic) {
        Some(c) => f(c),
        None => f(topics.entry(topic.to_owned()).or_default()),
    }
}

/// The bytes a message counts for: key + value + header names and values.
pub fn message_bytes(key: Option<&str>, value: &str, headers: &[Header]) -> u64 {
    let h: usize = headers.iter().map(|h| h.key.len() + h.value.len()).sum();
    (key.map_or(0, str::len) + value.len() + h) as u64
}

impl Metrics {
    /// A registry; `data_dir` is measured for `upkafka_log_size_bytes` at scrape time.
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        Self {
            data_dir,
            ..Self::default()
        }
    }

    /// Counts produced messages, per topic (after the backend stored them).
    pub fn record_produced(&self, per_topic: &[Tally]) {
        let mut total = 0;
        {
            let mut topics = lock(&self.topics);
            for t in per_topic {
                with_topic(&mut topics, &t.topic, |c| {
                    c.produced_messages += t.messages;
                    c.produced_bytes += t.bytes;
                });
                total += t.messages;
            }
        }
        self.bump_history(total, 0);
    }

    /// Counts `messages` produced messages of `bytes` bytes to one topic.
    pub fn record_produced_to(&self, topic: &str, messages: u64, bytes: u64) {
        {
            with_topic(&mut lock(&self.topics), topic, |c| {
                c.produced_messages += messages;
                c.produced_bytes += bytes;
            });
        }
        self.bump_history(messages, 0);
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
        {
            let mut topics = lock(&self.topics);
            for t in &per_topic {
                with_topic(&mut topics, &t.topic, |c| match api {
                    ReadApi::Consume => {
                        c.consumed_messages += t.messages;
                        c.consumed_bytes += t.bytes;
                    }
                    ReadApi::Fetch => {
                        c.fetched_messages += t.messages;
                        c.fetched_bytes += t.bytes;
                    }
                });
            }
        }
        if api == ReadApi::Consume {
            self.bump_history(0, messages.len() as u64);
        }
    }

    fn bump_history(&self, produced: u64, consumed: u64) {
        let now = unix_now();
        let mut h = lock(&self.history);
        match h.back_mut() {
            Some(last) if last.t == now => {
                last.produced += produced;
                last.consumed += consumed;
            }
            _ => h.push_back(Second {
                t: now,
                produced,
                consumed,
            }),
        }
        while h
            .front()
            .is_some_and(|s| s.t + HISTORY_SECONDS <= now || s.t > now)
        {
            h.pop_front();
        }
    }

    /// Counts one request and its latency.
    pub fn record_request(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let mut requests = lock(&self.requests);
        // A server sees a few dozen (method, route, status) keys: find the existing one without
        // building owned strings, which this per-request path would otherwise allocate.
        let existing = requests
            .iter_mut()
            .find(|(k, _)| k.status == status && k.route == route && k.method == method);
        match existing {
            Some((_, h)) => h.observe(latency.as_secs_f64()),
            None => requests
                .entry(RequestKey {
                    route: route.to_owned(),
                    method: method.to_owned(),
                    status,
                })
                .or_default()
                .observe(latency.as_secs_f64()),
        }
    }

    /// A copy of the per-topic counters.
    pub fn topic_counters(&self) -> BTreeMap<String, TopicCounters> {
        lock(&self.topics).clone()
    }

    /// Seconds with activity within the last [`HISTORY_SECONDS`] seconds, oldest first.
    pub fn history(&self) -> Vec<Second> {
        let now = unix_now();
        lock(&self.history)
            .iter()
            .filter(|s| s.t + HISTORY_SECONDS > now && s.t <= now)
            .copied()
            .collect()
    }

    /// The Prometheus text exposition: registry counters, plus gauges read from `backend`
    /// now. A backend failure leaves those gauges out (with a comment) instead of failing.
    pub async fn render(&self, backend: &dyn Backend) -> String {
        let mut out = String::with_capacity(4096);
        self.render_counters(&mut out);
        render_backend(&mut out, backend).await;
        if let Some(dir) = self.data_dir.clone() {
            let size = tokio::task::spawn_blocking(move || dir_size(&dir))
                .await
                .unwrap_or(0);
            out.push_str(
                "# HELP upkafka_log_size_bytes Size of the data directory on disk.\n\
                 # TYPE upkafka_log_size_bytes gauge\n",
            );
            let _ = writeln!(out, "upkafka_log_size_bytes {size}");
        }
        out
    }

    fn render_counters(&self, out: &mut String) {
        let topics = self.topic_counters();
        type Field = fn(&TopicCounters) -> u64;
        let produced: [(&str, &str, Field); 2] = [
            (
                "upkafka_messages_produced_total",
                "Messages produced, per topic.",
                |c| c.produced_messages,
            ),
            (
                "upkafka_bytes_produced_total",
                "Bytes produced (key + value + headers), per topic.",
                |c| c.produced_bytes,
            ),
        ];
        for (name, help, f) in produced {
            header(out, name, help, "counter");
            for (topic, c) in &topics {
                let _ = writeln!(out, "{name}{{topic=\"{}\"}} {}", escape(topic), f(c));
            }
        }
        let consumed: [(&str, &str, Field, Field); 2] = [
            (
                "upkafka_messages_consumed_total",
                "Messages delivered, per topic and API (consume = consumer groups, fetch = by offset).",
                |c| c.consumed_messages,
                |c| c.fetched_messages,
            ),
            (
                "upkafka_bytes_consumed_total",
                "Bytes delivered (key + value + headers), per topic and API.",
                |c| c.consumed_bytes,
                |c| c.fetched_bytes,
            ),
        ];
        for (name, help, consume, fetch) in consumed {
            header(out, name, help, "counter");
            for (topic, c) in &topics {
                for (api, f) in [(ReadApi::Consume, consume), (ReadApi::Fetch, fetch)] {
                    let _ = writeln!(
                        out,
                        "{name}{{topic=\"{}\",api=\"{}\"}} {}",
                        escape(topic),
                        api.label(),
                        f(c)
                    );
                }
            }
        }
        let requests = lock(&self.requests).clone();
        header(
            out,
            "upkafka_http_requests_total",
            "HTTP requests, per method, matched route and status.",
            "counter",
        );
        for (k, h) in &requests {
            let _ = writeln!(
                out,
                "upkafka_http_requests_total{{{}}} {}",
                request_labels(k),
                h.count
            );
        }
        header(
            out,
            "upkafka_http_request_duration_seconds",
            "HTTP request latency, per method, matched route and status.",
            "histogram",
        );
        for (k, h) in &requests {
            let labels = request_labels(k);
            let name = "upkafka_http_request_duration_seconds";
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn request_labels(k: &RequestKey) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{}\"",
        escape(&k.method),
        escape(&k.route),
        k.status
    )
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Gauges read from the backend: offsets per partition, consumer instances, committed offsets
/// and lag.
async fn render_backend(out: &mut String, backend: &dyn Backend) {
    let snapshot = match Snapshot::take(backend).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "# backend gauges unavailable: {}", escape(&e));
            return;
        }
    };
    for (name, help, map) in [
        (
            "upkafka_partition_earliest_offset",
            "Earliest offset per partition.",
            &snapshot.earliest,
        ),
        (
            "upkafka_partition_latest_offset",
            "Latest offset (next to be written) per partition.",
            &snapshot.latest,
        ),
    ] {
        header(out, name, help, "gauge");
        for ((topic, partition), offset) in map {
            let _ = writeln!(
                out,
                "{name}{{topic=\"{}\",partition=\"{partition}\"}} {offset}",
                escape(topic)
            );
        }
    }
    header(
        out,
        "upkafka_consumer_instances",
        "Live consumer instances per group.",
        "gauge",
    );
    for g in &snapshot.groups {
        let _ = writeln!(
            out,
            "upkafka_consumer_instances{{group=\"{}\"}} {}",
            escape(&g.name),
            g.instances.len()
        );
    }
    header(
        out,
        "upkafka_consumer_group_committed_offset",
        "Committed offset per group and assigned partition (-1: none).",
        "gauge",
    );
    for ((group, topic, partition), committed) in &snapshot.committed {
        let _ = writeln!(
            out,
            "upkafka_consumer_group_committed_offset{{group=\"{}\",topic=\"{}\",partition=\"{partition}\"}} {committed}",
            escape(group),
            escape(topic)
        );
    }
    header(
        out,
        "upkafka_consumer_group_lag",
        "Messages not yet committed per group and assigned partition.",
        "gauge",
    );
    for ((group, topic, partition), committed) in &snapshot.committed {
        let key = (topic.clone(), *partition);
        let latest = snapshot.latest.get(&key).copied().unwrap_or(0);
        let earliest = snapshot.earliest.get(&key).copied().unwrap_or(0);
        let lag = lag(*committed, earliest, latest);
        let _ = writeln!(
            out,
            "upkafka_consumer_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{partition}\"}} {lag}",
            escape(group),
            escape(topic)
        );
    }
}

/// Lag of a partition: latest − committed, or latest − earliest with nothing committed.
pub fn lag(committed: i64, earliest: i64, latest: i64) -> i64 {
    let from = if committed >= 0 { committed } else { earliest };
    (latest - from).max(0)
}

type PartitionKey = (String, i32);

/// What the backend knows right now, for the gauges.
struct Snapshot {
    earliest: BTreeMap<PartitionKey, i64>,
    latest: BTreeMap<PartitionKey, i64>,
    groups: Vec<GroupAssignments>,
    committed: BTreeMap<(String, String, i32), i64>,
}

impl Snapshot {
    async fn take(backend: &dyn Backend) -> Result<Self, String> {
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
        let groups = backend.consumers().await.map_err(|e| e.to_string())?;
        let mut committed = BTreeMap::new();
        for g in &groups {
            for i in &g.instances {
                let assigned: BTreeSet<(String, i32)> = i
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), *p)))
                    .collect();
                if assigned.is_empty() {
                    continue;
                }
                let asked = assigned
                    .into_iter()
                    .map(|(t, p)| TopicPartition::new(t, p))
                    .collect();
                // The instance may have expired since `consumers()`: skip it then.
                if let Ok(offsets) = backend
                    .committed(g.name.clone(), i.name.clone(), asked)
                    .await
                {
                    for o in offsets {
                        committed.insert((g.name.clone(), o.topic, o.partition), o.offset);
                    }
                }
            }
        }
        Ok(Self {
            earliest,
            latest,
            groups,
            committed,
        })
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
fn tally<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> Vec<Tally> {
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

    fn close(&self) -> BoxFuture<'_, BackendResult<()>> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_the_same_labels_share_one_series() {
        let m = Metrics::new(None);
        let ms = Duration::from_millis(1);
        m.record_request("POST", "/produce", 200, ms);
        m.record_request("POST", "/produce", 200, ms);
        m.record_request("POST", "/produce", 400, ms);
        m.record_request("GET", "/produce", 200, ms);
        let counts: Vec<(String, String, u16, u64)> = lock(&m.requests)
            .iter()
            .map(|(k, h)| (k.method.clone(), k.route.clone(), k.status, h.count))
            .collect();
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(counts.contains(&("POST".into(), "/produce".into(), 200, 2)));
        assert!(counts.contains(&("POST".into(), "/produce".into(), 400, 1)));
        assert!(counts.contains(&("GET".into(), "/produce".into(), 200, 1)));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.record_request("GET", "/topics", 200, Duration::from_millis(3));
        m.record_request("GET", "/topics", 200, Duration::from_secs(60));
        let mut out = String::new();
        m.render_counters(&mut out);
        assert!(out.contains(
            "upkafka_http_requests_total{method=\"GET\",route=\"/topics\",status=\"200\"} 2"
        ));
        assert!(out.contains("route=\"/topics\",status=\"200\",le=\"0.005\"} 1"));
        assert!(out.contains("route=\"/topics\",status=\"200\",le=\"30\"} 1"));
        assert!(out.contains("route=\"/topics\",status=\"200\",le=\"+Inf\"} 2"));
    }

    #[test]
    fn lag_and_escaping() {
        assert_eq!(lag(-1, 0, 7), 7);
        assert_eq!(lag(5, 0, 7), 2);
        assert_eq!(lag(9, 0, 7), 0);
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            message_bytes(Some("k"), "vv", &[Header::new("h", "xyz")]),
            7
        );
    }
}
