//! Errors of the server: [`BackendError`] from storage, [`ApiError`] as the HTTP answer.
//!
//! Every failure leaves the server as `{"error": "...", "status": N}` with that HTTP status
//! (spec §2.4). Our status choices for spec §12 open question 1: 400 for malformed or invalid
//! requests (bad JSON, wrong types, missing fields, unknown topic or partition, record too
//! large, bad header value, `Kafka-Auto-Offset-Reset: none` without a committed offset), 401 for
//! missing or wrong credentials, 403 for a scoped credential without the permission or topic
//! (naming both, never a secret) and for a CORS preflight from an origin not listed, 404 for unknown routes and unknown consumer instances, 405 for
//! a wrong method, 413 for a body over the limit, 429 for a configured cap reached (rate
//! limits, consumer instances, topics, partitions), 500 for internal failures (details logged,
//! a generic text sent), 503 while shutting down or when the OS runs out of a resource (named).

use std::fmt::Display;
use std::io;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use upkafka_protocol::ErrorBody;

/// A failure of a [`Backend`](super::Backend) operation; routes map each variant to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The topic does not exist (and auto-creation is off).
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The topic exists but has no such partition.
    #[error("topic `{topic}` has no partition {partition} (it has {count})")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Requested partition.
        partition: i32,
        /// Partitions the topic has.
        count: i32,
    },
    /// A topic of this name already exists (creating it again through the management API).
    /// Answered 400: the Developer API's status list (spec §9) has no 409.
    #[error("topic `{0}` already exists")]
    TopicExists(String),
    /// The topic name breaks Kafka's naming rules.
    #[error("{0}")]
    InvalidTopicName(String),
    /// A record is larger than the configured maximum message size.
    #[error("record {index} is {size} bytes; the maximum message size is {max}")]
    RecordTooLarge {
        /// Position of the record in the request.
        index: usize,
        /// Its size (key + value + headers).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Some other invalid argument.
    #[error("{0}")]
    InvalidRequest(String),
    /// No consumer instance with this group and id exists (never created, deleted or expired).
    #[error("consumer instance `{instance}` of group `{group}` does not exist")]
    UnknownConsumer {
        /// Group id.
        group: String,
        /// Instance id.
        instance: String,
    },
    /// `Kafka-Auto-Offset-Reset: none` and the group has no committed offset for a partition.
    #[error(
        "no committed offset for {topic}/{partition} in group `{group}` and Kafka-Auto-Offset-Reset is none"
    )]
    NoCommittedOffset {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// `Kafka-Auto-Offset-Reset: none` and the instance's offset (committed or reached) was
    /// deleted by retention: Kafka's `OFFSET_OUT_OF_RANGE` without a reset policy.
    #[error(
        "offset {offset} of {topic}/{partition} in group `{group}` was deleted by retention (the earliest offset is {earliest}) and Kafka-Auto-Offset-Reset is none"
    )]
    OffsetOutOfRange {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offset the instance would read from.
        offset: i64,
        /// The partition's earliest offset now.
        earliest: i64,
    },
    /// Reading or writing the data directory failed.
    #[error("storage I/O error: {0}")]
    Io(String),
    /// Stored data failed its checks.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The server is shutting down and no longer accepts writes.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Any other internal failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// A configured cap is reached (consumer instances per group or per server, topics,
    /// partitions); the text names the cap, its value and the flag that sets it. Answered 429:
    /// the request may succeed once something is released.
    #[error("{0}")]
    OverLimit(String),
    /// The operating system ran out of a resource (file descriptors, memory, disk space); the
    /// text names it. Answered 503, so a client retries later and the server keeps serving the
    /// others.
    #[error("{0}")]
    ResourceExhausted(String),
    /// An `Idempotency-Key` already answered (or being stored) for a different batch within
    /// its window; the text names the key. Answered 422: a fresh key is needed.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// The first request of an `Idempotency-Key` is still being stored after the wait bound;
    /// the text names the key. Answered 409 with `Retry-After: 1`: a retry gets its answer.
    #[error("{0}")]
    IdempotencyKeyBusy(String),
    /// The storage behind the server cannot be reached now (the gateway's Kafka cluster is
    /// down or has no leader for a partition); the text names what failed. Answered 503 with
    /// `Retry-After`: nothing of the request was acknowledged, and a retry may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The gateway's Kafka cluster answered the request with an error code no other variant
    /// covers (e.g. `UNKNOWN_SERVER_ERROR` from a broker whose storage failed); the text names
    /// the operation and Kafka's error. Answered 502 Bad Gateway, not 500: the fault is
    /// upstream and nothing was acknowledged, so a retry (with the same `Idempotency-Key`)
    /// is safe.
    #[error("{0}")]
    Upstream(String),
    /// This backend cannot do what was asked (e.g. an event stream of a consumer group on the
    /// Kafka gateway); the text names the limitation and what to use instead.
    #[error("{0}")]
    Unsupported(String),
}

