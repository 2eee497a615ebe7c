//! What the gateway knows of its connection to the Kafka cluster (issue 16), for `/metrics`:
//! the brokers its producer knows and how many of them it is connected to, from librdkafka's
//! statistics (every second). A REST produce during an outage is answered 503 within the
//! request timeout; this is what an operator graphs and alerts on meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rdkafka::client::ClientContext;
use rdkafka::statistics::Statistics;

use crate::backend::ClusterConnection;

/// How often librdkafka reports its statistics to [`BrokerWatch`], in ms.
pub(super) const STATS_INTERVAL_MS: &str = "1000";

/// The producer's client context: librdkafka's default logging and error handling, plus the
/// broker states of its last statistics. Before the first report both counts are -1.
/// Clones share the counts: the producer owns one, the backend reads another.
#[derive(Debug, Clone)]
pub(super) struct BrokerWatch(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    known: AtomicI64,
    up: AtomicI64,
}

impl Default for BrokerWatch {
    fn default() -> Self {
        Self(Arc::new(Counts {
            known: AtomicI64::new(-1),
            up: AtomicI64::new(-1),
        }))
    }
}

impl BrokerWatch {
    /// The last report, if there was one.
    pub(super) fn connection(&self) -> Option<ClusterConnection> {
        let known = self.0.known.load(Ordering::Relaxed);
        let up = self.0.up.load(Ordering::Relaxed);
        (known >= 0 && up >= 0).then(|| ClusterConnection {
            brokers_known: u32::try_from(known).unwrap_or(u32::MAX),
            brokers_up: u32::try_from(up).unwrap_or(u32::MAX),
        })
    }
}

impl ClientContext for BrokerWatch {
    fn stats(&self, statistics: Statistics) {
        // Bootstrap entries (node id -1) stand for addresses, not brokers.
        let brokers = statistics.brokers.values().filter(|b| b.nodeid >= 0);
        let (mut known, mut up) = (0i64, 0i64);
        for b in brokers {
            known += 1;
            if b.state == "UP" {
                up += 1;
            }
        }
        self.0.known.store(known, Ordering::Relaxed);
        self.0.up.store(up, Ordering::Relaxed);
    }
}
