//! One embedded server with credentials and a client for it.

use std::time::Duration;

use upkafka_client::{Client, Config, RetryPolicy};
use upkafka_protocol::{AutoOffsetReset, ConsumerConfig, FetchRequest, Message, ProduceMetadata};
pub use upkafka_server::ServerConfig;
use upkafka_server::{Credentials, Limits, TopicSpec};

use crate::common::TestServer;

pub const USER: &str = "contract-user";
/// Contains `:`: Basic auth splits at the first colon only.
pub const PASS: &str = "s3cret:pass-word";

/// A running server and a client with the right credentials.
pub struct Env {
    pub server: TestServer,
    pub client: Client,
}

/// Server config with credentials and these topics.
pub fn config(topics: &[(&str, i32)]) -> ServerConfig {
    ServerConfig {
        credentials: Some(Credentials::new(USER, PASS)),
        topics: topics.iter().map(|(n, p)| TopicSpec::new(*n, *p)).collect(),
        housekeeping_interval: Duration::from_millis(20),
        ..ServerConfig::default()
    }
}

/// A client for `url` as `user`/`pass`, no retries (every failure shows at once).
pub fn client_as(url: &str, user: &str, pass: &str) -> Client {
    Client::new(
        Config::new(url, user, pass)
            .timeout(request_timeout())
            .retry(RetryPolicy::none()),
    )
    .expect("building the client")
}

impl Env {
    pub async fn start(topics: &[(&str, i32)]) -> Self {
        Self::with_config(config(topics)).await
    }

    pub async fn with_limits(topics: &[(&str, i32)], limits: Limits) -> Self {
        Self::with_config(ServerConfig {
            limits,
            ..config(topics)
        })
        .await
    }

    pub async fn with_config(config: ServerConfig) -> Self {
        let server = TestServer::start_on(crate::BACKEND, config).await;
        let client = client_as(&server.url, USER, PASS);
        Self { server, client }
    }

    /// Everything in `topic/partition` from `offset` on (short wait: the embedded log answers
    /// at once, a Kafka broker's first fetch of a partition can take a few hundred ms; the
    /// wait ends as soon as data is there).
    pub async fn read(&self, topic: &str, partition: i32, offset: i64) -> Vec<Message> {
        let req = FetchRequest {
            timeout: Some(read_wait_ms()),
            ..FetchRequest::new(topic, partition, offset)
        };
        self.client.fetch(&req).await.expect("fetch")
    }

    /// The single message at `meta`.
    pub async fn read_at(&self, meta: &ProduceMetadata) -> Message {
        let msgs = self.read(&meta.topic, meta.partition, meta.offset).await;
        let m = msgs.into_iter().next().expect("the produced message");
        assert_eq!(
            (m.topic.as_str(), m.partition, m.offset),
            (meta.topic.as_str(), meta.partition, meta.offset)
        );
        m
    }
}

/// The client's request timeout: a consume that creates an instance on Kafka waits for the
/// group join, which brokers delay by a few seconds (Kafka's `group.initial.rebalance.delay.ms`,
/// Tansu's 3 s pauses for static members in JoinGroup and SyncGroup).
pub fn request_timeout() -> Duration {
    match crate::BACKEND {
        crate::common::Backend::Embedded => Duration::from_secs(5),
        crate::common::Backend::Gateway => Duration::from_secs(40),
    }
}

/// How long [`Env::read`] waits for data on `crate::BACKEND`.
pub fn read_wait_ms() -> u64 {
    match crate::BACKEND {
        crate::common::Backend::Embedded => 100,
        crate::common::Backend::Gateway => 3_000,
    }
}

/// Manual-commit settings starting at `reset`.
pub fn manual(reset: AutoOffsetReset) -> ConsumerConfig {
    ConsumerConfig {
        auto_commit: Some(false),
        auto_offset_reset: Some(reset),
        ..ConsumerConfig::default()
    }
}

/// Values of `msgs` in order.
pub fn values(msgs: &[Message]) -> Vec<&str> {
    msgs.iter().map(|m| m.value.as_str()).collect()
}
