//! Shared test helpers: an in-process [`TestServer`] and a reqwest client.
#![allow(dead_code)]

use std::net::SocketAddr;

use upkafka::server::{Credentials, RunningServer, Server, ServerConfig, TopicSpec};

/// Installs rustls's ring provider (reqwest is built with `rustls-no-provider`).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client for talking to a [`TestServer`].
pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .build()
        .expect("building the reqwest client")
}

/// The embedded server on `127.0.0.1:<free port>`, in this process; stopped on `Drop`
/// (or explicitly, waiting for the log flush, with [`TestServer::stop`]).
#[derive(Debug)]
pub struct TestServer {
    running: Option<RunningServer>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// Credentials the server requires, if any.
    pub credentials: Option<Credentials>,
}

impl TestServer {
    /// Starts a server with `config`, forcing the bind address to `127.0.0.1:0`.
    pub async fn start(mut config: ServerConfig) -> Self {
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let credentials = config.credentials.clone();
        let server = Server::bind(config).await.expect("binding the test server");
        let running = server.spawn();
        Self {
            url: running.url().to_owned(),
            addr: running.addr(),
            running: Some(running),
            credentials,
        }
    }

    /// A server without auth with these `(name, partitions)` topics, in memory.
    pub async fn with_topics(topics: &[(&str, i32)]) -> Self {
        Self::start(ServerConfig {
            topics: topics.iter().map(|(n, p)| TopicSpec::new(*n, *p)).collect(),
            ..ServerConfig::default()
        })
        .await
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A request builder with the server's credentials (if any) set.
    pub fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let rb = client.request(method, self.at(path));
        match &self.credentials {
            Some(c) => rb.basic_auth(&c.username, Some(c.password.expose())),
            None => rb,
        }
    }

    /// Stops gracefully and waits until the log is flushed.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("test server shut down cleanly");
        }
    }
}

/// JSON request bodies without reqwest's `json` feature.
pub trait JsonBody {
    /// Sets `v` as the JSON body.
    fn json_body(self, v: &serde_json::Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}

/// JSON response bodies without reqwest's `json` feature.
pub trait JsonResponse {
    /// Reads and decodes the body.
    fn json_value<T: serde::de::DeserializeOwned>(
        self,
    ) -> impl std::future::Future<Output = Result<T, String>> + Send;
}

impl JsonResponse for reqwest::Response {
    async fn json_value<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        let bytes = self.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("{e}: {:?}", String::from_utf8_lossy(&bytes)))
    }
}
