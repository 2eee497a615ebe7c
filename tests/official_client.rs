//! The official TypeScript client `@upstash/kafka` 1.3.5, unchanged, against the embedded
//! server: runs `tests/node/official-client.mjs` and requires every check to pass
//! (`common::official`; `tests/gateway` runs the same against the Kafka gateway).
//!
//! Needs Node.js ≥ 18 and npm. `tests/node/node_modules` is installed with `npm ci` when
//! missing. A machine without Node.js fails this test (it is never skipped silently).

#[path = "common/mod.rs"]
mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_typescript_client_passes_against_the_embedded_server() {
    common::official::run_official_client(common::Backend::Embedded).await;
}
