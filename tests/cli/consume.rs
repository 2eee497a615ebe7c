//! `upkafka consume`: commit after write (last offset + 1), -c, -e, -f, --json, cleanup.

use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{against, message, success};

fn poll(answer: serde_json::Value, times: u64) -> Mock {
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .up_to_n_times(times)
}

fn commit(body: serde_json::Value) -> Mock {
    Mock::given(method("POST"))
        .and(path("/commit/g/i"))
        .and(body_json(body))
        .respond_with(success())
}

/// `delete-consumer` of `g/i`: each run calls it twice, once for a leftover instance of a
/// killed run before the first poll, and once for its own instance at the end.
fn removal() -> Mock {
    Mock::given(method("POST"))
        .and(path("/delete-consumer/g/i"))
        .respond_with(success())
}

#[tokio::test]
async fn count_stops_after_n_and_commits_only_what_was_written() {
    let server = MockServer::start().await;
    // The first poll must configure the instance: auto-commit off, start at earliest.
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .and(header("Kafka-Enable-Auto-Commit", "false"))
        .and(header("Kafka-Auto-Offset-Reset", "earliest"))
        .and(body_json(json!({"topic": "t", "timeout": 1000})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            message("t", 0, 5, "", "a"),
            message("t", 0, 6, "", "b"),
        ])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    poll(
        json!([message("t", 1, 0, "", "c"), message("t", 0, 7, "", "d")]),
        1,
    )
    .expect(1)
    .mount(&server)
    .await;
    commit(json!([{"topic": "t", "partition": 0, "offset": 7}]))
        .expect(1)
        .mount(&server)
        .await;
    // Only "c" of the second poll is written: partition 1 is committed at 1, partition 0
    // stays at 7 so "d" is delivered again next time.
    commit(json!([{"topic": "t", "partition": 1, "offset": 1}]))
        .expect(1)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    against(&server)
        .args(&[
            "consume", "t", "-g", "g", "-i", "i", "--from", "earliest", "-c", "3",
        ])
        .run()
        .await
        .success()
        .stdout_is("a\nb\nc\n");
}

#[tokio::test]
async fn exit_on_empty_with_a_kcat_format() {
    let server = MockServer::start().await;
    let mut m = message("a", 2, 41, "k", "v");
    m["headers"] = json!([{"key": "h1", "value": "x"}, {"key": "h2", "value": "y"}]);
    poll(json!([m]), 1).expect(1).mount(&server).await;
    poll(json!([]), 1).expect(1).mount(&server).await;
    commit(json!([{"topic": "a", "partition": 2, "offset": 42}]))
        .expect(1)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    against(&server)
        .args(&[
            "consume",
            "a",
            "b",
            "-g",
            "g",
            "-i",
            "i",
            "-e",
            "-f",
            "%t/%p@%o %k=%s [%h] %T %K %S %%\\n",
        ])
        .run()
        .await
        .success()
        .stdout_is("a/2@41 k=v [h1=x,h2=y] 1700000000041 1 1 %\n");
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Envelope {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: String,
    value: String,
    headers: Vec<Header>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Header {
    key: String,
    value: String,
}

#[tokio::test]
async fn json_lines_one_envelope_per_message() {
    let server = MockServer::start().await;
    poll(
        json!([message("t", 0, 0, "k0", "v0"), message("t", 0, 1, "", "v1")]),
        1,
    )
    .mount(&server)
    .await;
    poll(json!([]), 1).mount(&server).await;
    commit(json!([{"topic": "t", "partition": 0, "offset": 2}]))
        .expect(1)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    let out = against(&server)
        .args(&["consume", "t", "-g", "g", "-i", "i", "-e", "--json"])
        .run()
        .await
        .success();
    let lines: Vec<Envelope> = out.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].key, "k0");
    assert_eq!(lines[1].offset, 1);
    assert_eq!(lines[1].timestamp, 1_700_000_000_001);
    assert!(lines[1].headers.is_empty() && lines[1].partition == 0 && lines[1].topic == "t");
    assert_eq!(lines[0].value, "v0");
}

