//! [`ServerConfig`]: everything `upkafka serve` needs, as plain data with documented defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use upkafka_protocol::validate_topic_name;

use super::cors::CorsOrigin;
use super::log::settings::{CleanupPolicy, MIN_SEGMENT_BYTES, MIN_SEGMENT_MS, SettingsPatch};
use super::tokens::TokenSettings;

pub use upkafka_protocol::{Password, Permission, RateLimits};

/// Basic-auth credentials clients must send.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Expected username (`UPSTASH_KAFKA_REST_USERNAME` on the client side).
    pub username: String,
    /// Expected password (`UPSTASH_KAFKA_REST_PASSWORD` on the client side).
    pub password: Password,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Credentials {
    /// Credentials from a username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Password::new(password),
        }
    }
}

/// A scoped credential of the configuration file (`[[credentials]]`): its password only as an
/// Argon2id PHC string (`upkafka admin credentials hash` makes one). `Debug` omits the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialSpec {
    /// A name for people, unique among the file's credentials (its id is `config-NAME`).
    pub name: String,
    /// The Basic-auth username.
    pub username: String,
    /// The password's Argon2id PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// One topic, or `*` for every topic.
    pub topic: String,
    /// What it may do.
    pub permission: Permission,
    /// Its rate limits (the server's defaults, [`ServerConfig::rate_limits`], where unset).
    pub limits: RateLimits,
}

impl fmt::Debug for CredentialSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSpec")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("topic", &self.topic)
            .field("permission", &self.permission)
            .finish_non_exhaustive()
    }
}

/// A topic to create at start: `NAME[:PARTITIONS][,KEY=VALUE…]` on the command line and in
/// the configuration file (default 1 partition), with optional settings under Kafka's config
/// names: `retention.ms`, `retention.bytes`, `max.message.bytes` (`-1` unlimited),
/// `cleanup.policy` (`delete`/`compact`), `segment.bytes`, `segment.ms`,
/// `delete.retention.ms`; e.g. `readings:3,retention.ms=604800000,cleanup.policy=compact`.
///
/// An existing topic keeps its partition count; the settings a spec names are applied to
/// it at start, so changing them in the configuration and restarting takes effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name (Kafka rules: `[a-zA-Z0-9._-]`, 1..=249 characters).
    pub name: String,
    /// Number of partitions (≥ 1).
    pub partitions: i32,
    /// The settings it names; the others are the backend's defaults.
    pub settings: SettingsPatch,
}

impl TopicSpec {
    /// A topic spec with the default settings.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            settings: SettingsPatch::default(),
        }
    }
}

/// Reads one `KEY=VALUE` setting of a topic spec into `patch`.
fn topic_setting(patch: &mut SettingsPatch, spec: &str, kv: &str) -> Result<(), String> {
    let (key, value) = kv
        .split_once('=')
        .ok_or_else(|| format!("`{spec}`: `{kv}` is not KEY=VALUE"))?;
    let number = |min: i64| -> Result<i64, String> {
        value
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| format!("`{spec}`: {key} `{value}` must be a number of at least {min}"))
    };
    let limit = |min: i64| -> Result<Option<u64>, String> {
        match value {
            "-1" => Ok(None),
            _ => number(min).map(|n| Some(n.unsigned_abs())),
        }
    };
    match key {
        "retention.ms" => patch.retention_ms = Some(limit(0)?),
        "retention.bytes" => patch.retention_bytes = Some(limit(0)?),
        "max.message.bytes" => patch.max_message_bytes = Some(limit(1)?),
        "cleanup.policy" => {
            patch.cleanup_policy = Some(
                value
                    .parse::<CleanupPolicy>()
                    .map_err(|e| format!("`{spec}`: {e}"))?,
            );
        }
        "segment.bytes" => {
            patch.segment_bytes =
                Some(number(i64::try_from(MIN_SEGMENT_BYTES).unwrap_or(64))?.unsigned_abs());
        }
        "segment.ms" => {
            patch.segment_ms =
                Some(number(i64::try_from(MIN_SEGMENT_MS).unwrap_or(100))?.unsigned_abs());
        }
        "delete.retention.ms" => patch.delete_retention_ms = Some(number(0)?.unsigned_abs()),
        other => {
            return Err(format!(
                "`{spec}`: unknown topic setting `{other}` (known: retention.ms, \
                 retention.bytes, max.message.bytes, cleanup.policy, segment.bytes, segment.ms, \
                 delete.retention.ms)"
            ));
        }
    }
    Ok(())
}

