//! Live streams through the client (`MessageStream`, server-sent events): records arrive as
//! they are stored, a group stream that is dropped and reopened with its last event id loses
//! and repeats nothing, one reopened without it repeats only what was not committed; on both
//! backends.

use std::time::Duration;

use futures::StreamExt as _;
use upkafka_client::{ConsumeOptions, MessageStream};
use upkafka_protocol::{
    AutoOffsetReset, FetchRequest, Message, ProduceRecord, TopicPartitionOffset, next_offsets,
};

use crate::support::{Env, manual};

async fn next(stream: &mut MessageStream) -> Message {
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("a record in time")
        .expect("the stream goes on")
        .expect("a record, not an error")
}

#[tokio::test]
async fn a_fetch_stream_yields_stored_and_new_records_in_order() {
    let env = Env::start(&[("live", 1)]).await;
    env.client
        .produce("live", ProduceRecord::new("before"))
        .await
        .expect("produce");
    let mut stream = env.client.fetch_stream(&FetchRequest::new("live", 0, 0));
    assert_eq!(next(&mut stream).await.value, "before");
    env.client
        .produce("live", ProduceRecord::new("after").key("k"))
        .await
        .expect("produce");
    let m = next(&mut stream).await;
    assert_eq!(
        (m.value.as_str(), m.key.as_str(), m.offset),
        ("after", "k", 1)
    );
    assert_eq!(stream.last_event_id().as_deref(), Some("live/0/1"));

    // A new stream that starts from the kept id yields only what came after it.
    env.client
        .produce("live", ProduceRecord::new("later"))
        .await
        .expect("produce");
    let mut again = env
        .client
        .fetch_stream(&FetchRequest::new("live", 0, 0))
        .with_last_event_id("live/0/1");
    assert_eq!(next(&mut again).await.value, "later");
}

#[tokio::test]
async fn a_group_stream_resumes_without_loss_and_repeats_only_uncommitted_records() {
    let env = Env::start(&[("orders", 2)]).await;
    let records: Vec<ProduceRecord> = (0..8)
        .map(|i| ProduceRecord::new(format!("o{i}")).partition(i % 2))
        .collect();
    env.client
        .produce_many_to("orders", &records)
        .await
        .expect("produce");
    let opts = ConsumeOptions {
        config: manual(AutoOffsetReset::Earliest),
        ..ConsumeOptions::new("billing", "a", ["orders"])
    };
    let follow = || env.client.consume_stream(&opts);
    let mut stream = follow();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut stream).await);
    }
    env.client
        .commit("billing", "a", &next_offsets(&got))
        .await
        .expect("commit what was processed");
    let id = stream.last_event_id().expect("an id");
    drop(stream);

    let mut resumed = follow().with_last_event_id(id);
    let mut rest = Vec::new();
    for _ in 0..5 {
        rest.push(next(&mut resumed).await);
    }
    drop(resumed);
    let mut all: Vec<String> = got.iter().chain(&rest).map(|m| m.value.clone()).collect();
    all.sort();
    let expected: Vec<String> = (0..8).map(|i| format!("o{i}")).collect();
    assert_eq!(all, expected, "nothing lost, nothing twice");

    // Without the id, the stream starts at the commits: exactly the five not committed.
    let mut restarted = follow();
    let mut again = Vec::new();
    for _ in 0..5 {
        again.push(next(&mut restarted).await.value);
    }
    again.sort();
    let mut rest: Vec<String> = rest.into_iter().map(|m| m.value).collect();
    rest.sort();
    assert_eq!(again, rest);
    let committed = env
        .client
        .committed(
            "billing",
            "a",
            &[upkafka_protocol::TopicPartition::new("orders", 0)],
        )
        .await
        .expect("committed");
    assert!(matches!(
        committed.as_slice(),
        [TopicPartitionOffset { offset, .. }] if *offset >= 1
    ));
}
