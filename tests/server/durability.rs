//! Durability: acknowledged messages survive `kill -9`; state survives a restart.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upkafka_server::{ServerConfig, TopicSpec};

use crate::common::{
    JsonBody, JsonResponse, ServeProcess, TestServer, client, serve_durable, spawn_serve,
};

/// Starts `upkafka serve` with topic `d` (2 partitions) on `dir`.
fn start_binary(dir: &std::path::Path) -> ServeProcess {
    serve_durable(dir, &["--topic", "d:2"])
}

async fn fetch_all(client: &reqwest::Client, url: &str, partition: i32) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let body = json!({"topic": "d", "partition": partition, "offset": out.len(), "timeout": 0});
        let resp = client
            .post(format!("{url}/fetch"))
            .json_body(&body)
            .send()
            .await
            .expect("fetch");
        assert!(
            resp.status().is_success(),
            "fetch failed: {}",
            resp.status()
        );
        let batch: Vec<Value> = resp.json_value().await.expect("fetch JSON");
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client();
    let mut proc = start_binary(dir.path());
    // value → (partition, offset) of every acknowledged message.
    let acked: Arc<Mutex<BTreeMap<String, (i64, i64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let client = client.clone();
        let url = proc.url.clone();
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            for b in 0.. {
                let batch: Vec<Value> = (0..25)
                    .map(|i| json!({"topic": "d", "value": format!("w{w}-b{b}-{i}"), "key": format!("w{w}")}))
                    .collect();
                let Ok(resp) = client.post(format!("{url}/produce")).json_body(&json!(batch.clone())).send().await else {
                    return;
                };
                if !resp.status().is_success() {
                    return;
                }
                let Ok(meta) = resp.json_value::<Vec<Value>>().await else { return };
                let mut a = acked.lock().expect("lock");
                for (rec, m) in batch.iter().zip(meta) {
                    a.insert(
                        rec["value"].as_str().unwrap_or_default().to_owned(),
                        (m["partition"].as_i64().unwrap_or(-1), m["offset"].as_i64().unwrap_or(-1)),
                    );
                }
            }
        }));
    }
    // Let producers run until a good number of batches is acknowledged, then SIGKILL.
    let started = Instant::now();
    while acked.lock().expect("lock").len() < 2_000 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proc.child.kill().expect("kill -9");
    let _ = proc.child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 100,
        "too few acknowledged messages to test: {}",
        acked.len()
    );

    let mut proc = start_binary(dir.path());
    let mut by_value: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for p in 0..2 {
        let msgs = fetch_all(&client, &proc.url, p).await;
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(
                m["offset"], i as i64,
                "offsets are contiguous from 0 in partition {p}"
            );
            by_value.insert(
                m["value"].as_str().unwrap_or_default().to_owned(),
                (p as i64, i as i64),
            );
        }
        // Each producer's messages keep their order within the partition.
        let mut last: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for m in &msgs {
            let v = m["value"].as_str().unwrap_or_default();
            let mut parts = v.split('-');
            let (w, b, i) = (parts.next(), parts.next(), parts.next());
            let b: i64 = b
                .and_then(|b| b.trim_start_matches('b').parse().ok())
                .unwrap_or(-1);
            let i: i64 = i.and_then(|i| i.parse().ok()).unwrap_or(-1);
            let w = w.unwrap_or_default().to_owned();
            if let Some(prev) = last.get(&w) {
                assert!(*prev < (b, i), "order of {w}: {prev:?} then {:?}", (b, i));
            }
            last.insert(w, (b, i));
        }
    }
    for (value, at) in &acked {
        assert_eq!(
            by_value.get(value),
            Some(at),
            "acknowledged {value} must be back at {at:?}"
        );
    }
    // The log accepts writes after recovery, continuing the offsets.
    let resp = client
        .post(format!("{}/produce/d", proc.url))
        .json_body(&json!({"value": "after", "partition": 0}))
        .send()
        .await
        .expect("produce after restart");
    let meta: Vec<Value> = resp.json_value().await.expect("JSON");
    let end0 = by_value.values().filter(|(p, _)| *p == 0).count() as i64;
    assert_eq!(meta[0]["offset"], end0);
    proc.child.kill().expect("kill");
    let _ = proc.child.wait();
}