impl BackendError {
    /// A storage I/O failure while `doing` (a phrase naming what, e.g. `writing to t/0`): an
    /// exhausted OS resource (file descriptors, disk space, memory) becomes
    /// [`BackendError::ResourceExhausted`] naming it and what to do (503: retry later; the
    /// server goes on serving), anything else [`BackendError::Io`] (500).
    pub(crate) fn storage(doing: impl Display, e: &io::Error) -> Self {
        let resource = match e.raw_os_error() {
            Some(libc::EMFILE) => {
                "too many open files: the server is out of file descriptors (its limit is \
                 `ulimit -n`, RLIMIT_NOFILE); retry later, or raise the limit or lower \
                 --max-open-files or --max-connections"
            }
            Some(libc::ENFILE) => {
                "too many open files in the system: the kernel's table of open files is full \
                 (fs.file-max); retry later"
            }
            Some(libc::ENOSPC) => {
                "no space left on device: the file system of the data directory is full; \
                 retry once space is freed"
            }
            Some(libc::EDQUOT) => {
                "disk quota exceeded on the data directory; retry once space is freed"
            }
            Some(libc::ENOMEM) => "out of memory; retry later",
            _ => return BackendError::Io(format!("{doing}: {e}")),
        };
        BackendError::ResourceExhausted(format!("{resource} (while {doing})"))
    }

    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            BackendError::UnknownTopic(_)
            | BackendError::TopicExists(_)
            | BackendError::UnknownPartition { .. }
            | BackendError::InvalidTopicName(_)
            | BackendError::RecordTooLarge { .. }
            | BackendError::InvalidRequest(_)
            | BackendError::NoCommittedOffset { .. }
            | BackendError::OffsetOutOfRange { .. } => StatusCode::BAD_REQUEST,
            BackendError::UnknownConsumer { .. } => StatusCode::NOT_FOUND,
            BackendError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            BackendError::IdempotencyKeyBusy(_) => StatusCode::CONFLICT,
            BackendError::OverLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            BackendError::ShuttingDown
            | BackendError::ResourceExhausted(_)
            | BackendError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BackendError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            BackendError::Upstream(_) => StatusCode::BAD_GATEWAY,
            BackendError::Io(_) | BackendError::Corrupt(_) | BackendError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// An HTTP failure: a status and the text for the `error` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (repeated as `status` in the body).
    pub status: StatusCode,
    /// Text of the `error` field.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 (the response also carries `WWW-Authenticate`).
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized: missing or wrong credentials",
        )
    }

    /// 404 for a path no route serves.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found: no such endpoint")
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        let status = e.status();
        if let BackendError::Unsupported(_) = e {
            return Self::new(status, e.to_string());
        }
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
            let message = match e {
                BackendError::ShuttingDown
                | BackendError::ResourceExhausted(_)
                | BackendError::Unavailable(_)
                | BackendError::Upstream(_) => e.to_string(),
                _ => "internal server error".to_owned(),
            };
            return Self::new(status, message);
        }
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.status.as_u16(), self.message);
        let bytes = serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"error":"internal server error","status":500}"#.to_vec());
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE || self.status == StatusCode::CONFLICT {
            // Every 503 is worth retrying: a second is the shortest wait worth saying. A 409 is
            // only an idempotent produce whose first request is still being stored: its answer
            // is near.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"upkafka\""),
            );
        }
        resp
    }
}