impl FromStr for TopicSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(',');
        let head = parts.next().unwrap_or_default();
        let (name, partitions) = match head.rsplit_once(':') {
            Some((n, p)) => {
                let p: i32 = p
                    .parse()
                    .map_err(|_| format!("`{s}`: partitions `{p}` is not a number"))?;
                (n, p)
            }
            None => (head, 1),
        };
        validate_topic_name(name)?;
        if !(1..=100_000).contains(&partitions) {
            return Err(format!("`{s}`: partitions must be between 1 and 100000"));
        }
        let mut spec = Self::new(name, partitions);
        for kv in parts {
            topic_setting(&mut spec.settings, s, kv.trim())?;
        }
        Ok(spec)
    }
}

impl fmt::Display for TopicSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.partitions)?;
        let p = &self.settings;
        let limit = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |n| n.to_string());
        if let Some(v) = p.retention_ms {
            write!(f, ",retention.ms={}", limit(v))?;
        }
        if let Some(v) = p.retention_bytes {
            write!(f, ",retention.bytes={}", limit(v))?;
        }
        if let Some(v) = p.max_message_bytes {
            write!(f, ",max.message.bytes={}", limit(v))?;
        }
        if let Some(v) = p.cleanup_policy {
            write!(f, ",cleanup.policy={}", v.as_str())?;
        }
        if let Some(v) = p.segment_bytes {
            write!(f, ",segment.bytes={v}")?;
        }
        if let Some(v) = p.segment_ms {
            write!(f, ",segment.ms={v}")?;
        }
        if let Some(v) = p.delete_retention_ms {
            write!(f, ",delete.retention.ms={v}")?;
        }
        Ok(())
    }
}

