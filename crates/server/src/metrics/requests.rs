//! HTTP request metrics: `upkafka_http_requests_total` and
//! `upkafka_http_request_duration_seconds`, per method, matched route and status, as
//! prometheus-client counters and histograms encoded by a [`Collector`].
//!
//! Both series of one label set live in one map entry, so a request costs one lookup, not
//! one per family (as two prometheus-client `Family`s would): a read lock, one hash of one
//! word ([`RequestLabels`] hashes method, status and the route's precomputed fingerprint),
//! an atomic add and a histogram observation under that series' own lock. The label set is
//! built per request without allocating: the method is an enum, the route a shared pattern
//! (an `Arc` clone), the status a `u16`. Series are bounded: routes come from the route table,
//! unknown methods are `other`, statuses are the server's own.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::LATENCY_BUCKETS;

/// The `route` label of a request: the pattern of the route it matched (trailing `/` folded),
/// or `unmatched`.
///
/// Built once per route when the API is assembled; the request pipeline hands a reference to
/// [`Metrics::record_request`](super::Metrics::record_request), which clones it (a reference
/// count, not a copy of the text) into the series' label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteLabel {
    /// No route matched the path.
    Unmatched,
    /// The matched pattern, e.g. `/produce/{topic}`, and its fingerprint (see
    /// [`RouteLabel::fingerprint`]), computed once when the label is built.
    Pattern(Arc<str>, u64),
}

impl RouteLabel {
    /// The label value.
    pub fn as_str(&self) -> &str {
        match self {
            RouteLabel::Unmatched => "unmatched",
            RouteLabel::Pattern(p, _) => p,
        }
    }

    /// A 64-bit FNV-1a digest of the pattern, what a series' hash is built from: every
    /// request looks its series up twice, and hashing the pattern's text each time cost more
    /// than the rest of the metrics. Equal labels have equal fingerprints (it is a function of
    /// the text); a collision only costs a string comparison.
    pub fn fingerprint(&self) -> u64 {
        match self {
            RouteLabel::Unmatched => 0,
            RouteLabel::Pattern(_, fp) => *fp,
        }
    }
}

impl From<&str> for RouteLabel {
    fn from(pattern: &str) -> Self {
        let fp = pattern.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        RouteLabel::Pattern(pattern.into(), fp)
    }
}

impl fmt::Display for RouteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

/// The `method` label: the standard methods by name, any other (extension) method as
/// `other`, so that a client cannot create series at will by inventing methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
    Other,
}

impl MethodLabel {
    fn of(method: &str) -> Self {
        match method {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "PATCH" => Self::Patch,
            "OPTIONS" => Self::Options,
            "CONNECT" => Self::Connect,
            "TRACE" => Self::Trace,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
            Self::Connect => "CONNECT",
            Self::Trace => "TRACE",
            Self::Other => "other",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

/// The labels of one request series, in exposition order.
#[derive(Debug, Clone, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: RouteLabel,
    status: u16,
}

/// One hashed word per label set (method, status and the route's precomputed fingerprint),
/// not the route's text: consistent with the derived `Eq`, which compares every label.
impl std::hash::Hash for RequestLabels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let word =
            (self.method as u64) | (u64::from(self.status) << 8) | (self.route.fingerprint() << 24);
        state.write_u64(word);
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The two series of one label set.
#[derive(Debug)]
struct Series {
    count: Counter,
    latency: Histogram,
}

/// A hasher for keys that hash as one word ([`RequestLabels`]): Fibonacci multiplication
/// spreads the word into the high bits the map's probing uses. Keys are server-made (see the
/// module docs), so there is no attacker-chosen input to defend against with SipHash.
#[derive(Debug, Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type SeriesMap = HashMap<RequestLabels, Series, BuildHasherDefault<WordHasher>>;

/// The request series, registered on the metrics registry as a collector.
#[derive(Debug, Clone, Default)]
pub(super) struct Requests(Arc<RwLock<SeriesMap>>);

impl Requests {
    /// The series, registered on `registry` (which encodes them at scrape time).
    pub(super) fn register(registry: &mut Registry) -> Self {
        let this = Self::default();
        registry.register_collector(Box::new(this.clone()));
        this
    }

    /// Counts one request and its latency.
    pub(super) fn record(&self, method: &str, route: &RouteLabel, status: u16, latency: Duration) {
        let labels = RequestLabels {
            method: MethodLabel::of(method),
            route: route.clone(),
            status,
        };
        let seconds = latency.as_secs_f64();
        {
            let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = map.get(&labels) {
                series.count.inc();
                series.latency.observe(seconds);
                return;
            }
        }
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let series = map.entry(labels).or_insert_with(|| Series {
            count: Counter::default(),
            latency: latency_histogram(),
        });
        series.count.inc();
        series.latency.observe(seconds);
    }
}

impl Collector for Requests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        // Sorted, so that a scrape reads the same from one time to the next.
        let mut series: Vec<(&RequestLabels, &Series)> = map.iter().collect();
        series.sort_by(|(a, _), (b, _)| {
            (a.route.as_str(), a.method.as_str(), a.status).cmp(&(
                b.route.as_str(),
                b.method.as_str(),
                b.status,
            ))
        });
        // Names without `_total`: the encoder adds it to counters. Registry help texts end
        // with a `.`, as registered ones do.
        let mut family = encoder.encode_descriptor(
            "upkafka_http_requests",
            "HTTP requests, per method, matched route and status.",
            None,
            MetricType::Counter,
        )?;
        for (labels, s) in &series {
            s.count.encode(family.encode_family(*labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "upkafka_http_request_duration_seconds",
            "HTTP request latency, per method, matched route and status.",
            None,
            MetricType::Histogram,
        )?;
        for (labels, s) in &series {
            s.latency.encode(family.encode_family(*labels)?)?;
        }
        Ok(())
    }
}
