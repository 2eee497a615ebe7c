//! `upkafka profile add|list|use|remove` in a temporary config directory, and which profile,
//! variable or flag a server subcommand's connection comes from.

use base64::Engine as _;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Cmd, PASSWORD, USER, basic_auth, upkafka};

/// The binary with its profiles in `dir`.
fn in_dir(dir: &tempfile::TempDir) -> Cmd {
    upkafka().env("UPKAFKA_CONFIG_DIR", &dir.path().display().to_string())
}

/// A shell command printing the test password, then a second line that must not be used.
fn password_command() -> String {
    format!("printf '%s\\nsecond line\\n' '{PASSWORD}'")
}

/// `Authorization` for `user` / `password`.
fn auth(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// `GET /topics` answered only with `authorization`, expected `times` times.
async fn topics_with(server: &MockServer, authorization: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path("/topics"))
        .and(header("authorization", authorization))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"t": 1})))
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn add_list_use_remove_round_trip_without_ever_showing_a_password() {
    let dir = tempfile::tempdir().unwrap();
    in_dir(&dir)
        .args(&[
            "profile",
            "add",
            "prod",
            "--url",
            "https://prod.example",
            "--username",
            USER,
            "--password-command",
            &password_command(),
            "--default",
        ])
        .run()
        .await
        .success()
        .stderr_has(&["added profile prod", "(the default)"]);
    in_dir(&dir)
        .args(&[
            "profile",
            "add",
            "dev",
            "--url",
            "http://127.0.0.1:9",
            "--password-plain",
        ])
        .stdin(format!("{PASSWORD}\n"))
        .run()
        .await
        .success()
        .never_shows(PASSWORD);
    in_dir(&dir)
        .args(&["profile", "list"])
        .run()
        .await
        .success()
        .never_shows(PASSWORD)
        .stdout_is(
            "DEFAULT  NAME  URL                   USERNAME  PASSWORD\n\
             \x20        dev   http://127.0.0.1:9    -         stored\n\
             *        prod  https://prod.example  tester    command\n",
        );
    let rows: Vec<Value> = in_dir(&dir)
        .args(&["profile", "list", "--output", "json"])
        .run()
        .await
        .success()
        .never_shows(PASSWORD)
        .json();
    assert_eq!(
        rows,
        vec![
            json!({"name": "dev", "default": false, "url": "http://127.0.0.1:9",
                "username": null, "password": "stored"}),
            json!({"name": "prod", "default": true, "url": "https://prod.example",
                "username": "tester", "password": "command"}),
        ]
    );
    // The same name again is refused unless replaced on purpose.
    in_dir(&dir)
        .args(&["profile", "add", "dev", "--url", "http://127.0.0.1:8"])
        .run()
        .await
        .code(2)
        .stderr_has(&["profile `dev` already exists", "--force"]);

    in_dir(&dir)
        .args(&["profile", "use", "dev"])
        .run()
        .await
        .success()
        .stderr_has(&["default profile: dev"]);
    let out = in_dir(&dir)
        .args(&["profile", "list"])
        .run()
        .await
        .success();
    assert!(out.stdout.contains("*        dev"), "{}", out.stdout);

    in_dir(&dir)
        .args(&["profile", "remove", "dev"])
        .run()
        .await
        .success()
        .stderr_has(&["removed profile dev", "it was the default"]);
    in_dir(&dir)
        .args(&["profile", "list"])
        .run()
        .await
        .success()
        .stdout_is(
            "DEFAULT  NAME  URL                   USERNAME  PASSWORD\n\
             \x20        prod  https://prod.example  tester    command\n",
        );
    for sub in ["use", "remove"] {
        in_dir(&dir)
            .args(&["profile", sub, "dev"])
            .run()
            .await
            .code(2)
            .stderr_has(&["unknown profile `dev`; known profiles: prod"]);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_clear_password_is_stored_only_when_asked_and_then_in_a_0600_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profiles.toml");
    in_dir(&dir)
        .args(&[
            "profile",
            "add",
            "cmd",
            "--url",
            "https://x.example",
            "--password-command",
            &password_command(),
        ])
        .run()
        .await
        .success();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("password_command"), "{text}");
    in_dir(&dir)
        .args(&["profile", "add", "plain", "--url", "https://x.example"])
        .args(&["--password-plain"])
        .stdin(PASSWORD)
        .run()
        .await
        .success();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("password = \"{PASSWORD}\"")),
        "{text}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "profiles.toml has mode {mode:o}");
    // An empty stdin is no password.
    in_dir(&dir)
        .args(&["profile", "add", "empty", "--url", "https://x.example"])
        .args(&["--password-plain"])
        .run()
        .await
        .code(2)
        .stderr_has(&["stdin held no password"]);
}

