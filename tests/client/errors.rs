//! Error answers, retries, timeouts and transport failures.

use std::time::{Duration, Instant};

use upkafka_client::{Client, ErrorKind, RetryPolicy};
use upkafka_protocol::ProduceRecord;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

fn no_retry_client(server: &MockServer) -> Client {
    Client::new(config_for(&server.uri()).retry(RetryPolicy::none())).unwrap()
}

#[tokio::test]
async fn unauthorized_is_final_and_never_shows_the_credentials() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(401, "errors/unauthorized.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client.topics().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.is_auth());
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(401));
    let shown = format!("{err} / {err:?}");
    assert!(shown.contains("GET /topics"), "{shown}");
    assert!(!shown.contains("sesame"), "{shown}");
    assert!(
        !shown.contains(AUTH.trim_start_matches("Basic ")),
        "{shown}"
    );
}

#[tokio::test]
async fn bad_request_is_final_and_carries_the_server_message() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/produce"))
        .respond_with(reply(400, "errors/bad_request.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client
        .produce("nosuchtopic", ProduceRecord::new("v"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "POST /produce: server answered 400: Topic nosuchtopic does not exist"
    );
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/delete-consumer/mygroup/instance-1"))
        .respond_with(reply(404, "errors/not_found.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client
        .remove_consumer_instance("mygroup", "instance-1")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("not found"), "{err}");
}

#[tokio::test]
async fn a_non_json_error_body_is_quoted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/consumers"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw("<html><body>502 Bad Gateway</body></html>", "text/html"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = no_retry_client(&server).consumers().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.status(), Some(502));
    assert!(err.is_retryable());
    assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
}

#[tokio::test]
async fn a_server_error_is_retried_then_succeeds() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(500, "errors/internal.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(200, "metadata/topics.json"))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client.topics().await.unwrap()["greetings"], 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(429, "errors/rate_limited.json").insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(200, "metadata/topics.json"))
        .expect(1)
        .mount(&server)
        .await;
    // The backoff alone would wait at most 5 ms; only the header explains a 1 s pause.
    let policy = RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    let client = Client::new(config_for(&server.uri()).retry(policy)).unwrap();
    let started = Instant::now();
    client.topics().await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn exhausted_retries_return_the_last_error() {
    let server = MockServer::start().await;
    for status in [500, 502] {
        Mock::given(method("GET"))
            .and(path("/topics"))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(503, "errors/unavailable.json"))
        .expect(1)
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        max_retries: 2,
        ..fast_retry()
    };
    let client = Client::new(config_for(&server.uri()).retry(policy)).unwrap();
    let err = client.topics().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("Service unavailable"), "{err}");
}

#[tokio::test]
async fn produce_is_sent_once_when_produce_retries_are_off() {
    let server = MockServer::start().await;
    for p in [
        "/produce",
        "/produce/cities",
        "/produce/cities/v",
        "/webhook",
    ] {
        Mock::given(path(p))
            .respond_with(reply(503, "errors/unavailable.json"))
            .expect(1)
            .mount(&server)
            .await;
    }
    let policy = RetryPolicy {
        retry_produce: false,
        ..fast_retry()
    };
    let client = Client::new(config_for(&server.uri()).retry(policy)).unwrap();
    let errs = [
        client
            .produce("cities", ProduceRecord::new("v"))
            .await
            .unwrap_err(),
        client
            .produce_many_to("cities", &[ProduceRecord::new("v")])
            .await
            .unwrap_err(),
        client
            .produce_in_url("cities", "v", None)
            .await
            .unwrap_err(),
        client.webhook("cities", "v", &[]).await.unwrap_err(),
    ];
    for err in errs {
        assert_eq!(err.status(), Some(503), "{err}");
    }
}

#[tokio::test]
async fn malformed_json_in_a_success_is_a_decode_error_with_a_snippet() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"cities\": 12,", "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client.topics().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(!err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(err.to_string().contains("{\\\"cities\\\": 12,"), "{err}");
    assert!(err.to_string().contains("GET /topics"), "{err}");
}

