//! Consumer instances across a restart of the embedded server with a data directory
//! (issue 16): `/consumers` lists them again, they resume at their group's committed offsets
//! with the settings their first consume set, and their session timeout still applies.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upkafka_server::{ServerConfig, TopicSpec};

use crate::common::{JsonBody, JsonResponse, ServeProcess, TestServer, client, serve_durable};

const EARLIEST: (&str, &str) = ("Kafka-Auto-Offset-Reset", "earliest");
const NO_AUTO_COMMIT: (&str, &str) = ("Kafka-Enable-Auto-Commit", "false");

async fn produce(client: &reqwest::Client, url: &str, values: &[(i32, &str)]) {
    let batch: Vec<Value> = values
        .iter()
        .map(|(p, v)| json!({"partition": p, "value": v}))
        .collect();
    let resp = client
        .post(format!("{url}/produce/a"))
        .json_body(&json!(batch))
        .send()
        .await
        .expect("produce");
    assert!(resp.status().is_success(), "produce: {}", resp.status());
}

/// Polls `group/instance` (short polls) until `n` values arrived or 20 polls passed; the
/// values sorted, since two partitions interleave.
async fn consume_n(
    client: &reqwest::Client,
    url: &str,
    (group, instance): (&str, &str),
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..20 {
        let mut req = client
            .post(format!("{url}/consume/{group}/{instance}"))
            .json_body(&json!({"topic": "a", "timeout": 50}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("consume");
        assert!(resp.status().is_success(), "consume: {}", resp.status());
        let msgs: Vec<Value> = resp.json_value().await.expect("consume JSON");
        out.extend(
            msgs.iter()
                .map(|m| m["value"].as_str().unwrap_or_default().to_owned()),
        );
        if out.len() >= n {
            break;
        }
    }
    out.sort();
    out
}

/// `/consumers` as `(group, instance, partitions of topic a)`.
async fn consumers(client: &reqwest::Client, url: &str) -> Vec<(String, String, Vec<i64>)> {
    let resp = client
        .get(format!("{url}/consumers"))
        .send()
        .await
        .expect("consumers");
    assert!(resp.status().is_success(), "consumers: {}", resp.status());
    let groups: Value = resp.json_value().await.expect("consumers JSON");
    let mut out = Vec::new();
    for g in groups.as_array().into_iter().flatten() {
        for i in g["instances"].as_array().into_iter().flatten() {
            let parts = i["topics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["topic"] == "a")
                .flat_map(|t| t["partitions"].as_array().cloned().unwrap_or_default())
                .filter_map(|p| p.as_i64())
                .collect();
            out.push((
                g["name"].as_str().unwrap_or_default().to_owned(),
                i["name"].as_str().unwrap_or_default().to_owned(),
                parts,
            ));
        }
    }
    out
}

fn entry(group: &str, instance: &str, parts: &[i64]) -> (String, String, Vec<i64>) {
    (group.to_owned(), instance.to_owned(), parts.to_vec())
}

/// A graceful restart: both instances are listed again with their partitions; the auto-commit
/// one committed on shutdown and sees only what is new; the manual one resumes at what it
/// committed, and its own settings (here `earliest` for the partition it never committed)
/// came back without being sent again.
#[tokio::test]
async fn instances_come_back_after_a_graceful_restart_with_their_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || ServerConfig {
        topics: vec![TopicSpec::new("a", 2)],
        data_dir: Some(dir.path().to_owned()),
        ..ServerConfig::default()
    };
    let client = client();
    let server = TestServer::start(cfg()).await;
    produce(
        &client,
        &server.url,
        &[(0, "0-0"), (0, "0-1"), (1, "1-0"), (1, "1-1")],
    )
    .await;
    let all = ["0-0", "0-1", "1-0", "1-1"];
    let auto = ("ga", "auto");
    let manual = ("gm", "manual");
    assert_eq!(
        consume_n(&client, &server.url, auto, &[EARLIEST], 4).await,
        all
    );
    let headers = [EARLIEST, NO_AUTO_COMMIT];
    assert_eq!(
        consume_n(&client, &server.url, manual, &headers, 4).await,
        all
    );
    let commit = client
        .post(server.at("/commit/gm/manual"))
        .json_body(&json!({"topic": "a", "partition": 0, "offset": 1}))
        .send()
        .await
        .expect("commit");
    assert!(commit.status().is_success(), "commit: {}", commit.status());
    server.stop().await;

    let server = TestServer::start(cfg()).await;
    assert_eq!(
        consumers(&client, &server.url).await,
        [entry("ga", "auto", &[0, 1]), entry("gm", "manual", &[0, 1])]
    );
    produce(&client, &server.url, &[(0, "0-2"), (1, "1-2")]).await;
    assert_eq!(
        consume_n(&client, &server.url, auto, &[], 2).await,
        ["0-2", "1-2"],
        "the auto-commit instance resumes where it was"
    );
    assert_eq!(
        consume_n(&client, &server.url, manual, &[], 5).await,
        ["0-1", "0-2", "1-0", "1-1", "1-2"],
        "the manual instance resumes at its commit, and from the earliest offset where none"
    );
    server.stop().await;
}

/// Starts `upkafka serve` with topic `a:2` on `dir`.
fn start_binary(dir: &std::path::Path) -> ServeProcess {
    serve_durable(dir, &["--topic", "a:2"])
}

/// After `kill -9` the instances come back too (once housekeeping wrote them, within its
/// interval), and each session starts anew at the restart: the one with a 3 s timeout
/// expires when nothing consumes for it, and its partition goes to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_survive_kill_9_and_still_expire_when_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client();
    let mut proc = start_binary(dir.path());
    consume_n(&client, &proc.url, ("g", "long"), &[], 0).await;
    let short = ("Kafka-Session-Timeout-Ms", "3000");
    consume_n(&client, &proc.url, ("g", "short"), &[short], 0).await;
    let both = [entry("g", "long", &[0]), entry("g", "short", &[1])];
    assert_eq!(consumers(&client, &proc.url).await, both);
    // Housekeeping writes the membership within its interval (100 ms); wait for the file
    // rather than for a guess of that time.
    let file = dir.path().join("consumers.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&file).is_ok_and(|s| s.contains("\"short\"")) {
        assert!(
            Instant::now() < deadline,
            "consumers.json never listed both"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proc.child.kill().expect("kill -9");
    let _ = proc.child.wait();

    let mut proc = start_binary(dir.path());
    assert_eq!(
        consumers(&client, &proc.url).await,
        both,
        "listed after kill -9"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = consumers(&client, &proc.url).await;
        if now == [entry("g", "long", &[0, 1])] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle instance never expired: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proc.child.kill().expect("kill");
    let _ = proc.child.wait();
}
