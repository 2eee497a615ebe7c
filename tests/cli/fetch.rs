//! `upkafka fetch`: offsets resolved through /offsets, -c, stop on an empty fetch.

use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{against, message};

/// `/offsets/{at}` answering `offset` for partition 1 of `t`, called exactly once.
fn offsets(at: &str, offset: i64) -> Mock {
    Mock::given(method("POST"))
        .and(path(format!("/offsets/{at}")))
        .and(body_json(json!([{"topic": "t", "partition": 1}])))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"topic": "t", "partition": 1, "offset": offset}])),
        )
        .expect(1)
}

fn fetch_at(offset: i64, answer: serde_json::Value) -> Mock {
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(body_json(
            json!({"topic": "t", "partition": 1, "offset": offset, "timeout": 1000}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
}

#[tokio::test]
async fn minus_n_is_resolved_through_offsets_latest_and_reads_to_the_end() {
    let server = MockServer::start().await;
    offsets("latest", 10).mount(&server).await;
    offsets("earliest", 0).mount(&server).await;
    fetch_at(
        8,
        json!([message("t", 1, 8, "", "m8"), message("t", 1, 9, "", "m9")]),
    )
    .expect(1)
    .mount(&server)
    .await;
    fetch_at(10, json!([])).expect(1).mount(&server).await;
    against(&server)
        .args(&["fetch", "t", "-p", "1", "-o", "-2"])
        .run()
        .await
        .success()
        .stdout_is("m8\nm9\n");
}

#[tokio::test]
async fn minus_n_never_starts_before_the_earliest_offset() {
    let server = MockServer::start().await;
    offsets("latest", 10).mount(&server).await;
    offsets("earliest", 7).mount(&server).await;
    fetch_at(7, json!([message("t", 1, 7, "", "m7")]))
        .expect(1)
        .mount(&server)
        .await;
    fetch_at(8, json!([])).expect(1).mount(&server).await;
    against(&server)
        .args(&["fetch", "t", "-p", "1", "-o", "-5"])
        .run()
        .await
        .success()
        .stdout_is("m7\n");
}

#[tokio::test]
async fn count_limits_the_messages_and_the_requests() {
    let server = MockServer::start().await;
    fetch_at(
        3,
        json!([message("t", 1, 3, "k", "a"), message("t", 1, 4, "k", "b")]),
    )
    .expect(1)
    .mount(&server)
    .await;
    against(&server)
        .args(&[
            "fetch",
            "t",
            "-p",
            "1",
            "-o",
            "3",
            "-c",
            "1",
            "-f",
            "%o:%k:%s\\n",
        ])
        .run()
        .await
        .success()
        .stdout_is("3:k:a\n");
}

#[tokio::test]
async fn earliest_is_resolved_and_json_lines_are_printed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/offsets/earliest"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"topic": "t", "partition": 1, "offset": 4}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    fetch_at(4, json!([message("t", 1, 4, "", "x")]))
        .expect(1)
        .mount(&server)
        .await;
    fetch_at(5, json!([])).expect(1).mount(&server).await;
    let out = against(&server)
        .args(&["fetch", "t", "-p", "1", "--output", "json"])
        .run()
        .await
        .success();
    let lines: Vec<serde_json::Value> = out.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["offset"], 4);
    assert_eq!(lines[0]["value"], "x");
}

#[tokio::test]
async fn a_bad_offset_is_a_usage_error() {
    crate::util::upkafka()
        .args(&["fetch", "t", "-o", "soon"])
        .run()
        .await
        .code(2)
        .stderr_has(&["`soon` is not an offset"]);
}

#[tokio::test]
async fn follow_streams_from_the_offset_and_prints_as_fetch_does() {
    let server = MockServer::start().await;
    let events: String = [message("t", 1, 7, "k", "a"), message("t", 1, 8, "", "b")]
        .iter()
        .map(|m| format!("id: t/1/{}\ndata: {m}\n\n", m["offset"]))
        .collect();
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(wiremock::matchers::header("accept", "text/event-stream"))
        .and(body_json(
            json!({"topic": "t", "partition": 1, "offset": 7}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!("retry: 10\n\n{events}").into_bytes(),
            "text/event-stream",
        ))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&[
            "fetch",
            "t",
            "-p",
            "1",
            "-o",
            "7",
            "--follow",
            "-c",
            "2",
            "-f",
            "%o %k=%s\\n",
        ])
        .run()
        .await
        .success()
        .stdout_is("7 k=a\n8 =b\n");
}
