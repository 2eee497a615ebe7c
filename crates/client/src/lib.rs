//! The async client for the Upstash Kafka REST API.
//!
//! [`Client`] is cheap to clone (one shared keep-alive connection pool) and has a method for
//! every endpoint of the API: produce ([`Client::produce`], [`Client::produce_many`],
//! [`Client::produce_to`], [`Client::produce_in_url`]), fetch by offset ([`Client::fetch`]),
//! consumer groups ([`Client::consume`], [`Client::commit`], [`Client::committed`],
//! [`Client::remove_consumer_instance`], or the [`Consumer`] handle), metadata
//! ([`Client::topics`], [`Client::consumers`], [`Client::offsets`]) and [`Client::webhook`].
//!
//! ```no_run
//! use upkafka_client::protocol::ProduceRecord;
//! use upkafka_client::Client;
//!
//! # async fn run() -> Result<(), upkafka_client::Error> {
//! let client = Client::from_env()?; // UPSTASH_KAFKA_REST_URL / _USERNAME / _PASSWORD
//! let meta = client.produce("greetings", ProduceRecord::new("hello")).await?;
//! println!("stored at {}/{}", meta.partition, meta.offset);
//! # Ok(()) }
//! ```
//!
//! Section numbers (“spec §N”, “§12 q. N”) refer to the protocol reference in the repository,
//! `docs/protocol.md`.

/// The wire model (`upkafka-protocol`), re-exported so that one dependency is enough.
pub use upkafka_protocol as protocol;

mod client;
mod config;
mod consumer;
mod error;
mod fetch;
mod metadata;
mod produce;
mod retry;
mod webhook;

pub use client::Client;
pub use config::{Config, ENV_PASSWORD, ENV_URL, ENV_USERNAME};
pub use consumer::{ConsumeOptions, Consumer};
pub use error::{Error, ErrorKind, Result};
pub use fetch::FetchOptions;
pub use retry::RetryPolicy;
pub use upkafka_protocol::Password;
