//! `upkafka serve`: the Upstash Kafka REST API over a pluggable storage backend.
//!
//! - [`service`] builds the API (the request pipeline around the router of every endpoint),
//!   [`router`] the same as an axum router; [`Server`] binds and serves it.
//! - [`Backend`] is the storage interface; [`EmbeddedBackend`] implements it on the embedded
//!   log (segments on disk or in memory, see [`LogOptions`]) with consumer groups.
//!
//! # Choices for the spec's open questions (§12)
//!
//! Each is documented next to its implementation and covered by `tests/server`.
//!
//! | § 12 | Choice | Where |
//! |------|--------|-------|
//! | 1 status codes | 400 invalid request / unknown topic or partition / too large record; 401 auth; 403 a scoped credential without the permission or topic, or a CORS preflight from an origin not listed; 404 unknown route or consumer instance; 405 method; 408 body not received within `body_read_timeout`; 409 a repeated `Idempotency-Key` whose first request is still being stored after 10 s; 413 body; 422 an `Idempotency-Key` reused for another batch; 429 a configured cap reached (rate limits, consumer instances); 500 internal (generic text); 503 shutting down | `error.rs` |
//! | 2 batch failures | whole batch validated first: all or nothing, never per-item errors | `Backend::produce`, `embedded.rs` |
//! | 3 P1 decoding | `{message}` is percent-decoded; send `/` as `%2F` | `routes.rs` |
//! | 4 P2 single object | answers a one-element array | `routes.rs` |
//! | 5 batch size, early return | ≤ 500 records / ≈ 1 MiB per response (configurable, at least one record); returns as soon as any data is there | `EmbeddedOptions`, `Limits` |
//! | 6 multi-topic fetch | every named partition is served in one answer | `routes.rs` |
//! | 7 `timeout` placement | query and body both accepted on fetch/consume; the query wins; clamped to `Limits::max_timeout` | `routes.rs` |
//! | 8 `/committed` without commit | `-1`; commit/committed never create an instance (404) | `groups.rs` |
//! | 9 resume at or after | **at** the committed offset (Kafka convention); commits stored verbatim | `groups.rs` |
//! | 10 `/offsets` unit, none | milliseconds; `-1` when no record is at or after | `embedded.rs` |
//! | 11 reset `none` | 400 naming the partition | `groups.rs` |
//! | 12 idle timeout | the session timeout is the idle timeout (never while a consume is in flight) | `groups.rs` |
//! | 13 other topics later | resubscribe to exactly the new list | `groups.rs` |
//! | 14 `/topics`, `/consumers` scope | the server's credential sees all topics and groups; a scoped credential only the topics of its scope (and the assignments on them); no internal topics | `tenancy.rs` |
//! | 15 webhook | answers one `ProduceMetadata`; standard headers excluded (`WEBHOOK_EXCLUDED_HEADERS`), names lower-case, values UTF-8; non-UTF-8 body or header value → 400; body limit as any request | `routes.rs` |
//! | 16 non-UTF-8 data | cannot occur: everything is produced over REST as strings | — |
//! | 17 extra response headers | none beyond `Content-Type` (and `WWW-Authenticate` / `Allow` on 401 / 405; `Cache-Control: no-cache` on event streams; the CORS headers when `ServerConfig::cors_origins` is set) | `routes.rs`, `cors.rs` |
//!
//! # Consumer instances and `/metrics` under abuse (issue 20)
//!
//! | Limit | Default | What a client sees over it |
//! |-------|---------|----------------------------|
//! | `Limits::max_instances_per_group` (`--max-instances-per-group`) | 1,000 | a consume or group stream that would create an instance: 429 naming the group, the cap, its value and its flag |
//! | `Limits::max_consumer_instances` (`--max-consumer-instances`) | 10,000 | the same, for all groups together |
//! | session timeout (`Kafka-Session-Timeout-Ms`) | at most 30 min | 400 naming the bound |
//! | `Limits::max_metric_series` (`--max-metric-series`) | 10,000 per family | series beyond are left out of `/metrics`, counted in `upkafka_metrics_series_dropped{family}` |
//!
//! The caps are one rule of the backend core (`backend/checks.rs`), checked under the lock
//! that guards the instances, by the embedded groups and the gateway alike (the gateway checks
//! before it creates a Kafka consumer, so a refused request costs nothing). Existing instances
//! keep working; once one is deleted or expires, creation works again. An embedded instance
//! takes about 0.6 KiB, so the default caps bound instance memory to about 6 MiB (40 MiB is
//! the bound `tests/reliability/instances.rs` asserts at a full server).
//!
//! Cost: a consume, commit or delete touches its own group only (expiry of its idle
//! instances, its rebalance), so it costs the same whatever the number of other groups;
//! housekeeping expires the rest. A `/metrics` scrape asks committed offsets once per group
//! and stops at the series cap; `/consumers` costs its output.
//!
//! # Idempotent produce (issue 16)
//!
//! Every produce route takes an `Idempotency-Key` header ([`IdempotencyKey`]); the rule is
//! written once in the backend core (`backend/idempotency.rs`) and both backends give it their
//! store ([`Backend::produce_idempotent`]). A repeat with the same batch answers the first
//! answer and stores nothing; another batch under the key is 422; a repeat while the first is
//! stored waits (at most 10 s, then 409). Keys are kept `Limits::idempotency_window` within
//! `Limits::max_idempotency_bytes`, oldest forgotten first (at-least-once at worst). The
//! embedded log writes the key into the batch's frames and rebuilds the table from the scan
//! on open, so keys survive `kill -9`; the gateway keeps them in its memory.
//!
//! # Event streams
//!
//! A fetch or consume sent with `Accept: text/event-stream` answers a stream of server-sent
//! events on the same route, one event per record as soon as it is stored, resumable with
//! `Last-Event-ID`; the format, the resume and commit rules, heartbeats, back-pressure and
//! shutdown are described in spec §4.12. Both backends stream fetches and consumer groups.
//!
//! # OpenAPI
//!
//! `GET /openapi.json` (with the API's credentials) serves an OpenAPI 3.1 description of the
//! data API, event streams included: `crates/server/openapi.json`, kept in step with the route
//! table by a unit test in `routes.rs`.
//!
//! Section numbers (“spec §N”, “§12 q. N”) refer to the protocol reference in the repository,
//! `docs/protocol.md`.
//!
//! Start a server in-process on a free port:
//!
//! ```no_run
//! # async fn demo() -> Result<(), upkafka_server::ServeError> {
//! use upkafka_server::{Server, ServerConfig, TopicSpec};
//! let config = ServerConfig {
//!     bind: "127.0.0.1:0".parse().unwrap(),
//!     topics: vec![TopicSpec::new("greetings", 3)],
//!     ..ServerConfig::default()
//! };
//! let running = Server::bind(config).await?.spawn();
//! println!("serving on {}", running.url());
//! running.shutdown().await?;
//! # Ok(()) }
//! ```

