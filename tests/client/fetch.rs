//! `/fetch`: single triple, parallel split, verbatim non-parallel body.

use std::time::Duration;

use serde_json::json;
use upkafka_client::{ErrorKind, FetchOptions};
use upkafka_protocol::{FetchRequest, Message, TopicPartitionOffset};
use wiremock::matchers::{any, body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn fetch_one_triple_posts_it_with_the_timeout() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(authed())
        .and(body_json(fixture("fetch/request_one.json")))
        .respond_with(reply(200, "fetch/messages.json"))
        .expect(1)
        .mount(&server)
        .await;
    let req: FetchRequest = typed("fetch/request_one.json");
    let got = client.fetch(&req).await.unwrap();
    assert_eq!(got, typed::<Vec<Message>>("fetch/messages.json"));
    assert_eq!(got[0].key, "");
    assert!(got[0].headers.is_empty());
}

#[tokio::test]
async fn fetch_parallel_sends_one_request_per_partition_in_the_official_order() {
    let (server, client) = setup().await;
    // The list entries come first, the top-level triple last; the first answer is slowest so
    // completion order differs from request order.
    let parts = [
        (
            json!({"topic": "greetings", "partition": 1, "offset": 1, "timeout": 5000}),
            "fetch/messages_greetings.json",
            300,
        ),
        (
            json!({"topic": "cities", "partition": 2, "offset": 20, "timeout": 5000}),
            "fetch/messages_cities.json",
            100,
        ),
        (
            json!({"topic": "stripe", "partition": 0, "offset": 7, "timeout": 5000}),
            "fetch/messages_stripe.json",
            0,
        ),
    ];
    for (body, answer, delay) in &parts {
        Mock::given(method("POST"))
            .and(path("/fetch"))
            .and(authed())
            .and(body_json(body))
            .respond_with(reply(200, answer).set_delay(Duration::from_millis(*delay)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut req: FetchRequest = typed("fetch/request_many.json");
    req.topic = Some("stripe".into());
    req.partition = Some(0);
    req.offset = Some(7);
    let got = client.fetch(&req).await.unwrap();
    let want: Vec<Message> = parts
        .iter()
        .flat_map(|(_, answer, _)| typed::<Vec<Message>>(answer))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        got.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(),
        ["greetings", "greetings", "cities", "stripe"]
    );
    assert_eq!(got[2].header("expire"), Some("1637745834756"));
}

#[tokio::test]
async fn fetch_parallel_without_timeout_sends_none() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(body_json(
            json!({"topic": "cities", "partition": 2, "offset": 20}),
        ))
        .respond_with(reply(200, "fetch/messages_cities.json"))
        .expect(1)
        .mount(&server)
        .await;
    let req = FetchRequest {
        topic_partition_offsets: Some(vec![TopicPartitionOffset::new("cities", 2, 20)]),
        ..FetchRequest::default()
    };
    assert_eq!(client.fetch(&req).await.unwrap().len(), 1);
}

#[tokio::test]
async fn fetch_non_parallel_sends_the_request_verbatim_once() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(authed())
        .and(body_json(fixture("fetch/request_many.json")))
        .respond_with(reply(200, "fetch/messages_greetings.json"))
        .expect(1)
        .mount(&server)
        .await;
    let req: FetchRequest = typed("fetch/request_many.json");
    let got = client
        .fetch_with(&req, FetchOptions { parallel: false })
        .await
        .unwrap();
    assert_eq!(got, typed::<Vec<Message>>("fetch/messages_greetings.json"));
}

#[tokio::test]
async fn fetch_with_no_entries_sends_nothing_and_a_partial_triple_is_refused() {
    let (server, client) = setup().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let empty = FetchRequest {
        timeout: Some(1000),
        ..FetchRequest::default()
    };
    assert!(client.fetch(&empty).await.unwrap().is_empty());
    assert!(
        client
            .fetch_with(&empty, FetchOptions { parallel: false })
            .await
            .unwrap()
            .is_empty()
    );
    let partial = FetchRequest {
        topic: Some("cities".into()),
        partition: Some(0),
        ..FetchRequest::default()
    };
    let err = client.fetch(&partial).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("offset"), "{err}");
}
