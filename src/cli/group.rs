//! `upkafka group commit|committed|delete`: the commit, committed and delete-consumer endpoints.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::{ClientArgs, OutputFormat};
use super::output::Table;
use super::values::{CommitOffset, PartitionSelector};
use super::{CliError, Ctx, default_instance, stdout_err};
use upkafka_client::Client;
use upkafka_protocol::{TopicPartition, TopicPartitionOffset};

/// `upkafka group ...`: the connection options, then what to do.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka group commit -g readers -i host-1
  upkafka group committed -g readers -i host-1 cities
  upkafka group delete -g readers -i host-1")]
pub struct GroupArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do with the group.
    #[command(subcommand)]
    pub command: GroupCommand,
}

/// A consumer group and instance, for `group` and `inspect lag`.
#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// Consumer group.
    #[arg(short = 'g', long, value_name = "GROUP")]
    pub group: String,

    /// Consumer instance (default: `upkafka-<hostname>`, as for `consume`).
    #[arg(short = 'i', long, value_name = "INSTANCE")]
    pub instance: Option<String>,
}

/// `upkafka group ...`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Commit offsets for a consumer instance (by default: what it has consumed).
    #[command(after_help = "\
Examples:
  upkafka group commit -g readers -i host-1                 # everything consumed so far
  upkafka group commit -g readers -i host-1 cities:0=42 cities:1=7

An explicit offset is stored as given; by Kafka convention it is the next offset to read.")]
    Commit {
        /// The consumer instance.
        #[command(flatten)]
        instance: InstanceArgs,
        /// Offsets to commit, as TOPIC:PARTITION=OFFSET.
        #[arg(value_name = "TOPIC:PARTITION=OFFSET")]
        offsets: Vec<CommitOffset>,
    },
    /// Show the committed offsets of a consumer instance.
    #[command(after_help = "\
Examples:
  upkafka group committed -g readers -i host-1 cities          # every partition of cities
  upkafka group committed -g readers -i host-1 cities:0 words --output json

A partition without a committed offset shows `-`.")]
    Committed {
        /// The consumer instance.
        #[command(flatten)]
        instance: InstanceArgs,
        /// Topics (all partitions) or TOPIC:PARTITION.
        #[arg(value_name = "TOPIC[:PARTITION]", required = true)]
        partitions: Vec<PartitionSelector>,
    },
    /// Remove a consumer instance from the server.
    #[command(after_help = "\
Examples:
  upkafka group delete -g readers -i host-1")]
    Delete {
        /// The consumer instance.
        #[command(flatten)]
        instance: InstanceArgs,
    },
}

/// A committed offset row.
#[derive(Debug, Serialize)]
pub(crate) struct CommittedRow {
    topic: String,
    partition: i32,
    /// `None` when the partition has no committed offset.
    committed: Option<i64>,
}

impl Table for CommittedRow {
    const HEADERS: &'static [&'static str] = &["TOPIC", "PARTITION", "COMMITTED"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.topic.clone(),
            self.partition.to_string(),
            self.committed.map_or("-".to_owned(), |o| o.to_string()),
        ]
    }
}

/// The outcome of commit/delete for `--output json`.
#[derive(Debug, Serialize)]
struct Done<'a> {
    group: &'a str,
    instance: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    offsets: Option<&'a [TopicPartitionOffset]>,
}

/// Runs `upkafka group ...`.
///
/// # Errors
/// API and transport errors (an unknown instance is an API error).
pub async fn run(cmd: GroupCommand, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    match cmd {
        GroupCommand::Commit { instance, offsets } => {
            let (group, inst) = names(&instance);
            let offsets: Vec<TopicPartitionOffset> = offsets.into_iter().map(|o| o.0).collect();
            if offsets.is_empty() {
                ctx.client.commit_consumed(&group, &inst).await?;
            } else {
                ctx.client.commit(&group, &inst, &offsets).await?;
            }
            let text = if offsets.is_empty() {
                format!("committed what {group}/{inst} has consumed")
            } else {
                let list: Vec<String> = offsets
                    .iter()
                    .map(|o| format!("{}:{}={}", o.topic, o.partition, o.offset))
                    .collect();
                format!("committed {} for {group}/{inst}", list.join(" "))
            };
            done(
                ctx,
                &Done {
                    group: &group,
                    instance: &inst,
                    action: "commit",
                    offsets: (!offsets.is_empty()).then_some(&offsets),
                },
                &text,
            )
        }
        GroupCommand::Committed {
            instance,
            partitions,
        } => {
            let (group, inst) = names(&instance);
            let tps = expand(&ctx.client, &partitions).await?;
            let found = ctx.client.committed(&group, &inst, &tps).await?;
            let rows: Vec<CommittedRow> = found
                .into_iter()
                .map(|o| CommittedRow {
                    topic: o.topic,
                    partition: o.partition,
                    committed: (o.offset >= 0).then_some(o.offset),
                })
                .collect();
            ctx.out.table(&rows).map_err(stdout_err)?;
            Ok(ExitCode::SUCCESS)
        }
        GroupCommand::Delete { instance } => {
            let (group, inst) = names(&instance);
            ctx.client.remove_consumer_instance(&group, &inst).await?;
            done(
                ctx,
                &Done {
                    group: &group,
                    instance: &inst,
                    action: "delete",
                    offsets: None,
                },
                &format!("removed consumer instance {group}/{inst}"),
            )
        }
    }
}

fn names(a: &InstanceArgs) -> (String, String) {
    (
        a.group.clone(),
        a.instance.clone().unwrap_or_else(default_instance),
    )
}

fn done(ctx: &mut Ctx, value: &Done<'_>, text: &str) -> Result<ExitCode, CliError> {
    match ctx.out.format() {
        OutputFormat::Json => {
            ctx.out.json(value).map_err(stdout_err)?;
            ctx.out.flush().map_err(stdout_err)?;
        }
        OutputFormat::Text => ctx.out.note(text),
    }
    Ok(ExitCode::SUCCESS)
}

/// Expands `TOPIC` selectors to every partition of the topic (via `/topics`).
pub(crate) async fn expand(
    client: &Client,
    selectors: &[PartitionSelector],
) -> Result<Vec<TopicPartition>, CliError> {
    let need_counts = selectors.iter().any(|s| s.partition.is_none());
    let counts = if need_counts {
        client.topics().await?
    } else {
        Default::default()
    };
    let mut out = Vec::new();
    for s in selectors {
        match s.partition {
            Some(p) => out.push(TopicPartition::new(s.topic.clone(), p)),
            None => {
                let n = counts.get(&s.topic).copied().ok_or_else(|| {
                    CliError::Runtime(format!("topic {} does not exist", s.topic))
                })?;
                out.extend((0..n).map(|p| TopicPartition::new(s.topic.clone(), p)));
            }
        }
    }
    Ok(out)
}
