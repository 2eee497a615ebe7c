//! The request pipeline around the routes, in one pass: [`ApiService`].
//!
//! Every request goes, in this order, through
//!
//! 1. the route label (matched route pattern, trailing `/` folded, or `unmatched`) and a start
//!    time, for the metrics and the access log;
//! 2. Basic auth ([`auth::authorized`]; `/webhook` also takes `user=`/`pass=`), before anything
//!    of the body is read: a 401 costs the server nothing. `GET /metrics` checks credentials
//!    itself (it may be open to scrapers) and skips steps 2–4;
//! 3. reading the whole body within `Limits::body_read_timeout` (408 and `Connection: close`
//!    otherwise) and `Limits::max_body_bytes` (413), *before* taking a request slot, so a client
//!    that stalls its body cannot hold a slot that other requests need;
//! 4. one of `Limits::max_concurrent_requests` slots (more requests wait);
//! 5. the axum router of the endpoints;
//! 6. error responses that are not JSON yet (405 from method routing, …) rewritten into
//!    `{"error", "status"}`, keeping `Allow`;
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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use hyper::body::Body as HttpBody;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use super::auth;
use super::error::ApiError;
use super::metrics::RouteLabel;
use super::routes::AppState;

/// The label of requests no route matched.
static UNMATCHED: RouteLabel = RouteLabel::Unmatched;

/// The endpoints as an axum router plus a table of their route patterns, built together so
/// that the pipeline can label a request with its route before (and without) routing it.
pub(crate) struct Routes {
    router: Router<AppState>,
    labels: matchit::Router<RouteLabel>,
}

impl Routes {
    /// No routes yet.
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            labels: matchit::Router::new(),
        }
    }

    /// Serves `path` with `m`.
    pub(crate) fn route(mut self, path: &str, m: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, m);
        // The router above panics on a conflicting pattern before this could fail.
        let _ = self.labels.insert(path, fold_trailing_slash(path).into());
        self
    }

    /// Serves `path` and `path/` with `m`.
    pub(crate) fn both(self, path: &str, m: MethodRouter<AppState>) -> Self {
        self.route(path, m.clone()).route(&format!("{path}/"), m)
    }

    /// The pipeline around these routes; `fallback` answers unmatched paths.
    pub(crate) fn finish<H, T>(self, fallback: H, state: AppState) -> ApiService
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let router = self.router.fallback(fallback).with_state(state.clone());
        let slots = Semaphore::new(state.limits.max_concurrent_requests.max(1));
        ApiService {
            shared: Arc::new(Shared {
                router,
                labels: self.labels,
                slots,
                state,
            }),
        }
    }
}

/// `/a/b/` → `/a/b`; `/` stays.
fn fold_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => path,
    }
}

struct Shared {
    router: Router,
    labels: matchit::Router<RouteLabel>,
    slots: Semaphore,
    state: AppState,
}

/// The whole API as one service: around the router of every endpoint, one pass of Basic auth
/// (before the body is read), the body read within the size and time limits, a request slot,
/// the JSON error shape, and per-request metrics and access log. Cheap to clone (one `Arc`). It is a `tower::Service` for
/// `Request<axum::body::Body>` (what [`super::router`] wraps) and a `hyper` service for
/// `Request<hyper::body::Incoming>` (what the server runs on each connection).
#[derive(Clone)]
pub struct ApiService {
    shared: Arc<Shared>,
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
    /// The route label of `path`: the matched pattern with a trailing `/` folded, or
    /// `unmatched`.
    fn label(&self, path: &str) -> &RouteLabel {
        self.shared.labels.at(path).map_or(&UNMATCHED, |m| m.value)
    }

    async fn handle<B>(self, req: Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Display + Into<axum::BoxError>,
    {
        let start = Instant::now();
        let route = self.label(req.uri().path());
        let method = req.method().clone();
        let resp = json_errors(self.respond(req).await);
        let latency = start.elapsed();
        let status = resp.status().as_u16();
        let state = &self.shared.state;
        state
            .metrics
            .record_request(method.as_str(), route, status, latency);
        tracing::info!(
            target: "upkafka::access",
            method = %method,
            route = %route,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        );
        resp
    }

    /// Steps 2–5 of the pipeline.
    async fn respond<B>(&self, req: Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Display + Into<axum::BoxError>,
    {
        let shared = &*self.shared;
        let state = &shared.state;
        if req.uri().path() == "/metrics" {
            return self.route(req.map(Body::new)).await;
        }
        if let Some(expected) = state.credentials.as_deref()
            && !auth::authorized(expected, req.headers(), req.uri())
        {
            tracing::debug!(
                path = req.uri().path(),
                "rejected request without valid credentials"
            );
            return ApiError::unauthorized().into_response();
        }
        let (parts, body) = req.into_parts();
        let limits = &state.limits;
        let read = tokio::time::timeout(
            limits.body_read_timeout,
            collect_body(body, limits.max_body_bytes),
        )
        .await;
        let bytes = match read {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return e.into_response(),
            Err(_) => {
                let mut resp = ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                )
                .into_response();
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return resp;
            }
        };
        // The semaphore is never closed; an error cannot happen, but is a 503 if it did.
        let Ok(_slot) = shared.slots.acquire().await else {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )
            .into_response();
        };
        self.route(Request::from_parts(parts, Body::from(bytes)))
            .await
    }

    async fn route(&self, req: Request<Body>) -> Response {
        match self.shared.router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
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
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for ApiService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ApiFuture;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
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
pub(crate) async fn collect_body<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Display,
{
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    let read_error =
        |e: B::Error| ApiError::bad_request(format!("cannot read the request body: {e}"));
    let mut body = std::pin::pin!(body);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Body::from_stream(futures::stream::iter(parts))
    }

    #[tokio::test]
    async fn bodies_are_joined_across_chunks_and_capped() {
        let one = collect_body(chunked(&[b"abc"]), 3).await.unwrap();
        assert_eq!(&one[..], b"abc");
        let many = collect_body(chunked(&[b"ab", b"cd", b"e"]), 5)
            .await
            .unwrap();
        assert_eq!(&many[..], b"abcde");
        let empty = collect_body(chunked(&[]), 5).await.unwrap();
        assert!(empty.is_empty());
        for chunks in [
            &[b"abcdef" as &[u8]][..],
            &[b"ab", b"cd", b"ef"],
            &[b"abc", b"def"],
        ] {
            let err = collect_body(chunked(chunks), 5).await.unwrap_err();
            assert_eq!(
                err.into_response().status(),
                StatusCode::PAYLOAD_TOO_LARGE,
                "{chunks:?}"
            );
        }
    }

    #[test]
    fn labels_fold_the_trailing_slash() {
        assert_eq!(fold_trailing_slash("/produce/{topic}/"), "/produce/{topic}");
        assert_eq!(fold_trailing_slash("/ui/"), "/ui");
        assert_eq!(fold_trailing_slash("/"), "/");
        assert_eq!(fold_trailing_slash("/topics"), "/topics");
    }
}
