//! Exit codes and error messages: missing URL, usage errors, 401, secrets.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{PASSWORD, USER, against, basic_auth, upkafka};

#[tokio::test]
async fn a_missing_url_names_the_variable_the_flag_and_serve() {
    upkafka()
        .args(&["inspect", "topics"])
        .run()
        .await
        .code(2)
        .stderr_has(&[
            "upkafka: error: no server URL",
            "UPSTASH_KAFKA_REST_URL",
            "--url",
            "upkafka serve",
        ]);
}

#[tokio::test]
async fn subcommands_without_a_server_need_no_url() {
    let out = upkafka()
        .args(&["completions", "bash"])
        .run()
        .await
        .success();
    assert!(out.stdout.contains("_upkafka"), "{}", out.stdout);
}

#[tokio::test]
async fn bad_flag_combinations_exit_2() {
    upkafka()
        .args(&["produce", "t", "-K", ":", "-k", "key"])
        .run()
        .await
        .code(2)
        .stderr_has(&["cannot be used with"]);
    upkafka()
        .args(&["produce", "t", "-H", "novalue"])
        .run()
        .await
        .code(2)
        .stderr_has(&["is not NAME=VALUE"]);
}

#[tokio::test]
async fn unauthorized_exits_3_without_showing_the_password_even_with_vv() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "Unauthorized", "status": 401})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let token = basic_auth();
    let token = token.trim_start_matches("Basic ");
    for verbosity in ["-q", "-vv"] {
        against(&server)
            .args(&["inspect", "topics", verbosity])
            .run()
            .await
            .code(3)
            .stderr_has(&["authentication failed (HTTP 401"])
            .never_shows(PASSWORD)
            .never_shows(token);
    }
}

#[tokio::test]
async fn password_file_is_read_and_its_newline_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    upkafka()
        .args(&[
            "inspect",
            "topics",
            "--url",
            &server.uri(),
            "--username",
            USER,
        ])
        .args(&["--password-file", file.to_str().unwrap(), "-vv"])
        .run()
        .await
        .success()
        .never_shows(PASSWORD);
}

#[tokio::test]
async fn a_password_on_the_command_line_warns() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/topics"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    upkafka()
        .args(&["inspect", "topics"])
        .args(&[
            "--url",
            &server.uri(),
            "--username",
            USER,
            "--password",
            PASSWORD,
        ])
        .run()
        .await
        .success()
        .stderr_has(&["warning: --password is visible to other users"]);
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_as_a_usage_error() {
    upkafka()
        .args(&["inspect", "topics", "--url", "http://kafka.example"])
        .run()
        .await
        .code(2)
        .stderr_has(&["clear text"]);
}

#[tokio::test]
async fn an_unreachable_server_exits_1() {
    upkafka()
        .args(&[
            "inspect",
            "topics",
            "--url",
            "http://127.0.0.1:9",
            "--retries",
            "0",
        ])
        .run()
        .await
        .code(1)
        .stderr_has(&["GET /topics: cannot reach the server"]);
}

#[tokio::test]
async fn gateway_flags_are_checked_before_anything_starts() {
    upkafka()
        .args(&["serve", "--no-auth", "--kafka", "no-port-here"])
        .run()
        .await
        .code(2)
        .stderr_has(&["--kafka: `no-port-here` is not HOST:PORT"]);
    upkafka()
        .args(&[
            "serve",
            "--no-auth",
            "--kafka",
            "127.0.0.1:9",
            "--kafka-config",
            "acks=0",
        ])
        .run()
        .await
        .code(2)
        .stderr_has(&["`acks` is set by upkafka itself"]);
    let out = upkafka()
        .args(&[
            "serve",
            "--no-auth",
            "--kafka",
            "127.0.0.1:9",
            "--kafka-config",
            "sasl.password",
        ])
        .run()
        .await
        .code(2);
    assert!(out.stderr.contains("is not KEY=VALUE"), "{}", out.stderr);
    upkafka()
        .args(&["serve", "--kafka", "127.0.0.1:9", "--data-dir", "d"])
        .run()
        .await
        .code(2)
        .stderr_has(&["cannot be used with"]);
}

/// Nothing listens on port 9: the gateway says which cluster it could not reach and exits 1,
/// without ever binding its HTTP port.
#[cfg(feature = "kafka")]
#[tokio::test]
async fn a_gateway_without_a_reachable_cluster_exits_1() {
    let out = upkafka()
        .args(&[
            "serve",
            "--no-auth",
            "--bind",
            "127.0.0.1:0",
            "--kafka",
            "127.0.0.1:9",
            "--kafka-config",
            "sasl.password=hunter2-secret",
        ])
        .run()
        .await
        .code(1)
        .stderr_has(&["cannot reach the Kafka cluster at 127.0.0.1:9"]);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2-secret"), "{}", out.stderr);
}

/// A bad `--cors-origin` (or `cors_origins` key) is named and refused before the server
/// binds, as is `*` among other origins.
#[tokio::test]
async fn cors_origins_are_checked_before_anything_starts() {
    let serve = ["serve", "--no-auth", "--bind", "127.0.0.1:0"];
    let out = upkafka()
        .args(&serve)
        .args(&["--cors-origin", "https://app.example/"])
        .run()
        .await
        .code(2)
        .stderr_has(&["`https://app.example/` is not a CORS origin", "no path"]);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    upkafka()
        .args(&serve)
        .args(&["--cors-origin", "app.example"])
        .run()
        .await
        .code(2)
        .stderr_has(&["--cors-origin", "`app.example` is not a CORS origin"]);
    let out = upkafka()
        .args(&serve)
        .args(&["--cors-origin", "https://app.example", "--cors-origin", "*"])
        .run()
        .await
        .code(2)
        .stderr_has(&["`*` already allows every origin"]);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("serve.toml");
    std::fs::write(&file, "cors_origins = [\"ftp://files.example\"]\n").expect("writing");
    let path = file.to_str().expect("a UTF-8 path");
    upkafka()
        .args(&serve)
        .args(&["--config", path])
        .run()
        .await
        .code(2)
        .stderr_has(&["--config", "`ftp://files.example`", "http or https"]);
}
