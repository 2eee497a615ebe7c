//! Serving concerns: TLS, HTTP/2, graceful shutdown (in-process and on SIGTERM), slow
//! clients, the connection limit. Plain HTTP and TLS are served by one path, so every test of
//! that path runs on both transports (`…_plain`, `…_tls`).

use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use upkafka_server::{Limits, ServerConfig, TlsPaths, TopicSpec};

use crate::common::{JsonBody, JsonResponse, TestServer, client, install_crypto};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// How a test reaches the server: plain TCP, or TLS with the fixture certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Plain,
    Tls,
}

/// A raw connection, plain or TLS, for tests that speak HTTP/1.1 by hand.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Transport {
    /// `config` served over this transport.
    async fn start(self, mut config: ServerConfig) -> TestServer {
        if self == Transport::Tls {
            config.tls = Some(TlsPaths {
                cert: fixture("cert.pem"),
                key: fixture("key.pem"),
            });
        }
        TestServer::start(config).await
    }

    /// A client that trusts the fixture certificate.
    fn client(self) -> reqwest::Client {
        install_crypto();
        let pem = std::fs::read(fixture("cert.pem")).expect("cert");
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
            .build()
            .expect("client")
    }

    /// A raw connection to `server`, TLS handshake done; an error when the server closes
    /// the connection first.
    async fn connect(self, server: &TestServer) -> std::io::Result<Pin<Box<dyn Stream>>> {
        let tcp = tokio::net::TcpStream::connect(server.addr).await?;
        match self {
            Transport::Plain => Ok(Box::pin(tcp)),
            Transport::Tls => {
                use rustls::pki_types::pem::PemObject as _;
                install_crypto();
                let mut roots = rustls::RootCertStore::empty();
                let cert = rustls::pki_types::CertificateDer::from_pem_file(fixture("cert.pem"))
                    .expect("cert");
                roots.add(cert).expect("root");
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                Ok(Box::pin(connector.connect(name, tcp).await?))
            }
        }
    }
}

/// Runs an `async fn(Transport)` test as `NAME_plain` and `NAME_tls`.
macro_rules! on_both_transports {
    ($($name:ident),* $(,)?) => {
        mod on_both {
            use super::*;
            $(
                mod $name {
                    use super::*;
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn plain() {
                        super::super::$name(Transport::Plain).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn tls() {
                        super::super::$name(Transport::Tls).await;
                    }
                }
            )*
        }
    };
}

on_both_transports!(
    graceful_shutdown_finishes_in_flight_requests,
    shutdown_closes_idle_keep_alive_connections_at_once,
    slow_clients_are_cut_off_by_the_header_read_timeout,
    a_head_trickled_byte_by_byte_is_cut_off_too,
    idle_keep_alive_connections_are_closed_after_the_header_read_timeout,
    a_long_poll_outlives_the_header_read_timeout,
    connections_over_the_limit_are_refused,
    idle_connections_give_way_to_a_new_client,
    slow_bodies_cannot_pin_the_request_slots,
    http2_is_served,
);

/// HTTP/2 on both transports: over TLS by ALPN, over plain TCP with prior knowledge (h2c);
/// an HTTP/1.1 client on the same port still gets HTTP/1.1.
async fn http2_is_served(t: Transport) {
    let server = t
        .start(ServerConfig {
            topics: vec![TopicSpec::new("t", 2)],
            ..ServerConfig::default()
        })
        .await;
    install_crypto();
    let pem = std::fs::read(fixture("cert.pem")).expect("cert");
    let builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"));
    let h2 = match t {
        Transport::Plain => builder.http2_prior_knowledge(),
        Transport::Tls => builder,
    }
    .build()
    .expect("client");
    let resp = h2.get(server.at("/topics")).send().await.expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "{t:?}");
    let topics: Value = resp.json_value().await.expect("JSON");
    assert_eq!(topics, json!({"t": 2}));
    let produced = h2
        .post(server.at("/produce/t"))
        .json_body(&json!([{"value": "a"}, {"value": "b"}]))
        .send()
        .await
        .expect("produce over HTTP/2");
    assert!(produced.status().is_success());
    let h1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .http1_only()
        .build()
        .expect("client");
    let resp = h1
        .get(server.at("/topics"))
        .send()
        .await
        .expect("HTTP/1.1 request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
}

#[tokio::test]
async fn serves_https_with_rustls() {
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new("t", 2)],
        tls: Some(TlsPaths {
            cert: fixture("cert.pem"),
            key: fixture("key.pem"),
        }),
        ..ServerConfig::default()
    })
    .await;
    assert!(server.url.starts_with("https://"), "{}", server.url);
    install_crypto();
    let pem = std::fs::read(fixture("cert.pem")).expect("cert");
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .build()
        .expect("client");
    let topics: Value = https
        .get(server.at("/topics"))
        .send()
        .await
        .expect("https request")
        .json_value()
        .await
        .expect("JSON");
    assert_eq!(topics, json!({"t": 2}));
    // Plain HTTP to the TLS port does not get an answer.
    let plain = client()
        .get(format!("http://{}/topics", server.addr))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

