//! `Consumer::stream`: a `Stream` of batches over `/consume/{group}/{instance}`, with commits
//! left to the caller. A tiny in-memory log behind wiremock stands in for the server, so
//! what the client produced is what the stream must read back, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use upkafka_client::{BatchStream, ErrorKind};
use upkafka_protocol::{Message, ProduceRecord, TopicPartitionOffset, next_offsets};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

/// One partition of one topic, read `batch` messages per poll by one consumer instance.
#[derive(Default)]
struct LogState {
    messages: Vec<Message>,
    /// Next offset the instance will be given.
    read: usize,
    /// Most messages one poll answers.
    batch: usize,
    /// Polls to answer `[]` before any data, as a quiet topic would.
    empty_polls: usize,
    polls: usize,
    commits: Vec<Vec<TopicPartitionOffset>>,
}

#[derive(Clone)]
struct Log(Arc<Mutex<LogState>>);

impl Log {
    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.0.lock().expect("log lock")
    }
}

struct Produce(Log);
struct Consume(Log);
struct Commit(Log);

impl Respond for Produce {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let records: Vec<Value> = serde_json::from_slice(&request.body).expect("a JSON array");
        let mut log = self.0.state();
        let mut metas = Vec::new();
        for r in records {
            let offset = log.messages.len() as i64;
            log.messages.push(Message {
                topic: "sensor".into(),
                partition: 0,
                offset,
                timestamp: 1_700_000_000_000 + offset,
                key: r["key"].as_str().unwrap_or_default().into(),
                value: r["value"].as_str().expect("a value").into(),
                headers: Vec::new(),
                tombstone: false,
            });
            metas
                .push(json!({"topic": "sensor", "partition": 0, "offset": offset, "timestamp": 0}));
        }
        ResponseTemplate::new(200).set_body_json(metas)
    }
}

impl Respond for Consume {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut log = self.0.state();
        log.polls += 1;
        if log.polls <= log.empty_polls {
            return ResponseTemplate::new(200).set_body_json(json!([]));
        }
        let end = (log.read + log.batch).min(log.messages.len());
        let out = log.messages[log.read..end].to_vec();
        log.read = end;
        ResponseTemplate::new(200).set_body_json(out)
    }
}

impl Respond for Commit {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let offsets = serde_json::from_slice(&request.body).expect("commit offsets");
        self.0.state().commits.push(offsets);
        ResponseTemplate::new(200).set_body_json(json!({"result": "Successful", "status": 200}))
    }
}

/// A mock server acting as a one-partition log, with `batch` messages per poll.
async fn log_server(batch: usize, empty_polls: usize) -> (MockServer, Log) {
    let server = MockServer::start().await;
    let log = Log(Arc::new(Mutex::new(LogState {
        batch,
        empty_polls,
        ..LogState::default()
    })));
    Mock::given(method("POST"))
        .and(path("/produce/sensor"))
        .and(authed())
        .respond_with(Produce(log.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/consume/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .respond_with(Consume(log.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/commit/{GROUP_ENC}/{INSTANCE_ENC}")))
        .and(authed())
        .respond_with(Commit(log.clone()))
        .mount(&server)
        .await;
    (server, log)
}

/// The next item, or a failure if the stream stalls.
async fn next(stream: &mut BatchStream) -> upkafka_client::Result<Vec<Message>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream stalled")
        .expect("the stream never ends")
}

#[tokio::test]
async fn a_consumer_stream_yields_produced_messages_in_order_and_commits_only_when_told() {
    let (server, log) = log_server(2, 0).await;
    let client = client_for(&server.uri());
    let records: Vec<ProduceRecord> = (0..5)
        .map(|i| ProduceRecord::new(format!("m{i}")))
        .collect();
    let metas = client.produce_many_to("sensor", &records).await.unwrap();
    assert_eq!(metas.len(), 5);

    let consumer = client.consumer(GROUP, INSTANCE, ["sensor"]);
    let mut batches = consumer.stream();
    let mut seen = Vec::new();
    let mut batch_count = 0;
    while seen.len() < 5 {
        let batch = next(&mut batches).await.unwrap();
        assert!(!batch.is_empty(), "an empty poll is not an item");
        // The stream itself never commits: only the commits below reach the server.
        assert_eq!(log.state().commits.len(), batch_count);
        seen.extend(batch.iter().map(|m| m.value.clone()));
        // Processing done: commit through the stream's consumer.
        batches
            .consumer()
            .commit(&next_offsets(&batch))
            .await
            .unwrap();
        batch_count += 1;
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
    let state = log.state();
    assert_eq!(state.polls, 3, "batches of 2, 2 and 1");
    let committed: Vec<i64> = state.commits.iter().map(|c| c[0].offset).collect();
    assert_eq!(committed, [2, 4, 5], "next offset to read after each batch");
    assert!(
        state
            .commits
            .iter()
            .all(|c| c.len() == 1 && c[0].topic == "sensor")
    );
}

#[tokio::test]
async fn a_consumer_stream_goes_on_after_empty_polls() {
    let (server, log) = log_server(10, 2).await;
    let client = client_for(&server.uri());
    client
        .produce_many_to("sensor", &[ProduceRecord::new("late")])
        .await
        .unwrap();
    let consumer = client.consumer(GROUP, INSTANCE, ["sensor"]);
    let mut batches = consumer.stream();
    let batch = next(&mut batches).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].value, "late");
    assert_eq!(log.state().polls, 3, "two empty polls, then the data");
    // Nothing more: the stream keeps polling (it does not end) until the caller stops asking.
    let idle = tokio::time::timeout(Duration::from_millis(200), batches.next()).await;
    assert!(idle.is_err(), "no item from a drained log: {idle:?}");
    assert!(log.state().polls > 3);
}

#[tokio::test]
async fn a_consumer_stream_yields_an_error_as_an_item_and_polls_on() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(reply(400, "errors/bad_request.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(reply(200, "consume/messages.json"))
        .mount(&server)
        .await;
    let consumer = client.consumer("g", "i", ["mytopic"]);
    let mut batches = consumer.stream();
    let err = next(&mut batches).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Api, Some(400)));
    let batch = next(&mut batches).await.unwrap();
    assert_eq!(batch[0].value, "hello-world");
}

#[tokio::test]
async fn a_consumer_stream_can_be_moved_into_a_task() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path("/consume/g/i"))
        .respond_with(reply(200, "consume/messages.json"))
        .mount(&server)
        .await;
    let mut batches = client.consumer("g", "i", ["mytopic"]).stream();
    let task = tokio::spawn(async move { next(&mut batches).await });
    let batch = task.await.unwrap().unwrap();
    assert_eq!(batch.len(), 1);
}
