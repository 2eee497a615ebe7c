//! Cross-origin resource sharing (CORS): which web pages of other origins may call the API
//! from a browser, and the headers that tell the browser so. Off unless origins are
//! configured (`ServerConfig::cors_origins`, `upkafka serve --cors-origin`).
//!
//! The request pipeline asks the policy about each request once ([`Cors::check`]):
//!
//! - A **preflight** (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//!   at once, before authentication: browsers never send credentials on a preflight. The
//!   answer is the same for every path, known or not, so it tells an unauthenticated caller
//!   nothing about which routes exist. For an allowed origin it is a `204` with the methods,
//!   the request headers and a `Max-Age`; for any other origin a `403` `{error, status}`
//!   without CORS headers, so the browser refuses the request and never sends it (and the
//!   developer sees why in the network panel).
//! - **Every other response** to an allowed origin carries `Access-Control-Allow-Origin` and
//!   `Access-Control-Expose-Headers`, errors (401, 403, 413, 429, …) included, so browser code
//!   can read why a request failed.
//!
//! Choices:
//!
//! - A listed origin is echoed (with `Vary: Origin` on every response, allowed or not, so a
//!   shared cache never hands one origin's answer to another); `*` answers `*` to everyone.
//! - No `Access-Control-Allow-Credentials`: the API's credential is an `Authorization` header
//!   the page's script sets itself, not a cookie or a credential the browser keeps, so
//!   requests need no `credentials: "include"`, and `*` stays usable.
//! - Allowed request headers are a fixed list (not an echo of
//!   `Access-Control-Request-Headers`): the ones the API reads.
//! - Origins are `http` or `https` only; `null` (sandboxed frames, `file:` pages) cannot be
//!   listed, as any page can make itself `null`.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The methods the API's routes answer (`HEAD` with every `GET`).
const ALLOW_METHODS: &str = "GET, HEAD, POST, DELETE";

/// The request headers the API reads: Basic auth, the body's type, the consumer settings of
/// spec §4.3 (`Kafka-*`), an event stream's resume point, and idempotent produce retries.
/// `tests` check that every `Kafka-*` header of the protocol is here.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Kafka-Enable-Auto-Commit, \
     Kafka-Auto-Commit-Interval, Kafka-Auto-Offset-Reset, Kafka-Session-Timeout-Ms, \
     Last-Event-ID, Idempotency-Key";

/// Response headers browser code may read besides the CORS-safelisted ones: when to retry
/// (429, 503), the methods of a 405, and the body's type (safelisted, listed for clarity).
const EXPOSE_HEADERS: &str = "Content-Type, Retry-After, Allow";

/// How long a browser may reuse a preflight answer, in seconds: two hours, Chromium's cap
/// (Firefox allows a day). The policy only changes when the server restarts, and an origin
/// removed then is still refused: its real responses lose `Access-Control-Allow-Origin`.
const MAX_AGE: &str = "7200";

/// What a preflight from an origin that is not allowed hears (no CORS headers: the browser
/// refuses the request).
const REFUSED: &str =
    "cross-origin requests from this origin are not allowed (the server's --cors-origin)";

/// An origin whose pages may call the API from a browser: `scheme://host[:port]` (`http` or
/// `https`, no path) or `*` for every origin. Parsing validates and normalises it the way
/// browsers serialise the `Origin` header (lower-case scheme and host, IDN hosts as
/// punycode, the scheme's default port left out), so the configured text matches what
/// browsers send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin {
    /// The normalised origin, or `*`.
    text: String,
    /// The same, as the `Access-Control-Allow-Origin` value.
    header: HeaderValue,
}

impl CorsOrigin {
    /// Every origin (`*`).
    pub fn any() -> Self {
        Self {
            text: "*".to_owned(),
            header: HeaderValue::from_static("*"),
        }
    }

    /// Whether this is `*`, every origin.
    pub fn is_any(&self) -> bool {
        self.text == "*"
    }

    /// The normalised origin (`https://app.example.com`), or `*`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for CorsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for CorsOrigin {
    type Err = String;

    /// Parses `*` or `scheme://host[:port]`.
    ///
    /// # Errors
    /// A sentence naming `s` and what is wrong: another scheme, a path (even `/`), a query,
    /// user info, no or an invalid host or port.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            return Ok(Self::any());
        }
        let bad = |why: &str| {
            format!(
                "`{s}` is not a CORS origin: {why}; expected `scheme://host[:port]` \
                 (e.g. `https://app.example.com`) or `*`"
            )
        };
        let Some((scheme, authority)) = s.split_once("://") else {
            return Err(bad("no `://`"));
        };
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(bad("the scheme must be http or https"));
        }
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if let Some(c) = authority
            .chars()
            .find(|c| matches!(c, '/' | '?' | '#' | '\\') || c.is_whitespace())
        {
            return Err(bad(&format!(
                "an origin has no path, query or spaces (found `{c}`)"
            )));
        }
        if authority.contains('@') {
            return Err(bad("an origin has no user name or password"));
        }
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        let text = url.origin().ascii_serialization();
        // Ascii serialisation is always a valid header value; a failure is reported, not
        // assumed away.
        let header = HeaderValue::from_str(&text).map_err(|_| bad("not a valid header value"))?;
        Ok(Self { text, header })
    }
}

