//! `upkafka admin credentials create|list|delete|hash`: scoped credentials of an upkafka
//! server (its management API, spec §9 shapes), with the server's own credential; and
//! `upkafka admin token create`: a short-lived token of whatever credential the CLI holds;
//! `upkafka admin topics …` is in [`super::admin_topics`].

use std::io::BufRead as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::args::{ClientArgs, OutputFormat};
use super::output::Table;
use super::values::HumanDuration;
use super::{CliError, Ctx, stdout_err};
use upkafka_protocol::{Credential, Permission, RateLimits, TokenRequest};

/// `upkafka admin ...`: the connection options, then what to manage.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka admin credentials create orders-writer --topic orders --permission produce
  upkafka admin credentials list
  upkafka admin credentials delete 3f9c0e2a41b7d85e6a0c1f22
  upkafka admin credentials hash < password.txt     # for [[credentials]] of serve --config
  upkafka admin token create --permission consume --topic sensor --ttl 10m
  upkafka admin topics create readings --partitions 3 --retention 7d --compact")]
pub struct AdminArgs {
    /// How to reach the server (with the server's own credential).
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to manage.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `upkafka admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Scoped credentials: PRODUCE, CONSUME or ALL on one topic or every topic.
    #[command(
        subcommand,
        after_help = "\
Examples:
  upkafka admin credentials create orders-writer --topic orders --permission produce
  upkafka admin credentials list --output json"
    )]
    Credentials(CredentialsCommand),
    /// Short-lived tokens, for browsers and edge functions: as powerful as the credential
    /// the CLI uses, or less.
    #[command(
        subcommand,
        after_help = "\
Examples:
  upkafka admin token create --permission consume --topic sensor --ttl 10m
  upkafka admin token create --output json"
    )]
    Token(TokenCommand),
    /// Topics: create, list, describe, alter and delete, with retention, size limits and
    /// compaction.
    #[command(
        subcommand,
        after_help = "\
Examples:
  upkafka admin topics create readings --partitions 3 --retention 7d --retention-bytes 10GiB
  upkafka admin topics create devices --compact
  upkafka admin topics alter readings --retention 30d
  upkafka admin topics list"
    )]
    Topics(super::admin_topics::TopicsCommand),
}

/// `upkafka admin token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token of the credential this command runs with; prints the token alone (text)
    /// or with its permission, topic and expiry (`--output json`).
    #[command(after_help = "\
Examples:
  upkafka admin token create --permission consume --topic sensor --ttl 10m
  TOKEN=$(upkafka admin token create --ttl 15m)
  curl -H \"Authorization: Bearer $TOKEN\" $UPSTASH_KAFKA_REST_URL/topics")]
    Create {
        /// What the token may do (default: what the credential may): produce, consume or all.
        #[arg(long, value_name = "PERMISSION", value_parser = parse_permission)]
        permission: Option<Permission>,
        /// The one topic it may use, or `*` (default: the credential's scope).
        #[arg(long, value_name = "TOPIC")]
        topic: Option<String>,
        /// How long it lives, e.g. 10m (default 15m; at most the server's --token-max-ttl).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<HumanDuration>,
    },
}

/// `upkafka admin credentials ...`.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Create a credential; prints its username and password (shown this once only).
    #[command(after_help = "\
Examples:
  upkafka admin credentials create orders-writer --topic orders --permission produce
  upkafka admin credentials create dashboards --topic '*' --permission consume --output json")]
    Create {
        /// A name for people.
        name: String,
        /// The one topic it may use, or `*` for every topic.
        #[arg(long, value_name = "TOPIC")]
        topic: String,
        /// What it may do: produce, consume or all.
        #[arg(long, value_name = "PERMISSION", value_parser = parse_permission)]
        permission: Permission,
        /// Records it may produce per second (default: the server's
        /// --credential-messages-per-second); over it, 429 with Retry-After.
        #[arg(long, value_name = "N")]
        messages_per_second: Option<u32>,
        /// Requests it may make per UTC day (default: the server's
        /// --credential-requests-per-day).
        #[arg(long, value_name = "N")]
        requests_per_day: Option<u64>,
    },
    /// List the credentials (never their passwords).
    #[command(after_help = "\
