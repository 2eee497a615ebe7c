//! Server-sent event streams: [`MessageStream`], a [`Stream`] of messages over
//! `Accept: text/event-stream` on `/fetch` ([`Client::fetch_stream`]) or `/consume`
//! ([`Consumer::follow`], [`Client::consume_stream`]), reconnecting with `Last-Event-ID`.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use reqwest::{Method, StatusCode};

use super::client::{Call, Client, api_error};
use super::consumer::{ConsumeOptions, Consumer};
use super::error::{Error, Result};
use upkafka_protocol::{FetchRequest, Message};

/// The `Accept` value that asks for an event stream.
const EVENT_STREAM: &str = "text/event-stream";

/// Silence after which a stream counts as dead and reconnects: three times the server's
/// default heartbeat interval (15 s).
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// Reconnect delay until the server sends its `retry:` hint.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// Most bytes of one event (a record's JSON); a longer one is an error, not unbounded memory.
const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// A server-sent event stream of records: `Stream<Item = Result<Message>>`, one item per
/// record in the order the server sends them, as soon as they are stored.
///
/// Made by [`Client::fetch_stream`] (by offset, no group), [`Consumer::follow`] or
/// [`Client::consume_stream`] (a consumer-group instance). It connects on the first poll.
///
/// - **Reconnects by itself.** When the connection drops, goes silent for longer than the
///   idle timeout ([`MessageStream::with_idle_timeout`], default 45 s; the server sends a
///   heartbeat at least every 15 s), or the server ends the stream (a restart), it reconnects
///   after the server's `retry:` hint, sending the id of the last event it yielded as
///   `Last-Event-ID`: the server resumes **after** that record on every partition of the
///   stream, so nothing is skipped and nothing yielded is sent again. Failed reconnects back
///   off as the client's [`RetryPolicy`](crate::RetryPolicy) says; after its `max_retries`
///   failures in a row the error is the last item.
/// - **Errors end it.** An API error (unknown topic, 401, …) is the last item.
/// - **What a group counts as committed** stays explicit: the instance's auto-commit (the
///   server commits what it sent into the stream, and what a `Last-Event-ID` acknowledges, on
///   its interval), or with auto-commit off only [`Consumer::commit`] calls with the offsets
///   processed. A reconnect with `Last-Event-ID` loses and repeats nothing; a new stream
///   without one (e.g. after a restart of the program, unless it kept
///   [`MessageStream::last_event_id`] and passes it to
///   [`MessageStream::with_last_event_id`]) starts at the committed offsets, so it repeats
///   what was received but not committed, and nothing else. With auto-commit on, records sent
///   into a stream that dropped may count as committed before they were received: turn it
///   off for at-least-once across restarts.
pub struct MessageStream {
    inner: Pin<Box<dyn Stream<Item = Result<Message>> + Send>>,
    last_id: Arc<Mutex<Option<String>>>,
    settings: Arc<Mutex<Settings>>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    idle_timeout: Duration,
}

impl MessageStream {
    fn new(client: Client, call: Call) -> Self {
        let last_id = Arc::new(Mutex::new(None));
        let settings = Arc::new(Mutex::new(Settings {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }));
        let state = State {
            client,
            call,
            resp: None,
            buf: Vec::new(),
            pos: 0,
            last_id: Arc::clone(&last_id),
            settings: Arc::clone(&settings),
            retry: DEFAULT_RETRY,
            failures: 0,
            done: false,
        };
        let inner = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        });
        Self {
            inner: Box::pin(inner),
            last_id,
            settings,
        }
    }

    /// The id of the last event this stream yielded: what a reconnect sends as
    /// `Last-Event-ID`. Keep it to resume a new stream at the same place
    /// ([`MessageStream::with_last_event_id`]).
    ///
    /// ```no_run
    /// use futures_util::StreamExt as _;
    /// # use upkafka_client::{Client, protocol::FetchRequest};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let mut records = client.fetch_stream(&FetchRequest::new("cities", 0, 0));
    /// if let Some(m) = records.next().await {
    ///     println!("{} (resume with {:?})", m?.value, records.last_event_id());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn last_event_id(&self) -> Option<String> {
        self.last_id.lock().ok().and_then(|id| id.clone())
    }

    /// Starts (before the first poll) after the event with this id, as a reconnect would: for
    /// a program that kept [`MessageStream::last_event_id`] across a restart.
    ///
    /// ```
    /// # use upkafka_client::{Client, Config, protocol::FetchRequest};
    /// # let client = Client::new(Config::new("http://127.0.0.1:8080", "user", "pw")).unwrap();
    /// let records = client
    ///     .fetch_stream(&FetchRequest::new("cities", 0, 0))
    ///     .with_last_event_id("cities/0/41");
    /// assert_eq!(records.last_event_id().as_deref(), Some("cities/0/41"));
    /// ```
    pub fn with_last_event_id(self, id: impl Into<String>) -> Self {
        if let Ok(mut last) = self.last_id.lock() {
            *last = Some(id.into());
        }
        self
    }

    /// Sets how long the stream may stay silent (no record, no heartbeat) before it counts as
    /// dead and reconnects. Default 45 s; keep it above the server's heartbeat interval.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Client, Config, protocol::FetchRequest};
    /// # let client = Client::new(Config::new("http://127.0.0.1:8080", "user", "pw")).unwrap();
    /// let records = client
    ///     .fetch_stream(&FetchRequest::new("cities", 0, 0))
    ///     .with_idle_timeout(Duration::from_secs(90));
    /// ```
    pub fn with_idle_timeout(self, timeout: Duration) -> Self {
        if let Ok(mut s) = self.settings.lock() {
            s.idle_timeout = timeout;
        }
        self
    }
}

