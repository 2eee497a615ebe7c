//! Running the `upkafka` binary with a deadline, and reading a topic back.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{JsonBody, JsonResponse, TestServer, client};

/// Username of every test that sets credentials.
pub const USER: &str = "reliab-user";
/// A password that must never show up in any output.
pub const PASSWORD: &str = "pw-Zq8vK3-never-print-me";

/// The `Authorization` header value for [`USER`] / [`PASSWORD`] (and its base64 token).
pub fn basic_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

/// A `Command` for the binary with a clean environment (no `UPSTASH_*`, `UPKAFKA_*`,
/// `RUST_LOG`, `HOME`).
pub fn upkafka() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upkafka"));
    for (k, _) in std::env::vars() {
        if k.starts_with("UPSTASH_") || k.starts_with("UPKAFKA_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("HOME").env("NO_COLOR", "1");
    cmd
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Panics with everything unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `cmd` with `stdin`, killing it (and failing) after `limit`. Off the async runtime so
/// an in-process server keeps serving.
pub async fn run(mut cmd: Command, stdin: Vec<u8>, limit: Duration) -> Outcome {
    tokio::task::spawn_blocking(move || {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting upkafka");
        let mut input = child.stdin.take().expect("piped stdin");
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let (out, err) = drain(&mut child);
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("waiting for upkafka") {
                break s;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "upkafka did not finish within {limit:?}; stderr so far:\n{}",
                    String::from_utf8_lossy(&err.join().unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = writer.join();
        Outcome {
            code: status.code(),
            stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        }
    })
    .await
    .expect("runner thread")
}

type Reader = std::thread::JoinHandle<Vec<u8>>;

/// Reads stdout and stderr to the end on two threads.
fn drain(child: &mut Child) -> (Reader, Reader) {
    use std::io::Read;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    (o, e)
}

/// Produces `batch` to `topic` on the server at `url` and answers its metadata, or `None`
/// when it was not acknowledged (refused, or the server went away: the crash tests kill it
/// while producers run).
pub async fn produce_acknowledged(
    http: &reqwest::Client,
    url: &str,
    topic: &str,
    batch: &[Value],
) -> Option<Vec<Value>> {
    let resp = http
        .post(format!("{url}/produce/{topic}"))
        .json_body(&json!(batch))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json_value::<Vec<Value>>().await.ok()
}

/// Every record of `topic`/`partition` in offset order, following the offsets (a compacted
/// log has gaps). `request` builds each `POST /fetch` (with the auth its server needs).
pub async fn read_partition(
    request: impl Fn() -> reqwest::RequestBuilder,
    topic: &str,
    partition: i32,
) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut next = 0i64;
    loop {
        let body = json!({"topic": topic, "partition": partition, "offset": next, "timeout": 0});
        let resp = request().json_body(&body).send().await.expect("fetch");
        assert!(resp.status().is_success(), "fetch: {}", resp.status());
        let batch: Vec<Value> = resp.json_value().await.expect("fetch JSON");
        let Some(last) = batch.last() else {
            return out;
        };
        next = last["offset"].as_i64().expect("offset") + 1;
        out.extend(batch);
    }
}

/// Every message of `topic` (all `partitions`), read straight from the server: value → count,
/// plus the messages per partition in offset order.
pub async fn read_topic(
    server: &TestServer,
    topic: &str,
    partitions: i32,
) -> (BTreeMap<String, usize>, Vec<Vec<Value>>) {
    let http = client();
    let mut counts = BTreeMap::new();
    let mut per_partition = Vec::new();
    for p in 0..partitions {
        let msgs = read_partition(
            || server.request(&http, reqwest::Method::POST, "/fetch"),
            topic,
            p,
        )
        .await;
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m["offset"], i as i64, "offsets contiguous in {topic}/{p}");
            let v = m["value"].as_str().unwrap_or_default().to_owned();
            *counts.entry(v).or_insert(0) += 1;
        }
        per_partition.push(msgs);
    }
    (counts, per_partition)
}

/// `n` distinct line values `{prefix}-000001` … joined by newlines.
pub fn lines(prefix: &str, n: usize) -> (Vec<String>, Vec<u8>) {
    let values: Vec<String> = (1..=n).map(|i| format!("{prefix}-{i:06}")).collect();
    let mut input = values.join("\n").into_bytes();
    input.push(b'\n');
    (values, input)
}
