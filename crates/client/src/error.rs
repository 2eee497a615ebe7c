//! The client's one error type.
//!
//! Nothing public here names the HTTP stack: a transport failure keeps the underlying error
//! only as a boxed [`std::error::Error`] `source`, so that upgrading or replacing reqwest is not
//! a breaking change for callers.

use std::time::Duration;

/// Result of every client call, with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a client call failed. `Display` is written for a CLI user; match on [`Error::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status (other than 401).
    #[error("{endpoint}: server answered {status}: {message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The server's `error` text, or the start of a non-JSON error body.
        message: String,
        /// Method and path of the call, e.g. `POST /produce`.
        endpoint: String,
    },
    /// The server refused the credentials (HTTP 401).
    #[error(
        "{endpoint}: authentication failed (HTTP 401{}); check the username and password \
         (UPSTASH_KAFKA_REST_USERNAME / UPSTASH_KAFKA_REST_PASSWORD)",
        if message.is_empty() { String::new() } else { format!(": {message}") }
    )]
    Unauthorized {
        /// The server's `error` text (never the credentials).
        message: String,
        /// Method and path of the call.
        endpoint: String,
    },
    /// No complete answer arrived within the time allowed.
    #[error("{endpoint}: no answer within {}", humanize(*.timeout))]
    Timeout {
        /// Method and path of the call.
        endpoint: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The request could not be sent or its answer not read (refused, reset, DNS, TLS).
    #[error("{endpoint}: cannot reach the server: {source}")]
    Transport {
        /// Method and path of the call.
        endpoint: String,
        /// The underlying HTTP-stack error, for [`std::error::Error::source`] chains and logs.
        /// Its concrete type is an implementation detail.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A success answer whose body is not the expected JSON.
    #[error("{endpoint}: cannot decode the answer ({reason}); body starts with: {snippet:?}")]
    Decode {
        /// Method and path of the call.
        endpoint: String,
        /// What the decoder said.
        reason: String,
        /// The first bytes of the body.
        snippet: String,
    },
    /// The client configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An argument to a call is unusable (e.g. an empty consumer group id).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A value could not be converted to or from JSON on the caller's side: a message value
    /// that is not the JSON the caller expected ([`Message::value_json`]), or a value that
    /// cannot be serialised ([`ProduceRecord::json`]). It exists so that `?` works on those
    /// calls in a function returning this [`Result`]; an undecodable *server answer* is
    /// [`Error::Decode`] instead.
    ///
    /// ```
    /// use upkafka_client::{ErrorKind, protocol::Message};
    /// fn device(message: &Message) -> upkafka_client::Result<u32> {
    ///     let value: serde_json::Value = message.value_json()?; // serde_json::Error → Error
    ///     Ok(value["device"].as_u64().unwrap_or_default() as u32)
    /// }
    /// let not_json = serde_json::from_str::<u32>("{").unwrap_err();
    /// assert_eq!(upkafka_client::Error::from(not_json).kind(), ErrorKind::Json);
    /// ```
    ///
    /// [`Message::value_json`]: upkafka_protocol::Message::value_json
    /// [`ProduceRecord::json`]: upkafka_protocol::ProduceRecord::json
    #[error("cannot convert JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The kind of an [`Error`], for matching without the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Api`].
    Api,
    /// [`Error::Unauthorized`].
    Unauthorized,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Transport`].
    Transport,
    /// [`Error::Decode`].
    Decode,
    /// [`Error::Config`].
    Config,
    /// [`Error::InvalidInput`].
    InvalidInput,
    /// [`Error::Json`].
    Json,
}

impl Error {
    /// The kind of failure, for matching without the details (the enum's fields may grow).
    ///
    /// ```
    /// use upkafka_client::{Error, ErrorKind};
    /// let err = Error::InvalidInput("consumer group is empty".into());
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { .. } => ErrorKind::Api,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Config(_) => ErrorKind::Config,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Json(_) => ErrorKind::Json,
        }
    }

    /// The HTTP status of an error answer, if the server answered; `None` when no answer
    /// arrived or the call failed before it was sent.
    ///
    /// ```
    /// use upkafka_client::Error;
    /// let err = Error::Api { status: 404, message: "not found".into(), endpoint: "GET /x".into() };
    /// assert_eq!(err.status(), Some(404));
    /// assert_eq!(Error::Config("no URL".into()).status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// True when the credentials were refused (HTTP 401): fix the username or password, as
    /// retrying cannot help.
    ///
    /// ```
    /// use upkafka_client::Error;
    /// let err = Error::Unauthorized { message: String::new(), endpoint: "GET /topics".into() };
    /// assert!(err.is_auth());
    /// ```
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }

    /// True for failures a retry may cure: transport errors, timeouts, 429 and 500/502/503/504.
    /// Other 4xx answers are final. The client already retries these per its
    /// [`RetryPolicy`](crate::RetryPolicy); this is for callers that retry at a higher level.
    ///
    /// ```
    /// use upkafka_client::Error;
    /// let busy = Error::Api { status: 503, message: "busy".into(), endpoint: "POST /produce".into() };
    /// assert!(busy.is_retryable());
    /// assert!(!Error::InvalidInput("empty topic".into()).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Api { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

fn humanize(d: Duration) -> String {
    if d.as_millis() < 1_000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The first `max` characters of a body, lossily decoded, for error messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_status() {
        let api = |status| Error::Api {
            status,
            message: String::new(),
            endpoint: "GET /topics".into(),
        };
        for s in [429, 500, 502, 503, 504] {
            assert!(api(s).is_retryable(), "{s}");
        }
        for s in [400, 403, 404, 405, 413] {
            assert!(!api(s).is_retryable(), "{s}");
        }
        let auth = Error::Unauthorized {
            message: String::new(),
            endpoint: "GET /topics".into(),
        };
        assert!(!auth.is_retryable());
        assert!(auth.is_auth());
        assert_eq!(auth.status(), Some(401));
    }

    #[test]
    fn snippet_is_bounded() {
        assert_eq!(snippet(b"abcdef", 3), "abc…");
        assert_eq!(snippet(b"ab", 3), "ab");
    }
}
