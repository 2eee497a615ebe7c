//! `kill -9` of `upkafka serve --data-dir` during heavy produce, repeated, with torn tails
//! added between some rounds. Extends `tests/server/durability.rs`
//! (`acknowledged_messages_survive_kill_9`, one kill) to several kills on one data directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{JsonBody, ServeProcess, client, spawn_serve};
use crate::util::upkafka;

const TOPIC: &str = "c";
const PARTITIONS: i32 = 3;

fn start(dir: &Path) -> ServeProcess {
    let mut cmd = upkafka();
    cmd.args(["serve", "--no-auth", "--bind", "127.0.0.1:0"])
        .args(["--topic", &format!("{TOPIC}:{PARTITIONS}"), "--data-dir"])
        .arg(dir);
    spawn_serve(cmd)
}

async fn fetch_all(http: &reqwest::Client, url: &str, partition: i32) -> Vec<Value> {
    crate::util::read_partition(|| http.post(format!("{url}/fetch")), TOPIC, partition).await
}

/// The last segment file of every partition.
fn last_segments(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let pdir = dir.join("topics").join(TOPIC).join(p.to_string());
        let last = std::fs::read_dir(&pdir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .max();
        out.extend(last);
    }
    out
}

/// Appends the start of a frame that never finished: a header announcing 4 KiB and a few
/// payload bytes — what a crash in the middle of an (unacknowledged) write leaves.
fn tear(segment: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(segment)
        .expect("open segment");
    let mut frame = Vec::new();
    frame.extend_from_slice(&4096u32.to_le_bytes());
    frame.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    frame.extend_from_slice(b"torn-write");
    f.write_all(&frame).expect("append torn tail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_repeated_kill_9_and_torn_tails() {
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let http = client();
    // value → (partition, offset) of every acknowledged message, over all rounds.
    let acked: Arc<Mutex<BTreeMap<String, (i64, i64)>>> = Arc::default();
    let mut torn_injected = 0usize;
    let mut torn_recovered = 0usize;
    let mut per_round = Vec::new();
    let mut proc = start(dir.path());
    for round in 0..ROUNDS {
        let before = acked.lock().expect("lock").len();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let http = http.clone();
            let url = proc.url.clone();
            let acked = Arc::clone(&acked);
            tasks.push(tokio::spawn(async move {
                for b in 0.. {
                    let batch: Vec<Value> = (0..20)
                        .map(|i| json!({"value": format!("r{round}-w{w}-b{b:05}-{i:02}"), "key": format!("w{w}")}))
                        .collect();
                    let Some(meta) =
                        crate::util::produce_acknowledged(&http, &url, TOPIC, &batch).await
                    else {
                        return;
                    };
                    let mut a = acked.lock().expect("lock");
                    for (rec, m) in batch.iter().zip(meta) {
                        a.insert(
                            rec["value"].as_str().unwrap_or_default().to_owned(),
                            (m["partition"].as_i64().unwrap_or(-1), m["offset"].as_i64().unwrap_or(-1)),
                        );
                    }
                }
            }));
        }
        // Kill at a different point each round: after 300 + 200·round acknowledgements.
        let target = before + 300 + 200 * round;
        let started = Instant::now();
        while acked.lock().expect("lock").len() < target
            && started.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proc.child.kill().expect("kill -9");
        let _ = proc.child.wait();
        for t in tasks {
            let _ = t.await;
        }
        let acked_now = acked.lock().expect("lock").clone();
        assert!(
            acked_now.len() >= before + 100,
            "round {round}: too few acknowledged to test"
        );
        let torn = round % 2 == 1;
        if torn {
            for seg in last_segments(dir.path()) {
                tear(&seg);
                torn_injected += 1;
            }
        }

        proc = start(dir.path());
        let mut stored = 0usize;
        let mut by_value: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for p in 0..PARTITIONS {
            let msgs = fetch_all(&http, &proc.url, p).await;
            let mut last: BTreeMap<String, String> = BTreeMap::new();
            for (i, m) in msgs.iter().enumerate() {
                assert_eq!(m["offset"], i as i64, "contiguous offsets in partition {p}");
                let v = m["value"].as_str().unwrap_or_default().to_owned();
                // Per-producer order (same key ⇒ same partition): values increase.
                let producer = v.split('-').nth(1).unwrap_or_default().to_owned();
                if let Some(prev) = last.get(&producer) {
                    assert!(
                        *prev < v,
                        "order of {producer} in partition {p}: {prev} then {v}"
                    );
                }
                last.insert(producer, v.clone());
                by_value.insert(v, (i64::from(p), i as i64));
            }
            stored += msgs.len();
        }
        let missing: Vec<&String> = acked_now
            .iter()
            .filter(|(v, at)| by_value.get(*v) != Some(at))
            .map(|(v, _)| v)
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but not back in place: {missing:?}"
        );
        let warnings = proc
            .stderr
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| l.contains("torn or corrupt segment tail"))
            .count();
        if torn {
            assert!(
                warnings >= PARTITIONS as usize,
                "round {round}: every torn tail truncated"
            );
        }
        torn_recovered += warnings;
        per_round.push(format!(
            "round{round}: acked={} stored_total={stored} unacked_but_stored_total={}",
            acked_now.len() - before,
            stored - acked_now.len()
        ));
    }
    // The log still takes writes, continuing the offsets.
    let resp = http
        .post(format!("{}/produce/{TOPIC}", proc.url))
        .json_body(&json!({"value": "after", "partition": 0}))
        .send()
        .await
        .expect("produce after the last restart");
    assert!(resp.status().is_success());
    proc.child.kill().expect("kill");
    let _ = proc.child.wait();
    let total = acked.lock().expect("lock").len();
    println!(
        "FIGURES crash::repeated_kill_9: kills={ROUNDS} acknowledged={total} lost=0 \
         torn_tails_injected={torn_injected} torn_tails_truncated_on_open={torn_recovered}; {}",
        per_round.join("; ")
    );
}
