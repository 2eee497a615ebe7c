//! `upkafka produce`: batching, -K/-k/-p/-H/-D/--value, bad lines, failed batches, summaries.

use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{ProduceEcho, against, basic_auth};

fn batch(body: serde_json::Value) -> Mock {
    Mock::given(method("POST"))
        .and(path("/produce/t"))
        .and(header("authorization", basic_auth().as_str()))
        .and(body_json(body))
        .respond_with(ProduceEcho::new("t"))
}

#[tokio::test]
async fn stdin_lines_go_out_in_batches_of_batch_size() {
    let server = MockServer::start().await;
    batch(json!([{"value": "a"}, {"value": "b"}]))
        .expect(1)
        .mount(&server)
        .await;
    batch(json!([{"value": "c"}, {"value": ""}]))
        .expect(1)
        .mount(&server)
        .await;
    batch(json!([{"value": "e"}]))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["produce", "t", "--batch-size", "2"])
        .stdin("a\nb\r\nc\n\ne\n")
        .run()
        .await
        .success()
        .stdout_is("")
        .stderr_has(&["produced 5 messages", "to t in", "msg/s"]);
}

#[tokio::test]
async fn batch_bytes_splits_batches_too() {
    let server = MockServer::start().await;
    batch(json!([{"value": "aaaa"}, {"value": "bbbb"}]))
        .expect(1)
        .mount(&server)
        .await;
    batch(json!([{"value": "cccc"}]))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["produce", "t", "--batch-bytes", "8", "-q"])
        .stdin("aaaa\nbbbb\ncccc")
        .run()
        .await
        .success()
        .stdout_is("");
}

#[tokio::test]
async fn key_partition_headers_and_custom_delimiter() {
    let server = MockServer::start().await;
    let h = json!([{"key": "source", "value": "cli"}, {"key": "v", "value": "a=b"}]);
    batch(json!([
        {"partition": 2, "key": "k1", "value": "x", "headers": h},
        {"partition": 2, "key": "k2", "value": "y:z", "headers": h},
    ]))
    .expect(1)
    .mount(&server)
    .await;
    against(&server)
        .args(&[
            "produce",
            "t",
            "-D",
            "|",
            "-K",
            ":",
            "-p",
            "2",
            "-H",
            "source=cli",
            "-H",
            "v=a=b",
        ])
        .stdin("k1:x|k2:y:z|")
        .run()
        .await
        .success();
}

#[tokio::test]
async fn escaped_nul_delimiter_and_fixed_key() {
    let server = MockServer::start().await;
    batch(json!([{"key": "K", "value": "one\ntwo"}, {"key": "K", "value": "three"}]))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["produce", "t", "-D", "\\0", "-k", "K"])
        .stdin(&b"one\ntwo\0three\0"[..])
        .run()
        .await
        .success();
}

#[tokio::test]
async fn value_flag_sends_one_message() {
    let server = MockServer::start().await;
    batch(json!([{"key": "user-7", "value": "{\"id\":1}"}]))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["produce", "t", "--value", "{\"id\":1}", "-k", "user-7"])
        .run()
        .await
        .success()
        .stderr_has(&["produced 1 message "]);
}

#[tokio::test]
async fn a_bad_line_stops_with_file_line_and_the_exact_acknowledged_count() {
    let server = MockServer::start().await;
    // Lines 1-2 go out as one batch; line 3 waits for a second batch; line 4 is bad.
    batch(json!([{"key": "k1", "value": "v1"}, {"key": "k2", "value": "v2"}]))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "k1:v1\nk2:v2\nk3:v3\nno key here\nk5:v5\n").unwrap();
    let file = file.to_str().unwrap();
    against(&server)
        .args(&["produce", "t", "-K", ":", "--batch-size", "2", file])
        .run()
        .await
        .code(1)
        .stderr_has(&[
            &format!("upkafka: error: {file}:4: no key delimiter \":\" in the line (-K)"),
            "2 messages were acknowledged before it",
            &format!("{file}:3 (1 message) not sent"),
        ]);
}

