//! Binding and serving: [`Server`] (bind, learn the address, run until shutdown) and
//! [`RunningServer`] (a server spawned in-process, for tests and demos).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::app::service;
use super::backend::Backend;
use super::config::{Limits, ServerConfig, TlsPaths};
use super::connections::{Connection, ConnectionTable, EVICTION_GRACE, Leave, Refusal, Watched};
use super::embedded::{EmbeddedBackend, EmbeddedOptions};
use super::error::BackendError;
use super::log::LogOptions;
use super::pipeline::ApiService;
use super::state::AppState;
use super::tenancy::Tenancy;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is not acceptable (e.g. no auth on a public address).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Certificate or key could not be loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Opening or closing the storage failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The accept loop failed.
    #[error("server I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A bound, not yet running server.
pub struct Server {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    config: ServerConfig,
    backend: Arc<dyn Backend>,
    tls: Option<TlsAcceptor>,
    tenancy: Arc<Tenancy>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`Server::listen`] prepares before a backend is opened.
struct Bound {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    tenancy: Arc<Tenancy>,
}

/// The [`EmbeddedOptions`] a [`ServerConfig`] describes.
pub fn embedded_options(config: &ServerConfig) -> EmbeddedOptions {
    EmbeddedOptions {
        log: LogOptions {
            data_dir: config.data_dir.clone(),
            ..LogOptions::default()
        },
        topics: config.topics.clone(),
        auto_create_topics: config.auto_create_topics,
        limits: config.limits.clone(),
        housekeeping_interval: config.housekeeping_interval,
        ..EmbeddedOptions::default()
    }
}

impl Server {
    /// Validates the config, loads TLS material, binds the socket and opens the embedded log
    /// (recovering the data directory). Bind to port 0 and read [`Server::local_addr`] to get
    /// a free port.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServeError> {
        // Socket first: a second server on the same port fails before it touches (and
        // recovers, i.e. possibly truncates) the data directory of the first one.
        let bound = Self::listen(&config).await?;
        let backend: Arc<dyn Backend> =
            Arc::new(EmbeddedBackend::open(embedded_options(&config)).await?);
        Ok(Self::assemble(bound, config, backend))
    }

    /// Like [`Server::bind`], but serves `backend` (e.g. a gateway to a real Kafka cluster)
    /// instead of opening the embedded log; `config.topics`, `data_dir` and
    /// `auto_create_topics` are then the backend's business.
    pub async fn bind_with_backend(
        config: ServerConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, ServeError> {
        let bound = Self::listen(&config).await?;
        Ok(Self::assemble(bound, config, backend))
    }

    /// The server of what [`Server::listen`] prepared, `config` and `backend`.
    fn assemble(bound: Bound, config: ServerConfig, backend: Arc<dyn Backend>) -> Self {
        let Bound {
            listener,
            addr,
            tls,
            tenancy,
        } = bound;
        Self {
            listener,
            addr,
            config,
            backend,
            tls,
            tenancy,
        }
    }

    /// Validates the config, loads the credentials and the TLS material, and binds the
    /// socket: everything that can fail before a backend is opened (and a data directory
    /// recovered).
    async fn listen(config: &ServerConfig) -> Result<Bound, ServeError> {
        config.validate().map_err(ServeError::Config)?;
        let tenancy = Arc::new(Tenancy::open(config).map_err(ServeError::Config)?);
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|source| ServeError::Bind {
                addr: config.bind,
                source,
            })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok(Bound {
            listener,
            addr,
            tls,
            tenancy,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use (`http://` or `https://` + address).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (up to the configured grace period), and flushes and fsyncs the log.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = AppState::with_tenancy(Arc::clone(&self.backend), &self.config, self.tenancy);
        // Open event streams end first, so that their connections can finish gracefully.
        let streams = state.clone();
        let shutdown = async move {
            shutdown.await;
            streams.end_streams();
        };
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let served = serve_connections(
            listener,
            service(state),
            self.tls,
            &self.config.limits,
            shutdown,
        )
        .await;
        let closed = self.backend.close().await;
        served?;
        closed?;
        tracing::info!("server stopped; log flushed");
        Ok(())
    }

    /// Runs the server on a background task; the handle knows the address and stops it.
    pub fn spawn(self) -> RunningServer {
        let addr = self.addr;
        let url = self.url();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = rx.await;
        }));
        RunningServer {
            addr,
            url,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

/// The TLS acceptor for `paths`: certificate chain and private key from PEM files, ALPN
/// offering HTTP/2 and HTTP/1.1, the ring provider (never aws-lc's C build).
fn tls_acceptor(paths: &TlsPaths) -> Result<TlsAcceptor, ServeError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let loading = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        ServeError::Tls(format!("loading the {what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(&paths.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| loading("certificate", &paths.cert, &e))?;
    if certs.is_empty() {
        return Err(loading("certificate", &paths.cert, &"no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(&paths.key)
        .map_err(|e| loading("private key", &paths.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| {
            ServeError::Tls(format!(
                "{} / {}: {e}",
                paths.cert.display(),
                paths.key.display()
            ))
        })?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(tls)))
}

/// The HTTP/2 client connection preface (RFC 9113 §3.4): a plain-TCP client that starts with
/// it speaks HTTP/2 with prior knowledge (h2c); anything else is HTTP/1.1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The HTTP settings every connection is served with, plain or TLS: hyper's HTTP/1.1 and
/// HTTP/2 connection builders. The protocol of a connection is known before it is served
/// (ALPN, or the HTTP/2 preface), so no connection pays for protocol detection.
struct Http {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Http {
    /// On HTTP/2 `header_timeout` is the keep-alive ping interval and its answer timeout, so
    /// a silent peer is dropped. On HTTP/1 the wait for a request head is not hyper's to keep
    /// (its header read timeout is off): [`Connection::watch_idle`] closes a connection that
    /// idles past its deadline, for a fraction of the cost per request.
    fn new(header_timeout: Duration) -> Self {
        let mut http1 = http1::Builder::new();
        http1.header_read_timeout(None);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(header_timeout)
            .keep_alive_timeout(header_timeout);
        Self { http1, http2 }
    }
}

/// Whether a plain-TCP client speaks HTTP/2: peeks (without consuming) until its first bytes
/// either leave the HTTP/2 preface or complete it. `None` when the connection closed first.
async fn speaks_h2c(stream: &TcpStream) -> io::Result<Option<bool>> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Some(false));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some(true));
        }
        // A prefix of the preface so far: wait for more (peek returns at once otherwise).
        stream.readable().await?;
    }
}