/// Request and resource limits, each with its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest record: key + value + header names and values (default 1 MiB, as Upstash).
    pub max_message_bytes: usize,
    /// Largest request body (default 16 MiB); larger bodies get 413.
    pub max_body_bytes: usize,
    /// Cap on any `timeout` a request asks for (default 30 s).
    pub max_timeout: Duration,
    /// Most records in one fetch/consume response (default 500).
    pub max_poll_records: usize,
    /// Byte budget of one fetch/consume response (default 1 MiB; at least one record is
    /// always returned when one is available).
    pub max_poll_bytes: usize,
    /// Requests served at once; more wait (default 1024).
    pub max_concurrent_requests: usize,
    /// Open client connections (default 4096). Beyond it, an idle connection that has not
    /// sent an authenticated request gives way to the new one; when none can, the new one is
    /// refused (503 naming the limit; see [`crate::connections`]).
    pub max_connections: usize,
    /// Open connections from one client address (default 1024, a quarter of
    /// `max_connections`), with the same give-way rule within the address.
    pub max_connections_per_address: usize,
    /// Long polls (fetch and consume with a `timeout`) waiting at once (default 4096). They
    /// wait on this budget instead of taking one of `max_concurrent_requests`, so waiting
    /// never holds a slot that work needs; with the budget spent, a poll answers at once with
    /// what is there, or `[]`.
    pub max_waiting_polls: usize,
    /// Time a client has to send its request headers (default 10 s; against slow clients),
    /// counted from the connection's start or the end of its previous answer; also the
    /// longest an answer may stall on a client that does not read. A request in flight is
    /// never cut. Kept within a quarter of itself ([`crate::connections::Connection::idle_for`]).
    pub header_read_timeout: Duration,
    /// Time a client has to send its whole request body once the headers are in (default
    /// 30 s; against slow clients). Bodies are read before a request takes one of the
    /// `max_concurrent_requests` slots; a body not complete in time gets 408.
    pub body_read_timeout: Duration,
    /// How long graceful shutdown waits for in-flight requests (default 10 s).
    pub shutdown_grace: Duration,
    /// Longest silence on an event stream (`Accept: text/event-stream`) before the server
    /// sends a heartbeat comment, so that proxies and clients see the stream alive (default
    /// 15 s).
    pub stream_heartbeat: Duration,
    /// The `retry:` hint sent at the start of every event stream: how long a client should
    /// wait before reconnecting (default 1 s).
    pub stream_retry: Duration,
    /// Event streams open at once; more are refused with 503 (default 1024). Open streams
    /// hold no request slot (`max_concurrent_requests`) while they wait for records.
    pub max_streams: usize,
    /// Consumer instances one group may have (default 1,000, `--max-instances-per-group`).
    /// A consume or event stream that would create one more is answered 429 naming the cap;
    /// existing instances keep working, and creation works again once one is deleted or
    /// expires. Caps what one client can make the server hold (issue 20).
    pub max_instances_per_group: usize,
    /// Consumer instances the whole server may have (default 10,000,
    /// `--max-consumer-instances`), over all groups; beyond, 429 as for
    /// `max_instances_per_group`. With the embedded log an instance takes about 0.6 KiB
    /// (measured, `RELIABILITY.md`), so the default bounds instances to about 6 MiB (40 MiB is
    /// the bound the reliability test asserts); on the gateway each is a librdkafka consumer
    /// (its own threads, broker connections and a prefetch queue of up to
    /// `queued.max.messages.kbytes`): set it to what the machine can hold.
    pub max_consumer_instances: usize,
    /// Series one `/metrics` family may have (default 10,000, `--max-metric-series`): the
    /// backend gauges per partition, group and assigned partition, and the per-topic counters.
    /// Series beyond it are left out of that scrape and counted in
    /// `upkafka_metrics_series_dropped{family}`, so that a scrape stays small and fast
    /// whatever the number of topics, groups and partitions.
    pub max_metric_series: usize,
    /// Segment files the embedded log keeps open at once, over all partitions (default 256).
    /// Partitions hold no file descriptor of their own: a segment is opened when it is read
    /// or written and the least recently used one is closed to make room, so the number of
    /// topics no longer decides how many descriptors the server takes. 256 keeps the files
    /// of the partitions in use open (reopening costs one `open` call, little next to the
    /// fsync of a produce) while leaving three quarters of the common 1,024-descriptor limit
    /// (`ulimit -n`) to connections. A file being read or fsynced stays open until that is
    /// done, so the count can pass the cap briefly by the requests in flight.
    pub max_open_files: usize,
    /// Topics the embedded log may hold (default 1,000). Creating one more, by auto-create on
    /// produce or `--topic`, is refused: 429 naming the cap, or an error at start. Topics
    /// already in a data directory always open. Each topic costs a directory, files and
    /// memory, and `topics.json` is rewritten on every creation, so an unbounded count lets
    /// one client with produce rights take the disk and memory of all.
    pub max_topics: usize,
    /// Partitions over all topics of the embedded log (default 10,000), refused like
    /// `max_topics`. Each partition costs a directory and a segment file on disk and its
    /// index in memory; 10,000 is 2.5 times the 4,000 per broker that Kafka long advised.
    pub max_partitions: usize,
    /// How long the server remembers an `Idempotency-Key` after answering it (default 1 h,
    /// `--idempotency-window`, from 1 s to 7 days): a repeat within it answers the first
    /// answer and stores nothing. The upkafka client's retries of a batch end within its
    /// 60 s deadline; the hour leaves room for slower retries by other clients.
    pub idempotency_window: Duration,
    /// Memory the remembered keys may take (default 64 MiB, `--idempotency-memory`, at least
    /// 64 KiB), as counted by the table: 160 bytes per key, the key, each topic name with 32
    /// bytes, and 32 bytes per run of records to one partition (consecutive offsets, one
    /// timestamp), so 266 for a batch to one partition with the client's 36-character key,
    /// whatever its size (the default holds about 250,000 of them), and 32 bytes more per
    /// partition a batch spreads over. Beyond it the oldest keys are forgotten first; a forgotten
    /// key's repeat is stored again (at-least-once at worst).
    pub max_idempotency_bytes: usize,
}

/// Bounds of [`Limits::idempotency_window`]: 1 s to 7 days.
pub const IDEMPOTENCY_WINDOW_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));

