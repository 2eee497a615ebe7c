//! Deleting a topic on the embedded log (issue 15): a reader waiting on it wakes at once with
//! unknown topic. Not in the gateway suite: there the cluster gives no signal and the read
//! ends at its timeout, and on Tansu 0.6 a librdkafka consumer still assigned to a deleted
//! topic crashes the process (a segfault in librdkafka 2.12's metadata cache on the broker's
//! answer for the deleted topic; README "Known limits").

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use upkafka_server::{Credentials, ServerConfig};

use super::support::{Api, assert_error, config};

#[tokio::test]
async fn a_reader_waiting_on_a_topic_that_is_deleted_wakes_with_unknown_topic() {
    let api = Api::new(ServerConfig {
        credentials: Some(Credentials::new("admin", "topics-secret-pw")),
        ..config(&[])
    })
    .await;
    for route in ["fetch", "consume"] {
        api.ok("/v2/kafka/topic", &json!({"name": "doomed"})).await;
        let reader = api.clone();
        let started = Instant::now();
        let waiting = tokio::spawn(async move {
            match route {
                "fetch" => reader
                    .post(
                        "/fetch",
                        &json!({"topic": "doomed", "partition": 0, "offset": 0, "timeout": 20_000}),
                    )
                    .await,
                _ => {
                    reader
                        .post(
                            "/consume/g/i",
                            &json!({"topic": "doomed", "timeout": 20_000}),
                        )
                        .await
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, _) = api.send("DELETE", "/v2/kafka/topic/doomed", "", &[]).await;
        assert_eq!(s, StatusCode::OK);
        let got = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the waiting read ended")
            .expect("no panic");
        assert_error(&got, 400, "unknown topic `doomed`");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{route}: woken, not timed out"
        );
    }
}
