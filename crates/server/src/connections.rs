//! The connection table: who holds the server's connections, and who gives one up when a new
//! client needs it.
//!
//! A TCP connection costs its client nothing, so a client (or a botnet) that opens
//! connections and never sends a byte could hold every one of `Limits::max_connections` and
//! lock everyone else out, without credentials. Production servers answer this with per-client
//! caps, deadlines that tighten under pressure and a preference for connections that have
//! proven useful; this table does all three:
//!
//! - **Caps.** At most `max_connections` in total and `max_connections_per_address` from one
//!   client address.
//! - **Who gives way.** A connection is *proven* once it has sent a request that passed
//!   authentication (with auth off: any request). When a new connection would go over a cap,
//!   the oldest connection in that cap's scope (the server, or that address) that is not proven
//!   and has no request in flight is closed to make room: first one that never sent a byte,
//!   then one that did. Proven connections and requests in flight are never taken; when
//!   nothing can give way, the new connection is refused (plain HTTP: a `503` naming the limit,
//!   `Retry-After: 1`; TLS: closed before the handshake, since there is no way to answer).
//! - **Deadlines.** The time a new connection has for its first byte and its request head is
//!   `Limits::header_read_timeout` while the server is at most half full, then shrinks linearly
//!   with the free room, to [`MIN_HEAD_DEADLINE`] at the limit: an idle flood recycles fast.
//!
//! The deadline is kept by [`Connection::watch_idle`], not by hyper's header read timeout: hyper
//! arms and cancels a timer around every request head, a sixteenth of a single-message
//! produce's instructions (issue 19), where one watcher task per connection, waking every
//! quarter deadline, does the same job (see [`Connection::idle_for`] for the rule and its
//! precision). The watcher and the table reach the connection's task through one
//! [`Leave`] signal, which also carries the server's shutdown: the only thing that task polls
//! besides the connection.
//!
//! A given-way connection is shut down gracefully (a request that started in the meantime is
//! answered) and dropped after [`EVICTION_GRACE`] at the latest. Its slot passes to the new
//! connection at once, so the number of open sockets may exceed `max_connections` by the
//! connections still closing, for at most that grace.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// The shortest first-byte and request-head deadline, reached when the server is full.
pub const MIN_HEAD_DEADLINE: Duration = Duration::from_secs(1);

/// How long a connection that gave way may take to close (finishing a request that started
/// just before) before it is dropped.
pub const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// Where a connection stands in the table (its `stage`).
const SILENT: u8 = 0;
/// Has sent bytes, no authenticated request yet.
const ACTIVE: u8 = 1;
/// Has sent an authenticated request: never evicted.
const PROVEN: u8 = 2;

/// One open connection, shared by its task (which serves it), its requests (which mark it busy
/// and proven) and the table (which may ask it to give way).
#[derive(Debug)]
pub struct Connection {
    id: u64,
    peer: IpAddr,
    stage: AtomicU8,
    /// Requests in flight; [`EVICTED`] once the table took the slot back.
    busy: AtomicU32,
    /// Asks the connection's task to end (see [`Slot::take_leave`]); taken when sent.
    leave: Mutex<Option<oneshot::Sender<Leave>>>,
    /// Bumped when a request ends and when the server writes to the connection: a connection
    /// whose count stands still, with no request in flight, is idle ([`Connection::idle_for`]).
    activity: AtomicU32,
    table: Arc<ConnectionTable>,
}

/// Why a connection's task is asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The table gave its place to a new connection: finish what started, then close.
    Evicted,
    /// It idled past its deadline ([`Connection::idle_for`]): close now, nothing is in flight.
    Idle,
    /// The server is stopping ([`Connection::shut_down`]): finish what started, then close,
    /// within the server's shutdown grace.
    Shutdown,
}

/// Set in [`Connection::busy`] when the connection gave way.
const EVICTED: u32 = 1 << 31;

impl Connection {
    /// The client's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// The connection has sent its first byte: it is no longer among the first to give way.
    pub fn sent_bytes(self: &Arc<Self>) {
        if self
            .stage
            .compare_exchange(SILENT, ACTIVE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let mut inner = self.table.lock();
            if inner.silent.remove(&self.id).is_some() {
                inner.active.insert(self.id, Arc::clone(self));
            }
        }
    }

