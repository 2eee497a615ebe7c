//! `/produce`, `/produce/{topic}` and `/produce/{topic}/{message}`.

use serde_json::json;
use upkafka_client::ErrorKind;
use upkafka_protocol::{ProduceMetadata, ProduceRecord};
use wiremock::matchers::{any, body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

fn istanbul() -> ProduceRecord {
    ProduceRecord::new("Istanbul")
        .partition(1)
        .key("city")
        .header("expire", "1637745834756")
}

#[tokio::test]
async fn produce_posts_one_object_with_the_topic_and_returns_element_0() {
    let (server, client) = setup().await;
    // §7.3: kafka-js posts `{topic, value, ...opts}` as a single object to /produce.
    let mut body = fixture("produce/request_one.json");
    body["topic"] = json!("cities");
    Mock::given(method("POST"))
        .and(path("/produce"))
        .and(authed())
        .and(only_header("content-type", "application/json"))
        .and(body_json(body))
        .respond_with(reply(200, "produce/metadata_one.json"))
        .expect(1)
        .mount(&server)
        .await;
    let meta = client
        .produce("cities", istanbul().topic("replaced"))
        .await
        .unwrap();
    let want: Vec<ProduceMetadata> = typed("produce/metadata_one.json");
    assert_eq!(meta, want[0]);
}

#[tokio::test]
async fn produce_accepts_a_single_object_answer() {
    // The spec leaves open (§12.4) whether a single-object body is answered with an object.
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/produce"))
        .respond_with(reply(200, "produce/metadata.json"))
        .expect(1)
        .mount(&server)
        .await;
    let meta = client
        .produce("mytopic", ProduceRecord::new("v"))
        .await
        .unwrap();
    assert_eq!(meta, typed::<ProduceMetadata>("produce/metadata.json"));
}

#[tokio::test]
async fn produce_json_sends_the_value_as_json_text() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/produce"))
        .and(authed())
        .and(body_json(
            json!({"topic": "greetings", "value": "{\"device\":7}"}),
        ))
        .respond_with(reply(200, "produce/metadata_one.json"))
        .expect(1)
        .mount(&server)
        .await;
    let meta = client
        .produce_json("greetings", &json!({"device": 7}))
        .await
        .unwrap();
    assert_eq!(meta.timestamp, 1637743323016);
}

#[tokio::test]
async fn produce_many_posts_an_array_in_order() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/produce"))
        .and(authed())
        .and(body_json(fixture("produce/request_many.json")))
        .respond_with(reply(200, "produce/metadata_many.json"))
        .expect(1)
        .mount(&server)
        .await;
    let out = client
        .produce_many(&[
            ProduceRecord::new("hello_world").topic("greetings"),
            ProduceRecord::new("Istanbul").topic("cities").partition(1),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        typed::<Vec<ProduceMetadata>>("produce/metadata_many.json")
    );
    assert_eq!(out[0].topic, "greetings");
    assert_eq!(out[1].topic, "cities");
}

#[tokio::test]
async fn produce_many_refuses_a_record_without_topic_before_sending() {
    let (server, client) = setup().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let err = client
        .produce_many(&[
            ProduceRecord::new("a").topic("greetings"),
            ProduceRecord::new("b"),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("message 1"), "{err}");
    assert!(client.produce_many(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn produce_to_posts_an_array_to_the_encoded_topic_path() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/produce/a%20b%2F%C3%A7"))
        .and(authed())
        .and(body_json(fixture("produce/request_to.json")))
        .respond_with(reply(200, "produce/metadata_many.json"))
        .expect(1)
        .mount(&server)
        .await;
    let out = client
        .produce_many_to(
            "a b/ç",
            // A topic on a record is not sent: the path names the topic.
            &[
                ProduceRecord::new("hello_world").topic("ignored"),
                ProduceRecord::new("hello_upstash"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].offset, 4);
}

#[tokio::test]
async fn produce_in_url_gets_the_encoded_message_path_with_key() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/produce/mytopic/hello%20world%2F%C3%A4%3F%23"))
        .and(authed())
        .and(query_param("key", "k&=1 2"))
        .and(no_body())
        .respond_with(reply(200, "produce/metadata.json"))
        .expect(1)
        .mount(&server)
        .await;
    let meta = client
        .produce_in_url("mytopic", "hello world/ä?#", Some("k&=1 2"))
        .await
        .unwrap();
    assert_eq!(meta, typed::<ProduceMetadata>("produce/metadata.json"));
}

#[tokio::test]
async fn produce_in_url_without_key_sends_no_query() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/produce/mytopic/hello_kafka"))
        .and(query_param_is_missing("key"))
        .and(|r: &wiremock::Request| r.url.query().is_none())
        .respond_with(reply(200, "produce/metadata.json"))
        .expect(1)
        .mount(&server)
        .await;
    client
        .produce_in_url("mytopic", "hello_kafka", None)
        .await
        .unwrap();
}
