//! Command-line arguments: plain data, parsed into types at the edge.
//!
//! Conventions (keep them when adding flags):
//! - every short flag is spelled out (`short = 'k'`), never derived from the field name;
//! - every option that takes a value has an uppercase `value_name`;
//! - connection flags fall back to the `UPSTASH_KAFKA_REST_*` variables (`env = ...`), and
//!   secrets never show their value in `--help` (`hide_env_values = true`);
//! - values arrive typed: `ValueEnum`s for closed sets (`--output`, `--from`), `FromStr`
//!   newtypes for everything with a syntax (`-H name=value`, offsets, durations, sizes,
//!   delimiters, `-f` formats). Nothing downstream parses strings again.
//! - doc comments are the short help; every subcommand has an `Examples:` section in its
//!   `after_help`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::exit::EXIT_CODES_HELP;
use upkafka_client::{ENV_URL, ENV_USERNAME, Password};
use upkafka_protocol::{Header, OffsetSpec, TopicPartitionOffset};

/// Variable naming a file that holds the password (alternative to `UPSTASH_KAFKA_REST_PASSWORD`).
pub const ENV_PASSWORD_FILE: &str = "UPSTASH_KAFKA_REST_PASSWORD_FILE";

/// `upkafka`: produce, consume and inspect through an Upstash-compatible Kafka REST API.
#[derive(Debug, Parser)]
#[command(
    name = "upkafka",
    version,
    about = "Produce, consume and inspect Kafka topics through the Upstash Kafka REST API",
    after_help = top_after_help(),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Connection and output options, shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level `after_help`: examples, then the exit codes.
fn top_after_help() -> String {
    format!(
        "Examples:
  export UPSTASH_KAFKA_REST_URL=https://example-kafka.upstash.io
  export UPSTASH_KAFKA_REST_USERNAME=user
  export UPSTASH_KAFKA_REST_PASSWORD=secret      # or: --password-file FILE
  upkafka inspect topics
  echo hello | upkafka produce greetings
  upkafka consume greetings -g readers --from earliest -e

{EXIT_CODES_HELP}"
    )
}

/// Options every subcommand accepts. Subcommands that need no server ignore the connection
/// options.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// REST endpoint URL, e.g. `https://example-kafka.upstash.io` (`upkafka serve` runs one
    /// locally).
    #[arg(long, global = true, env = ENV_URL, value_name = "URL", help_heading = "Connection")]
    pub url: Option<String>,

    /// Basic-auth username.
    #[arg(long, global = true, env = ENV_USERNAME, value_name = "USER", help_heading = "Connection")]
    pub username: Option<String>,

    /// Read the password from FILE, trailing newline dropped (default: the
    /// UPSTASH_KAFKA_REST_PASSWORD variable).
    #[arg(
        long,
        global = true,
        env = ENV_PASSWORD_FILE,
        value_name = "FILE",
        help_heading = "Connection"
    )]
    pub password_file: Option<PathBuf>,

    /// The password itself. Avoid it: other users of this machine can read the command line.
    /// Prefer UPSTASH_KAFKA_REST_PASSWORD or --password-file.
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        value_parser = parse_password,
        help_heading = "Connection",
        hide_short_help = true
    )]
    pub password: Option<Password>,

    /// Allow plain http:// to a host that is not this machine (sends the password in clear).
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        hide_short_help = true
    )]
    pub insecure_http: bool,

    /// Also trust the CA certificate(s) in this PEM file (for self-signed servers).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Connection",
        hide_short_help = true
    )]
    pub ca_cert: Option<PathBuf>,

    /// Time allowed for one request, on top of any server-side wait, e.g. 500ms, 10s, 1m.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        default_value = "30s",
        help_heading = "Connection",
        hide_short_help = true
    )]
    pub timeout: HumanDuration,

    /// Retries of a failed request (connection errors, 429, 5xx). 0 = one attempt only.
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 5,
        help_heading = "Connection",
        hide_short_help = true
    )]
    pub retries: u32,

    /// Output format: `text` (aligned tables, plain values) or `json` (for scripts).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "UPKAFKA_OUTPUT",
        default_value_t = OutputFormat::Text
    )]
    pub output: OutputFormat,

    /// More diagnostics on stderr: -v debug, -vv trace. Secrets are never shown.
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr: no summaries, progress bars or notes.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

fn parse_password(s: &str) -> Result<Password, String> {
    Ok(Password::new(s))
}