#[tokio::test]
async fn a_produce_answer_of_the_wrong_length_is_a_decode_error() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/produce"))
        .respond_with(reply(200, "produce/metadata_many.json"))
        .expect(2)
        .mount(&server)
        .await;
    let err = client
        .produce("greetings", ProduceRecord::new("v"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    let err = client
        .produce_many(&[
            ProduceRecord::new("a").topic("t"),
            ProduceRecord::new("b").topic("t"),
            ProduceRecord::new("c").topic("t"),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("3 messages"), "{err}");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(reply(200, "metadata/topics.json").set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::new(
        config_for(&server.uri())
            .timeout(Duration::from_millis(200))
            .retry(RetryPolicy::none()),
    )
    .unwrap();
    let started = Instant::now();
    let err = client.topics().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("200 ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client =
        Client::new(config_for(&format!("http://127.0.0.1:{port}")).retry(RetryPolicy::none()))
            .unwrap();
    let err = client.topics().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(err.to_string().contains("GET /topics"), "{err}");
    // The HTTP stack's error is the source, reachable through `std::error::Error` alone.
    let source = std::error::Error::source(&err).expect("a transport error has a source");
    assert!(!source.to_string().is_empty());
    match &err {
        upkafka_client::Error::Transport { source, .. } => {
            let _: &(dyn std::error::Error + Send + Sync) = source.as_ref();
        }
        other => panic!("not a transport error: {other:?}"),
    }
}

/// `?` turns a `serde_json::Error` into the client's error (kind `Json`), so reading a
/// message value as JSON needs no `map_err`.
#[test]
fn a_serde_json_error_converts_with_the_question_mark() {
    fn device(message: &upkafka_protocol::Message) -> upkafka_client::Result<u32> {
        #[derive(serde::Deserialize)]
        struct Reading {
            device: u32,
        }
        let reading: Reading = message.value_json()?;
        Ok(reading.device)
    }
    let mut message: upkafka_protocol::Message = typed::<Vec<_>>("consume/messages.json").remove(0);
    message.value = r#"{"device":7}"#.into();
    assert_eq!(device(&message).unwrap(), 7);
    message.value = "not json".into();
    let err = device(&message).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Json, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(std::error::Error::source(&err).is_some());

    fn encode() -> upkafka_client::Result<ProduceRecord> {
        // A map with non-string keys cannot be JSON.
        let map = std::collections::BTreeMap::from([((1, 2), "x")]);
        Ok(ProduceRecord::json(&map)?)
    }
    assert_eq!(encode().unwrap_err().kind(), ErrorKind::Json);
}

#[tokio::test]
async fn a_long_poll_may_take_its_server_wait_beyond_the_request_timeout() {
    // The per-attempt timeout is `Config::timeout` plus the poll's own `timeout`, so a consume
    // that the server holds for most of its wait does not time out on the client.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(reply(200, "consume/empty.json").set_delay(Duration::from_millis(600)))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::new(
        config_for(&server.uri())
            .timeout(Duration::from_millis(300))
            .retry(RetryPolicy::none()),
    )
    .unwrap();
    let opts = upkafka_client::ConsumeOptions {
        timeout: Some(Duration::from_secs(1)),
        ..upkafka_client::ConsumeOptions::new("g", "i", ["t"])
    };
    assert!(client.consume(&opts).await.unwrap().is_empty());
}

/// Every produce call sends a fresh `Idempotency-Key`; every retry of the call sends the same
/// one, and a produce's 409 (its first attempt still being stored) is retried.
#[tokio::test]
async fn a_produce_retry_sends_its_first_attempts_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(path("/produce/cities"))
        .respond_with(reply(503, "errors/unavailable.json"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/produce/cities"))
        .respond_with(
            ResponseTemplate::new(409)
                .insert_header("Retry-After", "0")
                .set_body_json(serde_json::json!({"error": "still being stored", "status": 409})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/produce/cities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"topic": "cities", "partition": 0, "offset": 0, "timestamp": 1}
        ])))
        .mount(&server)
        .await;
    let client = Client::new(config_for(&server.uri()).retry(fast_retry())).unwrap();
    let records = [ProduceRecord::new("v")];
    client.produce_many_to("cities", &records).await.unwrap();
    client.produce_many_to("cities", &records).await.unwrap();
    let keys: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 4, "503 and 409 retried: {keys:?}");
    assert!(!keys[0].is_empty());
    assert!(keys[..3].iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_ne!(keys[3], keys[0], "a new call, a new key");

    // Off: no key, and then a 409 is not retried.
    let policy = RetryPolicy {
        idempotency_keys: false,
        ..fast_retry()
    };
    let plain = MockServer::start().await;
    Mock::given(path("/produce/cities"))
        .and(no_header("idempotency-key"))
        .respond_with(ResponseTemplate::new(409))
        .expect(1)
        .mount(&plain)
        .await;
    let client = Client::new(config_for(&plain.uri()).retry(policy)).unwrap();
    let err = client
        .produce_many_to("cities", &records)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
}