/// The answer to a plain-HTTP connection refused over a limit: a complete HTTP/1.1 503 with
/// the `{error, status}` body, written without waiting (a fresh socket's send buffer is empty)
/// before the connection is closed.
fn refusal_response(refusal: Refusal) -> Vec<u8> {
    let body = serde_json::to_string(&upkafka_protocol::ErrorBody::new(503, refusal.message()))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Accepts connections and serves each, plain or TLS, on one path: the connection table's
/// caps (in total and per address, idle unproven connections giving way; see
/// [`crate::connections`]), TCP_NODELAY, the TLS handshake and the first byte within the head
/// deadline (which tightens as the table fills), HTTP/1.1 or HTTP/2 on both (ALPN over TLS,
/// prior knowledge over plain TCP), until `shutdown` resolves. Then the listener is closed,
/// every connection finishes its in-flight requests and closes, and connections still open
/// after `shutdown_grace` are dropped.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: ApiService,
    tls: Option<TlsAcceptor>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let header_timeout = limits.header_read_timeout;
    let table = ConnectionTable::new(limits.max_connections, limits.max_connections_per_address);
    let http = Arc::new(Http::new(header_timeout));
    // The connections to stop at shutdown, each through its own [`Leave`] signal. Not one
    // shared watch/Notify: a connection task polls its signal on every wake-up, and a shared
    // Notify takes its lock on each of those polls, from every worker thread.
    let mut open: Vec<Weak<Connection>> = Vec::new();
    let mut prune_at = 64;
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished connection tasks so the set stays as small as the open connections.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Per-connection failures (reset before accept) and resource exhaustion
                // (EMFILE): keep serving, after a short pause in the latter case.
                tracing::debug!(error = %e, "accept failed");
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
        };
        let slot = match table.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                // Once, then every 1000th: a flood must not flood the log too.
                if refused.is_multiple_of(1000) {
                    tracing::warn!(peer = %peer.ip(), refused = refused + 1, "{}", refusal.message());
                }
                refused += 1;
                if tls.is_none() {
                    let _ = stream.try_write(&refusal_response(refusal));
                }
                continue;
            }
        };
        let deadline = table.head_deadline(header_timeout);
        let _ = stream.set_nodelay(true);
        if open.len() >= prune_at {
            open.retain(|c| c.strong_count() > 0);
            prune_at = (open.len() * 2).max(64);
        }
        open.push(Arc::downgrade(slot.connection()));
        let http = Arc::clone(&http);
        let app = app.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let mut slot = slot;
            let conn = Arc::clone(slot.connection());
            let Some(leave) = slot.take_leave() else {
                return;
            };
            let app = app.for_connection(Arc::clone(&conn));
            let mut served = Served {
                http: &http,
                deadline,
                conn: &conn,
                leave,
            };
            // A request to leave (given way, the server stopping) before the first byte or
            // the TLS handshake closes the connection: nothing of a request has come. The
            // first byte is looked at first, so that a request whose arrival the runtime has
            // seen when the signal comes is answered (the signal stays pending for
            // `until_stopped`). One still unseen in the socket is closed on, as hyper closes
            // an idle keep-alive connection at shutdown: the race every HTTP server has, which
            // clients answer by retrying on a fresh connection.
            let first = tokio::select! {
                biased;
                first = tokio::time::timeout(deadline, accept(stream, tls)) => first,
                _ = &mut served.leave => return,
            };
            match first {
                Ok(Ok(Some(Accepted::Plain(stream, h2)))) => served.serve(h2, stream, app).await,
                Ok(Ok(Some(Accepted::Tls(stream)))) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    served.serve(h2, stream, app).await;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "connection failed before a request"),
                Err(_) => tracing::debug!("no first byte or handshake in time"),
            }
            drop(slot);
        });
    }
    // Stop accepting (new connections are refused), then let every connection finish.
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    for conn in open.iter().filter_map(Weak::upgrade) {
        conn.shut_down();
    }
    drop(open);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "grace period over; closing the remaining connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// A connection ready to be served: plain TCP (HTTP/2 when the flag says so) or TLS.
