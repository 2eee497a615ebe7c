//! The [`Client`] and its one private request path: auth, timeouts, retries, error decoding.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::Config;
use super::error::{Error, Result, snippet};
use super::retry::parse_retry_after;
use upkafka_protocol::{ErrorBody, Message, decode_messages};

/// Characters left as they are in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How much of an unexpected body an error message quotes.
const SNIPPET_CHARS: usize = 200;

/// An async client for one Upstash-compatible Kafka REST endpoint.
///
/// Cloning is cheap: clones share one keep-alive connection pool and configuration, so make
/// one and clone it into tasks. `Debug` never shows the password. Build it with
/// [`Client::from_env`] or, for explicit settings, [`Client::new`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    auth: HeaderValue,
    config: Config,
}

/// One API call, before it is sent: what [`Client::call`] needs to send and retry it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Path with percent-encoded segments, starting with `/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(String, String)>,
    /// Shared bytes, so that a retry resends the body without copying it.
    pub body: Option<bytes::Bytes>,
    /// `Content-Type` of `body`; `None` sends none (a webhook's raw body carries its own).
    pub content_type: Option<&'static str>,
    /// How long the server may hold the request on purpose (long-poll timeouts).
    pub server_wait: Duration,
    /// Whether this call may be retried at all.
    pub retryable: bool,
    /// A produce with an `Idempotency-Key`: a 409 (its first attempt is still being stored)
    /// is retried too.
    pub idempotent: bool,
    /// What errors and logs call the endpoint, when the path itself should not be shown
    /// (a message value in the URL can be long or sensitive).
    pub label: Option<String>,
}

