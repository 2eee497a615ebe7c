//! The web console (`/ui`) in a real browser against the embedded server: see
//! `tests/common/console.rs` for what it checks and what it needs (Node.js, npm, Chromium);
//! `tests/gateway` runs the same against the Kafka gateway.

#[path = "common/mod.rs"]
mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_work_in_headless_chromium() {
    common::console::run_console(common::Backend::Embedded).await;
}
