//! Short-lived tokens (issue 14): minted narrower than their credential, used as a Bearer
//! header or `?token=` on the routes that only read, refused once expired or once their
//! credential is deleted, and valid across a restart on the same data directory.

use axum::http::StatusCode;
use serde_json::{Value, json};
use upkafka_server::ServerConfig;

use super::support::{Api, assert_error};
use super::tenancy::{create, tenancy_config};

fn token(v: &Value) -> String {
    v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {v}"))
        .to_owned()
}

#[tokio::test]
async fn a_token_is_never_more_than_the_credential_that_mints_it() {
    let api = Api::new(tenancy_config()).await;
    let (_, user, pass) = create(&api, "writer", "a", "PRODUCE").await;
    let writer = api.as_user(&user, &pass);
    // Defaults: the credential's own permission and topic, 15 minutes.
    let (s, v) = writer.post("/v2/kafka/token", &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["permissions"], &v["topic"]),
        (&json!("PRODUCE"), &json!("a"))
    );
    assert_eq!(v["credential_name"], "writer");
    let ttl = v["expires_at"].as_i64().expect("expires_at") - now();
    assert!((890..=900).contains(&ttl), "{v}");
    assert_error(
        &writer
            .post("/v2/kafka/token", &json!({"permissions": "CONSUME"}))
            .await,
        403,
        "lacks CONSUME permission",
    );
    assert_error(
        &writer.post("/v2/kafka/token", &json!({"topic": "b"})).await,
        403,
        "topic `b`",
    );
    assert_error(
        &writer.post("/v2/kafka/token", &json!({"topic": "*"})).await,
        403,
        "topic `*`",
    );
    assert_error(
        &writer
            .post("/v2/kafka/token", &json!({"expires_in": 3601}))
            .await,
        400,
        "between 1 and 3600 seconds",
    );
    // The token works as a Bearer header for what it may do, and only that.
    let bearer = api.as_bearer(&token(&v));
    let (s, got) = bearer.post("/produce/a", &json!([{"value": "v"}])).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_error(
        &bearer
            .post(
                "/fetch",
                &json!({"topic": "a", "partition": 0, "offset": 0}),
            )
            .await,
        403,
        "writer (token)",
    );
    assert_error(
        &bearer.post("/v2/kafka/token", &json!({})).await,
        403,
        "a token cannot mint tokens",
    );
    assert_error(
        &bearer.get("/v2/kafka/credentials").await,
        403,
        "server's own credential",
    );
    // A forged or foreign token is a 401 that does not quote it.
    let forged = format!("{}x", token(&v));
    let got = api.as_bearer(&forged).get("/topics").await;
    assert_error(&got, 401, "token is not valid");
    assert!(!got.1.to_string().contains(&forged));
}

#[tokio::test]
async fn the_query_token_opens_the_reading_routes_only() {
    let api = Api::new(tenancy_config()).await;
    let v = api
        .ok(
            "/v2/kafka/token",
            &json!({"topic": "a", "permissions": "ALL"}),
        )
        .await;
    let t = token(&v);
    let anon = api.anonymous();
    for path in [
        format!("/topics?token={t}"),
        format!("/consume/g/i/a?timeout=0&token={t}"),
    ] {
        let (s, got) = anon.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {got}");
    }
    // Writing routes take it as a header only (a URL ends up in logs and histories).
    let (s, got) = anon
        .send("GET", &format!("/produce/a/hello?token={t}"), "", &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{got}");
    let (s, got) = anon
        .send("POST", &format!("/webhook?topic=a&token={t}"), "x", &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{got}");
    // Commit and delete-consumer write too, although a CONSUME token may call them.
    for (method, path) in [
        ("GET", format!("/commit/g/i?token={t}")),
        ("POST", format!("/delete-consumer/g/i?token={t}")),
    ] {
        let (s, got) = anon.send(method, &path, "", &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {got}");
    }
    // ... with the token as a header they are served.
    let (s, got) = api.as_bearer(&t).send("GET", "/commit/g/i", "", &[]).await;
    assert_eq!(s, StatusCode::OK, "{got}");
}

#[tokio::test]
async fn a_deleted_credential_takes_its_tokens_with_it() {
    let api = Api::new(tenancy_config()).await;
    let (id, user, pass) = create(&api, "reader", "a", "CONSUME").await;
    let v = api
        .as_user(&user, &pass)
        .ok("/v2/kafka/token", &json!({"expires_in": 600}))
        .await;
    let bearer = api.as_bearer(&token(&v));
    assert_eq!(bearer.get("/topics").await.0, StatusCode::OK);
    let (s, _) = api
        .send("DELETE", &format!("/v2/kafka/credential/{id}"), "", &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_error(&bearer.get("/topics").await, 401, "no longer exists");
}

#[tokio::test]
async fn tokens_outlive_a_restart_on_the_same_data_directory_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = |d: &std::path::Path| ServerConfig {
        data_dir: Some(d.to_path_buf()),
        ..tenancy_config()
    };
    let minted = {
        let api = Api::new(config(dir.path())).await;
        token(&api.ok("/v2/kafka/token", &json!({"topic": "a"})).await)
    };
    let restarted = Api::new(config(dir.path())).await;
    assert_eq!(
        restarted.as_bearer(&minted).get("/topics").await,
        (StatusCode::OK, json!({"a": 1}))
    );
    let key = std::fs::read_to_string(dir.path().join(upkafka_server::TOKEN_KEYS_FILE))
        .expect("the key file");
    assert!(!minted.contains(key.trim()), "the token carries its key");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Api::new(config(other_dir.path())).await;
    assert_error(
        &other.as_bearer(&minted).get("/topics").await,
        401,
        "token is not valid",
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Found by the schema fuzzing: serde reads a struct from an array of its fields, so
/// `[null, null]` minted a token with every default. Management bodies must be objects.
#[tokio::test]
async fn management_bodies_must_be_json_objects() {
    let api = Api::new(tenancy_config()).await;
    for path in ["/v2/kafka/token", "/v2/kafka/credential"] {
        let got = api.post(path, &json!([null, null])).await;
        assert_error(&got, 400, "expected an object");
    }
    let (s, v) = api.post("/v2/kafka/token", &json!({})).await;
    assert_eq!(s, StatusCode::OK, "an empty object is fine: {v}");
}
