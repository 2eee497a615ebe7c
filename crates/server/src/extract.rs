//! Reading a request: its body within the size limit ([`collect_body`]) and the extractors
//! whose rejections use the API's `{error, status}` shape.

use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use hyper::body::Body as HttpBody;
use serde::de::DeserializeOwned;
use tokio::time::error::Elapsed;
use upkafka_protocol::IDEMPOTENCY_KEY;

use super::backend::IdempotencyKey;

use super::error::ApiError;

/// The request body as raw bytes, whatever the Content-Type. The request pipeline
/// ([`ApiService`](super::ApiService)) has already read it within the body size and time limits
/// (413 / 408), so this only takes the bytes out of the request.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        collect_body(&mut req.into_body(), usize::MAX)
            .await
            .map(RawBody)
    }
}

/// `Path` with our error body (400 on a bad segment).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // An empty segment (`/consume//i/t`) would name the group or instance `""`: refused,
        // naming the parameter.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = raw.iter().find(|(_, v)| v.is_empty())
        {
            return Err(ApiError::bad_request(format!(
                "invalid path: the {name} must not be empty"
            )));
        }
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| ApiPath(t))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

/// The produce's `Idempotency-Key`, if it sent one, read from the request without copying
/// its header map (the produce routes that need no other header take only this).
///
/// Rejected with 400 naming the header when it is sent twice or is not 1–255 visible ASCII
/// characters (bare or quoted).
#[derive(Debug)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        idempotency_key(&parts.headers).map(Self)
    }
}

/// The `Idempotency-Key` of `headers`, if there is one; 400 naming the header when it is sent
/// twice or is not 1–255 visible ASCII characters (bare or quoted).
pub(crate) fn idempotency_key(
    headers: &axum::http::HeaderMap,
) -> Result<Option<IdempotencyKey>, ApiError> {
    // A `HeaderName` made once: looking up by `&str` parses the name on every request.
    static NAME: axum::http::HeaderName = axum::http::HeaderName::from_static("idempotency-key");
    let mut values = headers.get_all(&NAME).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "send one {IDEMPOTENCY_KEY} header, not several"
        )));
    }
    IdempotencyKey::parse(value.as_bytes())
        .map(Some)
        .map_err(ApiError::bad_request)
}

/// `Query` with our error body (400 on a bad parameter).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Decoding would replace bytes that are not UTF-8 with U+FFFD and store something
        // the client never sent (a path segment with them is a 400 already).
        if let Some(name) = parts.uri.query().and_then(non_utf8_parameter) {
            return Err(ApiError::bad_request(format!(
                "invalid query: the value of `{name}` is not UTF-8"
            )));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| ApiQuery(t))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
    }
}

/// The name of the first parameter of `query` whose value is not UTF-8 once decoded.
fn non_utf8_parameter(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.replace('+', " ");
        percent_encoding::percent_decode_str(&value)
            .decode_utf8()
            .is_err()
            .then(|| {
                percent_encoding::percent_decode_str(name)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    })
}

