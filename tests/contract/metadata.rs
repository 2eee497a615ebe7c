//! Metadata: `/topics` and `/offsets/{earliest|latest|timestamp}`.

use upkafka_protocol::{OffsetSpec, ProduceRecord, TopicPartition, TopicPartitionOffset};

use crate::support::Env;

#[tokio::test]
async fn topics_lists_every_topic_with_its_partition_count() {
    let env = Env::start(&[("green", 3), ("blue", 1), ("a.b_c-d", 12)]).await;
    let topics = env.client.topics().await.unwrap();
    let mut got: Vec<_> = topics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    got.sort_unstable();
    assert_eq!(got, [("a.b_c-d", 12), ("blue", 1), ("green", 3)]);
}

#[tokio::test]
async fn offsets_earliest_latest_and_by_timestamp() {
    let env = Env::start(&[("green", 2)]).await;
    for ts in [1_000, 2_000, 3_000] {
        env.client
            .produce(
                "green",
                ProduceRecord::new(format!("t{ts}"))
                    .partition(0)
                    .timestamp(ts),
            )
            .await
            .unwrap();
    }
    let tps = [
        TopicPartition::new("green", 0),
        TopicPartition::new("green", 1),
    ];
    let at = |spec| {
        let client = env.client.clone();
        let tps = tps.clone();
        async move { client.offsets(spec, &tps).await.unwrap() }
    };
    let tpo = |p, o| TopicPartitionOffset::new("green", p, o);
    assert_eq!(at(OffsetSpec::Earliest).await, [tpo(0, 0), tpo(1, 0)]);
    assert_eq!(at(OffsetSpec::Latest).await, [tpo(0, 3), tpo(1, 0)]);
    // The first offset whose timestamp is at or after the time; -1 when none (§12 q. 10).
    assert_eq!(
        at(OffsetSpec::Timestamp(2_000)).await,
        [tpo(0, 1), tpo(1, -1)]
    );
    assert_eq!(
        at(OffsetSpec::Timestamp(2_001)).await,
        [tpo(0, 2), tpo(1, -1)]
    );
    assert_eq!(at(OffsetSpec::Timestamp(0)).await, [tpo(0, 0), tpo(1, -1)]);
    assert_eq!(
        at(OffsetSpec::Timestamp(3_001)).await,
        [tpo(0, -1), tpo(1, -1)]
    );
    // Unknown partition: 400.
    let err = env
        .client
        .offsets(OffsetSpec::Latest, &[TopicPartition::new("green", 2)])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
}
