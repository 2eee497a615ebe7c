//! Fetch: single partition, parallel split, one request (`parallel: false`), several
//! partitions, and the long poll returning as soon as data arrives.

use std::time::{Duration, Instant};

use upkafka_client::{ErrorKind, FetchOptions};
use upkafka_protocol::{FetchRequest, ProduceRecord, TopicPartitionOffset};

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

#[tokio::test]
async fn large_backlogs_come_in_bounded_batches_without_gaps() {
    // §12 q. 5, our choice: at most `max_poll_records` per answer; the next read continues.
    let limits = upkafka_server::Limits {
        max_poll_records: 50,
        ..upkafka_server::Limits::default()
    };
    let env = Env::with_limits(&[("bulk", 1)], limits).await;
    let records: Vec<_> = (0..120)
        .map(|i| ProduceRecord::new(format!("{i}")))
        .collect();
    env.client.produce_many_to("bulk", &records).await.unwrap();

    let first = env
        .client
        .fetch(&FetchRequest::new("bulk", 0, 0))
        .await
        .unwrap();
    assert_eq!(first.len(), 50);
    let next = first.last().unwrap().offset + 1;
    let second = env
        .client
        .fetch(&FetchRequest::new("bulk", 0, next))
        .await
        .unwrap();
    assert_eq!(second.first().map(|m| m.offset), Some(50));

    let consumer = env
        .client
        .consumer("bulk-group", "i", ["bulk"])
        .with_config(crate::support::manual(
            upkafka_protocol::AutoOffsetReset::Earliest,
        ))
        .with_timeout(Duration::from_millis(50));
    let mut offsets = Vec::new();
    for _ in 0..4 {
        let batch = consumer.poll().await.unwrap();
        assert!(batch.len() <= 50, "{}", batch.len());
        offsets.extend(batch.iter().map(|m| m.offset));
    }
    assert_eq!(offsets, (0..120).collect::<Vec<i64>>());
}

#[tokio::test]
async fn negative_offsets_partitions_and_timestamps_are_400() {
    let env = Env::start(&[("green", 1)]).await;
    env.client
        .produce("green", ProduceRecord::new("a"))
        .await
        .unwrap();
    let bad_fetches = [
        FetchRequest::new("green", 0, -1),
        FetchRequest::new("green", -1, 0),
    ];
    for req in bad_fetches {
        let err = env.client.fetch(&req).await.unwrap_err();
        assert_eq!(err.status(), Some(400), "{req:?}: {err}");
    }
    // Past the end is not an error: nothing there yet.
    let req = FetchRequest {
        timeout: Some(0),
        ..FetchRequest::new("green", 0, 1_000)
    };
    assert!(env.client.fetch(&req).await.unwrap().is_empty());
    for record in [
        ProduceRecord::new("a").partition(-1),
        ProduceRecord::new("a").timestamp(-5),
    ] {
        let err = env
            .client
            .produce("green", record.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{record:?}: {err}");
    }
    assert_eq!(env.read("green", 0, 0).await.len(), 1);
}
