//! `upkafka produce` through the fault-injecting proxy: nothing is lost silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use upkafka_server::{Credentials, ServerConfig, TopicSpec};

use crate::common::{ServeProcess, TestServer, client, spawn_serve};
use crate::proxy::{Fault, Proxy};
use crate::util::{PASSWORD, USER, basic_token, lines, read_topic, run, upkafka};

async fn server(topic: &str, partitions: i32) -> TestServer {
    TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new(topic, partitions)],
        credentials: Some(Credentials::new(USER, PASSWORD)),
        ..ServerConfig::default()
    })
    .await
}

fn produce_cmd(url: &str, topic: &str, extra: &[&str], tail: &[&str]) -> std::process::Command {
    let mut cmd = upkafka();
    cmd.env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD)
        .args(["produce", topic])
        .args(["--url", url, "--timeout", "1s"])
        .args(extra)
        .args(tail);
    cmd
}

/// Every kind of fault, interleaved with successes; never more than a few in a row, so every
/// batch gets through within `--retries 5`. Each line must be stored exactly once: the
/// batches whose answer was lost after the server stored them are retried with the same
/// `Idempotency-Key`, which the server answers with the first answer (issue 16; before, each
/// was stored again). A 429's `Retry-After` must be waited for. Run with `-vv`: no secret in
/// any output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_is_stored_through_every_kind_of_fault() {
    const N: usize = 2000;
    let server = server("pf", 3).await;
    let cycle = [
        Fault::Pass,
        Fault::Status(500),
        Fault::Pass,
        Fault::Status(503),
        Fault::ResetBefore,
        Fault::Pass,
        Fault::ResetAfter,
        Fault::Pass,
        Fault::TruncateAfter,
        Fault::Pass,
        Fault::Status(502),
        Fault::ResetAfter,
        Fault::Pass,
    ];
    let proxy = Proxy::start(
        server.addr,
        Box::new(move |i, _line| match i {
            7 | 29 => Fault::TooMany {
                retry_after_secs: 1,
            },
            15 => Fault::StallAfter(Duration::from_secs(3)),
            37 => Fault::StallBefore(Duration::from_secs(3)),
            _ => cycle[i % cycle.len()],
        }),
    )
    .await;
    let (values, input) = lines("pf", N);
    let out = run(
        produce_cmd(
            &proxy.url,
            "pf",
            &["-vv", "--retries", "5"],
            &["--batch-size", "50"],
        ),
        input,
        Duration::from_secs(90),
    )
    .await;
    out.expect_code(0);
    assert!(
        out.stderr.contains(&format!("produced {N} messages")),
        "{}",
        out.stderr
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(PASSWORD), "password in output");
        assert!(!text.contains(&basic_token()), "auth token in output");
    }

    let (counts, _) = read_topic(&server, "pf", 3).await;
    let lost: Vec<&String> = values.iter().filter(|v| !counts.contains_key(*v)).collect();
    assert!(
        lost.is_empty(),
        "lost {} lines, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(counts.len(), N, "nothing but the input was stored");
    let stored: usize = counts.values().sum();
    let duplicates = stored - N;

    let seen = proxy.seen();
    let (requests, injected) = proxy.tally();
    // The answer was lost after the server stored the batch: without keys, these made
    // duplicates.
    let unanswered: usize = seen
        .iter()
        .filter(|s| s.fault.forwarded() && s.fault != Fault::Pass)
        .map(|s| s.records)
        .sum();
    assert!(unanswered > 0, "the script must lose some answers");
    assert_eq!(
        duplicates, 0,
        "batches stored but not acknowledged are not stored again by their retries"
    );
    for (k, s) in seen.iter().enumerate() {
        if matches!(s.fault, Fault::TooMany { .. }) {
            let next = seen.get(k + 1).expect("a retry after the 429");
            let gap = next.at - s.at;
            assert!(
                gap >= Duration::from_millis(950),
                "Retry-After: 1 honoured, waited {gap:?}"
            );
        }
    }
    println!(
        "FIGURES produce_faults::every_line: lines={N} batch=50 requests={requests} injected={injected:?} \
         stored={stored} lost=0 duplicates={duplicates} (records of forwarded-but-unanswered requests: {unanswered}, in {} requests)",
        seen.iter()
            .filter(|s| s.fault.forwarded() && s.fault != Fault::Pass)
            .count()
    );
}

/// Line numbers named in a produce error: `<stdin>:A-B (…)` and `<stdin>:A (…)` spans.
fn named_lines(stderr: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in stderr.split("<stdin>:").skip(1) {
        let span = part.split_whitespace().next().unwrap_or_default();
        let (a, b) = span.split_once('-').unwrap_or((span, span));
        let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else {
            continue;
        };
        out.extend(a..=b);
    }
    out
}

