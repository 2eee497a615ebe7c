//! `upkafka sensor produce|monitor`: the tutorial's scenario against any server.

use std::process::ExitCode;

use super::args::{OutputFormat, SensorCommand, SensorMonitorArgs, SensorProduceArgs, StartFrom};
use super::consume::PollFailures;
use super::{CliError, Ctx, default_instance, shutdown_signal, stdout_err};
use crate::sensor::{self, Monitor, MonitorOptions, ProducerOptions, Ranges, Routing, Summary};
use upkafka_protocol::AutoOffsetReset;

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
