//! The contract matrix: one scenario function, run against the wiremock fixtures (what the
//! documented service answered) and against the embedded server. A scenario asserts only what
//! both must agree on; the rest of this suite covers the server in depth.

use std::path::PathBuf;

use serde_json::Value;
use upkafka_client::{Client, ErrorKind};
use upkafka_protocol::{ProduceRecord, Topics};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Env, PASS, USER, client_as};

/// Topics of `tests/fixtures/metadata/topics.json`, which the real server is started with.
const TOPICS: [(&str, i32); 3] = [("cities", 12), ("greetings", 1), ("words", 137)];

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn mock(verb: &str, at: &str, status: u16, fixture_name: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(ResponseTemplate::new(status).set_body_json(fixture(fixture_name)))
        .mount(&server)
        .await;
    server
}

/// Runs `scenario` on a client of a mock answering `verb at` with the fixture, then on a
/// client of the embedded server.
macro_rules! both {
    ($scenario:ident, $verb:expr, $at:expr, $status:expr, $fixture:expr) => {{
        let mock = mock($verb, $at, $status, $fixture).await;
        $scenario(&client_as(&mock.uri(), USER, PASS), "wiremock").await;
        let env = Env::start(&TOPICS).await;
        $scenario(&env.client, "embedded").await;
    }};
}

async fn lists_the_topics(client: &Client, target: &str) {
    let want: Topics = serde_json::from_value(fixture("metadata/topics.json")).unwrap();
    assert_eq!(client.topics().await.unwrap(), want, "{target}");
}

async fn produce_many_answers_in_request_order(client: &Client, target: &str) {
    let records: Vec<ProduceRecord> =
        serde_json::from_value(fixture("produce/request_many.json")).unwrap();
    let metas = client.produce_many(&records).await.unwrap();
    let shape: Vec<_> = metas
        .iter()
        .map(|m| (m.topic.as_str(), m.partition))
        .collect();
    assert_eq!(shape, [("greetings", 0), ("cities", 1)], "{target}");
    assert!(
        metas
            .iter()
            .all(|m| m.offset >= 0 && m.timestamp > 1_600_000_000_000),
        "{target}: {metas:?}"
    );
}

async fn unknown_topic_is_a_400_naming_it(client: &Client, target: &str) {
    let err = client
        .produce("nosuchtopic", ProduceRecord::new("x"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.status()),
        (ErrorKind::Api, Some(400)),
        "{target}"
    );
    assert!(err.to_string().contains("nosuchtopic"), "{target}: {err}");
}

async fn a_new_latest_instance_starts_empty(client: &Client, target: &str) {
    let consumer = client
        .consumer("matrix", "i-1", ["greetings"])
        .with_timeout(std::time::Duration::from_millis(50));
    assert!(consumer.poll().await.unwrap().is_empty(), "{target}");
}

async fn commit_answers_success(client: &Client, target: &str) {
    let offsets = serde_json::from_value::<Vec<upkafka_protocol::TopicPartitionOffset>>(fixture(
        "commit/request_many.json",
    ))
    .unwrap();
    // The embedded server needs the instance first (the mock does not care).
    if target == "embedded" {
        client
            .consumer("matrix", "i-1", ["greetings", "cities"])
            .with_timeout(std::time::Duration::from_millis(50))
            .poll()
            .await
            .unwrap();
    }
    client.commit("matrix", "i-1", &offsets).await.unwrap();
}

#[tokio::test]
async fn matrix_topics() {
    both!(
        lists_the_topics,
        "GET",
        "/topics",
        200,
        "metadata/topics.json"
    );
}

#[tokio::test]
async fn matrix_produce_many() {
    both!(
        produce_many_answers_in_request_order,
        "POST",
        "/produce",
        200,
        "produce/metadata_many.json"
    );
}

#[tokio::test]
async fn matrix_unknown_topic() {
    both!(
        unknown_topic_is_a_400_naming_it,
        "POST",
        "/produce",
        400,
        "errors/bad_request.json"
    );
}

#[tokio::test]
async fn matrix_new_instance_starts_empty() {
    both!(
        a_new_latest_instance_starts_empty,
        "POST",
        "/consume/matrix/i-1",
        200,
        "consume/empty.json"
    );
}

#[tokio::test]
async fn matrix_commit() {
    both!(
        commit_answers_success,
        "POST",
        "/commit/matrix/i-1",
        200,
        "commit/success.json"
    );
}

#[tokio::test]
async fn matrix_wrong_password() {
    let wrong = "not-the-password";
    let check = |client: Client, target: &'static str| async move {
        let err = client.topics().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{target}");
        assert!(!format!("{err} {err:?}").contains(wrong), "{target}: {err}");
    };
    let mock = mock("GET", "/topics", 401, "errors/unauthorized.json").await;
    check(client_as(&mock.uri(), USER, wrong), "wiremock").await;
    let env = Env::start(&TOPICS).await;
    check(client_as(&env.server.url, USER, wrong), "embedded").await;
}
