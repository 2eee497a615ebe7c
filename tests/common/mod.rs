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

/// `upkafka serve` running as a child process.
#[derive(Debug)]
pub struct ServeProcess {
    /// The process (SIGKILL it with `child.kill()`).
    pub child: std::process::Child,
    /// The URL from its `upkafka: listening on <URL>` line.
    pub url: String,
    /// Every stderr line so far (the reader thread keeps appending).
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ServeProcess {
    /// Waits for the process to exit (signal it first) and returns all of its stderr.
    pub fn finish(mut self) -> String {
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lines = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        lines.join("\n")
    }
}

/// Spawns `cmd` (an `upkafka serve …` command; stdout and stderr are set here) and waits up to
/// 20 s for its "listening on" line.
pub fn spawn_serve(mut cmd: std::process::Command) -> ServeProcess {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning upkafka serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let lines: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let keep = std::sync::Arc::clone(&lines);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("upkafka: listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.trim().to_owned());
            }
            keep.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the server printed its URL");
    ServeProcess {
        child,
        url,
        stderr: lines,
        reader: Some(reader),
    }
}
