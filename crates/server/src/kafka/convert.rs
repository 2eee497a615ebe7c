//! Between librdkafka's types and the wire model: messages, offsets, errors.

use rdkafka::Offset;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};

use crate::error::BackendError;
use upkafka_protocol::{Header, Message};

/// A consumed record as the API returns it.
///
/// Kafka keys, values and header values are bytes; the API carries text. Records produced
/// over REST are always UTF-8. Records written by native producers may not be: their bytes are
/// decoded lossily (invalid sequences become U+FFFD) rather than failing the whole poll, so one
/// binary record cannot block a partition for REST consumers. A missing key is `""`, a missing
/// header value `""`, a missing timestamp `-1`.
pub(super) fn to_message(m: &BorrowedMessage<'_>) -> Message {
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| Header::new(h.key, text(h.value).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Message {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        key: text(m.key()).unwrap_or_default(),
        tombstone: m.payload().is_none(),
        value: text(m.payload()).unwrap_or_default(),
        headers,
    }
}

/// An offset as the API shows it: `-1` where Kafka has none (no commit, no record at or after
/// a time).
pub(super) fn api_offset(offset: Offset) -> i64 {
    match offset {
        Offset::Offset(o) => o,
        _ => -1,
    }
}

/// A librdkafka error as a backend error. Unknown topics and partitions are the client's
/// mistake (400); an unreachable or leaderless cluster is 503 (retry later); any other error
/// code a broker answered is 502 naming it ([`BackendError::Upstream`]); a local librdkafka
/// failure is 500 (details in the server log).
pub(super) fn backend_error(context: &str, e: &KafkaError) -> BackendError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            BackendError::InvalidRequest(format!("{context}: unknown topic or partition"))
        }
        Some(RDKafkaErrorCode::UnknownPartition) => {
            BackendError::InvalidRequest(format!("{context}: unknown partition"))
        }
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => {
            BackendError::InvalidRequest(format!("{context}: message too large for the cluster"))
        }
        Some(
            code @ (RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::QueueFull
            | RDKafkaErrorCode::Resolve),
        ) => BackendError::Unavailable(format!(
            "the Kafka cluster is unavailable ({context}: {code}); nothing was acknowledged, \
             retry later"
        )),
        // librdkafka's own (local) errors are below -1; -1 and above are codes a broker sent.
        Some(code) if (code as i32) >= -1 => BackendError::Upstream(format!(
            "the Kafka cluster answered an error ({context}: {code}); nothing was \
             acknowledged"
        )),
        _ => BackendError::Internal(format!("{context}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_without_a_value_are_minus_one() {
        assert_eq!(api_offset(Offset::Offset(42)), 42);
        assert_eq!(api_offset(Offset::Invalid), -1);
        assert_eq!(api_offset(Offset::End), -1);
    }

    #[test]
    fn unknown_topics_are_client_errors_and_the_rest_internal() {
        let e = KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(matches!(
            backend_error("produce", &e),
            BackendError::InvalidRequest(_)
        ));
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::Fatal);
        let BackendError::Internal(text) = backend_error("produce", &e) else {
            panic!("not internal");
        };
        assert!(text.starts_with("produce: "), "{text}");
    }

    /// Seen on Tansu 0.6 restarted on its sqlite storage: every produce is answered
    /// `UNKNOWN_SERVER_ERROR`. That is the cluster's failure, named, not our 500.
    #[test]
    fn an_error_a_broker_answered_is_a_502_naming_it() {
        for code in [RDKafkaErrorCode::Unknown, RDKafkaErrorCode::InvalidRecord] {
            let got = backend_error("produce", &KafkaError::MessageProduction(code));
            assert_eq!(got.status(), axum::http::StatusCode::BAD_GATEWAY, "{got:?}");
            let api = crate::error::ApiError::from(got);
            assert!(
                api.message.contains("Kafka cluster answered an error")
                    && api.message.contains(&code.to_string()),
                "{}",
                api.message
            );
        }
    }

    #[test]
    fn an_unreachable_cluster_is_a_retryable_503() {
        for code in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            let e = KafkaError::MessageProduction(code);
            let got = backend_error("produce", &e);
            assert!(
                matches!(&got, BackendError::Unavailable(t) if t.contains("retry later")),
                "{got:?}"
            );
            assert_eq!(got.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}
