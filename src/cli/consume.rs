//! `upkafka consume`: poll a consumer instance, write messages to stdout, and commit only what
//! was written (at-least-once).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::args::ClientArgs;
use super::fetch::{offsets_at_time, show_time};
use super::group::expand;
use super::output::MessageStyle;
use super::values::{ConsumeFrom, HumanDuration, MessageFormat, PartitionSelector, StartFrom};
use super::{CliError, Ctx, default_instance, shutdown_signal, stdout_err};
use upkafka_client::{self, Client, ConsumeOptions, RetryPolicy};
use upkafka_protocol::{AutoOffsetReset, Message, TopicPartitionOffset, next_offsets};

/// `upkafka consume`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka consume greetings -g readers --from earliest
  upkafka consume a b -g readers -c 10 -f '%t/%p@%o %k=%s\\n'
  upkafka consume greetings -g readers -e --json | jq .value
  upkafka consume greetings -g readers --from -1h          # re-read the last hour
  upkafka consume greetings -g readers --from 2024-05-01T12:00:00Z

Delivery is at-least-once: auto-commit is off and, after each poll's messages are written to
stdout, the next offset of each partition is committed. On exit (-c, -e, Ctrl-C, SIGTERM or a
closed stdout) the consumer instance is removed; the next run resumes at the committed
offsets. A new instance may return a few empty polls while it joins the group, so -e can end
early on a real Upstash cluster. With --follow, records are streamed as they are stored, and
what has been written is committed after each burst of records.

--from earliest|latest only applies to a group without committed offsets. --from TIME (RFC 3339
such as 2024-05-01T12:00:00Z, epoch milliseconds, or a duration ago such as -15m) moves the
group: before consuming, upkafka looks up through the server's /offsets/{ms} the first message
at or after TIME in every partition of the TOPICs (the end of a partition that has none),
commits those offsets for the group (with a short-lived instance that reads nothing it keeps),
then consumes from them. This moves the whole group, so other members of it resume there too.

Format (-f) fields: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp (ms),
%h headers (k=v,...), %K key length, %S value length, \\n newline, \\t tab, %% percent.")]
pub struct ConsumeArgs {
    /// Topics to consume.
    #[arg(value_name = "TOPIC", required = true)]
    pub topics: Vec<String>,

    /// Consumer group.
    #[arg(short = 'g', long, value_name = "GROUP")]
    pub group: String,

    /// Consumer instance (default: `upkafka-<hostname>`, stable per host).
    #[arg(short = 'i', long, value_name = "INSTANCE")]
    pub instance: Option<String>,

    /// `earliest` or `latest`: where a group without committed offsets starts (server
    /// default: latest). A TIME (e.g. 2024-05-01T12:00:00Z, -15m): commit the group's offsets
    /// at TIME first, then consume from there (see below).
    #[arg(long, value_name = "WHERE", allow_hyphen_values = true)]
    pub from: Option<ConsumeFrom>,

    /// Let the server commit in the background instead (may lose messages not yet written).
    #[arg(long)]
    pub auto_commit: bool,

    /// Stop after N messages.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,

    /// Exit when a poll comes back empty.
    #[arg(short = 'e', long = "exit", conflicts_with = "follow")]
    pub exit_on_empty: bool,

    /// Stream records as they arrive (server-sent events, one long-lived response) instead of
    /// polling; reconnects and resumes by itself. Needs `upkafka serve` (embedded log).
    #[arg(long)]
    pub follow: bool,

    /// Print each message with this kcat-style format (see below).
    #[arg(short = 'f', long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<MessageFormat>,

    /// One JSON object per message and line (same as --output json).
    #[arg(long)]
    pub json: bool,

