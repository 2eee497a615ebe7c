//! Limits and protocol rules checked before any body is read (issue 20): a declared body over
//! the limit, `Expect: 100-continue` for such a body, HTTP/1.1 without `Host`, transfer codings
//! other than chunked, empty group or instance names, a query that is not UTF-8.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use upkafka_server::{ServerConfig, TopicSpec};

use super::support::{Api, assert_error};
use crate::common::TestServer;

fn config() -> ServerConfig {
    ServerConfig {
        topics: vec![TopicSpec::new("t", 1)],
        ..ServerConfig::default()
    }
}

/// Sends `raw` on a new connection and reads what the server answers before it closes the
/// connection or 5 s pass, whichever is first.
async fn exchange(server: &TestServer, raw: &[u8]) -> String {
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(raw).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                // One response is enough: its head and a body of its Content-Length.
                let text = String::from_utf8_lossy(&got);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok());
                    if len.is_some_and(|n| body.len() >= n) {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_over_the_limit_is_413_at_once() {
    let server = TestServer::start(config()).await;
    let started = Instant::now();
    let got = exchange(
        &server,
        b"POST /produce/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{}",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(
        got.contains("16777216"),
        "the answer names the limit: {got}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}, not at once",
        started.elapsed()
    );
    // With `Expect: 100-continue` the client is told no before it sends a byte of the body.
    let got = exchange(
        &server,
        b"POST /produce/t HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(!got.contains("100 Continue"), "{got}");
    // A body within the limit still gets its 100 Continue and is served.
    let got = exchange(
        &server,
        b"POST /produce/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\nExpect: 100-continue\r\n\r\n{\"value\":\"v\"}",
    )
    .await;
    assert!(got.contains("200 OK"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_1_needs_a_host_and_only_chunked_is_a_transfer_coding() {
    let server = TestServer::start(config()).await;
    let got = exchange(&server, b"GET /topics HTTP/1.1\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    assert!(got.contains("Host"), "{got}");
    // HTTP/1.0 has no such rule.
    let got = exchange(&server, b"GET /topics HTTP/1.0\r\n\r\n").await;
    assert!(
        got.starts_with("HTTP/1.0 200") || got.starts_with("HTTP/1.1 200"),
        "{got}"
    );
    let got = exchange(
        &server,
        b"POST /produce/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 501"), "{got}");
    assert!(got.contains("gzip"), "{got}");
    let got = exchange(
        &server,
        b"POST /produce/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{\"value\":\"v\"}\r\n0\r\n\r\n",
    )
    .await;
    assert!(got.contains("200 OK"), "{got}");
}

#[tokio::test]
async fn empty_group_or_instance_names_are_400() {
    let api = Api::new(config()).await;
    for (method, path, what) in [
        ("GET", "/consume//i/t", "group"),
        ("GET", "/consume/g//t", "instance"),
        ("POST", "/consume//i", "group"),
        ("POST", "/commit//i", "group"),
        ("POST", "/committed//i", "group"),
        ("POST", "/delete-consumer//i", "group"),
    ] {
        let body = if method == "POST" && path.starts_with("/consume") {
            r#"{"topic":"t"}"#
        } else {
            ""
        };
        let got = api.send(method, path, body, &[]).await;
        assert_error(&got, 400, what);
    }
    // Nothing was created under an empty name.
    let (s, v) = api.get("/consumers").await;
    assert_eq!((s, v), (StatusCode::OK, serde_json::json!([])));
}

#[tokio::test]
async fn a_query_that_is_not_utf8_is_400_naming_the_parameter() {
    let api = Api::new(config()).await;
    assert_error(&api.get("/produce/t/m?key=%FF%FE").await, 400, "`key`");
    // Nothing was written.
    let (s, v) = api
        .post(
            "/offsets/latest",
            &serde_json::json!([{"topic": "t", "partition": 0}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v[0]["offset"], 0, "{v}");
}

/// A session timeout is capped as Kafka caps it: an instance cannot ask never to expire.
#[tokio::test]
async fn a_session_timeout_over_the_maximum_is_400_naming_it() {
    let api = Api::new(config()).await;
    let consume = |ms: &'static str| {
        let api = api.clone();
        async move {
            api.send(
                "POST",
                "/consume/g/i?timeout=0",
                r#"{"topic":"t"}"#,
                &[("Kafka-Session-Timeout-Ms", ms)],
            )
            .await
        }
    };
    assert_error(&consume("18446744073709551615").await, 400, "1800000");
    assert_error(&consume("1800001").await, 400, "maximum");
    let (s, v) = consume("1800000").await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
