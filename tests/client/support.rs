//! Shared helpers: fixtures, a client pointed at a mock server, and matchers wiremock lacks.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use upkafka_client::{Client, Config, RetryPolicy};
use wiremock::matchers::header;
use wiremock::{Match, MockServer, Request, ResponseTemplate};

pub const USER: &str = "alice";
/// Contains `:` to show only the first colon splits user from password.
pub const PASS: &str = "open:sesame";
/// `base64("alice:open:sesame")`, computed independently of the client.
pub const AUTH: &str = "Basic YWxpY2U6b3BlbjpzZXNhbWU=";

/// A consumer group id with a space, `/` and non-ASCII, and its encoded path segment.
pub const GROUP: &str = "my group/ü";
pub const GROUP_ENC: &str = "my%20group%2F%C3%BC";
/// An instance id with a space, and its encoded path segment.
pub const INSTANCE: &str = "host 1";
pub const INSTANCE_ENC: &str = "host%201";

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture `tests/fixtures/<name>` as JSON.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The fixture decoded as `T` (the value the client should return).
pub fn typed<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A response with the fixture as its JSON body.
pub fn reply(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(fixture(name))
}

/// Retries quick enough for tests.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        deadline: Duration::from_secs(10),
        retry_produce: true,
        idempotency_keys: true,
    }
}

pub fn config_for(url: &str) -> Config {
    Config::new(url, USER, PASS)
        .timeout(Duration::from_secs(5))
        .retry(fast_retry())
}

pub fn client_for(url: &str) -> Client {
    Client::new(config_for(url)).expect("client")
}

/// A mock server and a client for it.
pub async fn setup() -> (MockServer, Client) {
    let server = MockServer::start().await;
    let client = client_for(&server.uri());
    (server, client)
}

/// `Authorization: Basic base64(alice:open:sesame)`.
pub fn authed() -> impl Match {
    header("authorization", AUTH)
}

/// The request does not carry header `name`.
pub fn no_header(name: &'static str) -> impl Match {
    move |r: &Request| !r.headers.contains_key(name)
}

/// None of the four `Kafka-*` consumer headers is sent.
pub fn no_kafka_headers() -> impl Match {
    |r: &Request| {
        !r.headers
            .keys()
            .any(|k| k.as_str().to_ascii_lowercase().starts_with("kafka-"))
    }
}

/// The request has no body at all.
pub fn no_body() -> impl Match {
    |r: &Request| r.body.is_empty()
}

/// Header `name` is present exactly once, with `value`.
pub fn only_header(name: &'static str, value: &'static str) -> impl Match {
    move |r: &Request| {
        let all: Vec<_> = r.headers.get_all(name).iter().collect();
        all.len() == 1 && all[0] == value
    }
}
