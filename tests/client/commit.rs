//! `/commit`, `/committed`, `/delete-consumer` and the `Consumer` handle.

use std::time::Duration;

use serde_json::json;
use upkafka_client::ErrorKind;
use upkafka_protocol::{TopicPartition, TopicPartitionOffset};
use wiremock::matchers::{any, body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::consume::{full_config, full_config_headers};
use crate::support::*;

fn two_partitions() -> Vec<TopicPartition> {
    vec![
        TopicPartition::new("cities", 0),
        TopicPartition::new("greetings", 0),
    ]
}

#[tokio::test]
async fn commit_posts_the_offsets_array() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/commit/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .and(body_json(fixture("commit/request_many.json")))
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;
    let offsets: Vec<TopicPartitionOffset> = typed("commit/request_many.json");
    client.commit(GROUP, INSTANCE, &offsets).await.unwrap();
}

#[tokio::test]
async fn commit_of_nothing_is_refused_without_sending() {
    let (server, client) = setup().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let err = client.commit("g", "i", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("commit_consumed"), "{err}");
}

#[tokio::test]
async fn commit_consumed_posts_no_body() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/commit/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .and(no_body())
        .and(no_header("content-type"))
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;
    client.commit_consumed(GROUP, INSTANCE).await.unwrap();
}

#[tokio::test]
async fn committed_posts_partitions_and_decodes_offsets() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/committed/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .and(body_json(json!([
            {"topic": "cities", "partition": 0},
            {"topic": "greetings", "partition": 0}
        ])))
        .respond_with(reply(200, "committed/offsets.json"))
        .expect(1)
        .mount(&server)
        .await;
    let got = client
        .committed(GROUP, INSTANCE, &two_partitions())
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            TopicPartitionOffset::new("cities", 0, 11),
            TopicPartitionOffset::new("greetings", 0, 1)
        ]
    );
}

#[tokio::test]
async fn remove_consumer_instance_posts_to_delete_consumer() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/delete-consumer/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .and(no_body())
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;
    client
        .remove_consumer_instance(GROUP, INSTANCE)
        .await
        .unwrap();
}

#[tokio::test]
async fn consumer_handle_sends_each_call_for_its_instance() {
    let (server, client) = setup().await;
    let base = format!("{GROUP_ENC}/{INSTANCE_ENC}");
    Mock::given(method("POST"))
        .and(path(format!("/consume/{base}")))
        .and(authed())
        .and(full_config_headers())
        .and(body_json(
            json!({"topics": ["cities", "greetings"], "timeout": 1500}),
        ))
        .respond_with(reply(200, "consume/messages.json"))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/commit/{base}")))
        .and(body_json(fixture("commit/request_many.json")))
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/commit/{base}")))
        .and(no_body())
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/committed/{base}")))
        .and(body_json(
            json!([{"topic": "cities", "partition": 0}, {"topic": "greetings", "partition": 0}]),
        ))
        .respond_with(reply(200, "committed/offsets.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/delete-consumer/{base}")))
        .and(no_body())
        .respond_with(reply(200, "commit/success.json"))
        .expect(1)
        .mount(&server)
        .await;

    let consumer = client
        .consumer(GROUP, INSTANCE, ["cities", "greetings"])
        .with_config(full_config())
        .with_timeout(Duration::from_millis(1500));
    assert_eq!(consumer.options().group, GROUP);
    assert_eq!(consumer.poll().await.unwrap().len(), 1);
    assert_eq!(consumer.poll().await.unwrap()[0].offset, 5);
    consumer
        .commit(&typed::<Vec<TopicPartitionOffset>>(
            "commit/request_many.json",
        ))
        .await
        .unwrap();
    consumer.commit_consumed().await.unwrap();
    assert_eq!(
        consumer.committed(&two_partitions()).await.unwrap().len(),
        2
    );
    consumer.remove().await.unwrap();
}
