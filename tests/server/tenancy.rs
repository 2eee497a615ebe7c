//! Scoped credentials (issue 14): every data route × every kind of credential → the expected
//! status, the scope of `/topics`, `/offsets`, `/consumers`, the 403 body, and the management
//! API. Backend-agnostic: `tests/gateway` can run it as is.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use upkafka_server::{Credentials, ServerConfig};

use super::support::{Api, assert_error, config};

const SERVER_USER: &str = "admin";
const SERVER_PASS: &str = "server-secret-pw";

pub fn tenancy_config() -> ServerConfig {
    ServerConfig {
        credentials: Some(Credentials::new(SERVER_USER, SERVER_PASS)),
        ..config(&[("a", 1), ("b", 1)])
    }
}

/// A credential created over the management API: (id, username, password).
pub async fn create(
    api: &Api,
    name: &str,
    topic: &str,
    permissions: &str,
) -> (String, String, String) {
    let v = api
        .ok(
            "/v2/kafka/credential",
            &json!({"credential_name": name, "cluster_id": "upkafka", "topic": topic, "permissions": permissions}),
        )
        .await;
    assert_eq!(v["credential_name"], name, "{v}");
    assert_eq!(v["topic"], topic, "{v}");
    assert_eq!(v["permissions"], permissions, "{v}");
    assert_eq!(v["state"], "active", "{v}");
    let get = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {v}"))
            .to_owned()
    };
    (get("credential_id"), get("username"), get("password"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Server,
    AllA,
    ProduceA,
    ConsumeA,
    ProduceAny,
    Deleted,
    /// A token the server minted for topic `b`, ALL.
    TokenForB,
    /// A token of `AllA` past its expiry.
    ExpiredToken,
}

const EVERYONE: [Who; 8] = [
    Who::Server,
    Who::AllA,
    Who::ProduceA,
    Who::ConsumeA,
    Who::ProduceAny,
    Who::Deleted,
    Who::TokenForB,
    Who::ExpiredToken,
];

/// What a request needs: a permission and the topics it names.
#[derive(Debug, Clone, Copy)]
enum Needs {
    Produce(&'static [&'static str]),
    Consume(&'static [&'static str]),
    Read,
    /// Either permission, on these topics.
    ReadOf(&'static [&'static str]),
    Server,
}

fn expected(who: Who, needs: Needs, allowed: u16) -> u16 {
    let in_scope = |topics: &[&str]| topics.iter().all(|t| *t == "a");
    let ok = match (who, needs) {
        (Who::Deleted | Who::ExpiredToken, _) => return 401,
        (Who::TokenForB, Needs::Server) => false,
        (Who::TokenForB, Needs::Read) => true,
        (Who::TokenForB, Needs::ReadOf(t)) => t.iter().all(|t| *t == "b"),
        (Who::TokenForB, Needs::Produce(t) | Needs::Consume(t)) => t.iter().all(|t| *t == "b"),
        (Who::Server, _) => true,
        (_, Needs::Server) => false,
        (_, Needs::Read) => true,
        (_, Needs::ReadOf(t)) => in_scope(t) || who == Who::ProduceAny,
        (Who::AllA, Needs::Produce(t) | Needs::Consume(t)) => in_scope(t),
        (Who::ProduceA, Needs::Produce(t)) => in_scope(t),
        (Who::ProduceAny, Needs::Produce(_)) => true,
        (Who::ConsumeA, Needs::Consume(t)) => in_scope(t),
        (Who::ProduceA | Who::ProduceAny, Needs::Consume(_))
        | (Who::ConsumeA, Needs::Produce(_)) => false,
    };
    if ok { allowed } else { 403 }
}

