//! Server-sent event streams: a fetch or consume that asks for `Accept: text/event-stream`
//! (spec §4.12, an upkafka extension of the API).
//!
//! The same routes answer (`/fetch`, `/consume/{group}/{instance}`,
//! `/consume/{group}/{instance}/{topic}`), with the same request bodies and headers; only the
//! `Accept` header chooses the stream. The stream is `text/event-stream` (and
//! `Cache-Control: no-cache`):
//!
//! - first `retry: <ms>` (`Limits::stream_retry`, the reconnect delay a client should use);
//! - then **one event per record**, in the order a long-poll would answer them:
//!   `id: <topic>/<partition>/<offset>[,<topic>/<partition>/<offset>…]` and `data:` the record
//!   as the same JSON object a fetch or consume answer holds (`topic`, `partition`, `offset`,
//!   `timestamp`, `key`, `value`, `headers`). The id starts with the record's own
//!   `topic/partition/offset`; after it come the other partitions of the stream, each with the
//!   offset of the last record of it delivered before (`start − 1` when none was: `-1` for a
//!   stream that starts at 0). So the last id a client saw says where to resume **every**
//!   partition of the stream. Topic names cannot contain `/` or `,` (Kafka's rules), so the id
//!   is unambiguous;
//! - `: heartbeat` comments while no record arrives, at least every `Limits::stream_heartbeat`
//!   (15 s by default);
//! - `event: error` with `data: {"error", "status"}` when the backend fails mid-stream; the
//!   stream ends after it. It also ends, cleanly, when the server shuts down.
//!
//! A reconnect sends the last id as `Last-Event-ID`; the stream then resumes **after** each
//! offset it names: a fetch stream at `offset + 1` for each partition of the request the id
//! names (the body's offset for the others); a consumer-group stream positions the instance's
//! every assigned partition at `offset + 1` where the id names it, else at the group's committed
//! offset (see `Backend::open_stream`). What the group counts as committed stays what the
//! instance's settings and commit calls say: with auto-commit on, the server commits what it
//! delivered into the stream (and what a `Last-Event-ID` acknowledges) on its interval; with
//! auto-commit off, only commit calls do.
//!
//! A group stream keeps its instance alive: each wait is a consume of it. A reader stalled for
//! longer than the session timeout lets the instance expire (auto-commit then stores what was
//! read into the stream); the stream's next consume rejoins at the commits, so records may
//! repeat but none are skipped.
//!
//! Records arrive as soon as they are stored: the stream waits in the backend's long-poll
//! (the embedded log's per-partition watch channels), whose timeout is the heartbeat interval.
//! Back-pressure: the next records are read only when the connection has taken the previous
//! ones, so a slow reader holds at most one response batch (`max_poll_records`,
//! `max_poll_bytes`) plus the connection's write buffer; an idle stream holds a waiting task
//! and no request slot. `Limits::max_streams` bounds the streams open at once (503 beyond), and
//! a fetch stream reads at most [`MAX_STREAM_PARTITIONS`] partitions (400 beyond), which bounds
//! the size of an event id. A stream whose reader stopped reading cannot see the shutdown
//! signal until the connection takes data again; graceful shutdown cuts it when
//! `Limits::shutdown_grace` is over, as any connection.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use upkafka_protocol::{ErrorBody, Message, TopicPartitionOffset};

use super::backend::{Backend, ConsumeParams};
use super::error::{ApiError, BackendError};
use super::state::AppState;

/// Most partitions one event stream reads, and most entries a `Last-Event-ID` may name: every
/// event id lists every partition of its stream, so this bounds the size of an id (and of a
/// batch's events) whatever a client asks for.
pub(crate) const MAX_STREAM_PARTITIONS: usize = 256;

/// The media type of an event stream.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// What every event stream of a server shares: the bound on open streams and the stop signal
/// of graceful shutdown.
#[derive(Debug)]
pub(crate) struct Streams {
    permits: Arc<Semaphore>,
    stop: watch::Sender<bool>,
}

impl Streams {
    /// Room for `max` open streams.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            stop: watch::Sender::new(false),
        }
    }

    /// Ends every open stream (at its next wait) and every stream opened later.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// Whether the request's `Accept` asks for an event stream.
pub(crate) fn wants_events(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|range| {
                range
                    .split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(EVENT_STREAM))
            })
        })
    })
}

