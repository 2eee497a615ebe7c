//! Event streams (`Accept: text/event-stream` on `/fetch` and `/consume`): the event format,
//! records arriving as they are stored, heartbeats, resume with `Last-Event-ID`, at-least-once
//! across a dropped group stream, the back-pressure bound, and shutdown ending open streams.

use std::time::Duration;

use serde_json::{Value, json};
use upkafka_server::{Limits, ServerConfig, TopicSpec};

use crate::common::{JsonBody, JsonResponse, TestServer, client};

/// One parsed server-sent event (or a comment / `retry:` block).
#[derive(Debug, Default, Clone)]
struct Event {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<u64>,
    comment: Option<String>,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("data")).expect("JSON data")
    }
}

/// Reads blocks of an event stream, a chunk at a time.
struct Reader {
    resp: reqwest::Response,
    buf: String,
}

impl Reader {
    fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().expect("ascii"),
            "text/event-stream"
        );
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next block, `None` at the end of the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Event::default();
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        ev.comment = Some(c.trim().to_owned());
                    } else if let Some((k, v)) = line.split_once(": ") {
                        match k {
                            "id" => ev.id = Some(v.to_owned()),
                            "event" => ev.event = Some(v.to_owned()),
                            "data" => ev.data = Some(v.to_owned()),
                            "retry" => ev.retry = Some(v.parse().expect("retry ms")),
                            other => panic!("unexpected field {other}"),
                        }
                    }
                }
                return Some(ev);
            }
            let chunk = self.resp.chunk().await.expect("reading the stream")?;
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream"));
        }
    }

    /// The next record event, skipping `retry:` and heartbeats; fails after `wait`.
    async fn record(&mut self, wait: Duration) -> Event {
        tokio::time::timeout(wait, async {
            loop {
                let ev = self.next().await.expect("stream ended before a record");
                if ev.data.is_some() {
                    return ev;
                }
            }
        })
        .await
        .expect("a record in time")
    }
}

fn config(topics: &[(&str, i32)], limits: Limits) -> ServerConfig {
    ServerConfig {
        topics: topics.iter().map(|(n, p)| TopicSpec::new(*n, *p)).collect(),
        housekeeping_interval: Duration::from_millis(20),
        limits,
        ..ServerConfig::default()
    }
}

async fn produce(server: &TestServer, topic: &str, records: Value) {
    let http = client();
    let resp = server
        .request(&http, reqwest::Method::POST, &format!("/produce/{topic}"))
        .json_body(&records)
        .send()
        .await
        .expect("produce");
    assert_eq!(resp.status(), 200);
}

