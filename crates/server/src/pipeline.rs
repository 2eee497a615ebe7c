//! The request pipeline around the routes, in one pass: [`ApiService`].
//!
//! Every request goes, in this order, through
//!
//! 0. off a connection only: the message rules hyper leaves to us (HTTP/1.1 needs `Host`,
//!    400; only the `chunked` transfer coding, 501; see `check_framing`);
//! 1. the route label (matched route pattern, trailing `/` folded, or `unmatched`) and a start
//!    time, for the metrics and the access log; when CORS is configured, a preflight is
//!    answered here, without credentials ([`super::cors`]);
//! 2. the access policy the route table declares for the route
//!    ([`Access`]): Basic auth or a Bearer token
//!    ([`Tenancy::authenticate`](super::tenancy::Tenancy); the webhook also takes
//!    `user=`/`pass=`, the reading routes `token=`), before anything of the body is read, so a
//!    401 costs the server nothing; repeated 401s from one address wait first
//!    ([`crate::slowdown`]). A route whose handler checks credentials itself (`GET /metrics`,
//!    which may be open to scrapers) skips steps 2–4. For a scoped credential, the route's
//!    [`Permit`](super::route_table::Permit) is then checked
//!    ([`authorize`](super::tenancy::authorize)) against the topics of the path and query
//!    (403 before the body is read), and after step 3 against those of the body; its daily
//!    request limit is counted here and its messages-per-second limit after step 3 (429,
//!    [`super::quota`]). A declared `Content-Length` over the body limit is a 413 here;
//! 3. reading the whole body within `Limits::body_read_timeout` (408 and `Connection: close`
//!    otherwise) and `Limits::max_body_bytes` (413), *before* taking a request slot, so a client
//!    that stalls its body cannot hold a slot that other requests need;
//! 4. one of `Limits::max_concurrent_requests` slots (more requests wait); a long poll (a
//!    route that [waits](super::route_table::Permit::waits) for records) takes one of
//!    `Limits::max_waiting_polls` instead, so that waiting holds no slot that work needs, and
//!    answers at once when that budget is spent;
//! 5. the axum router of the endpoints, or, for the routes the table marks
//!    [`Direct`](super::route_table::Direct) (the body produces), their handler called here
//!    with the body already read;
//! 6. error responses that are not JSON yet (405 from method routing, …) rewritten into
//!    `{"error", "status"}`, keeping `Allow`; then, when CORS is configured, the CORS headers
//!    of the request's origin, on every answer of steps 2–6;
//! 7. counting and timing into [`Metrics`](super::metrics::Metrics) per method, route and
//!    status, and one `tracing` event (target `upkafka::access`: method, route, status,
//!    latency; never headers or bodies).
//!
//! This used to be four `axum::middleware::from_fn` layers, a body-limit layer and a
//! concurrency-limit layer on the router. `Router::layer` wraps every route separately and each
//! `from_fn` clones the boxed service stack under it on every request: about 60 of the 105 heap
//! allocations of a single-message produce. Here the pipeline is one future around one router
//! call.

use std::fmt::Display;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Body as HttpBody;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use super::backend::BoxFuture;
use super::connections::{Busy, Connection};
use super::cors::CorsCheck;
use super::error::ApiError;
use super::extract::{collect_body_within, first_byte};
use super::route_table::{Access, DirectRequest, Lookup, Need, RouteTable, Routes, decode_param};
use super::slowdown::Slowdown;
use super::state::AppState;
use super::tenancy::{self, Grant};

struct Shared {
    router: Router,
    table: RouteTable,
    slots: Semaphore,
    /// Long polls (routes that [wait](super::route_table::Permit::waits) for records) take one
    /// of these instead of a request slot; when none is left, a poll answers at once.
    waiting: Semaphore,
    state: AppState,
    slowdown: Slowdown,
}

