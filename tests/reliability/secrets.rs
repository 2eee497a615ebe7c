//! Secrets never leak: every client subcommand at `-vv`, with the right password, a wrong one,
//! and no server at all, and the server at `-vv` serving them, never print the password or the
//! `Authorization` value. Extends `tests/cli/errors.rs`
//! (`unauthorized_exits_3_without_showing_the_password_even_with_vv`, one command against a
//! mock) to every subcommand against the real server, and to the server's own log.

use std::time::Duration;

use base64::Engine as _;

use crate::common::spawn_serve;
use crate::util::{PASSWORD, USER, basic_token, run, upkafka};

const WRONG: &str = "wrong-pw-Yx41-also-secret";

/// Every subcommand that talks to a server, with its arguments.
const COMMANDS: &[&[&str]] = &[
    &["produce", "s", "--value", "hello"],
    &["produce", "s"],
    &[
        "consume",
        "s",
        "-g",
        "g",
        "-i",
        "i",
        "--from",
        "earliest",
        "-e",
        "--poll-timeout",
        "100ms",
    ],
    &["fetch", "s", "-p", "0", "-c", "1"],
    &["group", "commit", "-g", "g", "-i", "i", "s:0=1"],
    &["group", "committed", "-g", "g", "-i", "i", "s"],
    &["group", "delete", "-g", "g", "-i", "i"],
    &["inspect", "topics"],
    &["inspect", "consumers"],
    &["inspect", "offsets", "s"],
    &["inspect", "lag", "-g", "g", "s"],
];

fn token(user: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
}

fn assert_clean(what: &str, text: &str) {
    for secret in [
        PASSWORD.to_owned(),
        WRONG.to_owned(),
        basic_token(),
        token(USER, WRONG),
    ] {
        assert!(
            !text.contains(&secret),
            "{what}: a secret appears in the output:\n{text}"
        );
    }
    let lower = text.to_ascii_lowercase();
    for header in [
        "authorization: basic",
        "authorization\": \"basic",
        "authorization=basic",
    ] {
        assert!(
            !lower.contains(header),
            "{what}: an Authorization value appears in the output:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_of_client_or_server_ever_shows_a_secret() {
    // The server, at -vv, with the credentials in its environment.
    let mut cmd = upkafka();
    cmd.args(["serve", "-vv", "--bind", "127.0.0.1:0", "--topic", "s:2"])
        .env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD);
    let server = spawn_serve(cmd);
    let url = server.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).expect("password file");

    // (label, password flags/env, expected exit codes)
    let mut runs = 0;
    let mut scanned = 0usize;
    let mut codes = std::collections::BTreeMap::new();
    let dead = "http://127.0.0.1:9".to_owned(); // discard port: nothing listens
    for how in ["env", "file", "argv", "wrong", "unreachable"] {
        for args in COMMANDS {
            let mut cmd = upkafka();
            let target = if how == "unreachable" { &dead } else { &url };
            // The subcommand first: the connection options are its own.
            cmd.args(*args);
            cmd.args(["-vv", "--retries", "1", "--timeout", "2s", "--url", target]);
            cmd.env("UPSTASH_KAFKA_REST_USERNAME", USER);
            match how {
                "file" => {
                    cmd.arg("--password-file").arg(&pw_file);
                }
                "argv" => {
                    cmd.args(["--password", PASSWORD]);
                }
                "wrong" => {
                    cmd.env("UPSTASH_KAFKA_REST_PASSWORD", WRONG);
                }
                _ => {
                    cmd.env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD);
                }
            }
            let out = run(cmd, b"line-1\nline-2\n".to_vec(), Duration::from_secs(30)).await;
            let what = format!("{how}: upkafka {}", args.join(" "));
            match how {
                "wrong" => {
                    out.expect_code(3);
                }
                "unreachable" => assert_ne!(out.code, Some(0), "{what}"),
                // commit/committed name an instance that the consume run removed: a 404.
                _ if out.code == Some(1) && out.stderr.contains("does not exist") => {}
                _ => {
                    out.expect_code(0);
                }
            }
            *codes.entry(format!("{how}:{:?}", out.code)).or_insert(0) += 1;
            assert_clean(&what, &out.stdout);
            assert_clean(&what, &out.stderr);
            scanned += out.stdout.len() + out.stderr.len();
            runs += 1;
        }
    }
    // SIGTERM, so the server logs its shutdown too.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let log = server.finish();
    assert!(
        log.contains("rejected request without valid credentials") || log.contains("401"),
        "the server log at -vv shows the 401s:\n{log}"
    );
    assert_clean("server -vv", &log);
    println!(
        "FIGURES secrets: client_runs={runs} (11 subcommands × env/file/argv/wrong/unreachable, -vv) \
         exit_codes={codes:?} client_output_bytes={scanned} server_log_bytes={} leaks=0",
        log.len()
    );
}

