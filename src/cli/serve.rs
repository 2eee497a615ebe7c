//! `upkafka serve`: run the Upstash Kafka REST API on the embedded log, or in front of a
//! Kafka cluster with `--kafka` (gateway mode).

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use rand::Rng;
use rand::distr::Alphanumeric;

use super::args::CredentialArgs;
use super::values::{ByteSize, HumanDuration};
use upkafka_client::Password;
use upkafka_server::kafka::{KafkaSetting, KafkaSettings};
use upkafka_server::{
    CorsOrigin, Credentials, Limits, MetricsAuth, RateLimits, ServeError, Server, ServerConfig,
    TlsPaths, TokenSettings, TopicSpec, shutdown_signal,
};

/// Arguments of `upkafka serve`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples:
  # Throw-away server with two topics; prints the credentials to export:
  upkafka serve --topic greetings --topic cities:3
  # Keep a day of readings, and only the latest state per device:
  upkafka serve --data-dir ./data --topic readings:3,retention.ms=86400000 --topic devices,cleanup.policy=compact

  # Durable, with fixed credentials, reachable from the network:
  echo 's3cret' > pw.txt
  upkafka serve --bind 0.0.0.0:8080 --data-dir ./kafka-data \\
      --username me --password-file pw.txt --topic events:6

  # Then, from another shell:
  curl -u me:s3cret http://127.0.0.1:8080/produce/events/hello
  curl -u me:s3cret http://127.0.0.1:8080/fetch -d '{\"topic\":\"events\",\"partition\":0,\"offset\":0}'

  # Gateway: the same API in front of a Kafka cluster (data lives in Kafka):
  upkafka serve --kafka broker1:9092,broker2:9092 --topic events:6
  upkafka serve --kafka pkc-xxxx.confluent.cloud:9092 \\
      --kafka-config security.protocol=SASL_SSL --kafka-config sasl.mechanism=PLAIN \\
      --kafka-config sasl.username=KEY --kafka-config sasl.password=SECRET")]