impl Stream for MessageStream {
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageStream")
            .field("last_event_id", &self.last_event_id())
            .finish_non_exhaustive()
    }
}

/// The connection and parser state behind a [`MessageStream`].
struct State {
    client: Client,
    call: Call,
    resp: Option<reqwest::Response>,
    /// Bytes read and not yet parsed start at `pos`: taking a block advances `pos` instead of
    /// moving the rest of the buffer (one response chunk holds thousands of events).
    buf: Vec<u8>,
    pos: usize,
    last_id: Arc<Mutex<Option<String>>>,
    settings: Arc<Mutex<Settings>>,
    retry: Duration,
    failures: u32,
    done: bool,
}

/// One parsed event block.
#[derive(Default)]
struct Block<'a> {
    id: Option<&'a str>,
    event: Option<&'a str>,
    /// Borrowed from the buffer unless the event has several `data:` lines.
    data: Option<std::borrow::Cow<'a, str>>,
}

/// What the buffered bytes gave.
enum Parsed {
    /// A record.
    Message(Message),
    /// Nothing complete yet: read more.
    More,
    /// An error that ends the stream.
    End(Error),
    /// A transient error the server sent: reconnect.
    Reconnect(Error),
}

/// What to do after a failure.
enum Next {
    Reconnect,
    End(Error),
}

impl State {
    fn idle_timeout(&self) -> Duration {
        self.settings
            .lock()
            .map_or(DEFAULT_IDLE_TIMEOUT, |s| s.idle_timeout)
    }

    fn set_last_id(&self, id: String) {
        if let Ok(mut last) = self.last_id.lock() {
            *last = Some(id);
        }
    }

