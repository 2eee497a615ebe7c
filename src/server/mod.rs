//! `upkafka serve`: the Upstash Kafka REST API over a pluggable storage backend.
//!
//! - [`router`] builds the axum router of every endpoint; [`Server`] binds and serves it.
//! - [`Backend`] is the storage interface; [`EmbeddedBackend`] implements it on the embedded
//!   log ([`log`]) with consumer groups.
//!
//! Start a server in-process on a free port:
//!
//! ```no_run
//! # async fn demo() -> Result<(), upkafka::server::ServeError> {
//! use upkafka::server::{Server, ServerConfig, TopicSpec};
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

mod auth;
mod backend;
mod config;
mod embedded;
mod error;
mod groups;
pub mod log;
mod partitioner;
mod routes;
mod serve;

pub use backend::{Backend, BackendResult, BoxFuture, ConsumeParams};
pub use config::{Credentials, Limits, Password, ServerConfig, TlsPaths, TopicSpec};
pub use embedded::{EmbeddedBackend, EmbeddedOptions};
pub use error::{ApiError, BackendError};
pub use partitioner::{murmur2, partition_for_key};
pub use routes::{ApiPath, ApiQuery, AppState, RawBody, router};
pub use serve::{RunningServer, ServeError, Server, embedded_options, serve, shutdown_signal};