mod admin;
mod admin_topics;
mod app;
mod auth;
mod backend;
mod by_name;
mod config;
pub mod connections;
mod console;
mod cors;
mod embedded;
mod error;
mod extract;
mod groups;
pub mod history;
pub mod kafka;
mod log;
pub mod metrics;
mod partitioner;
mod pipeline;
mod quota;
mod route_table;
mod routes;
mod serve;
pub mod slowdown;
mod sse;
mod state;
mod tenancy;
mod tokens;

pub use app::{router, service};
pub use backend::{
    Backend, BackendResult, BoxFuture, ClusterConnection, ConsumeParams, ConsumerSettings,
    Fingerprint, IdempotencyKey, Produced, TopicInfo, fingerprint_body, fingerprint_records,
};
pub use config::{
    CredentialSpec, Credentials, Limits, MetricsAuth, Password, Permission, RateLimits,
    ServerConfig, TlsPaths, TopicSpec,
};
pub use cors::CorsOrigin;
pub use embedded::{EmbeddedBackend, EmbeddedOptions};
pub use error::{ApiError, BackendError};
pub use extract::{ApiPath, ApiQuery, RawBody};
pub use log::LogOptions;
pub use log::settings::{CleanupPolicy, SettingsPatch, TopicSettings};
pub use partitioner::{murmur2, partition_for_key};
pub use pipeline::{ApiFuture, ApiService};
pub use serve::{RunningServer, ServeError, Server, embedded_options, serve, shutdown_signal};
pub use state::AppState;
pub use tenancy::{CLUSTER_ID, CREDENTIALS_FILE, Tenancy, hash_password};
pub use tokens::{TOKEN_KEYS_FILE, TokenSettings};