    /// A request of this connection passed authentication: the connection is kept over idle
    /// ones from now on.
    pub fn proven(&self) {
        // Every request of a proven connection comes here: a read, no write, in the common case.
        if self.stage.load(Ordering::Acquire) == PROVEN {
            return;
        }
        if self.stage.swap(PROVEN, Ordering::AcqRel) != PROVEN {
            let mut inner = self.table.lock();
            inner.silent.remove(&self.id);
            inner.active.remove(&self.id);
        }
    }

    /// Marks a request in flight until the guard drops; a busy connection is never evicted.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    /// Asks the connection's task to finish its in-flight requests and close ([`Leave::Shutdown`]),
    /// unless it was asked to leave before. The server's stop signal travels on the same
    /// channel as the table's and the idle watcher's, so that the connection's task polls one
    /// signal on each of its wake-ups, not two (issue 19).
    pub fn shut_down(&self) {
        self.ask_to_leave(Leave::Shutdown);
    }

    /// Sends `why` to the connection's task, unless something was sent before.
    fn ask_to_leave(&self, why: Leave) {
        let sender = self
            .leave
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(tx) = sender {
            let _ = tx.send(why);
        }
    }

    /// Whether the connection's task is gone (its [`Leave`] receiver dropped) or was asked
    /// to leave already.
    fn leaving(&self) -> bool {
        self.leave
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_none_or(oneshot::Sender::is_closed)
    }

    /// Watches the connection (a task of its own, spawned by the server for each HTTP/1
    /// connection): once it idles for `deadline` ([`Connection::idle_for`]) asks its task to
    /// leave ([`Leave::Idle`]); ends by itself, within a quarter deadline, once the connection
    /// is gone. A task apart, so that the connection's own task polls no timer on each of its
    /// wake-ups.
    pub async fn watch_idle(self: Arc<Self>, deadline: Duration) {
        if self.idle_for(deadline).await {
            self.ask_to_leave(Leave::Idle);
        }
    }

    /// Resolves once the connection has been idle for `deadline`: no request in flight
    /// (an answer whose body is still streaming counts as one) and nothing written to it.
    /// That is the time a client has for a request head, counted from the connection's start
    /// or from the last byte of the previous answer (as hyper's header read timeout counts
    /// it; a head trickled in byte by byte does not reset it), and also the longest an answer
    /// may stall on a client that does not read.
    ///
    /// It checks every quarter of `deadline` and resolves at the fourth check in a row that
    /// finds the connection idle and nothing changed: between `deadline` and 1.25 × `deadline`
    /// after the connection fell idle. Per request this costs two counter increments, against
    /// a timer armed and cancelled around every head. `true` when idle; `false` as soon as a
    /// check finds the connection gone or already asked to leave.
    pub async fn idle_for(&self, deadline: Duration) -> bool {
        let tick = (deadline / 4).max(Duration::from_millis(1));
        let mut seen = self.activity.load(Ordering::Acquire);
        let mut quiet = 0;
        loop {
            tokio::time::sleep(tick).await;
            if self.leaving() {
                return false;
            }
            let now = self.activity.load(Ordering::Acquire);
            if now != seen || self.busy.load(Ordering::Acquire) & !EVICTED != 0 {
                seen = now;
                quiet = 0;
                continue;
            }
            quiet += 1;
            if quiet >= 4 {
                return true;
            }
        }
    }

    fn active(&self) {
        self.activity.fetch_add(1, Ordering::Release);
    }

    /// Takes the slot back if the connection is idle; whether it did.
    fn try_evict(&self) -> bool {
        if self
            .busy
            .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.ask_to_leave(Leave::Evicted);
            true
        } else {
            false
        }
    }
}

/// A request in flight on a [`Connection`].
#[derive(Debug)]
pub struct Busy(Arc<Connection>);