impl Call {
    pub(crate) fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            content_type: None,
            server_wait: Duration::ZERO,
            retryable: true,
            idempotent: false,
            label: None,
        }
    }

    pub(crate) fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the request body: {e}")))?;
        self.body = Some(bytes.into());
        self.content_type = Some("application/json");
        Ok(self)
    }

    pub(crate) fn endpoint(&self) -> String {
        match &self.label {
            Some(label) => format!("{} {label}", self.method),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

impl Client {
    /// A client for `config`: the door for explicit credentials, timeouts, retries or CA
    /// certificates. Nothing is sent until the first call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use upkafka_client::{Client, Config, RetryPolicy};
    /// let config = Config::new("https://example-rest-kafka.upstash.io", "user", "secret")
    ///     .timeout(Duration::from_secs(5))
    ///     .retry(RetryPolicy::with_max_retries(2));
    /// let client = Client::new(config)?;
    /// # Ok::<(), upkafka_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for a bad URL, plain `http://` to a non-loopback host (unless allowed),
    /// an unreadable CA certificate, or a username that contains `:` or cannot go into a header.
    pub fn new(config: Config) -> Result<Self> {
        let url = config.validate()?;
        // reqwest is built without a default crypto provider so that no C crypto library is
        // compiled; install ring's (a no-op if the process already chose one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("upkafka/", env!("CARGO_PKG_VERSION")));
        for pem in &config.ca_certs_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("cannot read the CA certificate (PEM): {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config(
                    "the CA certificate file holds no PEM certificate".to_owned(),
                ));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))?;
        let auth = basic_auth(config.username(), config.password().expose())?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: url.as_str().trim_end_matches('/').to_owned(),
                auth,
                config,
            }),
        })
    }

    /// A client configured from `UPSTASH_KAFKA_REST_URL`, `UPSTASH_KAFKA_REST_USERNAME` and
    /// `UPSTASH_KAFKA_REST_PASSWORD`, with default timeouts and retries: the door for the
    /// usual setup, where the Upstash console's variables are in the environment.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// let client = Client::from_env()?;
    /// # Ok::<(), upkafka_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming a missing variable, or as [`Client::new`].
    pub fn from_env() -> Result<Self> {
        Self::new(Config::from_env()?)
    }

    /// The configuration this client was built with, e.g. to log which endpoint it talks to.
    ///
    /// ```
    /// # use upkafka_client::{Client, Config};
    /// let client = Client::new(Config::new("http://127.0.0.1:8080/", "user", "pw"))?;
    /// assert_eq!(client.config().url(), "http://127.0.0.1:8080");
    /// # Ok::<(), upkafka_client::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sends `call`, retrying per the policy, and decodes a success body as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let endpoint = call.endpoint();
        let body = self.send(&call, &endpoint).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Decode {
            endpoint,
            reason: e.to_string(),
            snippet: snippet(&body, SNIPPET_CHARS),
        })
    }

    /// Sends `call`, retrying per the policy, and decodes a success body as `Message[]` with
    /// the protocol's direct decoder (serde_json's result, faster: the body of every fetch and
    /// consume).
    pub(crate) async fn call_messages(&self, call: Call) -> Result<Vec<Message>> {
        let endpoint = call.endpoint();
        let body = self.send(&call, &endpoint).await?;
        decode_messages(&body).map_err(|e| Error::Decode {
            endpoint,
            reason: e.to_string(),
            snippet: snippet(&body, SNIPPET_CHARS),
        })
    }

    /// Sends `call` with retries; returns the body of a 2xx answer.
    async fn send(&self, call: &Call, endpoint: &str) -> Result<bytes::Bytes> {
        let policy = &self.inner.config.retry;
        let started = Instant::now();
        let deadline = started + policy.deadline + call.server_wait;
        let max_retries = if call.retryable {
            policy.max_retries
        } else {
            0
        };
        let mut retry = 0;
        loop {
            let attempt_started = Instant::now();
            let remaining = deadline.saturating_duration_since(attempt_started);
            let timeout = (self.inner.config.timeout + call.server_wait).min(remaining);
            let outcome = self.attempt(call, endpoint, timeout).await;
            let (err, retry_after) = match outcome {
                Ok(body) => {
                    tracing::debug!(
                        endpoint,
                        retries = retry,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "ok"
                    );
                    return Ok(body);
                }
                Err(failure) => failure,
            };
            // A produce's 409: the first attempt of its Idempotency-Key is still being
            // stored, and its answer comes to the retry.
            let busy = call.idempotent && matches!(err, Error::Api { status: 409, .. });
            if retry >= max_retries || !(err.is_retryable() || busy) {
                return Err(err);
            }
            let wait = policy.backoff(retry, retry_after);
            if Instant::now() + wait >= deadline {
                tracing::debug!(endpoint, "deadline reached, not retrying");
                return Err(err);
            }
            tracing::warn!(endpoint, error = %err, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// The request for `call` (URL, auth, headers, body), without a timeout.
    fn request(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut url = format!("{}{}", self.inner.base, call.path);
        if !call.query.is_empty() {
            url.push('?');
            url.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish(),
            );
        }
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, self.inner.auth.clone());
        for (name, value) in &call.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some(content_type) = call.content_type {
            req = req.header(CONTENT_TYPE, content_type);
        }
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        req
    }

    /// Opens a long-lived response (an event stream): one attempt, no retries, the configured
    /// timeout for the answer's head only. A non-2xx answer is the usual API error.
    pub(crate) async fn open_stream(&self, call: &Call) -> Result<reqwest::Response> {
        let endpoint = call.endpoint();
        let timeout = self.inner.config.timeout;
        let transport = |e: reqwest::Error| Error::Transport {
            endpoint: endpoint.clone(),
            source: Box::new(e.without_url()),
        };
        let resp = match tokio::time::timeout(timeout, self.request(call).send()).await {
            Ok(sent) => sent.map_err(transport)?,
            Err(_) => {
                return Err(Error::Timeout {
                    endpoint: endpoint.clone(),
                    timeout,
                });
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.map_err(transport)?;
        Err(api_error(status, &body, &endpoint))
    }

    /// One attempt; on failure also returns any `Retry-After` the server sent.
    async fn attempt(
        &self,
        call: &Call,
        endpoint: &str,
        timeout: Duration,
    ) -> std::result::Result<bytes::Bytes, (Error, Option<Duration>)> {
        let req = self.request(call).timeout(timeout);
        let transport = |e: reqwest::Error| {
            if e.is_builder() {
                // Nothing was sent, and resending cannot help: not a transport failure.
                Error::InvalidInput(format!(
                    "{endpoint}: cannot build the request: {}",
                    e.without_url()
                ))
            } else if e.is_timeout() {
                Error::Timeout {
                    endpoint: endpoint.to_owned(),
                    timeout,
                }
            } else {
                Error::Transport {
                    endpoint: endpoint.to_owned(),
                    source: Box::new(e.without_url()),
                }
            }
        };
        let resp = req.send().await.map_err(|e| (transport(e), None))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = resp
            .bytes()
            .await
            .map_err(|e| (transport(e), retry_after))?;
        tracing::trace!(
            endpoint,
            status = status.as_u16(),
            bytes = body.len(),
            "answer"
        );
        if status.is_success() {
            return Ok(body);
        }
        Err((api_error(status, &body, endpoint), retry_after))
    }
}

/// The error for a non-2xx answer: the server's `{error,status}` text when the body is one,
/// else the start of the body (or the status reason when empty).
pub(crate) fn api_error(status: StatusCode, body: &[u8], endpoint: &str) -> Error {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(err) => err.error,
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_owned(),
        Err(_) => snippet(body, SNIPPET_CHARS),
    };
    if status == StatusCode::UNAUTHORIZED {
        Error::Unauthorized {
            message,
            endpoint: endpoint.to_owned(),
        }
    } else {
        Error::Api {
            status: status.as_u16(),
            message,
            endpoint: endpoint.to_owned(),
        }
    }
}

/// The `Authorization: Basic …` value, marked sensitive so it is never logged by the HTTP stack.
fn basic_auth(username: &str, password: &str) -> Result<HeaderValue> {
    use base64::Engine as _;
    if username.contains(':') {
        // RFC 7617: the server splits at the first `:`, so the credentials would be misread.
        return Err(Error::Config(
            "the username must not contain `:` (Basic auth splits username and password there)"
                .to_owned(),
        ));
    }
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|_| Error::Config("the credentials cannot be sent in a header".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Percent-encodes one path segment (group, instance, topic, message), refusing values that
/// would change the path's shape.
pub(crate) fn segment(what: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::InvalidInput(format!("{what} is empty")));
    }
    if value == "." || value == ".." {
        return Err(Error::InvalidInput(format!(
            "{what} `{value}` cannot be used in a URL path"
        )));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

/// Builds `/{a}/{b}/…` from already-encoded segments.
pub(crate) fn path(segments: &[&str]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(s);
    }
    out
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("group", "my group/1").unwrap(), "my%20group%2F1");
        assert_eq!(segment("topic", "a.b_c-d~e").unwrap(), "a.b_c-d~e");
        assert_eq!(segment("message", "ü?#").unwrap(), "%C3%BC%3F%23");
        assert!(segment("group", "").is_err());
        assert!(segment("instance", "..").is_err());
    }

    #[test]
    fn error_bodies_are_read_when_json_and_quoted_when_not() {
        let e = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":"no such topic","status":400}"#,
            "POST /produce",
        );
        assert_eq!(
            e.to_string(),
            "POST /produce: server answered 400: no such topic"
        );
        let e = api_error(
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
            "GET /topics",
        );
        assert!(e.to_string().contains("<html>bad gateway"), "{e}");
        let e = api_error(StatusCode::SERVICE_UNAVAILABLE, b"", "GET /topics");
        assert!(e.to_string().contains("Service Unavailable"), "{e}");
        let e = api_error(StatusCode::UNAUTHORIZED, b"", "GET /topics");
        assert!(e.is_auth());
    }

    #[test]
    fn debug_hides_the_password() {
        let client = Client::new(Config::new("http://127.0.0.1:1", "user", "s3cr3t-pw")).unwrap();
        let dbg = format!("{client:?}");
        assert!(!dbg.contains("s3cr3t-pw"), "{dbg}");
        assert!(dbg.contains("user"));
    }
}
