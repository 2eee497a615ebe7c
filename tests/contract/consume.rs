//! Consume: `consume` with `ConsumeOptions`, `consume_topic` (URL form), the `Kafka-*`
//! settings, the `Consumer` handle and `/consumers`.

use std::time::Duration;

use upkafka_client::{ConsumeOptions, ErrorKind};
use upkafka_protocol::{
    AutoOffsetReset, ConsumerConfig, GroupAssignments, InstanceAssignments, ProduceRecord,
    TopicAssignments, TopicPartition, TopicPartitionOffset,
};

use crate::support::{Env, manual, values};

const SHORT: Duration = Duration::from_millis(100);

async fn seed(env: &Env, topic: &str, vals: &[&str]) {
    for v in vals {
        env.client
            .produce(topic, ProduceRecord::new(*v).partition(0))
            .await
            .unwrap();
    }
}

fn opts(group: &str, instance: &str, topics: &[&str], config: ConsumerConfig) -> ConsumeOptions {
    ConsumeOptions {
        timeout: Some(SHORT),
        config,
        ..ConsumeOptions::new(group, instance, topics.iter().copied())
    }
}

#[tokio::test]
async fn consume_earliest_without_auto_commit_then_explicit_commit() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", &["a", "b", "c"]).await;
    let o = opts("g", "i", &["green"], manual(AutoOffsetReset::Earliest));
    let msgs = env.client.consume(&o).await.unwrap();
    assert_eq!(values(&msgs), ["a", "b", "c"]);
    // Positions moved, the next poll has nothing new.
    assert!(env.client.consume(&o).await.unwrap().is_empty());
    // Auto-commit is off: nothing is committed, even after its default interval would pass.
    let tp = [TopicPartition::new("green", 0)];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let none = env.client.committed("g", "i", &tp).await.unwrap();
    assert_eq!(none, [TopicPartitionOffset::new("green", 0, -1)]);
    env.client
        .commit("g", "i", &[TopicPartitionOffset::new("green", 0, 3)])
        .await
        .unwrap();
    let back = env.client.committed("g", "i", &tp).await.unwrap();
    assert_eq!(back, [TopicPartitionOffset::new("green", 0, 3)]);
}

#[tokio::test]
async fn auto_commit_on_commits_in_the_background() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", &["a", "b"]).await;
    let config = ConsumerConfig {
        auto_commit: Some(true),
        auto_commit_interval_ms: Some(50),
        auto_offset_reset: Some(AutoOffsetReset::Earliest),
        ..ConsumerConfig::default()
    };
    let o = opts("g", "i", &["green"], config);
    assert_eq!(env.client.consume(&o).await.unwrap().len(), 2);
    let tp = [TopicPartition::new("green", 0)];
    let mut committed = -1;
    for _ in 0..150 {
        committed = env.client.committed("g", "i", &tp).await.unwrap()[0].offset;
        if committed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(committed, 2, "auto-commit never stored the position");
}

#[tokio::test]
async fn auto_offset_reset_latest_skips_what_was_there() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", &["old-1", "old-2"]).await;
    let o = opts("g", "i", &["green"], manual(AutoOffsetReset::Latest));
    assert!(env.client.consume(&o).await.unwrap().is_empty());
    seed(&env, "green", &["new"]).await;
    assert_eq!(values(&env.client.consume(&o).await.unwrap()), ["new"]);

    // The server default (no header) is `latest` too.
    let d = opts("g2", "i", &["green"], ConsumerConfig::default());
    assert!(env.client.consume(&d).await.unwrap().is_empty());
}

#[tokio::test]
async fn auto_offset_reset_none_without_a_commit_is_a_400() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", &["a"]).await;
    let o = opts("g", "i", &["green"], manual(AutoOffsetReset::None));
    let err = env.client.consume(&o).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("green/0"), "{err}");
}

