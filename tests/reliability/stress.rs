//! The server under load: concurrent producers, and consumers of one group joining and leaving
//! all the time.
//!
//! Checked: no acknowledged message is missing from the log or from what the group consumed;
//! per-partition order holds (in the log, and in what each instance receives between two
//! membership changes); no message is delivered twice — to two instances or to one — within
//! one stable membership (outside a rebalance). Deliveries are tagged with the membership
//! epoch: every join and leave bumps it before and after the change, and a poll counts as
//! "stable" only when no change was in progress and the epoch did not move while it ran.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upkafka_server::{ServerConfig, TopicSpec};

use crate::common::{JsonBody, JsonResponse, TestServer, client};
use crate::util::read_topic;

const TOPIC: &str = "st";
const PARTITIONS: i32 = 6;
const GROUP: &str = "sg";
const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 1500;

#[derive(Default)]
struct Membership {
    epoch: u64,
    changing: u32,
}

#[derive(Clone)]
struct Shared {
    http: reqwest::Client,
    url: String,
    membership: Arc<Mutex<Membership>>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

#[derive(Debug, Clone)]
struct Delivery {
    instance: String,
    partition: i64,
    offset: i64,
    value: String,
    /// The stable epoch the poll ran in, or `None` when membership changed meanwhile.
    stable: Option<u64>,
}

impl Shared {
    fn begin_change(&self) {
        let mut m = self.membership.lock().expect("lock");
        m.epoch += 1;
        m.changing += 1;
    }

    fn end_change(&self) {
        let mut m = self.membership.lock().expect("lock");
        m.epoch += 1;
        m.changing -= 1;
    }

    fn snapshot(&self) -> (u64, u32) {
        let m = self.membership.lock().expect("lock");
        (m.epoch, m.changing)
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Kafka-Enable-Auto-Commit", "false")
            .header("Kafka-Auto-Offset-Reset", "earliest")
            .json_body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json_value().await.expect("JSON"))
    }
}

