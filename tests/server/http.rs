//! Endpoint shapes, methods and error statuses, through `router(state).oneshot(..)`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use serde_json::{Value, json};
use upkafka_server::{Credentials, Limits, ServerConfig, partition_for_key};

use super::support::{Api, assert_error, basic, config, offsets, values};

async fn latest(api: &Api, topic: &str, partitions: i32) -> Vec<i64> {
    let body: Vec<Value> = (0..partitions)
        .map(|p| json!({"topic": topic, "partition": p}))
        .collect();
    let v = api.ok("/offsets/latest", &json!(body)).await;
    v.as_array()
        .expect("array")
        .iter()
        .map(|o| o["offset"].as_i64().expect("offset"))
        .collect()
}

#[tokio::test]
async fn produce_variants_answer_the_documented_shapes() {
    let api = Api::topics(&[("t", 1), ("u", 2)]).await;
    // P1: one object; the message segment is percent-decoded (a `/` travels as %2F).
    let (s, v) = api.get("/produce/t/hello%20w%2Forld?key=k1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.is_object(), "{v}");
    assert_eq!(
        (
            v["topic"].clone(),
            v["partition"].clone(),
            v["offset"].clone()
        ),
        (json!("t"), json!(0), json!(0))
    );
    // P1 with a trailing slash.
    let (s, v) = api.get("/produce/t/second/").await;
    assert_eq!((s, v["offset"].clone()), (StatusCode::OK, json!(1)));
    // P2 with a single object answers an array of one.
    let v = api.ok("/produce/t", &json!({"value": "third"})).await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["offset"], 2);
    // P2 via GET with a body, form content type (curl -d), trailing slash.
    let (s, v) = api
        .send(
            "GET",
            "/produce/t/",
            r#"[{"value":"4"},{"value":"5"}]"#,
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(offsets(v.as_array().expect("array")), vec![3, 4]);
    // P3: mixed topics, request order kept, text/plain content type.
    let (s, v) = api
        .send(
            "POST",
            "/produce",
            r#"[{"topic":"u","partition":1,"value":"a"},{"topic":"t","value":"b"},{"topic":"u","partition":1,"value":"c"}]"#,
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let arr = v.as_array().expect("array");
    assert_eq!(
        arr.iter()
            .map(|m| (
                m["topic"].as_str().unwrap_or(""),
                m["offset"].as_i64().unwrap_or(-1)
            ))
            .collect::<Vec<_>>(),
        vec![("u", 0), ("t", 5), ("u", 1)]
    );
    // P3 with one object still answers an array (what the official client reads res[0] of).
    let v = api
        .ok("/produce/", &json!({"topic": "t", "value": "x"}))
        .await;
    assert!(v.is_array());
    // The P1 message reads back decoded, with its key.
    let v = api
        .ok(
            "/fetch",
            &json!({"topic": "t", "partition": 0, "offset": 0, "timeout": 0}),
        )
        .await;
    let msgs = v.as_array().expect("array");
    assert_eq!(msgs[0]["value"], "hello w/orld");
    assert_eq!(msgs[0]["key"], "k1");
    assert_eq!(msgs[1]["key"], "", "no key reads back as empty string");
    assert_eq!(msgs[1]["headers"], json!([]));
}

/// A batch spread over more partitions than the backend groups by linear search (8): every
/// record lands on its partition, offsets are contiguous per partition in request order, and
/// fetch gives back the values in that order.
/// The body produces are served by the pipeline without the router (issue 19); they keep the
/// router's contract: percent-decoded topics, the JSON 405 with `Allow`, and HEAD refused (a
/// HEAD must not write, and an empty body is no message).
#[tokio::test]
async fn the_body_produce_routes_keep_the_routers_contract() {
    let api = Api::topics(&[("t", 1)]).await;
    // `%74` is `t`: the topic segment is decoded as the router's `Path` decodes it.
    let v = api.ok("/produce/%74", &json!({"value": "a"})).await;
    assert_eq!(
        (v[0]["topic"].clone(), v[0]["offset"].clone()),
        (json!("t"), json!(0))
    );
    for (method, path) in [
        ("HEAD", "/produce/t"),
        ("DELETE", "/produce/t/"),
        ("PATCH", "/produce"),
        ("HEAD", "/produce/"),
    ] {
        let mut req = Request::builder().method(method).uri(path);
        req = req.header("content-type", "application/json");
        let resp = api
            .response(
                req.body(Body::from(r#"{"topic":"t","value":"x"}"#))
                    .expect("request"),
            )
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            resp.headers().get("allow"),
            Some(&HeaderValue::from_static("GET,POST")),
            "{method} {path}"
        );
        if method != "HEAD" {
            let got = api
                .send(method, path, r#"{"topic":"t","value":"x"}"#, &[])
                .await;
            assert_error(&got, 405, "method not allowed");
        }
    }
    // Nothing above was written: the next offset is still 1.
    assert_eq!(latest(&api, "t", 1).await, vec![1]);
    // The Idempotency-Key header is read on both routes, and a bad one names itself.
    for path in ["/produce/t", "/produce"] {
        let got = api
            .send(
                "POST",
                path,
                r#"{"topic":"t","value":"x"}"#,
                &[("Idempotency-Key", "")],
            )
            .await;
        assert_error(&got, 400, "Idempotency-Key");
    }
}

#[tokio::test]
async fn a_batch_over_many_partitions_keeps_per_partition_order() {
    let api = Api::topics(&[("wide", 12)]).await;
    let records: Vec<Value> = (0..36)
        .map(|i| json!({"topic": "wide", "value": format!("v{i}"), "partition": (i * 5) % 12}))
        .collect();
    let meta = api.ok("/produce", &Value::Array(records)).await;
    let meta = meta.as_array().expect("array");
    assert_eq!(meta.len(), 36);
    let mut next = [0i64; 12];
    for (i, m) in meta.iter().enumerate() {
        let p = (i * 5) % 12;
        assert_eq!(m["partition"], json!(p), "{m}");
        assert_eq!(m["offset"], json!(next[p]), "record {i}: {m}");
        next[p] += 1;
    }
    for p in 0..12 {
        let (s, v) = api
            .post(
                "/fetch",
                &json!({"topic": "wide", "partition": p, "offset": 0, "timeout": 0}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let values: Vec<String> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|m| m["value"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = (0..36)
            .filter(|i| (i * 5) % 12 == p)
            .map(|i| format!("v{i}"))
            .collect();
        assert_eq!(values, expected, "partition {p}");
    }
}

#[tokio::test]
async fn produce_fetch_round_trip_keeps_key_headers_and_timestamp() {
    let api = Api::topics(&[("t", 3)]).await;
    let rec = json!({"partition": 2, "timestamp": 1_637_743_323_016_i64, "key": "city",
        "value": "Istanbul", "headers": [{"key": "expire", "value": "1637745834756"}, {"key": "expire", "value": "2"}]});
    let meta = api.ok("/produce/t", &rec).await;
    assert_eq!(meta[0]["partition"], 2);
    assert_eq!(meta[0]["timestamp"], 1_637_743_323_016_i64);
    let off = meta[0]["offset"].clone();
    // GET with a JSON body.
    let (s, v) = api
        .send(
            "GET",
            "/fetch",
            &json!({"topic": "t", "partition": 2, "offset": off, "timeout": 0}).to_string(),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!([{"topic": "t", "partition": 2, "offset": 0, "timestamp": 1_637_743_323_016_i64,
            "key": "city", "value": "Istanbul",
            "headers": [{"key": "expire", "value": "1637745834756"}, {"key": "expire", "value": "2"}]}])
    );
    // A server-assigned timestamp is "now".
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let meta = api
        .ok("/produce/t", &json!({"value": "now", "partition": 0}))
        .await;
    let ts = meta[0]["timestamp"].as_i64().expect("timestamp");
    assert!(ts >= before && ts < before + 60_000, "{ts} vs {before}");
}

#[tokio::test]
async fn negative_record_timestamps_are_refused_with_the_batch() {
    // Kafka's producer refuses them; a batch holding one writes nothing.
    let api = Api::topics(&[("t", 1)]).await;
    let batch = json!([{"value": "fine"}, {"value": "bad", "timestamp": -5}]);
    assert_error(
        &api.post("/produce/t", &batch).await,
        400,
        "record 1: timestamp -5 is negative",
    );
    let (s, v) = api
        .post("/produce/t", &json!({"value": "zero", "timestamp": 0}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["offset"], 0, "the refused batch wrote nothing: {v}");
}

#[tokio::test]
async fn keyed_records_use_kafkas_partitioner_and_unkeyed_round_robin() {
    let api = Api::topics(&[("t", 5)]).await;
    for key in ["alpha", "beta", "gamma", "foobar"] {
        let v = api
            .ok("/produce/t", &json!({"key": key, "value": "v"}))
            .await;
        assert_eq!(
            v[0]["partition"],
            partition_for_key(key.as_bytes(), 5),
            "{key}"
        );
    }
    // toPositive(murmur2("foobar")) % 5 == 1357151166 % 5 == 1, as a Java producer would pick.
    let v = api
        .ok("/produce/t", &json!({"key": "foobar", "value": "v"}))
        .await;
    assert_eq!(v[0]["partition"], 1);
    let batch: Vec<Value> = (0..10).map(|i| json!({"value": i.to_string()})).collect();
    let v = api.ok("/produce/t", &json!(batch)).await;
    let mut seen: Vec<i64> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["partition"].as_i64().unwrap_or(-1))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        vec![0, 1, 2, 3, 4],
        "round robin reaches every partition"
    );
}

#[tokio::test]
async fn a_batch_with_one_bad_record_writes_nothing() {
    let cfg = ServerConfig {
        limits: Limits {
            max_message_bytes: 100,
            ..Limits::default()
        },
        ..config(&[("t", 2), ("u", 1)])
    };
    let api = Api::new(cfg).await;
    api.ok("/produce/t", &json!([{"value": "seed", "partition": 0}]))
        .await;
    let before = (latest(&api, "t", 2).await, latest(&api, "u", 1).await);
    let cases = [
        (
            json!([{"topic": "t", "value": "ok"}, {"topic": "u", "value": "ok"}, {"topic": "t", "partition": 2, "value": "bad"}]),
            "partition 2",
        ),
        (
            json!([{"topic": "t", "value": "ok"}, {"topic": "nope", "value": "bad"}]),
            "unknown topic",
        ),
        (
            json!([{"topic": "u", "value": "ok"}, {"topic": "t", "value": "x".repeat(101)}]),
            "maximum message size",
        ),
        (
            json!([{"topic": "u", "value": "ok"}, {"topic": "t", "value": 5}]),
            "invalid json",
        ),
        (
            json!([{"topic": "u", "value": "ok"}, {"topic": "t"}]),
            "value",
        ),
        (
            json!([{"topic": "u", "value": "ok"}, {"value": "no topic"}]),
            "topic",
        ),
    ];
    for (body, msg) in cases {
        let got = api.post("/produce", &body).await;
        assert_error(&got, 400, msg);
    }
    let after = (latest(&api, "t", 2).await, latest(&api, "u", 1).await);
    assert_eq!(before, after, "nothing of a refused batch may be written");
    let v = api
        .ok(
            "/fetch",
            &json!({"topic": "u", "partition": 0, "offset": 0, "timeout": 0}),
        )
        .await;
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn errors_have_the_documented_shape_and_status() {
    let cfg = ServerConfig {
        limits: Limits {
            max_body_bytes: 1024,
            ..Limits::default()
        },
        ..config(&[("t", 1)])
    };
    let api = Api::new(cfg).await;
    assert_error(
        &api.send("POST", "/produce/t", "{bad", &[]).await,
        400,
        "invalid json",
    );
    assert_error(&api.send("POST", "/produce/t", "", &[]).await, 400, "empty");
    assert_error(
        &api.send("POST", "/produce/t", r#"{"value": ["x"]}"#, &[])
            .await,
        400,
        "invalid json",
    );
    assert_error(
        &api.send(
            "POST",
            "/produce/t",
            r#"{"value":"x","partition":"one"}"#,
            &[],
        )
        .await,
        400,
        "invalid json",
    );
    assert_error(
        &api.post("/produce/nope", &json!({"value": "x"})).await,
        400,
        "unknown topic `nope`",
    );
    assert_error(
        &api.post("/produce/t", &json!({"value": "x", "partition": 1}))
            .await,
        400,
        "no partition 1",
    );
    assert_error(
        &api.post("/produce/t", &json!({"value": "x", "partition": -1}))
            .await,
        400,
        "no partition -1",
    );
    assert_error(
        &api.post("/produce/t", &json!({"topic": "other", "value": "x"}))
            .await,
        400,
        "path names",
    );
    assert_error(&api.get("/produce/nope/x").await, 400, "unknown topic");
    assert_error(
        &api.post("/fetch", &json!({"topic": "t", "partition": 0}))
            .await,
        400,
        "offset",
    );
    assert_error(
        &api.post(
            "/fetch",
            &json!({"topic": "t", "partition": 3, "offset": 0}),
        )
        .await,
        400,
        "no partition 3",
    );
    assert_error(
        &api.post(
            "/fetch",
            &json!({"topic": "t", "partition": 0, "offset": -5}),
        )
        .await,
        400,
        "negative",
    );
    assert_error(&api.post("/fetch", &json!({})).await, 400, "no partition");
    assert_error(
        &api.send(
            "POST",
            "/fetch?timeout=soon",
            r#"{"topic":"t","partition":0,"offset":0}"#,
            &[],
        )
        .await,
        400,
        "query",
    );
    assert_error(
        &api.post("/offsets/yesterday", &json!({"topic": "t", "partition": 0}))
            .await,
        400,
        "timestamp",
    );
    assert_error(
        &api.post("/offsets/latest", &json!({"topic": "zz", "partition": 0}))
            .await,
        400,
        "unknown topic",
    );
    assert_error(
        &api.send(
            "POST",
            "/consume/g/i",
            r#"{"topic":"t"}"#,
            &[("Kafka-Enable-Auto-Commit", "yes")],
        )
        .await,
        400,
        "Kafka-Enable-Auto-Commit",
    );
    assert_error(
        &api.send(
            "POST",
            "/consume/g/i",
            r#"{"topic":"t"}"#,
            &[("Kafka-Auto-Offset-Reset", "first")],
        )
        .await,
        400,
        "Kafka-Auto-Offset-Reset",
    );
    assert_error(
        &api.send("POST", "/consume/g/i", "", &[]).await,
        400,
        "no topic",
    );
    assert_error(
        &api.post("/consume/g/i2", &json!({"topic": "nope"})).await,
        400,
        "unknown topic",
    );
    // 404: unknown routes and unknown consumer instances.
    assert_error(&api.get("/nope").await, 404, "not found");
    assert_error(&api.get("/v1/produce/t/x").await, 404, "not found");
    assert_error(
        &api.send("DELETE", "/delete-consumer/g/ghost", "", &[])
            .await,
        404,
        "ghost",
    );
    assert_error(
        &api.post(
            "/commit/g/ghost",
            &json!({"topic": "t", "partition": 0, "offset": 1}),
        )
        .await,
        404,
        "ghost",
    );
    assert_error(
        &api.post("/committed/g/ghost", &json!({"topic": "t", "partition": 0}))
            .await,
        404,
        "ghost",
    );
    // 405: a known path with a wrong method.
    for (m, p) in [
        ("DELETE", "/topics"),
        ("POST", "/topics"),
        ("PUT", "/produce/t"),
        ("GET", "/delete-consumer/g/i"),
        ("POST", "/consume/g/i/t"),
        ("DELETE", "/fetch/"),
        ("POST", "/consumers"),
    ] {
        let got = api.send(m, p, "", &[]).await;
        assert_error(&got, 405, "method not allowed");
    }
    // 413: body over the configured limit.
    let big = json!({"value": "x".repeat(2000)}).to_string();
    assert_error(
        &api.send("POST", "/produce/t", &big, &[]).await,
        413,
        "too large",
    );
}

#[tokio::test]
async fn every_endpoint_requires_credentials_when_configured() {
    let cfg = ServerConfig {
        credentials: Some(Credentials::new("user", "secret")),
        ..config(&[("t", 1)])
    };
    let api = Api::new(cfg).await;
    let endpoints: [(&str, &str, &str); 14] = [
        ("GET", "/produce/t/x", ""),
        ("POST", "/produce/t", r#"{"value":"x"}"#),
        ("POST", "/produce", r#"{"topic":"t","value":"x"}"#),
        (
            "POST",
            "/fetch",
            r#"{"topic":"t","partition":0,"offset":0,"timeout":0}"#,
        ),
        ("GET", "/consume/g/i/t?timeout=0", ""),
        ("POST", "/consume/g/i", r#"{"topic":"t","timeout":0}"#),
        ("POST", "/commit/g/i", ""),
        ("POST", "/committed/g/i", r#"{"topic":"t","partition":0}"#),
        ("DELETE", "/delete-consumer/g/i", ""),
        ("GET", "/topics", ""),
        ("GET", "/consumers", ""),
        (
            "POST",
            "/offsets/earliest",
            r#"{"topic":"t","partition":0}"#,
        ),
        ("POST", "/webhook?topic=t", "x"),
        ("GET", "/nope", ""),
    ];
    let wrong = [
        None,
        Some(basic("user", "wrong")),
        Some(basic("other", "secret")),
        // Other lengths (the comparison must not depend on them) and empty parts.
        Some(basic("user", "secretsecret")),
        Some(basic("user", "s")),
        Some(basic("user", "")),
        Some(basic("", "secret")),
        Some("Bearer secret".to_owned()),
        Some(basic("user", "secret").replace("Basic ", "Basic x")),
    ];
    for (m, p, b) in endpoints {
        for auth in &wrong {
            let mut req = Request::builder().method(m).uri(p);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = api
                .clone()
                .raw(req.body(Body::from(b.to_owned())).expect("request"))
                .await;
            assert_error(&resp, 401, "unauthorized");
        }
        // Right credentials pass auth (the status is then the endpoint's own).
        let mut req = Request::builder().method(m).uri(p);
        req = req.header("authorization", basic("user", "secret"));
        let (s, v) = api
            .raw(req.body(Body::from(b.to_owned())).expect("request"))
            .await;
        assert_ne!(s, StatusCode::UNAUTHORIZED, "{m} {p}: {v}");
    }
    // The 401 carries a Basic challenge.
    let resp = tower::ServiceExt::oneshot(
        upkafka_router_for_challenge().await,
        Request::builder()
            .uri("/topics")
            .body(Body::empty())
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"upkafka\"")
    );
}

async fn upkafka_router_for_challenge() -> axum::Router {
    use std::sync::Arc;
    use upkafka_server::{AppState, EmbeddedBackend, embedded_options, router};
    let cfg = ServerConfig {
        credentials: Some(Credentials::new("user", "secret")),
        ..config(&[])
    };
    let backend = EmbeddedBackend::open(embedded_options(&cfg))
        .await
        .expect("backend");
    router(AppState::new(Arc::new(backend), &cfg))
}

#[tokio::test]
async fn long_poll_returns_when_data_arrives_not_before() {
    let api = Api::topics(&[("t", 2)]).await;
    let producer = api.clone();
    let started = Instant::now();
    let delay = Duration::from_millis(400);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        producer
            .ok("/produce/t", &json!({"value": "late", "partition": 1}))
            .await;
    });
    let v = api
        .ok("/fetch", &json!({"topicPartitionOffsets": [{"topic": "t", "partition": 0, "offset": 0}, {"topic": "t", "partition": 1, "offset": 0}], "timeout": 10_000}))
        .await;
    let took = started.elapsed();
    assert_eq!(values(v.as_array().expect("array")), vec!["late"]);
    assert!(
        took >= delay - Duration::from_millis(20),
        "returned before the produce: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "did not return early: {took:?}"
    );
    // Nothing arrives: an empty array after about the timeout.
    let started = Instant::now();
    let v = api
        .ok(
            "/fetch",
            &json!({"topic": "t", "partition": 0, "offset": 0, "timeout": 200}),
        )
        .await;
    assert_eq!(v, json!([]));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn query_timeout_overrides_the_body_and_timeouts_are_clamped() {
    let cfg = ServerConfig {
        limits: Limits {
            max_timeout: Duration::from_millis(1000),
            ..Limits::default()
        },
        ..config(&[("t", 1)])
    };
    let api = Api::new(cfg).await;
    let started = Instant::now();
    let (s, v) = api
        .send(
            "POST",
            "/fetch?timeout=50",
            &json!({"topic": "t", "partition": 0, "offset": 0, "timeout": 20_000}).to_string(),
            &[],
        )
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // The instance's first consume joins the group (instant on the embedded log, seconds on
    // Kafka); the clamp is about the wait for data after that.
    let (s, _) = api.send("GET", "/consume/g/i/t?timeout=0", "", &[]).await;
    assert_eq!(s, StatusCode::OK);
    let started = Instant::now();
    let (s, _) = api
        .send("GET", "/consume/g/i/t?timeout=60000", "", &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(990) && took < Duration::from_secs(5),
        "clamped to 1 s: {took:?}"
    );
}

#[tokio::test]
async fn fetch_serves_every_partition_and_respects_the_record_limit() {
    let cfg = ServerConfig {
        limits: Limits {
            max_poll_records: 3,
            ..Limits::default()
        },
        ..config(&[("a", 1), ("b", 1)])
    };
    let api = Api::new(cfg).await;
    api.ok(
        "/produce",
        &json!([{"topic": "a", "value": "a0"}, {"topic": "b", "value": "b0"}]),
    )
    .await;
    let v = api
        .ok("/fetch", &json!({"topic": "a", "partition": 0, "offset": 0, "topicPartitionOffsets": [{"topic": "b", "partition": 0, "offset": 0}], "timeout": 0}))
        .await;
    let mut got = values(v.as_array().expect("array"));
    got.sort();
    assert_eq!(got, vec!["a0", "b0"], "both topics in one answer");
    let batch: Vec<Value> = (0..10).map(|i| json!({"value": format!("v{i}")})).collect();
    api.ok("/produce/a", &json!(batch)).await;
    let v = api
        .ok(
            "/fetch",
            &json!({"topic": "a", "partition": 0, "offset": 1, "timeout": 0}),
        )
        .await;
    assert_eq!(values(v.as_array().expect("array")), vec!["v0", "v1", "v2"]);
}

/// Found by the schema fuzzing on the gateway (its lookup by time failed with a 500): asking
/// for no partition answers none, for every spec, with or without a body.
#[tokio::test]
async fn offsets_of_no_partition_are_an_empty_answer() {
    let api = Api::topics(&[("t", 1)]).await;
    for spec in ["earliest", "latest", "0", "1500"] {
        assert_eq!(
            api.ok(&format!("/offsets/{spec}"), &json!([])).await,
            json!([])
        );
        let (s, v) = api.send("GET", &format!("/offsets/{spec}"), "", &[]).await;
        assert_eq!((s, v), (StatusCode::OK, json!([])), "{spec} without a body");
    }
}

#[tokio::test]
async fn offsets_by_earliest_latest_and_timestamp() {
    let api = Api::topics(&[("t", 2)]).await;
    let batch = json!([
        {"partition": 0, "value": "a", "timestamp": 1000},
        {"partition": 0, "value": "b", "timestamp": 2000},
        {"partition": 0, "value": "c", "timestamp": 3000},
    ]);
    api.ok("/produce/t", &batch).await;
    let both = json!([{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}]);
    assert_eq!(
        api.ok("/offsets/earliest", &both).await,
        json!([{"topic": "t", "partition": 0, "offset": 0}, {"topic": "t", "partition": 1, "offset": 0}])
    );
    assert_eq!(
        api.ok("/offsets/latest/", &both).await,
        json!([{"topic": "t", "partition": 0, "offset": 3}, {"topic": "t", "partition": 1, "offset": 0}])
    );
    let (s, v) = api
        .send(
            "GET",
            "/offsets/1500?timeout=100",
            &json!({"topic": "t", "partition": 0}).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!([{"topic": "t", "partition": 0, "offset": 1}])
        )
    );
    assert_eq!(api.ok("/offsets/2000", &both).await[0]["offset"], 1);
    assert_eq!(
        api.ok("/offsets/3001", &both).await[0]["offset"],
        -1,
        "none at or after → -1"
    );
    assert_eq!(
        api.ok("/offsets/0", &both).await[1]["offset"],
        -1,
        "empty partition → -1"
    );
}

#[tokio::test]
async fn topics_lists_partition_counts() {
    let api = Api::topics(&[("cities", 12), ("greetings", 1)]).await;
    let (s, v) = api.get("/topics/").await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"cities": 12, "greetings": 1}))
    );
    let (s, v) = api.get("/consumers").await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn auto_created_topics_only_when_enabled() {
    let api = Api::topics(&[]).await;
    assert_error(
        &api.post("/produce/new", &json!({"value": "x"})).await,
        400,
        "unknown topic",
    );
    let api = Api::new(ServerConfig {
        auto_create_topics: true,
        ..config(&[])
    })
    .await;
    api.ok("/produce/new", &json!({"value": "x"})).await;
    assert_eq!(api.get("/topics").await.1, json!({"new": 1}));
    assert_error(
        &api.post("/produce/bad%2Fname", &json!({"value": "x"}))
            .await,
        400,
        "topic name",
    );
}

#[tokio::test]
async fn webhook_turns_a_request_into_a_message() {
    let cfg = ServerConfig {
        credentials: Some(Credentials::new("hook", "p@ss")),
        ..config(&[("hooks", 1)])
    };
    let api = Api::new(cfg).await;
    // Query credentials, no Authorization header.
    let req = Request::builder()
        .method("POST")
        .uri("/webhook?topic=hooks&user=hook&pass=p%40ss")
        .header("Stripe-Signature", "t=16477,v1=abc")
        .header("X-Custom", "1")
        .header("Content-Type", "application/json")
        .header("User-Agent", "Stripe/1.0")
        .body(Body::from(r#"{"id":"evt_1"}"#))
        .expect("request");
    let (s, v) = api.raw_without_auth(req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["topic"].clone(), v["offset"].clone()),
        (json!("hooks"), json!(0))
    );
    assert!(v["timestamp"].is_i64());
    let msgs = api
        .ok(
            "/fetch",
            &json!({"topic": "hooks", "partition": 0, "offset": 0, "timeout": 0}),
        )
        .await;
    let m = &msgs[0];
    assert_eq!(m["value"], r#"{"id":"evt_1"}"#);
    let headers = m["headers"].as_array().expect("headers");
    assert!(
        headers.contains(&json!({"key": "stripe-signature", "value": "t=16477,v1=abc"})),
        "{headers:?}"
    );
    assert!(headers.contains(&json!({"key": "x-custom", "value": "1"})));
    for excluded in ["content-type", "user-agent", "authorization", "host"] {
        assert!(
            !headers.iter().any(|h| h["key"] == excluded),
            "{excluded} must be left out: {headers:?}"
        );
    }
    // Wrong query password: 401. Basic auth works too.
    let req = Request::builder()
        .method("POST")
        .uri("/webhook?topic=hooks&user=hook&pass=nope")
        .body(Body::from("x"))
        .expect("request");
    assert_error(&api.raw_without_auth(req).await, 401, "unauthorized");
    let (s, _) = api
        .send("GET", "/webhook/?topic=hooks", "via basic", &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    // user/pass are only accepted on the webhook.
    let req = Request::builder()
        .uri("/topics?user=hook&pass=p%40ss")
        .body(Body::empty())
        .expect("request");
    assert_error(&api.raw_without_auth(req).await, 401, "unauthorized");
    // Non-UTF-8 body and missing topic are 400.
    let req = Request::builder()
        .method("POST")
        .uri("/webhook?topic=hooks")
        .header("authorization", basic("hook", "p@ss"))
        .body(Body::from(vec![0xff, 0xfe, 0x00]))
        .expect("request");
    assert_error(&api.raw_without_auth(req).await, 400, "utf-8");
    // Header values are UTF-8 text, not only ASCII; other bytes are a 400.
    let req = Request::builder()
        .method("POST")
        .uri("/webhook?topic=hooks")
        .header("authorization", basic("hook", "p@ss"))
        .header(
            "X-Customer",
            HeaderValue::from_bytes("Zoë — café".as_bytes()).unwrap(),
        )
        .body(Body::from("utf-8 header"))
        .expect("request");
    let (s, v) = api.raw_without_auth(req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let msgs = api
        .ok(
            "/fetch",
            &json!({"topic": "hooks", "partition": 0, "offset": v["offset"], "timeout": 0}),
        )
        .await;
    assert_eq!(
        msgs[0]["headers"],
        json!([{"key": "x-customer", "value": "Zoë — café"}])
    );
    let req = Request::builder()
        .method("POST")
        .uri("/webhook?topic=hooks")
        .header("authorization", basic("hook", "p@ss"))
        .header(
            "X-Customer",
            HeaderValue::from_bytes(&[b'Z', 0xeb]).unwrap(),
        )
        .body(Body::from("latin-1 header"))
        .expect("request");
    assert_error(&api.raw_without_auth(req).await, 400, "not utf-8");
    assert_error(&api.send("POST", "/webhook", "x", &[]).await, 400, "topic");
    assert_error(
        &api.send("POST", "/webhook?topic=nope", "x", &[]).await,
        400,
        "unknown topic",
    );
}

impl Api {
    /// Like `raw`, but the helper adds no Authorization header (the request carries its own).
    async fn raw_without_auth(&self, req: Request<Body>) -> (StatusCode, Value) {
        self.raw(req).await
    }
}

/// A backend whose every operation fails internally: the routes must answer a generic 500
/// without leaking the details. Also shows that another `Backend` plugs into the same routes.
#[derive(Debug)]
struct Broken;

impl upkafka_server::Backend for Broken {
    fn topics(
        &self,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<upkafka_protocol::Topics>>
    {
        Box::pin(async {
            Err(upkafka_server::BackendError::Io(
                "disk /secret/path on fire".into(),
            ))
        })
    }
    fn produce(
        &self,
        _: Vec<upkafka_protocol::ProduceRecord>,
    ) -> upkafka_server::BoxFuture<
        '_,
        upkafka_server::BackendResult<Vec<upkafka_protocol::ProduceMetadata>>,
    > {
        Box::pin(async {
            Err(upkafka_server::BackendError::Corrupt(
                "bad crc at /secret/path".into(),
            ))
        })
    }
    fn fetch(
        &self,
        _: Vec<upkafka_protocol::TopicPartitionOffset>,
        _: Duration,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<Vec<upkafka_protocol::Message>>>
    {
        Box::pin(async { Err(upkafka_server::BackendError::ShuttingDown) })
    }
    fn consume(
        &self,
        _: upkafka_server::ConsumeParams,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<Vec<upkafka_protocol::Message>>>
    {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn commit(
        &self,
        _: String,
        _: String,
        _: Option<Vec<upkafka_protocol::TopicPartitionOffset>>,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<()>> {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn committed(
        &self,
        _: String,
        _: String,
        _: Vec<upkafka_protocol::TopicPartition>,
    ) -> upkafka_server::BoxFuture<
        '_,
        upkafka_server::BackendResult<Vec<upkafka_protocol::TopicPartitionOffset>>,
    > {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn delete_consumer(
        &self,
        _: String,
        _: String,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<()>> {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn create_topic(
        &self,
        _: String,
        _: i32,
        _: upkafka_server::SettingsPatch,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<upkafka_server::TopicInfo>>
    {
        Box::pin(async { Err(upkafka_server::BackendError::Io("/secret/path".into())) })
    }
    fn describe_topics(
        &self,
        _: Option<String>,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<Vec<upkafka_server::TopicInfo>>>
    {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn alter_topic(
        &self,
        _: String,
        _: upkafka_server::SettingsPatch,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<upkafka_server::TopicInfo>>
    {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn delete_topic(
        &self,
        _: String,
    ) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<()>> {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn consumers(
        &self,
    ) -> upkafka_server::BoxFuture<
        '_,
        upkafka_server::BackendResult<Vec<upkafka_protocol::GroupAssignments>>,
    > {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn offsets(
        &self,
        _: upkafka_protocol::OffsetSpec,
        _: Vec<upkafka_protocol::TopicPartition>,
    ) -> upkafka_server::BoxFuture<
        '_,
        upkafka_server::BackendResult<Vec<upkafka_protocol::TopicPartitionOffset>>,
    > {
        Box::pin(async { Err(upkafka_server::BackendError::Internal("x".into())) })
    }
    fn close(&self) -> upkafka_server::BoxFuture<'_, upkafka_server::BackendResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn internal_failures_are_500_without_details() {
    use std::sync::Arc;
    use tower::ServiceExt;
    use upkafka_server::{AppState, router};
    let cfg = config(&[]);
    let app = router(AppState::new(Arc::new(Broken), &cfg));
    for (m, p, b) in [
        ("GET", "/topics", ""),
        ("POST", "/produce/t", r#"{"value":"x"}"#),
        (
            "POST",
            "/fetch",
            r#"{"topic":"t","partition":0,"offset":0}"#,
        ),
    ] {
        let resp = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(m)
                    .uri(p)
                    .body(Body::from(b))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(v["status"], status);
        assert!(!v.to_string().contains("secret"), "no internals leak: {v}");
        if p == "/fetch" {
            assert_eq!(status, 503, "shutting down is 503: {v}");
        } else {
            assert_eq!(
                (status, v["error"].as_str()),
                (500, Some("internal server error"))
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_and_names_the_event_streams() {
    let api = Api::topics(&[("t", 1)]).await;
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(
        doc["paths"]["/fetch"]["post"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object()
    );
}
