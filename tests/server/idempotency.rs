//! Idempotent produce (issue 16): the `Idempotency-Key` rules over HTTP, on the embedded log
//! and (in the gateway suite) on Kafka.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::support::{Api, assert_error};

/// Every record stored in `topic` (partitions `0..partitions`), as values.
async fn stored(api: &Api, topic: &str, partitions: i32) -> Vec<String> {
    let mut out = Vec::new();
    for p in 0..partitions {
        let (s, msgs) = api
            .post(
                "/fetch",
                &json!({"topic": topic, "partition": p, "offset": 0, "timeout": 1000}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{msgs}");
        out.extend(
            msgs.as_array()
                .expect("array")
                .iter()
                .map(|m| m["value"].as_str().unwrap_or_default().to_owned()),
        );
    }
    out.sort();
    out
}

async fn produce(api: &Api, path: &str, body: &Value, key: &str) -> (StatusCode, Value) {
    api.send("POST", path, &body.to_string(), &[("Idempotency-Key", key)])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_answers_the_first_answer_and_stores_nothing() {
    let api = Api::topics(&[("idem", 3)]).await;
    let batch = json!([
        {"value": "a", "partition": 0},
        {"value": "b", "partition": 2},
        {"value": "c", "key": "k"},
        {"value": "d"},
    ]);
    let (s, first) = produce(&api, "/produce/idem", &batch, "batch-1").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    for _ in 0..3 {
        let (s, again) = produce(&api, "/produce/idem", &batch, "batch-1").await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert_eq!(again, first, "same partitions, offsets and timestamps");
    }
    // A batch is fingerprinted by its bytes and route (the draft's payload fingerprint): the
    // same records through `/produce` (topics in the records), or encoded with other
    // whitespace, are another request under the key: 422, nothing stored.
    let named: Vec<Value> = batch
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["topic"] = json!("idem");
            r
        })
        .collect();
    let (s, err) = produce(&api, "/produce", &json!(named), "batch-1").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let spaced = serde_json::to_string_pretty(&batch).expect("JSON");
    let (s, err) = api
        .send(
            "POST",
            "/produce/idem",
            &spaced,
            &[("Idempotency-Key", "batch-1")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(stored(&api, "idem", 3).await, ["a", "b", "c", "d"]);
    // Another key stores the batch again; no key at all too, as always.
    let (s, other) = produce(&api, "/produce/idem", &batch, "batch-2").await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(other, first);
    let (s, _) = api.post("/produce/idem", &batch).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored(&api, "idem", 3).await.len(), 12);
}

/// `/metrics` counts a keyed batch once, through either route (the path's topic, or topics
/// in the records), and a repeat not again: it stored nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_batch_is_counted_once_in_metrics() {
    let api = Api::topics(&[("m1", 1), ("m2", 1)]).await;
    let to_path = json!([{"value": "ab"}, {"value": "cde", "topic": "m1"}]);
    let named = json!([{"topic": "m1", "value": "f"}, {"topic": "m2", "value": "gh"}]);
    for _ in 0..2 {
        let (s, body) = produce(&api, "/produce/m1", &to_path, "count-1").await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, body) = produce(&api, "/produce", &named, "count-2").await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (s, text) = api.text("/metrics").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let sample = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
    };
    assert_eq!(
        sample(r#"upkafka_messages_produced_total{topic="m1"}"#),
        3.0
    );
    assert_eq!(sample(r#"upkafka_bytes_produced_total{topic="m1"}"#), 6.0);
    assert_eq!(
        sample(r#"upkafka_messages_produced_total{topic="m2"}"#),
        1.0
    );
    assert_eq!(sample(r#"upkafka_bytes_produced_total{topic="m2"}"#), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_another_body_is_422_and_stores_nothing() {
    let api = Api::topics(&[("idem", 1)]).await;
    let (s, _) = produce(&api, "/produce/idem", &json!({"value": "one"}), "k").await;
    assert_eq!(s, StatusCode::OK);
    for other in [
        json!({"value": "two"}),
        json!({"value": "one", "key": "x"}),
        json!([{"value": "one"}, {"value": "one"}]),
    ] {
        let got = produce(&api, "/produce/idem", &other, "k").await;
        assert_error(
            &got,
            422,
            "Idempotency-Key `k` was already used for a different batch",
        );
    }
    assert_eq!(stored(&api, "idem", 1).await, ["one"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_key_is_400_naming_the_header() {
    let api = Api::topics(&[("idem", 1)]).await;
    let long = "x".repeat(256);
    for bad in ["", "two words", "\"\"", long.as_str(), "\"un\"quoted\""] {
        let got = produce(&api, "/produce/idem", &json!({"value": "v"}), bad).await;
        assert_error(&got, 400, "Idempotency-Key");
    }
    let got = api
        .send(
            "POST",
            "/produce/idem",
            r#"{"value":"v"}"#,
            &[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        )
        .await;
    assert_error(&got, 400, "one Idempotency-Key");
    assert!(stored(&api, "idem", 1).await.is_empty());
    // The draft's quoted form is the same key as the bare one.
    let (s, bare) = produce(&api, "/produce/idem", &json!({"value": "v"}), "q-1").await;
    assert_eq!(s, StatusCode::OK);
    let (s, quoted) = produce(&api, "/produce/idem", &json!({"value": "v"}), "\"q-1\"").await;
    assert_eq!((s, quoted), (StatusCode::OK, bare));
    assert_eq!(stored(&api, "idem", 1).await, ["v"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_and_webhook_forms_take_a_key_too() {
    let api = Api::topics(&[("idem", 1)]).await;
    let key = [("Idempotency-Key", "url-1")];
    let (s, first) = api.send("GET", "/produce/idem/hello?key=k", "", &key).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, again) = api.send("GET", "/produce/idem/hello?key=k", "", &key).await;
    assert_eq!((s, again), (StatusCode::OK, first.clone()));
    let got = api.send("GET", "/produce/idem/other?key=k", "", &key).await;
    assert_error(&got, 422, "url-1");
    let hook = [("Idempotency-Key", "hook-1"), ("x-event", "push")];
    let (s, first) = api
        .send("POST", "/webhook?topic=idem", "event", &hook)
        .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, again) = api
        .send("POST", "/webhook?topic=idem", "event", &hook)
        .await;
    assert_eq!((s, again), (StatusCode::OK, first));
    assert_eq!(stored(&api, "idem", 1).await, ["event", "hello"]);
    // The key is a control header, not a message header.
    let (_, msgs) = api
        .post(
            "/fetch",
            &json!({"topic": "idem", "partition": 0, "offset": 1}),
        )
        .await;
    let headers = msgs[0]["headers"].as_array().cloned().unwrap_or_default();
    assert!(
        headers.iter().all(|h| h["key"] != "idempotency-key"),
        "{headers:?}"
    );
    assert!(headers.iter().any(|h| h["key"] == "x-event"), "{headers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_produce_leaves_its_key_free_for_the_retry() {
    let api = Api::topics(&[("idem", 1)]).await;
    // The batch is refused whole (unknown partition): nothing stored, nothing remembered.
    let bad = json!([{"value": "v"}, {"value": "w", "partition": 9}]);
    let got = produce(&api, "/produce/idem", &bad, "retry-1").await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let good = json!([{"value": "v"}, {"value": "w"}]);
    let (s, v) = produce(&api, "/produce/idem", &good, "retry-1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(stored(&api, "idem", 1).await, ["v", "w"]);
}

/// Concurrent repeats of one key: one stores, the others wait for its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_store_once_and_all_get_the_answer() {
    let api = Api::topics(&[("idem", 2)]).await;
    let batch = json!([{"value": "x"}, {"value": "y"}]);
    let answers = futures::future::join_all((0..16).map(|_| {
        let api = api.clone();
        let batch = batch.clone();
        async move { produce(&api, "/produce/idem", &batch, "together").await }
    }))
    .await;
    let first = &answers[0];
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert!(answers.iter().all(|a| a == first), "{answers:?}");
    assert_eq!(stored(&api, "idem", 2).await, ["x", "y"]);
}