/// `--output`: how results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables and plain values, for people.
    Text,
    /// JSON, for scripts: one document, or one object per line for message streams.
    Json,
}

/// The subcommands. `serve`, `demo` and `completions` need no server URL; `serve` reads the
/// credential options as the credentials it requires.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send messages: one per line from stdin or files, or a single --value.
    Produce(ProduceArgs),
    /// Read messages through a consumer group, committing after they are written.
    Consume(ConsumeArgs),
    /// Read messages from one partition by offset, without a consumer group.
    Fetch(FetchArgs),
    /// Commit, read or remove a consumer group's offsets and instances.
    #[command(subcommand)]
    Group(GroupCommand),
    /// List topics, consumers, offsets and consumer lag.
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// The tutorial's IoT scenario: a simulated sensor and a monitor that marks readings OK/ERROR.
    #[command(subcommand)]
    Sensor(SensorCommand),
    /// Serve the Upstash Kafka REST API: on an embedded durable log (no Kafka needed), or in
    /// front of a Kafka cluster (--kafka).
    Serve(super::serve::ServeArgs),
    /// Run the tutorial's sensor scenario end to end on an embedded server: no setup, no network.
    Demo(DemoArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `upkafka produce`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  echo hello | upkafka produce greetings
  upkafka produce cities cities.txt -K ':'          # lines like  city:Istanbul
  upkafka produce events --value '{\"id\":1}' -k user-7 -H source=cli -H v=2
  upkafka produce logs app.log --batch-size 1000 --in-flight 4   # faster, may reorder

Input is streamed; messages are sent in batches of --batch-size messages or --batch-bytes
bytes, whichever is reached first. With --in-flight 1 (the default) one batch is in flight at
a time, so messages keep their order. A bad line stops the run with FILE:LINE and the exact
number of messages acknowledged before it; --skip-invalid reports and skips such lines.")]
pub struct ProduceArgs {
    /// Topic to produce to.
    #[arg(value_name = "TOPIC")]
    pub topic: String,

    /// Files to read messages from; `-` or none means stdin.
    #[arg(value_name = "FILE", conflicts_with = "value")]
    pub files: Vec<PathBuf>,

    /// Produce this single message instead of reading input.
    #[arg(long, value_name = "TEXT")]
    pub value: Option<String>,

    /// Message separator in the input; escapes \n \t \r \0 \\ are understood.
    #[arg(short = 'D', long, value_name = "DELIM", default_value = "\\n")]
    pub delimiter: Delimiter,

    /// Split each message into key and value at the first DELIM (e.g. -K ':').
    #[arg(short = 'K', long, value_name = "DELIM", conflicts_with_all = ["key", "value"])]
    pub key_delimiter: Option<Delimiter>,

    /// Key for every message.
    #[arg(short = 'k', long, value_name = "KEY")]
    pub key: Option<String>,

    /// Partition for every message (default: chosen by the server).
    #[arg(short = 'p', long, value_name = "PARTITION")]
    pub partition: Option<i32>,

    /// Header for every message, NAME=VALUE; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<HeaderArg>,

    /// Most messages per request.
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Most bytes (keys + values) per request, e.g. 262144, 512KiB, 1MiB.
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub batch_bytes: ByteSize,

    /// Batches in flight at once. Above 1, batches can complete out of order, so messages
    /// of different batches may be stored out of order.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,

    /// Skip lines that cannot be sent (reporting each on stderr) instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,

    /// Send a partly filled batch when no more input arrives for this long, so that
    /// `tail -f app.log | upkafka produce logs` sends lines as they come.
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub linger: HumanDuration,
}

/// `upkafka consume`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka consume greetings -g readers --from earliest
  upkafka consume a b -g readers -c 10 -f '%t/%p@%o %k=%s\\n'
  upkafka consume greetings -g readers -e --json | jq .value

Delivery is at-least-once: auto-commit is off and, after each poll's messages are written to
stdout, the next offset of each partition is committed. On exit (-c, -e, Ctrl-C, SIGTERM or a
closed stdout) the consumer instance is removed; the next run resumes at the committed
offsets. A new instance may return a few empty polls while it joins the group, so -e can end
early on a real Upstash cluster.

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

    /// Where a group without committed offsets starts (server default: latest).
    #[arg(long, value_enum, value_name = "WHERE")]
    pub from: Option<StartFrom>,

    /// Let the server commit in the background instead (may lose messages not yet written).
    #[arg(long)]
    pub auto_commit: bool,

    /// Stop after N messages.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,

    /// Exit when a poll comes back empty.
    #[arg(short = 'e', long = "exit")]
    pub exit_on_empty: bool,

    /// Print each message with this kcat-style format (see below).
    #[arg(short = 'f', long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<MessageFormat>,

    /// One JSON object per message and line (same as --output json).
    #[arg(long)]
    pub json: bool,

    /// How long the server may wait for data in one poll.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub poll_timeout: HumanDuration,
}