/// The whole API as one service: around the router of every endpoint, one pass of Basic auth
/// (before the body is read), the body read within the size and time limits, a request slot,
/// the JSON error shape, and per-request metrics and access log. Cheap to clone (one `Arc`).
/// It is a `tower::Service` for
/// `Request<axum::body::Body>` (what [`super::router`] wraps) and a `hyper` service for
/// `Request<hyper::body::Incoming>` (what the server runs on each connection).
#[derive(Clone)]
pub struct ApiService {
    shared: Arc<Shared>,
    /// The connection served, when there is one: its address (repeated 401s from one address
    /// are slowed down, see [`crate::slowdown`]), and its standing in the connection table
    /// (busy while a request is in flight, proven once one passed authentication).
    connection: Option<Arc<Connection>>,
}

impl std::fmt::Debug for ApiService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiService").finish_non_exhaustive()
    }
}

/// The boxed response future of [`ApiService`] (it never fails: errors are responses).
pub type ApiFuture =
    Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

impl ApiService {
    /// The pipeline around `routes`; `fallback` answers paths no route matches.
    pub(crate) fn new<H, T>(routes: Routes, fallback: H, state: AppState) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let (router, table) = routes.into_parts();
        let router = router.fallback(fallback).with_state(state.clone());
        let slots = Semaphore::new(state.limits.max_concurrent_requests.max(1));
        let waiting = Semaphore::new(state.limits.max_waiting_polls.max(1));
        Self {
            shared: Arc::new(Shared {
                router,
                table,
                slots,
                waiting,
                state,
                slowdown: Slowdown::default(),
            }),
            connection: None,
        }
    }

    /// This service for the requests of one connection.
    #[must_use]
    pub(crate) fn for_connection(&self, connection: Arc<Connection>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            connection: Some(connection),
        }
    }

    fn peer(&self) -> Option<IpAddr> {
        self.connection.as_ref().map(|c| c.peer())
    }

    /// The pipeline, steps 1–7, for one request; `busy` (off a connection) keeps the
    /// connection in flight until the answer is written, or its body ends when it streams.
    ///
    /// One future, not one per step, holding the request's parts and body only: every level
    /// of nested async functions kept its own copy of the request it was handed (an `async fn`
    /// keeps its arguments and their moved copies). This future is allocated and moved once
    /// per request; it was 3 KB, now under glibc's 1,032-byte thread cache, which serves it
    /// without the allocator's slow path (issue 19: keep rare waits boxed and big values
    /// borrowed, or it grows back; a test fails when it does).
    fn handle<B>(
        self,
        req: Request<B>,
        busy: Option<Busy>,
    ) -> impl Future<Output = Result<Response, std::convert::Infallible>> + Send
    where
        B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Display + Into<axum::BoxError>,
    {
        // Captured as they are (a `let` inside would be a second copy in the future).
        let (mut parts, mut body) = req.into_parts();
        async move {
            let start = Instant::now();
            // The path is borrowed from the parts, which the router path moves on: the label and
            // policy borrow only the table.
            let route = self.shared.table.lookup(parts.uri.path());
            let label = route.label;
            let method = parts.method.clone();
            // CORS, when configured: a preflight is answered here, before auth (browsers send it
            // without credentials); every other answer gets its origin's headers, errors included.
            let cors = self
                .shared
                .state
                .cors
                .as_deref()
                .map(|c| c.check(&method, &parts.headers));
            // `if let`, not `match`: the preflight's `None` is not kept across the awaits below.
            let mut resp = if let Some(answer) = cors.as_ref().and_then(CorsCheck::preflight) {
                answer
            } else {
                // Steps 2–5; each refusal breaks out with its answer.
                json_errors('answer: {
                    let shared = &*self.shared;
                    let state = &shared.state;
                    let query_allowed = match route.access {
                        Access::Handler => {
                            let req = Request::from_parts(parts, Body::new(body));
                            break 'answer self.route(req).await;
                        }
                        Access::Credentials => false,
                        Access::CredentialsOrQuery => true,
                    };
                    // `?token=` where an `EventSource` needs it: the routes that only read.
                    let token_query = route.permit.query_token;
                    let grant = match state
                        .tenancy
                        .authenticate(&parts.headers, &parts.uri, query_allowed, token_query)
                        .await
                    {
                        Ok(grant) => {
                            if let Some(connection) = &self.connection {
                                connection.proven();
                            }
                            grant
                        }
                        Err(e) => {
                            tracing::debug!(
                                path = parts.uri.path(),
                                "rejected request without valid credentials"
                            );
                            if let Some(peer) = self.peer() {
                                let wait = shared.slowdown.failed(peer, Instant::now());
                                if !wait.is_zero() {
                                    tokio::time::sleep(wait).await;
                                }
                            }
                            break 'answer e.into_response();
                        }
                    };
                    if let Grant::Scoped(s) = &grant {
                        if let Err(e) = check_head(&grant, &route, &parts.uri) {
                            break 'answer e.into_response();
                        }
                        if s.quota.limits().requests_per_day.is_some() {
                            let now = u64::try_from(crate::backend::clock::now_secs()).unwrap_or(0);
                            if let Err(over) = s.quota.request(&s.credential_name, now) {
                                break 'answer over.into_response();
                            }
                        }
                    }
                    let limits = &state.limits;
                    if let Some(declared) = declared_length(&body)
                        && declared > limits.max_body_bytes as u64
                    {
                        // Refused before a byte of it is read: the client waits for nothing, and one that
                        // sent `Expect: 100-continue` is never told to go on (hyper sends the 100 only
                        // when the body is first read).
                        let mut resp = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "request body too large: {declared} bytes declared, over the limit of {} \
                         bytes (--max-body)",
                        limits.max_body_bytes
                    ),
                )
                .into_response();
                        resp.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        break 'answer resp;
                    }
                    let read = collect_body_within(
                        &mut body,
                        limits.max_body_bytes,
                        limits.body_read_timeout,
                    )
                    .await;
                    let bytes = match read {
                        Ok(Ok(bytes)) => bytes,
                        Ok(Err(e)) => break 'answer e.into_response(),
                        Err(_) => {
                            let mut resp = ApiError::new(
                                StatusCode::REQUEST_TIMEOUT,
                                "the request body did not arrive in time",
                            )
                            .into_response();
                            resp.headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                            break 'answer resp;
                        }
                    };
                    if let Grant::Scoped(s) = &grant {
                        if route.permit.body_topics {
                            let permit = route.permit;
                            let checked = tenancy::body_topics(&bytes).and_then(|topics| {
                                tenancy::authorize(
                                    &grant,
                                    permit.need,
                                    topics.iter().map(String::as_str),
                                )
                            });
                            if let Err(e) = checked {
                                break 'answer e.into_response();
                            }
                        }
                        if route.permit.need == Need::Produce
                            && s.quota.limits().messages_per_second.is_some()
                        {
                            // The webhook (the route with a query topic) is one message whatever its body.
                            let records = if route.permit.query_topic.is_some() {
                                1
                            } else {
                                record_count(&bytes)
                            };
                            if let Err(over) = s.quota.messages(&s.credential_name, records) {
                                break 'answer over.into_response();
                            }
                        }
                    }
                    // Only for scoped callers: the server's own requests carry no extension (and allocate
                    // nothing for it); handlers that filter read its absence as "everything". Produce
                    // handlers never look (the checks above are all a produce needs), so their requests
                    // are spared the extension map's allocation.
                    if matches!(grant, Grant::Scoped(_)) && route.permit.need != Need::Produce {
                        parts.extensions.insert(grant);
                    }
                    // A long poll waits on its own budget, so that waiting holds no slot that work needs;
                    // with that budget spent it answers at once, with what is there (or `[]`).
                    let waiting = if route.permit.waits {
                        let permit = shared.waiting.try_acquire().ok();
                        if permit.is_none() {
                            parts.extensions.insert(PollsSpent);
                        }
                        permit
                    } else {
                        None
                    };
                    let _slot = match waiting {
                        Some(_) => None,
                        // Taken at once when one is free (no waiter node to queue; never ahead of a waiter,
                        // since tokio hands a released permit to the waiters first), else waited for. The
                        // semaphore is never closed; an error cannot happen, but is a 503 if it did.
                        None => {
                            let slot = match shared.slots.try_acquire() {
                                Ok(slot) => Ok(slot),
                                Err(_) => shared.slots.acquire().await,
                            };
                            match slot {
                                Ok(slot) => Some(slot),
                                Err(_) => {
                                    break 'answer ApiError::new(
                                        StatusCode::SERVICE_UNAVAILABLE,
                                        "the server is shutting down",
                                    )
                                    .into_response();
                                }
                            }
                        }
                    };
                    match (route.direct, &route.params) {
                        (Some(direct), Some(params)) => {
                            let req = DirectRequest {
                                method: &parts.method,
                                headers: &parts.headers,
                                params,
                                body: bytes,
                            };
                            direct.call(state, req).await
                        }
                        _ => {
                            let req = Request::from_parts(parts, Body::from(bytes));
                            self.route(req).await
                        }
                    }
                })
            };
            if let Some(cors) = cors {
                cors.decorate(&mut resp);
            }
            let latency = start.elapsed();
            let status = resp.status().as_u16();
            let state = &self.shared.state;
            state
                .metrics
                .record_request(method.as_str(), label, status, latency);
            tracing::info!(
                target: "upkafka::access",
                method = %method,
                route = %label,
                status,
                latency_ms = latency.as_secs_f64() * 1000.0,
                "request"
            );
            // An answer that streams (an event stream) is in flight until its body ends.
            Ok(match busy {
                Some(busy) if resp.body().size_hint().exact().is_none() => {
                    resp.map(|body| Body::new(Streaming { body, _busy: busy }))
                }
                _ => resp,
            })
        }
    }

    /// The axum router's answer to `req`. Boxed: the router's future is 576 bytes, and only
    /// the routes it serves should carry it, not every request's pipeline future.
    fn route(&self, req: Request<Body>) -> BoxFuture<'static, Response> {
        let router = self.shared.router.clone();
        Box::pin(async move {
            match router.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        })
    }
}