/// Least [`Limits::max_idempotency_bytes`]: 64 KiB (a few hundred keys).
pub const MIN_IDEMPOTENCY_BYTES: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            max_timeout: Duration::from_secs(30),
            max_poll_records: 500,
            max_poll_bytes: 1024 * 1024,
            max_concurrent_requests: 1024,
            max_connections: 4096,
            max_connections_per_address: 1024,
            max_waiting_polls: 4096,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            stream_heartbeat: Duration::from_secs(15),
            stream_retry: Duration::from_secs(1),
            max_streams: 1024,
            max_instances_per_group: 1000,
            max_consumer_instances: 10_000,
            max_metric_series: 10_000,
            max_open_files: 256,
            max_topics: 1000,
            max_partitions: 10_000,
            idempotency_window: Duration::from_secs(3600),
            max_idempotency_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks the caps that make no sense at zero: a server that may create no consumer
    /// instance, or whose `/metrics` may show no series, is a typo, not a configuration.
    ///
    /// # Errors
    /// A sentence naming the setting and its flag.
    pub fn validate(&self) -> Result<(), String> {
        for (value, name, flag) in [
            (
                self.max_instances_per_group,
                "max_instances_per_group",
                "--max-instances-per-group",
            ),
            (
                self.max_consumer_instances,
                "max_consumer_instances",
                "--max-consumer-instances",
            ),
            (
                self.max_metric_series,
                "max_metric_series",
                "--max-metric-series",
            ),
            (self.max_open_files, "max_open_files", "--max-open-files"),
            (self.max_topics, "max_topics", "--max-topics"),
            (self.max_partitions, "max_partitions", "--max-partitions"),
        ] {
            if value == 0 {
                return Err(format!("{name} ({flag}) must be at least 1"));
            }
        }
        let (lo, hi) = IDEMPOTENCY_WINDOW_BOUNDS;
        if !(lo..=hi).contains(&self.idempotency_window) {
            return Err(format!(
                "idempotency_window (--idempotency-window) must be from 1s to 168h (7 days), not {:?}",
                self.idempotency_window
            ));
        }
        if self.max_idempotency_bytes < MIN_IDEMPOTENCY_BYTES {
            return Err(format!(
                "max_idempotency_bytes (--idempotency-memory) must be at least 64KiB, not {} bytes",
                self.max_idempotency_bytes
            ));
        }
        Ok(())
    }

    /// Most records one fetch/consume answers: `max_poll_records`, at least 1.
    pub(crate) fn poll_records(&self) -> usize {
        self.max_poll_records.max(1)
    }

    /// Byte budget of one fetch/consume answer: `max_poll_bytes`, at least 1 (one record is
    /// always answered when one is there, whatever its size).
    pub(crate) fn poll_bytes(&self) -> usize {
        self.max_poll_bytes.max(1)
    }
}

/// TLS certificate chain and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricsAuth {
    /// The same Basic credentials as the API (the default).
    #[default]
    Same,
    /// Anyone who can reach the port (scrapers that cannot send Basic auth). The metrics name
    /// topics and groups but never carry messages or credentials.
    None,
}

