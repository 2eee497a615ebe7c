//! `upkafka fetch`: read one partition from an offset, without a consumer group.

use std::process::ExitCode;

use clap::Args;

use super::args::ClientArgs;
use super::values::{HumanDuration, MessageFormat, OffsetArg, TimeArg};
use super::{CliError, Ctx, millis, stdout_err};
use upkafka_client::Client;
use upkafka_protocol::{FetchRequest, OffsetSpec, TopicPartition, TopicPartitionOffset};

/// `upkafka fetch`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka fetch greetings                       # partition 0 from the start to the end
  upkafka fetch cities -p 3 -o 42 -c 10         # 10 messages from offset 42
  upkafka fetch cities -p 3 -o -5               # the last 5 messages
  upkafka fetch cities -o latest -c 1 --poll-timeout 10s   # wait for the next message
  upkafka fetch cities -o @2024-05-01T12:00:00Z --until 2024-05-01T13:00:00Z   # one hour
  upkafka fetch cities -p 1 -o @-15m            # the last 15 minutes
  upkafka fetch cities -o latest --follow       # print new messages as they arrive

Reads from OFFSET until N messages were read (-c), a fetch comes back empty, or (--until) a
message is newer than TIME; that message is not printed. With --follow: until -c, Ctrl-C or
SIGTERM.

Times (-o @TIME, --until TIME) are RFC 3339 (2024-05-01T12:00:00Z, or with an offset such as
+02:00), epoch milliseconds, or a duration ago (-15m, -1h30m). `-o @TIME` starts at the first
message whose timestamp is at or after TIME, looked up through the server's /offsets/{ms} (as
kcat's -o s@); when there is none, at the end of the partition.")]
pub struct FetchArgs {
    /// Topic to read.
    #[arg(value_name = "TOPIC")]
    pub topic: String,

    /// Partition to read.
    #[arg(short = 'p', long, value_name = "PARTITION", default_value_t = 0)]
    pub partition: i32,