#[tokio::test]
async fn consume_topic_uses_the_url_form_with_settings() {
    let env = Env::start(&[("green", 1), ("blue", 1)]).await;
    seed(&env, "green", &["a", "b"]).await;
    // Group and instance ids that need percent-encoding, including `/`.
    let (group, instance) = ("my group/ü", "host 1");
    let config = manual(AutoOffsetReset::Earliest);
    let msgs = env
        .client
        .consume_topic(group, instance, "green", Some(SHORT), &config)
        .await
        .unwrap();
    assert_eq!(values(&msgs), ["a", "b"]);
    let groups = env.client.consumers().await.unwrap();
    assert_eq!(
        groups,
        [GroupAssignments {
            name: group.into(),
            instances: vec![InstanceAssignments {
                name: instance.into(),
                topics: vec![TopicAssignments {
                    topic: "green".into(),
                    partitions: vec![0],
                }],
            }],
        }]
    );
    env.client.commit_consumed(group, instance).await.unwrap();
    let c = env
        .client
        .committed(group, instance, &[TopicPartition::new("green", 0)])
        .await
        .unwrap();
    assert_eq!(c[0].offset, 2);
    // No timeout given: the server default (1 s) applies and the call still answers.
    assert!(
        env.client
            .consume_topic(group, instance, "green", None, &config)
            .await
            .unwrap()
            .is_empty()
    );
    // An unknown topic in the URL form: 400 naming it.
    let err = env
        .client
        .consume_topic(group, instance, "nosuch", Some(SHORT), &config)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("nosuch"), "{err}");
}

#[tokio::test]
async fn consume_several_topics_and_resubscribe() {
    let env = Env::start(&[("green", 1), ("blue", 1), ("red", 1)]).await;
    seed(&env, "green", &["g"]).await;
    seed(&env, "blue", &["b"]).await;
    seed(&env, "red", &["r"]).await;
    let mut o = opts(
        "g",
        "i",
        &["green", "blue"],
        manual(AutoOffsetReset::Earliest),
    );
    let mut got = values(&env.client.consume(&o).await.unwrap())
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    got.sort();
    assert_eq!(got, ["b", "g"]);
    o.topics = vec!["red".into()];
    assert_eq!(values(&env.client.consume(&o).await.unwrap()), ["r"]);
    let groups = env.client.consumers().await.unwrap();
    let topics: Vec<_> = groups[0].instances[0]
        .topics
        .iter()
        .map(|t| t.topic.as_str())
        .collect();
    assert_eq!(topics, ["red"]);
    // No topics: refused by the client.
    o.topics.clear();
    assert_eq!(
        env.client.consume(&o).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[tokio::test]
async fn consumers_lists_groups_instances_and_range_assignments() {
    let env = Env::start(&[("cities", 3)]).await;
    assert!(env.client.consumers().await.unwrap().is_empty());
    let want = vec![
        ("a-host".to_owned(), vec![0, 1]),
        ("b-host".to_owned(), vec![2]),
    ];
    // The embedded log assigns at once; on Kafka a member takes part in a rebalance when it
    // polls, so the view settles after each instance has consumed again.
    let mut view = Vec::new();
    for _round in 0..20 {
        for inst in ["b-host", "a-host"] {
            env.client
                .consume(&opts("grp", inst, &["cities"], ConsumerConfig::default()))
                .await
                .unwrap();
        }
        let groups = env.client.consumers().await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].name, "grp");
        view = groups[0]
            .instances
            .iter()
            .map(|i| {
                let parts = i.topics.iter().flat_map(|t| t.partitions.clone()).collect();
                (i.name.clone(), parts)
            })
            .collect();
        if view == want {
            break;
        }
    }
    assert_eq!(view, want);
}

