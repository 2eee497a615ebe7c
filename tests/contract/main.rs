//! Contract tests: the Rust client (`upkafka_client::Client`) against the embedded server,
//! started in-process with Basic credentials, for every endpoint and method of the client;
//! a few scenarios also run against wiremock fixtures (`matrix`); and the documented `curl`
//! calls against the same server (`curl`).

#[path = "../common/mod.rs"]
mod common;

/// The storage under test; `tests/gateway` runs these same modules with `Gateway`.
pub const BACKEND: common::Backend = common::Backend::Embedded;

mod commit;
mod consume;
mod curl;
mod errors;
mod events;
mod fetch;
mod matrix;
mod metadata;
mod produce;
mod resume;
mod support;
mod webhook;
