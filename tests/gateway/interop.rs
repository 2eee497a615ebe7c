//! The gateway and native Kafka clients on one cluster: what one writes the other reads, a
//! REST instance and a native consumer share a group, a restarted gateway resumes from the
//! offsets committed in Kafka, and two gateways serve one cluster.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header as KafkaHeader, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use upkafka_client::{Client, ConsumeOptions};
use upkafka_protocol::{AutoOffsetReset, ProduceRecord, TopicPartitionOffset};

use crate::common::{TansuBroker, TestServer};
use crate::support::{PASS, USER, client_as, config, manual};

/// A native consumer's view of one record.
#[derive(Debug, PartialEq, Eq)]
struct Native {
    key: Option<String>,
    value: String,
    headers: Vec<(String, String)>,
}

fn native_config(broker: &TansuBroker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &broker.bootstrap);
    c
}

/// Reads `n` records of `topic/partition` from `offset` with a native, group-less consumer.
fn native_read(
    broker: &TansuBroker,
    topic: &str,
    partition: i32,
    offset: i64,
    n: usize,
) -> Vec<Native> {
    let consumer: BaseConsumer = native_config(broker)
        .set("group.id", "native-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("native consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).expect("utf-8"));
            let headers = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| (h.key.to_owned(), text(h.value).unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Native {
                key: text(m.key()),
                value: text(m.payload()).unwrap_or_default(),
                headers,
            });
        }
    }
    out
}

/// A manual-commit instance starting at the earliest offset, waiting up to `timeout`.
fn earliest(group: &str, instance: &str, topic: &str, timeout: Duration) -> ConsumeOptions {
    ConsumeOptions {
        timeout: Some(timeout),
        config: manual(AutoOffsetReset::Earliest),
        ..ConsumeOptions::new(group, instance, [topic])
    }
}