pub struct ServeArgs {
    /// Read settings from this TOML file: a key per flag (`bind`, `topics`, `max_body`,
    /// `username`, `password_file`, ...) and `[[credentials]]` (scoped credentials: name,
    /// username, password_hash, topic, permission). Flags given on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[arg(long, value_name = "ADDR", help = with_default(
        "Address to listen on, HOST:PORT. Port 0 picks a free port (printed at start).",
        ServerConfig::default().bind,
    ))]
    pub bind: Option<String>,

    /// Accept requests without credentials. Only allowed when binding a loopback address.
    /// Overrides credentials from the environment.
    #[arg(long)]
    pub no_auth: bool,

    /// Topic to create at start, `NAME[:PARTITIONS]` (default 1 partition), optionally with
    /// settings under Kafka's names: `,retention.ms=N`, `,retention.bytes=N` (`-1`
    /// unlimited), `,max.message.bytes=N`, `,cleanup.policy=compact`, `,segment.bytes=N`,
    /// `,segment.ms=N`, `,delete.retention.ms=N`. Repeatable. Existing topics keep their
    /// partition count and take the settings named here.
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS][,KEY=VALUE…]")]
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

    #[arg(long, value_name = "SIZE", help = with_default(
        "Largest message (key + value + headers), e.g. 512KiB, 1MiB.",
        ByteSize(Limits::default().max_message_bytes as u64),
    ))]
    pub max_message: Option<ByteSize>,

    #[arg(long, value_name = "SIZE", help = with_default(
        "Largest request body, e.g. 16MiB; larger requests get 413.",
        ByteSize(Limits::default().max_body_bytes as u64),
    ))]
    pub max_body: Option<ByteSize>,

    #[arg(long, value_name = "DURATION", help = with_default(
        "Longest `timeout` a fetch or consume may wait, e.g. 30s, 2m; larger values are clamped.",
        HumanDuration(Limits::default().max_timeout),
    ))]
    pub max_timeout: Option<HumanDuration>,

    #[arg(long, value_name = "N", help = with_default(
        "Most messages in one fetch/consume response.",
        Limits::default().max_poll_records,
    ))]
    pub max_poll_records: Option<usize>,

    #[arg(long, value_name = "SIZE", help = with_default(
        "Size budget of one fetch/consume response, e.g. 1MiB (at least one message is always \
         returned).",
        ByteSize(Limits::default().max_poll_bytes as u64),
    ))]
    pub max_poll_size: Option<ByteSize>,

    #[arg(long, value_name = "N", help = with_default(
        "Requests served at the same time; more wait their turn.",
        Limits::default().max_concurrent_requests,
    ))]
    pub max_concurrent_requests: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Open client connections. Over it, an idle connection that has sent no authenticated \
         request gives way to the new one; when none can, the new one gets 503.",
        Limits::default().max_connections,
    ))]
    pub max_connections: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Open connections from one client address, with the same give-way rule.",
        Limits::default().max_connections_per_address,
    ))]
    pub max_connections_per_address: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Long polls (fetch/consume with a timeout) waiting at once, beside the request slots; \
         beyond it a poll answers at once with what is there.",
        Limits::default().max_waiting_polls,
    ))]
    pub max_waiting_polls: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Event streams (`Accept: text/event-stream`) open at once; more get 503.",
        Limits::default().max_streams,
    ))]
    pub max_streams: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Consumer instances one group may have; a consume that would create one more gets \
         429 (existing instances keep working).",
        Limits::default().max_instances_per_group,
    ))]
    pub max_instances_per_group: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Consumer instances the server may have over all groups; beyond, 429. About 0.6 KiB \
         each on the embedded log; on the gateway each is a Kafka consumer (threads, buffers): \
         lower it there.",
        Limits::default().max_consumer_instances,
    ))]
    pub max_consumer_instances: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Series one /metrics family may show; the rest are left out and counted in \
         upkafka_metrics_series_dropped.",
        Limits::default().max_metric_series,
    ))]
    pub max_metric_series: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Segment files the embedded log keeps open at once, over all partitions; the least \
         recently used is closed to make room, so partitions do not each hold a file \
         descriptor. Leave room under `ulimit -n` for --max-connections.",
        Limits::default().max_open_files,
    ))]
    pub max_open_files: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Topics the embedded log may hold. Auto-creating more gets 429; a --topic beyond it \
         stops the start.",
        Limits::default().max_topics,
    ))]
    pub max_topics: Option<usize>,

    #[arg(long, value_name = "N", help = with_default(
        "Partitions over all topics of the embedded log, refused beyond like --max-topics.",
        Limits::default().max_partitions,
    ))]
    pub max_partitions: Option<usize>,

    #[arg(long, value_name = "DURATION", help = with_default(
        "How long an Idempotency-Key is remembered after its request, from 1s to 168h: a \
         repeat within it gets the first answer and stores nothing. With --data-dir the keys \
         are stored with their batches and survive a restart; with --kafka the gateways of a \
         cluster share them through the topic __upkafka_idempotency_keys, kept this long.",
        HumanDuration(Limits::default().idempotency_window),
    ))]
    pub idempotency_window: Option<HumanDuration>,

    #[arg(long, value_name = "SIZE", help = with_default(
        "Memory the remembered Idempotency-Keys may take, at least 64KiB (about 270 bytes for \
         a batch to one partition, whatever its size, and 32 more per other partition); beyond \
         it the oldest are forgotten first, and a forgotten key's repeat is stored again.",
        ByteSize(Limits::default().max_idempotency_bytes as u64),
    ))]
    pub idempotency_memory: Option<ByteSize>,

    #[arg(long, value_name = "DURATION", help = with_default(
        "Longest silence on an event stream before a heartbeat comment, e.g. 15s.",
        HumanDuration(Limits::default().stream_heartbeat),
    ))]
    pub stream_heartbeat: Option<HumanDuration>,

    /// Serve /metrics (Prometheus text format) without credentials, for scrapers that cannot
    /// send Basic auth. The API and the console at /ui keep requiring them.
    #[arg(long)]
    pub metrics_no_auth: bool,

    /// Where the credentials created over the API and the token keys live (default: the
    /// data directory; in memory without one). Gateways (--kafka) sharing one state directory
    /// share their credentials: one made or deleted on any holds on all within 250 ms.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Rate limit of every scoped credential that sets none of its own: records it may
    /// produce per second (bursts up to one second's worth). Over it: 429 with Retry-After.
    /// The server's own credential is never limited. Default: unlimited.
    #[arg(long, value_name = "N")]
    pub credential_messages_per_second: Option<u32>,

    /// Rate limit of every scoped credential that sets none of its own: requests per UTC day.
    /// Over it: 429 with Retry-After until midnight UTC. Default: unlimited.
    #[arg(long, value_name = "N")]
    pub credential_requests_per_day: Option<u64>,

    /// Signing keys of short-lived tokens (POST /v2/kafka/token), one per line, each at least
    /// 32 characters: the first signs, all verify, so a new key goes first and an old one is
    /// dropped once its tokens have expired. Default: DATA_DIR/token-keys (made on first
    /// start), or a key in memory without --data-dir (tokens then die with the process).
    #[arg(long, value_name = "FILE")]
    pub token_key_file: Option<PathBuf>,

    #[arg(long, value_name = "DURATION", help = with_default(
        "Longest lifetime a short-lived token may be given, e.g. 15m.",
        HumanDuration(TokenSettings::default().max_ttl),
    ))]
    pub token_max_ttl: Option<HumanDuration>,
    /// Let web pages of this origin call the API from a browser (CORS): `scheme://host[:port]`,
    /// e.g. `https://app.example.com`, or `*` for every origin. Repeatable. Off by default:
    /// browsers then refuse cross-origin calls. Pages still need a credential (a scoped one,
    /// see `upkafka admin credentials`); preflights are answered without one.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<CorsOrigin>,

    /// Gateway mode: serve in front of this Kafka cluster, HOST:PORT[,HOST:PORT...]. Every
    /// produce, fetch, consume and commit goes to Kafka; nothing is stored locally. --topic
    /// creates missing topics in the cluster.
    #[arg(long, value_name = "BOOTSTRAP", conflicts_with = "data_dir")]
    pub kafka: Option<String>,

    /// A Kafka client property for gateway mode, KEY=VALUE, passed to librdkafka as is
    /// (security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location...).
    /// Repeatable. KEY=@FILE reads the value from FILE (one trailing line break trimmed; `@@`
    /// for a value starting with `@`), so that a secret need not be on the command line.
    /// Values of secret properties never appear in logs or errors.
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", requires = "kafka")]
    pub kafka_config: Vec<KafkaSetting>,

    /// Kafka client properties for gateway mode from a file: `key=value` lines as in a Java
    /// client's .properties file, `#` or `!` comments, blank lines skipped. Repeatable (read
    /// in order); a --kafka-config given on the command line wins over the files.
    #[arg(long = "kafka-config-file", value_name = "FILE", requires = "kafka")]
    pub kafka_config_files: Vec<PathBuf>,

    /// The credentials clients must send (default: username `upkafka` and a generated
    /// password, printed once).
    #[command(flatten, next_help_heading = "Credentials clients must send")]
    pub credentials: CredentialArgs,
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
    /// `--kafka` on a binary built without the `kafka` feature.
    #[cfg(not(feature = "kafka"))]
    #[error(
        "this upkafka was built without gateway support; rebuild with the `kafka` cargo feature \
         (on by default) to use --kafka"
    )]
    NoKafkaSupport,
}

