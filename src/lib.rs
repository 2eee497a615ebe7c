//! upkafka: the Upstash Kafka REST API as a typed async Rust client, a CLI, and a server.
//!
//! - [`protocol`]: the wire types, one model for both sides.
//! - [`rest`]: the async client.
//! - [`server`]: `upkafka serve`, the API on an embedded durable log.
//! - [`cli`]: the `upkafka` command line.
//! - [`sensor`]: the tutorial's sensor scenario.
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rustdoc::broken_intra_doc_links
)]

pub mod cli;
pub mod protocol;
pub mod rest;
pub mod secret;
pub mod sensor;
pub mod server;
