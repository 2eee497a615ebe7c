//! `upkafka admin topics create|list|describe|alter|delete`: topics of an upkafka server with
//! their retention, size limit and cleanup policy (its management API, spec §9 shapes), with
//! the server's own credential.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::OutputFormat;
use super::output::Table;
use super::values::{ByteLimit, ByteSize, HumanDuration, Retention};
use super::{CliError, Ctx, stdout_err};
use upkafka_protocol::{CreateTopicRequest, TopicDetails, UpdateTopicRequest};

/// `upkafka admin topics ...`.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create a topic. Settings left out take the server's defaults (on the embedded log
    /// Kafka's: 7 days, no size limit, delete).
    #[command(after_help = "\
Examples:
  upkafka admin topics create readings --partitions 3 --retention 7d --retention-bytes 10GiB
  upkafka admin topics create devices --compact
  upkafka admin topics create scratch --retention 2s --segment-bytes 1MiB --segment-age 1s")]
    Create {
        /// The topic name (Kafka's rules: letters, digits, `.`, `_`, `-`).
        name: String,
        /// Number of partitions.
        #[arg(long, short = 'p', value_name = "N", default_value_t = 1)]
        partitions: i32,
        #[command(flatten)]
        settings: SettingArgs,
        /// Keep only the latest record per key (cleanup.policy=compact); records need a key.
        #[arg(long)]
        compact: bool,
    },
    /// List the topics with their settings.
    #[command(after_help = "\
Examples:
  upkafka admin topics list
  upkafka admin topics list --output json")]
    List,
    /// Show one topic's settings.
    #[command(after_help = "\
Examples:
  upkafka admin topics describe readings
  upkafka admin topics describe readings --output json")]
    Describe {
        /// The topic name.
        name: String,
    },
    /// Change a topic's retention or size limit; what is not named stays. The partition
    /// count and the cleanup policy are fixed at creation.
    #[command(after_help = "\
Examples:
  upkafka admin topics alter readings --retention 30d
  upkafka admin topics alter readings --retention-bytes unlimited --max-message-bytes 256KiB")]
    Alter {
        /// The topic name.
        name: String,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Delete a topic with its records and the consumer groups' offsets of it.
    #[command(after_help = "\
Examples:
  upkafka admin topics delete scratch")]
    Delete {
        /// The topic name.
        name: String,
    },
}

/// The settings `create` and `alter` share.
#[derive(Debug, Args, Default)]
pub struct SettingArgs {
    /// How long records are kept: 7d, 36h, 90s (a day is 24 h), or `forever`.
    #[arg(long, value_name = "DURATION")]
    retention: Option<Retention>,
    /// Most bytes kept per partition, e.g. 10GiB, or `unlimited`.
    #[arg(long, value_name = "SIZE")]
    retention_bytes: Option<ByteLimit>,
    /// Largest record accepted, e.g. 256KiB, or `unlimited` (the server's limit).
    #[arg(long, value_name = "SIZE")]
    max_message_bytes: Option<ByteLimit>,
    /// Segment size: retention and compaction act on whole closed segments.
    #[arg(long, value_name = "SIZE")]
    segment_bytes: Option<ByteSize>,
    /// A segment closes once its first record is this old, e.g. 1h.
    #[arg(long, value_name = "DURATION")]
    segment_age: Option<HumanDuration>,
    /// How long a compacted topic keeps tombstones (records with a null value), e.g. 1h.
    #[arg(long, value_name = "DURATION")]
    tombstone_retention: Option<HumanDuration>,
}

fn millis(d: HumanDuration) -> i64 {
    i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX)
}

impl SettingArgs {
    fn update(&self) -> UpdateTopicRequest {
        UpdateTopicRequest {
            retention_time: self.retention.map(Retention::as_api_ms),
            retention_size: self.retention_bytes.map(ByteLimit::as_api),
            max_message_size: self.max_message_bytes.map(ByteLimit::as_api),
            segment_bytes: self
                .segment_bytes
                .map(|b| i64::try_from(b.0).unwrap_or(i64::MAX)),
            segment_ms: self.segment_age.map(millis),
            delete_retention_ms: self.tombstone_retention.map(millis),
        }
    }
}

/// One topic as a row of `list`.
#[derive(Debug, Serialize)]
struct Row(TopicDetails);

fn limit(v: i64, unit: &str) -> String {
    if v < 0 {
        "unlimited".to_owned()
    } else {
        format!("{v}{unit}")
    }
}