async fn graceful_shutdown_finishes_in_flight_requests(t: Transport) {
    let server = t
        .start(ServerConfig {
            topics: vec![TopicSpec::new("t", 1)],
            ..ServerConfig::default()
        })
        .await;
    let client = t.client();
    let url = server.at("/fetch");
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let resp = client
            .post(url)
            .json_body(&json!({"topic": "t", "partition": 0, "offset": 0, "timeout": 1500}))
            .send()
            .await
            .expect("in-flight request completes");
        (resp.status().as_u16(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop().await;
    let (status, took) = poll.await.expect("task");
    assert_eq!(status, 200);
    assert!(
        took >= Duration::from_millis(1400),
        "the long-poll ran to its timeout: {took:?}"
    );
}

/// Shutdown closes idle keep-alive connections at once instead of waiting out the grace period
/// (10 s by default), and the client sees the connection end; so it does a connection that
/// never sent a byte (on the TLS port: never began its handshake), instead of waiting out its
/// head deadline (10 s by default).
async fn shutdown_closes_idle_keep_alive_connections_at_once(t: Transport) {
    let server = t
        .start(ServerConfig {
            topics: vec![TopicSpec::new("t", 1)],
            ..ServerConfig::default()
        })
        .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut s = t.connect(&server).await.expect("connect");
        s.write_all(b"GET /topics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.expect("an answer");
        assert_eq!(&buf, b"HTTP/1.1 200");
        idle.push(s);
    }
    let silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    idle.push(Box::pin(silent));
    // Accepted by the server (not left in the listen backlog, which shutdown just closes).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown waited for idle connections: {:?}",
        started.elapsed()
    );
    for mut s in idle {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the idle connection was closed");
    }
}

/// A server whose `header_read_timeout` is `ms` milliseconds.
fn header_timeout(ms: u64) -> ServerConfig {
    ServerConfig {
        limits: Limits {
            header_read_timeout: Duration::from_millis(ms),
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

async fn slow_clients_are_cut_off_by_the_header_read_timeout(t: Transport) {
    let server = t.start(header_timeout(300)).await;
    let mut stream = t.connect(&server).await.expect("connect");
    stream
        .write_all(b"GET /topics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server must close a connection stuck in its headers"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "not before the timeout: {took:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

/// The header read timeout bounds the whole head, not the gaps between its bytes: a client
/// that trickles one byte every 50 ms (a slowloris) is closed at the deadline all the same.
async fn a_head_trickled_byte_by_byte_is_cut_off_too(t: Transport) {
    let server = t.start(header_timeout(400)).await;
    let mut stream = t.connect(&server).await.expect("connect");
    let started = Instant::now();
    let head = b"GET /topics HTTP/1.1\r\nHost: x\r\nX-Padding: ";
    let mut closed = false;
    for i in 0.. {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if stream.write_all(&[byte]).await.is_err() || stream.flush().await.is_err() {
            closed = true;
            break;
        }
        // A closed connection shows as the end of the stream (or a reset) on a read.
        let mut one = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut one)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("an answer to a head that never ended"),
            Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let took = started.elapsed();
    assert!(
        closed,
        "a trickling client was still connected after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(350),
        "closed before the timeout: {took:?}"
    );
}

/// A keep-alive connection that sends nothing after its answer is closed once the header
/// read timeout has passed (the wait for the next head), as hyper's own timeout did.
async fn idle_keep_alive_connections_are_closed_after_the_header_read_timeout(t: Transport) {
    let server = t.start(header_timeout(300)).await;
    let mut stream = t.connect(&server).await.expect("connect");
    stream
        .write_all(b"GET /topics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // The whole answer (a short one: its head and body come in the first reads).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let answered = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    let took = answered.elapsed();
    assert!(read.is_ok(), "an idle keep-alive connection stayed open");
    assert!(
        took >= Duration::from_millis(250),
        "closed before the timeout: {took:?}"
    );
}

/// A long poll waiting longer than the header read timeout is a request in flight: it gets
/// its answer (`[]` at its own timeout), not a closed connection.
async fn a_long_poll_outlives_the_header_read_timeout(t: Transport) {
    let server = t
        .start(ServerConfig {
            topics: vec![TopicSpec::new("t", 1)],
            ..header_timeout(200)
        })
        .await;
    let started = Instant::now();
    let resp = server
        .request(&t.client(), reqwest::Method::POST, "/fetch")
        .json_body(&json!({"topic": "t", "partition": 0, "offset": 0, "timeout": 1000}))
        .send()
        .await
        .expect("a long poll answered");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json_value::<Value>().await.expect("JSON"), json!([]));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the poll did not wait: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_keeps_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spawn = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_upkafka"))
            .args([
                "serve",
                "--no-auth",
                "--bind",
                "127.0.0.1:0",
                "--topic",
                "t",
                "--data-dir",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        let url = lines
            .by_ref()
            .find_map(|l| l.strip_prefix("upkafka: listening on ").map(str::to_owned))
            .expect("listening line");
        std::thread::spawn(move || lines.for_each(drop));
        (child, url)
    };
    let client = client();
    let (mut child, url) = spawn();
    let resp = client
        .post(format!("{url}/produce/t"))
        .json_body(&json!([{"value": "one"}, {"value": "two"}]))
        .send()
        .await
        .expect("produce");
    assert!(resp.status().is_success());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let (mut child, url) = spawn();
    let msgs: Vec<Value> = client
        .post(format!("{url}/fetch"))
        .json_body(&json!({"topic": "t", "partition": 0, "offset": 0, "timeout": 0}))
        .send()
        .await
        .expect("fetch")
        .json_value()
        .await
        .expect("JSON");
    let values: Vec<&str> = msgs.iter().filter_map(|m| m["value"].as_str()).collect();
    assert_eq!(values, vec!["one", "two"]);
    child.kill().expect("kill");
    let _ = child.wait();
}

/// At the connection limit with every connection proven (each has sent a request that passed
/// authentication; with auth off, any request), nothing can give way: a new plain connection
/// gets a 503 naming the limit, a TLS one is closed. Closing one frees a place.
async fn connections_over_the_limit_are_refused(t: Transport) {
    let server = t
        .start(ServerConfig {
            limits: Limits {
                max_connections: 2,
                ..Limits::default()
            },
            ..ServerConfig::default()
        })
        .await;
    let request = b"GET /topics HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = t.connect(&server).await.expect("connect");
        s.write_all(request).await.expect("write");
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf)
            .await
            .expect("an answer within the limit");
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    let third = tokio::time::timeout(Duration::from_secs(5), t.connect(&server))
        .await
        .expect("the server answers or closes");
    let mut answer = Vec::new();
    if let Ok(mut third) = third {
        let _ = third.write_all(request).await;
        let read =
            tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "closed in time");
    }
    let answer = String::from_utf8_lossy(&answer);
    match t {
        Transport::Plain => {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("retry-after: 1"), "{answer}");
            assert!(
                answer.contains("limit of 2 open connections")
                    && answer.contains("--max-connections"),
                "names the limit and its flag: {answer}"
            );
        }
        // No handshake, no way to answer: closed.
        Transport::Tls => assert!(answer.is_empty(), "{answer}"),
    }
    // Closing one frees a slot.
    held.pop();
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Ok(resp) = t.client().get(server.at("/topics")).send().await else {
            continue;
        };
        if resp.status().is_success() {
            ok = true;
            break;
        }
    }
    assert!(ok, "a slot frees up when a connection closes");
}

/// At the connection limit, connections that never sent a byte give way to a new client,
/// oldest first, while a proven connection (one that was served) is kept.
async fn idle_connections_give_way_to_a_new_client(t: Transport) {
    let server = t
        .start(ServerConfig {
            limits: Limits {
                max_connections: 4,
                ..Limits::default()
            },
            ..ServerConfig::default()
        })
        .await;
    let request = b"GET /topics HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut proven = t.connect(&server).await.expect("connect");
    proven.write_all(request).await.expect("write");
    let mut buf = [0u8; 12];
    proven.read_exact(&mut buf).await.expect("answer");
    assert_eq!(&buf, b"HTTP/1.1 200");
    // Three silent connections fill the table. Over TLS they are silent too: a connection
    // whose handshake has not finished.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(
            tokio::net::TcpStream::connect(server.addr)
                .await
                .expect("connect"),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new client is served, several times over, each on a new connection.
    for round in 0..3 {
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            t.client().get(server.at("/topics")).send(),
        )
        .await
        .expect("in time")
        .unwrap_or_else(|e| panic!("round {round}: a new client is served: {e}"));
        assert!(resp.status().is_success(), "round {round}");
    }
    // The oldest silent connections were closed to make room.
    let mut first = silent.remove(0);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), first.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest silent connection was closed: {read:?}"
    );
    // The proven one still works (the rest of its first answer comes first).
    proven
        .write_all(b"GET /topics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut all = Vec::new();
    proven.read_to_end(&mut all).await.expect("still served");
    let all = String::from_utf8_lossy(&all);
    assert!(all.contains("HTTP/1.1 200"), "{all}");
}

/// Clients that send their headers and then trickle (or stall) the body must not hold the
/// request slots: with all `max_concurrent_requests` slots taken by stalled bodies, a normal
/// request is still answered, and the stalled ones get a 408 `{error,status}` and are closed.
async fn slow_bodies_cannot_pin_the_request_slots(t: Transport) {
    let server = t
        .start(ServerConfig {
            topics: vec![TopicSpec::new("t", 1)],
            limits: Limits {
                max_concurrent_requests: 2,
                body_read_timeout: Duration::from_millis(500),
                ..Limits::default()
            },
            ..ServerConfig::default()
        })
        .await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = t.connect(&server).await.expect("connect");
        s.write_all(
            b"POST /produce/t HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"value\":",
        )
        .await
        .expect("write");
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(5),
        t.client().get(server.at("/topics")).send(),
    )
    .await
    .expect("a normal request is answered while slow bodies are pending")
    .expect("request");
    assert!(resp.status().is_success());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    for mut s in stalled {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a stalled body is cut off");
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains(r#""status":408"#), "{text}");
    }
}

/// Repeated 401s from one address are answered later and later; the server's own credential,
/// from the same address, is answered at once (never locked out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_slowed_down_but_the_right_one_is_not() {
    use upkafka_server::Credentials;
    use upkafka_server::slowdown::{FIRST_DELAY, FREE_FAILURES};
    let server = TestServer::start(ServerConfig {
        credentials: Some(Credentials::new("admin", "right-password")),
        ..ServerConfig::default()
    })
    .await;
    let http = client();
    let attempt = |pass: &'static str| {
        http.get(server.at("/topics"))
            .basic_auth("admin", Some(pass))
            .send()
    };
    for _ in 0..FREE_FAILURES {
        assert_eq!(attempt("guess").await.expect("401").status(), 401);
    }
    // The next two wait FIRST_DELAY and twice that before their 401.
    let started = Instant::now();
    for _ in 0..2 {
        assert_eq!(attempt("guess").await.expect("401").status(), 401);
    }
    let waited = started.elapsed();
    assert!(
        waited >= FIRST_DELAY * 3,
        "two failures over the free ones took only {waited:?}"
    );
    let ok = attempt("right-password").await.expect("200");
    assert_eq!(ok.status(), 200);
}
