//! The `upkafka` command line, built on [`upkafka_client`]: it holds no HTTP details of its own.
//!
//! `main` parses [`Cli`], calls [`init_tracing`], then [`run`], and maps a [`CliError`] to one
//! line on stderr and [`CliError::exit_code`]. Each subcommand is a module with an
//! `async fn run(args, ctx: &mut Ctx) -> Result<ExitCode, CliError>`.

mod admin;
mod admin_topics;
pub mod args;
mod completions;
mod consume;
mod demo;
#[cfg(test)]
mod docs;
pub mod exit;
mod fetch;
mod group;
mod inspect;
pub mod output;
mod produce;
pub mod profile;
mod sensor;
pub mod serve;
mod serve_config;
mod toml_error;
pub mod values;

use std::process::ExitCode;
use std::time::Duration;

pub use args::{Cli, ClientArgs, Command, CredentialArgs, GlobalArgs};
pub use exit::CliError;
pub use output::Output;

use upkafka_client::{Client, Config, ENV_PASSWORD, ENV_URL, Password, RetryPolicy};

/// What every server subcommand works with: the client and the printer.
#[derive(Debug)]
pub struct Ctx {
    /// The REST client.
    pub client: Client,
    /// Where results go.
    pub out: Output,
}

/// Runs the parsed command line.
///
/// # Errors
/// A [`CliError`] whose [`CliError::exit_code`] is the process's exit status.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let Cli { global, command } = cli;
    tracing::debug!(?global, ?command, "options");
    let mut out = Output::new(global.output, global.quiet);
    // Only the subcommands that talk to a server build a client (and so need --url).
    let ctx = |client: &ClientArgs, out: Output| -> Result<Ctx, CliError> {
        Ok(Ctx {
            client: connect(client, &out)?,
            out,
        })
    };
    match command {
        Command::Produce(a) => {
            let mut ctx = ctx(&a.client, out)?;
            produce::run(a, &mut ctx).await
        }
        Command::Consume(a) => {
            let mut ctx = ctx(&a.client, out)?;
            consume::run(a, &mut ctx).await
        }
        Command::Fetch(a) => {
            let mut ctx = ctx(&a.client, out)?;
            fetch::run(a, &mut ctx).await
        }
        Command::Group(a) => group::run(a.command, &mut ctx(&a.client, out)?).await,
        Command::Inspect(a) => inspect::run(a.command, &mut ctx(&a.client, out)?).await,
        Command::Sensor(a) => sensor::run(a.command, &mut ctx(&a.client, out)?).await,
        Command::Profile(a) => profile::run(a, &mut out),
        Command::Completions(a) => completions::run(a, &mut out),
        Command::Demo(a) => demo::run(a, out).await,
        Command::Admin(a) if admin::is_offline(&a.command) => admin::hash(&mut out),
        Command::Admin(a) => admin::run(a.command, &mut ctx(&a.client, out)?).await,
        Command::Serve(a) => {
            let creds = serve::ServeCredentials {
                username: a.credentials.username.clone().filter(|u| !u.is_empty()),
                password: given_password(&a.credentials, &out)?,
                scoped: Vec::new(),
            };
            serve::run(*a, creds)
                .await
                .map(|()| ExitCode::SUCCESS)
                .map_err(CliError::from)
        }
    }
}

/// Builds the client from the connection options, their `UPSTASH_KAFKA_REST_*` fallbacks and,
/// below both, the selected profile ([`profile::select`]), field by field.
///
/// # Errors
/// [`CliError::Usage`] when no URL is given (naming the variable, the flags and
/// `upkafka serve`), the profile is unknown, the password file or command fails, or the
/// configuration is refused.
pub fn connect(client: &ClientArgs, out: &Output) -> Result<Client, CliError> {
    let given_url = client
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let selected = profile::select(client.profile.as_deref(), given_url.is_some())?;
    if let Some((name, p)) = &selected {
        tracing::debug!(profile = %name, ?p, "using profile");
    }
    let url = given_url
        .or_else(|| selected.as_ref().map(|(_, p)| p.url.trim()))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no server URL: set {ENV_URL}, pass --url or pick a profile with --profile \
                 (`upkafka serve` starts a local server)"
            ))
        })?;
    let creds = &client.credentials;
    let password = match (given_password(creds, out)?, &selected) {
        (Some(p), _) => p,
        (None, Some((name, p))) => p.password(name)?.unwrap_or_default(),
        (None, None) => Password::default(),
    };
    let username = creds
        .username
        .clone()
        .or_else(|| selected.as_ref().and_then(|(_, p)| p.username.clone()))
        .unwrap_or_default();
    let mut config = Config::new(url, username, password)
        .timeout(client.timeout.0)
        .retry(RetryPolicy::with_max_retries(client.retries))
        .allow_insecure_http(client.insecure_http);
    if let Some(path) = &client.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            CliError::Usage(format!("cannot read --ca-cert {}: {e}", path.display()))
        })?;
        config = config.add_ca_cert_pem(pem);
    }
    Client::new(config).map_err(CliError::from)
}

/// The password if one was given: `--password` (with a warning), else `--password-file`, else
/// a non-empty `UPSTASH_KAFKA_REST_PASSWORD`.
fn given_password(creds: &CredentialArgs, out: &Output) -> Result<Option<Password>, CliError> {
    if let Some(p) = &creds.password {
        out.warn(
            "--password is visible to other users of this machine (ps, /proc); \
             use UPSTASH_KAFKA_REST_PASSWORD or --password-file instead",
        );
        return Ok(Some(p.clone()));
    }
    if let Some(path) = &creds.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read --password-file {}: {}",
                path.display(),
                e.kind()
            ))
        })?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        return Ok(Some(Password::new(trimmed)));
    }
    Ok(std::env::var(ENV_PASSWORD)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Password::new))
}

/// The default consumer instance: `upkafka-<hostname>`, the same on every run on this host.
pub fn default_instance() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if host.is_empty() {
        "upkafka".to_owned()
    } else {
        format!("upkafka-{host}")
    }
}

/// Sets up tracing on stderr: warnings by default, errors only with `-q`, debug with `-v`,
/// trace with `-vv`. `RUST_LOG` overrides. Passwords are never logged: the client marks the
/// `Authorization` header sensitive and every type holding a password redacts it.
pub fn init_tracing(global: &GlobalArgs) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "upkafka=debug,warn",
        (false, _) => "upkafka=trace,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(global.verbose > 0)
        .try_init();
}

/// Milliseconds of a duration, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Maps an output error: a broken pipe stays recognisable, anything else names stdout.
pub(crate) fn stdout_err(e: std::io::Error) -> CliError {
    CliError::io("cannot write to stdout", e)
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
