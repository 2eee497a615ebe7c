//! Load tool (issue 6): drives an upkafka server over loopback with the upkafka client and
//! prints messages/s, MB/s, latency percentiles and this process's CPU time.
//!
//! ```text
//! cargo run --release --example load -- [--url URL] produce --size 100 --batch 500 --in-flight 4
//! cargo run --release --example load -- [--url URL] consume --messages 200000
//! cargo run --release --example load -- [--url URL] latency --rate 1000 --seconds 5
//! cargo run --release --example load -- [--url URL] stream --messages 200000
//! cargo run --release --example load -- [--url URL] stream-latency --rate 1000 --seconds 5
//! cargo run --release --example load -- --url URL streams --count 1000 --hold 5
//! cargo run --release --example load -- --url URL --topic T ceiling --group G --messages 500000
//! ```
//!
//! `consume` and `stream` drain the same kind of topic through a consumer group, by polls and
//! by a server-sent event stream; `latency` and `stream-latency` measure produce→delivery by a
//! waiting fetch and by a fetch stream; `streams` holds idle event streams open (to measure
//! what they cost the server); `ceiling` drains a filled topic through a group with a bare
//! HTTP loop that decodes nothing (the server's ceiling on the consume route, bench/consume.sh).
//!
//! Without `--url` an in-process server is started (in memory, or on `--data-dir`); its CPU
//! time is then counted with the client's. `bench/compare.sh` runs it against a separate
//! `upkafka serve`. The last line of every run is `RESULT key=value ...` for scripts.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use upkafka_client::{Client, Config};
use upkafka_protocol::{AutoOffsetReset, ConsumerConfig, FetchRequest, ProduceRecord};
use upkafka_server::{RunningServer, Server, ServerConfig};