Examples:
  upkafka admin credentials list
  upkafka admin credentials list --output json")]
    List,
    /// Delete a credential by id; the server refuses it from then on.
    #[command(after_help = "\
Examples:
  upkafka admin credentials delete 3f9c0e2a41b7d85e6a0c1f22")]
    Delete {
        /// Its id (see `list`).
        id: String,
    },
    /// Print the Argon2id hash of the password read from stdin (first line), for a
    /// `[[credentials]]` entry of `serve --config`. Contacts no server.
    #[command(after_help = "\
Examples:
  upkafka admin credentials hash < password.txt")]
    Hash,
}

fn parse_permission(s: &str) -> Result<Permission, String> {
    s.parse()
}

/// True for the commands that need no server.
pub fn is_offline(cmd: &AdminCommand) -> bool {
    matches!(cmd, AdminCommand::Credentials(CredentialsCommand::Hash))
}

#[derive(Debug, Serialize)]
struct Row(Credential);

impl Table for Row {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "PERMISSION", "TOPIC", "USERNAME"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.0.credential_id.clone(),
            self.0.credential_name.clone(),
            self.0.permissions.to_string(),
            self.0.topic.clone(),
            self.0.username.clone(),
        ]
    }
}

/// `upkafka admin credentials hash`: reads the password from stdin, prints its hash.
///
/// # Errors
/// Unreadable stdin, an empty password.
pub fn hash(out: &mut super::output::Output) -> Result<ExitCode, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::io("cannot read the password from stdin", e))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(CliError::Usage(
            "no password on stdin: `upkafka admin credentials hash < password.txt`".to_owned(),
        ));
    }
    let hash = upkafka_server::hash_password(password).map_err(CliError::Usage)?;
    out.line(&hash).map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `upkafka admin ...` against the server.
///
/// # Errors
/// API (403 without the server's credential) and transport errors.
pub async fn run(cmd: AdminCommand, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let cmd = match cmd {
        AdminCommand::Credentials(cmd) => cmd,
        AdminCommand::Topics(cmd) => return super::admin_topics::run(cmd, ctx).await,
        AdminCommand::Token(TokenCommand::Create {
            permission,
            topic,
            ttl,
        }) => {
            let token = ctx
                .client
                .mint_token(&TokenRequest {
                    permissions: permission,
                    topic,
                    expires_in: ttl.map(|t| t.0.as_secs().max(1)),
                })
                .await?;
            match ctx.out.format() {
                OutputFormat::Json => ctx.out.json(&token).map_err(stdout_err)?,
                OutputFormat::Text => ctx.out.line(token.token.expose()).map_err(stdout_err)?,
            }
            ctx.out.flush().map_err(stdout_err)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    match cmd {
        CredentialsCommand::Create {
            name,
            topic,
            permission,
            messages_per_second,
            requests_per_day,
        } => {
            let limits = RateLimits {
                messages_per_second,
                requests_per_day,
            };
            let c = ctx
                .client
                .create_credential_with_limits(&name, &topic, permission, limits)
                .await?;
            match ctx.out.format() {
                OutputFormat::Json => ctx.out.json(&c).map_err(stdout_err)?,
                OutputFormat::Text => {
                    let password = c.password.as_ref().map_or("", |p| p.expose());
                    ctx.out
                        .line(&format!(
                            "created credential {} (id {}): {} on {}\n\
                             UPSTASH_KAFKA_REST_USERNAME={}\n\
                             UPSTASH_KAFKA_REST_PASSWORD={password}\n\
                             (the password is shown this once only)",
                            c.credential_name, c.credential_id, c.permissions, c.topic, c.username
                        ))
                        .map_err(stdout_err)?;
                }
            }
            ctx.out.flush().map_err(stdout_err)?;
        }
        CredentialsCommand::List => {
            let rows: Vec<Row> = ctx
                .client
                .credentials()
                .await?
                .into_iter()
                .map(Row)
                .collect();
            ctx.out.table(&rows).map_err(stdout_err)?;
        }
        CredentialsCommand::Delete { id } => {
            ctx.client.delete_credential(&id).await?;
            ctx.out.note(&format!("deleted credential {id}"));
        }
        CredentialsCommand::Hash => return hash(&mut ctx.out),
    }
    Ok(ExitCode::SUCCESS)
}