/// The next data chunk of `body` (trailers are skipped), `None` at its end.
async fn next_chunk<B>(mut body: Pin<&mut B>) -> Option<Result<Bytes, B::Error>>
where
    B: HttpBody<Data = Bytes>,
{
    loop {
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await?;
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// The body's bytes, or 413 once more than `limit` bytes arrived (400 if reading fails).
/// A body that arrives in one chunk (the usual case) is passed on without a copy.
///
/// Borrowed, not taken: a body taken by value would be carried twice by the future (as the
/// argument and pinned), inside the pipeline's future that already holds it (issue 19).
pub(crate) async fn collect_body<B>(body: &mut B, limit: usize) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Display,
{
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    let read_error =
        |e: B::Error| ApiError::bad_request(format!("cannot read the request body: {e}"));
    let mut body = Pin::new(body);
    let Some(first) = next_chunk(body.as_mut())
        .await
        .transpose()
        .map_err(read_error)?
    else {
        return Ok(Bytes::new());
    };
    if first.len() > limit {
        return Err(too_large());
    }
    // All of it already (a body of known length, fully arrived): no second poll to learn so.
    if body.is_end_stream() {
        return Ok(first);
    }
    let Some(second) = next_chunk(body.as_mut())
        .await
        .transpose()
        .map_err(read_error)?
    else {
        return Ok(first);
    };
    let mut buf = Vec::with_capacity((first.len() + second.len()) * 2);
    for chunk in [first, second] {
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    while let Some(chunk) = next_chunk(body.as_mut()).await {
        let chunk = chunk.map_err(read_error)?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The first byte of `body` that is not JSON whitespace: what kind of JSON value it holds.
pub(crate) fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// A JSON body parsed as `T`, a 400 naming what is wrong otherwise. Every JSON body the server
/// reads goes through here (or [`parse_json_list`]), so a bad body gets one answer everywhere.
/// JSON is UTF-8 (RFC 8259 §8.1): the whole body is checked once and parsed as `str`, not as
/// bytes whose every string serde checks again (two checks per single-message produce were
/// 2% of its instructions, issue 19).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON body: not UTF-8 at byte offset {}",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A body that is one JSON object or an array of them, as a list ([`parse_json`]).
pub(crate) fn parse_json_list<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ApiError> {
    if first_byte(body) == Some(b'[') {
        parse_json(body)
    } else {
        parse_json(body).map(|one| vec![one])
    }
}

/// [`collect_body`] within `timeout` (`Err` once it passed). The timer is set only if the
/// body is not all there at the first poll: the usual small request arrives with its head,
/// and then costs no clock reading and no timer (issue 19).
pub(crate) async fn collect_body_within<B>(
    body: &mut B,
    limit: usize,
    timeout: Duration,
) -> Result<Result<Bytes, ApiError>, Elapsed>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Display,
{
    let mut read = pin!(collect_body(body, limit));
    if let Poll::Ready(done) = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
        return Ok(done);
    }
    // The timer starts now rather than before the first poll, which took no time to speak of.
    // Boxed: a timer is a large value, and this rare wait would otherwise be room in every
    // request's pipeline future (which has to stay small, see `ApiService::handle`).
    Box::pin(tokio::time::timeout(timeout, read)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::IntoResponse;

    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Body::from_stream(futures::stream::iter(parts))
    }

    #[tokio::test]
    async fn bodies_are_joined_across_chunks_and_capped() {
        let one = collect_body(&mut chunked(&[b"abc"]), 3).await.unwrap();
        assert_eq!(&one[..], b"abc");
        let many = collect_body(&mut chunked(&[b"ab", b"cd", b"e"]), 5)
            .await
            .unwrap();
        assert_eq!(&many[..], b"abcde");
        let empty = collect_body(&mut chunked(&[]), 5).await.unwrap();
        assert!(empty.is_empty());
        for chunks in [
            &[b"abcdef" as &[u8]][..],
            &[b"ab", b"cd", b"ef"],
            &[b"abc", b"def"],
        ] {
            let err = collect_body(&mut chunked(chunks), 5).await.unwrap_err();
            assert_eq!(
                err.into_response().status(),
                StatusCode::PAYLOAD_TOO_LARGE,
                "{chunks:?}"
            );
        }
    }

    /// A body that is not UTF-8 is refused naming where, as one object and as an array; one
    /// that is not JSON names serde's reason; valid text parses, either shape.
    #[test]
    fn json_bodies_are_refused_naming_what_is_wrong() {
        #[derive(Debug, serde::Deserialize)]
        struct Named {
            x: String,
        }
        let err = parse_json::<Named>(b"{\"x\":\"\xff\"}").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.message, "invalid JSON body: not UTF-8 at byte offset 6");
        let err = parse_json_list::<Named>(b"[{\"x\":\"\xe2\x82\"}]").unwrap_err();
        assert_eq!(err.message, "invalid JSON body: not UTF-8 at byte offset 7");
        let err = parse_json::<Named>(b"{\"x\":1}").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.message
                .starts_with("invalid JSON body: invalid type: integer `1`"),
            "{}",
            err.message
        );
        let one = parse_json_list::<Named>(" {\"x\":\"é\"}".as_bytes()).unwrap();
        let many = parse_json_list::<Named>(b"\n[{\"x\":\"a\"},{\"x\":\"b\"}]").unwrap();
        assert_eq!(one.iter().map(|n| n.x.as_str()).collect::<Vec<_>>(), ["é"]);
        assert_eq!(
            many.iter().map(|n| n.x.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(first_byte(b" \t\r\n[1]"), Some(b'['));
        assert_eq!(first_byte(b"  "), None);
    }

    #[test]
    fn a_body_that_came_with_its_head_is_read_without_a_timer() {
        // No time driver: a timer set for this read would panic (`enable_time` not called).
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read = rt.block_on(collect_body_within(
            &mut Body::from("abc"),
            5,
            Duration::from_secs(1),
        ));
        assert_eq!(&read.unwrap().unwrap()[..], b"abc");
        // The cap holds on that path too.
        let read = rt.block_on(collect_body_within(
            &mut Body::from("abcdef"),
            5,
            Duration::from_secs(1),
        ));
        let err = read.unwrap().unwrap_err();
        assert_eq!(err.into_response().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_times_out() {
        use futures::StreamExt;
        let first: Result<Bytes, std::io::Error> = Ok(Bytes::from_static(b"ab"));
        let stalled = futures::stream::iter([first]).chain(futures::stream::pending());
        let mut body = Body::from_stream(stalled);
        let read = collect_body_within(&mut body, 5, Duration::from_secs(30)).await;
        assert!(read.is_err(), "{read:?}");
    }
}

/// Whether a long poll may wait: not when the pipeline found the waiting-poll budget
/// (`Limits::max_waiting_polls`) spent, so that a poll answers at once with what is there (or
/// `[]`) rather than wait for a place.
#[derive(Debug, Clone, Copy)]
pub struct PollWait {
    may_wait: bool,
}

impl PollWait {
    /// The time this poll may wait: the request's `timeout` (query first, then body; else the
    /// default), capped at `Limits::max_timeout`; zero when the budget is spent.
    pub(crate) fn timeout(
        self,
        state: &super::state::AppState,
        query: Option<u64>,
        body: Option<u64>,
    ) -> std::time::Duration {
        if self.may_wait {
            state.poll_timeout(query, body)
        } else {
            std::time::Duration::ZERO
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PollWait {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            may_wait: parts
                .extensions
                .get::<super::pipeline::PollsSpent>()
                .is_none(),
        })
    }
}