#[tokio::test]
async fn auto_commit_is_opt_in_and_sends_no_commits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .and(header("Kafka-Enable-Auto-Commit", "true"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([message("t", 0, 0, "", "x")])),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    poll(json!([]), 1).mount(&server).await;
    Mock::given(path("/commit/g/i"))
        .respond_with(success())
        .expect(0)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    against(&server)
        .args(&["consume", "t", "-g", "g", "-i", "i", "-e", "--auto-commit"])
        .run()
        .await
        .success()
        .stdout_is("x\n");
}

#[tokio::test]
async fn the_default_instance_is_stable_per_host() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/consume/g/upkafka-[A-Za-z0-9._-]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/delete-consumer/g/upkafka-[A-Za-z0-9._-]+$"))
        .respond_with(success())
        // Each run removes a leftover instance first, then its own at the end.
        .expect(4)
        .mount(&server)
        .await;
    for _ in 0..2 {
        against(&server)
            .args(&["consume", "t", "-g", "g", "-e"])
            .run()
            .await
            .success();
    }
    let reqs = server.received_requests().await.unwrap_or_default();
    let paths: Vec<&str> = reqs
        .iter()
        .filter(|r| r.url.path().starts_with("/consume/"))
        .map(|r| r.url.path())
        .collect();
    assert_eq!(paths[0], paths[1], "same instance on both runs");
}

#[tokio::test]
async fn a_server_error_removes_the_instance_and_exits_1() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "no such topic", "status": 404})),
        )
        .expect(1)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    against(&server)
        .args(&["consume", "nope", "-g", "g", "-i", "i"])
        .run()
        .await
        .code(1)
        .stderr_has(&["server answered 404: no such topic"]);
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_removes_the_instance_and_exits_0() {
    use std::process::{Command, Stdio};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(std::time::Duration::from_millis(200)),
        )
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    let uri = server.uri();
    let status = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_upkafka"))
            .args(["consume", "--url", &uri, "t", "-g", "g", "-i", "i"])
            .env_remove("UPSTASH_KAFKA_REST_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_failed_poll_recreates_the_instance_and_nothing_is_lost() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": "busy", "status": 503})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    poll(json!([message("t", 0, 3, "", "x")]), 1)
        .expect(1)
        .mount(&server)
        .await;
    poll(json!([]), 1).expect(1).mount(&server).await;
    commit(json!([{"topic": "t", "partition": 0, "offset": 4}]))
        .expect(1)
        .mount(&server)
        .await;
    // Once to recreate after the failed poll, once on exit.
    removal().expect(3).mount(&server).await;
    // Even with client retries on, a poll is not retried blindly: the answer may have been
    // lost after the server moved the instance on.
    crate::util::upkafka()
        .env("UPSTASH_KAFKA_REST_URL", &server.uri())
        .args(&["consume", "--retries", "3", "t", "-g", "g", "-i", "i", "-e"])
        .run()
        .await
        .success()
        .stdout_is("x\n")
        .stderr_has(&["poll failed", "recreating the consumer instance"]);
}

