//! Shared resources one client cannot take from the others (issue 20): connections (in total
//! and per address, idle ones giving way) and request slots (long polls wait on their own
//! budget). The figures of RELIABILITY.md ("Holding up under abuse") come from the two load
//! tests here, which print them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use upkafka_server::{Credentials, Limits, ServerConfig, TopicSpec};

use crate::common::{JsonBody, JsonResponse, TestServer};
use crate::support::basic;

/// A connection to `server` from the loopback address `127.0.0.N` (every 127/8 address is
/// loopback on Linux: many clients on one machine).
async fn connect_from(n: u8, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0))?;
    socket.connect(server).await
}

/// Sends `request` and reads one whole response (head and `Content-Length` body); the text.
async fn exchange(stream: &mut TcpStream, request: &str) -> std::io::Result<String> {
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn get(path: &str, auth: Option<&str>) -> String {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n")
}

/// One address gets at most its share: over `max_connections_per_address`, with its own
/// connections all proven, its next one gets a 503 naming the per-address limit, while
/// another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_more_than_its_share() {
    let server = TestServer::start(ServerConfig {
        limits: Limits {
            max_connections: 10,
            max_connections_per_address: 2,
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect_from(1, server.addr).await.expect("connect");
        let answer = exchange(&mut s, &get("/topics", None))
            .await
            .expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(s);
    }
    let mut third = connect_from(1, server.addr).await.expect("connect");
    let answer = exchange(&mut third, &get("/topics", None))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("--max-connections-per-address") && answer.contains("limit is 2"),
        "names the limit: {answer}"
    );
    let mut other = connect_from(2, server.addr).await.expect("connect");
    let answer = exchange(&mut other, &get("/topics", None))
        .await
        .expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A poll waiting for records holds no request slot: with one slot and several polls
/// waiting, a produce and `/topics` are answered at once; a poll beyond the waiting budget
/// answers at once with `[]`; the waiting ones still get the record when it comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_polls_hold_no_request_slot() {
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new("quiet", 1), TopicSpec::new("busy", 1)],
        limits: Limits {
            max_concurrent_requests: 1,
            max_waiting_polls: 4,
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let client = crate::common::client();
    let fetch = json!({"topic": "quiet", "partition": 0, "offset": 0, "timeout": 20_000});
    let mut polls = Vec::new();
    for _ in 0..4 {
        let request = client.post(server.at("/fetch")).json_body(&fetch).send();
        polls.push(tokio::spawn(async move {
            request.await.expect("poll").json_value().await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let produced = client
        .get(server.at("/produce/busy/hello"))
        .send()
        .await
        .expect("produce");
    assert!(produced.status().is_success());
    let topics = client
        .get(server.at("/topics"))
        .send()
        .await
        .expect("topics");
    assert!(topics.status().is_success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "work waited behind the polls: {:?}",
        started.elapsed()
    );
    // The budget is spent: a fifth poll answers at once, with what is there.
    let started = Instant::now();
    let spent: serde_json::Value = client
        .post(server.at("/fetch"))
        .json_body(&fetch)
        .send()
        .await
        .expect("poll")
        .json_value()
        .await
        .expect("JSON");
    assert_eq!(spent, json!([]));
    assert!(started.elapsed() < Duration::from_secs(5));
    let spent_with_data: serde_json::Value = client
        .post(server.at("/fetch"))
        .json_body(&json!({"topic": "busy", "partition": 0, "offset": 0, "timeout": 20_000}))
        .send()
        .await
        .expect("poll")
        .json_value()
        .await
        .expect("JSON");
    assert_eq!(spent_with_data[0]["value"], "hello");
    // The waiting polls get the record as soon as it is stored.
    let started = Instant::now();
    client
        .get(server.at("/produce/quiet/news"))
        .send()
        .await
        .expect("produce");
    for poll in polls {
        let msgs: serde_json::Value = poll.await.expect("task").expect("JSON");
        assert_eq!(msgs[0]["value"], "news");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The `p`-th percentile of `sorted`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The idle flood of issue 20: connections that never send a byte, re-opened as fast as the
/// server closes them, from 32 loopback addresses (so that a per-address cap alone cannot
/// help), keep the server at its connection limit. A legitimate client opening a new
/// connection for every request is still served ≥ 95% of the time, with its p99 latency
/// printed (RELIABILITY.md) and asserted with room for a loaded CI machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flood_from_many_addresses_leaves_room_for_a_legitimate_client() {
    const MAX: usize = 256;
    let server = TestServer::start(ServerConfig {
        credentials: Some(Credentials::new("admin", "secret")),
        limits: Limits {
            max_connections: MAX,
            max_connections_per_address: MAX,
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    // More idle connections than places: the table stays full and the surplus keeps knocking.
    for i in 0..(MAX + MAX / 2) {
        let stop = Arc::clone(&stop);
        flood.push(tokio::spawn(async move {
            let mut opened = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut s = match connect_from(2 + (i % 32) as u8, addr).await {
                    Ok(s) => s,
                    Err(_) => {
                        // The listen queue overflowed (connection refused): knock again.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
                opened += 1;
                // Silent until the server closes it (to make room, or refusing it).
                let mut sink = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut sink)).await;
            }
            opened
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let auth = basic("admin", "secret");
    let mut latencies = Vec::new();
    let mut failures = 0usize;
    const REQUESTS: usize = 300;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(5), async {
            let mut s = connect_from(1, addr).await?;
            exchange(&mut s, &get("/topics", Some(&auth))).await
        })
        .await;
        match outcome {
            Ok(Ok(answer)) if answer.starts_with("HTTP/1.1 200") => {
                latencies.push(started.elapsed());
            }
            _ => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut opened = 0;
    drop(server);
    for f in flood {
        opened += f.await.unwrap_or(0);
    }
    latencies.sort();
    let served = latencies.len() as f64 / REQUESTS as f64;
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    println!(
        "idle flood: {opened} idle connections opened against a limit of {MAX}; legitimate \
         client served {:.1}% of {REQUESTS}, p50 {p50:?}, p99 {p99:?}",
        served * 100.0
    );
    assert!(
        served >= 0.95,
        "served {failures} failures of {REQUESTS}: {:.1}%",
        served * 100.0
    );
    assert!(
        opened > (MAX * 2) as u64,
        "the flood kept re-opening ({opened})"
    );
    assert!(p99 < Duration::from_millis(500), "p99 {p99:?}");
}

/// Thousands of polls waiting for records that do not come cost the others nothing: a
/// produce and `GET /topics` keep answering fast (p99 printed for RELIABILITY.md, asserted
/// with room for a loaded CI machine). The connection and waiting-poll limits are raised
/// above the poll count, as the issue's figure asks; the count is scaled down when the
/// process may not open enough descriptors (two per poll: client and server side).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_waiting_polls_leave_work_fast() {
    let wanted = 5000usize;
    let polls = wanted.min(open_files_limit().saturating_sub(1000) / 2);
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new("quiet", 1), TopicSpec::new("busy", 1)],
        limits: Limits {
            max_connections: wanted + 1000,
            max_connections_per_address: wanted + 1000,
            max_waiting_polls: wanted + 100,
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let addr = server.addr;
    let body = r#"{"topic":"quiet","partition":0,"offset":0,"timeout":30000}"#;
    let request = format!(
        "POST /fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut waiting = Vec::with_capacity(polls);
    for i in 0..polls {
        let mut s = connect_from(2 + (i % 200) as u8, addr)
            .await
            .expect("connect a poll");
        s.write_all(request.as_bytes()).await.expect("send a poll");
        waiting.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = crate::common::client();
    let mut produce = Vec::new();
    let mut topics = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let resp = client
            .get(server.at("/produce/busy/reading"))
            .send()
            .await
            .expect("produce");
        assert!(resp.status().is_success());
        produce.push(started.elapsed());
        let started = Instant::now();
        let resp = client
            .get(server.at("/topics"))
            .send()
            .await
            .expect("topics");
        assert!(resp.status().is_success());
        topics.push(started.elapsed());
    }
    // The polls were still waiting all along: none has answered.
    let mut answered = 0;
    for s in &mut waiting {
        let mut byte = [0u8; 1];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::ZERO, s.peek(&mut byte)).await
            && n > 0
        {
            answered += 1;
        }
    }
    produce.sort();
    topics.sort();
    let (p99_produce, p99_topics) = (percentile(&produce, 99.0), percentile(&topics, 99.0));
    println!(
        "{polls} waiting polls ({wanted} wanted): produce p50 {:?} p99 {p99_produce:?}; \
         /topics p50 {:?} p99 {p99_topics:?}",
        percentile(&produce, 50.0),
        percentile(&topics, 50.0)
    );
    assert_eq!(answered, 0, "polls answered before their timeout");
    assert!(polls >= 1000, "only {polls} polls fit the descriptor limit");
    assert!(p99_produce < Duration::from_millis(250), "{p99_produce:?}");
    assert!(p99_topics < Duration::from_millis(250), "{p99_topics:?}");
}

/// The soft limit on open files of this process (`/proc/self/limits`), or 1024.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        })
        .unwrap_or(1024)
}
