//! Shared test helpers: an in-process [`TestServer`] and a reqwest client.
#![allow(dead_code)]

use std::net::SocketAddr;

use upkafka_server::{Credentials, RunningServer, Server, ServerConfig, TopicSpec};

pub mod console;
#[cfg(upkafka_test_schemathesis)]
pub mod fuzz;
pub mod official;

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

/// Which storage a [`TestServer`] serves: the suites that run on both name it once, in their
/// `main.rs`, and pass it to [`TestServer::start_on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded log, in memory (or `config.data_dir`).
    Embedded,
    /// Gateway mode: a fresh Tansu broker for this server alone, and `KafkaBackend` on it.
    Gateway,
}

/// The embedded server on `127.0.0.1:<free port>`, in this process; stopped on `Drop`
/// (or explicitly, waiting for the log flush, with [`TestServer::stop`]).
#[derive(Debug)]
pub struct TestServer {
    running: Option<RunningServer>,
    /// A gateway server's own runtime thread (see [`TestServer::start_gateway_on`]).
    gateway: Option<GatewayThread>,
    /// The broker behind a gateway server (dropped after the server).
    pub broker: Option<std::sync::Arc<TansuBroker>>,
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
            gateway: None,
            broker: None,
            credentials,
        }
    }

    /// Starts a server on `backend`: [`TestServer::start`] or [`TestServer::start_gateway`].
    pub async fn start_on(backend: Backend, config: ServerConfig) -> Self {
        match backend {
            Backend::Embedded => Self::start(config).await,
            Backend::Gateway => Self::start_gateway(config).await,
        }
    }

    /// Starts a gateway server in front of a new [`TansuBroker`]; `config.topics` are created
    /// in the broker.
    #[cfg(feature = "kafka")]
    pub async fn start_gateway(config: ServerConfig) -> Self {
        let broker = std::sync::Arc::new(TansuBroker::start());
        Self::start_gateway_on(config, broker).await
    }

    /// Starts a gateway server in front of `broker` (a second gateway on one cluster, or a
    /// gateway restarted).
    ///
    /// It runs on a runtime of its own, in its own thread, so that dropping the server (at the
    /// end of a test, whatever its runtime) can stop it gracefully and wait, closing its Kafka
    /// clients while the broker still runs. Closing them after the broker is gone blocks for
    /// librdkafka's socket timeout (a minute) on the final commit.
    #[cfg(feature = "kafka")]
    pub async fn start_gateway_on(
        mut config: ServerConfig,
        broker: std::sync::Arc<TansuBroker>,
    ) -> Self {
        use upkafka_server::kafka::KafkaBackend;
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let credentials = config.credentials.clone();
        let options = broker.options(&config);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the gateway");
            rt.block_on(async move {
                let started = async {
                    let backend = KafkaBackend::connect(options)
                        .await
                        .map_err(|e| format!("connecting the gateway to the test broker: {e}"))?;
                    Server::bind_with_backend(config, std::sync::Arc::new(backend))
                        .await
                        .map_err(|e| format!("binding the gateway test server: {e}"))
                };
                match started.await {
                    Ok(server) => {
                        let running = server.spawn();
                        let _ = ready_tx.send(Ok((running.url().to_owned(), running.addr())));
                        let _ = stop_rx.await;
                        running.shutdown().await.map_err(|e| e.to_string())
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.clone()));
                        Err(e)
                    }
                }
            })
        });
        let (url, addr) = match ready_rx.await {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("the gateway thread died while starting"),
        };
        Self {
            url,
            addr,
            running: None,
            gateway: Some(GatewayThread {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            broker: Some(broker),
            credentials,
        }
    }

    #[cfg(not(feature = "kafka"))]
    pub async fn start_gateway(_config: ServerConfig) -> Self {
        panic!("the gateway suite needs the `kafka` feature")
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
        if let Some(g) = self.gateway.take() {
            let result = tokio::task::spawn_blocking(move || g.stop())
                .await
                .expect("stopping the gateway");
            result.expect("gateway test server shut down cleanly");
        }
    }
}

/// The thread a gateway [`TestServer`] runs in; stopping it waits for a graceful shutdown.
#[derive(Debug)]
struct GatewayThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl GatewayThread {
    fn stop(mut self) -> Result<(), String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| "the gateway thread panicked".to_owned())?,
            None => Ok(()),
        }
    }
}