#[tokio::test]
async fn topics_messages_and_commits_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || ServerConfig {
        topics: vec![TopicSpec::new("a", 2)],
        auto_create_topics: true,
        data_dir: Some(dir.path().to_owned()),
        ..ServerConfig::default()
    };
    let client = client();
    let server = TestServer::start(cfg()).await;
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{}", r.status());
        r
    };
    ok(client.post(server.at("/produce")).json_body(&json!([{"topic": "a", "partition": 1, "value": "x", "key": "k", "headers": [{"key": "h", "value": "v"}]}, {"topic": "auto", "value": "y"}])).send().await.expect("produce"));
    ok(client
        .post(server.at("/consume/g/i"))
        .json_body(&json!({"topic": "a", "timeout": 0}))
        .send()
        .await
        .expect("consume"));
    ok(client
        .post(server.at("/commit/g/i"))
        .json_body(&json!({"topic": "a", "partition": 1, "offset": 1}))
        .send()
        .await
        .expect("commit"));
    server.stop().await;

    let server = TestServer::start(ServerConfig {
        topics: vec![TopicSpec::new("a", 5)],
        ..cfg()
    })
    .await;
    let topics: Value = ok(client
        .get(server.at("/topics"))
        .send()
        .await
        .expect("topics"))
    .json_value()
    .await
    .expect("JSON");
    assert_eq!(
        topics,
        json!({"a": 2, "auto": 1}),
        "existing partition counts win"
    );
    let msgs: Value = ok(client
        .post(server.at("/fetch"))
        .json_body(&json!({"topic": "a", "partition": 1, "offset": 0, "timeout": 0}))
        .send()
        .await
        .expect("fetch"))
    .json_value()
    .await
    .expect("JSON");
    assert_eq!(msgs[0]["value"], "x");
    assert_eq!(msgs[0]["key"], "k");
    assert_eq!(msgs[0]["headers"], json!([{"key": "h", "value": "v"}]));
    // The group's commit survives the restart (the instance too: restored_instances.rs).
    ok(client
        .post(server.at("/consume/g/i"))
        .json_body(&json!({"topic": "a", "timeout": 0}))
        .send()
        .await
        .expect("consume"));
    let committed: Value = ok(client
        .post(server.at("/committed/g/i"))
        .json_body(&json!({"topic": "a", "partition": 1}))
        .send()
        .await
        .expect("committed"))
    .json_value()
    .await
    .expect("JSON");
    assert_eq!(
        committed,
        json!([{"topic": "a", "partition": 1, "offset": 1}])
    );
    server.stop().await;
}

#[tokio::test]
async fn no_auth_on_a_public_address_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_upkafka"))
        .args(["serve", "--no-auth", "--bind", "0.0.0.0:0"])
        .output()
        .expect("running upkafka");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn generated_credentials_are_printed_and_required() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_upkafka"))
        .args(["serve", "--bind", "127.0.0.1:0", "--topic", "t"])
        .env_remove("UPSTASH_KAFKA_REST_USERNAME")
        .env_remove("UPSTASH_KAFKA_REST_PASSWORD")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for line in lines.by_ref() {
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            env.insert(k.to_owned(), v.to_owned());
        }
        if env.len() == 3 {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let url = env.get("UPSTASH_KAFKA_REST_URL").expect("URL line").clone();
    let user = env
        .get("UPSTASH_KAFKA_REST_USERNAME")
        .expect("username line")
        .clone();
    let pass = env
        .get("UPSTASH_KAFKA_REST_PASSWORD")
        .expect("password line")
        .clone();
    assert!(pass.len() >= 20, "a strong generated password");
    let client = client();
    let denied = client
        .get(format!("{url}/topics"))
        .send()
        .await
        .expect("request");
    assert_eq!(denied.status().as_u16(), 401);
    let allowed = client
        .get(format!("{url}/topics"))
        .basic_auth(&user, Some(&pass))
        .send()
        .await
        .expect("request");
    assert_eq!(allowed.status().as_u16(), 200);
    child.kill().expect("kill");
    let _ = child.wait();
}

/// Starts `upkafka serve --config FILE --data-dir DIR` with the server credential `admin`.
fn start_with_config(dir: &std::path::Path, config: &std::path::Path) -> ServeProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upkafka"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(dir)
        .env("UPSTASH_KAFKA_REST_USERNAME", "admin")
        .env("UPSTASH_KAFKA_REST_PASSWORD", "admin-pw-3141");
    spawn_serve(cmd)
}

