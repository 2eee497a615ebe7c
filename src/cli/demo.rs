//! `upkafka demo`: the tutorial's scenario end to end, on an embedded server in this process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::{mpsc, oneshot};

use super::values::HumanDuration;
use super::{CliError, Ctx, Output, inspect, sensor as sensor_cli, shutdown_signal, stdout_err};
use crate::sensor::{self, Monitor, MonitorOptions, ProducerOptions, Reading, Routing, Verdict};
use upkafka_client::{self, Client, Config, ENV_PASSWORD, ENV_URL, ENV_USERNAME, Password};
use upkafka_protocol::{Message, OffsetSpec, ProduceMetadata, TopicPartition};
use upkafka_server::{Credentials, RunningServer, Server, ServerConfig, TopicSpec};

/// `upkafka demo`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka demo                          # 30 readings, one every 200 ms
  upkafka demo --count 100 --interval 50ms
  upkafka demo --keep-serving           # then point the CLI, curl or @upstash/kafka at it

The demo starts the embedded server on a free loopback port with a 3-partition topic, runs the
tutorial's sensor (pressure readings to partition 1, temperature to partition 2) and its
monitor side by side, prints the classified stream, the consumer groups view (the tutorial's
GET /consumers) and a summary per measure. ERROR readings are also republished to a second
topic, as in the tutorial's follow-up. Nothing leaves this machine.")]
pub struct DemoArgs {
    /// Readings to produce (and to wait for on the monitor side).
    #[arg(short = 'c', long, value_name = "N", default_value_t = 30)]
    pub count: u64,

    /// Pause between readings.
    #[arg(long, value_name = "DURATION", default_value = "200ms")]
    pub interval: HumanDuration,

    /// Seed for reproducible readings (default: random).
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,

    /// Topic for the readings.
    #[arg(long, value_name = "TOPIC", default_value = "sensor")]
    pub topic: String,

    /// Topic that receives the ERROR readings.
    #[arg(long, value_name = "TOPIC", default_value = "sensor-errors")]
    pub errors_topic: String,

    /// Keep the server running after the demo (until Ctrl-C) and print how to connect to it.
    #[arg(long)]
    pub keep_serving: bool,
}

/// Partitions of the readings topic: the tutorial routes to partitions 1 and 2.
const PARTITIONS: i32 = 3;
/// Username the demo's server requires.
const USERNAME: &str = "demo";
/// Column labels of the two sides of the stream.
const SENSOR: &str = "sensor  | ";
const MONITOR: &str = "monitor | ";

/// What the producer and monitor tasks report to the printer.
enum Event {
    Sent(Reading, ProduceMetadata),
    ProducerDone(upkafka_client::Result<u64>),
    /// A classified batch; the printer hands it back once shown, and only then does the
    /// monitor commit it.
    Batch(
        Vec<(Message, Verdict)>,
        oneshot::Sender<Vec<(Message, Verdict)>>,
    ),
    MonitorDone(Box<upkafka_client::Result<Monitor>>),
}

/// Runs `upkafka demo`.
///
/// # Errors
/// The embedded server cannot start, or the producer or monitor fails, or the monitor does
/// not see every reading in time.
pub async fn run(args: DemoArgs, out: Output) -> Result<ExitCode, CliError> {
    if args.count == 0 {
        return Err(CliError::Usage("--count must be at least 1".to_owned()));
    }
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let running = start_server(&args, &password).await?;
    // The demo's own server and credentials: no connection options to take.
    let client = Client::new(Config::new(
        running.url(),
        USERNAME,
        Password::new(password.clone()),
    ))?;

    let mut ctx = Ctx { client, out };
    let result = demo(&args, &mut ctx, running.addr(), &password).await;
    let result = match result {
        Ok(()) if args.keep_serving => keep_serving(&ctx, running.url(), &password).await,
        other => other,
    };
    if let Err(e) = running.shutdown().await {
        ctx.out
            .warn(&format!("the embedded server did not stop cleanly: {e}"));
    }
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.is_broken_pipe() => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

async fn start_server(args: &DemoArgs, password: &str) -> Result<RunningServer, CliError> {
    for topic in [&args.topic, &args.errors_topic] {
        upkafka_protocol::validate_topic_name(topic).map_err(CliError::Usage)?;
    }
    if args.topic == args.errors_topic {
        return Err(CliError::Usage(
            "--topic and --errors-topic must differ".to_owned(),
        ));
    }
    let config = ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        credentials: Some(Credentials {
            username: USERNAME.to_owned(),
            password: Password::new(password),
        }),
        topics: vec![
            TopicSpec::new(args.topic.clone(), PARTITIONS),
            TopicSpec::new(args.errors_topic.clone(), 1),
        ],
        ..ServerConfig::default()
    };
    let server = Server::bind(config)
        .await
        .map_err(|e| CliError::Runtime(format!("cannot start the embedded server: {e}")))?;
    Ok(server.spawn())
}

