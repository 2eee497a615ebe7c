//! Consumer groups: creation, assignment, rebalancing, commits and resets.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Api, assert_error, offsets, values};

const EARLIEST: (&str, &str) = ("Kafka-Auto-Offset-Reset", "earliest");
const NO_AUTO_COMMIT: (&str, &str) = ("Kafka-Enable-Auto-Commit", "false");

async fn produce_each(api: &Api, topic: &str, partitions: i32, per_partition: usize) {
    let mut batch = Vec::new();
    for p in 0..partitions {
        for i in 0..per_partition {
            batch.push(json!({"partition": p, "value": format!("p{p}-{i}")}));
        }
    }
    api.ok(&format!("/produce/{topic}"), &json!(batch)).await;
}

/// Consumes (short polls) until `n` messages arrived or 20 polls passed.
async fn consume_n(
    api: &Api,
    g: &str,
    i: &str,
    topic: &str,
    n: usize,
    headers: &[(&str, &str)],
) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..20 {
        out.extend(
            api.consume(g, i, &json!({"topic": topic, "timeout": 50}), headers)
                .await,
        );
        if out.len() >= n {
            break;
        }
    }
    out
}

async fn assignment(api: &Api, group: &str) -> Value {
    let (s, v) = api.get("/consumers").await;
    assert_eq!(s, StatusCode::OK);
    v.as_array()
        .and_then(|gs| gs.iter().find(|g| g["name"] == group).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn first_consume_creates_an_instance_visible_at_once() {
    let api = Api::topics(&[("t", 3)]).await;
    let (s, v) = api.send("GET", "/consume/g/i1/t?timeout=0", "", &[]).await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    assert_eq!(
        assignment(&api, "g").await,
        json!({"name": "g", "instances": [{"name": "i1", "topics": [{"topic": "t", "partitions": [0, 1, 2]}]}]})
    );
}

#[tokio::test]
async fn two_instances_split_partitions_and_delete_reassigns() {
    let api = Api::topics(&[("t", 4)]).await;
    api.consume(
        "g",
        "a",
        &json!({"topic": "t", "timeout": 0}),
        &[EARLIEST, NO_AUTO_COMMIT],
    )
    .await;
    api.consume(
        "g",
        "b",
        &json!({"topic": "t", "timeout": 0}),
        &[EARLIEST, NO_AUTO_COMMIT],
    )
    .await;
    assert_eq!(
        assignment(&api, "g").await["instances"],
        json!([
            {"name": "a", "topics": [{"topic": "t", "partitions": [0, 1]}]},
            {"name": "b", "topics": [{"topic": "t", "partitions": [2, 3]}]},
        ])
    );
    produce_each(&api, "t", 4, 2).await;
    let mut a = values(&consume_n(&api, "g", "a", "t", 4, &[]).await);
    let mut b = values(&consume_n(&api, "g", "b", "t", 4, &[]).await);
    a.sort();
    b.sort();
    assert_eq!(a, vec!["p0-0", "p0-1", "p1-0", "p1-1"]);
    assert_eq!(b, vec!["p2-0", "p2-1", "p3-0", "p3-1"]);
    // Deleting `a` (POST variant) hands its partitions to `b`, which starts them at the reset
    // position (no commits were made).
    let (s, v) = api.send("POST", "/delete-consumer/g/a/", "", &[]).await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"result": "Success", "status": 200}))
    );
    assert_eq!(
        assignment(&api, "g").await["instances"],
        json!([{"name": "b", "topics": [{"topic": "t", "partitions": [0, 1, 2, 3]}]}])
    );
    let mut b = values(&consume_n(&api, "g", "b", "t", 4, &[]).await);
    b.sort();
    assert_eq!(b, vec!["p0-0", "p0-1", "p1-0", "p1-1"]);
}