/// The help text of a flag whose value may also come from `--config`: `text` and the default,
/// taken from the server's own defaults (`Limits::default()`, `ServerConfig::default()`) so
/// that it is stated once. The flag itself stays unset when not given, so that a configuration
/// file can set it; the server applies the default.
fn with_default(text: &str, default: impl std::fmt::Display) -> String {
    format!("{text} [default: {default}]")
}

/// The gateway settings of `--kafka`, `--kafka-config-file` and `--kafka-config`, checked;
/// `None` without `--kafka`. The files' properties come first, in the order given, then the
/// command line's: the last value of a key is the one used, so the command line wins.
///
/// # Errors
/// A usage error naming the bad bootstrap entry, or the file (and line) that cannot be read.
pub fn kafka_settings(args: &ServeArgs) -> Result<Option<KafkaSettings>, ServeCliError> {
    let Some(bootstrap) = &args.kafka else {
        return Ok(None);
    };
    let mut config = Vec::new();
    for path in &args.kafka_config_files {
        config.extend(upkafka_server::kafka::read_properties(path).map_err(ServeCliError::Usage)?);
    }
    for setting in &args.kafka_config {
        config.push(
            setting
                .clone()
                .resolve_file()
                .map_err(ServeCliError::Usage)?,
        );
    }
    let settings = KafkaSettings {
        bootstrap: bootstrap.clone(),
        config,
    };
    settings.validate().map_err(ServeCliError::Usage)?;
    Ok(Some(settings))
}

