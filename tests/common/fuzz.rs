//! Schema-based fuzzing of the server against its own OpenAPI document, with Schemathesis
//! (`UPKAFKA_TEST_SCHEMATHESIS`, installed by `cargo xtask test` from the pins of
//! `tests/fuzz/requirements.txt`): thousands of requests generated from the document, valid and
//! not, each answer checked: never a 5xx, status codes, content types, headers and bodies as
//! documented, invalid requests refused, authentication enforced. `tests/fuzz.rs` runs it on
//! the embedded log and `tests/gateway` on the Kafka gateway.
//!
//! One check is left out: `positive_data_acceptance`, that every schema-valid request
//! succeeds. A document cannot say which topics or consumer instances exist, so a valid-looking
//! request naming one that does not is rightly a 400/404. The run is seeded, so it generates
//! the same requests every time (a failure reproduces with the same seed, and Schemathesis
//! prints the `curl` of each failing request).

use std::time::{Duration, Instant};

use upkafka_server::{Credentials, Limits, ServerConfig, TopicSpec};

use super::{Backend, TestServer};

const USER: &str = "admin";
const PASS: &str = "fuzz-server-pw";

/// How much each backend is fuzzed: examples per operation in the fuzzing phase. The gateway
/// is slower per request (a consume joins a Kafka group), so it gets fewer.
fn examples(backend: Backend) -> u32 {
    match backend {
        Backend::Embedded => 20,
        Backend::Gateway => 4,
    }
}

pub async fn run_schemathesis(backend: Backend) {
    let program = env!("UPKAFKA_TEST_SCHEMATHESIS");
    let server = TestServer::start_on(
        backend,
        ServerConfig {
            credentials: Some(Credentials::new(USER, PASS)),
            topics: vec![TopicSpec::new("t", 2), TopicSpec::new("sensor", 3)],
            limits: Limits {
                // Long polls of generated requests end quickly.
                max_timeout: Duration::from_millis(500),
                ..Limits::default()
            },
            ..ServerConfig::default()
        },
    )
    .await;
    let schema = format!("{}/openapi.json", server.url);
    let started = Instant::now();
    let examples = examples(backend).to_string();
    let auth = format!("{USER}:{PASS}");
    let output = tokio::process::Command::new(program)
        .args(["run", &schema, "--auth", &auth])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples, "--seed", "20261201"])
        .args(["--request-timeout", "20", "--no-color"])
        // Hypothesis keeps its example database in the working directory: not the source tree.
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("generated") || l.starts_with("====="))
        .collect();
    println!(
        "schemathesis on {backend:?} in {:.0} s: {}",
        started.elapsed().as_secs_f64(),
        summary.join(" | ")
    );
    assert!(
        output.status.success(),
        "schemathesis found failures on {backend:?} ({}):\n{stdout}\n{stderr}",
        output.status
    );
    server.stop().await;
}
