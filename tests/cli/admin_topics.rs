//! `upkafka admin topics create|list|describe|alter|delete`: the management requests sent and
//! what is printed.

use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{against, upkafka};

fn topic(name: &str, retention_ms: i64, policy: &str) -> Value {
    json!({
        "topic_id": name, "topic_name": name, "cluster_id": "upkafka", "region": "local",
        "creation_time": 1, "state": "active", "partitions": 3, "multizone": false,
        "tcp_endpoint": "", "rest_endpoint": "", "username": "admin",
        "cleanup_policy": policy, "retention_size": 10_737_418_240i64,
        "retention_time": retention_ms, "max_message_size": 1_048_576,
        "segment_bytes": 134_217_728, "segment_ms": 604_800_000, "delete_retention_ms": 86_400_000
    })
}

#[tokio::test]
async fn create_sends_the_settings_in_the_api_s_units() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/kafka/topic"))
        .and(body_json(json!({
            "name": "readings", "partitions": 3, "retention_time": 604_800_000,
            "retention_size": 10_737_418_240i64, "cleanup_policy": "compact",
            "segment_ms": 1000
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(topic(
            "readings",
            604_800_000,
            "compact",
        )))
        .expect(1)
        .mount(&server)
        .await;
    against(&server)
        .args(&[
            "admin",
            "topics",
            "create",
            "readings",
            "--partitions",
            "3",
            "--retention",
            "7d",
            "--retention-bytes",
            "10GiB",
            "--compact",
            "--segment-age",
            "1s",
        ])
        .run()
        .await
        .success()
        .stderr_has(&["created topic readings with 3 partitions"])
        .stdout_is(
            "topic:              readings\n\
             partitions:         3\n\
             cleanup policy:     compact\n\
             retention:          7d\n\
             retention bytes:    10737418240\n\
             max message bytes:  1048576\n\
             segment bytes:      134217728\n\
             segment age:        7d\n\
             tombstones kept:    1d\n",
        );
}

#[tokio::test]
async fn alter_sends_only_what_it_names_and_refuses_nothing_to_change() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/kafka/update-topic/readings"))
        .and(body_json(
            json!({"retention_time": -1, "max_message_size": 262_144}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(topic("readings", -1, "delete")))
        .expect(1)
        .mount(&server)
        .await;
    let out = against(&server)
        .args(&[
            "admin",
            "topics",
            "alter",
            "readings",
            "--retention",
            "forever",
            "--max-message-bytes",
            "256KiB",
            "--output",
            "json",
        ])
        .run()
        .await
        .success();
    assert_eq!(out.json::<Value>()["retention_time"], -1);
    against(&server)
        .args(&["admin", "topics", "alter", "readings"])
        .run()
        .await
        .code(2)
        .stderr_has(&["nothing to change"]);
}

#[tokio::test]
async fn list_prints_a_table_and_delete_says_what_it_did() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/kafka/clusters"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "cluster_id": "upkafka", "name": "upkafka", "region": "local", "type": "paid",
            "multizone": false, "tcp_endpoint": "", "rest_endpoint": "", "state": "active",
            "username": "admin", "max_message_size": 1_048_576, "creation_time": 1
        }])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/kafka/topics/upkafka"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([topic(
            "readings",
            172_800_000,
            "delete"
        )])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v2/kafka/topic/scratch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("OK")))
        .expect(1)
        .mount(&server)
        .await;
    let out = against(&server)
        .args(&["admin", "topics", "list"])
        .run()
        .await
        .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("TOPIC"), "{}", out.stdout);
    assert!(
        lines[1]
            .split_whitespace()
            .eq(["readings", "3", "delete", "2d", "10737418240", "1048576"]),
        "{}",
        out.stdout
    );
    against(&server)
        .args(&["admin", "topics", "delete", "scratch"])
        .run()
        .await
        .success()
        .stderr_has(&["deleted topic scratch"]);
}

#[tokio::test]
async fn a_bad_setting_is_refused_before_any_request_naming_the_flag() {
    upkafka()
        .args(&[
            "admin",
            "topics",
            "create",
            "t",
            "--retention",
            "7 fortnights",
        ])
        .env("UPSTASH_KAFKA_REST_URL", "http://127.0.0.1:9")
        .run()
        .await
        .code(2)
        .stderr_has(&["--retention", "`7 fortnights` is not a retention"]);
}