async fn status_as(client: &reqwest::Client, url: &str, user: &str, pass: &str, path: &str) -> u16 {
    client
        .get(format!("{url}{path}"))
        .basic_auth(user, Some(pass))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_of_the_file_and_the_api_survive_a_restart_and_deletions_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("upkafka.toml");
    let hash = upkafka_server::hash_password("file-pw-2718").expect("hash");
    std::fs::write(
        &config,
        format!(
            "topics = [\"a\", \"b\"]\n\n[[credentials]]\nname = \"reader\"\nusername = \"reader\"\n\
             password_hash = \"{hash}\"\ntopic = \"a\"\npermission = \"CONSUME\"\n"
        ),
    )
    .expect("writing the config");
    let data = dir.path().join("data");
    let client = client();
    let mut proc = start_with_config(&data, &config);
    let url = proc.url.clone();
    assert_eq!(
        status_as(&client, &url, "reader", "file-pw-2718", "/topics").await,
        200
    );
    assert_eq!(
        status_as(&client, &url, "reader", "file-pw-2718", "/produce/a/x").await,
        403
    );
    let create = |name: &str| {
        client
            .post(format!("{url}/v2/kafka/credential"))
            .basic_auth("admin", Some("admin-pw-3141"))
            .json_body(&json!({"credential_name": name, "cluster_id": "upkafka", "topic": "b", "permissions": "PRODUCE"}))
            .send()
    };
    let keep: Value = create("keep")
        .await
        .expect("create")
        .json_value()
        .await
        .expect("json");
    let gone: Value = create("gone")
        .await
        .expect("create")
        .json_value()
        .await
        .expect("json");
    let field = |v: &Value, k: &str| v[k].as_str().expect(k).to_owned();
    let (keep_user, keep_pass) = (field(&keep, "username"), field(&keep, "password"));
    let (gone_user, gone_pass) = (field(&gone, "username"), field(&gone, "password"));
    // Secrets at rest are salted hashes, never the password.
    let stored =
        std::fs::read_to_string(data.join(upkafka_server::CREDENTIALS_FILE)).expect("file");
    assert!(
        stored.contains("$argon2id$") && !stored.contains(&keep_pass),
        "{stored}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(data.join(upkafka_server::CREDENTIALS_FILE)).expect("meta");
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "only the owner reads it"
        );
    }
    // kill -9: a created credential was on disk before it was answered.
    proc.child.kill().expect("kill");
    proc.finish();

    let mut proc = start_with_config(&data, &config);
    let url = proc.url.clone();
    assert_eq!(
        status_as(&client, &url, &keep_user, &keep_pass, "/produce/b/x").await,
        200
    );
    assert_eq!(
        status_as(&client, &url, &gone_user, &gone_pass, "/produce/b/x").await,
        200
    );
    assert_eq!(
        status_as(&client, &url, "reader", "file-pw-2718", "/topics").await,
        200
    );
    let id = field(&gone, "credential_id");
    let resp = client
        .delete(format!("{url}/v2/kafka/credential/{id}"))
        .basic_auth("admin", Some("admin-pw-3141"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 200);
    // The file's credential cannot be deleted over the API.
    let resp = client
        .delete(format!("{url}/v2/kafka/credential/config-reader"))
        .basic_auth("admin", Some("admin-pw-3141"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        status_as(&client, &url, &gone_user, &gone_pass, "/topics").await,
        401
    );
    proc.child.kill().expect("kill");
    proc.finish();

    let proc = start_with_config(&data, &config);
    let url = proc.url.clone();
    assert_eq!(
        status_as(&client, &url, &gone_user, &gone_pass, "/topics").await,
        401
    );
    assert_eq!(
        status_as(&client, &url, &keep_user, &keep_pass, "/topics").await,
        200
    );
    let list: Value = client
        .get(format!("{url}/v2/kafka/credentials"))
        .basic_auth("admin", Some("admin-pw-3141"))
        .send()
        .await
        .expect("list")
        .json_value()
        .await
        .expect("json");
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["credential_name"].as_str())
        .collect();
    assert_eq!(names, ["reader", "keep"], "{list}");
    let mut proc = proc;
    proc.child.kill().expect("kill");
    proc.finish();
}