impl Drop for GatewayThread {
    fn drop(&mut self) {
        let _ = self.finish();
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

/// A server a test forgot, or that a failing assertion left behind, must not outlive the test:
/// an orphan keeps its port, its data directory and any descriptor it inherited.
impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `upkafka serve --no-auth` on a free loopback port with `args` and `--data-dir dir` (the
/// environment's credentials removed), started by [`spawn_serve`]: the server the restart
/// and kill tests stop and start again on one directory.
pub fn serve_durable(dir: &std::path::Path, args: &[&str]) -> ServeProcess {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_upkafka"));
    cmd.args(["serve", "--no-auth", "--bind", "127.0.0.1:0"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("UPSTASH_KAFKA_REST_USERNAME")
        .env_remove("UPSTASH_KAFKA_REST_PASSWORD");
    spawn_serve(cmd)
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

/// The Tansu binary the gateway suites use: `UPKAFKA_TEST_TANSU` (set by `.ci/run`, which
/// installs Tansu under `$HOME/.cache/upkafka/tansu`).
pub fn tansu_binary() -> Option<std::path::PathBuf> {
    std::env::var_os("UPKAFKA_TEST_TANSU")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}

/// A Tansu broker (Kafka protocol) on `127.0.0.1:<free port>` with its SQLite storage in a
/// temporary directory, started for one test and killed (by PID) when dropped: every test
/// gets an empty cluster, as every embedded test gets an empty server.
///
/// Tansu is built with its `libsql` storage, not the in-memory object store: the latter
/// answers `ListOffsets latest` with the last batch's base offset + 1 and cannot fetch from
/// an offset inside a batch, so any batch of more than one record breaks both (seen with
/// Tansu 0.6.0).
#[derive(Debug)]
pub struct TansuBroker {
    /// The broker process.
    child: std::sync::Mutex<std::process::Child>,
    /// `127.0.0.1:PORT` that clients are given: the advertised listener (the broker's own,
    /// or a proxy in front of it, see [`TansuBroker::start_advertising`]).
    pub bootstrap: String,
    /// `127.0.0.1:PORT` where the broker itself listens.
    pub listen: String,
    /// The storage directory, kept for [`TansuBroker::start_again`].
    dir: tempfile::TempDir,
}

/// Starts Tansu on `port` with its storage in `dir`, telling clients to connect to
/// `advertised`.
fn spawn_tansu(
    bin: &std::path::Path,
    dir: &std::path::Path,
    port: u16,
    advertised: u16,
) -> std::process::Child {
    use std::process::{Command, Stdio};
    let url = format!("tcp://127.0.0.1:{port}");
    let advertised = format!("tcp://127.0.0.1:{advertised}");
    let mut command = Command::new(bin);
    command
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
        ])
        // Relative to the working directory: the temporary one.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir)
        .env_remove("CLUSTER_ID")
        .env_remove("STORAGE_ENGINE")
        .stdin(Stdio::null());
    // To see what the broker did: `UPKAFKA_TEST_TANSU_LOG=FILE` appends its log (at
    // `RUST_LOG`'s level) to FILE; otherwise it is silent.
    match std::env::var_os("UPKAFKA_TEST_TANSU_LOG").and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    }) {
        Some(log) => {
            let out = log.try_clone().map_or_else(|_| Stdio::null(), Stdio::from);
            command.stdout(out).stderr(log);
        }
        None => {
            command
                .arg("--silent")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()))
}

/// The port of a `127.0.0.1:PORT` address.
fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a 127.0.0.1:PORT address")
}

/// Waits until `child` accepts connections on `bootstrap`; false if it exited or 30 s passed.
fn wait_listening(child: &mut std::process::Child, bootstrap: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // exited: the port was taken meanwhile
        }
        if std::net::TcpStream::connect(bootstrap).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

impl TansuBroker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a broker that tells its clients (in its metadata answers) to connect to
    /// `127.0.0.1:advertised` instead of its own port: a proxy listening there sees all of
    /// their traffic, not only the bootstrap connection.
    pub fn start_advertising(advertised: u16) -> Self {
        Self::start_with(Some(advertised))
    }

    fn start_with(advertised: Option<u16>) -> Self {
        let bin = tansu_binary().expect(
            "UPKAFKA_TEST_TANSU is not set: the gateway suite needs a Tansu binary (.ci/run installs one)",
        );
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("a temporary directory for the broker");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = spawn_tansu(&bin, dir.path(), port, advertised.unwrap_or(port));
            let listen = format!("127.0.0.1:{port}");
            if wait_listening(&mut child, &listen) {
                return Self {
                    child: std::sync::Mutex::new(child),
                    bootstrap: format!("127.0.0.1:{}", advertised.unwrap_or(port)),
                    listen,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("Tansu did not start listening (tried 5 ports)");
    }

    /// Kills the broker (`kill -9`): an outage as clients see it.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the broker again after [`TansuBroker::stop`], on the same storage, port and
    /// advertised listener, and waits until it accepts connections: with `stop`, a broker
    /// restart as clients see it.
    ///
    /// # Panics
    /// If the broker does not listen again within 30 s (its port was taken meanwhile).
    pub fn start_again(&self) {
        let bin = tansu_binary().expect("UPKAFKA_TEST_TANSU is set: the broker started once");
        let port = port_of(&self.listen);
        let advertised = port_of(&self.bootstrap);
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        *child = spawn_tansu(&bin, self.dir.path(), port, advertised);
        assert!(
            wait_listening(&mut child, &self.listen),
            "Tansu did not listen on {} again",
            self.listen
        );
    }

    /// Gateway options for this broker with the topics and limits of `config`, as
    /// `upkafka serve --kafka` derives them.
    #[cfg(feature = "kafka")]
    pub fn options(&self, config: &ServerConfig) -> upkafka_server::kafka::KafkaOptions {
        upkafka_server::kafka::KafkaOptions::for_server(self.settings(), config)
    }

    /// Gateway settings for this broker. Tansu answers a fetch only when its wait is up,
    /// even with data there, so the consumers' broker-side wait is kept short.
    pub fn settings(&self) -> upkafka_server::kafka::KafkaSettings {
        upkafka_server::kafka::KafkaSettings::new(self.bootstrap.clone())
            .with("fetch.wait.max.ms", "50")
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
