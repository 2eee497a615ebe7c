//! `kill -9` of `upkafka serve --data-dir` while it compacts a topic under load (issue 15):
//! tiny segments keep the cleaner busy, producers overwrite a few keys all along, and after
//! every restart each key's latest acknowledged value must still be there, at its offset (or
//! a later value of the key, stored but not acknowledged before the kill).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ServeProcess, client, spawn_serve};
use crate::util::upkafka;

const TOPIC: &str = "kv";
const PARTITIONS: i32 = 2;
const KEYS: usize = 40;

fn start(dir: &Path) -> ServeProcess {
    let mut cmd = upkafka();
    cmd.args(["serve", "--no-auth", "--bind", "127.0.0.1:0", "--topic"])
        .arg(format!(
            "{TOPIC}:{PARTITIONS},cleanup.policy=compact,segment.bytes=4096,segment.ms=100"
        ))
        .arg("--data-dir")
        .arg(dir);
    spawn_serve(cmd)
}

/// Every record of a partition, following the offsets (a compacted log has gaps).
async fn fetch_all(http: &reqwest::Client, url: &str, partition: i32) -> Vec<Value> {
    crate::util::read_partition(|| http.post(format!("{url}/fetch")), TOPIC, partition).await
}

/// key → (partition, offset, value) of its latest acknowledged record.
type Latest = BTreeMap<String, (i64, i64, String)>;

fn value_of(key: &str, w: usize, b: usize, i: usize) -> String {
    format!("{key}|w{w}|b{b:06}|{i}|{}", "p".repeat(80))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_keys_latest_acknowledged_value_survives_kill_9_during_compaction() {
    // Different points of the cleaner's work each round (ms after the restart).
    const KILL_AFTER_MS: [u64; 6] = [900, 1400, 600, 1900, 1100, 1600];
    let dir = tempfile::tempdir().expect("tempdir");
    let http = client();
    let latest: Arc<Mutex<Latest>> = Arc::default();
    let acked_total = Arc::new(Mutex::new(0usize));
    let mut proc = start(dir.path());
    let mut rounds = Vec::new();
    let (mut before_swap, mut after_swap) = (0usize, 0usize);
    for (round, kill_after) in KILL_AFTER_MS.iter().enumerate() {
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (http, url) = (http.clone(), proc.url.clone());
            let (latest, acked_total) = (Arc::clone(&latest), Arc::clone(&acked_total));
            tasks.push(tokio::spawn(async move {
                for b in (round * 1_000_000)..usize::MAX {
                    let batch: Vec<Value> = (0..10)
                        .map(|i| {
                            let key = format!("k{:02}", (w * 7 + b * 3 + i) % KEYS);
                            json!({"key": key, "value": value_of(&key, w, b, i)})
                        })
                        .collect();
                    let Some(meta) =
                        crate::util::produce_acknowledged(&http, &url, TOPIC, &batch).await
                    else {
                        return;
                    };
                    let mut l = latest.lock().expect("lock");
                    for (rec, m) in batch.iter().zip(meta) {
                        let at = (
                            m["partition"].as_i64().expect("partition"),
                            m["offset"].as_i64().expect("offset"),
                        );
                        let key = rec["key"].as_str().expect("key").to_owned();
                        let value = rec["value"].as_str().expect("value").to_owned();
                        let newer = l.get(&key).is_none_or(|(_, o, _)| at.1 > *o);
                        if newer {
                            l.insert(key, (at.0, at.1, value));
                        }
                    }
                    *acked_total.lock().expect("lock") += batch.len();
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(*kill_after)).await;
        proc.child.kill().expect("kill -9");
        let _ = proc.child.wait();
        for t in tasks {
            let _ = t.await;
        }
        let expected = latest.lock().expect("lock").clone();
        assert_eq!(expected.len(), KEYS, "round {round}: every key was written");

        proc = start(dir.path());
        let mut stored = 0usize;
        let mut found: Latest = BTreeMap::new();
        for p in 0..PARTITIONS {
            let msgs = fetch_all(&http, &proc.url, p).await;
            let offsets: Vec<i64> = msgs
                .iter()
                .map(|m| m["offset"].as_i64().unwrap_or(-1))
                .collect();
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "round {round}: offsets of partition {p} increase"
            );
            for m in &msgs {
                let key = m["key"].as_str().unwrap_or_default().to_owned();
                let value = m["value"].as_str().unwrap_or_default().to_owned();
                assert!(
                    value.starts_with(&format!("{key}|")),
                    "round {round}: a record of {key} holds {value}"
                );
                found.insert(
                    key,
                    (i64::from(p), m["offset"].as_i64().unwrap_or(-1), value),
                );
            }
            stored += msgs.len();
        }
        for (key, (p, offset, value)) in &expected {
            let got = found.get(key);
            let kept = got.is_some_and(|(gp, go, gv)| {
                gp == p && (go > offset || (go == offset && gv == value))
            });
            assert!(
                kept,
                "round {round}: {key}'s latest acknowledged value ({p}/{offset}: {value}) is \
                 gone; the log has {got:?}"
            );
        }
        let stderr = proc.stderr.lock().expect("lock").clone();
        let count = |what: &str| stderr.iter().filter(|l| l.contains(what)).count();
        before_swap += count("interrupted before its swap");
        after_swap += count("interrupted after its swap");
        let acked = *acked_total.lock().expect("lock");
        rounds.push(format!(
            "round{round}: acked_total={acked} stored_now={stored}"
        ));
    }
    proc.child.kill().expect("kill");
    let _ = proc.child.wait();
    let acked = *acked_total.lock().expect("lock");
    println!(
        "FIGURES compaction_crash: kills={} acknowledged={acked} keys={KEYS} lost=0 \
         compactions_interrupted_before_swap={before_swap} after_swap={after_swap}; {}",
        KILL_AFTER_MS.len(),
        rounds.join("; ")
    );
}