/// Configuration of `upkafka serve`. `Debug` redacts the password.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8080`; port 0 picks a free port).
    pub bind: SocketAddr,
    /// Required Basic-auth credentials; `None` = no auth, allowed only on a loopback address.
    /// This is the server's own credential: it may do everything, and it alone may manage
    /// scoped credentials.
    pub credentials: Option<Credentials>,
    /// Scoped credentials of the configuration file (those created over the API live in the
    /// data directory). They need `credentials` to be set: without auth there is no scope.
    pub scoped_credentials: Vec<CredentialSpec>,
    /// Topics to create at start.
    pub topics: Vec<TopicSpec>,
    /// Create unknown topics on produce (default false, as Upstash did not).
    pub auto_create_topics: bool,
    /// Durable storage directory; `None` keeps everything in memory (lost on exit).
    pub data_dir: Option<PathBuf>,
    /// Where the credentials created over the API and the token keys live, when not in
    /// `data_dir`: what several gateways (`--kafka`, which has no data directory) share, so
    /// that a credential made or deleted on one holds on all within a quarter second.
    pub state_dir: Option<PathBuf>,
    /// Limits.
    pub limits: Limits,
    /// Serve HTTPS with this certificate and key (rustls, ring provider).
    pub tls: Option<TlsPaths>,
    /// How often consumer expiry and auto-commit run (default 100 ms).
    pub housekeeping_interval: Duration,
    /// Who may read `/metrics` (default: the same credentials as the API).
    pub metrics_auth: MetricsAuth,
    /// How short-lived tokens are signed and how long they may live.
    pub tokens: TokenSettings,
    /// Rate limits of every scoped credential that sets none of its own (default: none).
    /// The server's own credential is never limited.
    pub rate_limits: RateLimits,
    /// Origins whose web pages may call the API from a browser (CORS): their preflights are
    /// answered without credentials and their responses carry `Access-Control-Allow-Origin`.
    /// Empty (the default) turns CORS off: browsers then refuse cross-origin calls.
    pub cors_origins: Vec<CorsOrigin>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            credentials: None,
            scoped_credentials: Vec::new(),
            topics: Vec::new(),
            auto_create_topics: false,
            data_dir: None,
            state_dir: None,
            limits: Limits::default(),
            tls: None,
            housekeeping_interval: Duration::from_millis(100),
            metrics_auth: MetricsAuth::Same,
            tokens: TokenSettings::default(),
            rate_limits: RateLimits::default(),
            cors_origins: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// Checks the configuration before anything is opened.
    ///
    /// # Errors
    /// A sentence for the user: no credentials on a non-loopback address, empty username,
    /// `*` among other CORS origins, a file, topic or partition cap of 0.
    pub fn validate(&self) -> Result<(), String> {
        self.limits.validate()?;
        super::quota::check_limits(&self.rate_limits).map_err(|e| {
            e.replace("messages_per_second", "--credential-messages-per-second")
                .replace("requests_per_day", "--credential-requests-per-day")
        })?;
        if self.cors_origins.len() > 1 && self.cors_origins.iter().any(CorsOrigin::is_any) {
            return Err(
                "CORS origin `*` already allows every origin: list it alone, or list the origins"
                    .to_owned(),
            );
        }
        match &self.credentials {
            None if !self.bind.ip().is_loopback() => Err(format!(
                "refusing to serve without authentication on {}, which is not a loopback address: \
                 set credentials (--username/--password-file) or bind to 127.0.0.1",
                self.bind
            )),
            Some(c) if c.username.is_empty() || c.password.expose().is_empty() => {
                Err("username and password must not be empty".to_owned())
            }
            Some(c) if c.username.contains(':') => {
                Err("the username must not contain `:` (Basic auth separates on it)".to_owned())
            }
            None if !self.scoped_credentials.is_empty() => Err(
                "scoped credentials need the server's own credentials: without auth every \
                 request could do everything"
                    .to_owned(),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_topic_spec_carries_kafka_named_settings_and_reads_back_its_display() {
        let spec: TopicSpec =
            "readings:3,retention.ms=2000,retention.bytes=-1,cleanup.policy=compact"
                .parse()
                .unwrap();
        assert_eq!(spec.partitions, 3);
        assert_eq!(spec.settings.retention_ms, Some(Some(2000)));
        assert_eq!(spec.settings.retention_bytes, Some(None));
        assert_eq!(spec.settings.cleanup_policy, Some(CleanupPolicy::Compact));
        assert_eq!(spec.to_string().parse::<TopicSpec>(), Ok(spec));
        let e = "t,retention=7d".parse::<TopicSpec>().unwrap_err();
        assert!(e.contains("unknown topic setting `retention`"), "{e}");
        let e = "t,segment.ms=5".parse::<TopicSpec>().unwrap_err();
        assert!(
            e.contains("segment.ms `5` must be a number of at least 100"),
            "{e}"
        );
        assert_eq!("t".parse::<TopicSpec>(), Ok(TopicSpec::new("t", 1)));
    }

    use super::*;

    #[test]
    fn topic_specs_parse_with_default_partitions() {
        assert_eq!("a".parse::<TopicSpec>().unwrap(), TopicSpec::new("a", 1));
        assert_eq!(
            "b.c:12".parse::<TopicSpec>().unwrap(),
            TopicSpec::new("b.c", 12)
        );
        for bad in ["", "a:0", "a:x", "../x:1", "a/b"] {
            assert!(bad.parse::<TopicSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_redacts_the_password_and_no_auth_needs_loopback() {
        let mut cfg = ServerConfig {
            credentials: Some(Credentials::new("user", "s3cret-pw")),
            ..ServerConfig::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("s3cret-pw"), "{dbg}");
        assert!(dbg.contains("user"));
        assert!(cfg.validate().is_ok());
        cfg.credentials = None;
        assert!(cfg.validate().is_ok());
        cfg.bind = "0.0.0.0:8080".parse().unwrap();
        assert!(cfg.validate().unwrap_err().contains("loopback"));
    }

    #[test]
    fn the_idempotency_window_and_memory_are_bounded_naming_their_flags() {
        assert!(Limits::default().validate().is_ok());
        for (limits, flag) in [
            (
                Limits {
                    idempotency_window: Duration::from_millis(999),
                    ..Limits::default()
                },
                "--idempotency-window",
            ),
            (
                Limits {
                    idempotency_window: Duration::from_secs(7 * 24 * 3600 + 1),
                    ..Limits::default()
                },
                "--idempotency-window",
            ),
            (
                Limits {
                    max_idempotency_bytes: MIN_IDEMPOTENCY_BYTES - 1,
                    ..Limits::default()
                },
                "--idempotency-memory",
            ),
        ] {
            let err = limits.validate().expect_err(flag);
            assert!(err.contains(flag), "{err}");
        }
        let edges = Limits {
            idempotency_window: IDEMPOTENCY_WINDOW_BOUNDS.1,
            max_idempotency_bytes: MIN_IDEMPOTENCY_BYTES,
            ..Limits::default()
        };
        assert!(edges.validate().is_ok());
    }

    #[test]
    fn caps_of_zero_are_refused_naming_their_flag() {
        for (limits, flag) in [
            (
                Limits {
                    max_instances_per_group: 0,
                    ..Limits::default()
                },
                "--max-instances-per-group",
            ),
            (
                Limits {
                    max_consumer_instances: 0,
                    ..Limits::default()
                },
                "--max-consumer-instances",
            ),
            (
                Limits {
                    max_metric_series: 0,
                    ..Limits::default()
                },
                "--max-metric-series",
            ),
            (
                Limits {
                    max_open_files: 0,
                    ..Limits::default()
                },
                "--max-open-files",
            ),
            (
                Limits {
                    max_topics: 0,
                    ..Limits::default()
                },
                "--max-topics",
            ),
            (
                Limits {
                    max_partitions: 0,
                    ..Limits::default()
                },
                "--max-partitions",
            ),
        ] {
            let cfg = ServerConfig {
                limits,
                ..ServerConfig::default()
            };
            let err = cfg.validate().unwrap_err();
            assert!(err.contains(flag) && err.contains("at least 1"), "{err}");
        }
        assert!(ServerConfig::default().validate().is_ok());
    }

    #[test]
    fn a_cors_wildcard_stands_alone() {
        let origins = |list: &[&str]| ServerConfig {
            cors_origins: list.iter().map(|o| o.parse().unwrap()).collect(),
            ..ServerConfig::default()
        };
        assert!(origins(&["*"]).validate().is_ok());
        assert!(
            origins(&["https://a.example", "http://b.example:8000"])
                .validate()
                .is_ok()
        );
        let err = origins(&["https://a.example", "*"]).validate().unwrap_err();
        assert!(err.contains("`*`"), "{err}");
    }

    #[test]
    fn scoped_credentials_need_the_server_credential_and_hide_their_hash() {
        let spec = CredentialSpec {
            name: "w".into(),
            username: "writer".into(),
            password_hash: "$argon2id$v=19$secret-hash".into(),
            topic: "*".into(),
            permission: Permission::Produce,
            limits: RateLimits::default(),
        };
        let cfg = ServerConfig {
            scoped_credentials: vec![spec],
            ..ServerConfig::default()
        };
        assert!(cfg.validate().unwrap_err().contains("server's own"));
        assert!(!format!("{cfg:?}").contains("secret-hash"));
    }
}