/// Topic and partition caps (issue 20): auto-create beyond them is a 429 naming the cap, its
/// value and the flag, and the server goes on serving the topics it has; a `--topic` beyond
/// them stops the start with that text.
#[tokio::test]
async fn topics_beyond_the_caps_get_429_naming_the_flag_and_the_rest_is_served() {
    use crate::support::{Api, assert_error, config};
    use upkafka_server::Limits;
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_topics: 3,
        max_partitions: 4,
        ..Limits::default()
    };
    let api = Api::new(ServerConfig {
        auto_create_topics: true,
        data_dir: Some(dir.path().to_owned()),
        limits: limits.clone(),
        ..config(&[("wide", 2)])
    })
    .await;
    api.ok("/produce/a", &json!({"value": "1"})).await;
    api.ok("/produce/b", &json!({"value": "2"})).await;
    let refused = api.post("/produce/c", &json!({"value": "3"})).await;
    assert_error(&refused, 429, "--max-topics allows (3)");
    // A batch naming a new topic is refused whole; the known topics keep taking records.
    let batch = json!([{"topic": "a", "value": "4"}, {"topic": "d", "value": "5"}]);
    assert_error(&api.post("/produce", &batch).await, 429, "topic `d`");
    api.ok("/produce/a", &json!({"value": "6"})).await;
    let (_, topics) = api.get("/topics").await;
    assert_eq!(topics, json!({"wide": 2, "a": 1, "b": 1}));
    let msgs = api
        .ok(
            "/fetch",
            &json!({"topic": "a", "partition": 0, "offset": 0, "timeout": 0}),
        )
        .await;
    let msgs = msgs.as_array().cloned().unwrap_or_default();
    assert_eq!(crate::support::values(&msgs), ["1", "6"]);
    drop(api);

    let other = tempfile::tempdir().expect("tempdir");
    let err = upkafka_server::Server::bind(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir: Some(other.path().to_owned()),
        limits,
        ..config(&[("x", 3), ("y", 2)])
    })
    .await
    .expect_err("5 partitions with --max-partitions 4");
    let text = err.to_string();
    assert!(
        text.contains("--max-partitions allows 4") && text.contains("topic `y`"),
        "{text}"
    );
}

/// Starts `upkafka serve` on `dir` with extra arguments.
fn start_binary_with(dir: &std::path::Path, extra: &[&str]) -> ServeProcess {
    let args: Vec<&str> = ["--topic", "d:2"].iter().chain(extra).copied().collect();
    serve_durable(dir, &args)
}

async fn keyed(client: &reqwest::Client, url: &str, key: &str, body: &Value) -> (u16, Value) {
    let resp = client
        .post(format!("{url}/produce/d"))
        .header("Idempotency-Key", key)
        .json_body(body)
        .send()
        .await
        .expect("produce");
    let status = resp.status().as_u16();
    (status, resp.json_value().await.expect("JSON"))
}

/// Idempotency keys are stored with their batches: after `kill -9` and a restart, a repeat
/// answers the first answer (batches over both partitions, between unkeyed batches, which
/// open as before), another body is 422, and once the window has passed the key is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_survive_kill_9_and_expire_after_their_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client();
    let mut proc = start_binary_with(dir.path(), &[]);
    let batch = |b: usize| -> Value {
        json!(
            (0..7)
                .map(|i| json!({"value": format!("b{b}-{i}"), "partition": i % 2}))
                .collect::<Vec<_>>()
        )
    };
    let mut answers = Vec::new();
    for b in 0..20 {
        let plain = client
            .post(format!("{}/produce/d", proc.url))
            .json_body(&json!({"value": format!("plain-{b}")}))
            .send()
            .await
            .expect("produce");
        assert!(plain.status().is_success(), "{}", plain.status());
        let (s, meta) = keyed(&client, &proc.url, &format!("key-{b}"), &batch(b)).await;
        assert_eq!(s, 200, "{meta}");
        answers.push(meta);
    }
    proc.child.kill().expect("kill -9");
    let _ = proc.child.wait();

    let mut proc = start_binary_with(dir.path(), &[]);
    let mut count = 0;
    for p in 0..2 {
        count += fetch_all(&client, &proc.url, p).await.len();
    }
    assert_eq!(count, 20 * 8);
    for (b, first) in answers.iter().enumerate() {
        let (s, again) = keyed(&client, &proc.url, &format!("key-{b}"), &batch(b)).await;
        assert_eq!((s, &again), (200, first), "batch {b} after kill -9");
    }
    let (s, err) = keyed(&client, &proc.url, "key-3", &batch(4)).await;
    assert_eq!(s, 422, "{err}");
    let mut after = 0;
    for p in 0..2 {
        after += fetch_all(&client, &proc.url, p).await.len();
    }
    assert_eq!(after, 20 * 8, "no repeat stored anything");
    proc.child.kill().expect("kill -9");
    let _ = proc.child.wait();

    // With a 1 s window, a second later the keys are forgotten: a repeat is stored again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut proc = start_binary_with(dir.path(), &["--idempotency-window", "1s"]);
    let (s, again) = keyed(&client, &proc.url, "key-0", &batch(0)).await;
    assert_eq!(s, 200, "{again}");
    assert_ne!(again, answers[0], "stored anew after the window");
    proc.child.kill().expect("kill");
    let _ = proc.child.wait();
}