/// One consumer instance: joins, polls and commits what it got until told to stop, then
/// commits and leaves.
async fn consumer(shared: Shared, name: String, stop: Arc<AtomicBool>) {
    let consume = format!("/consume/{GROUP}/{name}");
    let commit = format!("/commit/{GROUP}/{name}");
    let body = json!({"topic": TOPIC, "timeout": 100});
    let mut first = true;
    shared.begin_change(); // join: the first consume
    while !stop.load(Ordering::SeqCst) {
        let (e0, c0) = shared.snapshot();
        let (status, msgs) = shared.post(&consume, &body).await;
        let (e1, _) = shared.snapshot();
        assert_eq!(status, 200, "consume {name}: {msgs}");
        if first {
            shared.end_change();
            first = false;
        }
        let msgs = msgs.as_array().cloned().unwrap_or_default();
        if msgs.is_empty() {
            continue;
        }
        let stable = (c0 == 0 && e0 == e1).then_some(e0);
        let mut next: BTreeMap<i64, i64> = BTreeMap::new();
        {
            let mut d = shared.deliveries.lock().expect("lock");
            for m in &msgs {
                let (p, o) = (
                    m["partition"].as_i64().unwrap_or(-1),
                    m["offset"].as_i64().unwrap_or(-1),
                );
                next.insert(p, o + 1);
                d.push(Delivery {
                    instance: name.clone(),
                    partition: p,
                    offset: o,
                    value: m["value"].as_str().unwrap_or_default().to_owned(),
                    stable,
                });
            }
        }
        let offsets: Vec<Value> = next
            .iter()
            .map(|(p, o)| json!({"topic": TOPIC, "partition": p, "offset": o}))
            .collect();
        let (status, v) = shared.post(&commit, &json!(offsets)).await;
        // A commit right after a rebalance took the partition away may be refused; the new
        // owner then re-reads from the last commit (a duplicate, never a loss).
        assert!(
            status == 200 || status == 400,
            "commit {name}: {status} {v}"
        );
    }
    if first {
        shared.end_change();
    }
    shared.begin_change(); // leave
    let (status, v) = shared
        .post(&format!("/delete-consumer/{GROUP}/{name}"), &json!(null))
        .await;
    assert_eq!(status, 200, "delete {name}: {v}");
    shared.end_change();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_and_a_churning_group_lose_nothing_and_never_double_deliver() {
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new(TOPIC, PARTITIONS)],
        housekeeping_interval: Duration::from_millis(20),
        ..ServerConfig::default()
    })
    .await;
    let shared = Shared {
        http: client(),
        url: server.url.clone(),
        membership: Arc::default(),
        deliveries: Arc::default(),
    };
    let started = Instant::now();

    // Producers: keyed, so each producer's messages go to one partition in order.
    let acked: Arc<Mutex<HashMap<String, (i64, i64)>>> = Arc::default();
    let mut producers = Vec::new();
    for w in 0..PRODUCERS {
        let http = shared.http.clone();
        let url = server.url.clone();
        let acked = Arc::clone(&acked);
        producers.push(tokio::spawn(async move {
            for b in 0..PER_PRODUCER / 20 {
                let batch: Vec<Value> = (0..20)
                    .map(|i| json!({"value": format!("p{w}-{:06}", b * 20 + i), "key": format!("producer-{w}")}))
                    .collect();
                let resp = http
                    .post(format!("{url}/produce/{TOPIC}"))
                    .json_body(&json!(batch))
                    .send()
                    .await
                    .expect("produce");
                assert!(resp.status().is_success());
                let meta: Vec<Value> = resp.json_value().await.expect("JSON");
                {
                    let mut a = acked.lock().expect("lock");
                    for (rec, m) in batch.iter().zip(meta) {
                        a.insert(
                            rec["value"].as_str().unwrap_or_default().to_owned(),
                            (m["partition"].as_i64().unwrap_or(-1), m["offset"].as_i64().unwrap_or(-1)),
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }));
    }

    // Consumers: start three, then every 100 ms one joins or the oldest leaves (1..=5 live),
    // for at least 30 steps.
    let mut live: Vec<(Arc<AtomicBool>, tokio::task::JoinHandle<()>)> = Vec::new();
    let mut next_id = 0;
    let mut spawn = |live: &mut Vec<(Arc<AtomicBool>, tokio::task::JoinHandle<()>)>| {
        let stop = Arc::new(AtomicBool::new(false));
        let name = format!("c{next_id:02}");
        next_id += 1;
        live.push((
            Arc::clone(&stop),
            tokio::spawn(consumer(shared.clone(), name, stop)),
        ));
    };
    for _ in 0..3 {
        spawn(&mut live);
    }
    let mut leaves = 0;
    let mut step = 0u32;
    let all_consumed = |shared: &Shared, acked: &HashMap<String, (i64, i64)>| {
        let d = shared.deliveries.lock().expect("lock");
        let got: BTreeSet<&str> = d.iter().map(|x| x.value.as_str()).collect();
        acked.keys().all(|v| got.contains(v.as_str()))
    };
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        step += 1;
        let producing = producers.iter().any(|p| !p.is_finished());
        if !producing && step >= 30 {
            let acked = acked.lock().expect("lock").clone();
            if acked.len() == PRODUCERS * PER_PRODUCER && all_consumed(&shared, &acked) {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the group did not catch up"
        );
        // Churn while producing, and a little after.
        if step < 40 {
            let join = live.len() <= 1 || (live.len() < 5 && !step.is_multiple_of(3));
            if join {
                spawn(&mut live);
            } else {
                let (stop, task) = live.remove(0);
                stop.store(true, Ordering::SeqCst);
                task.await.expect("consumer task");
                leaves += 1;
            }
        }
    }
    for p in producers {
        p.await.expect("producer");
    }
    for (stop, task) in live.drain(..) {
        stop.store(true, Ordering::SeqCst);
        task.await.expect("consumer task");
        leaves += 1;
    }

    // The log: every acknowledged message where its acknowledgement said, producers in order.
    let acked = acked.lock().expect("lock").clone();
    let (counts, per_partition) = read_topic(&server, TOPIC, PARTITIONS).await;
    assert_eq!(counts.len(), PRODUCERS * PER_PRODUCER);
    assert!(
        counts.values().all(|c| *c == 1),
        "no produce was duplicated without faults"
    );
    for (p, msgs) in per_partition.iter().enumerate() {
        let mut last: HashMap<String, String> = HashMap::new();
        for m in msgs {
            let v = m["value"].as_str().unwrap_or_default().to_owned();
            assert_eq!(
                acked.get(&v),
                Some(&(p as i64, m["offset"].as_i64().unwrap_or(-1))),
                "{v}"
            );
            let producer = v.split('-').next().unwrap_or_default().to_owned();
            if let Some(prev) = last.insert(producer, v.clone()) {
                assert!(prev < v, "partition {p}: {prev} before {v}");
            }
        }
    }

    // The group: everything consumed; order and exclusivity within stable membership.
    let deliveries = shared.deliveries.lock().expect("lock").clone();
    let delivered: BTreeSet<&str> = deliveries.iter().map(|d| d.value.as_str()).collect();
    let missing = acked
        .keys()
        .filter(|v| !delivered.contains(v.as_str()))
        .count();
    assert_eq!(missing, 0, "acknowledged but never consumed");
    let mut per_epoch: HashMap<(u64, i64, i64), &str> = HashMap::new();
    let mut double_in_stable = Vec::new();
    let mut order: HashMap<(&str, i64, u64), i64> = HashMap::new();
    for d in &deliveries {
        let Some(epoch) = d.stable else { continue };
        if let Some(other) = per_epoch.insert((epoch, d.partition, d.offset), &d.instance) {
            double_in_stable.push(format!(
                "{}/{} to {other} and {} in epoch {epoch}",
                d.partition, d.offset, d.instance
            ));
        }
        if let Some(prev) = order.insert((d.instance.as_str(), d.partition, epoch), d.offset) {
            assert!(
                prev < d.offset,
                "{} got {}/{} after {prev}",
                d.instance,
                d.partition,
                d.offset
            );
        }
    }
    assert!(
        double_in_stable.is_empty(),
        "delivered twice outside a rebalance: {double_in_stable:?}"
    );
    let total = deliveries.len();
    let stable = deliveries.iter().filter(|d| d.stable.is_some()).count();
    let duplicates = total - delivered.len();
    let epochs = shared.snapshot().0 / 2;
    println!(
        "FIGURES stress: producers={PRODUCERS} acknowledged={} partitions={PARTITIONS} instances={next_id} \
         joins={next_id} leaves={leaves} membership_changes={epochs} deliveries={total} \
         (in stable membership: {stable}) lost=0 duplicates={duplicates} (all across a rebalance) \
         double_delivery_outside_rebalance=0 seconds={:.1}",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}