#[tokio::test]
async fn an_idle_instance_expires_after_its_session_timeout() {
    let api = Api::topics(&[("t", 2)]).await;
    api.consume(
        "g",
        "short",
        &json!({"topic": "t", "timeout": 0}),
        &[("Kafka-Session-Timeout-Ms", "300")],
    )
    .await;
    api.consume("g", "long", &json!({"topic": "t", "timeout": 0}), &[])
        .await;
    assert_eq!(
        assignment(&api, "g").await["instances"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Keep `long` alive while `short` idles past its timeout.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        api.consume("g", "long", &json!({"topic": "t", "timeout": 0}), &[])
            .await;
    }
    assert_eq!(
        assignment(&api, "g").await["instances"],
        json!([{"name": "long", "topics": [{"topic": "t", "partitions": [0, 1]}]}])
    );
    assert_error(&api.post("/commit/g/short", &json!([])).await, 404, "short");
}

#[tokio::test]
async fn commit_is_verbatim_and_committed_reads_it_back() {
    let api = Api::topics(&[("t", 2), ("u", 1)]).await;
    api.consume(
        "g",
        "i",
        &json!({"topics": ["t", "u"], "timeout": 0}),
        &[NO_AUTO_COMMIT],
    )
    .await;
    let both = json!([{"topic": "t", "partition": 0}, {"topic": "u", "partition": 0}]);
    assert_eq!(
        api.ok("/committed/g/i", &both).await,
        json!([{"topic": "t", "partition": 0, "offset": -1}, {"topic": "u", "partition": 0, "offset": -1}]),
        "no commit yet → -1"
    );
    let (s, v) = api
        .send(
            "GET",
            "/commit/g/i",
            &json!({"topic": "t", "partition": 0, "offset": 13}).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"result": "Success", "status": 200}))
    );
    api.ok("/commit/g/i/", &json!([{"topic": "t", "partition": 1, "offset": 4}, {"topic": "u", "partition": 0, "offset": 19}])).await;
    assert_eq!(
        api.ok("/committed/g/i", &json!({"topic": "t", "partition": 0}))
            .await,
        json!([{"topic": "t", "partition": 0, "offset": 13}])
    );
    let (s, v) = api
        .send("GET", "/committed/g/i?timeout=100", &both.to_string(), &[])
        .await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!([{"topic": "t", "partition": 0, "offset": 13}, {"topic": "u", "partition": 0, "offset": 19}])
        )
    );
    // An empty body asks for the instance's assigned partitions.
    let (s, v) = api.send("POST", "/committed/g/i", "", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(offsets(v.as_array().expect("array")), vec![13, 4, 19]);
    // Invalid commits change nothing.
    assert_error(
        &api.post(
            "/commit/g/i",
            &json!({"topic": "t", "partition": 5, "offset": 1}),
        )
        .await,
        400,
        "no partition 5",
    );
    assert_error(
        &api.post(
            "/commit/g/i",
            &json!({"topic": "t", "partition": 0, "offset": -2}),
        )
        .await,
        400,
        "negative",
    );
    assert_error(
        &api.post("/commit/g/i", &json!({"topic": "t", "partition": 0}))
            .await,
        400,
        "invalid json",
    );
    assert_eq!(
        api.ok("/committed/g/i", &json!({"topic": "t", "partition": 0}))
            .await[0]["offset"],
        13
    );
}

#[tokio::test]
async fn a_recreated_instance_resumes_at_the_committed_offset() {
    let api = Api::topics(&[("t", 1)]).await;
    let h = [EARLIEST, NO_AUTO_COMMIT];
    produce_each(&api, "t", 1, 6).await;
    let first = consume_n(&api, "g", "i", "t", 6, &h).await;
    assert_eq!(offsets(&first), vec![0, 1, 2, 3, 4, 5]);
    // The Upstash README habit: commit the offset of the last processed message (3).
    api.ok(
        "/commit/g/i",
        &json!({"topic": "t", "partition": 0, "offset": 3}),
    )
    .await;
    api.send("DELETE", "/delete-consumer/g/i", "", &[]).await;
    let again = consume_n(&api, "g", "i", "t", 3, &h).await;
    assert_eq!(
        offsets(&again),
        vec![3, 4, 5],
        "resume AT the committed offset: at-least-once"
    );
    // "Commit last consumed" stores the position (last delivered + 1) → nothing is repeated.
    let (s, _) = api.send("POST", "/commit/g/i", "[]", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.ok("/committed/g/i", &json!({"topic": "t", "partition": 0}))
            .await[0]["offset"],
        6
    );
    api.send("DELETE", "/delete-consumer/g/i", "", &[]).await;
    produce_each(&api, "t", 1, 1).await;
    let next = consume_n(&api, "g", "i", "t", 1, &h).await;
    assert_eq!(offsets(&next), vec![6]);
    assert_eq!(values(&next), vec!["p0-0"]);
}

