//! The native side of the gateway benchmark (`bench/gateway.sh`): writes messages straight
//! to a Kafka cluster with librdkafka, configured as the gateway's producer is (idempotent,
//! `acks=all`), and prints messages/s.
//!
//! ```text
//! cargo run --release --example native_produce -- --bootstrap 127.0.0.1:19092 \
//!     --topic bench --messages 200000 --size 100
//! ```
//!
//! The last line is `RESULT mode=native messages=… seconds=… msgs_per_s=…` for scripts.

use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

#[derive(Debug, Parser)]
#[command(about = "Produce to Kafka with librdkafka, as the gateway does, and time it")]
struct Args {
    /// Bootstrap servers, HOST:PORT[,HOST:PORT…].
    #[arg(long)]
    bootstrap: String,
    /// Topic (must exist).
    #[arg(long)]
    topic: String,
    /// Messages to send.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Partition count of the topic: messages round-robin over them, as unkeyed records do
    /// on the gateway.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let producer: FutureProducer = match ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("native_produce: cannot create the producer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let value = "x".repeat(args.size);
    let started = Instant::now();
    // Keep a window of deliveries in flight, like the load tool's requests in flight.
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut failed = 0u64;
    for i in 0..args.messages {
        let partition =
            i32::try_from(i % u64::from(args.partitions.max(1).unsigned_abs())).unwrap_or(0);
        let record = FutureRecord::<(), _>::to(&args.topic)
            .payload(&value)
            .partition(partition);
        pending.push(producer.send(record, Duration::from_secs(30)));
        if pending.len() >= 10_000 {
            use futures::StreamExt;
            if let Some(Err(_)) = pending.next().await {
                failed += 1;
            }
        }
    }
    use futures::StreamExt;
    while let Some(r) = pending.next().await {
        if r.is_err() {
            failed += 1;
        }
    }
    let _ = producer.flush(Duration::from_secs(30));
    let secs = started.elapsed().as_secs_f64();
    if failed > 0 {
        eprintln!("native_produce: {failed} messages were not delivered");
        return std::process::ExitCode::FAILURE;
    }
    println!(
        "RESULT mode=native messages={} seconds={secs:.3} msgs_per_s={:.0}",
        args.messages,
        args.messages as f64 / secs
    );
    std::process::ExitCode::SUCCESS
}
