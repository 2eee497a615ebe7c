//! File descriptors (issue 20, item 4): `upkafka serve --data-dir` with `RLIMIT_NOFILE` 1024
//! (set by `prlimit` before the binary starts) and 5,000 partitions: a 4,000-partition topic at
//! start plus auto-created topics up to `--max-partitions` 5,000.
//!
//! Checked: every produce is answered 200, or 429 naming the partition cap, or 503 naming the
//! exhausted resource, never anything else; keep-alive clients doing `GET /topics` and produce
//! are served all along; the server never holds much more than `--max-open-files` segment
//! files; with idle connections taking every descriptor of the process, produces are 200 or a
//! named 503 and produce works again once they are gone; a `kill -9` and a restart under the
//! same limit bring back every acknowledged record at its offset.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{JsonBody, JsonResponse, ServeProcess, client, spawn_serve};

const NOFILE: u32 = 1024;
const WIDE: i32 = 4000;
const MAX_PARTITIONS: usize = 5000;
/// Topics auto-created before the flood (of the 1,000 that fit under the cap)...
const NEW_TOPICS: usize = 950;
/// ...during it (while the server is out of descriptors)...
const FLOOD_TOPICS: usize = 30;
/// ...and tried after it: the first 20 fit, the rest get 429.
const LATE_TOPICS: usize = 120;
const BYSTANDERS: usize = 10;