/// `--from`: where a consumer group without committed offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFrom {
    /// The first retained message.
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// `upkafka fetch`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka fetch greetings                       # partition 0 from the start to the end
  upkafka fetch cities -p 3 -o 42 -c 10         # 10 messages from offset 42
  upkafka fetch cities -p 3 -o -5               # the last 5 messages
  upkafka fetch cities -o latest -c 1 --poll-timeout 10s   # wait for the next message

Reads from OFFSET until N messages were read (-c) or a fetch comes back empty.")]
pub struct FetchArgs {
    /// Topic to read.
    #[arg(value_name = "TOPIC")]
    pub topic: String,

    /// Partition to read.
    #[arg(short = 'p', long, value_name = "PARTITION", default_value_t = 0)]
    pub partition: i32,

    /// First offset: a number, `earliest`, `latest`, or -N for N before the end.
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

    /// Print each message with this kcat-style format (see `upkafka consume --help`).
    #[arg(short = 'f', long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<MessageFormat>,

    /// One JSON object per message and line (same as --output json).
    #[arg(long)]
    pub json: bool,

    /// How long the server may wait for data in one fetch.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub poll_timeout: HumanDuration,
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

/// `upkafka completions`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka completions bash > ~/.local/share/bash-completion/completions/upkafka
  upkafka completions zsh > ~/.zfunc/_upkafka
  upkafka completions fish > ~/.config/fish/completions/upkafka.fish")]
pub struct CompletionsArgs {
    /// Shell to generate the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

// ---------------------------------------------------------------------------------------------
// Typed values.

/// Splits `512KiB` into `(512, "KiB")`: leading digits, then the (trimmed) rest.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    Some((num.parse().ok()?, unit.trim()))
}

/// A duration such as `500ms`, `3s`, `2m`, `1h`; a bare number means seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (n, unit) = number_and_unit(s)
            .ok_or_else(|| format!("`{s}` is not a duration (try 500ms, 3s, 2m)"))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "" | "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{s}` (use ms, s, m or h)"
                ));
            }
        };
        Ok(HumanDuration(d))
    }
}

/// A byte count such as `65536`, `512KiB`, `1MiB` (also `k`/`KB`/`M`/`MB`, all powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, unit) = number_and_unit(s.trim())
            .ok_or_else(|| format!("`{s}` is not a size (try 65536, 512KiB, 1MiB)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1024,
            "m" | "mb" | "mib" => 1024 * 1024,
            other => return Err(format!("unknown unit `{other}` in `{s}` (use KiB or MiB)")),
        };
        let v = n.saturating_mul(mult);
        if v == 0 {
            return Err("the size must be at least 1 byte".to_owned());
        }
        Ok(ByteSize(v))
    }
}

/// A separator given on the command line, with `\n`, `\t`, `\r`, `\0` and `\\` escapes.
#[derive(Clone, PartialEq, Eq)]
pub struct Delimiter(pub Vec<u8>);

impl fmt::Debug for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delimiter({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0).escape_debug().to_string())
    }
}

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = unescape(s)?.into_bytes();
        if bytes.is_empty() {
            return Err("the delimiter is empty".to_owned());
        }
        Ok(Delimiter(bytes))
    }
}

/// Resolves `\n`, `\t`, `\r`, `\0` and `\\` in `s`.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                return Err(format!(
                    "unknown escape `\\{other}` (use \\n \\t \\r \\0 \\\\)"
                ));
            }
            None => return Err("a trailing `\\` escapes nothing".to_owned()),
        }
    }
    Ok(out)
}

/// `-H name=value`: a message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderArg(pub Header);

impl FromStr for HeaderArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok(HeaderArg(Header::new(name, value))),
            _ => Err(format!("`{s}` is not NAME=VALUE")),
        }
    }
}

/// `fetch -o`: where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetArg {
    /// The first retained offset.
    Earliest,
    /// The end of the partition (only new messages).
    Latest,
    /// N messages before the end.
    FromEnd(u64),
    /// This offset.
    At(i64),
}

