//! `/consume/{group}/{instance}` (body) and `/consume/{group}/{instance}/{topic}` (URL form).

use std::time::Duration;

use serde_json::json;
use upkafka_client::{ConsumeOptions, ErrorKind};
use upkafka_protocol::{AutoOffsetReset, ConsumerConfig, Message};
use wiremock::matchers::{
    any, body_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Match, Mock, ResponseTemplate};

use crate::support::*;

pub fn full_config() -> ConsumerConfig {
    ConsumerConfig {
        auto_commit: Some(false),
        auto_commit_interval_ms: Some(1000),
        auto_offset_reset: Some(AutoOffsetReset::Earliest),
        session_timeout_ms: Some(30_000),
    }
}

/// The four `Kafka-*` headers of [`full_config`], each exactly once.
pub fn full_config_headers() -> impl Match {
    let checks = [
        only_header("kafka-enable-auto-commit", "false"),
        only_header("kafka-auto-commit-interval", "1000"),
        only_header("kafka-auto-offset-reset", "earliest"),
        only_header("kafka-session-timeout-ms", "30000"),
    ];
    move |r: &wiremock::Request| checks.iter().all(|m| m.matches(r))
}

#[tokio::test]
async fn consume_one_topic_sends_topic_timeout_and_all_headers() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/consume/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .and(full_config_headers())
        .and(body_json(json!({"topic": "mytopic", "timeout": 3000})))
        .respond_with(reply(200, "consume/messages.json"))
        .expect(1)
        .mount(&server)
        .await;
    let opts = ConsumeOptions {
        timeout: Some(Duration::from_secs(3)),
        config: full_config(),
        ..ConsumeOptions::new(GROUP, INSTANCE, ["mytopic"])
    };
    let got = client.consume(&opts).await.unwrap();
    assert_eq!(got, typed::<Vec<Message>>("consume/messages.json"));
    assert_eq!(got[0].value, "hello-world");
}

#[tokio::test]
async fn consume_many_topics_sends_topics_and_no_headers_by_default() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/consume/mygroup/instance-1"))
        .and(authed())
        .and(no_kafka_headers())
        .and(body_json(json!({"topics": ["cities", "greetings"]})))
        .respond_with(reply(200, "consume/empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let opts = ConsumeOptions::new("mygroup", "instance-1", ["cities", "greetings"]);
    assert!(client.consume(&opts).await.unwrap().is_empty());
}

#[tokio::test]
async fn consume_partial_config_sends_only_the_headers_set() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .and(header("kafka-auto-offset-reset", "none"))
        .and(no_header("kafka-enable-auto-commit"))
        .and(no_header("kafka-auto-commit-interval"))
        .and(no_header("kafka-session-timeout-ms"))
        .and(body_json(json!({"topic": "t"})))
        .respond_with(reply(200, "consume/empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let opts = ConsumeOptions {
        config: ConsumerConfig {
            auto_offset_reset: Some(AutoOffsetReset::None),
            ..ConsumerConfig::default()
        },
        ..ConsumeOptions::new("g", "i", ["t"])
    };
    client.consume(&opts).await.unwrap();
}

#[tokio::test]
async fn consume_refuses_bad_input_without_sending() {
    let (server, client) = setup().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let no_topics = ConsumeOptions::new("g", "i", Vec::<String>::new());
    let err = client.consume(&no_topics).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    for (g, i) in [("", "i"), ("g", ""), ("..", "i"), ("g", ".")] {
        let err = client
            .consume(&ConsumeOptions::new(g, i, ["t"]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{g:?}/{i:?}: {err}");
    }
}

#[tokio::test]
async fn consume_topic_gets_the_url_form_with_timeout_query_and_headers() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/consume/{GROUP_ENC}/{INSTANCE_ENC}/a%20b%2F%C3%A7"
        )))
        .and(authed())
        .and(query_param("timeout", "2500"))
        .and(full_config_headers())
        .and(no_body())
        .respond_with(reply(200, "consume/messages.json"))
        .expect(1)
        .mount(&server)
        .await;
    let got = client
        .consume_topic(
            GROUP,
            INSTANCE,
            "a b/ç",
            Some(Duration::from_millis(2500)),
            &full_config(),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn consume_topic_without_timeout_or_config_sends_neither() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/consume/g/i/mytopic"))
        .and(query_param_is_missing("timeout"))
        .and(no_kafka_headers())
        .respond_with(reply(200, "consume/empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let got = client
        .consume_topic("g", "i", "mytopic", None, &ConsumerConfig::default())
        .await
        .unwrap();
    assert!(got.is_empty());
}