impl tower::Service<Request<Body>> for ApiService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ApiFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        Box::pin(self.clone().handle(req, None))
    }
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for ApiService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ApiFuture;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        if let Err(e) = check_framing(&req) {
            let mut resp = e.into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Box::pin(std::future::ready(Ok(resp)));
        }
        // In flight until answered: a busy connection is never closed to make room, nor for
        // idling (`Connection::idle_for`).
        let busy = self.connection.as_ref().map(Connection::busy);
        Box::pin(self.clone().handle(req, busy))
    }
}

/// The body of a streaming answer, holding its connection busy until it is dropped.
struct Streaming {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Streaming {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Marks a long poll that found the waiting-poll budget (`Limits::max_waiting_polls`) spent:
/// it answers at once ([`PollWait`](super::extract::PollWait)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollsSpent;

/// Message rules of RFC 9112 that hyper leaves to the server, checked for requests off a
/// connection (not for in-process calls of the router): an HTTP/1.1 request needs `Host`
/// (400, §3.2), and `chunked` is the only transfer coding served (501, §6.1), so that a body
/// is never read as something it is not.
fn check_framing<B: HttpBody>(req: &Request<B>) -> Result<(), ApiError> {
    if req.version() == axum::http::Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
        return Err(ApiError::bad_request(
            "an HTTP/1.1 request needs a Host header (RFC 9112, section 3.2)",
        ));
    }
    // A body of known length has no transfer coding: hyper reads a `Transfer-Encoding` body
    // as chunked (no exact size) or refuses the request itself when chunked is not last.
    if req.body().size_hint().exact().is_some() {
        return Ok(());
    }
    for value in req.headers().get_all(header::TRANSFER_ENCODING) {
        let text = value.to_str().unwrap_or("");
        if let Some(coding) = text
            .split(',')
            .map(str::trim)
            .find(|c| !c.eq_ignore_ascii_case("chunked"))
        {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("transfer coding `{coding}` is not supported: only chunked"),
            ));
        }
    }
    Ok(())
}