impl FromStr for OffsetArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" | "beginning" => Ok(OffsetArg::Earliest),
            "latest" | "end" => Ok(OffsetArg::Latest),
            _ => {
                let bad = || format!("`{s}` is not an offset: use N, -N, earliest or latest");
                if let Some(n) = s.strip_prefix('-') {
                    n.parse::<u64>().map(OffsetArg::FromEnd).map_err(|_| bad())
                } else {
                    s.parse::<i64>().map(OffsetArg::At).map_err(|_| bad())
                }
            }
        }
    }
}

/// `inspect offsets --at`: `earliest`, `latest`, epoch milliseconds, or an RFC 3339 UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtTime(pub OffsetSpec);

impl FromStr for AtTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(spec) = s.parse::<OffsetSpec>() {
            return Ok(AtTime(spec));
        }
        parse_rfc3339_utc(s)
            .map(|ms| AtTime(OffsetSpec::Timestamp(ms)))
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a time: use earliest, latest, epoch milliseconds or \
                     YYYY-MM-DDTHH:MM:SSZ"
                )
            })
    }
}

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only).
fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, se): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        digits.parse().ok()?
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

/// `group commit TOPIC:PARTITION=OFFSET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset(pub TopicPartitionOffset);

impl FromStr for CommitOffset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not TOPIC:PARTITION=OFFSET");
        let (tp, offset) = s.rsplit_once('=').ok_or_else(bad)?;
        let (topic, partition) = tp.rsplit_once(':').ok_or_else(bad)?;
        if topic.is_empty() {
            return Err(bad());
        }
        Ok(CommitOffset(TopicPartitionOffset::new(
            topic,
            partition.parse().map_err(|_| bad())?,
            offset.parse().map_err(|_| bad())?,
        )))
    }
}

/// `TOPIC` (every partition) or `TOPIC:PARTITION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSelector {
    /// Topic name.
    pub topic: String,
    /// One partition, or `None` for all.
    pub partition: Option<i32>,
}

impl FromStr for PartitionSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.rsplit_once(':') {
            Some((topic, p)) if !topic.is_empty() => Ok(PartitionSelector {
                topic: topic.to_owned(),
                partition: Some(
                    p.parse()
                        .map_err(|_| format!("`{p}` in `{s}` is not a partition number"))?,
                ),
            }),
            Some(_) => Err(format!("`{s}` is not TOPIC or TOPIC:PARTITION")),
            None if s.is_empty() => Err("the topic is empty".to_owned()),
            None => Ok(PartitionSelector {
                topic: s.to_owned(),
                partition: None,
            }),
        }
    }
}

/// One piece of a kcat-style `-f` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPiece {
    /// Text copied as is.
    Literal(String),
    /// `%t`
    Topic,
    /// `%p`
    Partition,
    /// `%o`
    Offset,
    /// `%k`
    Key,
    /// `%s`
    Value,
    /// `%T`
    Timestamp,
    /// `%h`
    Headers,
    /// `%K`
    KeyLen,
    /// `%S`
    ValueLen,
}

/// A kcat-style `-f` format such as `'%t/%p@%o %k=%s\n'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFormat(pub Vec<FormatPiece>);

impl MessageFormat {
    /// The default text format: the value and a newline.
    pub fn value_per_line() -> Self {
        MessageFormat(vec![FormatPiece::Value, FormatPiece::Literal("\n".into())])
    }
}