/// Scoped credentials (issue 14): neither their passwords nor their hashes appear in the
/// server's `-vv` log, the CLI's output (except the one `create` answer), error bodies,
/// `/metrics` or the credentials listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_credentials_never_show_their_password_or_hash() {
    const FILE_PW: &str = "file-cred-pw-Qw7-never-print";
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = upkafka_server::hash_password(FILE_PW).expect("hash");
    let config = dir.path().join("upkafka.toml");
    std::fs::write(
        &config,
        format!(
            "topics = [\"s\", \"t\"]\n[[credentials]]\nname = \"from-file\"\nusername = \"filer\"\n\
             password_hash = \"{hash}\"\ntopic = \"s\"\npermission = \"CONSUME\"\n"
        ),
    )
    .expect("config");
    let mut cmd = upkafka();
    cmd.args(["serve", "-vv", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD);
    let server = spawn_serve(cmd);
    let url = server.url.clone();
    let cli = |args: &[&str], user: &str, pass: &str| {
        let mut cmd = upkafka();
        cmd.args(args)
            .args(["-vv", "--retries", "0", "--url", &url])
            .env("UPSTASH_KAFKA_REST_USERNAME", user)
            .env("UPSTASH_KAFKA_REST_PASSWORD", pass);
        run(cmd, b"m-1\n".to_vec(), Duration::from_secs(30))
    };
    let created = cli(
        &[
            "admin",
            "credentials",
            "create",
            "w",
            "--topic",
            "s",
            "--permission",
            "produce",
            "--output",
            "json",
        ],
        USER,
        PASSWORD,
    )
    .await;
    created.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&created.stdout).expect("json");
    let (user, pass) = (
        v["username"].as_str().expect("username").to_owned(),
        v["password"].as_str().expect("password").to_owned(),
    );
    let secrets = [
        pass.clone(),
        FILE_PW.to_owned(),
        hash.clone(),
        token(&user, &pass),
        token("filer", FILE_PW),
        PASSWORD.to_owned(),
        "$argon2id$".to_owned(),
    ];
    let clean = |what: &str, text: &str| {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{what}: a secret appears:\n{text}"
            );
        }
    };
    clean("create (stderr)", &created.stderr);
    // A token of it: printed by `admin token create` (its one job), nowhere else.
    let minted = cli(&["admin", "token", "create", "--ttl", "10m"], &user, &pass).await;
    minted.expect_code(0);
    let minted_token = minted.stdout.trim().to_owned();
    assert!(minted_token.starts_with("upk1."), "{}", minted.stdout);
    clean("token create (stderr)", &minted.stderr);
    let mut outputs = Vec::new();
    for (args, u, p) in [
        (
            &["produce", "s", "--value", "x"][..],
            user.as_str(),
            pass.as_str(),
        ),
        (
            &["produce", "t", "--value", "x"][..],
            user.as_str(),
            pass.as_str(),
        ),
        (
            &["fetch", "s", "-p", "0", "-c", "1"][..],
            user.as_str(),
            pass.as_str(),
        ),
        (&["fetch", "s", "-p", "0", "-c", "1"][..], "filer", FILE_PW),
        (&["produce", "s", "--value", "x"][..], "filer", FILE_PW),
        (&["inspect", "topics"][..], "filer", "wrong-pw"),
        (
            &["admin", "credentials", "list"][..],
            user.as_str(),
            pass.as_str(),
        ),
        (
            &["admin", "credentials", "list", "--output", "json"][..],
            USER,
            PASSWORD,
        ),
    ] {
        let out = cli(args, u, p).await;
        let what = format!("upkafka {} as {u}", args.join(" "));
        clean(&what, &out.stdout);
        clean(&what, &out.stderr);
        outputs.push((what, out));
    }
    // The scoped refusals are 403s naming the permission and topic.
    let refused = &outputs[1].1;
    assert_ne!(refused.code, Some(0));
    assert!(
        refused.stderr.contains("PRODUCE permission on topic `t`"),
        "{}",
        refused.stderr
    );
    assert!(
        outputs[3].1.code == Some(0),
        "the file's CONSUME credential fetches"
    );
    assert!(
        outputs[4].1.stderr.contains("PRODUCE permission"),
        "{}",
        outputs[4].1.stderr
    );
    let listing = &outputs[7].1.stdout;
    assert!(
        listing.contains("from-file") && listing.contains(&user),
        "{listing}"
    );
    let client = crate::common::client();
    let metrics = client
        .get(format!("{url}/metrics"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    clean("/metrics", &metrics);
    // The token works as a header and, on a reading route, in the query (what the access
    // log must not keep).
    let by_query = client
        .get(format!("{url}/topics?token={minted_token}"))
        .send()
        .await
        .expect("topics");
    assert_eq!(by_query.status(), 200);
    let by_header = client
        .get(format!("{url}/produce/s/hello"))
        .bearer_auth(&minted_token)
        .send()
        .await
        .expect("produce");
    assert_eq!(by_header.status(), 200);
    let key = std::fs::read_to_string(dir.path().join("data").join("token-keys")).expect("key");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let log = server.finish();
    assert!(log.contains("credential created"), "{log}");
    clean("server -vv log", &log);
    for (what, secret) in [("token", minted_token.as_str()), ("token key", key.trim())] {
        assert!(
            !log.contains(secret),
            "the server log shows the {what}:\n{log}"
        );
        assert!(!metrics.contains(secret), "/metrics shows the {what}");
    }
}
