//! Every endpoint fed malformed input answers a 4xx `{error, status}`: never a panic, never a
//! 5xx. A table of named cases, then a property test over arbitrary requests (bounded number of
//! cases, so it runs in CI every time). The log's record decoding has its own property tests
//! in `src/server/log/record.rs` (crate-private code).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;
use upkafka_server::{
    AppState, EmbeddedBackend, Limits, ServerConfig, TopicSpec, embedded_options, router,
};

/// Small body limit (oversized bodies are cheap to make) and short waits (a poll asks for
/// at most 20 ms).
fn config() -> ServerConfig {
    ServerConfig {
        topics: vec![TopicSpec::new("t", 2)],
        limits: Limits {
            max_body_bytes: 64 * 1024,
            max_message_bytes: 16 * 1024,
            max_timeout: Duration::from_millis(20),
            ..Limits::default()
        },
        housekeeping_interval: Duration::from_millis(50),
        ..ServerConfig::default()
    }
}

async fn app() -> Router {
    let cfg = config();
    let backend = EmbeddedBackend::open(embedded_options(&cfg))
        .await
        .expect("backend");
    router(AppState::new(Arc::new(backend), &cfg))
}

/// Sends one request; returns the status and the body bytes. A panic in a handler would fail
/// the test here (axum does not catch panics).
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Option<(StatusCode, Vec<u8>)> {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    // Some generated URIs or header values are not even valid HTTP: a client could not send
    // them, so there is nothing to check.
    let req = req.body(Body::from(body)).ok()?;
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    Some((status, bytes.to_vec()))
}

/// A 2xx, or a 4xx whose body is exactly `{error: string, status: <the status>}`.
fn check(what: &str, status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status.is_success() {
        return Ok(());
    }
    if !status.is_client_error() {
        return Err(format!(
            "{what}: status {status}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "{what}: {status} body not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })?;
    let ok = v["status"] == status.as_u16()
        && v["error"].is_string()
        && v.as_object().is_some_and(|o| o.len() == 2);
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {status} body {v}"))
    }
}