/// Every data route (and the management API), with what it needs and its status when allowed.
fn requests() -> Vec<(&'static str, String, Value, Needs, u16)> {
    use Needs::*;
    let rec = |t: &str| json!({"topic": t, "value": "v"});
    vec![
        (
            "GET",
            "/produce/a/hello".into(),
            Value::Null,
            Produce(&["a"]),
            200,
        ),
        (
            "GET",
            "/produce/b/hello".into(),
            Value::Null,
            Produce(&["b"]),
            200,
        ),
        (
            "POST",
            "/produce/a".into(),
            json!([{"value": "v"}]),
            Produce(&["a"]),
            200,
        ),
        (
            "POST",
            "/produce".into(),
            json!([rec("a")]),
            Produce(&["a"]),
            200,
        ),
        // A record naming another topic than the path's is refused as such, whoever sends
        // it: nothing reaches `b` through `/produce/a`.
        (
            "POST",
            "/produce/a".into(),
            json!([rec("b")]),
            Produce(&["a"]),
            400,
        ),
        (
            "POST",
            "/produce".into(),
            json!([rec("a"), rec("b")]),
            Produce(&["a", "b"]),
            200,
        ),
        (
            "POST",
            "/webhook?topic=a".into(),
            Value::Null,
            Produce(&["a"]),
            200,
        ),
        (
            "POST",
            "/webhook?topic=b".into(),
            Value::Null,
            Produce(&["b"]),
            200,
        ),
        (
            "POST",
            "/fetch?timeout=0".into(),
            json!({"topic": "a", "partition": 0, "offset": 0}),
            Consume(&["a"]),
            200,
        ),
        (
            "POST",
            "/fetch?timeout=0".into(),
            json!({"topicPartitionOffsets": [{"topic": "a", "partition": 0, "offset": 0}, {"topic": "b", "partition": 0, "offset": 0}]}),
            Consume(&["a", "b"]),
            200,
        ),
        (
            "GET",
            "/consume/g/i/a?timeout=0".into(),
            Value::Null,
            Consume(&["a"]),
            200,
        ),
        (
            "GET",
            "/consume/g/j/b?timeout=0".into(),
            Value::Null,
            Consume(&["b"]),
            200,
        ),
        (
            "POST",
            "/consume/g/i?timeout=0".into(),
            json!({"topic": "a"}),
            Consume(&["a"]),
            200,
        ),
        (
            "POST",
            "/consume/g/k?timeout=0".into(),
            json!({"topics": ["a", "b"]}),
            Consume(&["a", "b"]),
            200,
        ),
        (
            "POST",
            "/commit/g/i".into(),
            json!([{"topic": "a", "partition": 0, "offset": 0}]),
            Consume(&["a"]),
            200,
        ),
        (
            "POST",
            "/committed/g/i".into(),
            json!([{"topic": "a", "partition": 0}]),
            Consume(&["a"]),
            200,
        ),
        (
            "POST",
            "/delete-consumer/g/nobody".into(),
            Value::Null,
            Consume(&[]),
            404,
        ),
        ("GET", "/topics".into(), Value::Null, Read, 200),
        ("GET", "/consumers".into(), Value::Null, Read, 200),
        (
            "POST",
            "/offsets/latest".into(),
            json!([{"topic": "a", "partition": 0}]),
            ReadOf(&["a"]),
            200,
        ),
        (
            "GET",
            "/v2/kafka/credentials".into(),
            Value::Null,
            Server,
            200,
        ),
        ("GET", "/v2/kafka/clusters".into(), Value::Null, Server, 200),
        (
            "GET",
            "/v2/kafka/topics/upkafka".into(),
            Value::Null,
            Server,
            200,
        ),
        ("GET", "/v2/kafka/topic/a".into(), Value::Null, Server, 200),
        (
            "GET",
            "/v2/kafka/stats/topic/a".into(),
            Value::Null,
            Server,
            200,
        ),
        (
            "POST",
            "/v2/kafka/credential".into(),
            json!({"credential_name": "n", "cluster_id": "upkafka", "topic": "a", "permissions": "ALL"}),
            Server,
            200,
        ),
    ]
}