/// The body length the request declares, if any: hyper has read `Content-Length` (and
/// refused a malformed one) and says it as the body's exact size; a chunked body has none.
/// Read from the body, not the header: no second header lookup and parse per request.
fn declared_length<B: HttpBody>(body: &B) -> Option<u64> {
    body.size_hint().exact()
}

/// The permit check of a scoped caller before the body is read: the route's permission and
/// the topics of its path and query.
fn check_head(
    grant: &Grant,
    route: &Lookup<'_, '_>,
    uri: &axum::http::Uri,
) -> Result<(), ApiError> {
    let permit = route.permit;
    // Decoded as axum decodes path parameters, so the check sees the handler's topic; borrowed
    // unless it has escapes.
    let path = match route.path_topic() {
        Some(raw) => Some(decode_param("topic", raw)?),
        None => None,
    };
    let query: Vec<std::borrow::Cow<'_, str>> = match permit.query_topic {
        Some(name) => url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect(),
        None => Vec::new(),
    };
    let topics = path.iter().chain(query.iter()).map(AsRef::as_ref);
    tenancy::authorize(grant, permit.need, topics)
}

/// The records of a produce body: the length of a JSON array, else one (a single object, the
/// message in the path). A body that is not JSON counts one; the route refuses it anyway.
fn record_count(body: &[u8]) -> u64 {
    if first_byte(body) != Some(b'[') {
        return 1;
    }
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
        .map_or(1, |v| u64::try_from(v.len()).unwrap_or(u64::MAX))
}