/// Method, URI, body, headers.
type Case = (&'static str, String, Vec<u8>, Vec<(String, String)>);

/// Named malformed inputs for every endpoint; each must be a 4xx (not merely "not 5xx").
#[tokio::test]
async fn every_endpoint_answers_malformed_input_with_a_4xx_error_body() {
    let app = app().await;
    let long = "x".repeat(250);
    let huge_body = format!(r#"{{"value":"{}"}}"#, "v".repeat(70 * 1024));
    let big_record = format!(r#"{{"value":"{}"}}"#, "v".repeat(20 * 1024));
    let cases: Vec<Case> = vec![
        // produce
        ("POST", "/produce/t".into(), b"{not json".to_vec(), vec![]),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value": 1}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            // `null` is a tombstone (issue 15); a list is no value at all.
            br#"{"value": ["a"]}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"key": "k"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value":"x","partition":-1}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value":"x","partition":2}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value":"x","partition":99999999999999999999}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value":"x","timestamp":1e400}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value":"x","timestamp":"now"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"{"value":"x","headers":[{"key":1}]}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            br#"[{"value":"x"}, 7]"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            b"{\"value\":\"\xff\xfe\"}".to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/t".into(),
            huge_body.clone().into_bytes(),
            vec![],
        ),
        ("POST", "/produce/t".into(), big_record.into_bytes(), vec![]),
        ("POST", "/produce/t".into(), Vec::new(), vec![]),
        (
            "POST",
            "/produce/nope".into(),
            br#"{"value":"x"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            format!("/produce/{long}"),
            br#"{"value":"x"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/a%2Fb".into(),
            br#"{"value":"x"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce/%FF".into(),
            br#"{"value":"x"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce".into(),
            br#"{"value":"x"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce".into(),
            br#"{"topic":"","value":"x"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/produce".into(),
            format!(r#"{{"topic":"{long}","value":"x"}}"#).into_bytes(),
            vec![],
        ),
        (
            "POST",
            "/produce".into(),
            br#"{"topic":["t"],"value":"x"}"#.to_vec(),
            vec![],
        ),
        ("GET", "/produce/t/%FF%FE".into(), vec![], vec![]),
        ("GET", "/produce/nope/m".into(), vec![], vec![]),
        ("DELETE", "/produce/t".into(), vec![], vec![]),
        // fetch
        ("POST", "/fetch".into(), b"[".to_vec(), vec![]),
        ("POST", "/fetch".into(), br#"{}"#.to_vec(), vec![]),
        (
            "POST",
            "/fetch".into(),
            br#"{"topic":"t","partition":-3,"offset":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch".into(),
            br#"{"topic":"t","partition":0,"offset":"zero"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch".into(),
            br#"{"topic":"t","partition":0,"offset":1e300}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch".into(),
            br#"{"topic":"t","partition":0,"offset":0,"timeout":-1}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch".into(),
            br#"{"topicPartitionOffsets":[{"topic":"t"}]}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch".into(),
            br#"{"topic":"","partition":0,"offset":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch?timeout=abc".into(),
            br#"{"topic":"t","partition":0,"offset":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch?timeout=-5".into(),
            br#"{"topic":"t","partition":0,"offset":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch?timeout=99999999999999999999999".into(),
            br#"{"topic":"t","partition":0,"offset":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/fetch".into(),
            huge_body.clone().into_bytes(),
            vec![],
        ),
        // consume / commit / committed / delete
        (
            "POST",
            "/consume/g/i".into(),
            br#"{"topic": 5}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/consume/g/i".into(),
            br#"{"topics": "t"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/consume/g/i".into(),
            br#"{"topic":"nope"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/consume/g/i".into(),
            br#"{"topic":"t"}"#.to_vec(),
            vec![("Kafka-Auto-Commit-Interval".into(), "soon".into())],
        ),
        (
            "POST",
            "/consume/g/i2".into(),
            br#"{"topic":"t"}"#.to_vec(),
            vec![("Kafka-Auto-Offset-Reset".into(), "sideways".into())],
        ),
        (
            "POST",
            "/consume/g/i3".into(),
            br#"{"topic":"t"}"#.to_vec(),
            vec![("Kafka-Session-Timeout-Ms".into(), "-1".into())],
        ),
        ("GET", "/consume/g/i/%FF".into(), vec![], vec![]),
        ("GET", "/consume/g/i/t?timeout=1e9".into(), vec![], vec![]),
        (
            "POST",
            "/commit/g/never".into(),
            br#"{"topic":"t","partition":0,"offset":1}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/commit/g/i".into(),
            br#"{"topic":"t","partition":"0","offset":1}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/committed/g/i".into(),
            br#"[{"topic":"t","partition":-1}]"#.to_vec(),
            vec![],
        ),
        ("POST", "/committed/g/i".into(), b"\xff".to_vec(), vec![]),
        ("POST", "/delete-consumer/g/never".into(), vec![], vec![]),
        ("GET", "/delete-consumer/g/i".into(), vec![], vec![]),
        // metadata, offsets, webhook, unknown
        ("POST", "/topics".into(), vec![], vec![]),
        (
            "POST",
            "/consumers".into(),
            br#"{"group":"g"}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/offsets/yesterday".into(),
            br#"{"topic":"t","partition":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/offsets/99999999999999999999999".into(),
            br#"{"topic":"t","partition":0}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/offsets/latest".into(),
            br#"{"topic":"t","partition":7}"#.to_vec(),
            vec![],
        ),
        (
            "POST",
            "/offsets/latest".into(),
            br#"{"topic":"t","partition":-7}"#.to_vec(),
            vec![],
        ),
        ("POST", "/webhook".into(), b"hello".to_vec(), vec![]),
        (
            "POST",
            "/webhook?topic=t".into(),
            b"\xff\xfe".to_vec(),
            vec![],
        ),
        ("POST", "/webhook?topic=".into(), b"x".to_vec(), vec![]),
        (
            "POST",
            "/webhook?topic=t".into(),
            huge_body.into_bytes(),
            vec![],
        ),
        ("GET", "/no/such/route".into(), vec![], vec![]),
    ];
    let mut statuses = std::collections::BTreeMap::new();
    for (method, uri, body, headers) in &cases {
        let what = format!(
            "{method} {uri} {}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        let (status, bytes) = send(&app, method, uri, headers, body.clone())
            .await
            .unwrap_or_else(|| panic!("{what}: not a valid request"));
        assert!(
            status.is_client_error(),
            "{what}: expected a 4xx, got {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        check(&what, status, &bytes).unwrap_or_else(|e| panic!("{e}"));
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    println!(
        "FIGURES malformed::table: cases={} statuses={statuses:?} 5xx=0",
        cases.len()
    );
}

/// Field names the API knows, so generated objects often hit real fields with wrong values.
const FIELDS: &[&str] = &[
    "topic",
    "partition",
    "offset",
    "timeout",
    "value",
    "key",
    "headers",
    "topics",
    "topicPartitionOffsets",
    "timestamp",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(1),
            Just(i64::MAX),
            Just(i64::MIN)
        ]
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("t".to_owned()),
            Just(String::new()),
            ".{0,12}",
            "[a-z]{300}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..5).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("t".to_owned()),
        Just("g".to_owned()),
        Just("%FF".to_owned()),
        Just("..".to_owned()),
        "[a-zA-Z0-9._%-]{0,20}",
        "[a-z]{250}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    (0usize..13, segment(), segment(), segment(), ".{0,8}").prop_map(|(route, a, b, c, q)| {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        match route {
            0 => format!("/produce/{a}"),
            1 => format!("/produce/{a}/{b}?key={q}"),
            2 => "/produce".to_owned(),
            3 => format!("/fetch?timeout={q}"),
            4 => format!("/consume/{a}/{b}"),
            5 => format!("/consume/{a}/{b}/{c}?timeout={q}"),
            6 => format!("/commit/{a}/{b}"),
            7 => format!("/committed/{a}/{b}"),
            8 => format!("/delete-consumer/{a}/{b}"),
            9 => "/topics".to_owned(),
            10 => "/consumers".to_owned(),
            11 => format!("/offsets/{a}?timeout={q}"),
            _ => format!("/webhook?topic={a}"),
        }
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(Vec::new()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(
                &[
                    "Kafka-Enable-Auto-Commit",
                    "Kafka-Auto-Commit-Interval",
                    "Kafka-Auto-Offset-Reset",
                    "Kafka-Session-Timeout-Ms",
                    "X-Anything",
                ][..],
            ),
            prop_oneof![
                Just("true".to_owned()),
                Just("-1".to_owned()),
                "[ -~]{0,10}"
            ],
        )
            .prop_map(|(k, v)| (k.to_owned(), v)),
        0..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary method, route, body and `Kafka-*` headers: a 2xx or a 4xx `{error,status}`,
    /// never a 5xx or a panic.
    #[test]
    fn arbitrary_requests_never_cause_a_5xx_or_a_panic(
        method in prop::sample::select(&["GET", "POST", "DELETE", "PUT"][..]),
        path in path(),
        body in body(),
        headers in headers(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let app = app().await;
            if let Some((status, bytes)) = send(&app, method, &path, &headers, body).await {
                check(&format!("{method} {path}"), status, &bytes).map_err(TestCaseError::fail)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
