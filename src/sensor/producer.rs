//! The tutorial's producer loop: a reading every interval, routed by measure.

use std::time::Duration;

use upkafka_client::{Client, Result};
use upkafka_protocol::{ProduceMetadata, ProduceRecord};

use super::{Reading, Routing, Simulator};

/// How the simulated sensor publishes.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Topic to publish to.
    pub topic: String,
    /// Pause between readings (the tutorial's 3 s by default).
    pub interval: Duration,
    /// Stop after this many readings; `None` runs until cancelled.
    pub count: Option<u64>,
    /// Partition per measure.
    pub routing: Routing,
    /// Seed for reproducible readings; `None` = random.
    pub seed: Option<u64>,
}

/// Publishes simulated readings, calling `on_sent` with each acknowledged one; returns how many
/// were sent. The first reading goes out at once, then one per interval.
///
/// # Errors
/// The first failed produce (after the client's retries).
pub async fn produce_readings(
    client: &Client,
    opts: &ProducerOptions,
    mut on_sent: impl FnMut(&Reading, &ProduceMetadata),
) -> Result<u64> {
    let mut sim = Simulator::new(opts.seed);
    let mut ticker = tokio::time::interval(opts.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0;
    while opts.count.is_none_or(|n| sent < n) {
        ticker.tick().await;
        let reading = sim.next_reading();
        let record = ProduceRecord::new(reading.to_json())
            .partition(opts.routing.partition(reading.measure));
        let meta = client.produce(&opts.topic, record).await?;
        on_sent(&reading, &meta);
        sent += 1;
    }
    Ok(sent)
}
