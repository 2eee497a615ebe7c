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

/// A tombstone (`"value": null`) on a compacted topic deletes its key: once its segment is
/// compacted and `delete_retention_ms` has passed, neither the key's old values nor the
/// tombstone are read any more; the other keys keep their latest value at its offset.
#[tokio::test]
async fn a_tombstone_produced_over_the_api_deletes_its_key_on_a_compacted_topic() {
    let mut cfg = config(&[]);
    cfg.topics = vec![TopicSpec {
        name: "state".into(),
        partitions: 1,
        settings: SettingsPatch {
            cleanup_policy: Some(upkafka_server::CleanupPolicy::Compact),
            segment_bytes: Some(128),
            delete_retention_ms: Some(0),
            ..SettingsPatch::default()
        },
    }];
    let api = Api::new(cfg).await;
    // Values of 60 bytes: a segment of 128 bytes holds two records, so segments close.
    let pad = |v: &str| format!("{v}{}", "x".repeat(58));
    for v in ["a1", "a2"] {
        api.ok("/produce/state", &json!([{"key": "a", "value": pad(v)}]))
            .await;
    }
    let kept = api
        .ok("/produce/state", &json!([{"key": "b", "value": pad("b1")}]))
        .await;
    let tombstone = api
        .ok("/produce/state", &json!([{"key": "a", "value": null}]))
        .await;
    assert!(tombstone[0]["offset"].as_i64().is_some(), "{tombstone}");
    // A missing value is still refused: only `null` makes a tombstone.
    assert_error(
        &api.post("/produce/state", &json!([{"key": "a"}])).await,
        400,
        "value",
    );
    // Later records close the tombstone's segment, so the cleaner can act on it.
    for i in 0..6 {
        api.ok(
            "/produce/state",
            &json!([{"key": "c", "value": pad(&format!("c{i}"))}]),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let read = api
            .ok(
                "/fetch",
                &json!({"topic": "state", "partition": 0, "offset": 0, "timeout": 0}),
            )
            .await;
        let keys: Vec<&str> = read
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["key"].as_str())
            .collect();
        if !keys.contains(&"a") {
            let b = read
                .as_array()
                .and_then(|ms| ms.iter().find(|m| m["key"] == "b"))
                .expect("b survives");
            assert_eq!(b["value"], pad("b1"));
            assert_eq!(b["offset"], kept[0]["offset"], "at its original offset");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "key a still read after 30 s: {read}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