#[tokio::test]
async fn consumer_handle_polls_commits_reads_and_removes() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", &["a", "b", "c"]).await;
    let consumer = env
        .client
        .consumer("handle-group", "h1", ["green"])
        .with_config(manual(AutoOffsetReset::Earliest))
        .with_timeout(SHORT);
    assert_eq!(consumer.options().group, "handle-group");
    assert_eq!(consumer.options().timeout, Some(SHORT));
    assert_eq!(values(&consumer.poll().await.unwrap()), ["a", "b", "c"]);
    let tp = [TopicPartition::new("green", 0)];
    assert_eq!(consumer.committed(&tp).await.unwrap()[0].offset, -1);
    consumer.commit_consumed().await.unwrap();
    assert_eq!(consumer.committed(&tp).await.unwrap()[0].offset, 3);
    consumer
        .commit(&[TopicPartitionOffset::new("green", 0, 1)])
        .await
        .unwrap();
    assert_eq!(consumer.committed(&tp).await.unwrap()[0].offset, 1);
    consumer.remove().await.unwrap();
    assert!(env.client.consumers().await.unwrap().is_empty());
    let err = consumer.remove().await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(404)));
}

#[tokio::test]
async fn session_timeout_expires_an_idle_instance() {
    let env = Env::start(&[("green", 1)]).await;
    let config = ConsumerConfig {
        session_timeout_ms: Some(150),
        ..manual(AutoOffsetReset::Earliest)
    };
    env.client
        .consume(&opts("g", "short-lived", &["green"], config))
        .await
        .unwrap();
    assert_eq!(env.client.consumers().await.unwrap().len(), 1);
    let mut gone = false;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if env.client.consumers().await.unwrap().is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the idle instance never expired");
    let err = env
        .client
        .commit_consumed("g", "short-lived")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn instances_of_one_group_split_the_partitions_without_duplicates() {
    let env = Env::start(&[("cities", 3)]).await;
    let config = manual(AutoOffsetReset::Earliest);
    let a = opts("split", "a", &["cities"], config);
    let b = opts("split", "b", &["cities"], config);
    // Both join before anything is read, so the assignment is final. (On Kafka a member
    // takes part in a rebalance when it polls: both poll until each holds partitions.)
    for _round in 0..20 {
        env.client.consume(&a).await.unwrap();
        env.client.consume(&b).await.unwrap();
        let groups = env.client.consumers().await.unwrap();
        let held: Vec<usize> = groups
            .iter()
            .flat_map(|g| &g.instances)
            .map(|i| i.topics.iter().map(|t| t.partitions.len()).sum())
            .collect();
        if held.len() == 2 && held.iter().all(|n| *n > 0) && held.iter().sum::<usize>() == 3 {
            break;
        }
    }
    for p in 0..3 {
        for i in 0..2 {
            env.client
                .produce(
                    "cities",
                    ProduceRecord::new(format!("{p}-{i}")).partition(p),
                )
                .await
                .unwrap();
        }
    }
    // Both poll until all six arrived (at once on the embedded log; a few fetch round trips
    // on Kafka), then once more each: nothing may come twice.
    let mut all = Vec::new();
    for _round in 0..20 {
        for o in [&a, &b] {
            all.extend(env.client.consume(o).await.unwrap());
        }
        if all.len() >= 6 {
            break;
        }
    }
    for o in [&a, &b] {
        all.extend(env.client.consume(o).await.unwrap());
    }
    let mut got: Vec<_> = values(&all).into_iter().map(str::to_owned).collect();
    got.sort();
    assert_eq!(got, ["0-0", "0-1", "1-0", "1-1", "2-0", "2-1"]);
}

#[tokio::test]
async fn removing_an_auto_commit_instance_commits_its_position() {
    let env = Env::start(&[("green", 1)]).await;
    seed(&env, "green", &["a", "b", "c"]).await;
    let config = ConsumerConfig {
        auto_commit: Some(true),
        auto_commit_interval_ms: Some(60_000),
        auto_offset_reset: Some(AutoOffsetReset::Earliest),
        ..ConsumerConfig::default()
    };
    let o = opts("g", "i", &["green"], config);
    assert_eq!(env.client.consume(&o).await.unwrap().len(), 3);
    env.client.remove_consumer_instance("g", "i").await.unwrap();
    // A new instance resumes after what the removed one delivered.
    seed(&env, "green", &["d"]).await;
    assert_eq!(values(&env.client.consume(&o).await.unwrap()), ["d"]);
}
