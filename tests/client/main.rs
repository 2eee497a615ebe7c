//! Offline tests of `upkafka_client::Client` against wiremock: exact requests (method, path,
//! auth, `Kafka-*` headers, query, body) and typed decoding of the spec's example bodies.

mod commit;
mod config;
mod consume;
mod errors;
mod events;
mod fetch;
mod fixtures;
mod metadata;
mod produce;
mod stream;
mod support;
mod webhook;