#[tokio::test]
async fn a_profile_connects_and_flags_and_variables_win_over_it() {
    let profiled = MockServer::start().await;
    let other = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    in_dir(&dir)
        .args(&["profile", "add", "p", "--url", &profiled.uri()])
        .args(&[
            "--username",
            USER,
            "--password-command",
            &password_command(),
        ])
        .run()
        .await
        .success();
    let run = |cmd: Cmd| async move { cmd.args(&["--retries", "0"]).run().await };
    // --profile, then UPKAFKA_PROFILE: the profile's URL, username and command's password.
    topics_with(&profiled, &basic_auth(), 2).await;
    run(in_dir(&dir).args(&["inspect", "topics", "--profile", "p"]))
        .await
        .success()
        .never_shows(PASSWORD);
    run(in_dir(&dir)
        .env("UPKAFKA_PROFILE", "p")
        .args(&["inspect", "topics"]))
    .await
    .success();
    // The variables win over the profile, field by field...
    topics_with(&other, &auth("someone", PASSWORD), 1).await;
    run(in_dir(&dir)
        .env("UPSTASH_KAFKA_REST_URL", &other.uri())
        .env("UPSTASH_KAFKA_REST_USERNAME", "someone")
        .args(&["inspect", "topics", "--profile", "p"]))
    .await
    .success();
    // ...and the flags win over the variables.
    topics_with(&profiled, &auth(USER, "from-the-flag"), 1).await;
    run(in_dir(&dir)
        .env("UPSTASH_KAFKA_REST_URL", &other.uri())
        .env("UPSTASH_KAFKA_REST_PASSWORD", "from-the-variable")
        .args(&["inspect", "topics", "--profile", "p"])
        .args(&["--url", &profiled.uri(), "--password", "from-the-flag"]))
    .await
    .success();
}

#[tokio::test]
async fn the_default_profile_applies_only_when_no_url_is_given() {
    let profiled = MockServer::start().await;
    let other = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    in_dir(&dir)
        .args(&["profile", "add", "p", "--url", &profiled.uri(), "--default"])
        .args(&[
            "--username",
            USER,
            "--password-command",
            &password_command(),
        ])
        .run()
        .await
        .success();
    topics_with(&profiled, &basic_auth(), 1).await;
    in_dir(&dir)
        .args(&["inspect", "topics", "--retries", "0"])
        .run()
        .await
        .success();
    // A URL from the environment: the default profile is not used, and its password is not
    // sent to that other server.
    topics_with(&other, &auth("", ""), 1).await;
    in_dir(&dir)
        .env("UPSTASH_KAFKA_REST_URL", &other.uri())
        .args(&["inspect", "topics", "--retries", "0"])
        .run()
        .await
        .success();
}

#[tokio::test]
async fn a_failing_password_command_reports_its_status_not_its_output() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    in_dir(&dir)
        .args(&["profile", "add", "p", "--url", &server.uri()])
        .args(&["--password-command", &format!("echo {PASSWORD}; exit 3")])
        .run()
        .await
        .success();
    in_dir(&dir)
        .args(&["inspect", "topics", "--profile", "p", "-v"])
        .run()
        .await
        .code(2)
        .stderr_has(&[
            "the password command of profile `p` failed",
            "exit status: 3",
        ])
        .never_shows(PASSWORD);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_profile_names_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    in_dir(&dir)
        .args(&["inspect", "topics", "--profile", "nope"])
        .run()
        .await
        .code(2)
        .stderr_has(&[
            "unknown profile `nope`",
            "no profiles in",
            "upkafka profile add",
        ]);
    for name in ["b", "a"] {
        in_dir(&dir)
            .args(&["profile", "add", name, "--url", "http://127.0.0.1:9"])
            .run()
            .await
            .success();
    }
    in_dir(&dir)
        .env("UPKAFKA_PROFILE", "nope")
        .args(&["fetch", "t"])
        .run()
        .await
        .code(2)
        .stderr_has(&["unknown profile `nope`; known profiles: a, b"]);
}

#[tokio::test]
async fn a_profile_password_file_is_read_when_needed() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    in_dir(&dir)
        .args(&[
            "profile",
            "add",
            "f",
            "--url",
            &server.uri(),
            "--username",
            USER,
        ])
        .args(&["--password-file", &pw.display().to_string()])
        .run()
        .await
        .success();
    topics_with(&server, &basic_auth(), 1).await;
    in_dir(&dir)
        .args(&["inspect", "topics", "--profile", "f", "--retries", "0"])
        .run()
        .await
        .success();
    std::fs::remove_file(&pw).unwrap();
    in_dir(&dir)
        .args(&["inspect", "topics", "--profile", "f", "--retries", "0"])
        .run()
        .await
        .code(2)
        .stderr_has(&["cannot read the password file", "of profile `f`"]);
}