/// `upkafka serve` under `prlimit --nofile=1024:1024`, environment cleaned like
/// [`crate::util::upkafka`].
fn start(dir: &std::path::Path, extra: &[&str]) -> ServeProcess {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={NOFILE}:{NOFILE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_upkafka"));
    for (k, _) in std::env::vars() {
        if k.starts_with("UPSTASH_") || k.starts_with("UPKAFKA_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("HOME").env("NO_COLOR", "1");
    cmd.args(["serve", "--no-auth", "--bind", "127.0.0.1:0"])
        .args(["--auto-create-topics", "--topic", &format!("wide:{WIDE}")])
        .args(["--max-partitions", &MAX_PARTITIONS.to_string()])
        .args(["--max-topics", "2000", "--data-dir"])
        .arg(dir)
        .args(extra);
    spawn_serve(cmd)
}

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Produce answers of one phase or client: 200, 429 at the cap, 503 naming a resource.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ok: usize,
    cap_429: usize,
    named_503: usize,
}

impl Counts {
    fn add(&mut self, status: u16) {
        match status {
            200 => self.ok += 1,
            429 => self.cap_429 += 1,
            503 => self.named_503 += 1,
            _ => {}
        }
    }

    fn merge(&mut self, other: Counts) {
        self.ok += other.ok;
        self.cap_429 += other.cap_429;
        self.named_503 += other.named_503;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "200×{} 429×{} 503×{}",
            self.ok, self.cap_429, self.named_503
        )
    }
}

/// Every produce answer: what was acknowledged, and anything that was not a proper answer.
#[derive(Debug, Default)]
struct Answers {
    /// Anything else: status and body (must stay empty).
    other: Vec<String>,
    /// The text of the first 503, to show.
    first_503: Option<String>,
    /// Values answered 503: none may be stored.
    refused: Vec<String>,
    /// value → (topic, partition, offset) of every acknowledged record.
    acked: BTreeMap<String, (String, i64, i64)>,
}

/// Reads an answer to the end: its status and JSON body, or why there is none.
async fn answer(resp: reqwest::Result<reqwest::Response>) -> Result<(u16, Value), String> {
    let resp = resp.map_err(|e| format!("no answer: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .json_value()
        .await
        .map_err(|e| format!("{status} {e}"))?;
    Ok((status, body))
}

impl Answers {
    /// Checks one produce answer; returns its status (200, 429 or 503; 0 for anything else,
    /// which is kept in `other`).
    fn record(&mut self, value: &str, answer: Result<(u16, Value), String>) -> u16 {
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                self.other.push(format!("{value}: {e}"));
                return 0;
            }
        };
        let text = body["error"].as_str().unwrap_or_default();
        match status {
            200 => {
                let m = &body[0];
                self.acked.insert(
                    value.to_owned(),
                    (
                        m["topic"].as_str().unwrap_or_default().to_owned(),
                        m["partition"].as_i64().unwrap_or(-1),
                        m["offset"].as_i64().unwrap_or(-1),
                    ),
                );
            }
            429 if text.contains("--max-partitions allows 5000") && body["status"] == 429 => {}
            503 if (text.contains("too many open files")
                || text.contains("no space left on device"))
                && body["status"] == 503 =>
            {
                self.first_503.get_or_insert_with(|| text.to_owned());
                self.refused.push(value.to_owned());
            }
            _ => {
                self.other.push(format!("{value}: {status} {body}"));
                return 0;
            }
        }
        status
    }
}

/// Bystanders: keep-alive clients doing `GET /topics` and a produce in turn until `stop`.
/// Returns (topic listings asked, served, produce answers, slowest answer).
async fn bystander(
    url: String,
    n: usize,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Answers>>,
) -> (usize, usize, Counts, Duration) {
    // One client, one connection, kept alive for the whole test.
    crate::common::install_crypto();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let (mut total, mut ok, mut produced, mut slowest) =
        (0usize, 0usize, Counts::default(), Duration::ZERO);
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let topics = http.get(format!("{url}/topics")).send().await;
        let served = topics.as_ref().is_ok_and(|r| r.status().is_success());
        total += 1;
        ok += usize::from(served);
        slowest = slowest.max(started.elapsed());
        let value = format!("by{n}-{i:05}");
        let started = Instant::now();
        let resp = http
            .post(format!("{url}/produce/wide"))
            .json_body(&json!({"partition": n, "value": value}))
            .send()
            .await;
        let answered = answer(resp).await;
        slowest = slowest.max(started.elapsed());
        produced.add(answers.lock().expect("lock").record(&value, answered));
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (total, ok, produced, slowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_partitions_under_1024_descriptors_answer_200_429_or_named_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let proc = start(dir.path(), &[]);
    let boot = started.elapsed();
    let pid = proc.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(&format!(" {NOFILE} "))),
        "the server runs with RLIMIT_NOFILE {NOFILE}:\n{limits}"
    );
    let url = proc.url.clone();
    let answers: Arc<Mutex<Answers>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let bystanders: Vec<_> = (0..BYSTANDERS)
        .map(|n| {
            tokio::spawn(bystander(
                url.clone(),
                n,
                Arc::clone(&stop),
                Arc::clone(&answers),
            ))
        })
        .collect();
    let max_fds = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, max_fds) = (Arc::clone(&stop), Arc::clone(&max_fds));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                max_fds.fetch_max(open_fds(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // Phase 1: a record to every partition of `wide`, and 1,100 new topics, 8 at a time.
    let http = client();
    let work: Vec<(String, Value)> = (0..WIDE)
        .map(|p| {
            let v = format!("w-{p:04}");
            (
                v.clone(),
                json!({"topic": "wide", "partition": p, "value": v}),
            )
        })
        .chain((0..NEW_TOPICS).map(|t| {
            let v = format!("n-{t:04}");
            (v.clone(), json!({"topic": format!("n{t:04}"), "value": v}))
        }))
        .collect();
    let work = Arc::new(Mutex::new(work.into_iter()));
    let phase1 = Instant::now();
    let mut producers = Vec::new();
    for _ in 0..8 {
        let (http, url, work, answers) = (
            http.clone(),
            url.clone(),
            Arc::clone(&work),
            Arc::clone(&answers),
        );
        producers.push(tokio::spawn(async move {
            let mut counts = Counts::default();
            loop {
                let next = work.lock().expect("lock").next();
                let Some((value, rec)) = next else {
                    return counts;
                };
                let resp = http
                    .post(format!("{url}/produce"))
                    .json_body(&json!([rec]))
                    .send()
                    .await;
                let answered = answer(resp).await;
                counts.add(answers.lock().expect("lock").record(&value, answered));
            }
        }));
    }
    let mut phase1_counts = Counts::default();
    for p in producers {
        phase1_counts.merge(p.await.expect("producer"));
    }
    let phase1 = phase1.elapsed();
    let fds_phase1 = max_fds.load(Ordering::Relaxed);

    // Phase 2: idle connections take every descriptor the server has left; produces to
    // partitions whose files are closed need a new one meanwhile.
    // In small steps, so that the accept queue never overflows: the server accepts them
    // until the process is out of descriptors (the rest wait in the queue).
    let mut idle = Vec::new();
    let mut fds_flooded = 0;
    let flood_started = Instant::now();
    while fds_flooded < NOFILE as usize - 2 && flood_started.elapsed() < Duration::from_secs(5) {
        for _ in 0..32 {
            match tokio::net::TcpStream::connect(proc.url.trim_start_matches("http://")).await {
                Ok(s) => idle.push(s),
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        fds_flooded = fds_flooded.max(open_fds(pid));
    }
    let produce = |topic: String, partition: Option<i32>, value: String| {
        let (http, url, answers) = (http.clone(), url.clone(), Arc::clone(&answers));
        async move {
            let mut rec = json!({"topic": topic, "value": value});
            if let Some(p) = partition {
                rec["partition"] = json!(p);
            }
            let resp = http
                .post(format!("{url}/produce"))
                .json_body(&json!([rec]))
                .send()
                .await;
            let answered = answer(resp).await;
            answers.lock().expect("lock").record(&value, answered)
        }
    };
    // Writes to partitions whose files the cache has closed (they need a descriptor), and new
    // topics (directories, files, topics.json: several descriptors each).
    let pressure = Instant::now();
    let mut flood_counts = Counts::default();
    let mut refused_topics = Vec::new();
    for (i, p) in (0..WIDE).step_by(7).take(300).enumerate() {
        let status = produce("wide".into(), Some(p), format!("f-{p:04}")).await;
        flood_counts.add(status);
        if i % 10 == 0 {
            let topic = format!("f{:03}", i / 10);
            let status = produce(topic.clone(), None, format!("{topic}-0")).await;
            flood_counts.add(status);
            if status == 503 {
                refused_topics.push(topic);
            }
        }
    }
    let pressure = pressure.elapsed();
    let idle_connections = idle.len();
    drop(idle);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Once the descriptors are back, produce works again: on the same partitions, and for
    // the topics refused with 503.
    let mut after = Counts::default();
    for p in (0..WIDE).step_by(7).take(50) {
        after.add(produce("wide".into(), Some(p), format!("a-{p:04}")).await);
    }
    for topic in &refused_topics {
        after.add(produce(topic.clone(), None, format!("{topic}-1")).await);
    }
    assert_eq!(
        after.ok,
        50 + refused_topics.len(),
        "produce works again once the idle connections are gone"
    );
    // The partition cap holds to the last one: 20 more topics fit, then 429.
    let mut late = Counts::default();
    for t in 0..LATE_TOPICS {
        late.add(produce(format!("g{t:03}"), None, format!("g{t:03}-0")).await);
    }
    assert_eq!(
        (late.ok, late.cap_429),
        (
            MAX_PARTITIONS - WIDE as usize - NEW_TOPICS - FLOOD_TOPICS,
            LATE_TOPICS + NEW_TOPICS + FLOOD_TOPICS + WIDE as usize - MAX_PARTITIONS
        ),
        "new topics fit up to --max-partitions, then 429"
    );

    stop.store(true, Ordering::Relaxed);
    let (mut by_total, mut by_ok, mut by_produced, mut by_slowest) =
        (0, 0, Counts::default(), Duration::ZERO);
    for b in bystanders {
        let (t, o, p, s) = b.await.expect("bystander");
        by_total += t;
        by_ok += o;
        by_produced.merge(p);
        by_slowest = by_slowest.max(s);
    }
    let _ = sampler.await;

    let (acked, other, first_503, refused) = {
        let a = answers.lock().expect("lock");
        (
            a.acked.clone(),
            a.other.clone(),
            a.first_503.clone(),
            a.refused.clone(),
        )
    };
    assert!(
        other.is_empty(),
        "answers other than 200/429/named 503: {other:?}"
    );
    assert_eq!(
        (phase1_counts.ok, phase1_counts.cap_429),
        (WIDE as usize + NEW_TOPICS, 0)
    );
    assert!(
        fds_phase1 <= 256 + 64,
        "the server held {fds_phase1} descriptors: 256 files, its connections and a few more"
    );
    assert_eq!(
        by_ok, by_total,
        "every bystander's GET /topics was served ({by_ok} of {by_total})"
    );
    assert_eq!(
        by_produced.cap_429, 0,
        "bystanders produce to an existing topic"
    );

    // Phase 3: kill -9, restart under the same limit: every acknowledged record is back.
    let mut proc = proc;
    proc.child.kill().expect("kill -9");
    let first_stderr = proc.finish();
    let restart = Instant::now();
    let mut proc = start(dir.path(), &[]);
    let restart = restart.elapsed();
    assert!(
        !first_stderr.contains("panicked"),
        "no panic in the server: {first_stderr}"
    );
    let (_, topics) = {
        let r = http
            .get(format!("{}/topics", proc.url))
            .send()
            .await
            .expect("topics");
        (r.status(), r.json_value::<Value>().await.expect("JSON"))
    };
    let partitions: i64 = topics
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_i64).sum());
    assert_eq!(
        partitions, MAX_PARTITIONS as i64,
        "all 5,000 partitions back"
    );
    let mut by_partition: BTreeMap<(String, i64), Vec<(i64, String)>> = BTreeMap::new();
    for (v, (t, p, o)) in &acked {
        by_partition
            .entry((t.clone(), *p))
            .or_default()
            .push((*o, v.clone()));
    }
    let mut lost = Vec::new();
    let mut stored: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for ((topic, p), mut want) in by_partition {
        want.sort();
        let body = json!({"topic": topic, "partition": p, "offset": 0, "timeout": 0});
        let mut got: Vec<Value> = Vec::new();
        loop {
            let mut b = body.clone();
            b["offset"] = json!(got.len());
            let resp = http
                .post(format!("{}/fetch", proc.url))
                .json_body(&b)
                .send()
                .await
                .expect("fetch");
            assert!(
                resp.status().is_success(),
                "fetch {topic}/{p}: {}",
                resp.status()
            );
            let batch: Vec<Value> = resp.json_value().await.expect("fetch JSON");
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        stored.extend(
            got.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned)),
        );
        for (o, v) in want {
            let at = usize::try_from(o).ok().and_then(|o| got.get(o));
            if at.and_then(|m| m["value"].as_str()) != Some(v.as_str()) {
                lost.push(format!("{v} at {topic}/{p}@{o}"));
            }
        }
    }
    assert!(lost.is_empty(), "acknowledged but not back: {lost:?}");
    let stored_refused: Vec<&String> = refused.iter().filter(|v| stored.contains(*v)).collect();
    assert!(
        stored_refused.is_empty(),
        "answered 503 but stored: {stored_refused:?}"
    );
    let fds_restarted = open_fds(proc.child.id());
    let sheds = first_stderr
        .lines()
        .filter(|l| l.contains("closing cached segment files"))
        .count();
    proc.child.kill().expect("kill");
    let _ = proc.child.wait();
    println!(
        "FIGURES descriptors::five_thousand_partitions: RLIMIT_NOFILE={NOFILE} partitions=5000 \
         (wide:{WIDE} at start in {boot:.1?}, + auto-created topics); before the flood {} \
         produces (one per partition, {NEW_TOPICS} new topics) in {phase1:.1?}: \
         {phase1_counts} other×0, server fds max {fds_phase1}; flood: {} idle connections, \
         server fds {fds_flooded}, 300 produces to closed files + {FLOOD_TOPICS} new topics in \
         {pressure:.1?}: {flood_counts} other×0, cache sheds on EMFILE {sheds}; after the \
         flood: {after} ({} retried topics); {LATE_TOPICS} late new topics: {late}; \
         bystanders {BYSTANDERS} keep-alive: GET /topics {by_ok}/{by_total} served, produces \
         {by_produced}, slowest answer {by_slowest:.0?}; kill -9 + restart in \
         {restart:.1?}: {} acknowledged, lost 0, server fds after restart {fds_restarted}; \
         first 503: {first_503:?}",
        WIDE as usize + NEW_TOPICS,
        idle_connections,
        refused_topics.len(),
        acked.len()
    );
}