fn rest_client(server: &TestServer) -> Client {
    client_as(&server.url, USER, PASS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_produce_is_read_natively_with_identical_key_value_and_headers() {
    let server = TestServer::start_gateway(config(&[("events", 2)])).await;
    let broker = Arc::clone(server.broker.as_ref().expect("gateway broker"));
    let client = rest_client(&server);
    let records = vec![
        ProduceRecord::new("{\"device\":7,\"value\":42}")
            .key("sensor-7")
            .partition(1)
            .header("source", "rest")
            .header("trace", "ab-12 ü"),
        ProduceRecord::new("no key, no headers").partition(1),
    ];
    let meta = client
        .produce_many_to("events", &records)
        .await
        .expect("produce");
    assert_eq!(meta[0].partition, 1);
    assert_eq!(meta[1].offset, meta[0].offset + 1);
    let got =
        tokio::task::spawn_blocking(move || native_read(&broker, "events", 1, meta[0].offset, 2))
            .await
            .expect("native read");
    assert_eq!(
        got,
        vec![
            Native {
                key: Some("sensor-7".into()),
                value: "{\"device\":7,\"value\":42}".into(),
                headers: vec![
                    ("source".into(), "rest".into()),
                    ("trace".into(), "ab-12 ü".into())
                ],
            },
            Native {
                key: None,
                value: "no key, no headers".into(),
                headers: vec![],
            },
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_produce_is_consumed_over_rest() {
    let server = TestServer::start_gateway(config(&[("events", 1)])).await;
    let broker = Arc::clone(server.broker.as_ref().expect("gateway broker"));
    let producer: FutureProducer = native_config(&broker).create().expect("native producer");
    for i in 0..3 {
        let key = format!("k{i}");
        let value = format!("native-{i}");
        let headers = OwnedHeaders::new().insert(KafkaHeader {
            key: "origin",
            value: Some("native"),
        });
        producer
            .send(
                FutureRecord::to("events")
                    .key(&key)
                    .payload(&value)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .expect("native produce");
    }
    let client = rest_client(&server);
    let opts = earliest("native-readers", "rest-1", "events", Duration::from_secs(2));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 3 && Instant::now() < deadline {
        got.extend(client.consume(&opts).await.expect("consume"));
    }
    let seen: Vec<(&str, &str, Option<&str>)> = got
        .iter()
        .map(|m| (m.key.as_str(), m.value.as_str(), m.header("origin")))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("k0", "native-0", Some("native")),
            ("k1", "native-1", Some("native")),
            ("k2", "native-2", Some("native")),
        ]
    );
}

/// The partitions a REST instance holds, from `/consumers`.
async fn rest_assignment(client: &Client, group: &str, instance: &str) -> BTreeSet<i32> {
    client
        .consumers()
        .await
        .expect("consumers")
        .into_iter()
        .filter(|g| g.name == group)
        .flat_map(|g| g.instances)
        .filter(|i| i.name == instance)
        .flat_map(|i| i.topics)
        .flat_map(|t| t.partitions)
        .collect()
}

/// Polls a native group member once (serving its rebalance callbacks) and returns the
/// partitions it holds.
async fn native_assignment(native: &Arc<BaseConsumer>) -> BTreeSet<i32> {
    let n = Arc::clone(native);
    tokio::task::spawn_blocking(move || {
        let _ = n.poll(Duration::from_millis(200));
        n.assignment()
            .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    })
    .await
    .expect("native poll")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_instance_and_a_native_consumer_split_the_partitions() {
    let server = TestServer::start_gateway(config(&[("cities", 4)])).await;
    let broker = Arc::clone(server.broker.as_ref().expect("gateway broker"));
    let client = rest_client(&server);
    let opts = earliest("mixed", "rest-1", "cities", Duration::from_millis(500));
    // The REST instance joins first and takes every partition.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rest_assignment(&client, "mixed", "rest-1").await.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the REST instance never got the partitions"
        );
        client.consume(&opts).await.expect("consume");
    }
    // A native member joins the same group; both keep polling until the split settles.
    let native: Arc<BaseConsumer> = Arc::new(
        native_config(&broker)
            .set("group.id", "mixed")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("native group consumer"),
    );
    native.subscribe(&["cities"]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let native_parts = native_assignment(&native).await;
        client.consume(&opts).await.expect("consume");
        let rest_parts = rest_assignment(&client, "mixed", "rest-1").await;
        if !native_parts.is_empty() && !rest_parts.is_empty() {
            assert!(
                native_parts.is_disjoint(&rest_parts),
                "both hold a partition: native {native_parts:?}, rest {rest_parts:?}"
            );
            let all: BTreeSet<i32> = native_parts.union(&rest_parts).copied().collect();
            if all == (0..4).collect() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no split: native {native_parts:?}, rest {rest_parts:?}"
        );
    }
}

/// `delete-consumer` makes the REST instance (a static member) leave its group at once: its
/// partitions go to the other members long before its session would time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_rest_instance_hands_its_partitions_over_at_once() {
    let server = TestServer::start_gateway(config(&[("handover", 4)])).await;
    let broker = Arc::clone(server.broker.as_ref().expect("gateway broker"));
    let client = rest_client(&server);
    let session = Duration::from_secs(120);
    let mut opts = earliest("handover", "rest-1", "handover", Duration::from_millis(500));
    opts.config.session_timeout_ms = Some(session.as_millis() as u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    while rest_assignment(&client, "handover", "rest-1").await.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the REST instance never got the partitions"
        );
        client.consume(&opts).await.expect("consume");
    }
    client
        .remove_consumer_instance("handover", "rest-1")
        .await
        .expect("delete-consumer");
    let deleted_at = Instant::now();
    assert!(
        rest_assignment(&client, "handover", "rest-1")
            .await
            .is_empty()
    );
    // A native member joining now gets every partition: the static member is gone, not
    // waiting out its two-minute session.
    let native: Arc<BaseConsumer> = Arc::new(
        native_config(&broker)
            .set("group.id", "handover")
            .set("enable.auto.commit", "false")
            .create()
            .expect("native group consumer"),
    );
    native.subscribe(&["handover"]).expect("subscribe");
    loop {
        let parts = native_assignment(&native).await;
        if parts == (0..4).collect() {
            break;
        }
        assert!(
            deleted_at.elapsed() < session / 2,
            "the native member has only {parts:?} {}s after the delete",
            deleted_at.elapsed().as_secs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_resumes_from_offsets_committed_in_kafka() {
    let first = TestServer::start_gateway(config(&[("orders", 1)])).await;
    let broker = Arc::clone(first.broker.as_ref().expect("gateway broker"));
    let client = rest_client(&first);
    let records: Vec<ProduceRecord> = (0..10)
        .map(|i| ProduceRecord::new(format!("o{i}")))
        .collect();
    client
        .produce_many_to("orders", &records)
        .await
        .expect("produce");
    let opts = earliest("billing", "worker-1", "orders", Duration::from_secs(2));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 4 && Instant::now() < deadline {
        got.extend(client.consume(&opts).await.expect("consume"));
    }
    assert!(got.len() >= 4, "consumed {got:?}");
    // Processed the first four: commit the next offset to read, 4.
    client
        .commit(
            "billing",
            "worker-1",
            &[TopicPartitionOffset::new("orders", 0, 4)],
        )
        .await
        .expect("commit");
    first.stop().await;

    let second = TestServer::start_gateway_on(config(&[("orders", 1)]), broker).await;
    let client = rest_client(&second);
    let mut again = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while again.len() < 6 && Instant::now() < deadline {
        again.extend(client.consume(&opts).await.expect("consume after restart"));
    }
    let values: Vec<&str> = again.iter().map(|m| m.value.as_str()).collect();
    assert_eq!(values, ["o4", "o5", "o6", "o7", "o8", "o9"]);
    // Nothing acknowledged was lost: all ten are in Kafka.
    let all = crate::support::Env {
        client,
        server: second,
    }
    .read("orders", 0, 0)
    .await;
    assert_eq!(all.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_cluster_share_data_and_groups() {
    let a = TestServer::start_gateway(config(&[("shared", 2)])).await;
    let broker = Arc::clone(a.broker.as_ref().expect("gateway broker"));
    let b = TestServer::start_gateway_on(config(&[]), broker).await;
    let (ca, cb) = (rest_client(&a), rest_client(&b));
    // Produce through one, fetch through the other.
    let meta = ca
        .produce_many_to("shared", &[ProduceRecord::new("via-a").partition(0)])
        .await
        .expect("produce via a");
    let env_b = crate::support::Env {
        client: cb,
        server: b,
    };
    let got = env_b.read("shared", 0, meta[0].offset).await;
    assert_eq!(got.first().map(|m| m.value.as_str()), Some("via-a"));
    // One group, one instance on each gateway (consume routed by {group}/{instance}): the
    // cluster splits the partitions between them.
    let oa = earliest("pool", "on-a", "shared", Duration::from_millis(300));
    let ob = earliest("pool", "on-b", "shared", Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        ca.consume(&oa).await.expect("consume on a");
        env_b.client.consume(&ob).await.expect("consume on b");
        let pa = rest_assignment(&ca, "pool", "on-a").await;
        let pb = rest_assignment(&env_b.client, "pool", "on-b").await;
        // Each gateway lists only its own instances.
        assert!(rest_assignment(&ca, "pool", "on-b").await.is_empty());
        if pa.len() == 1 && pb.len() == 1 {
            assert!(pa.is_disjoint(&pb), "a {pa:?}, b {pb:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no split: a {pa:?}, b {pb:?}");
    }
}

/// `/metrics` counts gateway traffic like embedded traffic, and reads lag from Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_gateway_traffic_and_lag() {
    let server = TestServer::start_gateway(config(&[("metered", 1)])).await;
    let client = rest_client(&server);
    let records: Vec<ProduceRecord> = (0..5)
        .map(|i| ProduceRecord::new(format!("m{i}")))
        .collect();
    client
        .produce_many_to("metered", &records)
        .await
        .expect("produce");
    let opts = earliest("watchers", "w1", "metered", Duration::from_secs(2));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 2 && Instant::now() < deadline {
        got.extend(client.consume(&opts).await.expect("consume"));
    }
    // Commit two of five: the lag Kafka reports is three.
    client
        .commit(
            "watchers",
            "w1",
            &[TopicPartitionOffset::new("metered", 0, 2)],
        )
        .await
        .expect("commit");
    let http = crate::common::client();
    let text = server
        .request(&http, reqwest::Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    let value = |series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    };
    assert_eq!(
        value(r#"upkafka_messages_produced_total{topic="metered"} "#),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(r#"upkafka_consumer_group_lag{group="watchers",topic="metered",partition="0"} "#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(r#"upkafka_consumer_instances{group="watchers"} "#),
        Some(1.0),
        "{text}"
    );
}

/// An offset past the end of a partition is "nothing there" on the gateway, not an error
/// (librdkafka reports it as an offset-out-of-range error, which the fetch turns into `[]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_past_the_end_answers_nothing() {
    let server = TestServer::start_gateway(config(&[("short", 1)])).await;
    let client = rest_client(&server);
    client
        .produce_many_to("short", &[ProduceRecord::new("a"), ProduceRecord::new("b")])
        .await
        .expect("produce");
    let req = upkafka_protocol::FetchRequest {
        timeout: Some(500),
        ..upkafka_protocol::FetchRequest::new("short", 0, 10)
    };
    assert_eq!(
        client.fetch(&req).await.expect("fetch past the end"),
        vec![]
    );
    // The same pooled consumer still serves a good fetch afterwards.
    let req = upkafka_protocol::FetchRequest {
        timeout: Some(3_000),
        ..upkafka_protocol::FetchRequest::new("short", 0, 1)
    };
    let got = client.fetch(&req).await.expect("fetch");
    assert_eq!(got.first().map(|m| m.value.as_str()), Some("b"));
}

/// A shutdown while the group is mid-rebalance: three instances join one group with
/// different subscriptions and are never polled again, so the group is still rebalancing
/// when the gateway stops. librdkafka 2.12 then hands out an assignment after the consumer
/// closed, and serving it waited forever (the CI run of 2026-11-30 hung here for an hour).
/// The shutdown must close every instance in time and say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_stops_cleanly_while_its_group_rebalances() {
    let server = TestServer::start_gateway(config(&[("a", 1), ("b", 1)])).await;
    let client = rest_client(&server);
    let zero = Duration::ZERO;
    for (instance, topics) in [("i", vec!["a"]), ("j", vec!["b"]), ("k", vec!["a", "b"])] {
        let opts = ConsumeOptions {
            timeout: Some(zero),
            ..ConsumeOptions::new("g", instance, topics)
        };
        client.consume(&opts).await.expect("consume");
    }
    // A heartbeat later (the default session is 10 s, a heartbeat every 3 s), `i` and `j`
    // know the group is rebalancing and wait for a poll that never comes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // `stop` fails the test if an instance had not closed when the shutdown gave up on it.
    server.stop().await;
}

/// Produces `value` to `topic/0` through `server` under `key`; answers status and offset.
async fn keyed_produce(server: &TestServer, topic: &str, key: &str, value: &str) -> (u16, i64) {
    use crate::common::{JsonBody, JsonResponse, client};
    let resp = client()
        .post(server.at(&format!("/produce/{topic}")))
        .basic_auth(USER, Some(PASS))
        .header("Idempotency-Key", key)
        .json_body(&serde_json::json!({"value": value, "partition": 0}))
        .send()
        .await
        .expect("produce");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json_value().await.expect("JSON");
    (status, body[0]["offset"].as_i64().unwrap_or(-1))
}

/// What the gateway promises for `Idempotency-Key` (issue 16), measured: a repeat is
/// answered with the first answer, and nothing stored again, by the gateway that answered it,
/// by another gateway of the cluster once it has read the shared answer
/// (`kafka/shared_keys.rs`), and by a gateway started afterwards; another body under the
/// key is refused everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_recognised_by_every_gateway_of_the_cluster_and_after_a_restart() {
    let a = TestServer::start_gateway(config(&[("idem", 1)])).await;
    let broker = Arc::clone(a.broker.as_ref().expect("gateway broker"));
    let b = TestServer::start_gateway_on(config(&[]), Arc::clone(&broker)).await;
    let (s, first) = keyed_produce(&a, "idem", "gw-key", "v").await;
    assert_eq!(s, 200);
    assert_eq!(keyed_produce(&a, "idem", "gw-key", "v").await, (200, first));
    // A client retries after a backoff; B reads the shared answer well within it (its
    // consumer waits at most 50 ms per fetch on the test broker).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        keyed_produce(&b, "idem", "gw-key", "v").await,
        (200, first),
        "another gateway answers the first answer"
    );
    assert_eq!(
        keyed_produce(&b, "idem", "gw-key", "another body").await.0,
        422,
        "another body under the key is refused on another gateway too"
    );
    a.stop().await;
    let restarted = TestServer::start_gateway_on(config(&[]), broker).await;
    assert_eq!(
        keyed_produce(&restarted, "idem", "gw-key", "v").await,
        (200, first),
        "a gateway started afterwards reads the answer before it serves"
    );
    let all = crate::support::Env {
        client: rest_client(&restarted),
        server: restarted,
    }
    .read("idem", 0, 0)
    .await;
    assert_eq!(all.len(), 1, "stored once, by the first gateway");
    println!(
        "FIGURES gateway::idempotency: a repeat stored again 0 times on the same gateway, \
         another gateway, a restarted one (records in Kafka: {})",
        all.len()
    );
}
