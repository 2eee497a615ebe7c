//! The web console at `/ui` and the `/metrics` endpoint.
//!
//! The console is one HTML page, one script and one stylesheet, embedded in the binary with
//! `include_str!` (no front-end toolchain, no framework). It is served behind the same Basic
//! auth as the API (a 401 carries `WWW-Authenticate: Basic`, so a browser asks for the
//! credentials once) and is built on the public REST API itself: the page calls `/topics`,
//! `/offsets/earliest|latest`, `/consumers`, `/committed/{g}/{i}`, `/fetch` and `/produce`
//! with the browser's credentials, so it works on any [`Backend`](super::Backend). Two small
//! JSON helpers live under `/ui/api`:
//!
//! - `GET /ui/api/stats`: per-topic counters and the per-second history of produced and
//!   consumed messages of the last five minutes, from which the overview draws its rate
//!   chart (the same counters `/metrics` exports);
//! - `POST /ui/api/classify` with a JSON array of message values: the tutorial's OK/ERROR
//!   verdict per value that is a sensor reading (`null` otherwise), from [`upkafka_sensor`], so
//!   there is one rule.
//!
//! `GET /metrics` is declared [`Access::Handler`]: the request pipeline passes it without the
//! API's auth check, and it checks the credentials itself unless [`MetricsAuth::None`] is
//! configured.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use upkafka_sensor::{Ranges, Reading, classify};

use super::auth;
use super::config::MetricsAuth;
use super::error::ApiError;
use super::extract::RawBody;
use super::history::{HISTORY_SECONDS, Second};
use super::metrics::{self, TopicCounters};
use super::route_table::{Access, Permit, Routes};
use super::state::AppState;

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");

/// The page may load only its own script and style, and talk only to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn index() -> Response {
    let mut resp = asset("text/html; charset=utf-8", INDEX_HTML);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    /// Server time, Unix seconds.
    now: u64,
    history_seconds: u64,
    /// Seconds with activity, oldest first.
    history: Vec<Second>,
    topics: std::collections::BTreeMap<String, TopicCounters>,
}

/// `GET /ui/api/stats`.
async fn stats(State(s): State<AppState>) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    axum::Json(Stats {
        now,
        history_seconds: HISTORY_SECONDS,
        history: s.metrics.history(),
        topics: s.metrics.topic_counters(),
    })
    .into_response()
}

#[derive(Debug, Serialize)]
struct Verdict {
    status: &'static str,
    measure: String,
}

/// `POST /ui/api/classify`: `["{\"device\":1,…}", …]` → `[{"status":"OK","measure":…} | null]`.
async fn classify_values(RawBody(body): RawBody) -> Result<Response, ApiError> {
    let values: Vec<String> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected a JSON array of strings: {e}")))?;
    let ranges = Ranges::default();
    let verdicts: Vec<Option<Verdict>> = values
        .iter()
        .map(|v| {
            Reading::parse(v).ok().map(|r| Verdict {
                status: classify(&r, &ranges).as_str(),
                measure: r.measure.to_string(),
            })
        })
        .collect();
    Ok(axum::Json(verdicts).into_response())
}

/// Adds the console's routes (behind the API's auth) and `/metrics` (which checks credentials
/// itself) to the API's routes.
pub(crate) fn routes(r: Routes) -> Routes {
    use Access::Credentials as C;
    // The console shows every topic and group: the server's own credential only.
    let s = Permit::SERVER;
    r.both("/ui", C, s, get(index))
        .route("/ui/app.js", C, s, get(app_js))
        .route("/ui/app.css", C, s, get(app_css))
        .route("/ui/api/stats", C, s, get(stats))
        .route("/ui/api/classify", C, s, post(classify_values))
        .route("/metrics", Access::Handler, s, get(metrics_endpoint))
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics_endpoint(State(s): State<AppState>, req: Request) -> Response {
    if s.metrics_auth == MetricsAuth::Same
        && let Some(expected) = s.tenancy.server()
    {
        let ok = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| auth::basic(v.as_bytes()))
            .is_some_and(|(u, p)| expected.matches(&u, &p));
        if !ok {
            return ApiError::unauthorized().into_response();
        }
    }
    let body = s.metrics.render(s.backend.as_ref()).await;
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    resp
}