impl FromStr for MessageFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = unescape(s)?;
        let mut out = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let piece = match chars.next() {
                Some('%') => {
                    lit.push('%');
                    continue;
                }
                Some('t') => FormatPiece::Topic,
                Some('p') => FormatPiece::Partition,
                Some('o') => FormatPiece::Offset,
                Some('k') => FormatPiece::Key,
                Some('s') => FormatPiece::Value,
                Some('T') => FormatPiece::Timestamp,
                Some('h') => FormatPiece::Headers,
                Some('K') => FormatPiece::KeyLen,
                Some('S') => FormatPiece::ValueLen,
                Some(other) => {
                    return Err(format!(
                        "unknown field `%{other}` (use %t %p %o %k %s %T %h %K %S %%)"
                    ));
                }
                None => return Err("the format ends with a lone `%`".to_owned()),
            };
            if !lit.is_empty() {
                out.push(FormatPiece::Literal(std::mem::take(&mut lit)));
            }
            out.push(piece);
        }
        if !lit.is_empty() {
            out.push(FormatPiece::Literal(lit));
        }
        Ok(MessageFormat(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(argv: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("upkafka").chain(argv.iter().copied()))
    }

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_sizes_and_delimiters() {
        assert_eq!(
            "500ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "3".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(3)
        );
        assert_eq!(
            "2m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        assert!("3 weeks".parse::<HumanDuration>().is_err());
        assert_eq!("1MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!("512k".parse::<ByteSize>().unwrap().0, 512 << 10);
        assert!("0".parse::<ByteSize>().is_err());
        assert_eq!("\\t".parse::<Delimiter>().unwrap().0, b"\t");
        assert_eq!("\\0".parse::<Delimiter>().unwrap().0, b"\0");
        assert_eq!("||".parse::<Delimiter>().unwrap().0, b"||");
        assert!("".parse::<Delimiter>().is_err());
        assert!("\\q".parse::<Delimiter>().is_err());
    }

    #[test]
    fn offsets_headers_and_selectors() {
        assert_eq!("-2".parse::<OffsetArg>().unwrap(), OffsetArg::FromEnd(2));
        assert_eq!("42".parse::<OffsetArg>().unwrap(), OffsetArg::At(42));
        assert_eq!(
            "earliest".parse::<OffsetArg>().unwrap(),
            OffsetArg::Earliest
        );
        assert!("soon".parse::<OffsetArg>().is_err());
        assert_eq!(
            "a=b=c".parse::<HeaderArg>().unwrap().0,
            Header::new("a", "b=c")
        );
        assert!("=x".parse::<HeaderArg>().is_err());
        assert!("x".parse::<HeaderArg>().is_err());
        assert_eq!(
            "cities:1=42".parse::<CommitOffset>().unwrap().0,
            TopicPartitionOffset::new("cities", 1, 42)
        );
        assert!("cities=42".parse::<CommitOffset>().is_err());
        assert_eq!(
            "cities:2".parse::<PartitionSelector>().unwrap().partition,
            Some(2)
        );
        assert_eq!(
            "cities".parse::<PartitionSelector>().unwrap().partition,
            None
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2024-05-01T12:00:00Z"),
            Some(1_714_564_800_000)
        );
        assert_eq!(
            parse_rfc3339_utc("2024-05-01T12:00:00.25Z"),
            Some(1_714_564_800_250)
        );
        assert_eq!(parse_rfc3339_utc("2024-05-01T12:00:00+02:00"), None);
        assert_eq!("latest".parse::<AtTime>().unwrap().0, OffsetSpec::Latest);
    }

    #[test]
    fn formats() {
        let f: MessageFormat = "%t/%p@%o %k=%s\\n%%".parse().unwrap();
        assert_eq!(
            f.0,
            vec![
                FormatPiece::Topic,
                FormatPiece::Literal("/".into()),
                FormatPiece::Partition,
                FormatPiece::Literal("@".into()),
                FormatPiece::Offset,
                FormatPiece::Literal(" ".into()),
                FormatPiece::Key,
                FormatPiece::Literal("=".into()),
                FormatPiece::Value,
                FormatPiece::Literal("\n%".into()),
            ]
        );
        assert!("%x".parse::<MessageFormat>().is_err());
        assert!("abc%".parse::<MessageFormat>().is_err());
    }

    #[test]
    fn flag_spellings_and_relations() {
        let cli = parse(&["fetch", "t", "-o", "-2", "-p", "1"]).unwrap();
        match cli.command {
            Command::Fetch(f) => {
                assert_eq!(f.offset, OffsetArg::FromEnd(2));
                assert_eq!(f.partition, 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["produce", "t", "f.txt", "--value", "x"]).is_err());
        assert!(parse(&["produce", "t", "-K", ":", "-k", "key"]).is_err());
        assert!(parse(&["produce", "t", "--batch-size", "0"]).is_err());
        assert!(parse(&["consume", "t"]).is_err(), "group is required");
        assert!(parse(&["consume", "t", "-g", "g", "-f", "%s", "--json"]).is_err());
        assert!(parse(&["-q", "-v", "inspect", "topics"]).is_err());
        let cli = parse(&["inspect", "topics", "--output", "json", "-vv"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.verbose, 2);
    }
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

/// An inclusive range of values, `LOW..=HIGH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeArg(pub std::ops::RangeInclusive<i64>);

impl fmt::Display for RangeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.0.start(), self.0.end())
    }
}

impl FromStr for RangeArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::sensor::Ranges::parse_range(s).map(RangeArg)
    }
}

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