#[tokio::test]
async fn every_route_answers_each_credential_as_its_permission_and_scope_say() {
    let api = Api::new(tenancy_config()).await;
    let mut clients = Vec::new();
    let token = |v: &Value| v["token"].as_str().expect("a token").to_owned();
    for who in EVERYONE {
        let client = match who {
            Who::Server => api.clone(),
            Who::TokenForB => {
                let v = api
                    .ok("/v2/kafka/token", &json!({"topic": "b", "expires_in": 600}))
                    .await;
                assert_eq!(
                    (&v["topic"], &v["permissions"]),
                    (&json!("b"), &json!("ALL"))
                );
                api.as_bearer(&token(&v))
            }
            Who::ExpiredToken => {
                let (_, user, pass) = create(&api, "short-lived", "a", "ALL").await;
                let v = api
                    .as_user(&user, &pass)
                    .ok("/v2/kafka/token", &json!({"expires_in": 1}))
                    .await;
                let expired = api.as_bearer(&token(&v));
                assert_eq!(expired.get("/topics").await.0, StatusCode::OK);
                // Expiry is to the second: two seconds later it has passed.
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                expired
            }
            _ => {
                let (scope, perm) = match who {
                    Who::AllA | Who::Deleted => ("a", "ALL"),
                    Who::ProduceA => ("a", "PRODUCE"),
                    Who::ConsumeA => ("a", "CONSUME"),
                    _ => ("*", "PRODUCE"),
                };
                let (id, user, pass) = create(&api, &format!("{who:?}"), scope, perm).await;
                let client = api.as_user(&user, &pass);
                if who == Who::Deleted {
                    // Used once, so it is verified and cached before it is deleted.
                    assert_eq!(client.get("/topics").await.0, StatusCode::OK);
                    let (s, v) = api
                        .send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
                        .await;
                    assert_eq!((s, v), (StatusCode::OK, json!("OK")));
                }
                client
            }
        };
        clients.push((who, client));
    }
    // The instance the commit and committed rows use.
    api.consume("g", "i", &json!({"topic": "a", "timeout": 0}), &[])
        .await;
    let mut failures = Vec::new();
    for (method, path, body, needs, allowed) in requests() {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        for (who, client) in &clients {
            let (status, v) = client.send(method, &path, &body, &[]).await;
            let want = expected(*who, needs, allowed);
            if status.as_u16() != want {
                failures.push(format!(
                    "{method} {path} as {who:?}: {status} {v}, expected {want}"
                ));
            }
            if want == 403 {
                assert_error(&(status, v.clone()), 403, "permission");
            }
            match who {
                Who::Deleted => assert_error(&(status, v), 401, "credentials"),
                Who::ExpiredToken => assert_error(&(status, v), 401, "expired"),
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn forbidden_answers_name_the_permission_and_topic_never_a_secret() {
    let api = Api::new(tenancy_config()).await;
    let (_, user, pass) = create(&api, "orders-writer", "a", "PRODUCE").await;
    let writer = api.as_user(&user, &pass);
    let got = writer
        .post(
            "/produce",
            &json!([{"topic": "a", "value": "1"}, {"topic": "b", "value": "2"}]),
        )
        .await;
    assert_error(&got, 403, "PRODUCE permission on topic `b`");
    let text = got.1.to_string();
    assert!(
        !text.contains(&pass) && !text.contains(SERVER_PASS),
        "{text}"
    );
    assert!(!text.contains("argon2"), "{text}");
    assert_error(
        &writer.get("/consume/g/i/a").await,
        403,
        "CONSUME permission",
    );
    assert_error(
        &writer.post("/v2/kafka/credential", &json!({"credential_name": "x", "cluster_id": "upkafka", "topic": "*", "permissions": "ALL"})).await,
        403,
        "server's own credential",
    );
    // Nothing of the refused batch was written.
    let v = api
        .ok("/offsets/latest", &json!([{"topic": "b", "partition": 0}]))
        .await;
    assert_eq!(v[0]["offset"], 0, "{v}");
    // The webhook takes a scoped credential in the query too.
    let (s, v) = api
        .as_user("nobody", "nothing")
        .send(
            "POST",
            &format!("/webhook?topic=a&user={user}&pass={pass}"),
            "hi",
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Wrong password for a known username: 401, not 403.
    assert_error(
        &api.as_user(&user, "wrong").get("/topics").await,
        401,
        "credentials",
    );
}

#[tokio::test]
async fn scoped_credentials_see_only_the_topics_of_their_scope() {
    let api = Api::new(tenancy_config()).await;
    api.consume("ga", "i", &json!({"topic": "a", "timeout": 0}), &[])
        .await;
    api.consume("gb", "i", &json!({"topic": "b", "timeout": 0}), &[])
        .await;
    let (_, user, pass) = create(&api, "reader", "a", "CONSUME").await;
    let reader = api.as_user(&user, &pass);
    assert_eq!(api.get("/topics").await.1, json!({"a": 1, "b": 1}));
    assert_eq!(reader.get("/topics").await.1, json!({"a": 1}));
    let (s, groups) = reader.get("/consumers").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = groups
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["ga"], "{groups}");
    assert_error(
        &reader
            .post("/offsets/latest", &json!([{"topic": "b", "partition": 0}]))
            .await,
        403,
        "topic `b`",
    );
    // `/committed` without a body answers the instance's assignment: only the caller's topics.
    api.consume(
        "gab",
        "i",
        &json!({"topics": ["a", "b"], "timeout": 0}),
        &[],
    )
    .await;
    let (s, v) = api.send("POST", "/committed/gab/i", "", &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    let (s, v) = reader.send("POST", "/committed/gab/i", "", &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!([{"topic": "a", "partition": 0, "offset": -1}]));
    let (_, any_user, any_pass) = create(&api, "everything", "*", "ALL").await;
    assert_eq!(
        api.as_user(&any_user, &any_pass).get("/topics").await.1,
        json!({"a": 1, "b": 1})
    );
}

/// An implicit commit (no body, `[]`) and a delete act on every topic of the instance, which
/// the request does not name: a credential scoped to `a` may not commit or delete an instance
/// that also holds `b`, and `b`'s committed offset stays as it was.
#[tokio::test]
async fn implicit_commits_and_deletes_stay_within_the_scope() {
    let api = Api::new(tenancy_config()).await;
    api.post("/produce/b", &json!([{"value": "x"}])).await;
    let read_all = json!({"topics": ["a", "b"], "timeout": 0});
    api.consume(
        "g",
        "i",
        &read_all,
        &[
            ("Kafka-Auto-Offset-Reset", "earliest"),
            ("Kafka-Enable-Auto-Commit", "false"),
        ],
    )
    .await;
    let committed_b = || async {
        let (s, v) = api
            .post("/committed/g/i", &json!([{"topic": "b", "partition": 0}]))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v[0]["offset"].clone()
    };
    let before = committed_b().await;
    let (_, user, pass) = create(&api, "consumer-a", "a", "CONSUME").await;
    let scoped = api.as_user(&user, &pass);
    for body in ["", "[]"] {
        assert_error(
            &scoped.send("POST", "/commit/g/i", body, &[]).await,
            403,
            "topic `b`",
        );
    }
    assert_error(
        &scoped.send("POST", "/delete-consumer/g/i", "", &[]).await,
        403,
        "topic `b`",
    );
    assert_eq!(committed_b().await, before, "b's offset moved");
    // Within the scope both work.
    api.consume("ga", "i", &json!({"topic": "a", "timeout": 0}), &[])
        .await;
    let (s, v) = scoped.send("POST", "/commit/ga/i", "", &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = scoped.send("POST", "/delete-consumer/ga/i", "", &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn the_management_api_lists_deletes_and_presents_one_cluster() {
    let api = Api::new(tenancy_config()).await;
    let (id, user, pass) = create(&api, "app", "a", "ALL").await;
    let (s, list) = api.get("/v2/kafka/credentials").await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().expect("array").clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["credential_id"], id.as_str());
    assert_eq!(list[0]["username"], user.as_str());
    assert!(
        list[0].get("password").is_none(),
        "listed without password: {list:?}"
    );
    assert!(!format!("{list:?}").contains(&pass));
    let (s, clusters) = api.get("/v2/kafka/clusters").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(clusters[0]["cluster_id"], "upkafka", "{clusters}");
    assert_eq!(clusters[0]["username"], SERVER_USER);
    assert!(!clusters.to_string().contains(SERVER_PASS));
    assert_eq!(api.get("/v2/kafka/cluster/upkafka").await.1, clusters[0]);
    assert_error(&api.get("/v2/kafka/cluster/other").await, 404, "upkafka");
    assert_error(
        &api.post("/v2/kafka/credential", &json!({"credential_name": "x", "cluster_id": "other", "topic": "a", "permissions": "ALL"})).await,
        404,
        "cluster",
    );
    assert_error(
        &api.post("/v2/kafka/credential", &json!({"credential_name": "x", "cluster_id": "upkafka", "topic": "bad/topic", "permissions": "ALL"})).await,
        400,
        "topic",
    );
    assert_error(
        &api.post("/v2/kafka/credential", &json!({"credential_name": "x", "cluster_id": "upkafka", "topic": "a", "permissions": "READ"})).await,
        400,
        "READ",
    );
    let app = api.as_user(&user, &pass);
    assert_eq!(app.get("/topics").await.0, StatusCode::OK);
    let (s, v) = api
        .send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!("OK")));
    assert_error(&app.get("/topics").await, 401, "credentials");
    assert_error(
        &api.send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
            .await,
        404,
        "no credential",
    );
}

/// The backend's own cost cancels out: produces with the scoped credential are interleaved
/// with the same produces under the server's credential (a constant-time compare, no hash),
/// and only the difference is held against the hash. (Compared with the hash alone, a
/// gateway's broker round trips on a loaded machine read as a missing cache.)
#[tokio::test]
async fn a_verified_credential_does_not_pay_a_password_hash_per_request() {
    let api = Api::new(tenancy_config()).await;
    let (_, user, pass) = create(&api, "fast", "a", "PRODUCE").await;
    let writer = api.as_user(&user, &pass);
    // The first request verifies the hash (and caches the verified pair).
    assert_eq!(writer.get("/produce/a/first").await.0, StatusCode::OK);
    assert_eq!(api.get("/produce/a/warm").await.0, StatusCode::OK);
    let hash_started = std::time::Instant::now();
    let _ = upkafka_server::hash_password("one hash, for scale").expect("hash");
    let one_hash = hash_started.elapsed();
    const N: u32 = 40;
    let (mut scoped, mut server) = (Duration::ZERO, Duration::ZERO);
    for i in 0..N {
        for (who, total) in [(&writer, &mut scoped), (&api, &mut server)] {
            let started = std::time::Instant::now();
            let (s, v) = who.get(&format!("/produce/a/m{i}")).await;
            *total += started.elapsed();
            assert_eq!(s, StatusCode::OK, "{v}");
        }
    }
    let extra = scoped.saturating_sub(server);
    assert!(
        extra < one_hash * N / 4,
        "{N} produces took {scoped:?} with the scoped credential, {server:?} with the server's: \
         {extra:?} more, and one hash takes {one_hash:?}: the verified credential is not cached"
    );
}

/// An unknown username is refused as slowly as a wrong password, so that timing does not tell
/// which usernames exist (a stand-in hash is verified for it).
#[tokio::test]
async fn an_unknown_username_takes_as_long_as_a_wrong_password() {
    let api = Api::new(tenancy_config()).await;
    let (_, user, _) = create(&api, "known", "a", "ALL").await;
    const N: u32 = 6;
    let time = |user: String| {
        let api = api.clone();
        async move {
            let started = std::time::Instant::now();
            for i in 0..N {
                let (s, _) = api
                    .as_user(&user, &format!("wrong-{i}"))
                    .get("/topics")
                    .await;
                assert_eq!(s, StatusCode::UNAUTHORIZED);
            }
            started.elapsed()
        }
    };
    let wrong_password = time(user).await;
    let unknown_user = time("cred-0000000000000000".to_owned()).await;
    assert!(
        unknown_user * 4 > wrong_password,
        "{N} unknown usernames took {unknown_user:?}, {N} wrong passwords {wrong_password:?}"
    );
}

/// Two servers with one state directory (as gateways in front of one cluster have), and the
/// directory, which lives as long as the caller keeps it.
async fn two_servers_on_one_state_directory() -> (tempfile::TempDir, Api, Api) {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = || ServerConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..tenancy_config()
    };
    let one = Api::new(shared()).await;
    let other = Api::new(shared()).await;
    (dir, one, other)
}

/// Two servers sharing one state directory (as gateways in front of one cluster do): a
/// credential made on one is accepted by the other, and once deleted on one it is refused by
/// the other too, without a restart.
#[tokio::test]
async fn servers_sharing_a_state_directory_share_their_credentials() {
    let (_dir, one, other) = two_servers_on_one_state_directory().await;
    let (id, user, pass) = create(&one, "shared", "a", "ALL").await;
    let on_other = other.as_user(&user, &pass);
    eventually("the other server accepts the new credential", || async {
        on_other.get("/topics").await.0 == StatusCode::OK
    })
    .await;
    let (s, _) = one
        .send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        one.as_user(&user, &pass).get("/topics").await.0,
        StatusCode::UNAUTHORIZED
    );
    eventually(
        "the other server refuses the deleted credential",
        || async { on_other.get("/topics").await.0 == StatusCode::UNAUTHORIZED },
    )
    .await;
    // The signing key is shared too: a token minted on one works on the other.
    let v = one.ok("/v2/kafka/token", &json!({"topic": "a"})).await;
    let token = v["token"].as_str().expect("token");
    assert_eq!(
        other.as_bearer(token).get("/topics").await.0,
        StatusCode::OK
    );
}

/// Two servers on one state directory creating credentials at the same moment: neither
/// write drops the other's (each re-reads the file under a lock before it writes).
#[tokio::test]
async fn simultaneous_creates_on_a_shared_state_directory_both_hold() {
    let (_dir, one, other) = two_servers_on_one_state_directory().await;
    // Well within the 250 ms the servers take to notice each other's changes.
    let (_, user_1, pass_1) = create(&one, "first", "a", "ALL").await;
    let (_, user_2, pass_2) = create(&other, "second", "a", "ALL").await;
    for api in [&one, &other] {
        for (user, pass) in [(&user_1, &pass_1), (&user_2, &pass_2)] {
            let client = api.as_user(user, pass);
            eventually("both credentials work on both servers", || async {
                client.get("/topics").await.0 == StatusCode::OK
            })
            .await;
        }
    }
    // And they stay: a later look at the file changes nothing.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        one.as_user(&user_1, &pass_1).get("/topics").await.0,
        StatusCode::OK
    );
    assert_eq!(
        other.as_user(&user_1, &pass_1).get("/topics").await.0,
        StatusCode::OK
    );
}

/// Waits until `done` says so, failing the test after 5 s (the servers look every 250 ms).
async fn eventually<F, Fut>(what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A delete that cannot be saved is refused, and the credential stays active: otherwise it
/// would be gone until the next restart and then come back.
#[tokio::test]
async fn a_delete_that_cannot_be_saved_leaves_the_credential_active() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = Api::new(ServerConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..tenancy_config()
    })
    .await;
    let (id, user, pass) = create(&api, "kept", "a", "ALL").await;
    // The file is written through a temporary beside it: a directory in its place makes
    // every save fail (whoever runs the test, root included).
    let blocker = dir.path().join("credentials.json.tmp");
    std::fs::create_dir(&blocker).expect("blocker");
    let got = api
        .send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
        .await;
    assert_error(&got, 503, "still active");
    assert_eq!(
        api.as_user(&user, &pass).get("/topics").await.0,
        StatusCode::OK
    );
    std::fs::remove_dir(&blocker).expect("unblock");
    let (s, v) = api
        .send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!("OK")));
    assert_eq!(
        api.as_user(&user, &pass).get("/topics").await.0,
        StatusCode::UNAUTHORIZED
    );
}
