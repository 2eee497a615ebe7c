//! `upkafka serve`: run the Upstash Kafka REST API locally on the embedded log.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::server::{
    Credentials, Limits, ServeError, Server, ServerConfig, TlsPaths, TopicSpec, shutdown_signal,
};

/// Environment variable holding the username clients must send.
pub const ENV_USERNAME: &str = "UPSTASH_KAFKA_REST_USERNAME";
/// Environment variable holding the password clients must send.
pub const ENV_PASSWORD: &str = "UPSTASH_KAFKA_REST_PASSWORD";

/// Arguments of `upkafka serve`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples:
  # Throw-away server with two topics; prints the credentials to export:
  upkafka serve --topic greetings --topic cities:3

  # Durable, with fixed credentials, reachable from the network:
  echo 's3cret' > pw.txt
  upkafka serve --bind 0.0.0.0:8080 --data-dir ./kafka-data \\
      --username me --password-file pw.txt --topic events:6

  # Then, from another shell:
  curl -u me:s3cret http://127.0.0.1:8080/produce/events/hello
  curl -u me:s3cret http://127.0.0.1:8080/fetch -d '{\"topic\":\"events\",\"partition\":0,\"offset\":0}'")]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT. Port 0 picks a free port (printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Username clients must send with HTTP Basic auth.
    #[arg(long, value_name = "NAME", env = ENV_USERNAME)]
    pub username: Option<String>,

    /// File whose first line is the password (kept off the command line and out of `ps`).
    /// Without it the password is read from $UPSTASH_KAFKA_REST_PASSWORD. With neither, and
    /// without --no-auth, a random password is generated and printed once to stderr.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// Accept requests without credentials. Only allowed when binding a loopback address.
    /// Overrides a username from the environment.
    #[arg(long, conflicts_with = "password_file")]
    pub no_auth: bool,

    /// Topic to create at start, `NAME[:PARTITIONS]` (default 1 partition). Repeatable.
    /// Existing topics of a data directory keep their partition count.
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    pub topics: Vec<TopicSpec>,

    /// Create unknown topics on produce (1 partition). Off by default, as on Upstash.
    #[arg(long)]
    pub auto_create_topics: bool,

    /// Keep topics, messages and committed offsets in this directory (fsynced before each
    /// produce is acknowledged). Without it everything lives in memory and is lost on exit.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Largest message (key + value + headers) in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Largest request body in bytes; larger requests get 413.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest `timeout` (ms) a fetch or consume may wait; larger values are clamped.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub max_timeout_ms: u64,

    /// Most messages in one fetch/consume response.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max_poll_records: usize,

    /// Byte budget of one fetch/consume response (at least one message is always returned).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_poll_bytes: usize,

    /// Requests served at the same time; more wait their turn.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Open client connections; further connections are closed at once.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
}

/// Why `upkafka serve` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeCliError {
    /// A bad argument (address, password file).
    #[error("{0}")]
    Usage(String),
    /// The server failed to start or stopped with an error.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

fn resolve_bind(bind: &str) -> Result<SocketAddr, ServeCliError> {
    bind.to_socket_addrs()
        .map_err(|e| ServeCliError::Usage(format!("--bind {bind}: {e}")))?
        .next()
        .ok_or_else(|| ServeCliError::Usage(format!("--bind {bind}: resolves to no address")))
}

fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Turns the arguments into a [`ServerConfig`]. Returns whether the password was generated.
///
/// # Errors
/// A usage error for an unresolvable address or unreadable password file.
pub fn to_config(args: &ServeArgs) -> Result<(ServerConfig, bool), ServeCliError> {
    let bind = resolve_bind(&args.bind)?;
    let password = match &args.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ServeCliError::Usage(format!("--password-file {}: {e}", path.display()))
            })?;
            Some(text.lines().next().unwrap_or_default().to_owned())
        }
        None => std::env::var(ENV_PASSWORD).ok().filter(|p| !p.is_empty()),
    };
    let mut generated = false;
    let credentials = if args.no_auth {
        None
    } else {
        let username = args
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "upkafka".to_owned());
        let password = match password {
            Some(p) => p,
            None => {
                generated = true;
                generate_password()
            }
        };
        Some(Credentials::new(username, password))
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsPaths {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let config = ServerConfig {
        bind,
        credentials,
        topics: args.topics.clone(),
        auto_create_topics: args.auto_create_topics,
        data_dir: args.data_dir.clone(),
        limits: Limits {
            max_message_bytes: args.max_message_bytes,
            max_body_bytes: args.max_body_bytes,
            max_timeout: Duration::from_millis(args.max_timeout_ms),
            max_poll_records: args.max_poll_records,
            max_poll_bytes: args.max_poll_bytes,
            max_concurrent_requests: args.max_concurrent_requests,
            max_connections: args.max_connections,
            ..Limits::default()
        },
        tls,
        ..ServerConfig::default()
    };
    Ok((config, generated))
}

/// Runs `upkafka serve` until Ctrl-C or SIGTERM.
///
/// Prints `upkafka: listening on <URL>` to stderr once bound. When it generated the password
/// it also prints the three `export UPSTASH_KAFKA_REST_…` lines: the one place a password is
/// printed, on purpose, because nobody else knows it.
///
/// # Errors
/// Bad arguments, a refused configuration, bind/TLS/storage failures.
pub async fn run(args: ServeArgs) -> Result<(), ServeCliError> {
    let (config, generated) = to_config(&args)?;
    let creds = config.credentials.clone();
    let server = Server::bind(config).await?;
    let url = server.url();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "upkafka: listening on {url}");
    match &creds {
        Some(c) if generated => {
            let _ = writeln!(
                err,
                "upkafka: generated credentials (pass --username/--password-file to choose them):\n\
                 export UPSTASH_KAFKA_REST_URL={url}\n\
                 export UPSTASH_KAFKA_REST_USERNAME={}\n\
                 export UPSTASH_KAFKA_REST_PASSWORD={}",
                c.username,
                c.password.expose()
            );
        }
        Some(c) => {
            let _ = writeln!(
                err,
                "upkafka: Basic auth required (username `{}`)",
                c.username
            );
        }
        None => {
            let _ = writeln!(err, "upkafka: authentication disabled (--no-auth)");
        }
    }
    drop(err);
    server.run(shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn args_map_to_config() {
        let cli = Cli::try_parse_from([
            "x",
            "--bind",
            "127.0.0.1:0",
            "--no-auth",
            "--topic",
            "a",
            "--topic",
            "b:3",
            "--max-timeout-ms",
            "500",
        ])
        .unwrap();
        let (cfg, generated) = to_config(&cli.serve).unwrap();
        assert!(!generated);
        assert!(cfg.credentials.is_none());
        assert_eq!(
            cfg.topics,
            vec![TopicSpec::new("a", 1), TopicSpec::new("b", 3)]
        );
        assert_eq!(cfg.limits.max_timeout, Duration::from_millis(500));
        assert!(Cli::try_parse_from(["x", "--no-auth", "--password-file", "pw"]).is_err());
        // --no-auth wins over a username (which may come from the environment).
        let cli = Cli::try_parse_from(["x", "--no-auth", "--username", "u"]).unwrap();
        assert!(to_config(&cli.serve).unwrap().0.credentials.is_none());
        assert!(Cli::try_parse_from(["x", "--topic", "a/b"]).is_err());
        assert!(Cli::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn password_file_supplies_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2\n").unwrap();
        let cli = Cli::try_parse_from([
            "x",
            "--username",
            "me",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .unwrap();
        let (cfg, generated) = to_config(&cli.serve).unwrap();
        assert!(!generated);
        let c = cfg.credentials.unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("me", "hunter2")
        );
    }
}
