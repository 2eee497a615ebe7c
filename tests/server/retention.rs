//! Retention through the API (issue 15, embedded log): `/offsets/earliest` moves up, a fetch
//! below it starts at it, and a consumer group whose committed offset was deleted follows
//! `Kafka-Auto-Offset-Reset`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upkafka_server::{SettingsPatch, TopicSpec};

use super::support::{Api, assert_error, config, offsets};

/// A topic whose retention keeps only the active segment (one record of 64 bytes per
/// segment), so that every record but the last is deleted within moments.
fn tiny_retention() -> TopicSpec {
    TopicSpec {
        name: "r".into(),
        partitions: 1,
        settings: SettingsPatch {
            retention_bytes: Some(Some(1)),
            segment_bytes: Some(64),
            ..SettingsPatch::default()
        },
    }
}

async fn earliest(api: &Api) -> i64 {
    let v = api
        .ok(
            "/offsets/earliest",
            &json!([{"topic": "r", "partition": 0}]),
        )
        .await;
    v[0]["offset"].as_i64().expect("offset")
}

#[tokio::test]
async fn retention_moves_earliest_and_reads_below_it_start_there_or_follow_the_reset() {
    let mut cfg = config(&[]);
    cfg.topics = vec![tiny_retention()];
    let api = Api::new(cfg).await;
    // Three groups commit offset 0 while it is still there.
    let first = json!([{"value": "x".repeat(60)}]);
    api.ok("/produce/r", &first).await;
    let no_commit = [
        ("Kafka-Auto-Offset-Reset", "earliest"),
        ("Kafka-Enable-Auto-Commit", "false"),
    ];
    for g in ["none", "earliest", "latest"] {
        api.consume(g, "a", &json!({"topic": "r", "timeout": 0}), &no_commit)
            .await;
        api.ok(
            &format!("/commit/{g}/a"),
            &json!([{"topic": "r", "partition": 0, "offset": 0}]),
        )
        .await;
        api.ok(&format!("/delete-consumer/{g}/a"), &json!({})).await;
    }
    let batch: Vec<Value> = (0..9).map(|_| json!({"value": "x".repeat(60)})).collect();
    for b in &batch {
        api.ok("/produce/r", &json!([b])).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while earliest(&api).await < 9 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        earliest(&api).await,
        9,
        "retention moved the earliest offset"
    );
    let fetched = api
        .ok(
            "/fetch",
            &json!({"topic": "r", "partition": 0, "offset": 0}),
        )
        .await;
    assert_eq!(
        offsets(fetched.as_array().expect("array")),
        vec![9],
        "a fetch below the earliest offset starts at it"
    );
    // The group's committed offset 0 is gone: each policy resets it, `none` says so.
    let none = api
        .send(
            "POST",
            "/consume/none/b",
            &json!({"topic": "r", "timeout": 0}).to_string(),
            &[("Kafka-Auto-Offset-Reset", "none")],
        )
        .await;
    assert_error(
        &none,
        400,
        "offset 0 of r/0 in group `none` was deleted by retention",
    );
    assert_error(&none, 400, "earliest offset is 9");
    let from_earliest = api
        .consume(
            "earliest",
            "b",
            &json!({"topic": "r", "timeout": 0}),
            &[("Kafka-Auto-Offset-Reset", "earliest")],
        )
        .await;
    assert_eq!(offsets(&from_earliest), vec![9]);
    let from_latest = api
        .consume(
            "latest",
            "b",
            &json!({"topic": "r", "timeout": 0}),
            &[("Kafka-Auto-Offset-Reset", "latest")],
        )
        .await;
    assert!(from_latest.is_empty(), "latest starts at the end");
    api.ok("/produce/r", &first).await;
    let next = api
        .consume("latest", "b", &json!({"topic": "r", "timeout": 0}), &[])
        .await;
    assert_eq!(
        offsets(&next),
        vec![10],
        "from the end, not from the earliest 9"
    );
}
