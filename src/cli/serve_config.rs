//! `upkafka serve --config FILE`: the server's settings as TOML, one key per `serve` flag (its
//! long name with `_` for `-`) and `[[credentials]]` for scoped credentials. A flag given on
//! the command line (or its environment variable) wins over the file.
//!
//! ```toml
//! bind = "0.0.0.0:8080"
//! data_dir = "/var/lib/upkafka"
//! topics = ["orders:6", "logs,retention.ms=86400000", "devices,cleanup.policy=compact"]
//! max_body = "16MiB"
//! max_timeout = "30s"
//! username = "admin"
//! password_file = "/etc/upkafka/password"
//! state_dir = "/srv/upkafka-state"   # credentials and token keys (default: data_dir)
//! token_key_file = "/etc/upkafka/token-keys"   # default: STATE_DIR/token-keys
//! token_max_ttl = "1h"
//! credential_messages_per_second = 1000   # default limits of scoped credentials
//! credential_requests_per_day = 1000000
//! cors_origins = ["https://app.example.com"]   # or ["*"]; --cors-origin
//!
//! [[credentials]]
//! name = "orders-writer"
//! username = "orders"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."  # upkafka admin credentials hash
//! topic = "orders"          # or "*"
//! permission = "PRODUCE"    # PRODUCE | CONSUME | ALL
//! messages_per_second = 100 # optional, over the defaults above
//! requests_per_day = 50000  # optional
//! ```

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use upkafka_client::Password;
use upkafka_server::kafka::KafkaSetting;
use upkafka_server::{CorsOrigin, CredentialSpec, Permission, RateLimits, TopicSpec};

use super::serve::{ServeArgs, ServeCliError, ServeCredentials};
use super::values::{ByteSize, HumanDuration};

/// A value read with its command-line parser, so the file and the flag accept the same text.
#[derive(Debug)]
struct Parsed<T>(T);

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: FromStr,
    T::Err: Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => n.to_string(),
        };
        text.parse().map(Parsed).map_err(serde::de::Error::custom)
    }
}

/// The file's contents; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    bind: Option<String>,
    no_auth: Option<bool>,
    topics: Option<Vec<Parsed<TopicSpec>>>,
    auto_create_topics: Option<bool>,
    data_dir: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_message: Option<Parsed<ByteSize>>,
    max_body: Option<Parsed<ByteSize>>,
    max_timeout: Option<Parsed<HumanDuration>>,
    max_poll_records: Option<usize>,
    max_poll_size: Option<Parsed<ByteSize>>,
    max_concurrent_requests: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    max_waiting_polls: Option<usize>,
    max_streams: Option<usize>,
    max_instances_per_group: Option<usize>,
    max_consumer_instances: Option<usize>,
    max_metric_series: Option<usize>,
    max_open_files: Option<usize>,
    max_topics: Option<usize>,
    max_partitions: Option<usize>,
    idempotency_window: Option<Parsed<HumanDuration>>,
    idempotency_memory: Option<Parsed<ByteSize>>,
    stream_heartbeat: Option<Parsed<HumanDuration>>,
    metrics_no_auth: Option<bool>,
    state_dir: Option<PathBuf>,
    credential_messages_per_second: Option<u32>,
    credential_requests_per_day: Option<u64>,
    token_key_file: Option<PathBuf>,
    token_max_ttl: Option<Parsed<HumanDuration>>,
    cors_origins: Option<Vec<Parsed<CorsOrigin>>>,
    kafka: Option<String>,
    kafka_config: Option<Vec<Parsed<KafkaSetting>>>,
    kafka_config_files: Option<Vec<PathBuf>>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    #[serde(default)]
    credentials: Vec<FileCredential>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCredential {
    name: String,
    username: String,
    password_hash: String,
    topic: String,
    permission: Permission,
    messages_per_second: Option<u32>,
    requests_per_day: Option<u64>,
}

fn usage(path: &Path, e: impl Display) -> ServeCliError {
    ServeCliError::Usage(format!("--config {}: {e}", path.display()))
}

