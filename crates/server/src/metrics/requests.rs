//! HTTP request metrics: `upkafka_http_requests_total` and
//! `upkafka_http_request_duration_seconds`, per method, matched route and status, as
//! prometheus-client `Family`s.
//!
//! The label set is built per request and handed to `Family::get_or_create` by reference, so
//! every part of it is cheap to build and allocates nothing: the method is an enum, the route
//! a shared pattern (an `Arc` clone), the status a `u16`. Once a series exists, counting a
//! request is a `Family` read lock and an atomic add, and a histogram observation under that
//! series' own mutex (requests on other series do not contend on it).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::LATENCY_BUCKETS;

/// The `route` label of a request: the pattern of the route it matched (trailing `/` folded),
/// or `unmatched`.
///
/// Built once per route when the API is assembled; the request pipeline hands a reference to
/// [`Metrics::record_request`](super::Metrics::record_request), which clones it (a reference
/// count, not a copy of the text) into the series' label set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteLabel {
    /// No route matched the path.
    Unmatched,
    /// The matched pattern, e.g. `/produce/{topic}`.
    Pattern(Arc<str>),
}

impl RouteLabel {
    /// The label value.
    pub fn as_str(&self) -> &str {
        match self {
            RouteLabel::Unmatched => "unmatched",
            RouteLabel::Pattern(p) => p,
        }
    }
}

impl From<&str> for RouteLabel {
    fn from(pattern: &str) -> Self {
        RouteLabel::Pattern(pattern.into())
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: RouteLabel,
    status: u16,
}

type LatencyFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The request families, registered on the metrics registry.
#[derive(Debug, Clone)]
pub(super) struct Requests {
    count: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl Requests {
    /// The families, registered on `registry` (which encodes them from the same series).
    pub(super) fn register(registry: &mut Registry) -> Self {
        let this = Self {
            count: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        };
        // Registry help texts get a `.` appended; the counter gets its `_total` suffix.
        registry.register(
            "upkafka_http_requests",
            "HTTP requests, per method, matched route and status",
            this.count.clone(),
        );
        registry.register(
            "upkafka_http_request_duration_seconds",
            "HTTP request latency, per method, matched route and status",
            this.latency.clone(),
        );
        this
    }

    /// Counts one request and its latency.
    pub(super) fn record(&self, method: &str, route: &RouteLabel, status: u16, latency: Duration) {
        let labels = RequestLabels {
            method: MethodLabel::of(method),
            route: route.clone(),
            status,
        };
        // One statement each: a `get_or_create` guard holds the family's read lock.
        self.count.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
    }
}
