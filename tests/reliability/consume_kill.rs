//! `upkafka consume` is at-least-once across a SIGKILL: every message is printed by the killed
//! run or the next one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upkafka_server::{ServerConfig, TopicSpec};

use crate::common::{JsonBody, TestServer, client};
use crate::util::{run, upkafka};

const TOPIC: &str = "ck";
const PARTITIONS: i32 = 2;

async fn produce_all(server: &TestServer, n: usize) -> Vec<String> {
    let http = client();
    let pad = "x".repeat(200);
    let values: Vec<String> = (1..=n).map(|i| format!("ck-{i:06}-{pad}")).collect();
    for chunk in values.chunks(250) {
        let batch: Vec<Value> = chunk.iter().map(|v| json!({"value": v})).collect();
        let resp = server
            .request(&http, reqwest::Method::POST, &format!("/produce/{TOPIC}"))
            .json_body(&json!(batch))
            .send()
            .await
            .expect("produce");
        assert!(resp.status().is_success());
    }
    values
}

fn consume_cmd(url: &str, instance: &str, exit_on_empty: bool) -> std::process::Command {
    let mut cmd = upkafka();
    cmd.args(["consume", TOPIC, "--url", url, "--retries", "0"])
        .args(["-g", "ck-group", "-i", instance, "--from", "earliest"])
        .args(["--poll-timeout", "300ms"]);
    if exit_on_empty {
        cmd.arg("-e");
    }
    cmd
}

/// Run 1 is killed with SIGKILL while it is blocked writing a poll's messages to a full stdout
/// pipe (the test stops reading after `read_before_kill` lines). Run 2, same group and
/// instance name, prints the rest and exits on an empty poll. Returns how often each value
/// was printed (complete lines only) and the lines each run printed.
async fn kill_and_restart(
    server: &TestServer,
    instance: &str,
    read_before_kill: usize,
) -> (BTreeMap<String, usize>, usize, usize) {
    let url = server.url.clone();
    let inst = instance.to_owned();
    let first: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut child = consume_cmd(&url, &inst, false)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start consume");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut printed = Vec::new();
        let started = Instant::now();
        let mut line = String::new();
        while printed.len() < read_before_kill {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "consume too slow"
            );
            line.clear();
            if out.read_line(&mut line).expect("read") == 0 {
                break;
            }
            printed.push(line.trim_end().to_owned());
        }
        // Stop reading: the consumer fills the pipe and blocks mid-batch. Then kill -9.
        std::thread::sleep(Duration::from_millis(400));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // What reached the pipe was printed; a torn last line was not.
        let mut rest = String::new();
        let _ = out.read_to_string(&mut rest);
        let complete = rest.ends_with('\n');
        let mut tail: Vec<&str> = rest.lines().collect();
        if !complete {
            tail.pop();
        }
        printed.extend(tail.iter().map(|s| (*s).to_owned()));
        printed
    })
    .await
    .expect("run 1");

    let second = run(
        consume_cmd(&server.url, instance, true),
        Vec::new(),
        Duration::from_secs(30),
    )
    .await;
    second.expect_code(0);
    let mut counts = BTreeMap::new();
    for v in first
        .iter()
        .map(String::as_str)
        .chain(second.stdout.lines())
    {
        *counts.entry(v.to_owned()).or_insert(0) += 1;
    }
    (counts, first.len(), second.stdout.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_consumer_restarted_loses_nothing() {
    const N: usize = 3000;
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new(TOPIC, PARTITIONS)],
        ..ServerConfig::default()
    })
    .await;
    let values = produce_all(&server, N).await;
    let (counts, first, second) = kill_and_restart(&server, "ck-1", 700).await;
    let lost: Vec<&String> = values.iter().filter(|v| !counts.contains_key(*v)).collect();
    assert!(
        lost.is_empty(),
        "{} messages printed by neither run (run 1 printed {first}, run 2 {second}); first: {:?}",
        lost.len(),
        lost.first().map(|s| &s[..9])
    );
    assert_eq!(counts.len(), N, "nothing else printed");
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    assert_eq!(first + second, N + duplicates);
    println!(
        "FIGURES consume_kill: messages={N} partitions={PARTITIONS} run1_printed={first} (SIGKILL while \
         blocked on stdout) run2_printed={second} lost=0 duplicates={duplicates}"
    );
}

/// `upkafka consume` through the fault proxy: polls whose answer is lost after the server
/// moved the instance on (reset, truncated body), refused polls (503), and commits whose
/// answer is lost. Every message is printed at least once. A lost poll answer was never
/// printed, and the CLI recreates the instance at the committed offsets to read it again;
/// a lost commit answer is retried (commits are idempotent): neither prints anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_through_faults_prints_every_message() {
    use crate::proxy::{Fault, Proxy};
    const N: usize = 1000;
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new(TOPIC, PARTITIONS)],
        limits: upkafka_server::Limits {
            max_poll_records: 40,
            ..upkafka_server::Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let values = produce_all(&server, N).await;
    let counters = std::sync::Arc::new(std::sync::Mutex::new((0usize, 0usize)));
    let c = std::sync::Arc::clone(&counters);
    let proxy = Proxy::start(
        server.addr,
        Box::new(move |_, line| {
            let mut c = c.lock().expect("lock");
            if line.starts_with("POST /consume/") {
                c.0 += 1;
                match c.0 % 8 {
                    3 => Fault::ResetAfter,
                    5 => Fault::Status(503),
                    7 => Fault::TruncateAfter,
                    _ => Fault::Pass,
                }
            } else if line.starts_with("POST /commit/") {
                c.1 += 1;
                if c.1 % 4 == 2 {
                    Fault::ResetAfter
                } else {
                    Fault::Pass
                }
            } else {
                Fault::Pass
            }
        }),
    )
    .await;
    let mut cmd = upkafka();
    cmd.args(["consume", TOPIC, "--url", &proxy.url, "--timeout", "2s"])
        .args(["-g", "cf-group", "-i", "cf", "--from", "earliest", "-e"])
        .args(["--poll-timeout", "200ms"]);
    let out = run(cmd, Vec::new(), Duration::from_secs(60)).await;
    out.expect_code(0);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in out.stdout.lines() {
        *counts.entry(l).or_insert(0) += 1;
    }
    let lost = values
        .iter()
        .filter(|v| !counts.contains_key(v.as_str()))
        .count();
    assert_eq!(lost, 0, "printed by no poll; stderr:\n{}", out.stderr);
    assert_eq!(counts.len(), N);
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let recreated = out
        .stderr
        .matches("recreating the consumer instance")
        .count();
    assert!(recreated > 0, "the script must fail some polls");
    let (requests, injected) = proxy.tally();
    println!(
        "FIGURES consume_faults: messages={N} requests={requests} injected={injected:?} \
         instance_recreated={recreated} printed={} lost=0 duplicates={duplicates}",
        out.stdout.lines().count()
    );
}
