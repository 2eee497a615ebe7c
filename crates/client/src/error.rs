//! The client's one error type.

use std::time::Duration;

/// Result of every client call.
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
        /// The underlying HTTP error.
        #[source]
        source: reqwest::Error,
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
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { .. } => ErrorKind::Api,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Config(_) => ErrorKind::Config,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
        }
    }

    /// The HTTP status of an error answer, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// True when the credentials were refused.
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }

    /// True for failures a retry may cure: transport errors, timeouts, 429 and 500/502/503/504.
    /// Other 4xx answers are final.
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
