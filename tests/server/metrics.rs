//! `/metrics` after a known workload: the counters equal what was sent; auth rules.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use upkafka_server::{
    AppState, Credentials, EmbeddedBackend, MetricsAuth, ServerConfig, embedded_options, router,
};

use crate::support::{basic, config};

async fn app(metrics_auth: MetricsAuth) -> Router {
    let cfg = ServerConfig {
        credentials: Some(Credentials::new("u", "p")),
        metrics_auth,
        ..config(&[("t", 2), ("other", 1)])
    };
    let backend = EmbeddedBackend::open(embedded_options(&cfg)).await.unwrap();
    router(AppState::new(Arc::new(backend), &cfg))
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: &str,
    auth: bool,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if auth {
        req = req.header("authorization", basic("u", "p"));
    }
    req = req.header("kafka-auto-offset-reset", "earliest");
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Sample lines `name{labels} value` → value, keyed by `name{labels}` as written.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn counters_equal_the_workload() {
    let app = app(MetricsAuth::Same).await;
    // 5 messages to t: value "abcd" (4 bytes), key "k1" (2), header x=yz (3) → 9 bytes each.
    let one = r#"{"topic":"t","partition":0,"key":"k1","value":"abcd","headers":[{"key":"x","value":"yz"}]}"#;
    let batch = format!("[{one},{one},{one}]");
    assert_eq!(
        call(&app, "POST", "/produce", &batch, true).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "POST", "/produce/t", &format!("[{one},{one}]"), true)
            .await
            .0,
        StatusCode::OK
    );
    // 1 message to other, no key: 3 bytes.
    assert_eq!(
        call(&app, "GET", "/produce/other/xyz", "", true).await.0,
        StatusCode::OK
    );
    // A refused produce counts nothing.
    assert_eq!(
        call(
            &app,
            "POST",
            "/produce",
            r#"{"topic":"nope","value":"v"}"#,
            true
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    // Fetch 2 of t's messages (from offset 3), consume all 5 through a group.
    let (s, body) = call(
        &app,
        "POST",
        "/fetch",
        r#"{"topic":"t","partition":0,"offset":3,"timeout":0}"#,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut consumed = 0;
    for _ in 0..20 {
        let (s, body) = call(
            &app,
            "POST",
            "/consume/g/i1?timeout=200",
            r#"{"topic":"t"}"#,
            true,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        consumed += serde_json::from_str::<Vec<serde_json::Value>>(&body)
            .unwrap()
            .len();
        if consumed >= 5 {
            break;
        }
    }
    assert_eq!(consumed, 5);
    assert_eq!(
        call(
            &app,
            "POST",
            "/commit/g/i1",
            r#"[{"topic":"t","partition":0,"offset":2}]"#,
            true
        )
        .await
        .0,
        StatusCode::OK
    );

    let (s, text) = call(&app, "GET", "/metrics", "", true).await;
    assert_eq!(s, StatusCode::OK);
    let m = parse(&text);
    let get = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("no sample {k} in\n{text}"))
    };
    assert_eq!(get(r#"upkafka_messages_produced_total{topic="t"}"#), 5.0);
    assert_eq!(get(r#"upkafka_bytes_produced_total{topic="t"}"#), 45.0);
    assert_eq!(
        get(r#"upkafka_messages_produced_total{topic="other"}"#),
        1.0
    );
    assert_eq!(get(r#"upkafka_bytes_produced_total{topic="other"}"#), 3.0);
    assert!(!text.contains(r#"topic="nope""#));
    assert_eq!(
        get(r#"upkafka_messages_consumed_total{topic="t",api="fetch"}"#),
        2.0
    );
    assert_eq!(
        get(r#"upkafka_bytes_consumed_total{topic="t",api="fetch"}"#),
        18.0
    );
    assert_eq!(
        get(r#"upkafka_messages_consumed_total{topic="t",api="consume"}"#),
        5.0
    );
    assert_eq!(
        get(r#"upkafka_bytes_consumed_total{topic="t",api="consume"}"#),
        45.0
    );
    assert_eq!(
        get(r#"upkafka_http_requests_total{method="POST",route="/produce",status="200"}"#),
        1.0
    );
    assert_eq!(
        get(r#"upkafka_http_requests_total{method="POST",route="/produce",status="400"}"#),
        1.0
    );
    assert_eq!(
        get(r#"upkafka_http_requests_total{method="POST",route="/produce/{topic}",status="200"}"#),
        1.0
    );
    assert_eq!(
        get(
            r#"upkafka_http_requests_total{method="GET",route="/produce/{topic}/{message}",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            r#"upkafka_http_request_duration_seconds_count{method="POST",route="/fetch",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            r#"upkafka_http_request_duration_seconds_bucket{method="POST",route="/fetch",status="200",le="+Inf"}"#
        ),
        1.0
    );
    assert_eq!(get(r#"upkafka_consumer_instances{group="g"}"#), 1.0);
    assert_eq!(
        get(r#"upkafka_consumer_group_committed_offset{group="g",topic="t",partition="0"}"#),
        2.0
    );
    assert_eq!(
        get(r#"upkafka_consumer_group_lag{group="g",topic="t",partition="0"}"#),
        3.0
    );
    assert_eq!(
        get(r#"upkafka_consumer_group_lag{group="g",topic="t",partition="1"}"#),
        0.0
    );
    assert_eq!(
        get(r#"upkafka_partition_latest_offset{topic="t",partition="0"}"#),
        5.0
    );
    // In memory: no data directory, no log size.
    assert!(!text.contains("upkafka_log_size_bytes"));
    // Every request so far was counted, the scrape itself after it answered.
    let (_, again) = call(&app, "GET", "/metrics", "", true).await;
    assert!(
        again.contains(
            r#"upkafka_http_requests_total{method="GET",route="/metrics",status="200"} 1"#
        )
    );
}

/// Route labels: the matched pattern with a trailing `/` folded (also for 401 and 405 answers
/// on a known path), `unmatched` for unknown paths, and a percent-encoded `/` stays inside
/// its segment, as axum's router sees them.
#[tokio::test]
async fn requests_are_labelled_with_their_route() {
    let app = app(MetricsAuth::None).await;
    let cases = [
        ("GET", "/topics/", true, StatusCode::OK),
        ("GET", "/ui/", true, StatusCode::OK),
        ("DELETE", "/fetch", true, StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/consumers", false, StatusCode::UNAUTHORIZED),
        ("GET", "/produce/t/a%2Fb", true, StatusCode::OK),
        ("GET", "/produce/t/a/b", true, StatusCode::NOT_FOUND),
        ("GET", "/no/such/path", true, StatusCode::NOT_FOUND),
        // An empty segment still matches a parameter (the topic "" is then refused).
        ("GET", "/produce//x", true, StatusCode::BAD_REQUEST),
    ];
    for (method, path, auth, status) in cases {
        assert_eq!(
            call(&app, method, path, "", auth).await.0,
            status,
            "{method} {path}"
        );
    }
    let (_, text) = call(&app, "GET", "/metrics", "", false).await;
    let counts = parse(&text);
    let get = |k: &str| {
        counts
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} in\n{text}"))
    };
    let total = "upkafka_http_requests_total";
    assert_eq!(
        get(&format!(
            r#"{total}{{method="GET",route="/topics",status="200"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{total}{{method="GET",route="/ui",status="200"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{total}{{method="DELETE",route="/fetch",status="405"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{total}{{method="GET",route="/consumers",status="401"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{total}{{method="GET",route="/produce/{{topic}}/{{message}}",status="200"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{total}{{method="GET",route="/produce/{{topic}}/{{message}}",status="400"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"{total}{{method="GET",route="unmatched",status="404"}}"#
        )),
        2.0
    );
}

#[tokio::test]
async fn metrics_auth_same_or_none() {
    let same = app(MetricsAuth::Same).await;
    assert_eq!(
        call(&same, "GET", "/metrics", "", false).await.0,
        StatusCode::UNAUTHORIZED
    );
    let open = app(MetricsAuth::None).await;
    let (s, text) = call(&open, "GET", "/metrics", "", false).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("# TYPE upkafka_messages_produced_total counter"));
    // Opening /metrics opens nothing else.
    assert_eq!(
        call(&open, "GET", "/topics", "", false).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&open, "GET", "/ui", "", false).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn classify_uses_the_sensor_rule() {
    let app = app(MetricsAuth::Same).await;
    let values = r#"["{\"device\":1,\"measure\":\"pressure\",\"value\":10}","{\"device\":1,\"measure\":\"temperature\",\"value\":81}","hello"]"#;
    let (s, body) = call(&app, "POST", "/ui/api/classify", values, true).await;
    assert_eq!(s, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["status"], "OK");
    assert_eq!(v[1]["status"], "ERROR");
    assert!(v[2].is_null());
}

#[tokio::test]
async fn log_size_is_measured_with_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig {
        data_dir: Some(dir.path().to_owned()),
        ..config(&[("t", 1)])
    };
    let backend = EmbeddedBackend::open(embedded_options(&cfg)).await.unwrap();
    let app = router(AppState::new(Arc::new(backend), &cfg));
    assert_eq!(
        call(&app, "GET", "/produce/t/hello", "", false).await.0,
        StatusCode::OK
    );
    let (_, text) = call(&app, "GET", "/metrics", "", false).await;
    let size = parse(&text)["upkafka_log_size_bytes"];
    assert!(size > 0.0, "{text}");
}