#[tokio::test]
async fn auto_commit_stores_positions_on_its_interval() {
    let api = Api::topics(&[("t", 1)]).await;
    produce_each(&api, "t", 1, 3).await;
    let on = [EARLIEST, ("Kafka-Auto-Commit-Interval", "150")];
    let off = [EARLIEST, NO_AUTO_COMMIT];
    assert_eq!(consume_n(&api, "g", "on", "t", 3, &on).await.len(), 3);
    assert_eq!(consume_n(&api, "h", "off", "t", 3, &off).await.len(), 3);
    let tp = json!({"topic": "t", "partition": 0});
    let mut committed = -1;
    for _ in 0..40 {
        committed = api.ok("/committed/g/on", &tp).await[0]["offset"]
            .as_i64()
            .unwrap_or(-1);
        if committed == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(committed, 3, "auto-commit stores the position");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        api.ok("/committed/h/off", &tp).await[0]["offset"],
        -1,
        "no auto-commit when disabled"
    );
}

#[tokio::test]
async fn reset_policies_latest_earliest_and_none() {
    let api = Api::topics(&[("t", 1)]).await;
    produce_each(&api, "t", 1, 2).await;
    // Default `latest`: old messages are skipped, new ones arrive.
    assert_eq!(
        api.consume("g1", "i", &json!({"topic": "t", "timeout": 0}), &[])
            .await,
        Vec::<Value>::new()
    );
    api.ok("/produce/t", &json!({"value": "new"})).await;
    assert_eq!(
        values(&consume_n(&api, "g1", "i", "t", 1, &[]).await),
        vec!["new"]
    );
    assert_eq!(
        consume_n(&api, "g2", "i", "t", 3, &[EARLIEST]).await.len(),
        3
    );
    let got = api
        .send(
            "POST",
            "/consume/g3/i",
            &json!({"topic": "t", "timeout": 0}).to_string(),
            &[("Kafka-Auto-Offset-Reset", "none")],
        )
        .await;
    assert_error(&got, 400, "no committed offset");
    // With a committed offset, `none` is fine.
    api.ok(
        "/commit/g3/i",
        &json!({"topic": "t", "partition": 0, "offset": 2}),
    )
    .await;
    assert_eq!(
        values(&consume_n(&api, "g3", "i", "t", 1, &[]).await),
        vec!["new"]
    );
}

#[tokio::test]
async fn headers_only_count_on_the_creating_consume_and_topics_resubscribe() {
    let api = Api::topics(&[("a", 1), ("b", 2)]).await;
    produce_each(&api, "a", 1, 1).await;
    // Created with `latest`; a later `earliest` header has no effect.
    api.consume("g", "i", &json!({"topic": "a", "timeout": 0}), &[])
        .await;
    assert!(
        api.consume("g", "i", &json!({"topic": "a", "timeout": 0}), &[EARLIEST])
            .await
            .is_empty()
    );
    // Naming other topics resubscribes.
    api.consume("g", "i", &json!({"topics": ["b"], "timeout": 0}), &[])
        .await;
    assert_eq!(
        assignment(&api, "g").await["instances"],
        json!([{"name": "i", "topics": [{"topic": "b", "partitions": [0, 1]}]}])
    );
}

#[tokio::test]
async fn a_long_poll_longer_than_the_session_timeout_keeps_the_instance() {
    let api = Api::topics(&[("t", 1)]).await;
    let h = [("Kafka-Session-Timeout-Ms", "200")];
    api.consume("g", "i", &json!({"topic": "t", "timeout": 0}), &h)
        .await;
    let producer = api.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        producer.ok("/produce/t", &json!({"value": "late"})).await;
    });
    let got = api
        .consume("g", "i", &json!({"topic": "t", "timeout": 3000}), &[])
        .await;
    assert_eq!(
        values(&got),
        vec!["late"],
        "delivered although the poll outlived the session timeout"
    );
    assert_eq!(assignment(&api, "g").await["instances"][0]["name"], "i");
}

#[tokio::test]
async fn bad_kafka_headers_fail_only_the_creating_consume() {
    let api = Api::topics(&[("t", 1)]).await;
    let bad = [("Kafka-Enable-Auto-Commit", "yes")];
    let got = api
        .send(
            "POST",
            "/consume/g/i",
            &json!({"topic": "t", "timeout": 0}).to_string(),
            &bad,
        )
        .await;
    assert_error(&got, 400, "Kafka-Enable-Auto-Commit");
    assert_eq!(
        api.get("/consumers").await.1,
        json!([]),
        "a refused consume creates nothing"
    );
    api.consume("g", "i", &json!({"topic": "t", "timeout": 0}), &[])
        .await;
    // Later consumes ignore the headers entirely, valid or not.
    assert!(
        api.consume("g", "i", &json!({"topic": "t", "timeout": 0}), &bad)
            .await
            .is_empty()
    );
}
