//! The request checks every backend applies, written once: a record of a produce batch, the
//! offsets of a fetch, the topics of a consume, the caps on consumer instances.

use upkafka_protocol::{ProduceRecord, TopicPartitionOffset};

use super::BackendResult;
use crate::config::Limits;
use crate::error::BackendError;

/// The caps on consumer instances (`Limits::max_instances_per_group`,
/// `Limits::max_consumer_instances`), applied by both backends where they create an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InstanceCaps {
    /// Most instances in one group.
    pub per_group: usize,
    /// Most instances on the server.
    pub per_server: usize,
}

impl InstanceCaps {
    /// The caps of `limits`.
    pub(crate) fn of(limits: &Limits) -> Self {
        Self {
            per_group: limits.max_instances_per_group,
            per_server: limits.max_consumer_instances,
        }
    }

    /// Checks that one more instance may be created in `group`, which has `in_group`
    /// instances, on a server that has `total`. Called under the lock that guards the
    /// instances, right before the insert, so that concurrent creations cannot overshoot.
    ///
    /// # Errors
    /// [`BackendError::OverLimit`] (429) naming the cap, its value, the flag that sets it and
    /// how to get under it again.
    pub(crate) fn check_new(
        &self,
        group: &str,
        in_group: usize,
        total: usize,
    ) -> BackendResult<()> {
        if in_group >= self.per_group {
            return Err(BackendError::OverLimit(format!(
                "consumer group `{group}` already has {in_group} instances, the most one group \
                 may have (max_instances_per_group = {}, set by --max-instances-per-group): \
                 reuse an instance id, delete an instance (DELETE /delete-consumer/{group}/ID) \
                 or wait for an idle one to expire",
                self.per_group
            )));
        }
        if total >= self.per_server {
            return Err(BackendError::OverLimit(format!(
                "the server already has {total} consumer instances, the most it may have \
                 (max_consumer_instances = {}, set by --max-consumer-instances): reuse an \
                 instance id, delete an instance (DELETE /delete-consumer/GROUP/ID) or wait for \
                 an idle one to expire",
                self.per_server
            )));
        }
        Ok(())
    }
}

/// Checks one record of a produce batch, the same on every backend: a negative timestamp is
/// refused (Kafka's producer refuses them, so an Upstash produce with one failed; stored, it
/// would also break `/offsets` lookups), and so is a record over `max_message_bytes`
/// ([`ProduceRecord::size`]: key + value + header names and values).
///
/// # Errors
/// [`BackendError::InvalidRequest`] or [`BackendError::RecordTooLarge`] naming record `index`.
pub(crate) fn check_record(
    index: usize,
    record: &ProduceRecord,
    max_message_bytes: usize,
) -> BackendResult<()> {
    if let Some(ts) = record.timestamp.filter(|ts| *ts < 0) {
        return Err(BackendError::InvalidRequest(format!(
            "record {index}: timestamp {ts} is negative; give epoch milliseconds"
        )));
    }
    let size = record.size();
    if size > max_message_bytes {
        return Err(BackendError::RecordTooLarge {
            index,
            size,
            max: max_message_bytes,
        });
    }
    Ok(())
}

/// Checks the offsets of a fetch: none may be negative (the API has no "from the end").
///
/// # Errors
/// [`BackendError::InvalidRequest`] naming the first negative offset and its partition.
pub(crate) fn check_fetch(entries: &[TopicPartitionOffset]) -> BackendResult<()> {
    match entries.iter().find(|e| e.offset < 0) {
        Some(e) => Err(BackendError::InvalidRequest(format!(
            "offset {} of {}/{} is negative",
            e.offset, e.topic, e.partition
        ))),
        None => Ok(()),
    }
}

/// Checks that a consume names at least one topic.
///
/// # Errors
/// [`BackendError::InvalidRequest`] saying how to name one.
pub(crate) fn check_consume_topics(topics: &[String]) -> BackendResult<()> {
    if topics.is_empty() {
        return Err(BackendError::InvalidRequest(
            "consume names no topic: send `topic` or `topics`".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use upkafka_protocol::Header;

    #[test]
    fn records_are_checked_for_timestamp_and_size() {
        let mut r = ProduceRecord::new("vvvv").key("kk");
        r.headers.push(Header::new("h", "x"));
        assert!(check_record(0, &r, 8).is_ok());
        let err = check_record(3, &r, 7).unwrap_err();
        assert!(
            matches!(
                err,
                BackendError::RecordTooLarge {
                    index: 3,
                    size: 8,
                    max: 7
                }
            ),
            "{err:?}"
        );
        r.timestamp = Some(-1);
        let err = check_record(2, &r, 100).unwrap_err().to_string();
        assert!(
            err.contains("record 2") && err.contains("negative"),
            "{err}"
        );
    }

    #[test]
    fn instance_caps_name_the_cap_its_value_and_its_flag() {
        let caps = InstanceCaps {
            per_group: 2,
            per_server: 3,
        };
        assert!(caps.check_new("g", 1, 2).is_ok());
        let err = caps.check_new("g", 2, 2).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        let text = err.to_string();
        assert!(
            text.contains("`g`")
                && text.contains("max_instances_per_group = 2")
                && text.contains("--max-instances-per-group"),
            "{text}"
        );
        let text = caps.check_new("h", 0, 3).unwrap_err().to_string();
        assert!(
            text.contains("max_consumer_instances = 3")
                && text.contains("--max-consumer-instances"),
            "{text}"
        );
        let caps = InstanceCaps::of(&Limits::default());
        assert_eq!((caps.per_group, caps.per_server), (1000, 10_000));
    }

    #[test]
    fn negative_fetch_offsets_and_empty_consumes_are_refused() {
        let ok = TopicPartitionOffset::new("t", 0, 0);
        let bad = TopicPartitionOffset::new("t", 1, -2);
        assert!(check_fetch(std::slice::from_ref(&ok)).is_ok());
        let err = check_fetch(&[ok, bad]).unwrap_err().to_string();
        assert!(err.contains("offset -2 of t/1"), "{err}");
        assert!(check_consume_topics(&["t".into()]).is_ok());
        assert!(
            check_consume_topics(&[])
                .unwrap_err()
                .to_string()
                .contains("no topic")
        );
    }
}