/// The server is reachable for three batches, then every request fails for good: refused
/// (503, nothing stored) or with its answer lost after the server stored it (reset). Either
/// way the command exits 1 and accounts for every input line: acknowledged (and stored
/// exactly once), named as not acknowledged (stored or not), or after the last named line
/// and never read (and not stored). Nothing is lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_lines_are_named_and_exit_non_zero() {
    for (label, fault) in [
        ("http_503", Fault::Status(503)),
        ("reset_after_forward", Fault::ResetAfter),
    ] {
        let topic = "pu";
        let server = server(topic, 1).await;
        let proxy = Proxy::start(
            server.addr,
            Box::new(move |i, _| if i < 3 { Fault::Pass } else { fault }),
        )
        .await;
        let (values, input) = lines("pu", 100);
        let out = run(
            produce_cmd(
                &proxy.url,
                topic,
                &["--retries", "2"],
                &["--batch-size", "10"],
            ),
            input,
            Duration::from_secs(30),
        )
        .await;
        out.expect_code(1);
        assert!(
            out.stderr.contains("30 messages were acknowledged"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("not acknowledged (maybe not stored; resending may duplicate): <stdin>:31-40 (10 messages)"),
            "{}",
            out.stderr
        );
        let named = named_lines(&out.stderr);
        let last_named = named.iter().copied().max().unwrap_or(0);
        let (counts, _) = read_topic(&server, topic, 1).await;
        let mut stored_unacked = 0;
        for (i, v) in values.iter().enumerate() {
            let line = i + 1;
            let n = counts.get(v).copied().unwrap_or(0);
            if line <= 30 {
                assert_eq!(n, 1, "acknowledged line {line} stored once");
            } else if named.contains(&line) {
                // Its retries carried its key: stored once at most, never per attempt.
                assert!(n <= 1, "line {line} stored {n} times");
                stored_unacked += n;
            } else {
                assert!(
                    line > last_named,
                    "line {line} neither acknowledged nor named: {}",
                    out.stderr
                );
                assert_eq!(n, 0, "unread line {line} not stored");
            }
        }
        if fault == Fault::ResetAfter {
            assert!(
                stored_unacked > 0,
                "lost answers: the server stored what it could not acknowledge"
            );
        } else {
            assert_eq!(stored_unacked, 0);
        }
        let (requests, injected) = proxy.tally();
        println!(
            "FIGURES produce_faults::undeliverable[{label}]: lines=100 requests={requests} injected={injected:?} \
             acknowledged=30 named_not_acknowledged={} of_which_stored_anyway={stored_unacked} unread={} silent_loss=0",
            named.len(),
            100 - last_named
        );
    }
}

/// `upkafka serve --data-dir` with credentials, for the kill test.
fn durable_server(dir: &std::path::Path, topic: &str) -> ServeProcess {
    let mut cmd = upkafka();
    cmd.env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(["--topic", &format!("{topic}:3"), "--data-dir"])
        .arg(dir);
    spawn_serve(cmd)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a server address")
}

/// Every record of `topic` (3 partitions) on the server at `url`: value → copies.
async fn stored_values(url: &str, topic: &str) -> BTreeMap<String, usize> {
    let http = client();
    let mut counts = BTreeMap::new();
    for p in 0..3 {
        let batch = crate::util::read_partition(
            || {
                http.post(format!("{url}/fetch"))
                    .basic_auth(USER, Some(PASSWORD))
            },
            topic,
            p,
        )
        .await;
        for m in batch {
            let v = m["value"].as_str().unwrap_or_default().to_owned();
            *counts.entry(v).or_insert(0) += 1;
        }
    }
    counts
}

/// `kill -9` of the server after it stored a batch and before its answer reached the client
/// (the proxy holds the answer, kills the server, starts it again on the same data directory,
/// then resets the client's connection), every third request. The retry carries the batch's
/// `Idempotency-Key`; the restarted server rebuilt its keys from the log and answers the
/// first answer: every line stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_between_the_store_and_the_answer_duplicates_nothing() {
    const N: usize = 600;
    let topic = "pk";
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Arc::new(Mutex::new(durable_server(dir.path(), topic)));
    let first = addr_of(&server.lock().expect("lock").url);
    let proxy = Proxy::start(
        first,
        Box::new(|i, _| {
            if i % 3 == 1 {
                Fault::KillAfter
            } else {
                Fault::Pass
            }
        }),
    )
    .await;
    let (held, path) = (Arc::clone(&server), dir.path().to_owned());
    proxy.on_kill(Box::new(move || {
        let mut s = held.lock().expect("lock");
        s.child.kill().expect("kill -9");
        let _ = s.child.wait();
        *s = durable_server(&path, topic);
        addr_of(&s.url)
    }));
    let (values, input) = lines(topic, N);
    let out = run(
        produce_cmd(
            &proxy.url,
            topic,
            &["--retries", "5"],
            &["--batch-size", "50"],
        ),
        input,
        Duration::from_secs(90),
    )
    .await;
    out.expect_code(0);
    let url = server.lock().expect("lock").url.clone();
    let counts = stored_values(&url, topic).await;
    let lost = values.iter().filter(|v| !counts.contains_key(*v)).count();
    assert_eq!(lost, 0, "every line stored");
    assert_eq!(counts.len(), N, "nothing but the input was stored");
    let stored: usize = counts.values().sum();
    let (requests, injected) = proxy.tally();
    let kills = injected.get("kill_9_after_forward").copied().unwrap_or(0);
    assert!(kills >= 3, "the script must kill the server: {injected:?}");
    assert_eq!(stored - N, 0, "no batch stored twice across a kill -9");
    println!(
        "FIGURES produce_faults::kill_9_between_store_and_answer: lines={N} batch=50 requests={requests} \
         kills={kills} stored={stored} lost=0 duplicates={}",
        stored - N
    );
}
