//! The contract suite of `tests/contract` (Rust client, documented curl calls) run against
//! the gateway backend: `upkafka serve --kafka` in front of a real Kafka-protocol broker
//! (Tansu, one fresh broker per test), plus interop with native Kafka clients and gateway
//! restarts (`interop`).
//!
//! Needs a Tansu binary in `UPKAFKA_TEST_TANSU` at build time (`.ci/run` installs Tansu 0.6.0
//! into `$HOME/.cache/upkafka/tansu` and sets it). Without it this binary holds one test that
//! reports itself ignored with that reason: never a pass.

#[cfg(all(feature = "kafka", upkafka_test_broker))]
#[path = "../common/mod.rs"]
mod common;

/// The storage under test in the shared contract modules.
#[cfg(all(feature = "kafka", upkafka_test_broker))]
pub const BACKEND: common::Backend = common::Backend::Gateway;

#[cfg(all(feature = "kafka", upkafka_test_broker))]
#[path = "../contract"]
mod contract {
    mod commit;
    mod consume;
    mod curl;
    mod errors;
    mod events;
    mod fetch;
    mod metadata;
    mod produce;
    mod resume;
    mod webhook;
}

#[cfg(all(feature = "kafka", upkafka_test_broker))]
#[path = "../contract/support.rs"]
mod support;

/// Raw HTTP through the router on the gateway backend (`tests/server/http.rs`), and the
/// backend-agnostic access suites: scoped credentials, tokens, CORS.
#[cfg(all(feature = "kafka", upkafka_test_broker))]
#[path = "../server"]
#[allow(dead_code)] // helpers that only the embedded-only server modules use
mod server {
    mod cors;
    mod http;
    mod idempotency;
    mod instances;
    pub mod support;
    mod tenancy;
    mod tokens;
    mod topics;
}

/// The OpenAPI document's schema fuzzing (`tests/common/fuzz.rs`) against the gateway.
#[cfg(all(feature = "kafka", upkafka_test_broker, upkafka_test_schemathesis))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_every_generated_request_as_the_openapi_document_says() {
    common::fuzz::run_schemathesis(common::Backend::Gateway).await;
}

/// The official `@upstash/kafka` client against the gateway.
#[cfg(all(feature = "kafka", upkafka_test_broker, upkafka_test_node))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_typescript_client_passes_against_the_gateway() {
    common::official::run_official_client(common::Backend::Gateway).await;
}

#[cfg(not(all(feature = "kafka", upkafka_test_broker)))]
#[test]
#[ignore = "no Kafka broker configured: `cargo xtask test` builds Tansu 0.6 into $HOME/.cache/upkafka and runs this suite against it (or set UPKAFKA_TEST_TANSU to a Tansu binary; needs the `kafka` feature)"]
fn gateway_suite_needs_a_kafka_broker() {}

/// The web console in headless Chromium against the gateway.
#[cfg(all(
    feature = "kafka",
    upkafka_test_broker,
    upkafka_test_node,
    upkafka_test_chromium
))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_work_against_the_gateway() {
    common::console::run_console(common::Backend::Gateway).await;
}

#[cfg(all(feature = "kafka", upkafka_test_broker, not(upkafka_test_node)))]
#[test]
#[ignore = "needs Node.js and npm, not found when this test was built: `cargo xtask test` installs them and runs it"]
fn official_typescript_client_passes_against_the_gateway() {}

#[cfg(all(
    feature = "kafka",
    upkafka_test_broker,
    not(all(upkafka_test_node, upkafka_test_chromium))
))]
#[test]
#[ignore = "needs Node.js, npm and Chromium, not all found when this test was built: `cargo xtask test` installs them and runs it"]
fn console_pages_work_against_the_gateway() {}

#[cfg(all(feature = "kafka", upkafka_test_broker))]
mod interop;

#[cfg(all(feature = "kafka", upkafka_test_broker))]
mod network_faults;

#[cfg(all(feature = "kafka", upkafka_test_broker))]
mod outage;

#[cfg(all(feature = "kafka", upkafka_test_broker))]
mod tcp_proxy;