#[tokio::test]
async fn a_closed_stdout_ends_quietly_without_committing_unwritten_messages() {
    use std::process::{Command, Stdio};
    let server = MockServer::start().await;
    let many: Vec<serde_json::Value> = (0..2000)
        .map(|o| message("t", 0, o, "", "some value"))
        .collect();
    poll(json!(many), 1).mount(&server).await;
    Mock::given(path("/commit/g/i"))
        .respond_with(success())
        .expect(0)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    let uri = server.uri();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_upkafka"))
            .args(["consume", "--url", &uri, "t", "-g", "g", "-i", "i"])
            .env_remove("UPSTASH_KAFKA_REST_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // like `| head` that has already exited
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[tokio::test]
async fn follow_streams_records_prints_them_as_polls_do_and_commits_what_was_written() {
    let server = MockServer::start().await;
    let events: String = [message("t", 0, 5, "", "a"), message("t", 1, 2, "", "b")]
        .iter()
        .map(|m| {
            format!(
                "id: {}/{}/{}\ndata: {m}\n\n",
                m["topic"].as_str().expect("topic"),
                m["partition"],
                m["offset"]
            )
        })
        .collect();
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .and(header("accept", "text/event-stream"))
        .and(header("Kafka-Enable-Auto-Commit", "false"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!("retry: 10\n\n{events}").into_bytes(),
            "text/event-stream",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/commit/g/i"))
        .respond_with(success())
        .expect(1..=2)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    against(&server)
        .args(&["consume", "t", "-g", "g", "-i", "i", "--follow", "-c", "2"])
        .run()
        .await
        .success()
        .stdout_is("a\nb\n");
    let commits: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.url.path() == "/commit/g/i")
        .flat_map(|r| {
            serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).expect("commit body")
        })
        .collect();
    assert!(commits.contains(&json!({"topic": "t", "partition": 0, "offset": 6})));
    assert!(commits.contains(&json!({"topic": "t", "partition": 1, "offset": 3})));
}

/// Answers with `template` and notes when each request arrived, under `label`.
struct Timed {
    label: &'static str,
    template: ResponseTemplate,
    log: std::sync::Arc<std::sync::Mutex<Vec<(&'static str, std::time::Instant)>>>,
}

impl wiremock::Respond for Timed {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        if let Ok(mut log) = self.log.lock() {
            log.push((self.label, std::time::Instant::now()));
        }
        self.template.clone()
    }
}

#[tokio::test]
async fn the_next_poll_is_sent_while_the_last_batch_is_committed() {
    let server = MockServer::start().await;
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let timed = |label, template| Timed {
        label,
        template,
        log: std::sync::Arc::clone(&log),
    };
    // Mounted in order, each answers once: poll 1 gets "a", poll 2 "b".
    for (label, offset, value) in [("poll 1", 0, "a"), ("poll 2", 1, "b")] {
        Mock::given(method("POST"))
            .and(path("/consume/g/i"))
            .respond_with(timed(
                label,
                ResponseTemplate::new(200)
                    .set_body_json(json!([message("t", 0, offset, "", value)])),
            ))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    // The first commit takes 600 ms to answer: the second poll must not wait for it.
    Mock::given(method("POST"))
        .and(path("/commit/g/i"))
        .and(body_json(
            json!([{"topic": "t", "partition": 0, "offset": 1}]),
        ))
        .respond_with(timed(
            "commit 1",
            success().set_delay(std::time::Duration::from_millis(600)),
        ))
        .expect(1)
        .mount(&server)
        .await;
    commit(json!([{"topic": "t", "partition": 0, "offset": 2}]))
        .expect(1)
        .mount(&server)
        .await;
    removal().expect(2).mount(&server).await;
    against(&server)
        .args(&["consume", "t", "-g", "g", "-i", "i", "-c", "2"])
        .run()
        .await
        .success()
        .stdout_is("a\nb\n");
    let log = log.lock().unwrap().clone();
    let at = |label| {
        log.iter()
            .find(|(l, _)| *l == label)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("no {label} in {log:?}"))
    };
    // Sent before the first commit was answered (600 ms after it arrived), not after.
    let (poll2, commit1) = (at("poll 2"), at("commit 1"));
    assert!(
        poll2 < commit1 + std::time::Duration::from_millis(400),
        "the second poll came {:?} after the first commit",
        poll2.duration_since(commit1)
    );
}

#[tokio::test]
async fn a_failed_poll_ahead_recreates_the_instance_only_after_the_batch_is_committed() {
    let server = MockServer::start().await;
    poll(json!([message("t", 0, 3, "", "x")]), 1)
        .expect(1)
        .mount(&server)
        .await;
    // The poll sent ahead while "x" is written and committed fails.
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": "busy", "status": 503})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    poll(json!([]), 1).expect(1).mount(&server).await;
    commit(json!([{"topic": "t", "partition": 0, "offset": 4}]))
        .expect(1)
        .mount(&server)
        .await;
    removal().expect(3).mount(&server).await;
    against(&server)
        .args(&["consume", "t", "-g", "g", "-i", "i", "-e"])
        .run()
        .await
        .success()
        .stdout_is("x\n")
        .stderr_has(&["poll failed", "recreating the consumer instance"]);
    // The instance is recreated (removed, so that the next one resumes at the committed
    // offsets) only once "x" is committed: else "x" would be read again.
    let requests = server.received_requests().await.unwrap_or_default();
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    let commit = paths.iter().position(|p| *p == "/commit/g/i");
    let removals: Vec<usize> = paths
        .iter()
        .enumerate()
        .filter(|(_, p)| **p == "/delete-consumer/g/i")
        .map(|(i, _)| i)
        .collect();
    assert!(
        commit.is_some_and(|c| removals.get(1).is_some_and(|r| *r > c)),
        "{paths:?}"
    );
}
