//! The top of the command line: [`Cli`], the [`Command`] list, the output options every
//! subcommand shares ([`GlobalArgs`]) and the connection options of the subcommands that talk
//! to a server ([`ClientArgs`]). Each subcommand's own arguments live in its module, beside its
//! `run`; typed values live in [`super::values`].
//!
//! Conventions (keep them when adding flags):
//! - every short flag is spelled out (`short = 'k'`), never derived from the field name;
//! - every option that takes a value has an uppercase `value_name`;
//! - connection flags fall back to the `UPSTASH_KAFKA_REST_*` variables (`env = ...`), and
//!   secrets never show their value in `--help` (`hide_env_values = true`);
//! - values arrive typed: `ValueEnum`s for closed sets (`--output`, `--from`), `FromStr`
//!   newtypes for everything with a syntax (`-H name=value`, offsets, durations, sizes,
//!   delimiters, `-f` formats). Durations and sizes are the same types on every subcommand,
//!   `serve` included. Nothing downstream parses strings again.
//! - doc comments are the short help; every subcommand, nested ones included, has an
//!   `Examples:` section in its `after_help` (a unit test walks them all).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::admin::AdminArgs;
use super::completions::CompletionsArgs;
use super::consume::ConsumeArgs;
use super::demo::DemoArgs;
use super::exit::EXIT_CODES_HELP;
use super::fetch::FetchArgs;
use super::group::GroupArgs;
use super::inspect::InspectArgs;
use super::produce::ProduceArgs;
use super::profile::{ENV_PROFILE, ProfileArgs};
use super::sensor::SensorArgs;
use super::serve::ServeArgs;
use super::values::HumanDuration;
use upkafka_client::{ENV_URL, ENV_USERNAME, Password};

/// Variable naming a file that holds the password (alternative to `UPSTASH_KAFKA_REST_PASSWORD`).
pub const ENV_PASSWORD_FILE: &str = "UPSTASH_KAFKA_REST_PASSWORD_FILE";

/// `upkafka`: produce, consume and inspect through an Upstash-compatible Kafka REST API.
#[derive(Debug, Parser)]
#[command(
    name = "upkafka",
    // `upkafka 0.1.0 (commit 1a2b3c4d5e6f)`: the commit is recorded by build.rs.
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("UPKAFKA_COMMIT"), ")"),
    about = "Produce, consume and inspect Kafka topics through the Upstash Kafka REST API",
    after_help = top_after_help(),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Output options, shared by every subcommand.
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
  upkafka profile add prod --url https://example-kafka.upstash.io --username user \\
      --password-command 'pass show upkafka/prod' --default   # then no variables needed

The connection options (--url, --timeout, --retries...) belong to the subcommands that talk to
a server: `upkafka produce --help` lists them.

{EXIT_CODES_HELP}"
    )
}

/// Options every subcommand accepts, before or after its name: how results are printed and how
/// much is said on stderr. Under their own heading, so that a subcommand's own options come
/// first in its `--help`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct GlobalArgs {
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

/// `--output`: how results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables and plain values, for people.
    Text,
    /// JSON, for scripts: one document, or one object per line for message streams.
    Json,
}

/// How to reach a server: flattened into every subcommand that talks to one (`produce`,
/// `consume`, `fetch`, `group`, `inspect`, `sensor`), never into `serve`, `demo` or
/// `completions`. `global` so that `group`, `inspect` and `sensor` take them before or after
/// their own subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct ClientArgs {
    /// Connection profile to use (see `upkafka profile --help`); flags and UPSTASH_KAFKA_REST_*
    /// variables still win over what it says.
    #[arg(long, global = true, env = ENV_PROFILE, value_name = "NAME")]
    pub profile: Option<String>,

    /// REST endpoint URL, e.g. `https://example-kafka.upstash.io` (`upkafka serve` runs one
    /// locally).
    #[arg(long, global = true, env = ENV_URL, value_name = "URL")]
    pub url: Option<String>,

    /// Basic-auth username and password.
    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// Allow plain http:// to a host that is not this machine (sends the password in clear).
    #[arg(long, global = true, hide_short_help = true)]
    pub insecure_http: bool,

    /// Also trust the CA certificate(s) in this PEM file (for self-signed servers).
    #[arg(long, global = true, value_name = "FILE", hide_short_help = true)]
    pub ca_cert: Option<PathBuf>,

    /// Time allowed for one request, on top of any server-side wait, e.g. 500ms, 10s, 1m.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        default_value = "30s",
        hide_short_help = true
    )]
    pub timeout: HumanDuration,

    /// Retries of a failed request (connection errors, 429, 5xx). 0 = one attempt only.
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 5,
        hide_short_help = true
    )]
    pub retries: u32,
}

