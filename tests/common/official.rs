//! The official TypeScript client `@upstash/kafka` 1.3.5, unchanged, against a server:
//! `tests/node/official-client.mjs`, every check required to pass. Shared by
//! `tests/official_client.rs` (embedded) and `tests/gateway` (Kafka gateway).
//!
//! Needs Node.js ≥ 18 and npm. `tests/node/node_modules` is installed with `npm ci` when
//! missing. A machine without Node.js fails (it is never skipped silently).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use upkafka_server::{Credentials, ServerConfig, TopicSpec};

use super::{Backend, TestServer};

const USER: &str = "official-user";
/// Latin-1 only: kafka-js base64-encodes UTF-16 code units, so only Latin-1 survives.
const PASS: &str = "official-pass:with-colon";
const TOPICS: [&str; 3] = ["green", "blue", "red"];
/// The script's two rejection checks wait ~15.5 s for the client's own retries.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Runs `program --version`; panics with install advice when it is missing.
async fn require_tool(program: &str) -> String {
    match Command::new(program).arg("--version").output().await {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!(
            "`{program} --version` failed ({}): {}; install Node.js >= 18 and npm to run the \
             official-client test",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "`{program}` cannot be run ({e}); install Node.js >= 18 and npm to run the \
             official-client test"
        ),
    }
}

/// `npm ci` in `dir` unless `node_modules/@upstash/kafka` is already there.
async fn ensure_node_modules(dir: &Path) {
    if dir
        .join("node_modules/@upstash/kafka/package.json")
        .is_file()
    {
        return;
    }
    require_tool("npm").await;
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .output(),
    )
    .await
    .expect("`npm ci` did not finish within 300 s")
    .expect("running `npm ci`");
    assert!(
        out.status.success(),
        "`npm ci` in {} failed ({}):\n{}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/node/official-client.mjs` against a fresh server on `backend` and checks what
/// it left behind with the Rust client. Panics with the script's output on any failure.
pub async fn run_official_client(backend: Backend) {
    let version = require_tool("node").await;
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the Node.js version from `{version}`"));
    assert!(
        major >= 18,
        "Node.js {version} is too old: @upstash/kafka needs Node.js >= 18 (global fetch)"
    );
    let dir = node_dir();
    ensure_node_modules(&dir).await;
    // The version the lock file pins, not whatever an older install left behind.
    let installed = std::fs::read_to_string(dir.join("node_modules/@upstash/kafka/package.json"))
        .expect("reading the installed @upstash/kafka package.json");
    let installed: serde_json::Value =
        serde_json::from_str(&installed).expect("the installed package.json is JSON");
    assert_eq!(
        installed["version"]
            .as_str()
            .map(|v| v.trim_start_matches('v')),
        Some("1.3.5"),
        "tests/node/node_modules holds another @upstash/kafka; run `npm ci` in tests/node"
    );

    let server = TestServer::start_on(
        backend,
        ServerConfig {
            credentials: Some(Credentials::new(USER, PASS)),
            topics: TOPICS.iter().map(|t| TopicSpec::new(*t, 3)).collect(),
            ..ServerConfig::default()
        },
    )
    .await;

    let child = Command::new("node")
        .arg("official-client.mjs")
        .current_dir(&dir)
        .env("UPSTASH_KAFKA_REST_URL", &server.url)
        .env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASS)
        .env("UPKAFKA_TEST_TOPICS", TOPICS.join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting node");
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("official-client.mjs did not finish within {SCRIPT_TIMEOUT:?}"))
        .expect("waiting for node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");

    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed") && l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no `N passed, M failed` line\n{report}"));
    let passed: usize = summary
        .split(" passed")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot read `{summary}`\n{report}"));
    assert!(
        summary.ends_with(", 0 failed"),
        "official client checks failed: {summary}\n{report}"
    );
    assert!(
        out.status.success(),
        "node exited with {}\n{report}",
        out.status
    );
    let oks = stdout.lines().filter(|l| l.starts_with("ok - ")).count();
    assert_eq!(oks, passed, "summary disagrees with the ok lines\n{report}");
    assert!(passed >= 25, "only {passed} checks ran\n{report}");
    println!("{stdout}");

    // What the official client left behind, read with the Rust client: its messages, and no
    // consumer instance (the script removes each one it created, as kafka-js's teardown did).
    let client = upkafka_client::Client::new(upkafka_client::Config::new(&server.url, USER, PASS))
        .expect("the Rust client");
    assert!(
        client.consumers().await.expect("consumers").is_empty(),
        "the script left consumer instances behind"
    );
    let mut all = Vec::new();
    for topic in TOPICS {
        for partition in 0..3 {
            let req = upkafka_protocol::FetchRequest {
                timeout: Some(0),
                ..upkafka_protocol::FetchRequest::new(topic, partition, 0)
            };
            all.extend(client.fetch(&req).await.expect("fetch"));
        }
    }
    let signed = all
        .iter()
        .find(|m| m.value.starts_with("hello-"))
        .unwrap_or_else(|| panic!("the official client's first message is missing: {all:?}"));
    assert_eq!(
        (
            signed.topic.as_str(),
            signed.key.as_str(),
            signed.header("signature")
        ),
        ("green", "k1", Some("abcd"))
    );
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Reading {
        device: u32,
        measure: String,
        value: u32,
    }
    let want = Reading {
        device: 7,
        measure: "pressure".into(),
        value: 42,
    };
    assert!(
        all.iter()
            .any(|m| m.topic == "blue" && m.value_json::<Reading>().ok().as_ref() == Some(&want)),
        "the JSON.stringify'd object is not readable as JSON from Rust"
    );
    server.stop().await;
}
