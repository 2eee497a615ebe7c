//! Rate limits per credential (issue 14): messages per second and requests per day, 429 with
//! `Retry-After`, never for the server's own credential, and nothing lost by a client that
//! waits out the 429s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use upkafka_client::{Client, Config, RetryPolicy};
use upkafka_server::{RateLimits, ServerConfig};

use super::common::TestServer;
use super::support::{Api, assert_error};
use super::tenancy::{create, tenancy_config};

async fn limited(api: &Api, name: &str, limits: serde_json::Value) -> (String, String) {
    let mut body = json!({"credential_name": name, "cluster_id": "upkafka", "topic": "a", "permissions": "ALL"});
    if let (Some(b), Some(l)) = (body.as_object_mut(), limits.as_object()) {
        b.extend(l.clone());
    }
    let v = api.ok("/v2/kafka/credential", &body).await;
    let get = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {v}"))
            .to_owned()
    };
    (get("username"), get("password"))
}

/// Four producers as fast as they can for 11 s against 50 messages/s: after the first second
/// (the burst), what gets through in 10 s is within 10% of 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_rate_holds_under_four_concurrent_producers() {
    let api = Api::new(tenancy_config()).await;
    let (user, pass) = limited(&api, "sensor", json!({"messages_per_second": 50})).await;
    let producer = api.as_user(&user, &pass);
    let start = Instant::now();
    let warm_up = Duration::from_secs(1);
    let window = Duration::from_secs(10);
    let passed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (producer, passed) = (producer.clone(), Arc::clone(&passed));
        tasks.push(tokio::spawn(async move {
            let mut retry_after_seen = false;
            while start.elapsed() < warm_up + window {
                let sent_at = start.elapsed();
                let (s, v) = producer.post("/produce/a", &json!([{"value": "v"}])).await;
                match s {
                    StatusCode::OK if sent_at >= warm_up => {
                        passed.fetch_add(1, Ordering::Relaxed);
                    }
                    StatusCode::OK => {}
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert!(
                            v["error"]
                                .as_str()
                                .is_some_and(|e| e.contains("50 messages per second")),
                            "{v}"
                        );
                        retry_after_seen = true;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    other => panic!("{other}: {v}"),
                }
            }
            retry_after_seen
        }));
    }
    for t in tasks {
        assert!(t.await.expect("producer"), "a producer never hit the limit");
    }
    let got = passed.load(Ordering::Relaxed);
    assert!((450..=550).contains(&got), "{got} messages in 10 s at 50/s");
    // The server's own credential is not limited meanwhile.
    for _ in 0..100 {
        let (s, v) = api.post("/produce/a", &json!([{"value": "v"}])).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
}

#[tokio::test]
async fn over_a_limit_is_429_with_retry_after_and_a_too_big_batch_is_400() {
    let api = Api::new(ServerConfig {
        rate_limits: RateLimits {
            messages_per_second: Some(5),
            requests_per_day: Some(3),
        },
        ..tenancy_config()
    })
    .await;
    // The server's defaults apply to a credential without limits of its own.
    let (_, user, pass) = create(&api, "app", "a", "ALL").await;
    let app = api.as_user(&user, &pass);
    let batch = |n: usize| json!(vec![json!({"value": "v"}); n]);
    assert_error(
        &app.post("/produce/a", &batch(6)).await,
        400,
        "more than credential `app` may produce in a second (5 messages per second)",
    );
    let (s, v) = app.post("/produce/a", &batch(5)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let resp = app
        .raw(
            axum::http::Request::post("/produce/a")
                .header("authorization", super::support::basic(&user, &pass))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(batch(1).to_string()))
                .expect("request"),
        )
        .await;
    assert_error(&resp, 429, "may produce 5 messages per second");
    // Requests per day: three were made (the ones refused count too), so the fourth is over.
    assert_error(&app.get("/topics").await, 429, "3 requests per day");
    assert_eq!(api.get("/topics").await.0, StatusCode::OK);
}

#[tokio::test]
async fn retry_after_is_sent_in_whole_seconds() {
    let server = TestServer::start(ServerConfig {
        rate_limits: RateLimits {
            messages_per_second: None,
            requests_per_day: Some(1),
        },
        ..tenancy_config()
    })
    .await;
    let http = super::common::client();
    let creds = server.credentials.clone().expect("credentials");
    let made: serde_json::Value = http
        .post(server.at("/v2/kafka/credential"))
        .basic_auth(&creds.username, Some(creds.password.expose()))
        .header("content-type", "application/json")
        .body(json!({"credential_name": "once", "cluster_id": "upkafka", "topic": "a", "permissions": "ALL"}).to_string())
        .send()
        .await
        .expect("create")
        .text()
        .await
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .expect("json");
    let (user, pass) = (
        made["username"].as_str().expect("username"),
        made["password"].as_str().expect("password"),
    );
    let get = || {
        http.get(server.at("/topics"))
            .basic_auth(user, Some(pass))
            .send()
    };
    assert_eq!(get().await.expect("first").status(), 200);
    let refused = get().await.expect("second");
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=86_400).contains(&wait), "{wait}");
}

/// The upkafka client waits out 429s (`Retry-After`) and every record arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_through_a_limited_credential_loses_nothing() {
    let server = TestServer::start(tenancy_config()).await;
    let creds = server.credentials.clone().expect("credentials");
    let admin = Client::new(Config::new(
        &server.url,
        &creds.username,
        creds.password.expose(),
    ))
    .expect("client");
    let made = admin
        .create_credential_with_limits(
            "slow",
            "a",
            upkafka_server::Permission::All,
            RateLimits {
                messages_per_second: Some(20),
                requests_per_day: None,
            },
        )
        .await
        .expect("create");
    let password = made.password.clone().expect("password");
    let slow = Client::new(
        Config::new(&server.url, &made.username, password.expose()).retry(RetryPolicy {
            max_retries: 20,
            ..RetryPolicy::default()
        }),
    )
    .expect("client");
    let n = 60;
    for i in 0..n {
        slow.produce(
            "a",
            upkafka_client::protocol::ProduceRecord::new(format!("m{i}")),
        )
        .await
        .unwrap_or_else(|e| panic!("record {i}: {e}"));
    }
    let got = admin
        .fetch(&upkafka_client::protocol::FetchRequest::new("a", 0, 0))
        .await
        .expect("fetch");
    let values: Vec<&str> = got.iter().map(|m| m.value.as_str()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    assert_eq!(values, want);
}