/// Reads `path` and fills every setting the command line left unset.
///
/// # Errors
/// An unreadable file, bad TOML, an unknown key, a bad value (naming the file), or a file
/// that sets both `kafka` and `data_dir`.
pub(crate) fn apply(
    path: &Path,
    mut args: ServeArgs,
    mut creds: ServeCredentials,
) -> Result<(ServeArgs, ServeCredentials), ServeCliError> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(path, e.kind()))?;
    let file: ServeFile =
        toml::from_str(&text).map_err(|e| usage(path, super::toml_error::describe(&text, &e)))?;
    args.bind = args.bind.or(file.bind);
    args.no_auth |= file.no_auth.unwrap_or(false);
    if args.topics.is_empty() {
        args.topics = file.topics.into_iter().flatten().map(|t| t.0).collect();
    }
    args.auto_create_topics |= file.auto_create_topics.unwrap_or(false);
    args.data_dir = args.data_dir.or(file.data_dir);
    args.tls_cert = args.tls_cert.or(file.tls_cert);
    args.tls_key = args.tls_key.or(file.tls_key);
    args.max_message = args.max_message.or(file.max_message.map(|v| v.0));
    args.max_body = args.max_body.or(file.max_body.map(|v| v.0));
    args.max_timeout = args.max_timeout.or(file.max_timeout.map(|v| v.0));
    args.max_poll_records = args.max_poll_records.or(file.max_poll_records);
    args.max_poll_size = args.max_poll_size.or(file.max_poll_size.map(|v| v.0));
    args.max_concurrent_requests = args
        .max_concurrent_requests
        .or(file.max_concurrent_requests);
    args.max_connections = args.max_connections.or(file.max_connections);
    args.max_connections_per_address = args
        .max_connections_per_address
        .or(file.max_connections_per_address);
    args.max_waiting_polls = args.max_waiting_polls.or(file.max_waiting_polls);
    args.max_streams = args.max_streams.or(file.max_streams);
    args.max_instances_per_group = args
        .max_instances_per_group
        .or(file.max_instances_per_group);
    args.max_consumer_instances = args.max_consumer_instances.or(file.max_consumer_instances);
    args.max_metric_series = args.max_metric_series.or(file.max_metric_series);
    args.max_open_files = args.max_open_files.or(file.max_open_files);
    args.max_topics = args.max_topics.or(file.max_topics);
    args.max_partitions = args.max_partitions.or(file.max_partitions);
    args.idempotency_window = args
        .idempotency_window
        .or(file.idempotency_window.map(|v| v.0));
    args.idempotency_memory = args
        .idempotency_memory
        .or(file.idempotency_memory.map(|v| v.0));
    args.stream_heartbeat = args.stream_heartbeat.or(file.stream_heartbeat.map(|v| v.0));
    args.metrics_no_auth |= file.metrics_no_auth.unwrap_or(false);
    args.state_dir = args.state_dir.or(file.state_dir);
    args.credential_messages_per_second = args
        .credential_messages_per_second
        .or(file.credential_messages_per_second);
    args.credential_requests_per_day = args
        .credential_requests_per_day
        .or(file.credential_requests_per_day);
    args.token_key_file = args.token_key_file.or(file.token_key_file);
    args.token_max_ttl = args.token_max_ttl.or(file.token_max_ttl.map(|v| v.0));
    if args.cors_origins.is_empty() {
        args.cors_origins = file
            .cors_origins
            .into_iter()
            .flatten()
            .map(|o| o.0)
            .collect();
    }
    args.kafka = args.kafka.or(file.kafka);
    if args.kafka_config.is_empty() {
        args.kafka_config = file
            .kafka_config
            .into_iter()
            .flatten()
            .map(|k| k.0)
            .collect();
    }
    if args.kafka_config_files.is_empty() {
        args.kafka_config_files = file.kafka_config_files.unwrap_or_default();
    }
    if args.kafka.is_some() && args.data_dir.is_some() {
        return Err(usage(
            path,
            "kafka (gateway mode) and data_dir exclude each other",
        ));
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err(usage(path, "tls_cert and tls_key go together"));
    }
    creds.username = creds.username.or(file.username.filter(|u| !u.is_empty()));
    if creds.password.is_none()
        && let Some(pw_path) = &file.password_file
    {
        let text = std::fs::read_to_string(pw_path).map_err(|e| {
            usage(
                path,
                format!(
                    "cannot read password_file {}: {}",
                    pw_path.display(),
                    e.kind()
                ),
            )
        })?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        creds.password = Some(Password::new(trimmed));
    }
    creds.scoped = file
        .credentials
        .into_iter()
        .map(|c| CredentialSpec {
            name: c.name,
            username: c.username,
            password_hash: c.password_hash,
            topic: c.topic,
            permission: c.permission,
            limits: RateLimits {
                messages_per_second: c.messages_per_second,
                requests_per_day: c.requests_per_day,
            },
        })
        .collect();
    Ok((args, creds))
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

    fn write(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write as _;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    /// The README's complete example is a file this version reads: every key known, every
    /// value in the form its flag takes.
    #[test]
    fn the_readme_example_file_parses() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("# upkafka.toml: `upkafka serve --config upkafka.toml`")
            .expect("the README's complete example");
        let end = start + readme[start..].find("```").expect("its end");
        let file: ServeFile = toml::from_str(&readme[start..end])
            .unwrap_or_else(|e| panic!("the README's example: {e}"));
        assert_eq!(file.credentials.len(), 1);
        assert!(file.state_dir.is_some() && file.cors_origins.is_some());
    }

    #[test]
    fn the_file_fills_what_the_flags_leave_unset_and_flags_win() {
        let pw = write("from-file\n");
        let file = write(&format!(
            r#"
bind = "127.0.0.1:0"
topics = ["a:3", "b"]
max_body = "2MiB"
max_timeout = "5s"
max_poll_records = 7
max_instances_per_group = 5
max_consumer_instances = 50
max_metric_series = 500
max_open_files = 64
max_topics = 20
idempotency_window = "10m"
idempotency_memory = "1MiB"
metrics_no_auth = true
cors_origins = ["https://app.example.com", "http://localhost:5173"]
username = "admin"
password_file = "{}"

[[credentials]]
name = "w"
username = "writer"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
topic = "a"
permission = "PRODUCE"
"#,
            pw.path().display()
        ));
        let cli = Cli::try_parse_from(["x", "--max-timeout", "1s"]).unwrap();
        let (args, creds) = apply(file.path(), cli.serve, ServeCredentials::default()).unwrap();
        let (cfg, generated) = super::super::serve::to_config(&args, &creds).unwrap();
        assert!(!generated);
        assert_eq!(cfg.bind.port(), 0);
        assert_eq!(cfg.topics, [TopicSpec::new("a", 3), TopicSpec::new("b", 1)]);
        assert_eq!(cfg.limits.max_body_bytes, 2 << 20);
        assert_eq!(
            cfg.limits.max_timeout,
            Duration::from_secs(1),
            "the flag wins"
        );
        assert_eq!(cfg.limits.max_poll_records, 7);
        assert_eq!(cfg.limits.idempotency_window, Duration::from_secs(600));
        assert_eq!(cfg.limits.max_idempotency_bytes, 1 << 20);
        assert_eq!(
            (
                cfg.limits.max_instances_per_group,
                cfg.limits.max_consumer_instances,
                cfg.limits.max_metric_series,
                cfg.limits.max_open_files,
                cfg.limits.max_topics,
                cfg.limits.max_partitions
            ),
            (
                5,
                50,
                500,
                64,
                20,
                upkafka_server::Limits::default().max_partitions
            )
        );
        assert_eq!(cfg.metrics_auth, upkafka_server::MetricsAuth::None);
        assert_eq!(
            cfg.cors_origins,
            [
                "https://app.example.com".parse::<CorsOrigin>().unwrap(),
                "http://localhost:5173".parse().unwrap()
            ]
        );
        let c = cfg.credentials.as_ref().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("admin", "from-file")
        );
        assert_eq!(cfg.scoped_credentials.len(), 1);
        assert_eq!(cfg.scoped_credentials[0].permission, Permission::Produce);
        assert!(!format!("{cfg:?}").contains("argon2"), "Debug omits hashes");
        let cli = Cli::try_parse_from(["x", "--cors-origin", "*"]).unwrap();
        let (args, _) = apply(file.path(), cli.serve, ServeCredentials::default()).unwrap();
        assert_eq!(args.cors_origins, [CorsOrigin::any()], "the flag wins");
    }

    #[test]
    fn gateway_property_files_come_from_the_file_unless_given_as_flags() {
        let file = write("kafka = \"k:9092\"\nkafka_config_files = [\"/etc/a.properties\"]\n");
        let cli = Cli::try_parse_from(["x"]).unwrap();
        let (args, _) = apply(file.path(), cli.serve, ServeCredentials::default()).unwrap();
        assert_eq!(
            args.kafka_config_files,
            [PathBuf::from("/etc/a.properties")]
        );
        let cli = Cli::try_parse_from(["x", "--kafka", "k:1", "--kafka-config-file", "b"]).unwrap();
        let (args, _) = apply(file.path(), cli.serve, ServeCredentials::default()).unwrap();
        assert_eq!(
            args.kafka_config_files,
            [PathBuf::from("b")],
            "the flag wins"
        );
    }

    #[test]
    fn bad_files_are_refused_naming_the_file_and_the_key() {
        let cli = || Cli::try_parse_from(["x"]).unwrap().serve;
        for (text, says) in [
            ("bnid = \"x\"", "bnid"),
            ("max_body = \"lots\"", "lots"),
            ("cors_origins = [\"app.example.com\"]", "`app.example.com`"),
            ("kafka = \"k:9092\"\ndata_dir = \"d\"", "exclude"),
            (
                "[[credentials]]\nname = \"n\"\nusername = \"u\"\npassword_hash = \"h\"\ntopic = \"a\"\npermission = \"READ\"",
                "READ",
            ),
        ] {
            let f = write(text);
            let err = apply(f.path(), cli(), ServeCredentials::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("--config") && err.contains(says),
                "{text}: {err}"
            );
        }
    }
}