    /// First offset: a number, `earliest`, `latest`, -N for N before the end, or @TIME for the
    /// first message at or after TIME (e.g. @2024-05-01T12:00:00Z, @-15m).
    #[arg(
        short = 'o',
        long,
        value_name = "OFFSET",
        default_value = "earliest",
        allow_hyphen_values = true
    )]
    pub offset: OffsetArg,

    /// Stop after N messages.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop at the first message whose timestamp is after TIME (RFC 3339, epoch ms or -15m).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<TimeArg>,

    /// Print each message with this kcat-style format (see `upkafka consume --help`).
    #[arg(short = 'f', long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<MessageFormat>,

    /// One JSON object per message and line (same as --output json).
    #[arg(long)]
    pub json: bool,

    /// Keep reading: stream new messages as they are stored (server-sent events) instead of
    /// stopping at the end. Needs `upkafka serve`.
    #[arg(long, conflicts_with = "until")]
    pub follow: bool,

    /// How long the server may wait for data in one fetch.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub poll_timeout: HumanDuration,
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `upkafka fetch`: from the resolved offset until `-c N` messages were printed or a
/// fetch comes back empty.
///
/// # Errors
/// API and transport errors, or a closed stdout (reported as a broken pipe).
pub async fn run(args: FetchArgs, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let mut offset = resolve_offset(&args, ctx).await?;
    let style = ctx.out.message_style(args.json, args.format.clone());
    let mut printed: u64 = 0;
    let until = args.until.map(|t| t.0);
    tracing::debug!(topic = %args.topic, partition = args.partition, offset, ?until, "fetching");
    if args.follow {
        return follow(&args, offset, &style, ctx).await;
    }
    'fetching: loop {
        if args.count.is_some_and(|c| printed >= c) {
            break;
        }
        let mut req = FetchRequest::new(args.topic.clone(), args.partition, offset);
        req.timeout = Some(millis(args.poll_timeout.0));
        let messages = ctx.client.fetch(&req).await?;
        let mut progressed = false;
        let start = offset;
        for m in messages
            .iter()
            .filter(|m| m.partition == args.partition && m.offset >= start)
        {
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            if until.is_some_and(|t| m.timestamp > t) {
                tracing::debug!(offset = m.offset, timestamp = m.timestamp, "past --until");
                ctx.out.flush().map_err(stdout_err)?;
                break 'fetching;
            }
            ctx.out.message(m, &style).map_err(stdout_err)?;
            printed += 1;
            offset = m.offset + 1;
            progressed = true;
        }
        ctx.out.flush().map_err(stdout_err)?;
        if !progressed {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--follow`: the partition from `offset` on as a stream of records, until `-c` or a signal.
async fn follow(
    args: &FetchArgs,
    offset: i64,
    style: &super::output::MessageStyle,
    ctx: &mut Ctx,
) -> Result<ExitCode, CliError> {
    use futures::StreamExt as _;
    let req = FetchRequest::new(args.topic.clone(), args.partition, offset);
    let mut records = ctx.client.fetch_stream(&req);
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    let mut printed: u64 = 0;
    while args.count.is_none_or(|c| printed < c) {
        let next = tokio::select! {
            biased;
            () = &mut shutdown => break,
            next = records.next() => next,
        };
        let Some(m) = next else { break };
        ctx.out.message(&m?, style).map_err(stdout_err)?;
        ctx.out.flush().map_err(stdout_err)?;
        printed += 1;
    }
    Ok(ExitCode::SUCCESS)
}

/// The first offset to read: `-o` as given, or resolved through `/offsets`. `-N` is N before
/// the end, but never before the earliest retained offset; `@TIME` the first message at or
/// after TIME, or the end.
async fn resolve_offset(args: &FetchArgs, ctx: &Ctx) -> Result<i64, CliError> {
    match args.offset {
        OffsetArg::At(n) => Ok(n),
        OffsetArg::Time(ms) => {
            let tp = [TopicPartition::new(args.topic.clone(), args.partition)];
            offsets_at_time(&ctx.client, ms, &tp)
                .await?
                .into_iter()
                .find(|o| o.topic == args.topic && o.partition == args.partition)
                .map(|o| o.offset)
                .ok_or_else(|| {
                    CliError::Runtime(format!(
                        "the server returned no offset at {} for {}:{}",
                        show_time(ms),
                        args.topic,
                        args.partition
                    ))
                })
        }
        OffsetArg::Earliest => offset_at(OffsetSpec::Earliest, args, ctx).await,
        OffsetArg::Latest => offset_at(OffsetSpec::Latest, args, ctx).await,
        OffsetArg::FromEnd(n) => {
            let latest = offset_at(OffsetSpec::Latest, args, ctx).await?;
            let earliest = offset_at(OffsetSpec::Earliest, args, ctx).await?;
            Ok(latest
                .saturating_sub(i64::try_from(n).unwrap_or(i64::MAX))
                .max(earliest))
        }
    }
}

/// The partition's offset at `spec`, through `/offsets`.
async fn offset_at(spec: OffsetSpec, args: &FetchArgs, ctx: &Ctx) -> Result<i64, CliError> {
    let tp = [TopicPartition::new(args.topic.clone(), args.partition)];
    ctx.client
        .offsets(spec, &tp)
        .await?
        .iter()
        .find(|o| o.topic == args.topic && o.partition == args.partition)
        .map(|o| o.offset)
        .ok_or_else(|| {
            CliError::Runtime(format!(
                "the server returned no {spec} offset for {}:{}",
                args.topic, args.partition
            ))
        })
}

/// For each of `partitions`, the offset of the first message at or after `ms` (through
/// `/offsets/{ms}`), or the partition's end where there is none (the server answers `-1`).
///
/// # Errors
/// API and transport errors (an unknown topic or partition is an API error).
pub(crate) async fn offsets_at_time(
    client: &Client,
    ms: i64,
    partitions: &[TopicPartition],
) -> Result<Vec<TopicPartitionOffset>, CliError> {
    let mut found = client
        .offsets(OffsetSpec::Timestamp(ms), partitions)
        .await?;
    let past_end: Vec<TopicPartition> = found
        .iter()
        .filter(|o| o.offset < 0)
        .map(|o| TopicPartition::new(o.topic.clone(), o.partition))
        .collect();
    if !past_end.is_empty() {
        let ends = client.offsets(OffsetSpec::Latest, &past_end).await?;
        for o in &mut found {
            if o.offset < 0
                && let Some(end) = ends
                    .iter()
                    .find(|e| e.topic == o.topic && e.partition == o.partition)
            {
                o.offset = end.offset;
            }
        }
    }
    if let Some(o) = found.iter().find(|o| o.offset < 0) {
        return Err(CliError::Runtime(format!(
            "the server returned no offset at {} for {}:{}",
            show_time(ms),
            o.topic,
            o.partition
        )));
    }
    Ok(found)
}

/// Epoch milliseconds as an RFC 3339 time, for messages.
pub(crate) fn show_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| format!("{ms} ms"), |t| t.to_string())
}
