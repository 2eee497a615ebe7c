//! Fetch: single partition, parallel split, one request (`parallel: false`), several
//! partitions, and the long poll returning as soon as data arrives.

use std::time::{Duration, Instant};

use upkafka::protocol::{FetchRequest, ProduceRecord, TopicPartitionOffset};
use upkafka::rest::{ErrorKind, FetchOptions};

use crate::support::{Env, values};

async fn seed(env: &Env, topic: &str, partition: i32, vals: &[&str]) {
    for v in vals {
        env.client
            .produce(topic, ProduceRecord::new(*v).partition(partition))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn fetch_starts_at_the_offset_inclusive() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", 0, &["m0", "m1", "m2", "m3"]).await;
    let msgs = env
        .client
        .fetch(&FetchRequest::new("green", 0, 2))
        .await
        .unwrap();
    assert_eq!(values(&msgs), ["m2", "m3"]);
    assert_eq!(msgs[0].offset, 2);
    // Past the end: nothing, after the (short) wait.
    let req = FetchRequest {
        timeout: Some(50),
        ..FetchRequest::new("green", 0, 4)
    };
    assert!(env.client.fetch(&req).await.unwrap().is_empty());
    // Nothing named: no request at all, `[]` (as kafka-js).
    assert!(
        env.client
            .fetch(&FetchRequest::default())
            .await
            .unwrap()
            .is_empty()
    );
    // A partial triple is refused before sending.
    let partial = FetchRequest {
        topic: Some("green".into()),
        ..FetchRequest::default()
    };
    assert_eq!(
        env.client.fetch(&partial).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

fn three_way() -> FetchRequest {
    FetchRequest {
        topic_partition_offsets: Some(vec![
            TopicPartitionOffset::new("green", 0, 0),
            TopicPartitionOffset::new("blue", 1, 1),
        ]),
        timeout: Some(200),
        ..FetchRequest::new("red", 2, 0)
    }
}

async fn seed_three(env: &Env) {
    seed(env, "green", 0, &["g0", "g1"]).await;
    seed(env, "blue", 1, &["b0", "b1", "b2"]).await;
    seed(env, "red", 2, &["r0"]).await;
}

#[tokio::test]
async fn parallel_fetch_concatenates_in_the_official_clients_order() {
    let env = Env::start(&[("green", 3), ("blue", 3), ("red", 3)]).await;
    seed_three(&env).await;
    let msgs = env.client.fetch(&three_way()).await.unwrap();
    // topicPartitionOffsets entries first (in order), the top-level triple last.
    assert_eq!(values(&msgs), ["g0", "g1", "b1", "b2", "r0"]);
}

#[tokio::test]
async fn one_request_fetch_answers_every_named_partition() {
    let env = Env::start(&[("green", 3), ("blue", 3), ("red", 3)]).await;
    seed_three(&env).await;
    let msgs = env
        .client
        .fetch_with(&three_way(), FetchOptions { parallel: false })
        .await
        .unwrap();
    let mut got: Vec<_> = values(&msgs);
    got.sort_unstable();
    assert_eq!(got, ["b1", "b2", "g0", "g1", "r0"]);
    // Within a partition: ascending offsets.
    let blue: Vec<_> = msgs
        .iter()
        .filter(|m| m.topic == "blue")
        .map(|m| m.offset)
        .collect();
    assert_eq!(blue, [1, 2]);
}

#[tokio::test]
async fn fetch_over_every_partition_of_a_topic() {
    let env = Env::start(&[("cities", 3)]).await;
    for p in 0..3 {
        seed(&env, "cities", p, &[&format!("p{p}-a"), &format!("p{p}-b")]).await;
    }
    let req = FetchRequest {
        topic_partition_offsets: Some(
            (0..3)
                .map(|p| TopicPartitionOffset::new("cities", p, 1))
                .collect(),
        ),
        ..FetchRequest::default()
    };
    for parallel in [true, false] {
        let msgs = env
            .client
            .fetch_with(&req, FetchOptions { parallel })
            .await
            .unwrap();
        let mut got = values(&msgs);
        got.sort_unstable();
        assert_eq!(got, ["p0-b", "p1-b", "p2-b"], "parallel: {parallel}");
    }
}

#[tokio::test]
async fn fetch_long_poll_returns_as_soon_as_data_arrives() {
    let env = Env::start(&[("green", 1)]).await;
    let req = FetchRequest {
        timeout: Some(5_000),
        ..FetchRequest::new("green", 0, 0)
    };
    let producer = env.client.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        producer
            .produce("green", ProduceRecord::new("late"))
            .await
            .unwrap();
    });
    let started = Instant::now();
    let msgs = env.client.fetch(&req).await.unwrap();
    let waited = started.elapsed();
    late.await.unwrap();
    assert_eq!(values(&msgs), ["late"]);
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(3_000),
        "waited {waited:?}"
    );
}