/// The CORS policy of a server with at least one origin configured.
#[derive(Debug)]
pub(crate) struct Cors {
    /// `*` is configured: every origin is allowed and answered `*`.
    any: bool,
    /// The allowed origins' header values, compared byte for byte with `Origin`.
    origins: Box<[HeaderValue]>,
}

impl Cors {
    /// The policy for `origins`; `None` (CORS off, nothing to do per request) when empty.
    /// `*` among them allows every origin (`ServerConfig::validate` refuses the mix).
    pub(crate) fn new(origins: &[CorsOrigin]) -> Option<Self> {
        if origins.is_empty() {
            return None;
        }
        Some(Self {
            any: origins.iter().any(CorsOrigin::is_any),
            origins: origins.iter().map(|o| o.header.clone()).collect(),
        })
    }

    /// What the policy makes of a request with `method` and `headers`, before it is handled.
    pub(crate) fn check(&self, method: &Method, headers: &HeaderMap) -> CorsCheck<'_> {
        let origin = headers.get(header::ORIGIN);
        let allowed = if self.any {
            Some(HeaderValue::from_static("*"))
        } else {
            origin.and_then(|o| self.origins.iter().find(|a| *a == o).cloned())
        };
        let preflight = method == Method::OPTIONS
            && origin.is_some()
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        CorsCheck {
            cors: self,
            preflight,
            allowed,
        }
    }
}

/// The policy's verdict on one request: answer it as a preflight, or decorate its response.
#[derive(Debug)]
pub(crate) struct CorsCheck<'a> {
    cors: &'a Cors,
    /// An `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    preflight: bool,
    /// The `Access-Control-Allow-Origin` value, when the origin is allowed.
    allowed: Option<HeaderValue>,
}

impl CorsCheck<'_> {
    /// The answer to a preflight (`204` with the CORS headers for an allowed origin, `403`
    /// without them otherwise); `None` for any other request, which the pipeline handles.
    pub(crate) fn preflight(&self) -> Option<Response> {
        if !self.preflight {
            return None;
        }
        let mut resp = match &self.allowed {
            Some(origin) => {
                let mut resp = StatusCode::NO_CONTENT.into_response();
                let h = resp.headers_mut();
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOW_METHODS),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOW_HEADERS),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(MAX_AGE),
                );
                resp
            }
            None => ApiError::new(StatusCode::FORBIDDEN, REFUSED).into_response(),
        };
        self.vary(&mut resp);
        Some(resp)
    }

    /// Adds to `resp` the CORS headers its request's origin gets (a preflight's answer has
    /// them already).
    pub(crate) fn decorate(self, resp: &mut Response) {
        if self.preflight {
            return;
        }
        self.vary(resp);
        if let Some(origin) = self.allowed {
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    }

    /// `Vary: Origin` when the answer depends on the origin (listed origins, not `*`).
    fn vary(&self, resp: &mut Response) {
        if !self.cors.any {
            resp.headers_mut()
                .append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Result<String, String> {
        s.parse::<CorsOrigin>().map(|o| o.to_string())
    }

    #[test]
    fn origins_are_validated_and_normalised_as_browsers_send_them() {
        for (given, normal) in [
            ("*", "*"),
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM", "https://app.example.com"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("https://example.com:443", "https://example.com"),
            ("http://example.com:80", "http://example.com"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(origin(given).as_deref(), Ok(normal), "{given}");
        }
        for (bad, says) in [
            ("app.example.com", "://"),
            ("ftp://example.com", "http or https"),
            ("null", "://"),
            ("https://", "no host"),
            ("https://example.com/", "no path"),
            ("https://example.com/app", "no path"),
            ("https://example.com?x=1", "no path"),
            ("https://user:pw@example.com", "user name"),
            ("https://example.com:99999", "port"),
            ("https://exa mple.com", "spaces"),
            ("", "://"),
        ] {
            let err = origin(bad).expect_err(bad);
            assert!(
                err.contains(&format!("`{bad}`")) && err.contains(says),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn every_kafka_header_of_the_protocol_may_be_sent() {
        use upkafka_protocol::{
            IDEMPOTENCY_KEY, KAFKA_AUTO_COMMIT_INTERVAL, KAFKA_AUTO_OFFSET_RESET,
            KAFKA_ENABLE_AUTO_COMMIT, KAFKA_SESSION_TIMEOUT_MS,
        };
        let allowed: Vec<&str> = ALLOW_HEADERS.split(", ").collect();
        for h in [
            KAFKA_ENABLE_AUTO_COMMIT,
            KAFKA_AUTO_COMMIT_INTERVAL,
            KAFKA_AUTO_OFFSET_RESET,
            KAFKA_SESSION_TIMEOUT_MS,
            "Authorization",
            "Content-Type",
            "Last-Event-ID",
            IDEMPOTENCY_KEY,
        ] {
            assert!(allowed.contains(&h), "{h} missing from {ALLOW_HEADERS}");
        }
    }

    #[test]
    fn no_origins_is_no_policy() {
        assert!(Cors::new(&[]).is_none());
    }
}