/// Rewrites an error response that is not already JSON (405 from method routing, …) into the
/// `{error, status}` shape, keeping `Allow`.
fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return resp;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this endpoint".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
        StatusCode::NOT_FOUND => "not found: no such endpoint".to_owned(),
        StatusCode::UNAUTHORIZED => "unauthorized: missing or wrong credentials".to_owned(),
        s if s.is_server_error() => "internal server error".to_owned(),
        s => s
            .canonical_reason()
            .unwrap_or("request failed")
            .to_ascii_lowercase(),
    };
    let mut out = ApiError::new(status, message).into_response();
    if let Some(allow) = resp.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::embedded::{EmbeddedBackend, EmbeddedOptions};

    /// A body of the size and alignment of hyper's `Incoming`, which has no public
    /// constructor: the pipeline future's layout depends on its body type through those (no
    /// state keeps the body's error type across an await).
    #[repr(align(8))]
    struct LikeIncoming {
        _bytes: [u8; std::mem::size_of::<hyper::body::Incoming>()],
    }

    impl HttpBody for LikeIncoming {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(None)
        }
    }

    /// glibc serves requests of up to 1,032 bytes from its per-thread cache; a bigger one takes
    /// the allocator's slow path on every request (measured under callgrind: about 300
    /// instructions more per request, issue 19 target 3). The pipeline future is allocated once
    /// per request, so it has to stay within that. Measured in the test profile: the layout
    /// matched the release build's when compared (1,096 bytes both, the release one by DHAT's
    /// block size, before the body-read timer was boxed).
    #[tokio::test]
    async fn the_pipeline_future_of_a_request_fits_the_allocators_thread_cache() {
        assert_eq!(
            std::mem::align_of::<LikeIncoming>(),
            std::mem::align_of::<hyper::body::Incoming>()
        );
        let backend = EmbeddedBackend::open(EmbeddedOptions::default())
            .await
            .expect("in-memory log");
        let state = AppState::new(Arc::new(backend), &ServerConfig::default());
        let service = crate::app::service(state);
        let req = Request::post("/produce/t")
            .body(LikeIncoming {
                _bytes: [0; std::mem::size_of::<hyper::body::Incoming>()],
            })
            .expect("request");
        let future = service.handle(req, None);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1032, "the pipeline future is {size} bytes");
    }
}