/// Basic-auth credentials: what a client sends (in [`ClientArgs`]) and what `serve` requires
/// from its clients, so one set of exported `UPSTASH_KAFKA_REST_*` variables serves both sides.
/// Without `--password`/`--password-file` the password is `UPSTASH_KAFKA_REST_PASSWORD`.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// Basic-auth username.
    #[arg(long, global = true, env = ENV_USERNAME, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password from FILE, trailing newline dropped (default: the
    /// UPSTASH_KAFKA_REST_PASSWORD variable).
    #[arg(long, global = true, env = ENV_PASSWORD_FILE, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// The password itself. Avoid it: other users of this machine can read the command line.
    /// Prefer UPSTASH_KAFKA_REST_PASSWORD or --password-file.
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        value_parser = parse_password,
        hide_short_help = true
    )]
    pub password: Option<Password>,
}

fn parse_password(s: &str) -> Result<Password, String> {
    Ok(Password::new(s))
}

/// The subcommands. `serve`, `demo`, `profile` and `completions` take no connection options; `serve`
/// takes the credential options as the credentials it requires.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send messages: one per line from stdin or files, or a single --value.
    Produce(ProduceArgs),
    /// Read messages through a consumer group, committing after they are written.
    Consume(ConsumeArgs),
    /// Read messages from one partition by offset, without a consumer group.
    Fetch(FetchArgs),
    /// Commit, read or remove a consumer group's offsets and instances.
    Group(GroupArgs),
    /// List topics, consumers, offsets and consumer lag.
    Inspect(InspectArgs),
    /// The tutorial's IoT scenario: a simulated sensor and a monitor that marks readings OK/ERROR.
    Sensor(SensorArgs),
    /// Serve the Upstash Kafka REST API: on an embedded durable log (no Kafka needed), or in
    /// front of a Kafka cluster (--kafka).
    // Boxed: the largest by far (every server flag), and the enum is moved around whole.
    Serve(Box<ServeArgs>),
    /// Manage an upkafka server: scoped credentials (with the server's own credential).
    Admin(AdminArgs),
    /// Run the tutorial's sensor scenario end to end on an embedded server: no setup, no network.
    Demo(DemoArgs),
    /// Keep named connection profiles (URL, username, where the password comes from).
    Profile(ProfileArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

impl Command {
    /// `upkafka consume`, which `main` runs on a single-threaded runtime.
    pub fn is_consume(&self) -> bool {
        matches!(self, Command::Consume(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::values::OffsetArg;
    use clap::CommandFactory;

    fn parse(argv: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("upkafka").chain(argv.iter().copied()))
    }

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
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

    /// The connection options of a parsed command line, for the subcommands that have them.
    fn client(cli: &Cli) -> Option<&ClientArgs> {
        match &cli.command {
            Command::Produce(a) => Some(&a.client),
            Command::Consume(a) => Some(&a.client),
            Command::Fetch(a) => Some(&a.client),
            Command::Group(a) => Some(&a.client),
            Command::Inspect(a) => Some(&a.client),
            Command::Sensor(a) => Some(&a.client),
            Command::Admin(a) => Some(&a.client),
            Command::Serve(_)
            | Command::Demo(_)
            | Command::Profile(_)
            | Command::Completions(_) => None,
        }
    }

    #[test]
    fn nested_subcommands_take_connection_options_before_or_after_their_name() {
        for argv in [
            &[
                "group",
                "--timeout",
                "2s",
                "--retries",
                "0",
                "delete",
                "-g",
                "g",
            ][..],
            &[
                "group",
                "delete",
                "-g",
                "g",
                "--timeout",
                "2s",
                "--retries",
                "0",
            ],
            &[
                "inspect",
                "--retries",
                "0",
                "lag",
                "-g",
                "g",
                "--timeout",
                "2s",
            ],
        ] {
            let cli = parse(argv).unwrap();
            let c = client(&cli).unwrap();
            assert_eq!(c.timeout.0, std::time::Duration::from_secs(2), "{argv:?}");
            assert_eq!(c.retries, 0, "{argv:?}");
        }
        let cli = parse(&[
            "sensor",
            "monitor",
            "-g",
            "m",
            "--url",
            "http://127.0.0.1:1",
        ])
        .unwrap();
        assert_eq!(
            client(&cli).unwrap().url.as_deref(),
            Some("http://127.0.0.1:1")
        );
    }

    #[test]
    fn connection_options_are_refused_where_no_server_is_contacted() {
        for argv in [
            &["serve", "--url", "http://x"][..],
            &["serve", "--retries", "1"],
            &["serve", "--timeout", "1s"],
            &["serve", "--ca-cert", "ca.pem"],
            &["serve", "--insecure-http"],
            &["completions", "bash", "--url", "http://x"],
            &["demo", "--retries", "1"],
            &["demo", "--username", "u"],
            &["--url", "http://x", "inspect", "topics"],
        ] {
            let err = parse(argv).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{argv:?}: {err}"
            );
        }
        // `serve` keeps the credentials it requires from its clients.
        let cli = parse(&["serve", "--username", "me", "--password-file", "pw"]).unwrap();
        let Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(s.credentials.username.as_deref(), Some("me"));
    }

    #[test]
    fn an_impossible_date_is_refused_naming_the_flag_and_the_value() {
        let err = parse(&[
            "inspect",
            "offsets",
            "cities",
            "--at",
            "2024-02-31T00:00:00Z",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--at"), "{err}");
        assert!(err.contains("2024-02-31T00:00:00Z"), "{err}");
    }

    /// Every command under `cmd` (itself included), with its path from the top, in order.
    fn walk(
        cmd: &clap::Command,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, clap::Command)>,
    ) {
        path.push(cmd.get_name().to_owned());
        out.push((path.clone(), cmd.clone()));
        // clap's own `help` subcommands have no examples of their own to check.
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, path, out);
        }
        path.pop();
    }

    #[test]
    fn every_subcommand_has_a_description_and_its_own_examples() {
        let mut top = Cli::command();
        // Built, as `upkafka ... --help` is: global options propagated, bin names set.
        top.build();
        let mut all = Vec::new();
        walk(&top, &mut Vec::new(), &mut all);
        // Guard against a walk that silently finds nothing below the top.
        assert!(
            all.iter().any(|(p, _)| p.len() == 3),
            "no nested subcommand found"
        );
        for (path, cmd) in all {
            let name = path.join(" ");
            assert!(
                cmd.get_about()
                    .is_some_and(|a| !a.to_string().trim().is_empty()),
                "`{name}` has no description"
            );
            let mut cmd = cmd;
            let help = cmd.render_long_help().to_string();
            let examples = help.split("Examples:\n").nth(1).unwrap_or("");
            let own = examples
                .lines()
                .take_while(|l| l.is_empty() || l.starts_with(' '))
                .any(|l| l.trim_start().starts_with(&name) || l.contains(&format!("| {name}")));
            assert!(own, "`{name} --help` has no example of `{name}`:\n{help}");
        }
    }

    #[test]
    fn serve_help_shows_only_what_a_server_uses() {
        let mut cmd = Cli::command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("serve")
            .unwrap()
            .render_long_help()
            .to_string();
        for absent in [
            "--url",
            "--retries",
            "--insecure-http",
            "--ca-cert",
            "--timeout ",
        ] {
            assert!(
                !help.contains(absent),
                "serve --help shows {absent}:\n{help}"
            );
        }
        for present in [
            "--username",
            "--password-file",
            "--max-timeout",
            "--max-body",
        ] {
            assert!(
                help.contains(present),
                "serve --help lacks {present}:\n{help}"
            );
        }
    }
}