#[derive(Debug, Parser)]
#[command(about = "Load generator for an upkafka server")]
struct Args {
    /// Server URL; without it an in-process server is started on a free loopback port.
    #[arg(long, env = "UPSTASH_KAFKA_REST_URL")]
    url: Option<String>,
    /// Basic-auth username (ignored by a server started with --no-auth).
    #[arg(long, env = "UPSTASH_KAFKA_REST_USERNAME", default_value = "bench")]
    username: String,
    /// Basic-auth password.
    #[arg(long, env = "UPSTASH_KAFKA_REST_PASSWORD", default_value = "bench")]
    password: String,
    /// For the in-process server: keep the log in this directory (fsync per produce).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Topic to use; default: a fresh name per run (the server must auto-create topics).
    #[arg(long)]
    topic: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Produce batches with a window of requests in flight.
    Produce {
        /// Value size in bytes.
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Messages per request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
        /// Messages to send in total.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Send to `/produce/{topic}` instead of `/produce` with the topic in every record
        /// (what `@upstash/kafka`'s `produceMany` sends, so the default for comparisons).
        #[arg(long)]
        to_topic: bool,
    },
    /// Fill a topic (untimed), then consume it through a consumer group (timed).
    Consume {
        /// Value size in bytes.
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Messages to fill and consume.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Messages per produce request of the fill (lower it for large values: a request
        /// body is at most 16 MiB by default).
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Produce single messages at a fixed rate while a long-polling fetch waits for them;
    /// reports the produce→consume latency.
    Latency {
        /// Value size in bytes (at least 24: the send time is written into the value).
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Duration of the run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Fill a topic (untimed), then drain it through a consumer group's event stream
    /// (`Accept: text/event-stream`, auto-commit on; timed): `consume`'s work, pushed.
    Stream {
        /// Value size in bytes.
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Messages to fill and consume.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
    },
    /// `latency` with a fetch event stream in place of the waiting fetch.
    StreamLatency {
        /// Value size in bytes (at least 24: the send time is written into the value).
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Duration of the run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// The server's ceiling on the consume route (issue 19): drain `messages` already in the
    /// topic through group `group` with a bare HTTP/1.1 loop on one keep-alive connection,
    /// `POST /consume` (no wait, auto-commit off) then `POST /commit` (what was consumed),
    /// reading each answer's bytes without decoding them: what a client that costs nothing
    /// would get. Records are counted by their opening `{` (the bench's values have none).
    Ceiling {
        /// Consumer group (a fresh one reads from `earliest`).
        #[arg(long)]
        group: String,
        /// Messages to drain.
        #[arg(long, default_value_t = 500_000)]
        messages: u64,
    },
    /// Open `count` keep-alive connections, send one `GET /topics` on each, then hold them
    /// idle for `hold` seconds; prints `RESULT mode=connections open=N` once all are open (a
    /// script then reads the server's memory, bench/curves.sh).
    Connections {
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seconds to hold them open.
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
    /// Create `count` consumer instances (one empty poll each, 1,000 per group, groups
    /// `<topic>-instances-<n>`), then hold for `hold` seconds; prints
    /// `RESULT mode=instances created=N` once all exist (bench/curves.sh reads the server's
    /// memory then). The topic must exist.
    Instances {
        /// Instances to create.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seconds to hold before removing them.
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
    /// Open `count` fetch event streams on an empty topic and hold them idle for `hold`
    /// seconds; prints `RESULT mode=streams open=N` once all are open (a script then reads the
    /// server's memory).
    Streams {
        /// Streams to open.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seconds to hold them open.
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Index 0 is field 3 (state); the kernel's USER_HZ is 100 on every mainstream Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Percentile by rank over a sorted slice, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

struct Report {
    what: &'static str,
    messages: u64,
    bytes: u64,
    elapsed: Duration,
    cpu: Duration,
    latencies: Vec<Duration>,
    latency_of: &'static str,
}

impl Report {
    fn print(mut self) {
        self.latencies.sort_unstable();
        let secs = self.elapsed.as_secs_f64();
        let l = &self.latencies;
        let (p50, p99, max) = (pct(l, 0.50), pct(l, 0.99), pct(l, 1.0));
        let cpu_us = self.cpu.as_secs_f64() * 1e6 / self.messages.max(1) as f64;
        println!(
            "{}: {} messages in {:.2} s = {:.0} msg/s, {:.1} MB/s; {} latency p50 {:.3} ms, \
             p99 {:.3} ms, max {:.3} ms; CPU {:.2} s = {:.2} µs/msg",
            self.what,
            self.messages,
            secs,
            self.messages as f64 / secs,
            self.bytes as f64 / secs / 1e6,
            self.latency_of,
            p50,
            p99,
            max,
            self.cpu.as_secs_f64(),
            cpu_us
        );
        println!(
            "RESULT mode={} messages={} seconds={:.3} msgs_per_s={:.0} mb_per_s={:.2} \
             p50_ms={:.3} p99_ms={:.3} max_ms={:.3} cpu_s={:.2} cpu_us_per_msg={:.3}",
            self.what,
            self.messages,
            secs,
            self.messages as f64 / secs,
            self.bytes as f64 / secs / 1e6,
            p50,
            p99,
            max,
            self.cpu.as_secs_f64(),
            cpu_us
        );
    }
}

fn payload(size: usize) -> String {
    "x".repeat(size)
}

/// Sends `messages` in batches of `batch` with `in_flight` requests outstanding; returns the
/// per-request latencies and the wall time.
async fn produce_load(
    client: &Client,
    topic: &str,
    size: usize,
    batch: usize,
    in_flight: usize,
    messages: u64,
    to_topic: bool,
) -> Res<(Vec<Duration>, Duration)> {
    let records: Arc<Vec<ProduceRecord>> = Arc::new(
        (0..batch)
            .map(|_| {
                let r = ProduceRecord::new(payload(size));
                if to_topic { r } else { r.topic(topic) }
            })
            .collect(),
    );
    let batches = messages.div_ceil(batch as u64);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (client, topic, records, next) = (
            client.clone(),
            topic.to_owned(),
            Arc::clone(&records),
            Arc::clone(&next),
        );
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < batches {
                let t = Instant::now();
                let meta = if to_topic {
                    client.produce_many_to(&topic, &records).await?
                } else {
                    // Like produceMany, which also copies its input into the request body.
                    client.produce_many(&records).await?
                };
                lat.push(t.elapsed());
                if meta.len() != records.len() {
                    return Err(
                        format!("{} acks for {} messages", meta.len(), records.len()).into(),
                    );
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(lat)
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined??);
    }
    Ok((all, started.elapsed()))
}

async fn produce(client: &Client, topic: &str, cmd: &Cmd) -> Res<()> {
    let Cmd::Produce {
        size,
        batch,
        in_flight,
        messages,
        to_topic,
    } = *cmd
    else {
        return Ok(());
    };
    let total = messages.div_ceil(batch as u64) * batch as u64;
    // One untimed batch (connection setup, topic creation), as bench/official.mjs does.
    produce_load(client, topic, size, batch, 1, 1, to_topic).await?;
    let cpu0 = cpu_time();
    let (latencies, elapsed) =
        produce_load(client, topic, size, batch, in_flight, messages, to_topic).await?;
    Report {
        what: "produce",
        messages: total,
        bytes: total * size as u64,
        elapsed,
        cpu: cpu_time().saturating_sub(cpu0),
        latencies,
        latency_of: "request",
    }
    .print();
    Ok(())
}

async fn consume(
    client: &Client,
    topic: &str,
    size: usize,
    messages: u64,
    batch: usize,
) -> Res<()> {
    let batch = batch.max(1);
    produce_load(client, topic, size, batch, 4, messages, true).await?;
    let total = messages.div_ceil(batch as u64) * batch as u64;
    let consumer = client
        .consumer(format!("{topic}-group"), "bench-1", [topic])
        .with_config(ConsumerConfig {
            auto_offset_reset: Some(AutoOffsetReset::Earliest),
            auto_commit: Some(true),
            ..ConsumerConfig::default()
        })
        .with_timeout(Duration::from_millis(1000));
    let cpu0 = cpu_time();
    let started = Instant::now();
    let (mut got, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
    let mut empty = 0;
    while got < total {
        let t = Instant::now();
        let msgs = consumer.poll().await?;
        latencies.push(t.elapsed());
        if msgs.is_empty() {
            empty += 1;
            if empty > 5 {
                return Err(format!("only {got} of {total} messages came back").into());
            }
        }
        got += msgs.len() as u64;
        bytes += msgs.iter().map(|m| m.value.len() as u64).sum::<u64>();
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let _ = consumer.remove().await;
    Report {
        what: "consume",
        messages: got,
        bytes,
        elapsed,
        cpu,
        latencies,
        latency_of: "poll",
    }
    .print();
    Ok(())
}

async fn latency(client: &Client, topic: &str, size: usize, rate: u64, seconds: u64) -> Res<()> {
    let origin = Instant::now();
    let count = rate * seconds;
    // Make sure the topic exists (auto-create) before the consumer starts waiting on it.
    client
        .produce(topic, ProduceRecord::new(format!("{:020}", 0)))
        .await?;
    let consumer = {
        let (client, topic) = (client.clone(), topic.to_owned());
        tokio::spawn(async move {
            let mut next = 1i64;
            let mut lat = Vec::with_capacity(count as usize);
            while (lat.len() as u64) < count {
                let mut req = FetchRequest::new(topic.as_str(), 0, next);
                req.timeout = Some(1000);
                let msgs = client.fetch(&req).await?;
                let now = origin.elapsed();
                for m in &msgs {
                    let sent: u64 = m.value.get(..20).and_then(|s| s.parse().ok()).unwrap_or(0);
                    lat.push(now.saturating_sub(Duration::from_nanos(sent)));
                    next = m.offset + 1;
                }
            }
            Ok::<_, upkafka_client::Error>(lat)
        })
    };
    produce_stamped(
        client,
        topic,
        size,
        rate,
        count,
        origin,
        consumer,
        "latency",
        "produce→consume",
    )
    .await
}

/// Produces `count` single records at `rate` per second, each stamped with its send time
/// (nanoseconds since `origin`, the first 20 characters of the value), while `consumer`
/// (started already, receiving them) collects their latencies; then prints the report.
#[allow(clippy::too_many_arguments)]
async fn produce_stamped<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    client: &Client,
    topic: &str,
    size: usize,
    rate: u64,
    count: u64,
    origin: Instant,
    consumer: tokio::task::JoinHandle<Result<Vec<Duration>, E>>,
    what: &'static str,
    latency_of: &'static str,
) -> Res<()> {
    // Give the consumer time to start waiting (its first long-poll, or the stream to open).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu0 = cpu_time();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let pad = payload(size.saturating_sub(20));
    for _ in 0..count {
        tick.tick().await;
        let sent = origin.elapsed().as_nanos() as u64;
        client
            .produce(topic, ProduceRecord::new(format!("{sent:020}{pad}")))
            .await?;
    }
    let latencies = tokio::time::timeout(Duration::from_secs(30), consumer)
        .await
        .map_err(|_| format!("{what}: not every message arrived within 30 s"))??
        .map_err(Into::into)?;
    Report {
        what,
        messages: count,
        bytes: count * size.max(20) as u64,
        elapsed: started.elapsed(),
        cpu: cpu_time().saturating_sub(cpu0),
        latencies,
        latency_of,
    }
    .print();
    Ok(())
}

async fn stream(client: &Client, topic: &str, size: usize, messages: u64) -> Res<()> {
    use futures::StreamExt as _;
    let batch = 500;
    produce_load(client, topic, size, batch, 4, messages, true).await?;
    let total = messages.div_ceil(batch as u64) * batch as u64;
    let mut opts =
        upkafka_client::ConsumeOptions::new(format!("{topic}-stream"), "bench-1", [topic]);
    opts.config = ConsumerConfig {
        auto_offset_reset: Some(AutoOffsetReset::Earliest),
        auto_commit: Some(true),
        ..ConsumerConfig::default()
    };
    let cpu0 = cpu_time();
    let started = Instant::now();
    let mut records = client.consume_stream(&opts);
    let (mut got, mut bytes) = (0u64, 0u64);
    while got < total {
        let m = tokio::time::timeout(Duration::from_secs(10), records.next())
            .await
            .map_err(|_| format!("only {got} of {total} messages came within 10 s of the last"))?
            .ok_or("the stream ended")??;
        got += 1;
        bytes += m.value.len() as u64;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    drop(records);
    let _ = client
        .remove_consumer_instance(&opts.group, &opts.instance)
        .await;
    Report {
        what: "stream",
        messages: got,
        bytes,
        elapsed,
        cpu,
        latencies: Vec::new(),
        latency_of: "(none)",
    }
    .print();
    Ok(())
}

async fn stream_latency(
    client: &Client,
    topic: &str,
    size: usize,
    rate: u64,
    seconds: u64,
) -> Res<()> {
    use futures::StreamExt as _;
    let origin = Instant::now();
    let count = rate * seconds;
    client
        .produce(topic, ProduceRecord::new(format!("{:020}", 0)))
        .await?;
    let consumer = {
        let (client, topic) = (client.clone(), topic.to_owned());
        tokio::spawn(async move {
            let mut records = client.fetch_stream(&FetchRequest::new(topic.as_str(), 0, 1));
            let mut lat = Vec::with_capacity(count as usize);
            while (lat.len() as u64) < count {
                let Some(m) = records.next().await else {
                    return Err("the stream ended".into());
                };
                let m = m?;
                let sent: u64 = m.value.get(..20).and_then(|s| s.parse().ok()).unwrap_or(0);
                lat.push(origin.elapsed().saturating_sub(Duration::from_nanos(sent)));
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(lat)
        })
    };
    produce_stamped(
        client,
        topic,
        size,
        rate,
        count,
        origin,
        consumer,
        "stream-latency",
        "produce→event",
    )
    .await
}

/// Opens `count` idle fetch streams with plain HTTP (each its own connection, as browsers
/// would), holds them `hold` seconds, and checks each is still open.
async fn streams(url: &str, topic: &str, count: usize, hold: u64) -> Res<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    // The topic must exist; one record at an offset the streams start after.
    let created = http
        .get(format!("{url}/produce/{topic}/seed"))
        .send()
        .await?;
    if !created.status().is_success() {
        return Err(format!("creating {topic}: {}", created.status()).into());
    }
    let body = format!(r#"{{"topic":"{topic}","partition":0,"offset":1}}"#);
    let mut open = Vec::with_capacity(count);
    let started = Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let batch = chunk.iter().map(|_| {
            http.post(format!("{url}/fetch"))
                .header("accept", "text/event-stream")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        for resp in futures::future::join_all(batch).await {
            let resp = resp?;
            if !resp.status().is_success() {
                return Err(format!("opening a stream: {}", resp.status()).into());
            }
            open.push(resp);
        }
    }
    println!(
        "RESULT mode=streams open={} seconds={:.3}",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(hold)).await;
    drop(open);
    Ok(())
}

/// `connections`: see [`Cmd::Connections`]. Raw TCP, so each connection is exactly one
/// socket the server holds, with one request served on it (as a client's pooled connection).
async fn connections(
    url: &str,
    username: &str,
    password: &str,
    count: usize,
    hold: u64,
) -> Res<()> {
    use base64::Engine as _;
    use futures::StreamExt as _;
    let addr = url
        .strip_prefix("http://")
        .ok_or("connections needs an http:// URL")?
        .trim_end_matches('/')
        .to_owned();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let request =
        format!("GET /topics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\r\n");
    let started = Instant::now();
    let open: Vec<tokio::net::TcpStream> = futures::stream::iter(0..count)
        .map(|_| {
            let (addr, request) = (addr.as_str(), request.as_bytes());
            async move {
                let mut conn = tokio::net::TcpStream::connect(addr).await?;
                let (mut buf, mut body) = (Vec::new(), Vec::new());
                raw_call(&mut conn, request, &mut buf, &mut body).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(conn)
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!(
        "RESULT mode=connections open={} seconds={:.3}",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(hold)).await;
    drop(open);
    Ok(())
}

/// `instances`: see [`Cmd::Instances`].
async fn instances(client: &Client, topic: &str, count: usize, hold: u64) -> Res<()> {
    use futures::StreamExt as _;
    const PER_GROUP: usize = 1000;
    let started = Instant::now();
    let consumers: Vec<_> = futures::stream::iter(0..count)
        .map(|i| {
            let consumer = client
                .consumer(
                    format!("{topic}-instances-{}", i / PER_GROUP),
                    format!("instance-{i}"),
                    [topic],
                )
                .with_timeout(Duration::ZERO);
            async move {
                consumer.poll().await?;
                Ok::<_, upkafka_client::Error>(consumer)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!(
        "RESULT mode=instances created={} seconds={:.3}",
        consumers.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(hold)).await;
    futures::stream::iter(consumers)
        .for_each_concurrent(32, |c| async move {
            let _ = c.remove().await;
        })
        .await;
    Ok(())
}

/// Sends one HTTP/1.1 request on `conn` and reads the answer's body into `body` (which is
/// cleared first); the answer must be a 200 with a `Content-Length`.
async fn raw_call(
    conn: &mut tokio::net::TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
    body: &mut Vec<u8>,
) -> Res<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    conn.write_all(request).await?;
    // `buf` holds what was read past the previous answer (nothing, without pipelining).
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("an answer head over 64 KiB".into());
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("answer: {}", head.lines().next().unwrap_or("")).into());
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .ok_or("an answer without Content-Length")?;
    body.clear();
    body.extend_from_slice(&buf[head_end..(head_end + len).min(buf.len())]);
    buf.drain(..(head_end + len).min(buf.len()));
    let mut have = body.len();
    body.resize(len, 0);
    while have < len {
        let n = conn.read(&mut body[have..]).await?;
        if n == 0 {
            return Err("the server closed the connection mid-answer".into());
        }
        have += n;
    }
    Ok(())
}

/// `ceiling`: see [`Cmd::Ceiling`].
async fn ceiling(
    url: &str,
    username: &str,
    password: &str,
    topic: &str,
    group: &str,
    messages: u64,
) -> Res<()> {
    use base64::Engine as _;
    let addr = url
        .strip_prefix("http://")
        .ok_or("ceiling needs an http:// URL")?
        .trim_end_matches('/');
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let body = format!(r#"{{"topic":"{topic}","timeout":0}}"#);
    let consume_req = format!(
        "POST /consume/{group}/ceiling-1 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nKafka-Auto-Offset-Reset: earliest\r\n\
         Kafka-Enable-Auto-Commit: false\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let commit_req = format!(
        "POST /commit/{group}/ceiling-1 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let (mut buf, mut answer) = (Vec::new(), Vec::with_capacity(2 << 20));
    let cpu0 = cpu_time();
    let started = Instant::now();
    let (mut got, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
    while got < messages {
        let t = Instant::now();
        raw_call(&mut conn, consume_req.as_bytes(), &mut buf, &mut answer).await?;
        let records = answer.iter().filter(|&&b| b == b'{').count() as u64;
        if records == 0 {
            return Err(format!("only {got} of {messages} messages came back").into());
        }
        got += records;
        bytes += answer.len() as u64;
        raw_call(&mut conn, commit_req.as_bytes(), &mut buf, &mut answer).await?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    Report {
        what: "consume-ceiling",
        messages: got,
        bytes,
        elapsed,
        cpu: cpu_time().saturating_sub(cpu0),
        latencies,
        latency_of: "poll+commit",
    }
    .print();
    Ok(())
}

async fn run(args: Args) -> Res<()> {
    let mut server: Option<RunningServer> = None;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let config = ServerConfig {
                bind: "127.0.0.1:0".parse()?,
                auto_create_topics: true,
                data_dir: args.data_dir.clone(),
                ..ServerConfig::default()
            };
            let running = Server::bind(config).await?.spawn();
            let url = running.url().to_owned();
            eprintln!("in-process server at {url} (its CPU time counts as the client's)");
            server = Some(running);
            url
        }
    };
    let client = Client::new(
        Config::new(url.clone(), args.username.as_str(), args.password.as_str())
            .timeout(Duration::from_secs(60)),
    )?;
    let topic = args.topic.clone().unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("bench-{nanos}")
    });
    let outcome = match &args.cmd {
        cmd @ Cmd::Produce { .. } => produce(&client, &topic, cmd).await,
        Cmd::Consume {
            size,
            messages,
            batch,
        } => consume(&client, &topic, *size, *messages, *batch).await,
        Cmd::Latency {
            size,
            rate,
            seconds,
        } => latency(&client, &topic, *size, *rate, *seconds).await,
        Cmd::Stream { size, messages } => stream(&client, &topic, *size, *messages).await,
        Cmd::StreamLatency {
            size,
            rate,
            seconds,
        } => stream_latency(&client, &topic, *size, *rate, *seconds).await,
        Cmd::Streams { count, hold } => streams(&url, &topic, *count, *hold).await,
        Cmd::Connections { count, hold } => {
            connections(&url, &args.username, &args.password, *count, *hold).await
        }
        Cmd::Instances { count, hold } => instances(&client, &topic, *count, *hold).await,
        Cmd::Ceiling { group, messages } => {
            ceiling(
                &url,
                &args.username,
                &args.password,
                &topic,
                group,
                *messages,
            )
            .await
        }
    };
    if let Some(server) = server {
        server.shutdown().await?;
    }
    outcome
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