enum Accepted {
    Plain(TcpStream, bool),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The first step of a connection: the TLS handshake, or the first bytes of plain TCP (which
/// tell HTTP/2 from HTTP/1.1). `None` when the client closed first.
async fn accept(stream: TcpStream, tls: Option<TlsAcceptor>) -> io::Result<Option<Accepted>> {
    match tls {
        None => Ok(speaks_h2c(&stream)
            .await?
            .map(|h2| Accepted::Plain(stream, h2))),
        Some(tls) => tls
            .accept(stream)
            .await
            .map(|s| Some(Accepted::Tls(Box::new(s)))),
    }
}

/// What serving one connection needs.
struct Served<'a> {
    http: &'a Http,
    /// This connection's head deadline (tighter than `header_timeout` when the server is
    /// nearly full).
    deadline: Duration,
    conn: &'a Arc<Connection>,
    /// The server's, the table's and the idle watcher's requests to end ([`Leave`]).
    leave: oneshot::Receiver<Leave>,
}

impl Served<'_> {
    /// Serves the connection (HTTP/2 when `h2`) until it closes, the server stops or the table
    /// asks it to give way; then it finishes its in-flight requests (HTTP/1: the current one;
    /// HTTP/2: GOAWAY, open streams) and closes; a connection that gave way gets
    /// [`EVICTION_GRACE`] for that.
    async fn serve<I>(self, h2: bool, io: I, app: ApiService)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.conn.sent_bytes();
        if h2 {
            let conn = self.http.http2.serve_connection(TokioIo::new(io), app);
            until_stopped(conn, self.leave, |c| c.graceful_shutdown()).await;
        } else {
            tokio::spawn(Arc::clone(self.conn).watch_idle(self.deadline));
            let io = TokioIo::new(Watched::new(io, Arc::clone(self.conn)));
            let conn = self.http.http1.serve_connection(io, app);
            until_stopped(conn, self.leave, |c| c.graceful_shutdown()).await;
        }
    }
}

/// Drives `conn` to its end; when `leave` says [`Leave::Shutdown`] first, starts its graceful
/// shutdown and drives it to its end (the server's shutdown grace bounds that); when it says
/// [`Leave::Evicted`], the same within [`EVICTION_GRACE`]; when it says [`Leave::Idle`] (the
/// connection idled past its deadline, so no request is in flight), drops it, which closes it.
async fn until_stopped<C: Future>(
    conn: C,
    leave: oneshot::Receiver<Leave>,
    graceful_shutdown: impl FnOnce(std::pin::Pin<&mut C>),
) {
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        biased;
        _ = conn.as_mut() => {}
        why = leave => match why {
            Ok(Leave::Shutdown) => {
                graceful_shutdown(conn.as_mut());
                let _ = conn.await;
            }
            Ok(Leave::Evicted) => {
                graceful_shutdown(conn.as_mut());
                let _ = tokio::time::timeout(EVICTION_GRACE, conn).await;
            }
            Ok(Leave::Idle) => tracing::debug!("no request head in time; connection closed"),
            // Never sent and dropped while the connection lives; if it were, serve on.
            Err(_) => {
                let _ = conn.await;
            }
        },
    }
}

/// A server running in this process. Dropping it triggers shutdown without waiting;
/// [`RunningServer::shutdown`] waits until the log is flushed.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| ServeError::Backend(BackendError::Internal(e.to_string())))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds and serves `config` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
