//! The web console (`/ui`) in a real browser against the embedded server: see
//! `tests/common/console.rs` for what it checks and what it needs (Node.js, npm, Chromium);
//! `tests/gateway` runs the same against the Kafka gateway.

#[cfg(all(upkafka_test_node, upkafka_test_chromium))]
#[path = "common/mod.rs"]
mod common;

#[cfg(all(upkafka_test_node, upkafka_test_chromium))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_work_in_headless_chromium() {
    common::console::run_console(common::Backend::Embedded).await;
}

#[cfg(not(all(upkafka_test_node, upkafka_test_chromium)))]
#[test]
#[ignore = "needs Node.js, npm and Chromium, not all found when this test was built: `cargo xtask test` installs them and runs it"]
fn console_pages_work_in_headless_chromium() {}