/// A retention in ms the way people read it: `7d`, `36h`, `2s`, `forever`.
fn retention(ms: i64) -> String {
    if ms < 0 {
        return "forever".to_owned();
    }
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    let day = 24 * 3600;
    if ms > 0 && d.as_millis().is_multiple_of(day * 1000) {
        return format!("{}d", d.as_secs() / day as u64);
    }
    HumanDuration(d).to_string()
}

impl Table for Row {
    const HEADERS: &'static [&'static str] = &[
        "TOPIC",
        "PARTITIONS",
        "POLICY",
        "RETENTION",
        "RETENTION-BYTES",
        "MAX-MESSAGE-BYTES",
    ];

    fn cells(&self) -> Vec<String> {
        let t = &self.0;
        vec![
            t.topic_name.clone(),
            t.partitions.to_string(),
            t.cleanup_policy.clone(),
            retention(t.retention_time),
            limit(t.retention_size, ""),
            limit(t.max_message_size, ""),
        ]
    }
}

fn print_one(ctx: &mut Ctx, t: &TopicDetails) -> Result<(), CliError> {
    match ctx.out.format() {
        OutputFormat::Json => ctx.out.json(t).map_err(stdout_err)?,
        OutputFormat::Text => {
            let text = format!(
                "topic:              {}\n\
                 partitions:         {}\n\
                 cleanup policy:     {}\n\
                 retention:          {}\n\
                 retention bytes:    {}\n\
                 max message bytes:  {}\n\
                 segment bytes:      {}\n\
                 segment age:        {}\n\
                 tombstones kept:    {}",
                t.topic_name,
                t.partitions,
                t.cleanup_policy,
                retention(t.retention_time),
                limit(t.retention_size, ""),
                limit(t.max_message_size, ""),
                limit(t.segment_bytes, ""),
                retention(t.segment_ms),
                retention(t.delete_retention_ms),
            );
            ctx.out.line(&text).map_err(stdout_err)?;
        }
    }
    ctx.out.flush().map_err(stdout_err)
}

/// Runs `upkafka admin topics ...` against the server.
///
/// # Errors
/// API (400 naming a bad setting, 403 without the server's credential, 404 for an unknown
/// topic) and transport errors.
pub async fn run(cmd: TopicsCommand, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        TopicsCommand::Create {
            name,
            partitions,
            settings,
            compact,
        } => {
            let u = settings.update();
            let request = CreateTopicRequest {
                name,
                partitions: Some(partitions),
                retention_time: u.retention_time,
                retention_size: u.retention_size,
                max_message_size: u.max_message_size,
                cleanup_policy: compact.then(|| "compact".to_owned()),
                cluster_id: None,
                segment_bytes: u.segment_bytes,
                segment_ms: u.segment_ms,
                delete_retention_ms: u.delete_retention_ms,
            };
            let t = ctx.client.create_topic(&request).await?;
            ctx.out.note(&format!(
                "created topic {} with {} partition{}",
                t.topic_name,
                t.partitions,
                if t.partitions == 1 { "" } else { "s" }
            ));
            print_one(ctx, &t)?;
        }
        TopicsCommand::List => {
            let rows: Vec<Row> = ctx
                .client
                .list_topics()
                .await?
                .into_iter()
                .map(Row)
                .collect();
            ctx.out.table(&rows).map_err(stdout_err)?;
        }
        TopicsCommand::Describe { name } => {
            let t = ctx.client.describe_topic(&name).await?;
            print_one(ctx, &t)?;
        }
        TopicsCommand::Alter { name, settings } => {
            let change = settings.update();
            if change == UpdateTopicRequest::default() {
                return Err(CliError::Usage(
                    "nothing to change: name a setting, e.g. --retention 30d (see --help)"
                        .to_owned(),
                ));
            }
            let t = ctx.client.update_topic(&name, &change).await?;
            print_one(ctx, &t)?;
        }
        TopicsCommand::Delete { name } => {
            ctx.client.delete_topic(&name).await?;
            ctx.out.note(&format!("deleted topic {name}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retentions_print_as_people_write_them() {
        assert_eq!(retention(7 * 24 * 3600 * 1000), "7d");
        assert_eq!(retention(-1), "forever");
        assert_eq!(retention(2000), "2s");
        assert_eq!(limit(-1, ""), "unlimited");
    }
}
