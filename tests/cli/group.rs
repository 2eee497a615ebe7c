//! `upkafka group commit|committed|delete`.

use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::{body_json, body_string, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{against, success};

#[tokio::test]
async fn commit_explicit_offsets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/commit/g/i"))
        .and(body_json(json!([
            {"topic": "cities", "partition": 0, "offset": 42},
            {"topic": "cities", "partition": 1, "offset": 7}
        ])))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&[
            "group",
            "commit",
            "-g",
            "g",
            "-i",
            "i",
            "cities:0=42",
            "cities:1=7",
        ])
        .run()
        .await
        .success()
        .stderr_has(&["committed cities:0=42 cities:1=7 for g/i"]);
}

#[tokio::test]
async fn commit_without_offsets_commits_what_was_consumed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/commit/g/i"))
        .and(body_string(""))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    let out = against(&server)
        .args(&["group", "commit", "-g", "g", "-i", "i", "--output", "json"])
        .run()
        .await
        .success();
    let v: serde_json::Value = out.json();
    assert_eq!(
        v,
        json!({"group": "g", "instance": "i", "action": "commit"})
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Committed {
    topic: String,
    partition: i32,
    committed: Option<i64>,
}

#[tokio::test]
async fn committed_expands_topics_and_shows_missing_offsets_as_dash() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"cities": 2, "other": 5})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/committed/g/i"))
        .and(body_json(json!([
            {"topic": "cities", "partition": 0},
            {"topic": "cities", "partition": 1},
            {"topic": "words", "partition": 3}
        ])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"topic": "cities", "partition": 0, "offset": 11},
            {"topic": "cities", "partition": 1, "offset": -1},
            {"topic": "words", "partition": 3, "offset": 5}
        ])))
        .expect(2)
        .mount(&server)
        .await;
    against(&server)
        .args(&[
            "group",
            "committed",
            "-g",
            "g",
            "-i",
            "i",
            "cities",
            "words:3",
        ])
        .run()
        .await
        .success()
        .stdout_is(
            "TOPIC   PARTITION  COMMITTED\n\
             cities  0          11\n\
             cities  1          -\n\
             words   3          5\n",
        );
    let out = against(&server)
        .args(&[
            "group",
            "committed",
            "-g",
            "g",
            "-i",
            "i",
            "cities",
            "words:3",
            "--output",
            "json",
        ])
        .run()
        .await
        .success();
    let rows: Vec<Committed> = out.json();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].committed, None);
    assert_eq!(
        (rows[2].topic.as_str(), rows[2].partition, rows[2].committed),
        ("words", 3, Some(5))
    );
}

#[tokio::test]
async fn delete_removes_the_instance() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/delete-consumer/g/i"))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["group", "delete", "-g", "g", "-i", "i"])
        .run()
        .await
        .success()
        .stderr_has(&["removed consumer instance g/i"]);
}

#[tokio::test]
async fn deleting_an_unknown_instance_fails_with_the_server_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/delete-consumer/g/nope"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "consumer instance not found", "status": 404})),
        )
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["group", "delete", "-g", "g", "-i", "nope"])
        .run()
        .await
        .code(1)
        .stderr_has(&["upkafka: error: POST /delete-consumer/g/nope: server answered 404: consumer instance not found"]);
}
