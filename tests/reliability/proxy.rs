//! A fault-injecting HTTP/1.1 proxy in front of a [`TestServer`](crate::common::TestServer).
//!
//! One request per connection (answers carry `Connection: close`). For each request the
//! script chooses a [`Fault`] from the request's index and its request line; the proxy records
//! what it did, so tests can report the faults they injected and check client behaviour
//! (e.g. that a `Retry-After` was waited for).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward and relay the answer.
    Pass,
    /// Answer this status (`{error,status}` body) without forwarding.
    Status(u16),
    /// Answer 429 with `Retry-After: secs` without forwarding.
    TooMany { retry_after_secs: u64 },
    /// Reset the connection (RST) without forwarding: nothing was stored.
    ResetBefore,
    /// Forward (the server stores the batch), then reset instead of answering: the answer is lost.
    ResetAfter,
    /// Forward, then hold the connection open without answering for this long, then close.
    StallAfter(Duration),
    /// Hold the request without forwarding for this long, then close.
    StallBefore(Duration),
    /// Forward, then send the answer's headers and only half its body, then close.
    TruncateAfter,
    /// Forward, then run the kill hook (`kill -9` of the server and a restart, see
    /// [`Proxy::on_kill`]) before the client's connection is reset: the answer is lost with
    /// the server, and the retry reaches the restarted one.
    KillAfter,
}

impl Fault {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Status(500) => "http_500",
            Fault::Status(502) => "http_502",
            Fault::Status(503) => "http_503",
            Fault::Status(_) => "http_other",
            Fault::TooMany { .. } => "http_429_retry_after",
            Fault::ResetBefore => "reset_before_forward",
            Fault::ResetAfter => "reset_after_forward",
            Fault::StallAfter(_) => "stall_after_forward",
            Fault::StallBefore(_) => "stall_before_forward",
            Fault::TruncateAfter => "truncated_body",
            Fault::KillAfter => "kill_9_after_forward",
        }
    }

    /// Whether the server saw (and may have stored) the request.
    pub fn forwarded(&self) -> bool {
        matches!(
            self,
            Fault::Pass
                | Fault::ResetAfter
                | Fault::StallAfter(_)
                | Fault::TruncateAfter
                | Fault::KillAfter
        )
    }
}

/// The fault script: request index (0-based, in arrival order) and request line → fault.
pub type Script = Box<dyn FnMut(usize, &str) -> Fault + Send>;

/// One handled request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// The request line, e.g. `POST /produce/t HTTP/1.1`.
    #[allow(dead_code)]
    pub line: String,
    pub fault: Fault,
    /// Records in the body: the length of a JSON array, else 1 (0 without a body).
    pub records: usize,
}

/// Kills the server and starts it again; answers the new server's address.
pub type KillHook = Box<dyn FnMut() -> SocketAddr + Send>;

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
}

/// Where requests go, and what [`Fault::KillAfter`] runs.
struct Upstream {
    addr: Mutex<SocketAddr>,
    kill: Arc<Mutex<Option<KillHook>>>,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    upstream: Arc<Upstream>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: SocketAddr, script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state: Arc<Mutex<State>> = Arc::default();
        let script = Arc::new(Mutex::new(script));
        let st = Arc::clone(&state);
        let upstream = Arc::new(Upstream {
            addr: Mutex::new(upstream),
            kill: Arc::default(),
        });
        let up = Arc::clone(&upstream);
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let st = Arc::clone(&st);
                let script = Arc::clone(&script);
                let up = Arc::clone(&up);
                tokio::spawn(async move {
                    let _ = handle(conn, up, st, script).await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            state,
            upstream,
            task,
        }
    }

    /// What [`Fault::KillAfter`] runs (on a blocking thread): kill the server, start it again,
    /// and answer its address, which the proxy forwards to from then on.
    pub fn on_kill(&self, hook: KillHook) {
        *self.upstream.kill.lock().expect("lock") = Some(hook);
    }

    /// Every request handled so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    /// Injected faults by name (without `pass`), and the number of requests.
    pub fn tally(&self) -> (usize, BTreeMap<&'static str, usize>) {
        let seen = self.seen();
        let mut by = BTreeMap::new();
        for s in &seen {
            if s.fault != Fault::Pass {
                *by.entry(s.fault.name()).or_insert(0) += 1;
            }
        }
        (seen.len(), by)
    }
}

/// Reads one request: head (up to the blank line) and a `Content-Length` body.
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "the proxy handles Content-Length bodies only"
    );
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

/// The request head with `Connection: close` instead of any connection header.
fn close_head(head: &str) -> String {
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

async fn forward(upstream: SocketAddr, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(close_head(head).as_bytes()).await?;
    up.write_all(body).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    Ok(answer)
}

fn canned(status: u16, retry_after: Option<u64>) -> Vec<u8> {
    let body = format!(r#"{{"error":"injected fault","status":{status}}}"#);
    let reason = match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let ra = retry_after
        .map(|s| format!("Retry-After: {s}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{ra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn count_records(body: &[u8]) -> usize {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(a)) => a.len(),
        Ok(_) => 1,
        Err(_) => 0,
    }
}

fn reset(conn: TcpStream) {
    let _ = conn.set_zero_linger();
    drop(conn);
}

async fn handle(
    mut conn: TcpStream,
    up: Arc<Upstream>,
    state: Arc<Mutex<State>>,
    script: Arc<Mutex<Script>>,
) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut conn).await? else {
        return Ok(());
    };
    let line = head.lines().next().unwrap_or_default().to_owned();
    let upstream = *up.addr.lock().expect("lock");
    let fault = {
        let mut st = state.lock().expect("lock");
        let index = st.seen.len();
        let fault = (script.lock().expect("lock"))(index, &line);
        st.seen.push(Seen {
            at: Instant::now(),
            line: line.clone(),
            fault,
            records: count_records(&body),
        });
        fault
    };
    match fault {
        Fault::Status(s) => conn.write_all(&canned(s, None)).await?,
        Fault::TooMany { retry_after_secs } => {
            conn.write_all(&canned(429, Some(retry_after_secs))).await?
        }
        Fault::ResetBefore => reset(conn),
        Fault::StallBefore(d) => tokio::time::sleep(d).await,
        Fault::Pass => {
            let answer = forward(upstream, &head, &body).await?;
            conn.write_all(&answer).await?;
        }
        Fault::ResetAfter => {
            forward(upstream, &head, &body).await?;
            reset(conn);
        }
        Fault::StallAfter(d) => {
            forward(upstream, &head, &body).await?;
            tokio::time::sleep(d).await;
        }
        Fault::KillAfter => {
            forward(upstream, &head, &body).await?;
            let hook = Arc::clone(&up.kill);
            let restarted = tokio::task::spawn_blocking(move || {
                let mut hook = hook.lock().expect("lock");
                let hook = hook
                    .as_mut()
                    .expect("Fault::KillAfter needs Proxy::on_kill");
                hook()
            })
            .await
            .expect("the kill hook ran");
            *up.addr.lock().expect("lock") = restarted;
            reset(conn);
        }
        Fault::TruncateAfter => {
            let answer = forward(upstream, &head, &body).await?;
            let split = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(answer.len(), |i| i + 4);
            let keep = split + (answer.len() - split) / 2;
            conn.write_all(&answer[..keep]).await?;
            // A clean close (FIN) so the client reads the partial body, then an early end.
            conn.shutdown().await?;
        }
    }
    Ok(())
}