/// The `Last-Event-ID` of a reconnect as (topic, partition, last delivered offset) entries;
/// empty without the header.
///
/// # Errors
/// 400 for an id that is not a `,`-separated list of `topic/partition/offset`.
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Vec<TopicPartitionOffset>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(Vec::new());
    };
    let bad = || {
        ApiError::bad_request(
            "Last-Event-ID must be an event id of this server: topic/partition/offset, \
             comma-separated",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.split(',').nth(MAX_STREAM_PARTITIONS).is_some() {
        return Err(too_many());
    }
    text.split(',')
        .map(|entry| parse_entry(entry).ok_or_else(bad))
        .collect()
}

fn too_many() -> ApiError {
    ApiError::bad_request(format!(
        "an event stream reads at most {MAX_STREAM_PARTITIONS} partitions"
    ))
}

fn parse_entry(entry: &str) -> Option<TopicPartitionOffset> {
    let mut parts = entry.rsplitn(3, '/');
    let offset: i64 = parts.next()?.parse().ok()?;
    let partition: i32 = parts.next()?.parse().ok()?;
    let topic = parts.next()?;
    if topic.is_empty() || offset < -1 || partition < 0 {
        return None;
    }
    Some(TopicPartitionOffset::new(topic, partition, offset))
}

/// Where a stream's records come from.
enum Source {
    /// `/fetch` from the cursors on.
    Fetch,
    /// Consumes of a group instance.
    Group(ConsumeParams),
}

/// The state of one open stream, advanced by [`EventStream::next_chunk`] each time the
/// connection asks for more.
struct EventStream {
    backend: Arc<dyn Backend>,
    source: Source,
    /// Per partition, the next offset the stream delivers (what a fetch from there asks for).
    cursors: Vec<TopicPartitionOffset>,
    pending: Vec<Message>,
    heartbeat: Duration,
    retry: Option<Duration>,
    stop: watch::Receiver<bool>,
    done: bool,
    _permit: OwnedSemaphorePermit,
}

/// A fetch as an event stream: `entries` are the request's start offsets, overridden by the
/// reconnect's `Last-Event-ID` where it names a partition.
pub(crate) async fn fetch(
    state: &AppState,
    mut entries: Vec<TopicPartitionOffset>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if entries.len() > MAX_STREAM_PARTITIONS {
        return Err(too_many());
    }
    let resume = last_event_id(headers)?;
    for e in &mut entries {
        if let Some(r) = resume
            .iter()
            .find(|r| r.topic == e.topic && r.partition == e.partition)
        {
            e.offset = r.offset + 1;
        }
    }
    let permit = permit(state)?;
    // The first read checks the request (unknown topic, bad offset: a JSON error, not a
    // stream) and answers what is there already.
    let pending = state.backend.fetch(entries.clone(), Duration::ZERO).await?;
    Ok(respond(state, Source::Fetch, entries, pending, permit))
}

/// A consume as an event stream of the group instance (see the module docs for resume).
pub(crate) async fn consume(
    state: &AppState,
    params: ConsumeParams,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let resume: Vec<TopicPartitionOffset> = last_event_id(headers)?
        .into_iter()
        .map(|r| TopicPartitionOffset::new(r.topic, r.partition, r.offset + 1))
        .collect();
    let permit = permit(state)?;
    let starts = state.backend.open_stream(params.clone(), resume).await?;
    Ok(respond(
        state,
        Source::Group(params),
        starts,
        Vec::new(),
        permit,
    ))
}

fn permit(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    Arc::clone(&state.streams.permits)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many event streams are open; retry later or long-poll",
            )
        })
}

fn respond(
    state: &AppState,
    source: Source,
    cursors: Vec<TopicPartitionOffset>,
    pending: Vec<Message>,
    permit: OwnedSemaphorePermit,
) -> Response {
    let limits = &state.limits;
    let stream = EventStream {
        backend: Arc::clone(&state.backend),
        source,
        cursors,
        pending,
        heartbeat: limits.stream_heartbeat.max(Duration::from_millis(1)),
        retry: Some(limits.stream_retry),
        stop: state.streams.stop.subscribe(),
        done: false,
        _permit: permit,
    };
    let body = futures::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), s))
    });
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