    /// How long the server may wait for data in one poll.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub poll_timeout: HumanDuration,
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Failed polls in a row before giving up.
const MAX_FAILED_POLLS: u32 = 5;

/// Runs `upkafka consume`.
///
/// # Errors
/// An authentication or API error, or repeated transport failures. The instance is removed
/// before returning either way.
pub async fn run(args: ConsumeArgs, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let instance = args.instance.clone().unwrap_or_else(default_instance);
    let mut opts = ConsumeOptions::new(args.group.clone(), instance, args.topics.clone());
    opts.timeout = Some(args.poll_timeout.0);
    opts.config.auto_commit = Some(args.auto_commit);
    opts.config.auto_offset_reset = args.from.and_then(|f| match f {
        ConsumeFrom::Reset(StartFrom::Earliest) => Some(AutoOffsetReset::Earliest),
        ConsumeFrom::Reset(StartFrom::Latest) => Some(AutoOffsetReset::Latest),
        ConsumeFrom::Time(_) => None,
    });
    let style = ctx.out.message_style(args.json, args.format.clone());
    tracing::debug!(group = %opts.group, instance = %opts.instance, topics = ?opts.topics, "consuming");

    // An instance of this name may be left over from a run that was killed (SIGKILL, crash)
    // before it could remove it. Its position on the server may be past what that run wrote
    // and committed; reusing it would skip those messages. Remove it so that this run resumes
    // at the committed offsets (a 404 for "no such instance" is the usual answer).
    if let Err(e) = ctx
        .client
        .remove_consumer_instance(&opts.group, &opts.instance)
        .await
    {
        tracing::debug!(error = %e, "no leftover consumer instance removed");
    }

    let moved = match args.from {
        Some(ConsumeFrom::Time(ms)) => move_group_to(ms, &opts, ctx).await,
        _ => Ok(()),
    };
    let result = match moved {
        Err(e) => Err(e),
        Ok(()) if args.follow => follow_loop(&args, &opts, &style, ctx).await,
        Ok(()) => consume_loop(&args, &opts, &style, ctx).await,
    };

    // Whatever happened, remove the instance: its position may be past what was written and
    // committed, and a new instance resumes at the committed offsets.
    if let Err(e) = ctx
        .client
        .remove_consumer_instance(&opts.group, &opts.instance)
        .await
    {
        tracing::debug!(error = %e, "could not remove the consumer instance");
        if result.is_ok() {
            ctx.out.warn(&format!(
                "could not remove consumer instance {}/{}: {e}",
                opts.group, opts.instance
            ));
        }
    }
    match result {
        Err(e) if e.is_broken_pipe() => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

/// `--from TIME`: commits, for every partition of the topics, the offset of the first message
/// at or after `ms` (or the end), so that the instance created next starts there.
///
/// The server commits only for an existing instance, and an instance is created by a consume:
/// so a first consume (auto-commit off, no wait) creates it, whatever it returns is dropped,
/// the offsets are committed, and the instance is removed. The consume loop's first poll then
/// creates a new instance, which starts at the committed offsets.
async fn move_group_to(ms: i64, opts: &ConsumeOptions, ctx: &mut Ctx) -> Result<(), CliError> {
    let selectors: Vec<PartitionSelector> = opts
        .topics
        .iter()
        .map(|t| PartitionSelector {
            topic: t.clone(),
            partition: None,
        })
        .collect();
    let partitions = expand(&ctx.client, &selectors).await?;
    let offsets: Vec<TopicPartitionOffset> = offsets_at_time(&ctx.client, ms, &partitions).await?;
    let mut join = opts.clone();
    join.timeout = Some(Duration::ZERO);
    join.config.auto_commit = Some(false);
    let dropped = ctx.client.consume(&join).await?;
    tracing::debug!(
        dropped = dropped.len(),
        "joined the group to commit; the new instance re-reads"
    );
    ctx.client
        .commit(&opts.group, &opts.instance, &offsets)
        .await?;
    ctx.client
        .remove_consumer_instance(&opts.group, &opts.instance)
        .await?;
    let list: Vec<String> = offsets
        .iter()
        .map(|o| format!("{}:{}={}", o.topic, o.partition, o.offset))
        .collect();
    ctx.out.note(&format!(
        "group {} moved to {}: committed {}",
        opts.group,
        show_time(ms),
        list.join(" ")
    ));
    Ok(())
}

/// A poll running on its own task: started before the previous poll's messages are written out
/// and committed, so that the server reads and encodes the next answer meanwhile. Dropping it
/// abandons the poll (as a Ctrl-C during a poll always did).
struct NextPoll(tokio::task::JoinHandle<upkafka_client::Result<Vec<Message>>>);

impl NextPoll {
    fn start(poller: &Client, opts: &ConsumeOptions) -> Self {
        let (poller, opts) = (poller.clone(), opts.clone());
        Self(tokio::spawn(async move { poller.consume(&opts).await }))
    }

    async fn answer(&mut self) -> Result<upkafka_client::Result<Vec<Message>>, CliError> {
        (&mut self.0)
            .await
            .map_err(|e| CliError::Runtime(format!("the poll task failed: {e}")))
    }
}

impl Drop for NextPoll {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn consume_loop(
    args: &ConsumeArgs,
    opts: &ConsumeOptions,
    style: &MessageStyle,
    ctx: &mut Ctx,
) -> Result<ExitCode, CliError> {
    // Polls are never retried inside the client: a retry after a lost answer would skip the
    // messages of that answer, and the next commit would move past them. A failed poll is
    // handled here instead, by recreating the instance at the committed offsets.
    let poller = Client::new(ctx.client.config().clone().retry(RetryPolicy::none()))?;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut written: u64 = 0;
    let mut failures = PollFailures::default();
    // The poll after the one being written out. A poll moves only the instance's position,
    // never the group's committed offsets, and each commit names the offsets of the messages
    // just written: so polling ahead never lets a commit cover what was not written. A poll
    // that fails is looked at only after the previous batch is written and committed, so the
    // instance is recreated at offsets that include that batch.
    let mut ahead: Option<NextPoll> = None;
    loop {
        if args.count.is_some_and(|c| written >= c) {
            break;
        }
        let mut poll = match ahead.take() {
            Some(p) => p,
            None => NextPoll::start(&poller, opts),
        };
        let polled = tokio::select! {
            biased;
            () = &mut shutdown => {
                tracing::debug!("signal received, stopping");
                break;
            }
            r = poll.answer() => r?,
        };
        let messages = match polled {
            Ok(m) => {
                failures.reset();
                m
            }
            Err(e) if failures.retry_after(&e, &ctx.out).await => {
                // The answer may have been lost after the server moved the instance on:
                // recreate it so it resumes at the committed offsets.
                let _ = ctx
                    .client
                    .remove_consumer_instance(&opts.group, &opts.instance)
                    .await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if messages.is_empty() {
            if args.exit_on_empty {
                break;
            }
            continue;
        }
        let take = match args.count {
            Some(c) => usize::try_from(c - written).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let batch = &messages[..take.min(messages.len())];
        // Poll ahead unless this batch completes the count.
        if args
            .count
            .is_none_or(|c| written + (batch.len() as u64) < c)
        {
            ahead = Some(NextPoll::start(&poller, opts));
            // Let the poll go out before the batch is written: on the single-threaded
            // runtime `consume` runs on, the new task would otherwise wait for the commit.
            tokio::task::yield_now().await;
        }
        for m in batch {
            ctx.out.message(m, style).map_err(stdout_err)?;
        }
        ctx.out.flush().map_err(stdout_err)?;
        written += batch.len() as u64;
        if !args.auto_commit {
            let offsets = next_offsets(batch);
            tracing::debug!(?offsets, "committing what was written");
            ctx.client
                .commit(&opts.group, &opts.instance, &offsets)
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Most records written (and committed) as one burst of `--follow`.
const FOLLOW_BURST: usize = 500;

/// `--follow`: the instance as a stream of records; what is ready is written, flushed and
/// committed as one burst. The stream reconnects by itself (resuming after the last record it
/// yielded); an error it gives up on ends the run.
async fn follow_loop(
    args: &ConsumeArgs,
    opts: &ConsumeOptions,
    style: &MessageStyle,
    ctx: &mut Ctx,
) -> Result<ExitCode, CliError> {
    use futures::StreamExt as _;
    let mut records = ctx.client.consume_stream(opts).ready_chunks(FOLLOW_BURST);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut written: u64 = 0;
    while args.count.is_none_or(|c| written < c) {
        let burst = tokio::select! {
            biased;
            () = &mut shutdown => {
                tracing::debug!("signal received, stopping");
                break;
            }
            burst = records.next() => burst,
        };
        let Some(burst) = burst else { break };
        let mut batch: Vec<Message> = Vec::with_capacity(burst.len());
        let mut failure = None;
        for item in burst {
            if args
                .count
                .is_some_and(|c| written + batch.len() as u64 >= c)
            {
                break;
            }
            match item {
                Ok(m) => batch.push(m),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        for m in &batch {
            ctx.out.message(m, style).map_err(stdout_err)?;
        }
        ctx.out.flush().map_err(stdout_err)?;
        written += batch.len() as u64;
        if !args.auto_commit && !batch.is_empty() {
            let offsets = next_offsets(&batch);
            tracing::debug!(?offsets, "committing what was written");
            ctx.client
                .commit(&opts.group, &opts.instance, &offsets)
                .await?;
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Counts failed polls in a row and decides whether to try again.
#[derive(Debug, Default)]
pub(crate) struct PollFailures {
    in_a_row: u32,
}

impl PollFailures {
    /// A poll succeeded.
    pub(crate) fn reset(&mut self) {
        self.in_a_row = 0;
    }

    /// After a failed poll: when the failure is one that recreating the consumer instance can
    /// get past and not too many came in a row, warns, backs off and returns `true` (the caller
    /// then recreates the instance so it resumes at the committed offsets); else `false`.
    pub(crate) async fn retry_after(
        &mut self,
        e: &upkafka_client::Error,
        out: &super::Output,
    ) -> bool {
        if !recoverable(e) || self.in_a_row + 1 >= MAX_FAILED_POLLS {
            return false;
        }
        self.in_a_row += 1;
        out.warn(&format!(
            "poll failed ({e}); recreating the consumer instance to resume at the committed \
             offsets"
        ));
        tokio::time::sleep(Duration::from_millis(200 * u64::from(self.in_a_row))).await;
        true
    }
}

/// Transport trouble that recreating the instance can get past.
fn recoverable(e: &upkafka_client::Error) -> bool {
    matches!(
        e.kind(),
        upkafka_client::ErrorKind::Transport | upkafka_client::ErrorKind::Timeout
    ) || e.status().is_some_and(|s| s >= 500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use upkafka_protocol::TopicPartitionOffset;

    fn msg(topic: &str, partition: i32, offset: i64) -> Message {
        Message {
            topic: topic.into(),
            partition,
            offset,
            timestamp: 0,
            key: String::new(),
            value: String::new(),
            headers: vec![],
            tombstone: false,
        }
    }

    #[test]
    fn commits_the_next_offset_per_partition() {
        let ms = [
            msg("a", 0, 5),
            msg("a", 1, 9),
            msg("a", 0, 6),
            msg("b", 0, 0),
        ];
        let refs: Vec<&Message> = ms.iter().collect();
        assert_eq!(
            next_offsets(refs.iter().copied()),
            vec![
                TopicPartitionOffset::new("a", 0, 7),
                TopicPartitionOffset::new("a", 1, 10),
                TopicPartitionOffset::new("b", 0, 1),
            ]
        );
    }
}
