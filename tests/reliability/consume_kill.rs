//! `upkafka consume` is at-least-once across a SIGKILL: every message is printed by the killed
//! run or the next one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upkafka::server::{ServerConfig, TopicSpec};

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
    cmd.args(["--url", url, "--retries", "0", "consume", TOPIC])
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
