//! Commit and committed: explicit (verbatim), "what was consumed", `-1` for nothing, and
//! removing an instance.

use std::time::Duration;

use upkafka_client::{ConsumeOptions, ErrorKind};
use upkafka_protocol::{AutoOffsetReset, ProduceRecord, TopicPartition, TopicPartitionOffset};

use crate::support::{Env, manual};

async fn consuming(env: &Env, group: &str, instance: &str, topics: &[&str]) -> ConsumeOptions {
    let o = ConsumeOptions {
        timeout: Some(Duration::from_millis(100)),
        config: manual(AutoOffsetReset::Earliest),
        ..ConsumeOptions::new(group, instance, topics.iter().copied())
    };
    env.client.consume(&o).await.unwrap();
    o
}

#[tokio::test]
async fn explicit_commits_are_stored_verbatim_and_read_back() {
    let env = Env::start(&[("green", 2), ("blue", 1)]).await;
    consuming(&env, "g", "i", &["green", "blue"]).await;
    let offsets = [
        TopicPartitionOffset::new("green", 0, 13),
        TopicPartitionOffset::new("green", 1, 0),
        TopicPartitionOffset::new("blue", 0, 19),
    ];
    env.client.commit("g", "i", &offsets).await.unwrap();
    let tps: Vec<_> = offsets
        .iter()
        .map(TopicPartitionOffset::topic_partition)
        .collect();
    assert_eq!(env.client.committed("g", "i", &tps).await.unwrap(), offsets);
    // A single commit replaces only its partition.
    env.client
        .commit("g", "i", &[TopicPartitionOffset::new("green", 0, 14)])
        .await
        .unwrap();
    let back = env.client.committed("g", "i", &tps).await.unwrap();
    assert_eq!(back[0].offset, 14);
    assert_eq!(back[2].offset, 19);
    // Committed offsets belong to the group: another instance reads the same values.
    consuming(&env, "g", "other", &["green"]).await;
    assert_eq!(
        env.client.committed("g", "other", &tps[2..]).await.unwrap()[0].offset,
        19
    );
    // Nothing to commit is refused by the client (commit_consumed is that call).
    assert_eq!(
        env.client.commit("g", "i", &[]).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[tokio::test]
async fn commit_consumed_stores_last_consumed_plus_one() {
    let env = Env::start(&[("green", 2)]).await;
    for (p, n) in [(0, 3), (1, 1)] {
        for i in 0..n {
            env.client
                .produce("green", ProduceRecord::new(format!("{p}-{i}")).partition(p))
                .await
                .unwrap();
        }
    }
    let o = ConsumeOptions {
        timeout: Some(Duration::from_millis(100)),
        config: manual(AutoOffsetReset::Earliest),
        ..ConsumeOptions::new("g", "i", ["green"])
    };
    let msgs = env.client.consume(&o).await.unwrap();
    assert_eq!(msgs.len(), 4);
    env.client.commit_consumed("g", "i").await.unwrap();
    let tps = [
        TopicPartition::new("green", 0),
        TopicPartition::new("green", 1),
    ];
    let got = env.client.committed("g", "i", &tps).await.unwrap();
    for tpo in &got {
        let last = msgs
            .iter()
            .filter(|m| m.partition == tpo.partition)
            .map(|m| m.offset)
            .max()
            .unwrap();
        assert_eq!(tpo.offset, last + 1, "{tpo:?}");
    }
}

#[tokio::test]
async fn committed_is_minus_one_for_nothing_and_404_for_unknown_instances() {
    let env = Env::start(&[("green", 3)]).await;
    consuming(&env, "g", "i", &["green"]).await;
    let tps: Vec<_> = (0..3).map(|p| TopicPartition::new("green", p)).collect();
    let got = env.client.committed("g", "i", &tps).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|o| o.offset == -1), "{got:?}");
    // No partitions named: upkafka's server answers for the instance's assignment.
    assert_eq!(env.client.committed("g", "i", &[]).await.unwrap(), got);
    for err in [
        env.client.committed("g", "nobody", &tps).await.unwrap_err(),
        env.client
            .commit("g", "nobody", &[TopicPartitionOffset::new("green", 0, 1)])
            .await
            .unwrap_err(),
        env.client
            .commit_consumed("nogroup", "i")
            .await
            .unwrap_err(),
    ] {
        assert_eq!(
            (err.kind(), err.status()),
            (ErrorKind::Api, Some(404)),
            "{err}"
        );
    }
    // A partition the topic does not have: 400.
    let err = env
        .client
        .committed("g", "i", &[TopicPartition::new("green", 7)])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
}

#[tokio::test]
async fn remove_consumer_instance_then_404() {
    let env = Env::start(&[("green", 1)]).await;
    consuming(&env, "g", "i", &["green"]).await;
    env.client.remove_consumer_instance("g", "i").await.unwrap();
    assert!(env.client.consumers().await.unwrap().is_empty());
    let err = env
        .client
        .remove_consumer_instance("g", "i")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = env
        .client
        .committed("g", "i", &[TopicPartition::new("green", 0)])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}
