//! `upkafka inspect topics|consumers|offsets|lag`, text and JSON.

use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::against;

async fn topics(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"cities": 2, "greetings": 1})),
        )
        .mount(server)
        .await;
}

fn offsets(at: &str, answer: serde_json::Value) -> Mock {
    Mock::given(method("POST"))
        .and(path(format!("/offsets/{at}")))
        .and(body_json(json!([
            {"topic": "cities", "partition": 0},
            {"topic": "cities", "partition": 1}
        ])))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicRow {
    topic: String,
    partitions: i32,
}

#[tokio::test]
async fn topics_as_table_and_json() {
    let server = MockServer::start().await;
    topics(&server).await;
    against(&server)
        .args(&["inspect", "topics"])
        .run()
        .await
        .success()
        .stdout_is("TOPIC      PARTITIONS\ncities     2\ngreetings  1\n");
    let out = against(&server)
        .args(&["inspect", "topics", "--output", "json"])
        .run()
        .await
        .success();
    let rows: Vec<TopicRow> = out.json();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].topic.as_str(), rows[0].partitions), ("cities", 2));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumerRow {
    group: String,
    instance: String,
    topic: Option<String>,
    partitions: Vec<i32>,
}

#[tokio::test]
async fn consumers_one_row_per_assignment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/consumers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "mygroup", "instances": [
                {"name": "instance-1", "topics": [
                    {"topic": "cities", "partitions": [0, 1, 2]},
                    {"topic": "words", "partitions": [10]}
                ]},
                {"name": "joining", "topics": []}
            ]}
        ])))
        .mount(&server)
        .await;
    against(&server)
        .args(&["inspect", "consumers"])
        .run()
        .await
        .success()
        .stdout_is(
            "GROUP    INSTANCE    TOPIC   PARTITIONS\n\
             mygroup  instance-1  cities  0,1,2\n\
             mygroup  instance-1  words   10\n\
             mygroup  joining     -       -\n",
        );
    let out = against(&server)
        .args(&["inspect", "consumers", "--output", "json"])
        .run()
        .await
        .success();
    let rows: Vec<ConsumerRow> = out.json();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].partitions, vec![0, 1, 2]);
    assert_eq!(
        (rows[2].group.as_str(), rows[2].instance.as_str()),
        ("mygroup", "joining")
    );
    assert_eq!(rows[2].topic, None);
}

#[tokio::test]
async fn offsets_show_the_range_of_each_partition() {
    let server = MockServer::start().await;
    topics(&server).await;
    offsets(
        "earliest",
        json!([
            {"topic": "cities", "partition": 0, "offset": 0},
            {"topic": "cities", "partition": 1, "offset": 5}
        ]),
    )
    .expect(1)
    .mount(&server)
    .await;
    offsets(
        "latest",
        json!([
            {"topic": "cities", "partition": 0, "offset": 12},
            {"topic": "cities", "partition": 1, "offset": 5}
        ]),
    )
    .expect(1)
    .mount(&server)
    .await;
    against(&server)
        .args(&["inspect", "offsets", "cities"])
        .run()
        .await
        .success()
        .stdout_is(
            "TOPIC   PARTITION  EARLIEST  LATEST  MESSAGES\n\
             cities  0          0         12      12\n\
             cities  1          5         5       0\n",
        );
}

#[tokio::test]
async fn offsets_at_a_time_use_epoch_milliseconds() {
    let server = MockServer::start().await;
    topics(&server).await;
    offsets(
        "1714564800000",
        json!([
            {"topic": "cities", "partition": 0, "offset": 3},
            {"topic": "cities", "partition": 1, "offset": -1}
        ]),
    )
    .expect(1)
    .mount(&server)
    .await;
    let out = against(&server)
        .args(&[
            "inspect",
            "offsets",
            "cities",
            "--at",
            "2024-05-01T12:00:00Z",
            "--output",
            "json",
        ])
        .run()
        .await
        .success();
    let v: serde_json::Value = out.json();
    assert_eq!(
        v,
        json!([
            {"topic": "cities", "partition": 0, "offset": 3},
            {"topic": "cities", "partition": 1, "offset": null}
        ])
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LagRow {
    topic: String,
    partition: i32,
    committed: Option<i64>,
    latest: i64,
    lag: i64,
}

async fn lag_server() -> MockServer {
    let server = MockServer::start().await;
    topics(&server).await;
    Mock::given(method("POST"))
        .and(path("/committed/g/i"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"topic": "cities", "partition": 0, "offset": 10},
            {"topic": "cities", "partition": 1, "offset": -1}
        ])))
        .mount(&server)
        .await;
    offsets(
        "latest",
        json!([
            {"topic": "cities", "partition": 0, "offset": 12},
            {"topic": "cities", "partition": 1, "offset": 9}
        ]),
    )
    .mount(&server)
    .await;
    offsets(
        "earliest",
        json!([
            {"topic": "cities", "partition": 0, "offset": 0},
            {"topic": "cities", "partition": 1, "offset": 4}
        ]),
    )
    .mount(&server)
    .await;
    server
}

#[tokio::test]
async fn lag_compares_committed_and_latest() {
    let server = lag_server().await;
    against(&server)
        .args(&["inspect", "lag", "-g", "g", "-i", "i", "cities"])
        .run()
        .await
        .success()
        .stdout_is(
            "TOPIC   PARTITION  COMMITTED  LATEST  LAG\n\
             cities  0          10         12      2\n\
             cities  1          -          9       5\n",
        );
    let out = against(&server)
        .args(&[
            "inspect", "lag", "-g", "g", "-i", "i", "cities", "--output", "json",
        ])
        .run()
        .await
        .success();
    let rows: Vec<LagRow> = out.json();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].committed, rows[0].latest, rows[0].lag),
        (Some(10), 12, 2)
    );
    assert_eq!((rows[1].topic.as_str(), rows[1].partition), ("cities", 1));
    assert_eq!((rows[1].committed, rows[1].lag), (None, 5));
}

#[tokio::test]
async fn lag_without_topics_uses_the_instance_assignment() {
    let server = lag_server().await;
    Mock::given(method("GET"))
        .and(path("/consumers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "g", "instances": [{"name": "i", "topics": [{"topic": "cities", "partitions": [0, 1]}]}]}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&["inspect", "lag", "-g", "g", "-i", "i"])
        .run()
        .await
        .success()
        .stdout_is(
            "TOPIC   PARTITION  COMMITTED  LATEST  LAG\n\
             cities  0          10         12      2\n\
             cities  1          -          9       5\n",
        );
}