#[tokio::test]
async fn skip_invalid_reports_each_skipped_line() {
    let server = MockServer::start().await;
    batch(json!([{"key": "k1", "value": "v1"}, {"key": "k3", "value": "v3"}]))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["produce", "t", "-K", "=", "--skip-invalid"])
        .stdin("k1=v1\nbad\nk3=v3\nworse\n")
        .run()
        .await
        .success()
        .stderr_has(&[
            "<stdin>:2: no key delimiter \"=\" in the line (-K); skipped",
            "<stdin>:4: no key delimiter",
            "produced 2 messages",
            "skipped 2 invalid line(s)",
        ]);
}

#[tokio::test]
async fn a_failed_batch_reports_what_was_acknowledged_and_what_was_not_delivered() {
    let server = MockServer::start().await;
    batch(json!([{"value": "1"}, {"value": "2"}]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/produce/t"))
        .and(body_json(json!([{"value": "3"}, {"value": "4"}])))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"error": "disk full", "status": 500})),
        )
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["produce", "t", "--batch-size", "2"])
        .stdin("1\n2\n3\n4\n5\n6\n")
        .run()
        .await
        .code(1)
        .stderr_has(&[
            "server answered 500: disk full",
            "2 messages were acknowledged",
            "not acknowledged (maybe not stored; resending may duplicate): <stdin>:3-4 (2 messages)",
        ]);
}

#[tokio::test]
async fn a_larger_window_sends_everything_and_counts_exactly() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/produce/t"))
        .respond_with(ProduceEcho::new("t"))
        .expect(10)
        .mount(&server)
        .await;
    let input: String = (0..100).map(|i| format!("m{i}\n")).collect();
    against(&server)
        .args(&["produce", "t", "--batch-size", "10", "--in-flight", "4"])
        .stdin(input)
        .run()
        .await
        .success()
        .stderr_has(&["produced 100 messages"]);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Summary {
    messages: u64,
    bytes: u64,
    seconds: f64,
    messages_per_second: f64,
    skipped: u64,
}

#[tokio::test]
async fn json_output_is_a_summary_document() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/produce/t"))
        .respond_with(ProduceEcho::new("t"))
        .expect(1)
        .mount(&server)
        .await;
    let out = against(&server)
        .args(&["produce", "t", "--output", "json"])
        .stdin("ab\ncd\n")
        .run()
        .await
        .success();
    let s: Summary = out.json();
    assert_eq!((s.messages, s.bytes, s.skipped), (2, 4, 0));
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let server = MockServer::start().await;
    against(&server)
        .args(&["produce", "t", "/nonexistent/in.txt"])
        .run()
        .await
        .code(1)
        .stderr_has(&[
            "cannot open /nonexistent/in.txt",
            "0 messages were acknowledged",
        ]);
}

#[tokio::test]
async fn the_terminal_path_with_a_progress_bar_sends_the_same_messages() {
    let server = MockServer::start().await;
    batch(json!([{"value": "a"}, {"value": "b"}]))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "a\nb\n").unwrap();
    against(&server)
        .env("UPKAFKA_TEST_TTY", "1")
        .args(&["produce", "t", file.to_str().unwrap()])
        .run()
        .await
        .success()
        .stderr_has(&["produced 2 messages"]);
}

#[tokio::test]
async fn slow_input_is_sent_as_it_comes_after_the_linger_time() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let server = MockServer::start().await;
    batch(json!([{"value": "first"}]))
        .expect(1)
        .mount(&server)
        .await;
    batch(json!([{"value": "second"}]))
        .expect(1)
        .mount(&server)
        .await;
    let uri = server.uri();
    let mut child = Command::new(env!("CARGO_BIN_EXE_upkafka"))
        .args(["produce", "--url", &uri, "t", "--linger", "50ms", "-q"])
        .env("UPSTASH_KAFKA_REST_USERNAME", crate::util::USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", crate::util::PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    // The first line must arrive while the input is still open.
    let mut sent = 0;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        sent = server.received_requests().await.map_or(0, |r| r.len());
        if sent > 0 {
            break;
        }
    }
    assert_eq!(sent, 1, "the first line was held back");
    stdin.write_all(b"second\n").unwrap();
    drop(stdin);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
}
