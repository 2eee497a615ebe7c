//! The async client for the Upstash Kafka REST API.
//!
//! [`Client`] is cheap to clone (one shared keep-alive connection pool) and has a method for
//! every endpoint of the API: produce (see [Producing](#producing)), fetch by offset
//! ([`Client::fetch`]), consumer groups ([`Client::consume`], [`Client::commit`],
//! [`Client::committed`], [`Client::remove_consumer_instance`], or the [`Consumer`] handle),
//! metadata ([`Client::topics`], [`Client::consumers`], [`Client::offsets`]) and
//! [`Client::webhook`]. Every call returns this crate's [`Result`]; [`Error`] names no type of
//! the HTTP stack, and `serde_json` errors convert into it with `?`.
//!
//! Two doors: [`Client::from_env`] for the usual `UPSTASH_KAFKA_REST_*` variables, or
//! [`Client::new`] with a [`Config`] for explicit credentials, timeouts, retries and TLS roots.
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
//! # Producing
//!
//! One family: the topic comes first; one message is a [`ProduceRecord`](protocol::ProduceRecord)
//! by value and answers one [`ProduceMetadata`](protocol::ProduceMetadata); a batch is a slice
//! and answers one metadata entry per record, in request order.
//!
//! | to send | call | route |
//! | --- | --- | --- |
//! | one message (key, partition, headers, timestamp as needed) | [`Client::produce`] | `POST /produce` |
//! | one serialisable value as JSON text | [`Client::produce_json`] | `POST /produce` |
//! | a batch to one topic | [`Client::produce_many_to`] | `POST /produce/{topic}` |
//! | a batch across topics, each record naming its own | [`Client::produce_many`] | `POST /produce` |
//! | one message from a caller that can only send GET | [`Client::produce_in_url`] | `GET /produce/{topic}/{message}` |
//! | a raw HTTP body (webhook senders) | [`Client::webhook`] | `POST /webhook?topic=` |
//!
//! Any produce can be retried by the [`RetryPolicy`]. Each produce call sends a fresh
//! `Idempotency-Key` and its retries the same one, so a server that keeps keys (the upkafka
//! server) stores a batch once even when an answer is lost; against one that ignores the
//! header a retry can duplicate. `retry_produce: false` makes produce single-attempt.
//!
//! # Consuming
//!
//! [`Client::consumer`] gives a [`Consumer`] for one instance of a group: [`Consumer::poll`]
//! for one batch, or [`Consumer::stream`] for a `futures` [`Stream`](futures_core::Stream) of
//! batches ([`BatchStream`]). Committing stays explicit and is the caller's call, after
//! processing. [`Client::fetch`] reads by partition and offset without a group.
//!
//! # Live streams (server-sent events)
//!
//! [`Consumer::follow`] / [`Client::consume_stream`] (a group instance) and
//! [`Client::fetch_stream`] (by offset) give a [`MessageStream`]: one item per record as soon as
//! the server stores it, over one long-lived response (`Accept: text/event-stream`) instead of
//! one poll after another. It reconnects by itself with `Last-Event-ID`, and the server resumes
//! after the last record the stream yielded on every partition: a dropped connection loses and
//! repeats nothing.
//!
//! What counts as committed stays explicit, as for polls: with the instance's auto-commit on,
//! the server commits on its interval what it sent into the stream (and what a reconnect's
//! `Last-Event-ID` acknowledges), which may include records a dropped connection never
//! delivered; with auto-commit off, only [`Consumer::commit`] calls with the offsets processed
//! count. A stream opened without a `Last-Event-ID` (a new program run) starts each partition
//! at the committed offset, so it repeats at most what was received but not committed. For
//! at-least-once across restarts: auto-commit off, commit after processing (or keep
//! [`MessageStream::last_event_id`] and resume with [`MessageStream::with_last_event_id`]).
//!
//! Section numbers (“spec §N”, “§12 q. N”) refer to the protocol reference in the repository,
//! `docs/protocol.md`.

/// The wire model (`upkafka-protocol`), re-exported so that one dependency is enough.
pub use upkafka_protocol as protocol;

mod admin;
mod client;
mod config;
mod consumer;
mod error;
mod events;
mod fetch;
mod metadata;
mod produce;
mod retry;
mod topic_admin;
mod webhook;

pub use client::Client;
pub use config::{Config, ENV_PASSWORD, ENV_URL, ENV_USERNAME};
pub use consumer::{BatchStream, ConsumeOptions, Consumer};
pub use error::{Error, ErrorKind, Result};
pub use events::MessageStream;
pub use fetch::FetchOptions;
pub use retry::RetryPolicy;
pub use upkafka_protocol::Password;

/// The README's Rust examples, compiled as doc tests so that the front page cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
