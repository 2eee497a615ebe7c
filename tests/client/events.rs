//! `MessageStream` (server-sent events) against wiremock: the request it sends (method, path,
//! `Accept`, `Kafka-*` headers), the events it parses (comments and `retry:` skipped, multi-line
//! data, CRLF), the reconnect after the server ends a response with `Last-Event-ID` set to the
//! last event it yielded, and the errors that end it.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;
use upkafka_client::{ConsumeOptions, ErrorKind, MessageStream};
use upkafka_protocol::{ConsumerConfig, FetchRequest};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

fn event(id: &str, offset: i64, value: &str) -> String {
    let m = json!({"topic": "t", "partition": 0, "offset": offset, "timestamp": 7,
                   "key": "", "value": value, "headers": []});
    format!("id: {id}\ndata: {m}\n\n")
}

fn events(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
}

async fn values(stream: &mut MessageStream, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an item in time")
            .expect("the stream goes on");
        out.push(item.expect("a record").value);
    }
    out
}

#[tokio::test]
async fn a_fetch_stream_reconnects_with_the_last_event_id_and_resumes_after_it() {
    let (server, client) = setup().await;
    let first = format!(
        "retry: 10\n\n{}: heartbeat\n\n{}",
        event("t/0/0", 0, "a"),
        event("t/0/1", 1, "b")
    );
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(authed())
        .and(only_header("accept", "text/event-stream"))
        .and(no_header("last-event-id"))
        .respond_with(events(first))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    // The second answer uses CRLF line ends and a two-line data field, as any SSE server may.
    let second = "id: t/0/2\r\ndata: {\"topic\":\"t\",\"partition\":0,\"offset\":2,\r\ndata: \"timestamp\":7,\"value\":\"c\"}\r\n\r\nevent: error\ndata: {\"error\":\"unknown topic `t`\",\"status\":400}\n\n";
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .and(header("last-event-id", "t/0/1"))
        .respond_with(events(second.to_owned()))
        .expect(1)
        .mount(&server)
        .await;

    let mut stream = client.fetch_stream(&FetchRequest::new("t", 0, 0));
    assert_eq!(values(&mut stream, 3).await, ["a", "b", "c"]);
    assert_eq!(stream.last_event_id().as_deref(), Some("t/0/2"));
    let err = stream
        .next()
        .await
        .expect("the error")
        .expect_err("an API error");
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(400)));
    assert!(err.to_string().contains("unknown topic"), "{err}");
    assert!(stream.next().await.is_none(), "an error ends the stream");
}

#[tokio::test]
async fn a_group_stream_sends_the_consume_request_and_its_settings() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .and(only_header("accept", "text/event-stream"))
        .and(header("kafka-enable-auto-commit", "false"))
        .and(|r: &wiremock::Request| {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .is_ok_and(|b| b["topic"] == "t" || b["topics"] == json!(["t"]))
        })
        .respond_with(events(event("t/0/0", 0, "a")))
        .mount(&server)
        .await;
    let consumer = client
        .consumer("g", "i", ["t"])
        .with_config(ConsumerConfig {
            auto_commit: Some(false),
            ..ConsumerConfig::default()
        });
    let mut stream = consumer.follow();
    assert_eq!(values(&mut stream, 1).await, ["a"]);
    drop(stream);
    let mut stream = client.consume_stream(&ConsumeOptions::new("g", "i", Vec::<String>::new()));
    let err = stream
        .next()
        .await
        .expect("one item")
        .expect_err("no topics");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_server_without_streams_is_an_error_not_a_reconnect_loop() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(ResponseTemplate::new(501).set_body_json(
            json!({"error": "this backend cannot stream a consumer group", "status": 501}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/fetch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = client.consumer("g", "i", ["t"]).follow();
    let err = stream.next().await.expect("one item").expect_err("501");
    assert_eq!(err.status(), Some(501));
    assert!(stream.next().await.is_none());
    let mut stream = client.fetch_stream(&FetchRequest::new("t", 0, 0));
    let err = stream
        .next()
        .await
        .expect("one item")
        .expect_err("JSON, not a stream");
    assert!(err.to_string().contains("event stream"), "{err}");
}
