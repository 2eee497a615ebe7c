//! `upkafka inspect topics|consumers|offsets|lag`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::ClientArgs;
use super::group::{InstanceArgs, expand};
use super::output::Table;
use super::values::{AtTime, PartitionSelector};
use super::{CliError, Ctx, default_instance, stdout_err};
use upkafka_protocol::{OffsetSpec, TopicPartition, TopicPartitionOffset};

/// `upkafka inspect ...`: the connection options, then what to show.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka inspect topics
  upkafka inspect consumers --output json
  upkafka inspect offsets cities --at 2024-05-01T12:00:00Z
  upkafka inspect lag -g readers -i host-1 cities")]
pub struct InspectArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to show.
    #[command(subcommand)]
    pub command: InspectCommand,
}

/// `upkafka inspect ...`.
#[derive(Debug, Subcommand)]
pub enum InspectCommand {
    /// List topics and their partition counts.
    #[command(after_help = "\
Examples:
  upkafka inspect topics
  upkafka inspect topics --output json | jq -r '.[].topic'")]
    Topics,
    /// List consumer groups, their instances and assigned partitions.
    #[command(after_help = "\
Examples:
  upkafka inspect consumers
  upkafka inspect consumers --output json")]
    Consumers,
    /// Show a topic's offsets: earliest, latest and message count per partition, or with
    /// --at the first offset at a time.
    #[command(after_help = "\
Examples:
  upkafka inspect offsets cities
  upkafka inspect offsets cities --at 2024-05-01T12:00:00Z
  upkafka inspect offsets cities --at 1714564800000        # epoch milliseconds")]
    Offsets {
        /// Topic to inspect.
        #[arg(value_name = "TOPIC")]
        topic: String,
        /// `earliest`, `latest`, epoch milliseconds, or an RFC 3339 UTC time.
        #[arg(long, value_name = "WHEN")]
        at: Option<AtTime>,
    },
    /// Show consumer lag: committed vs latest offset per partition.
    #[command(after_help = "\
Examples:
  upkafka inspect lag -g readers -i host-1 cities
  upkafka inspect lag -g readers -i host-1 --output json      # topics from /consumers

Without TOPICs, the topics assigned to the instance (from /consumers) are used. A partition
without a committed offset shows `-`, and its lag is the whole partition (latest - earliest).")]
    Lag {
        /// The consumer instance.
        #[command(flatten)]
        instance: InstanceArgs,
        /// Topics to check.
        #[arg(value_name = "TOPIC")]
        topics: Vec<String>,
    },
}

#[derive(Debug, Serialize)]
struct TopicRow {
    topic: String,
    partitions: i32,
}

impl Table for TopicRow {
    const HEADERS: &'static [&'static str] = &["TOPIC", "PARTITIONS"];

    fn cells(&self) -> Vec<String> {
        vec![self.topic.clone(), self.partitions.to_string()]
    }
}

#[derive(Debug, Serialize)]
struct ConsumerRow {
    group: String,
    instance: String,
    /// `None` for an instance without an assignment yet.
    topic: Option<String>,
    partitions: Vec<i32>,
}

impl Table for ConsumerRow {
    const HEADERS: &'static [&'static str] = &["GROUP", "INSTANCE", "TOPIC", "PARTITIONS"];
    fn cells(&self) -> Vec<String> {
        let parts: Vec<String> = self.partitions.iter().map(i32::to_string).collect();
        vec![
            self.group.clone(),
            self.instance.clone(),
            self.topic.clone().unwrap_or_else(|| "-".to_owned()),
            if parts.is_empty() {
                "-".to_owned()
            } else {
                parts.join(",")
            },
        ]
    }
}

#[derive(Debug, Serialize)]
struct RangeRow {
    topic: String,
    partition: i32,
    earliest: i64,
    latest: i64,
    messages: i64,
}

impl Table for RangeRow {
    const HEADERS: &'static [&'static str] =
        &["TOPIC", "PARTITION", "EARLIEST", "LATEST", "MESSAGES"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.topic.clone(),
            self.partition.to_string(),
            self.earliest.to_string(),
            self.latest.to_string(),
            self.messages.to_string(),
        ]
    }
}

#[derive(Debug, Serialize)]
struct AtRow {
    topic: String,
    partition: i32,
    /// `None` when no record is at or after the time.
    offset: Option<i64>,
}

impl Table for AtRow {
    const HEADERS: &'static [&'static str] = &["TOPIC", "PARTITION", "OFFSET"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.topic.clone(),
            self.partition.to_string(),
            self.offset.map_or("-".to_owned(), |o| o.to_string()),
        ]
    }
}

#[derive(Debug, Serialize)]
struct LagRow {
    topic: String,
    partition: i32,
    /// `None` when nothing is committed for the partition.
    committed: Option<i64>,
    latest: i64,
    lag: i64,
}

impl Table for LagRow {
    const HEADERS: &'static [&'static str] = &["TOPIC", "PARTITION", "COMMITTED", "LATEST", "LAG"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.topic.clone(),
            self.partition.to_string(),
            self.committed.map_or("-".to_owned(), |o| o.to_string()),
            self.latest.to_string(),
            self.lag.to_string(),
        ]
    }
}

