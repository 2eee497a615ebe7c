//! `upkafka fetch`: read one partition from an offset, without a consumer group.

use std::process::ExitCode;

use super::args::{FetchArgs, OffsetArg};
use super::{CliError, Ctx, millis, stdout_err};
use upkafka_protocol::{FetchRequest, OffsetSpec, TopicPartition};

/// Runs `upkafka fetch`: from the resolved offset until `-c N` messages were printed or a
/// fetch comes back empty.
///
/// # Errors
/// API and transport errors, or a closed stdout (reported as a broken pipe).
pub async fn run(args: FetchArgs, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let mut offset = resolve_offset(&args, ctx).await?;
    let style = ctx.out.message_style(args.json, args.format.clone());
    let mut printed: u64 = 0;
    tracing::debug!(topic = %args.topic, partition = args.partition, offset, "fetching");
    loop {
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

/// The first offset to read: `-o` as given, or resolved through `/offsets`. `-N` is N before
/// the end, but never before the earliest retained offset.
async fn resolve_offset(args: &FetchArgs, ctx: &Ctx) -> Result<i64, CliError> {
    match args.offset {
        OffsetArg::At(n) => Ok(n),
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
