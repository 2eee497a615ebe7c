//! `upkafka produce` through the fault-injecting proxy: nothing is lost silently.

use std::time::Duration;

use upkafka::server::{Credentials, ServerConfig, TopicSpec};

use crate::common::TestServer;
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
        .args(["--url", url, "--timeout", "1s"])
        .args(extra)
        .args(["produce", topic])
        .args(tail);
    cmd
}

/// Every kind of fault, interleaved with successes; never more than a few in a row, so every
/// batch gets through within `--retries 5`. Each line must be stored at least once, the
/// duplicates must be exactly the batches whose answer was lost after the server stored them,
/// and a 429's `Retry-After` must be waited for. Run with `-vv`: no secret in any output.
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
    // The answer was lost after the server stored the batch: exactly these make duplicates.
    let expected_dups: usize = seen
        .iter()
        .filter(|s| s.fault.forwarded() && s.fault != Fault::Pass)
        .map(|s| s.records)
        .sum();
    assert_eq!(
        duplicates, expected_dups,
        "duplicates = batches stored but not acknowledged"
    );
    assert!(duplicates > 0, "the script must lose some answers");
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
         stored={stored} lost=0 duplicates={duplicates} (= records of {} forwarded-but-unanswered requests)",
        seen.iter()
            .filter(|s| s.fault.forwarded() && s.fault != Fault::Pass)
            .count()
    );
}

/// The server is reachable for three batches, then answers 503 for good. The command exits
/// non-zero and names exactly the lines it could not deliver; the stored lines are exactly the
/// acknowledged ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_lines_are_named_and_exit_non_zero() {
    let server = server("pu", 1).await;
    let proxy = Proxy::start(
        server.addr,
        Box::new(|i, _| {
            if i < 3 {
                Fault::Pass
            } else {
                Fault::Status(503)
            }
        }),
    )
    .await;
    let (values, input) = lines("pu", 100);
    let out = run(
        produce_cmd(
            &proxy.url,
            "pu",
            &["--retries", "2"],
            &["--batch-size", "10"],
        ),
        input,
        Duration::from_secs(30),
    )
    .await;
    println!("{}", out.stderr);
    out.expect_code(1);
    let (counts, _) = read_topic(&server, "pu", 1).await;
    let stored: Vec<&String> = values.iter().filter(|v| counts.contains_key(*v)).collect();
    assert_eq!(stored, values[..30].iter().collect::<Vec<_>>());
    assert!(
        out.stderr.contains("30 messages were acknowledged"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("<stdin>:31-40 (10 messages)"),
        "{}",
        out.stderr
    );
    let (requests, injected) = proxy.tally();
    println!(
        "FIGURES produce_faults::undeliverable: lines=100 requests={requests} injected={injected:?} \
         stored=30 reported_not_delivered=31-40 then_unread=41-100 silent_loss=0"
    );
}
