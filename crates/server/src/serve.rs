//! Binding and serving: [`Server`] (bind, learn the address, run until shutdown) and
//! [`RunningServer`] (a server spawned in-process, for tests and demos).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::backend::Backend;
use super::config::ServerConfig;
use super::embedded::{EmbeddedBackend, EmbeddedOptions};
use super::error::BackendError;
use super::log::LogOptions;
use super::routes::{AppState, router, service};
use super::stack::ApiService;

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

/// Accepts a TCP connection only while fewer than `max_connections` are open (others are
/// closed at once), and turns off Nagle's algorithm for low request latency.
#[derive(Debug, Clone)]
struct LimitAcceptor {
    permits: Arc<Semaphore>,
}

impl<S> Accept<TcpStream, S> for LimitAcceptor {
    type Stream = LimitedStream;
    type Service = S;
    type Future = std::future::Ready<io::Result<(LimitedStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let result = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => {
                let _ = stream.set_nodelay(true);
                Ok((
                    LimitedStream {
                        inner: stream,
                        _permit: permit,
                    },
                    service,
                ))
            }
            Err(_) => {
                tracing::warn!("connection limit reached; closing a new connection");
                Err(io::Error::other("connection limit reached"))
            }
        };
        std::future::ready(result)
    }
}

/// A TCP stream that holds one connection permit until it is closed.
#[derive(Debug)]
struct LimitedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    config: ServerConfig,
    backend: Arc<dyn Backend>,
    tls: Option<RustlsConfig>,
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
        max_message_bytes: config.limits.max_message_bytes,
        max_poll_records: config.limits.max_poll_records.max(1),
        max_poll_bytes: config.limits.max_poll_bytes.max(1),
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
        let (listener, addr, tls) = Self::listen(&config).await?;
        let backend: Arc<dyn Backend> =
            Arc::new(EmbeddedBackend::open(embedded_options(&config)).await?);
        Ok(Self {
            listener,
            addr,
            config,
            backend,
            tls,
        })
    }

    /// Like [`Server::bind`], but serves `backend` (e.g. a gateway to a real Kafka cluster)
    /// instead of opening the embedded log; `config.topics`, `data_dir` and
    /// `auto_create_topics` are then the backend's business.
    pub async fn bind_with_backend(
        config: ServerConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, ServeError> {
        let (listener, addr, tls) = Self::listen(&config).await?;
        Ok(Self {
            listener,
            addr,
            config,
            backend,
            tls,
        })
    }

    /// Validates the config, loads TLS material and binds the socket.
    async fn listen(
        config: &ServerConfig,
    ) -> Result<(std::net::TcpListener, SocketAddr, Option<RustlsConfig>), ServeError> {
        config.validate().map_err(ServeError::Config)?;
        let tls = match &config.tls {
            None => None,
            Some(paths) => {
                // ring, never aws-lc; a second install (tests) is harmless.
                let _ = rustls::crypto::ring::default_provider().install_default();
                Some(
                    RustlsConfig::from_pem_file(&paths.cert, &paths.key)
                        .await
                        .map_err(|e| {
                            ServeError::Tls(format!(
                                "loading {} / {}: {e}",
                                paths.cert.display(),
                                paths.key.display()
                            ))
                        })?,
                )
            }
        };
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|source| ServeError::Bind {
                addr: config.bind,
                source,
            })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok((listener, addr, tls))
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
        let state = AppState::new(Arc::clone(&self.backend), &self.config);
        let grace = self.config.limits.shutdown_grace;
        let header_timeout = self.config.limits.header_read_timeout;
        let permits = Arc::new(Semaphore::new(self.config.limits.max_connections.max(1)));
        let served = match self.tls {
            // Plain HTTP: HTTP/1.1 on hyper's http1 connection, driven by our own accept loop.
            None => {
                let listener = tokio::net::TcpListener::from_std(self.listener)?;
                serve_http1(
                    listener,
                    service(state),
                    header_timeout,
                    permits,
                    shutdown,
                    grace,
                )
                .await
            }
            // TLS: axum-server with rustls (ALPN offers HTTP/2 and HTTP/1.1).
            Some(tls) => {
                let app = router(state).into_make_service();
                let handle = axum_server::Handle::new();
                let trigger = handle.clone();
                let watcher = tokio::spawn(async move {
                    shutdown.await;
                    tracing::info!("shutting down: finishing in-flight requests");
                    trigger.graceful_shutdown(Some(grace));
                });
                let limit = LimitAcceptor { permits };
                let mut s = axum_server::from_tcp(self.listener)?
                    .acceptor(RustlsAcceptor::new(tls).acceptor(limit))
                    .handle(handle);
                s.http_builder()
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout);
                let served = s.serve(app).await;
                watcher.abort();
                served.map_err(ServeError::from)
            }
        };
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

/// Accepts plain TCP connections and serves each with hyper's HTTP/1.1 connection (keep-alive,
/// `header_timeout` for the request head, TCP_NODELAY) until `shutdown` resolves. Connections
/// beyond the `permits` are closed at once. On shutdown the listener is closed, every
/// connection finishes its in-flight request and closes, and connections still open after
/// `grace` are dropped.
async fn serve_http1(
    listener: tokio::net::TcpListener,
    app: ApiService,
    header_timeout: Duration,
    permits: Arc<Semaphore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let http = Arc::new(http);
    // One stop signal per connection, dropped (which fires it) at shutdown. Not one shared
    // watch/Notify: a connection task polls its signal on every wake-up, and a shared Notify
    // takes its lock on each of those polls, from every worker thread.
    let mut stops: Vec<oneshot::Sender<()>> = Vec::new();
    let mut prune_at = 64;
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished connection tasks so the set stays as small as the open connections.
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
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
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!("connection limit reached; closing a new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let http = Arc::clone(&http);
        let app = app.clone();
        if stops.len() >= prune_at {
            stops.retain(|s| !s.is_closed());
            prune_at = (stops.len() * 2).max(64);
        }
        let (stop_tx, mut stop) = oneshot::channel::<()>();
        stops.push(stop_tx);
        connections.spawn(async move {
            let conn = http.serve_connection(TokioIo::new(stream), app);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                biased;
                _ = conn.as_mut() => {}
                _ = &mut stop => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    // Stop accepting (new connections are refused), then let every connection finish.
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    drop(stops);
    let drained = tokio::time::timeout(grace, async {
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