impl Drop for Busy {
    fn drop(&mut self) {
        // First the activity, then the request's end: `idle_for` never sees the connection
        // free without seeing that something happened.
        self.0.active();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's byte stream, counting the server's writes as activity for
/// [`Connection::idle_for`] (an answer being written is not an idle connection).
#[derive(Debug)]
pub struct Watched<I> {
    io: I,
    conn: Arc<Connection>,
}

impl<I> Watched<I> {
    /// `io`, its writes counted on `conn`.
    pub fn new(io: I, conn: Arc<Connection>) -> Self {
        Self { io, conn }
    }

    fn counted(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            self.conn.active();
        }
        written
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.counted(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.counted(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A connection's place in the table; dropping it (when the connection ends) frees the place.
#[derive(Debug)]
pub struct Slot {
    conn: Arc<Connection>,
    leave: Option<oneshot::Receiver<Leave>>,
}

impl Slot {
    /// The connection.
    pub fn connection(&self) -> &Arc<Connection> {
        &self.conn
    }

    /// The connection's [`Leave`] signal, for its task to poll (once: `None` after).
    pub fn take_leave(&mut self) -> Option<oneshot::Receiver<Leave>> {
        self.leave.take()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let conn = &self.conn;
        let mut inner = conn.table.lock();
        inner.silent.remove(&conn.id);
        inner.active.remove(&conn.id);
        // An evicted connection's place was handed over when it was evicted.
        if conn.busy.load(Ordering::Acquire) & EVICTED == 0 {
            inner.release(conn.peer);
        }
    }
}

/// Why a new connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` open and none could give way.
    Total(usize),
    /// `max_connections_per_address` open from this address and none could give way.
    PerAddress(usize),
}

impl Refusal {
    /// The text of the 503.
    pub fn message(self) -> String {
        match self {
            Refusal::Total(n) => format!(
                "too many connections: the server's limit of {n} open connections is reached \
                 (--max-connections); retry later"
            ),
            Refusal::PerAddress(n) => format!(
                "too many connections from your address: the limit is {n} \
                 (--max-connections-per-address); close idle ones or retry later"
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// Connections holding a place (evicted ones no longer do).
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Not proven, no byte sent, by age (ids grow).
    silent: BTreeMap<u64, Arc<Connection>>,
    /// Not proven, bytes sent, by age.
    active: BTreeMap<u64, Arc<Connection>>,
}

impl Inner {
    fn release(&mut self, peer: IpAddr) {
        self.open = self.open.saturating_sub(1);
        if let Some(n) = self.per_address.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&peer);
            }
        }
    }

    /// Evicts the oldest idle unproven connection (of `peer` only, when given): silent ones
    /// first. Whether one gave way; its place is released.
    fn evict_one(&mut self, peer: Option<IpAddr>) -> bool {
        for pick_silent in [true, false] {
            let map = if pick_silent {
                &self.silent
            } else {
                &self.active
            };
            let found = map
                .values()
                .filter(|c| peer.is_none_or(|p| c.peer == p))
                .find(|c| c.try_evict())
                .cloned();
            if let Some(conn) = found {
                self.silent.remove(&conn.id);
                self.active.remove(&conn.id);
                self.release(conn.peer);
                tracing::debug!(peer = %conn.peer, "idle connection closed to make room");
                return true;
            }
        }
        false
    }
}

/// The open connections, their caps and who gives way (see the module docs).
#[derive(Debug)]
pub struct ConnectionTable {
    max_total: usize,
    max_per_address: usize,
    inner: Mutex<Inner>,
}

impl ConnectionTable {
    /// A table for at most `max_total` connections, `max_per_address` from one address (each
    /// at least 1).
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding it leaves counters that are still consistent enough to serve.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a new connection from `peer`, making room when a cap is reached.
    ///
    /// # Errors
    /// [`Refusal`] when the cap is reached and no connection can give way.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let mut inner = self.lock();
        let from_peer = inner.per_address.get(&peer).copied().unwrap_or(0);
        if from_peer >= self.max_per_address && !inner.evict_one(Some(peer)) {
            return Err(Refusal::PerAddress(self.max_per_address));
        }
        if inner.open >= self.max_total && !inner.evict_one(None) {
            return Err(Refusal::Total(self.max_total));
        }
        inner.open += 1;
        *inner.per_address.entry(peer).or_default() += 1;
        let id = inner.next_id;
        inner.next_id += 1;
        let (leave_tx, leave_rx) = oneshot::channel();
        let conn = Arc::new(Connection {
            id,
            peer,
            stage: AtomicU8::new(SILENT),
            busy: AtomicU32::new(0),
            leave: Mutex::new(Some(leave_tx)),
            activity: AtomicU32::new(0),
            table: Arc::clone(self),
        });
        inner.silent.insert(id, Arc::clone(&conn));
        Ok(Slot {
            conn,
            leave: Some(leave_rx),
        })
    }

    /// The deadline a new connection has for its first byte and its request head, given the
    /// base `header_read_timeout`: the base while at most half the places are taken, then
    /// shrinking linearly to [`MIN_HEAD_DEADLINE`] at the limit.
    pub fn head_deadline(&self, base: Duration) -> Duration {
        let open = self.lock().open;
        deadline_at(base, open, self.max_total)
    }

    /// Connections holding a place now.
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

/// [`ConnectionTable::head_deadline`] for `open` of `max` places taken.
fn deadline_at(base: Duration, open: usize, max: usize) -> Duration {
    let floor = MIN_HEAD_DEADLINE.min(base);
    let half = max / 2;
    if open <= half {
        return base;
    }
    let room = max.saturating_sub(open) as f64 / (max - half).max(1) as f64;
    base.mul_f64(room).max(floor)
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    /// When `idle_for(deadline)` resolves, from now, if nothing happens meanwhile but
    /// `during` (run alongside it, on the same paused clock).
    async fn idle_after(conn: &Arc<Connection>, during: impl Future<Output = ()>) -> Duration {
        let started = tokio::time::Instant::now();
        let idle = conn.idle_for(Duration::from_millis(400));
        let (idle, ()) = tokio::join!(idle, during);
        assert!(idle, "the connection is still there");
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_idles_out_between_its_deadline_and_a_quarter_more() {
        let table = ConnectionTable::new(8, 8);
        let slot = table.admit(A).unwrap();
        let conn = slot.connection();
        let took = idle_after(conn, async {}).await;
        assert!((400..=500).contains(&took.as_millis()), "{took:?}");
        // Activity (a request that ended, a write) restarts the count.
        let took = idle_after(conn, async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(conn.busy());
        })
        .await;
        assert!((700..=850).contains(&took.as_millis()), "{took:?}");
        // A request in flight is never idle, however long it takes.
        let took = idle_after(conn, async {
            let busy = conn.busy();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(busy);
        })
        .await;
        assert!((5_400..=5_600).contains(&took.as_millis()), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_watcher_tells_the_task_and_ends_with_the_connection() {
        let table = ConnectionTable::new(8, 8);
        let mut slot = table.admit(A).unwrap();
        let leave = slot.take_leave().unwrap();
        let watcher =
            tokio::spawn(Arc::clone(slot.connection()).watch_idle(Duration::from_millis(400)));
        assert_eq!(leave.await, Ok(Leave::Idle));
        watcher.await.unwrap();
        // A connection whose task is gone is not watched for long: the watcher ends at its
        // next check.
        let mut slot = table.admit(B).unwrap();
        drop(slot.take_leave());
        let started = tokio::time::Instant::now();
        Arc::clone(slot.connection())
            .watch_idle(Duration::from_secs(40))
            .await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        // Eviction goes through the same signal.
        let mut slot = table.admit(A).unwrap();
        let leave = slot.take_leave().unwrap();
        assert!(slot.connection().try_evict());
        assert_eq!(leave.await, Ok(Leave::Evicted));
        // So does the server's shutdown; the first request to leave is the one the task gets.
        let mut slot = table.admit(B).unwrap();
        let leave = slot.take_leave().unwrap();
        slot.connection().shut_down();
        slot.connection().ask_to_leave(Leave::Idle);
        assert_eq!(leave.await, Ok(Leave::Shutdown));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_to_a_watched_stream_keep_its_connection_from_idling_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let table = ConnectionTable::new(8, 8);
        let slot = table.admit(A).unwrap();
        let conn = slot.connection();
        let (near, mut far) = tokio::io::duplex(64);
        let mut watched = Watched::new(near, Arc::clone(conn));
        let took = idle_after(conn, async {
            // An answer written slowly, every 200 ms for a second: never idle meanwhile.
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                watched.write_all(b"x").await.unwrap();
                let mut one = [0u8; 1];
                far.read_exact(&mut one).await.unwrap();
            }
        })
        .await;
        assert!((1_400..=1_550).contains(&took.as_millis()), "{took:?}");
    }

    #[tokio::test]
    async fn a_watched_socket_keeps_its_vectored_writes() {
        // hyper writes an answer's head and body with one `writev` only where the stream
        // says it can; a wrapper that hid it would copy every answer into one buffer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert!(tcp.is_write_vectored());
        let table = ConnectionTable::new(8, 8);
        let slot = table.admit(A).unwrap();
        assert!(Watched::new(tcp, Arc::clone(slot.connection())).is_write_vectored());
    }

    fn evicted(slot: &Slot) -> bool {
        slot.connection().busy.load(Ordering::Acquire) & EVICTED != 0
    }

    #[test]
    fn silent_connections_give_way_first_then_active_ones_never_proven_or_busy() {
        let table = ConnectionTable::new(4, 4);
        let proven = table.admit(A).expect("room");
        proven.connection().sent_bytes();
        proven.connection().proven();
        let active = table.admit(A).expect("room");
        active.connection().sent_bytes();
        let busy = table.admit(A).expect("room");
        busy.connection().sent_bytes();
        let _request = busy.connection().busy();
        let silent = table.admit(A).expect("room");
        // Full: the silent one goes first, though it is the newest.
        let first = table.admit(B).expect("the silent one gives way");
        assert!(evicted(&silent) && !evicted(&active) && !evicted(&busy) && !evicted(&proven));
        // Then the active idle one; the busy and the proven ones stay.
        first.connection().proven();
        let second = table.admit(B).expect("the active idle one gives way");
        assert!(evicted(&active) && !evicted(&busy) && !evicted(&proven));
        second.connection().proven();
        assert_eq!(table.admit(B).err(), Some(Refusal::Total(4)));
        assert_eq!(table.open(), 4);
        // An evicted connection's end does not free its place twice.
        drop((silent, active));
        assert_eq!(table.open(), 4);
        drop(proven);
        assert_eq!(table.open(), 3);
        assert!(table.admit(B).is_ok());
    }

    #[test]
    fn one_address_gives_way_within_its_own_share() {
        let table = ConnectionTable::new(10, 2);
        let b = table.admit(B).expect("room");
        let a1 = table.admit(A).expect("room");
        let a2 = table.admit(A).expect("room");
        // A third from A takes the place of A's oldest idle one, not B's.
        let a3 = table.admit(A).expect("A's idle one gives way");
        assert!(evicted(&a1) && !evicted(&a2) && !evicted(&b));
        a2.connection().proven();
        a3.connection().proven();
        assert_eq!(table.admit(A).err(), Some(Refusal::PerAddress(2)));
        assert!(table.admit(B).is_ok(), "other addresses are not affected");
    }

    #[test]
    fn a_request_that_starts_is_never_cut_by_eviction() {
        let table = ConnectionTable::new(1, 1);
        let slot = table.admit(A).expect("room");
        let request = slot.connection().busy();
        assert_eq!(table.admit(B).err(), Some(Refusal::Total(1)));
        drop(request);
        assert!(table.admit(B).is_ok(), "idle again: it gives way");
        assert!(evicted(&slot));
    }

    #[test]
    fn the_head_deadline_tightens_past_half_full() {
        let base = Duration::from_secs(10);
        assert_eq!(deadline_at(base, 0, 100), base);
        assert_eq!(deadline_at(base, 50, 100), base);
        assert_eq!(deadline_at(base, 75, 100), Duration::from_secs(5));
        assert_eq!(deadline_at(base, 100, 100), MIN_HEAD_DEADLINE);
        assert_eq!(deadline_at(base, 200, 100), MIN_HEAD_DEADLINE);
        // A base under the floor is never raised.
        let short = Duration::from_millis(300);
        assert_eq!(deadline_at(short, 100, 100), short);
    }
}
