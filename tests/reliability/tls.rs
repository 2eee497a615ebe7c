//! TLS and plain HTTP: the client verifies certificates by default, trusts a self-signed
//! server only when its CA is given with `--ca-cert`, and refuses Basic auth over plain
//! `http://` to a host that is not this machine unless `--insecure-http`.

use std::path::PathBuf;
use std::time::Duration;

use upkafka_server::{Credentials, ServerConfig, TlsPaths, TopicSpec};

use crate::common::TestServer;
use crate::util::{PASSWORD, USER, run, upkafka};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn cmd(url: &str, extra: &[&str]) -> std::process::Command {
    let mut c = upkafka();
    c.env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD)
        .args(["inspect", "topics"])
        .args(["--url", url, "--retries", "0", "--timeout", "5s"])
        .args(extra);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_server_is_refused_unless_its_ca_is_given() {
    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new("tls-topic", 1)],
        credentials: Some(Credentials::new(USER, PASSWORD)),
        tls: Some(TlsPaths {
            cert: fixture("cert.pem"),
            key: fixture("key.pem"),
        }),
        ..ServerConfig::default()
    })
    .await;
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    // Default: the certificate is verified against the system/webpki roots and refused.
    let out = run(cmd(&server.url, &[]), Vec::new(), Duration::from_secs(20)).await;
    out.expect_code(1);
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "the error names the certificate: {}",
        out.stderr
    );
    assert!(!out.stdout.contains("tls-topic"));

    // The same with `localhost` (the certificate's DNS name): still refused.
    let localhost = server.url.replace("127.0.0.1", "localhost");
    let out = run(cmd(&localhost, &[]), Vec::new(), Duration::from_secs(20)).await;
    out.expect_code(1);

    // With its CA given, accepted.
    let ca = fixture("cert.pem");
    let ca = ca.to_str().expect("UTF-8 path");
    let out = run(
        cmd(&server.url, &["--ca-cert", ca]),
        Vec::new(),
        Duration::from_secs(20),
    )
    .await;
    out.expect_code(0);
    assert!(out.stdout.contains("tls-topic"), "{}", out.stdout);

    // A --ca-cert file without a certificate is a configuration error, before connecting.
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    let out = run(
        cmd(&server.url, &["--ca-cert", junk.to_str().expect("path")]),
        Vec::new(),
        Duration::from_secs(20),
    )
    .await;
    out.expect_code(2);
    println!(
        "FIGURES tls: default=refused(exit 1, names certificate) localhost=refused with_ca_cert=accepted junk_ca=exit 2"
    );
}

#[tokio::test]
async fn plain_http_with_basic_auth_to_another_host_is_refused_by_default() {
    // `.invalid` never resolves: had the client tried to connect, the error would be a
    // resolution failure, not this refusal.
    let out = run(
        cmd("http://kafka.invalid:8080", &[]),
        Vec::new(),
        Duration::from_secs(20),
    )
    .await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("refusing plain http://"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--insecure-http") || out.stderr.contains("insecure"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(PASSWORD));

    // The library refuses the same, and allows it only when asked (no request is sent here).
    let cfg = upkafka_client::Config::new("http://10.1.2.3:8080", USER, PASSWORD);
    let err = upkafka_client::Client::new(cfg.clone()).expect_err("refused");
    assert_eq!(err.kind(), upkafka_client::ErrorKind::Config);
    assert!(upkafka_client::Client::new(cfg.allow_insecure_http(true)).is_ok());
    // Loopback is this machine: allowed.
    let local = upkafka_client::Config::new("http://127.0.0.1:8080", USER, PASSWORD);
    assert!(upkafka_client::Client::new(local).is_ok());
}
