//! The official TypeScript client `@upstash/kafka` 1.3.5, unchanged, against the embedded
//! server: runs `tests/node/official-client.mjs` and requires every check to pass
//! (`common::official`; `tests/gateway` runs the same against the Kafka gateway).
//!
//! Needs Node.js ≥ 18 and npm. `tests/node/node_modules` is installed with `npm ci` when
//! missing. Built where Node.js is not found (see `build.rs`), it reports itself ignored with
//! the command that runs it: never a silent pass.

#[cfg(upkafka_test_node)]
#[path = "common/mod.rs"]
mod common;

#[cfg(upkafka_test_node)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_typescript_client_passes_against_the_embedded_server() {
    common::official::run_official_client(common::Backend::Embedded).await;
}

#[cfg(not(upkafka_test_node))]
#[test]
#[ignore = "needs Node.js and npm, not found when this test was built: `cargo xtask test` installs them and runs it"]
fn official_typescript_client_passes_against_the_embedded_server() {}