/// Opens the gateway backend for `settings` with the limits and topics of `config`.
#[cfg(feature = "kafka")]
async fn bind_gateway(
    config: ServerConfig,
    settings: KafkaSettings,
) -> Result<Server, ServeCliError> {
    use upkafka_server::kafka::{KafkaBackend, KafkaOptions};
    // Same checks as the embedded server, before a single connection to Kafka is made.
    config
        .validate()
        .map_err(|e| ServeCliError::Serve(ServeError::Config(e)))?;
    let options = KafkaOptions::for_server(settings, &config);
    let backend = KafkaBackend::connect(options)
        .await
        .map_err(|e| ServeCliError::Serve(ServeError::Backend(e)))?;
    Ok(Server::bind_with_backend(config, std::sync::Arc::new(backend)).await?)
}

#[cfg(not(feature = "kafka"))]
async fn bind_gateway(
    _config: ServerConfig,
    _settings: KafkaSettings,
) -> Result<Server, ServeCliError> {
    Err(ServeCliError::NoKafkaSupport)
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

/// The credentials clients must send: the same `--username` and password options (and
/// `UPSTASH_KAFKA_REST_*` variables) that the client subcommands use to connect, so one set of
/// exported variables serves both sides.
#[derive(Debug, Clone, Default)]
pub struct ServeCredentials {
    /// Username (default `upkafka`).
    pub username: Option<String>,
    /// Password (default: generated and printed once).
    pub password: Option<Password>,
    /// Scoped credentials of the configuration file.
    pub scoped: Vec<upkafka_server::CredentialSpec>,
}

/// Turns the arguments into a [`ServerConfig`]. Returns whether the password was generated.
///
/// # Errors
/// A usage error for an unresolvable address.
pub fn to_config(
    args: &ServeArgs,
    creds: &ServeCredentials,
) -> Result<(ServerConfig, bool), ServeCliError> {
    let bind = match &args.bind {
        Some(b) => resolve_bind(b)?,
        None => ServerConfig::default().bind,
    };
    let password = creds
        .password
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| p.expose().to_owned());
    let mut generated = false;
    let credentials = if args.no_auth {
        None
    } else {
        let username = creds
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
    let d = Limits::default();
    let config = ServerConfig {
        bind,
        credentials,
        topics: args.topics.clone(),
        auto_create_topics: args.auto_create_topics,
        data_dir: args.data_dir.clone(),
        state_dir: args.state_dir.clone(),
        limits: Limits {
            max_message_bytes: args
                .max_message
                .map_or(d.max_message_bytes, ByteSize::as_usize),
            max_body_bytes: args.max_body.map_or(d.max_body_bytes, ByteSize::as_usize),
            max_timeout: args.max_timeout.map_or(d.max_timeout, |t| t.0),
            max_poll_records: args.max_poll_records.unwrap_or(d.max_poll_records),
            max_poll_bytes: args
                .max_poll_size
                .map_or(d.max_poll_bytes, ByteSize::as_usize),
            max_concurrent_requests: args
                .max_concurrent_requests
                .unwrap_or(d.max_concurrent_requests),
            max_connections: args.max_connections.unwrap_or(d.max_connections),
            max_connections_per_address: args
                .max_connections_per_address
                .unwrap_or(d.max_connections_per_address),
            max_waiting_polls: args.max_waiting_polls.unwrap_or(d.max_waiting_polls),
            max_streams: args.max_streams.unwrap_or(d.max_streams),
            max_instances_per_group: args
                .max_instances_per_group
                .unwrap_or(d.max_instances_per_group),
            max_consumer_instances: args
                .max_consumer_instances
                .unwrap_or(d.max_consumer_instances),
            max_metric_series: args.max_metric_series.unwrap_or(d.max_metric_series),
            max_open_files: args.max_open_files.unwrap_or(d.max_open_files),
            max_topics: args.max_topics.unwrap_or(d.max_topics),
            max_partitions: args.max_partitions.unwrap_or(d.max_partitions),
            idempotency_window: args
                .idempotency_window
                .map_or(d.idempotency_window, |w| w.0),
            max_idempotency_bytes: args
                .idempotency_memory
                .map_or(d.max_idempotency_bytes, ByteSize::as_usize),
            stream_heartbeat: args.stream_heartbeat.map_or(d.stream_heartbeat, |h| h.0),
            ..d
        },
        scoped_credentials: creds.scoped.clone(),
        tls,
        metrics_auth: if args.metrics_no_auth {
            MetricsAuth::None
        } else {
            MetricsAuth::Same
        },
        rate_limits: RateLimits {
            messages_per_second: args.credential_messages_per_second,
            requests_per_day: args.credential_requests_per_day,
        },
        tokens: TokenSettings {
            key_file: args.token_key_file.clone(),
            max_ttl: args
                .token_max_ttl
                .map_or(TokenSettings::default().max_ttl, |t| t.0),
        },
        cors_origins: args.cors_origins.clone(),
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
pub async fn run(args: ServeArgs, creds: ServeCredentials) -> Result<(), ServeCliError> {
    let (args, creds) = match &args.config {
        Some(path) => super::serve_config::apply(path, args.clone(), creds)?,
        None => (args, creds),
    };
    let (config, generated) = to_config(&args, &creds)?;
    let gateway = kafka_settings(&args)?;
    let creds = config.credentials.clone();
    let bootstrap = gateway.as_ref().map(|g| g.bootstrap.clone());
    let server = match gateway {
        Some(settings) => bind_gateway(config, settings).await?,
        None => Server::bind(config).await?,
    };
    let url = server.url();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "upkafka: listening on {url}");
    if let Some(b) = bootstrap {
        let _ = writeln!(err, "upkafka: gateway to the Kafka cluster at {b}");
    }
    let _ = writeln!(
        err,
        "upkafka: console at {url}/ui, Prometheus metrics at {url}/metrics{}",
        if args.metrics_no_auth {
            " (no auth)"
        } else {
            ""
        }
    );
    match &creds {
        Some(c) if generated => {
            let _ = writeln!(
                err,
                "upkafka: generated credentials (set --username and UPSTASH_KAFKA_REST_PASSWORD or \
                 --password-file to choose them):\n\
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
    use std::time::Duration;

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
            "--max-timeout",
            "500ms",
        ])
        .unwrap();
        let creds = ServeCredentials {
            username: Some("u".into()),
            password: Some(Password::new("p")),
            ..ServeCredentials::default()
        };
        let (cfg, generated) = to_config(&cli.serve, &creds).unwrap();
        assert!(!generated);
        // --no-auth wins over credentials (which may come from the environment).
        assert!(cfg.credentials.is_none());
        assert_eq!(
            cfg.topics,
            vec![TopicSpec::new("a", 1), TopicSpec::new("b", 3)]
        );
        assert_eq!(cfg.limits.max_timeout, Duration::from_millis(500));
        assert!(Cli::try_parse_from(["x", "--topic", "a/b"]).is_err());
        assert!(Cli::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn cors_origins_are_repeatable_checked_and_off_by_default() {
        let cli = Cli::try_parse_from([
            "x",
            "--cors-origin",
            "https://App.example.com",
            "--cors-origin",
            "http://127.0.0.1:5173",
        ])
        .unwrap();
        let (cfg, _) = to_config(&cli.serve, &ServeCredentials::default()).unwrap();
        let origins: Vec<&str> = cfg.cors_origins.iter().map(CorsOrigin::as_str).collect();
        assert_eq!(
            origins,
            ["https://app.example.com", "http://127.0.0.1:5173"]
        );
        let none = Cli::try_parse_from(["x"]).unwrap();
        let (cfg, _) = to_config(&none.serve, &ServeCredentials::default()).unwrap();
        assert!(cfg.cors_origins.is_empty(), "CORS is off by default");
        let err = Cli::try_parse_from(["x", "--cors-origin", "https://app.example.com/"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--cors-origin") && err.contains("`https://app.example.com/`"),
            "{err}"
        );
    }

    #[test]
    fn gateway_flags_parse_check_and_exclude_the_data_dir() {
        let cli = Cli::try_parse_from([
            "x",
            "--kafka",
            "k1:9092,k2:9092",
            "--kafka-config",
            "security.protocol=SASL_SSL",
            "--kafka-config",
            "sasl.password=hunter2",
        ])
        .unwrap();
        let s = kafka_settings(&cli.serve).unwrap().unwrap();
        assert_eq!(s.bootstrap, "k1:9092,k2:9092");
        assert_eq!(s.config.len(), 2);
        assert!(!format!("{:?}", cli.serve).contains("hunter2"));
        let none = Cli::try_parse_from(["x"]).unwrap();
        assert!(kafka_settings(&none.serve).unwrap().is_none());
        let bad = Cli::try_parse_from(["x", "--kafka", "nohost"]).unwrap();
        assert!(kafka_settings(&bad.serve).is_err());
        assert!(Cli::try_parse_from(["x", "--kafka", "k:9092", "--data-dir", "d"]).is_err());
        assert!(Cli::try_parse_from(["x", "--kafka-config", "a=b"]).is_err());
        assert!(Cli::try_parse_from(["x", "--kafka", "k:1", "--kafka-config", "acks=0"]).is_err());
    }

    #[test]
    fn gateway_secrets_come_from_files_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("client.properties");
        std::fs::write(
            &props,
            "security.protocol=SASL_SSL\nsasl.username=from-file\nsasl.password=file-pw\n",
        )
        .unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "flag-pw\n").unwrap();
        let cli = Cli::try_parse_from([
            "x".to_owned(),
            "--kafka".into(),
            "k:9092".into(),
            "--kafka-config-file".into(),
            props.display().to_string(),
            "--kafka-config".into(),
            format!("sasl.password=@{}", secret.display()),
        ])
        .unwrap();
        let s = kafka_settings(&cli.serve).unwrap().unwrap();
        assert_eq!(s.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(s.get("sasl.username"), Some("from-file"));
        assert_eq!(
            s.get("sasl.password"),
            Some("flag-pw"),
            "the command line wins"
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("flag-pw") && !shown.contains("file-pw"),
            "{shown}"
        );
        std::fs::write(&props, "ok=1\nnot a setting\n").unwrap();
        let err = kafka_settings(&cli.serve).unwrap_err().to_string();
        assert!(err.contains("client.properties line 2"), "{err}");
        assert!(
            Cli::try_parse_from(["x", "--kafka-config-file", "f"]).is_err(),
            "needs --kafka"
        );
    }

    #[test]
    fn given_credentials_are_used_and_missing_ones_generated() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        let creds = ServeCredentials {
            username: Some("me".into()),
            password: Some(Password::new("hunter2")),
            ..ServeCredentials::default()
        };
        let (cfg, generated) = to_config(&cli.serve, &creds).unwrap();
        assert!(!generated);
        let c = cfg.credentials.unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("me", "hunter2")
        );
        let (cfg, generated) = to_config(&cli.serve, &ServeCredentials::default()).unwrap();
        assert!(generated);
        let c = cfg.credentials.unwrap();
        assert_eq!(c.username, "upkafka");
        assert!(c.password.expose().len() >= 32);
    }
}