impl EventStream {
    /// The next bytes of the stream, `None` at its end. Reads (and waits) only when called,
    /// which hyper does only when the connection has room: the back-pressure.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done || *self.stop.borrow() {
            return None;
        }
        if let Some(retry) = self.retry.take() {
            return Some(Bytes::from(format!(
                "retry: {}\n\n",
                retry.as_millis().max(1)
            )));
        }
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            return Some(self.events(batch));
        }
        let read = match &self.source {
            Source::Fetch => self.backend.fetch(self.cursors.clone(), self.heartbeat),
            Source::Group(params) => self.backend.consume(ConsumeParams {
                timeout: self.heartbeat,
                ..params.clone()
            }),
        };
        let mut stop = self.stop.clone();
        let outcome = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return None,
            outcome = read => outcome,
        };
        match outcome {
            Ok(batch) if batch.is_empty() => Some(Bytes::from_static(b": heartbeat\n\n")),
            Ok(batch) => Some(self.events(batch)),
            Err(e) => {
                self.done = true;
                Some(error_event(&e))
            }
        }
    }

    /// One event per message, each id saying where every partition of the stream resumes.
    fn events(&mut self, batch: Vec<Message>) -> Bytes {
        let mut out = Vec::with_capacity(batch.len() * 128);
        for m in &batch {
            let at = match self
                .cursors
                .iter()
                .position(|c| c.topic == m.topic && c.partition == m.partition)
            {
                Some(i) => i,
                None => {
                    // A partition assigned to the instance after the stream began.
                    self.cursors.push(TopicPartitionOffset::new(
                        m.topic.clone(),
                        m.partition,
                        m.offset,
                    ));
                    self.cursors.len() - 1
                }
            };
            let cursor = &mut self.cursors[at];
            cursor.offset = cursor.offset.max(m.offset + 1);
            let data = match serde_json::to_vec(m) {
                Ok(data) => data,
                Err(e) => {
                    self.done = true;
                    out.extend_from_slice(&error_event(&BackendError::Internal(e.to_string())));
                    break;
                }
            };
            // Written straight into the buffer (a Vec cannot fail to take bytes).
            let _ = write!(out, "id: {}/{}/{}", m.topic, m.partition, m.offset);
            for (i, c) in self.cursors.iter().enumerate() {
                if i != at {
                    let _ = write!(out, ",{}/{}/{}", c.topic, c.partition, c.offset - 1);
                }
            }
            out.extend_from_slice(b"\ndata: ");
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\n\n");
        }
        Bytes::from(out)
    }
}

/// `event: error` with the `{error, status}` a JSON answer would carry.
fn error_event(e: &BackendError) -> Bytes {
    let api = ApiError::from(e.clone());
    let body = ErrorBody {
        error: api.message,
        status: api.status.as_u16(),
    };
    let data = serde_json::to_string(&body)
        .unwrap_or_else(|_| r#"{"error":"internal server error","status":500}"#.to_owned());
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accept_negotiation_finds_the_event_stream_type() {
        assert!(wants_events(&headers(&[("accept", "text/event-stream")])));
        assert!(wants_events(&headers(&[(
            "accept",
            "application/json;q=0.5, Text/Event-Stream;q=1"
        )])));
        assert!(!wants_events(&headers(&[("accept", "application/json")])));
        assert!(!wants_events(&headers(&[])));
    }

    #[test]
    fn last_event_ids_parse_every_partition() {
        let h = headers(&[("last-event-id", "a.b/0/5,c-d/2/-1")]);
        let got = last_event_id(&h).expect("valid id");
        assert_eq!(
            got,
            vec![
                TopicPartitionOffset::new("a.b", 0, 5),
                TopicPartitionOffset::new("c-d", 2, -1)
            ]
        );
        assert!(last_event_id(&headers(&[])).expect("none").is_empty());
        let many = vec!["t/0/1"; MAX_STREAM_PARTITIONS + 1].join(",");
        let h = HeaderMap::from_iter([(
            header::HeaderName::from_static("last-event-id"),
            HeaderValue::from_str(&many).expect("ascii"),
        )]);
        assert!(
            last_event_id(&h).is_err(),
            "too many entries must be refused"
        );
        for bad in ["x", "t/0", "t/x/1", "/0/1", "t/0/1,", "t/-1/3"] {
            let h = headers(&[("last-event-id", bad)]);
            assert!(last_event_id(&h).is_err(), "{bad} must be refused");
        }
    }
}