async fn open(
    server: &TestServer,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = server
        .request(&client(), reqwest::Method::POST, path)
        .header("accept", "text/event-stream")
        .json_body(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("opening the stream")
}

#[tokio::test]
async fn a_fetch_stream_sends_one_event_per_record_with_resumable_ids() {
    let server = TestServer::start(config(&[("t", 2)], Limits::default())).await;
    produce(
        &server,
        "t",
        json!([
            {"value": "a", "partition": 0, "key": "k", "headers": [{"key": "h", "value": "v"}]},
            {"value": "b", "partition": 1}
        ]),
    )
    .await;
    let body = json!({"topicPartitionOffsets": [
        {"topic": "t", "partition": 0, "offset": 0},
        {"topic": "t", "partition": 1, "offset": 0}
    ]});
    let mut s = Reader::new(open(&server, "/fetch", &body, &[]).await);
    let first = s.next().await.expect("retry block");
    assert_eq!(
        first.retry,
        Some(1000),
        "the stream starts with a retry hint"
    );
    let a = s.record(Duration::from_secs(5)).await;
    let b = s.record(Duration::from_secs(5)).await;
    let (a, b) = if a.json()["value"] == "a" {
        (a, b)
    } else {
        (b, a)
    };
    let ja = a.json();
    assert_eq!(ja["topic"], "t");
    assert_eq!(ja["partition"], 0);
    assert_eq!(ja["offset"], 0);
    assert_eq!(ja["key"], "k");
    assert_eq!(ja["headers"], json!([{"key": "h", "value": "v"}]));
    assert!(ja["timestamp"].as_i64().expect("timestamp") > 0);
    let ids = [a.id.clone().expect("id"), b.id.clone().expect("id")];
    assert!(ids.contains(&"t/0/0,t/1/-1".to_owned()) || ids.contains(&"t/0/0,t/1/0".to_owned()));
    assert!(b.id.expect("id").starts_with("t/1/0"));

    // A record stored while the stream is open arrives at once (no polling interval).
    let started = std::time::Instant::now();
    produce(&server, "t", json!([{"value": "c", "partition": 1}])).await;
    let c = s.record(Duration::from_secs(5)).await;
    assert_eq!(c.json()["value"], "c");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let last = c.id.expect("id");
    assert_eq!(last, "t/1/1,t/0/0");
    drop(s);

    // Reconnecting with the last id resumes after it on every partition: only new records.
    produce(&server, "t", json!([{"value": "d", "partition": 0}])).await;
    let mut s = Reader::new(open(&server, "/fetch", &body, &[("last-event-id", &last)]).await);
    let d = s.record(Duration::from_secs(5)).await;
    assert_eq!(d.json()["value"], "d");
    assert_eq!(d.id.as_deref(), Some("t/0/1,t/1/1"));
    server.stop().await;
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeats_at_the_configured_interval() {
    let limits = Limits {
        stream_heartbeat: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = TestServer::start(config(&[("t", 1)], limits)).await;
    let body = json!({"topic": "t", "partition": 0, "offset": 0});
    let mut s = Reader::new(open(&server, "/fetch", &body, &[]).await);
    let started = std::time::Instant::now();
    let mut beats = 0;
    while beats < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(2), s.next())
            .await
            .expect("a block in time")
            .expect("stream open");
        if ev.comment.as_deref() == Some("heartbeat") {
            beats += 1;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    server.stop().await;
}

#[tokio::test]
async fn a_bad_stream_request_is_a_json_error_and_a_bad_last_event_id_a_400() {
    let server = TestServer::start(config(&[("t", 1)], Limits::default())).await;
    let resp = open(
        &server,
        "/fetch",
        &json!({"topic": "nope", "partition": 0, "offset": 0}),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = open(
        &server,
        "/fetch",
        &json!({"topic": "t", "partition": 0, "offset": 0}),
        &[("last-event-id", "garbage")],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json_value().await.expect("JSON");
    assert!(
        err["error"]
            .as_str()
            .expect("text")
            .contains("Last-Event-ID")
    );
    server.stop().await;
}

async fn committed(server: &TestServer, group: &str, instance: &str, partitions: i32) -> Vec<i64> {
    let list: Vec<Value> = (0..partitions)
        .map(|p| json!({"topic": "t", "partition": p}))
        .collect();
    let resp = server
        .request(
            &client(),
            reqwest::Method::POST,
            &format!("/committed/{group}/{instance}"),
        )
        .json_body(&Value::Array(list))
        .send()
        .await
        .expect("committed");
    let v: Value = resp.json_value().await.expect("JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(|o| o["offset"].as_i64().expect("offset"))
        .collect()
}

#[tokio::test]
async fn a_dropped_group_stream_loses_nothing_and_repeats_only_what_was_not_committed() {
    let server = TestServer::start(config(&[("t", 2)], Limits::default())).await;
    let records: Vec<Value> = (0..10)
        .map(|i| json!({"value": format!("v{i}"), "partition": i % 2}))
        .collect();
    produce(&server, "t", Value::Array(records)).await;
    let body = json!({"topic": "t"});
    let manual = [
        ("kafka-enable-auto-commit", "false"),
        ("kafka-auto-offset-reset", "earliest"),
    ];

    // Read four records, commit what was processed, drop the connection.
    let mut s = Reader::new(open(&server, "/consume/g/i", &body, &manual).await);
    let mut seen: Vec<String> = Vec::new();
    let mut processed = std::collections::BTreeMap::new();
    let mut last_id = String::new();
    for _ in 0..4 {
        let ev = s.record(Duration::from_secs(5)).await;
        let m = ev.json();
        seen.push(m["value"].as_str().expect("value").to_owned());
        processed.insert(
            m["partition"].as_i64().expect("p"),
            m["offset"].as_i64().expect("o") + 1,
        );
        last_id = ev.id.expect("id");
    }
    let commits: Vec<Value> = processed
        .iter()
        .map(|(p, o)| json!({"topic": "t", "partition": p, "offset": o}))
        .collect();
    let resp = server
        .request(&client(), reqwest::Method::POST, "/commit/g/i")
        .json_body(&Value::Array(commits))
        .send()
        .await
        .expect("commit");
    assert_eq!(resp.status(), 200);
    drop(s);

    // A reconnect with Last-Event-ID gets exactly the six others.
    let mut headers = manual.to_vec();
    headers.push(("last-event-id", &last_id));
    let mut s = Reader::new(open(&server, "/consume/g/i", &body, &headers).await);
    let mut rest = Vec::new();
    for _ in 0..6 {
        rest.push(s.record(Duration::from_secs(5)).await.json()["value"].clone());
    }
    let mut all: Vec<String> = seen.clone();
    all.extend(rest.iter().map(|v| v.as_str().expect("value").to_owned()));
    all.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "nothing lost, nothing repeated");
    drop(s);

    // A client that lost its id (a restart) starts at the commits: it repeats what was read
    // after the last commit, and nothing else.
    let mut s = Reader::new(open(&server, "/consume/g/i", &body, &manual).await);
    let mut again = Vec::new();
    for _ in 0..6 {
        again.push(s.record(Duration::from_secs(5)).await.json()["value"].clone());
    }
    assert_eq!(again.len(), rest.len());
    for v in &again {
        assert!(rest.contains(v), "{v} was committed and must not repeat");
    }
    assert_eq!(committed(&server, "g", "i", 2).await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_reader_that_stops_reading_stops_the_server_reading() {
    let limits = Limits {
        max_poll_records: 50,
        ..Limits::default()
    };
    let server = TestServer::start(config(&[("t", 1)], limits)).await;
    let value = "x".repeat(4096);
    let total = 10_000;
    for _ in 0..(total / 500) {
        let batch: Vec<Value> = (0..500).map(|_| json!({"value": value})).collect();
        produce(&server, "t", Value::Array(batch)).await;
    }
    let manual = [
        ("kafka-enable-auto-commit", "false"),
        ("kafka-auto-offset-reset", "earliest"),
    ];
    let s = open(&server, "/consume/g/i", &json!({"topic": "t"}), &manual).await;
    assert_eq!(s.status(), 200);
    // Read nothing for a while: the server may fill the socket buffers, then must wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resp = server
        .request(&client(), reqwest::Method::POST, "/commit/g/i")
        .send()
        .await
        .expect("commit consumed");
    assert_eq!(resp.status(), 200);
    let read = committed(&server, "g", "i", 1).await[0];
    assert!(
        read > 0 && read < total / 2,
        "the server read {read} of {total} records (~{} MiB) ahead of a reader that reads nothing",
        read * 4 / 1024
    );
    drop(s);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_instead_of_waiting_for_them() {
    let limits = Limits {
        shutdown_grace: Duration::from_secs(60),
        ..Limits::default()
    };
    let server = TestServer::start(config(&[("t", 1)], limits)).await;
    let body = json!({"topic": "t", "partition": 0, "offset": 0});
    let mut fetch = Reader::new(open(&server, "/fetch", &body, &[]).await);
    let mut group = Reader::new(open(&server, "/consume/g/i", &json!({"topic": "t"}), &[]).await);
    assert!(fetch.next().await.is_some(), "retry block");
    assert!(group.next().await.is_some(), "retry block");
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown did not wait for the open streams");
    assert!(started.elapsed() < Duration::from_secs(5));
    for s in [&mut fetch, &mut group] {
        let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
        assert!(matches!(end, Ok(None)), "the stream ends cleanly: {end:?}");
    }
}

#[tokio::test]
async fn a_group_stream_over_the_instance_cap_is_a_429_naming_it() {
    let limits = Limits {
        max_instances_per_group: 1,
        ..Limits::default()
    };
    let server = TestServer::start(config(&[("t", 1)], limits)).await;
    let first = open(&server, "/consume/g/a", &json!({"topic": "t"}), &[]).await;
    assert_eq!(first.status(), 200);
    let resp = open(&server, "/consume/g/b", &json!({"topic": "t"}), &[]).await;
    assert_eq!(resp.status(), 429);
    let err: Value = resp.json_value().await.expect("JSON");
    assert_eq!(err["status"], 429);
    let text = err["error"].as_str().expect("text");
    assert!(
        text.contains("max_instances_per_group = 1") && text.contains("--max-instances-per-group"),
        "{text}"
    );
    drop(first);
    server.stop().await;
}

/// A connection is closed when it idles past the header read timeout, but an open event
/// stream is a request in flight however quiet it is: one quieter than the timeout (no record,
/// no heartbeat yet) still delivers the record that comes after.
#[tokio::test]
async fn a_quiet_stream_outlives_the_header_read_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(200),
        stream_heartbeat: Duration::from_secs(30),
        ..Limits::default()
    };
    let server = TestServer::start(config(&[("t", 1)], limits)).await;
    let body = json!({"topic": "t", "partition": 0, "offset": 0});
    let mut stream = Reader::new(open(&server, "/fetch", &body, &[]).await);
    // Five times the timeout without a byte on the stream.
    tokio::time::sleep(Duration::from_secs(1)).await;
    produce(&server, "t", json!({"value": "late"})).await;
    let ev = stream.record(Duration::from_secs(5)).await;
    assert_eq!(ev.json()["value"], "late");
}
