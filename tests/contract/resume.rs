//! Resuming at the committed offset when an instance is re-created: the documented choice is
//! that a new instance starts **at** the committed offset (Kafka: committed = next to read).
//! Committing `last processed + 1` loses and repeats nothing; committing the processed
//! message's own offset (the README example, and what kafka-js's test commits) redelivers
//! exactly that one message.

use std::time::Duration;

use upkafka_client::ConsumeOptions;
use upkafka_protocol::{AutoOffsetReset, Message, ProduceRecord, TopicPartitionOffset};

use crate::support::{Env, manual, values};

const VALUES: [&str; 5] = ["m0", "m1", "m2", "m3", "m4"];

/// Produces five messages, consumes them with `first`, commits `commit_of(m2)`, removes
/// `first`, and returns what a new instance `second` of the same group then receives.
async fn resume_after_commit(
    second: &str,
    commit_of: impl Fn(&Message) -> i64,
    reset: AutoOffsetReset,
) -> Vec<String> {
    let env = Env::start(&[("orders", 1)]).await;
    for v in VALUES {
        env.client
            .produce("orders", ProduceRecord::new(v))
            .await
            .unwrap();
    }
    let first = ConsumeOptions {
        timeout: Some(Duration::from_millis(100)),
        config: manual(AutoOffsetReset::Earliest),
        ..ConsumeOptions::new("billing", "first", ["orders"])
    };
    let got = env.client.consume(&first).await.unwrap();
    assert_eq!(values(&got), VALUES);
    // Processed m0..=m2, then commit and crash-stop.
    let last = &got[2];
    env.client
        .commit(
            "billing",
            "first",
            &[TopicPartitionOffset::new("orders", 0, commit_of(last))],
        )
        .await
        .unwrap();
    env.client
        .remove_consumer_instance("billing", "first")
        .await
        .unwrap();

    let second = ConsumeOptions {
        timeout: Some(Duration::from_millis(100)),
        config: manual(reset),
        ..ConsumeOptions::new("billing", second, ["orders"])
    };
    let again = env.client.consume(&second).await.unwrap();
    values(&again).into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn committing_the_next_offset_resumes_without_loss_or_duplicate() {
    // Six independent servers, run side by side (each waits for group joins on Kafka).
    let cases: Vec<_> = [
        AutoOffsetReset::Earliest,
        AutoOffsetReset::Latest,
        AutoOffsetReset::None,
    ]
    .into_iter()
    .flat_map(|reset| ["first", "second"].map(|instance| (instance, reset)))
    .collect();
    let runs = cases
        .iter()
        .map(|(instance, reset)| resume_after_commit(instance, |m| m.offset + 1, *reset));
    let results = futures::future::join_all(runs).await;
    for ((instance, reset), got) in cases.iter().zip(results) {
        assert_eq!(got, ["m3", "m4"], "{instance} with reset {reset:?}");
    }
}

#[tokio::test]
async fn committing_the_own_offset_redelivers_exactly_that_message() {
    let instances = ["first", "second"];
    let runs = instances
        .iter()
        .map(|instance| resume_after_commit(instance, |m| m.offset, AutoOffsetReset::Latest));
    let results = futures::future::join_all(runs).await;
    for (instance, got) in instances.iter().zip(results) {
        assert_eq!(got, ["m2", "m3", "m4"], "{instance}");
    }
}
