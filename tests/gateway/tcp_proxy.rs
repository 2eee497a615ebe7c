//! A fault-injecting TCP proxy between the gateway and the broker (issue 16): it relays bytes
//! both ways and, on command, resets every connection, stalls them (holds every byte while
//! keeping the sockets open), or refuses new connections (its listening port is closed).
//!
//! Refusing does not also reset the open connections: in one of four runs that combination
//! left Tansu 0.6's storage answering `UNKNOWN_SERVER_ERROR` to everything, with none of its
//! records readable (the broker's bug, see RELIABILITY.md), which would fail the suite for the
//! broker's sake. Resets are injected on their own.
//!
//! The broker advertises the proxy's port ([`crate::common::TansuBroker::start_advertising`]),
//! so every connection the gateway's Kafka clients open goes through it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Relay every byte.
    Pass,
    /// Keep every connection open and accept new ones, but forward nothing until the mode
    /// changes (a hung network path or a broker stuck in a pause).
    Stall,
    /// Close the listening port: new connects are refused, open connections go on (a
    /// broker's listener gone while its connections live; resets are [`TcpFaultProxy::reset`]).
    Refuse,
}

/// The running proxy; stopped on drop.
pub struct TcpFaultProxy {
    /// The port the broker advertises.
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Relays of open connections, aborted (their sockets reset) by [`TcpFaultProxy::reset`].
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl TcpFaultProxy {
    /// Binds a free port on 127.0.0.1; nothing is relayed until [`TcpFaultProxy::forward_to`].
    pub async fn bind() -> (Self, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (mode, _) = watch::channel(Mode::Pass);
        let proxy = Self {
            port,
            mode,
            relays: Arc::new(Mutex::new(Vec::new())),
            acceptor: tokio::spawn(async {}),
        };
        (proxy, listener)
    }

    /// Starts relaying connections accepted on `listener` to `upstream`.
    pub fn forward_to(&mut self, listener: TcpListener, upstream: SocketAddr) {
        let mut mode = self.mode.subscribe();
        let relays = Arc::clone(&self.relays);
        let port = self.port;
        self.acceptor = tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                if *mode.borrow_and_update() == Mode::Refuse {
                    listener = None; // the port is closed: connects are refused
                    if mode.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                let l = match listener.take() {
                    Some(l) => l,
                    None => match rebind(port).await {
                        Some(l) => l,
                        None => return,
                    },
                };
                tokio::select! {
                    accepted = l.accept() => {
                        listener = Some(l);
                        let Ok((client, _)) = accepted else { continue };
                        let relay = tokio::spawn(relay(client, upstream, mode.clone()));
                        let mut relays = relays.lock().unwrap_or_else(|p| p.into_inner());
                        relays.retain(|r| !r.is_finished());
                        relays.push(relay);
                    }
                    changed = mode.changed() => {
                        listener = Some(l);
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// Resets every open connection (the next ones are relayed as the mode says).
    pub fn reset(&self) {
        let relays = std::mem::take(&mut *self.relays.lock().unwrap_or_else(|p| p.into_inner()));
        for r in relays {
            r.abort();
        }
    }

    /// Switches the mode.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for TcpFaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.reset();
    }
}

/// Binds `port` again after [`Mode::Refuse`] (retrying briefly while the old socket lingers).
async fn rebind(port: u16) -> Option<TcpListener> {
    for _ in 0..100 {
        let socket = TcpSocket::new_v4().ok()?;
        socket.set_reuseaddr(true).ok()?;
        if socket
            .bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .is_ok()
            && let Ok(l) = socket.listen(128)
        {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Relays one connection until either side closes. Dropped (aborted) mid-way, both sockets
/// close with `SO_LINGER` 0, i.e. a reset.
async fn relay(client: TcpStream, upstream: SocketAddr, mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_zero_linger();
    let _ = server.set_zero_linger();
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        () = pipe(cr, sw, mode.clone()) => {}
        () = pipe(sr, cw, mode) => {}
    }
}

/// Copies `from` to `to`, holding each chunk while the mode is [`Mode::Stall`].
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while *mode.borrow_and_update() == Mode::Stall {
            if mode.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