/// The demo itself. `password` is the demo server's throw-away password, printed with the
/// console URL so a browser can watch the run.
async fn demo(
    args: &DemoArgs,
    ctx: &mut Ctx,
    addr: SocketAddr,
    password: &str,
) -> Result<(), CliError> {
    let line = |ctx: &mut Ctx, text: &str| ctx.out.line(text).map_err(stdout_err);
    line(
        ctx,
        &format!(
            "upkafka demo: embedded server on http://{addr}, topic `{}` with {PARTITIONS} \
             partitions (pressure -> 1, temperature -> 2)",
            args.topic
        ),
    )?;
    line(
        ctx,
        &format!(
            "console: http://{addr}/ui (user `{USERNAME}`, password `{password}`); metrics at \
             http://{addr}/metrics"
        ),
    )?;
    line(
        ctx,
        &format!(
            "a sensor publishes {} readings every {:?}; a monitor in group `monitor` marks \
             them OK or ERROR\n",
            args.count, args.interval.0
        ),
    )?;
    ctx.out.flush().map_err(stdout_err)?;

    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let producer = spawn_producer(args, ctx.client.clone(), tx.clone());
    let monitor = spawn_monitor(args, ctx.client.clone(), tx);
    let colour = ctx.out.colour();
    // Generous: the producer's own pace plus time for a slow machine.
    let deadline = tokio::time::Instant::now()
        + args
            .interval
            .0
            .saturating_mul(u32::try_from(args.count).unwrap_or(u32::MAX))
        + Duration::from_secs(30);
    let mut seen = 0u64;
    let finished = loop {
        let event = tokio::select! {
            e = rx.recv() => e,
            () = tokio::time::sleep_until(deadline) => {
                return Err(CliError::Runtime(format!(
                    "the monitor saw {seen} of {} readings before the demo's deadline",
                    args.count
                )));
            }
            () = shutdown_signal() => return Ok(()),
        };
        match event {
            Some(Event::Sent(reading, meta)) => {
                line(
                    ctx,
                    &format!("{SENSOR}{}", sensor::format_sent(&reading, &meta)),
                )?;
            }
            Some(Event::Batch(batch, printed)) => {
                for (m, v) in &batch {
                    line(
                        ctx,
                        &format!("{MONITOR}{}", sensor::format_verdict(m, v, colour)),
                    )?;
                }
                seen += batch.len() as u64;
                ctx.out.flush().map_err(stdout_err)?;
                let _ = printed.send(batch);
            }
            Some(Event::ProducerDone(Ok(_))) => {}
            Some(Event::ProducerDone(Err(e))) => {
                return Err(CliError::ClientContext {
                    context: "the sensor could not publish".to_owned(),
                    source: e,
                });
            }
            Some(Event::MonitorDone(r)) => break *r,
            None => {
                return Err(CliError::Runtime(
                    "the demo's tasks ended unexpectedly".to_owned(),
                ));
            }
        }
    };
    producer.abort();
    monitor.abort();
    let mon = finished.map_err(|e| CliError::ClientContext {
        context: "the monitor failed".to_owned(),
        source: e,
    })?;

    line(
        ctx,
        "\nconsumer groups (GET /consumers, the tutorial's Postman call):",
    )?;
    inspect::print_consumers(ctx).await?;
    let summary = sensor_cli::close(mon, ctx).await;
    sensor_cli::print_summary(&summary, false, ctx)?;
    let errors = ctx
        .client
        .offsets(
            OffsetSpec::Latest,
            &[TopicPartition::new(args.errors_topic.clone(), 0)],
        )
        .await?;
    let republished = errors.first().map_or(0, |o| o.offset);
    line(
        ctx,
        &format!(
            "ERROR readings republished to `{}`: {republished}",
            args.errors_topic
        ),
    )?;
    ctx.out.flush().map_err(stdout_err)
}

fn spawn_producer(
    args: &DemoArgs,
    client: Client,
    tx: mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    let opts = ProducerOptions {
        topic: args.topic.clone(),
        interval: args.interval.0,
        count: Some(args.count),
        routing: Routing::default(),
        seed: args.seed,
    };
    tokio::spawn(async move {
        let result = sensor::produce_readings(&client, &opts, |r, m| {
            let _ = tx.send(Event::Sent(*r, m.clone()));
        })
        .await;
        let _ = tx.send(Event::ProducerDone(result));
    })
}

fn spawn_monitor(
    args: &DemoArgs,
    client: Client,
    tx: mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    let mut opts = MonitorOptions::new(args.topic.clone(), "monitor");
    opts.instance = "monitor-1".to_owned();
    opts.errors_to = Some(args.errors_topic.clone());
    opts.poll_timeout = Duration::from_millis(500);
    let count = args.count;
    tokio::spawn(async move {
        let result = async {
            let mut mon = Monitor::new(&client, opts)?;
            let mut seen = 0;
            while seen < count {
                let batch = mon.poll().await?;
                if batch.is_empty() {
                    continue;
                }
                let (printed_tx, printed_rx) = oneshot::channel();
                let n = batch.len() as u64;
                if tx.send(Event::Batch(batch, printed_tx)).is_err() {
                    break;
                }
                // Commit only what the printer has shown (at-least-once).
                let Ok(batch) = printed_rx.await else {
                    break;
                };
                mon.ack(&batch).await?;
                seen += n;
            }
            Ok(mon)
        }
        .await;
        let _ = tx.send(Event::MonitorDone(Box::new(result)));
    })
}

async fn keep_serving(ctx: &Ctx, url: &str, password: &str) -> Result<(), CliError> {
    // The demo's own throw-away credentials: printed on purpose so the user can connect.
    ctx.out.note(&format!(
        "\nthe demo server keeps running; connect from another shell with:\n  \
         export {ENV_URL}={url}\n  export {ENV_USERNAME}={USERNAME}\n  \
         export {ENV_PASSWORD}={password}\n  upkafka inspect consumers\n\
         or open the console at {url}/ui (user `{USERNAME}`, password above)\n\
         press Ctrl-C to stop"
    ));
    shutdown_signal().await;
    Ok(())
}