/// Runs `upkafka inspect ...`.
///
/// # Errors
/// API and transport errors; an unknown topic; `lag` without topics for an instance that has
/// no assignment.
pub async fn run(cmd: InspectCommand, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        InspectCommand::Topics => {
            let rows: Vec<TopicRow> = ctx
                .client
                .topics()
                .await?
                .into_iter()
                .map(|(topic, partitions)| TopicRow { topic, partitions })
                .collect();
            ctx.out.table(&rows).map_err(stdout_err)?;
        }
        InspectCommand::Consumers => print_consumers(ctx).await?,
        InspectCommand::Offsets { topic, at } => {
            let tps = expand(
                &ctx.client,
                &[PartitionSelector {
                    topic,
                    partition: None,
                }],
            )
            .await?;
            match at {
                Some(at) => {
                    let found = ctx.client.offsets(at.0, &tps).await?;
                    let rows: Vec<AtRow> = sorted(found)
                        .into_iter()
                        .map(|o| AtRow {
                            topic: o.topic,
                            partition: o.partition,
                            offset: (o.offset >= 0).then_some(o.offset),
                        })
                        .collect();
                    ctx.out.table(&rows).map_err(stdout_err)?;
                }
                None => {
                    let earliest =
                        by_partition(ctx.client.offsets(OffsetSpec::Earliest, &tps).await?);
                    let latest = by_partition(ctx.client.offsets(OffsetSpec::Latest, &tps).await?);
                    let rows: Vec<RangeRow> = latest
                        .into_iter()
                        .map(|(tp, latest)| {
                            let earliest = earliest.get(&tp).copied().unwrap_or(0);
                            RangeRow {
                                topic: tp.topic,
                                partition: tp.partition,
                                earliest,
                                latest,
                                messages: (latest - earliest).max(0),
                            }
                        })
                        .collect();
                    ctx.out.table(&rows).map_err(stdout_err)?;
                }
            }
        }
        InspectCommand::Lag { instance, topics } => {
            let group = instance.group.clone();
            let inst = instance.instance.clone().unwrap_or_else(default_instance);
            let topics = if topics.is_empty() {
                assigned_topics(ctx, &group, &inst).await?
            } else {
                topics
            };
            let selectors: Vec<PartitionSelector> = topics
                .into_iter()
                .map(|topic| PartitionSelector {
                    topic,
                    partition: None,
                })
                .collect();
            let tps = expand(&ctx.client, &selectors).await?;
            let committed = by_partition(ctx.client.committed(&group, &inst, &tps).await?);
            let latest = by_partition(ctx.client.offsets(OffsetSpec::Latest, &tps).await?);
            let need_earliest = committed.values().any(|&o| o < 0) || committed.len() < tps.len();
            let earliest = if need_earliest {
                by_partition(ctx.client.offsets(OffsetSpec::Earliest, &tps).await?)
            } else {
                BTreeMap::new()
            };
            let rows: Vec<LagRow> = latest
                .into_iter()
                .map(|(tp, latest)| {
                    let committed = committed.get(&tp).copied().filter(|&o| o >= 0);
                    let from = committed.unwrap_or_else(|| earliest.get(&tp).copied().unwrap_or(0));
                    LagRow {
                        topic: tp.topic,
                        partition: tp.partition,
                        committed,
                        latest,
                        lag: (latest - from).max(0),
                    }
                })
                .collect();
            ctx.out.table(&rows).map_err(stdout_err)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the `/consumers` view (the tutorial's Postman call): one row per group, instance and
/// topic with the assigned partitions.
pub(crate) async fn print_consumers(ctx: &mut Ctx) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for g in ctx.client.consumers().await? {
        for i in g.instances {
            if i.topics.is_empty() {
                rows.push(ConsumerRow {
                    group: g.name.clone(),
                    instance: i.name.clone(),
                    topic: None,
                    partitions: vec![],
                });
            }
            for t in i.topics {
                rows.push(ConsumerRow {
                    group: g.name.clone(),
                    instance: i.name.clone(),
                    topic: Some(t.topic),
                    partitions: t.partitions,
                });
            }
        }
    }
    ctx.out.table(&rows).map_err(stdout_err)
}

/// The topics assigned to an instance according to `/consumers`.
async fn assigned_topics(ctx: &Ctx, group: &str, instance: &str) -> Result<Vec<String>, CliError> {
    let mut topics: Vec<String> = ctx
        .client
        .consumers()
        .await?
        .into_iter()
        .filter(|g| g.name == group)
        .flat_map(|g| g.instances)
        .filter(|i| i.name == instance)
        .flat_map(|i| i.topics)
        .map(|t| t.topic)
        .collect();
    topics.sort();
    topics.dedup();
    if topics.is_empty() {
        return Err(CliError::Usage(format!(
            "consumer instance {group}/{instance} has no assigned topics; name the TOPICs to check"
        )));
    }
    Ok(topics)
}

fn by_partition(offsets: Vec<TopicPartitionOffset>) -> BTreeMap<TopicPartition, i64> {
    offsets
        .into_iter()
        .map(|o| (o.topic_partition(), o.offset))
        .collect()
}

fn sorted(mut offsets: Vec<TopicPartitionOffset>) -> Vec<TopicPartitionOffset> {
    offsets.sort();
    offsets
}
