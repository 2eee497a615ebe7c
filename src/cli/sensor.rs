//! `upkafka sensor produce|monitor`: the tutorial's scenario against any server.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::args::{ClientArgs, OutputFormat};
use super::consume::PollFailures;
use super::values::{HumanDuration, RangeArg, StartFrom};
use super::{CliError, Ctx, default_instance, shutdown_signal, stdout_err};
use crate::sensor::{self, Monitor, MonitorOptions, ProducerOptions, Ranges, Routing, Summary};
use upkafka_protocol::AutoOffsetReset;

/// `upkafka sensor ...`: the connection options, then which side of the scenario to run.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka sensor produce --topic sensor --interval 200ms --count 30
  upkafka sensor monitor --topic sensor -g monitor -e")]
pub struct SensorArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Which side to run.
    #[command(subcommand)]
    pub command: SensorCommand,
}

/// `upkafka sensor`: the tutorial's scenario against any server.
#[derive(Debug, Subcommand)]
pub enum SensorCommand {
    /// Publish simulated readings: a random device (0..=100), measure and value every interval.
    #[command(after_help = "\
Examples:
  upkafka sensor produce --topic sensor                      # every 3 s, as in the tutorial
  upkafka sensor produce --topic sensor --interval 200ms --count 30

Each reading is JSON like {\"device\":7,\"measure\":\"pressure\",\"value\":42}. Pressure
readings go to partition 1 and temperature readings to partition 2 (the tutorial's choice), so
the topic needs at least 3 partitions unless you change the routing.")]
    Produce(SensorProduceArgs),
    /// Read readings through a consumer group and mark each OK or ERROR.
    #[command(after_help = "\
Examples:
  upkafka sensor monitor --topic sensor -g monitor
  upkafka sensor monitor --topic sensor -g monitor --errors-to sensor-errors
  upkafka sensor monitor --topic sensor -g monitor --json -e | jq 'select(.status != \"OK\")'

Pressure is OK within 10..=50 and temperature within 20..=80 (bounds inclusive). A payload
that is not a reading is shown as INVALID and never stops the monitor. Offsets are committed
after each poll's readings were printed (at-least-once). On exit (Ctrl-C, -c, -e) a summary
per measure and the devices in ERROR are printed.")]
    Monitor(SensorMonitorArgs),
}

/// `upkafka sensor produce`.
#[derive(Debug, Args)]
pub struct SensorProduceArgs {
    /// Topic to publish to.
    #[arg(short = 't', long, value_name = "TOPIC", default_value = "sensor")]
    pub topic: String,

    /// Pause between readings.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub interval: HumanDuration,

    /// Stop after N readings (default: run until Ctrl-C).
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,

    /// Partition for pressure readings.
    #[arg(long, value_name = "PARTITION", default_value_t = crate::sensor::Routing::default().pressure)]
    pub pressure_partition: i32,

    /// Partition for temperature readings.
    #[arg(long, value_name = "PARTITION", default_value_t = crate::sensor::Routing::default().temperature)]
    pub temperature_partition: i32,

    /// Seed for reproducible readings.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
}

/// `upkafka sensor monitor`.
#[derive(Debug, Args)]
pub struct SensorMonitorArgs {
    /// Topic with the readings.
    #[arg(short = 't', long, value_name = "TOPIC", default_value = "sensor")]
    pub topic: String,

    /// Consumer group.
    #[arg(short = 'g', long, value_name = "GROUP")]
    pub group: String,

    /// Consumer instance (default: `upkafka-<hostname>`, stable per host).
    #[arg(short = 'i', long, value_name = "INSTANCE")]
    pub instance: Option<String>,

    /// Where a group without committed offsets starts.
    #[arg(long, value_enum, value_name = "WHERE", default_value = "earliest")]
    pub from: StartFrom,

    /// OK range of pressure readings, bounds inclusive.
    #[arg(long, value_name = "LOW..=HIGH", default_value_t = RangeArg(crate::sensor::Ranges::default().pressure))]
    pub pressure_range: RangeArg,

    /// OK range of temperature readings, bounds inclusive.
    #[arg(long, value_name = "LOW..=HIGH", default_value_t = RangeArg(crate::sensor::Ranges::default().temperature))]
    pub temperature_range: RangeArg,

    /// Also publish every ERROR reading to this topic.
    #[arg(long, value_name = "TOPIC")]
    pub errors_to: Option<String>,

    /// Stop after N readings.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,

    /// Exit when a poll comes back empty.
    #[arg(short = 'e', long = "exit")]
    pub exit_on_empty: bool,

    /// One JSON object per reading and line (same as --output json).
    #[arg(long)]
    pub json: bool,

    /// How long the server may wait for data in one poll.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub poll_timeout: HumanDuration,
}

/// Runs `upkafka sensor …`.
///
/// # Errors
/// A failed produce, or a monitor that cannot poll, commit or write.
pub async fn run(cmd: SensorCommand, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        SensorCommand::Produce(a) => produce(a, ctx).await,
        SensorCommand::Monitor(a) => monitor(a, ctx).await,
    }
}

/// The producer options a `sensor produce` command line asks for.
pub(crate) fn producer_options(a: &SensorProduceArgs) -> ProducerOptions {
    ProducerOptions {
        topic: a.topic.clone(),
        interval: a.interval.0,
        count: a.count,
        routing: Routing {
            pressure: a.pressure_partition,
            temperature: a.temperature_partition,
        },
        seed: a.seed,
    }
}

async fn produce(a: SensorProduceArgs, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let opts = producer_options(&a);
    let json = ctx.out.format() == OutputFormat::Json;
    let mut write_err = None;
    let out = &mut ctx.out;
    let client = &ctx.client;
    let run = sensor::produce_readings(client, &opts, |reading, meta| {
        if write_err.is_some() {
            return;
        }
        let written = if json {
            out.json(&serde_json::json!({
                "reading": reading,
                "topic": meta.topic,
                "partition": meta.partition,
                "offset": meta.offset,
                "timestamp": meta.timestamp,
            }))
        } else {
            out.line(&sensor::format_sent(reading, meta))
        };
        if let Err(e) = written.and_then(|()| out.flush()) {
            write_err = Some(e);
        }
    });
    let sent = tokio::select! {
        r = run => r.map_err(CliError::from)?,
        () = shutdown_signal() => 0,
    };
    if let Some(e) = write_err {
        return Err(stdout_err(e));
    }
    tracing::debug!(sent, "producer stopped");
    Ok(ExitCode::SUCCESS)
}

/// The monitor options a `sensor monitor` command line asks for.
pub(crate) fn monitor_options(a: &SensorMonitorArgs) -> MonitorOptions {
    MonitorOptions {
        topic: a.topic.clone(),
        group: a.group.clone(),
        instance: a.instance.clone().unwrap_or_else(default_instance),
        ranges: Ranges {
            pressure: a.pressure_range.0.clone(),
            temperature: a.temperature_range.0.clone(),
        },
        errors_to: a.errors_to.clone(),
        poll_timeout: a.poll_timeout.0,
        from: match a.from {
            StartFrom::Earliest => AutoOffsetReset::Earliest,
            StartFrom::Latest => AutoOffsetReset::Latest,
        },
    }
}

async fn monitor(a: SensorMonitorArgs, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let json = a.json || ctx.out.format() == OutputFormat::Json;
    let mut mon = Monitor::new(&ctx.client, monitor_options(&a))?;
    let stop = StopWhen {
        count: a.count,
        exit_on_empty: a.exit_on_empty,
    };
    let result = tokio::select! {
        r = monitor_loop(&mut mon, ctx, json, stop, None) => r,
        () = shutdown_signal() => Ok(()),
    };
    let summary = close(mon, ctx).await;
    match result {
        Err(e) if e.is_broken_pipe() => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    print_summary(&summary, json, ctx)?;
    Ok(ExitCode::SUCCESS)
}

/// When a monitor loop ends on its own.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StopWhen {
    /// After this many readings.
    pub count: Option<u64>,
    /// When a poll comes back empty.
    pub exit_on_empty: bool,
}

/// Polls, prints and acknowledges until `stop` says so. Each line is prefixed with `prefix`
/// (the demo's column label) when given.
pub(crate) async fn monitor_loop(
    mon: &mut Monitor,
    ctx: &mut Ctx,
    json: bool,
    stop: StopWhen,
    prefix: Option<&str>,
) -> Result<(), CliError> {
    let colour = !json && ctx.out.colour();
    let mut seen: u64 = 0;
    let mut failures = PollFailures::default();
    while stop.count.is_none_or(|c| seen < c) {
        let batch = match mon.poll().await {
            Ok(b) => {
                failures.reset();
                b
            }
            Err(e) if failures.retry_after(&e, &ctx.out).await => {
                mon.restart().await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if batch.is_empty() {
            if stop.exit_on_empty {
                break;
            }
            continue;
        }
        for (m, v) in &batch {
            if json {
                ctx.out
                    .json(&sensor::verdict_json(m, v))
                    .map_err(stdout_err)?;
            } else {
                let line = sensor::format_verdict(m, v, colour);
                let line = match prefix {
                    Some(p) => format!("{p}{line}"),
                    None => line,
                };
                ctx.out.line(&line).map_err(stdout_err)?;
            }
        }
        ctx.out.flush().map_err(stdout_err)?;
        mon.ack(&batch).await?;
        seen += batch.len() as u64;
    }
    Ok(())
}

/// Removes the monitor's instance (warning when that fails) and returns its summary.
pub(crate) async fn close(mon: Monitor, ctx: &Ctx) -> Summary {
    match mon.close().await {
        Ok(s) => s,
        Err((s, e)) => {
            ctx.out.warn(&format!(
                "could not remove the monitor's consumer instance: {e}"
            ));
            s
        }
    }
}

/// Prints the summary: on stdout after a text stream, on stderr (unless `-q`) after JSON.
pub(crate) fn print_summary(summary: &Summary, json: bool, ctx: &mut Ctx) -> Result<(), CliError> {
    if json {
        ctx.out.note(&summary.to_string());
        return Ok(());
    }
    ctx.out.line("").map_err(stdout_err)?;
    ctx.out.line(&summary.to_string()).map_err(stdout_err)?;
    ctx.out.flush().map_err(stdout_err)
}