    async fn next(&mut self) -> Option<Result<Message>> {
        loop {
            if self.done {
                return None;
            }
            if self.resp.is_none() {
                match self.connect().await {
                    Ok(resp) => {
                        self.resp = Some(resp);
                        self.buf.clear();
                        self.pos = 0;
                    }
                    Err(e) => {
                        if let Next::End(e) = self.failed(e).await {
                            self.done = true;
                            return Some(Err(e));
                        }
                        continue;
                    }
                }
            }
            match self.parse() {
                Parsed::Message(m) => return Some(Ok(m)),
                Parsed::More => {}
                Parsed::End(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Parsed::Reconnect(e) => {
                    self.resp = None;
                    if let Next::End(e) = self.failed(e).await {
                        self.done = true;
                        return Some(Err(e));
                    }
                    continue;
                }
            }
            let idle = self.idle_timeout();
            let Some(resp) = self.resp.as_mut() else {
                continue;
            };
            match tokio::time::timeout(idle, resp.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    self.compact();
                    self.buf.extend_from_slice(&chunk);
                    if self.buf.len() - self.pos > MAX_EVENT_BYTES {
                        self.done = true;
                        return Some(Err(self.decode_error("an event is too large")));
                    }
                }
                Ok(Ok(None)) => {
                    // The server ended the stream (a restart, shutdown): resume after the
                    // retry hint.
                    tracing::debug!("event stream ended by the server; reconnecting");
                    self.resp = None;
                    tokio::time::sleep(self.retry).await;
                }
                Ok(Err(e)) => {
                    self.resp = None;
                    let e = Error::Transport {
                        endpoint: self.call.endpoint(),
                        source: Box::new(e.without_url()),
                    };
                    if let Next::End(e) = self.failed(e).await {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Err(_) => {
                    self.resp = None;
                    let e = Error::Timeout {
                        endpoint: self.call.endpoint(),
                        timeout: idle,
                    };
                    if let Next::End(e) = self.failed(e).await {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    async fn connect(&self) -> Result<reqwest::Response> {
        let mut call = self.call.clone();
        if let Some(id) = self.last_id.lock().ok().and_then(|id| id.clone()) {
            call.headers.push(("last-event-id".to_owned(), id));
        }
        let resp = self.client.open_stream(&call).await?;
        let is_stream = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(EVENT_STREAM));
        if !is_stream {
            return Err(Error::Decode {
                endpoint: call.endpoint(),
                reason: "the server answered no event stream (does it support them?)".to_owned(),
                snippet: String::new(),
            });
        }
        Ok(resp)
    }

    /// A retryable failure waits and asks for a reconnect, until the policy's retries are
    /// spent; any other ends the stream.
    async fn failed(&mut self, e: Error) -> Next {
        let policy = &self.client.config().retry;
        if !e.is_retryable() || self.failures >= policy.max_retries {
            return Next::End(e);
        }
        let wait = policy.backoff(self.failures, None).max(self.retry);
        tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "event stream failed; reconnecting");
        self.failures += 1;
        tokio::time::sleep(wait).await;
        Next::Reconnect
    }

    fn decode_error(&self, reason: &str) -> Error {
        Error::Decode {
            endpoint: self.call.endpoint(),
            reason: reason.to_owned(),
            snippet: String::new(),
        }
    }

    /// Takes complete blocks off the buffer: the next message, or `None` when more bytes are
    /// needed. A server `event: error` is an API error item (a 5xx one reconnects).
    fn parse(&mut self) -> Parsed {
        while let Some((end, sep)) = block_end(&self.buf[self.pos..]) {
            let start = self.pos;
            self.pos += end + sep;
            let Ok(text) = std::str::from_utf8(&self.buf[start..start + end]) else {
                return Parsed::End(self.decode_error("the event stream is not UTF-8"));
            };
            let mut block = Block::default();
            let mut retry = None;
            for line in text.lines() {
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => block.id = Some(value),
                    "event" => block.event = Some(value),
                    "data" => match &mut block.data {
                        Some(d) => {
                            let d = d.to_mut();
                            d.push('\n');
                            d.push_str(value);
                        }
                        None => block.data = Some(std::borrow::Cow::Borrowed(value)),
                    },
                    "retry" => {
                        if let Ok(ms) = value.parse::<u64>() {
                            retry = Some(Duration::from_millis(ms));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(retry) = retry {
                self.retry = retry;
            }
            let Some(data) = block.data else { continue };
            if block.event == Some("error") {
                let status = serde_json::from_str::<upkafka_protocol::ErrorBody>(&data)
                    .ok()
                    .and_then(|b| StatusCode::from_u16(b.status).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let e = api_error(status, data.as_bytes(), &self.call.endpoint());
                if e.is_retryable() {
                    return Parsed::Reconnect(e);
                }
                return Parsed::End(e);
            }
            let message: Message = match serde_json::from_str(&data) {
                Ok(m) => m,
                Err(e) => {
                    return Parsed::End(Error::Decode {
                        endpoint: self.call.endpoint(),
                        reason: e.to_string(),
                        snippet: data.chars().take(200).collect(),
                    });
                }
            };
            if let Some(id) = block.id {
                self.set_last_id(id.to_owned());
            }
            self.failures = 0;
            return Parsed::Message(message);
        }
        Parsed::More
    }

    /// Drops the parsed bytes from the buffer's front, once they are at least half of it (so
    /// each byte moves at most once on average).
    fn compact(&mut self) {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

/// Where the first complete block ends, and the length of its blank-line separator (`\n\n`,
/// or `\r\n\r\n`): one scan that stops at the first blank line.
fn block_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = buf[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| i + from)
    {
        if buf.get(i + 1) == Some(&b'\n') {
            return Some((i, 2));
        }
        if i > 0 && buf[i - 1] == b'\r' && buf.get(i + 1..i + 3) == Some(b"\r\n") {
            return Some((i - 1, 4));
        }
        from = i + 1;
    }
    None
}

impl Client {
    /// Reads records by partition and offset as a live [`MessageStream`]
    /// (`POST /fetch` with `Accept: text/event-stream`): every record from the request's
    /// offsets on, then each new one as soon as it is stored, reconnecting with
    /// `Last-Event-ID`. Every partition the request names is streamed; its `timeout` is
    /// not used.
    ///
    /// ```no_run
    /// use futures_util::StreamExt as _;
    /// # use upkafka_client::{Client, protocol::FetchRequest};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let mut records = client.fetch_stream(&FetchRequest::new("cities", 0, 0));
    /// while let Some(m) = records.next().await {
    ///     let m = m?;
    ///     println!("{}/{} {}", m.partition, m.offset, m.value);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn fetch_stream(&self, req: &FetchRequest) -> MessageStream {
        let mut call = Call::new(Method::POST, "/fetch".to_owned());
        let req = FetchRequest {
            timeout: None,
            ..req.clone()
        };
        call = match call.json(&req) {
            Ok(call) => call,
            Err(e) => return failed(self.clone(), e),
        };
        call.headers
            .push(("accept".to_owned(), EVENT_STREAM.to_owned()));
        MessageStream::new(self.clone(), call)
    }

    /// Reads a consumer-group instance as a live [`MessageStream`]
    /// (`POST /consume/{group}/{instance}` with `Accept: text/event-stream`), creating it with
    /// `opts.config` if needed. See [`MessageStream`] for what counts as committed and what a
    /// reconnect repeats; [`Consumer::follow`] is the same from a [`Consumer`].
    ///
    /// ```no_run
    /// use futures_util::StreamExt as _;
    /// use upkafka_client::protocol::{ConsumerConfig, next_offsets};
    /// # use upkafka_client::{Client, ConsumeOptions};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let mut opts = ConsumeOptions::new("monitor", "host-1", ["sensor"]);
    /// opts.config.auto_commit = Some(false);
    /// let mut records = client.consume_stream(&opts);
    /// while let Some(m) = records.next().await {
    ///     let m = m?;
    ///     println!("{} {}", m.offset, m.value);
    ///     client.commit(&opts.group, &opts.instance, &next_offsets([&m])).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn consume_stream(&self, opts: &ConsumeOptions) -> MessageStream {
        match super::consumer::consume_call(opts, None) {
            Ok(mut call) => {
                call.headers
                    .push(("accept".to_owned(), EVENT_STREAM.to_owned()));
                MessageStream::new(self.clone(), call)
            }
            Err(e) => failed(self.clone(), e),
        }
    }
}

impl Consumer {
    /// This instance as a live [`MessageStream`] of records (server-sent events), instead of
    /// one poll after another; see [`Client::consume_stream`].
    ///
    /// ```no_run
    /// use futures_util::StreamExt as _;
    /// use upkafka_client::protocol::{ConsumerConfig, next_offsets};
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client
    ///     .consumer("monitor", "host-1", ["sensor"])
    ///     .with_config(ConsumerConfig { auto_commit: Some(false), ..ConsumerConfig::default() });
    /// let mut records = consumer.follow();
    /// while let Some(m) = records.next().await {
    ///     let m = m?;
    ///     println!("{} {}", m.offset, m.value);
    ///     consumer.commit(&next_offsets([&m])).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn follow(&self) -> MessageStream {
        self.client().consume_stream(self.options())
    }
}

/// A stream whose only item is `e` (a request that could not be built).
fn failed(client: Client, e: Error) -> MessageStream {
    let mut s = MessageStream::new(client, Call::new(Method::GET, "/".to_owned()));
    s.inner = Box::pin(futures_util::stream::iter([Err(e)]));
    s
}

#[cfg(test)]
mod tests {
    use super::block_end;

    #[test]
    fn a_block_ends_at_the_first_blank_line_of_either_kind() {
        assert_eq!(block_end(b"id: a\ndata: x\n\nid: b"), Some((13, 2)));
        assert_eq!(block_end(b"id: a\r\ndata: x\r\n\r\nid: b"), Some((14, 4)));
        // The first blank line wins, whichever its kind.
        assert_eq!(block_end(b"data: x\r\n\r\ndata: y\n\n"), Some((7, 4)));
        assert_eq!(block_end(b"data: x\n\ndata: y\r\n\r\n"), Some((7, 2)));
        assert_eq!(block_end(b"\n\n"), Some((0, 2)));
        for partial in [
            &b""[..],
            b"data: x",
            b"data: x\n",
            b"data: x\r\n\r",
            b"a\nb\nc\n",
        ] {
            assert_eq!(block_end(partial), None, "{partial:?}");
        }
    }
}
