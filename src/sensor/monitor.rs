//! The tutorial's consumer: reads readings through a consumer group, classifies each, commits
//! after processing.

use std::time::Duration;

use upkafka_client::{Client, Consumer, Result, RetryPolicy};
use upkafka_protocol::{AutoOffsetReset, ConsumerConfig, Message, ProduceRecord, next_offsets};

use super::{InvalidReading, Ranges, Reading, Status, Summary, classify};

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A valid reading and its status.
    Reading {
        /// The reading.
        reading: Reading,
        /// OK or ERROR.
        status: Status,
    },
    /// A payload that is not a reading.
    Invalid {
        /// What is wrong with it.
        reason: InvalidReading,
    },
}

/// Classifies one message's value.
pub fn evaluate(message: &Message, ranges: &Ranges) -> Verdict {
    match Reading::parse(&message.value) {
        Ok(reading) => Verdict::Reading {
            status: classify(&reading, ranges),
            reading,
        },
        Err(reason) => Verdict::Invalid { reason },
    }
}

/// Where and how the monitor reads.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// Topic with the readings.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Consumer instance within the group.
    pub instance: String,
    /// OK ranges.
    pub ranges: Ranges,
    /// Republish ERROR readings to this topic (the tutorial's follow-up), if set.
    pub errors_to: Option<String>,
    /// Server-side wait per poll.
    pub poll_timeout: Duration,
    /// Where a group without committed offsets starts.
    pub from: AutoOffsetReset,
}

impl MonitorOptions {
    /// Defaults for `topic` and `group`: instance `monitor`, default ranges, 1 s polls, from
    /// the earliest offset.
    pub fn new(topic: impl Into<String>, group: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            group: group.into(),
            instance: "monitor".to_owned(),
            ranges: Ranges::default(),
            errors_to: None,
            poll_timeout: Duration::from_secs(1),
            from: AutoOffsetReset::Earliest,
        }
    }
}

/// A running monitor: one consumer instance with auto-commit off. [`Monitor::poll`] classifies
/// a batch; the caller shows it; [`Monitor::ack`] then republishes its ERROR readings and
/// commits it. Nothing is committed before the caller has handled it (at-least-once).
#[derive(Debug)]
pub struct Monitor {
    client: Client,
    poller: Client,
    consumer: Consumer,
    opts: MonitorOptions,
    summary: Summary,
}

impl Monitor {
    /// A monitor on `client`; the consumer instance is created by the first poll.
    ///
    /// # Errors
    /// A client configuration error.
    pub fn new(client: &Client, opts: MonitorOptions) -> Result<Self> {
        // Polls are not retried inside the client: a retry after a lost answer would skip that
        // answer's messages. A failed poll is handled by [`Monitor::restart`] instead.
        let poller = Client::new(client.config().clone().retry(RetryPolicy::none()))?;
        let consumer = poller
            .consumer(&opts.group, &opts.instance, [opts.topic.clone()])
            .with_timeout(opts.poll_timeout)
            .with_config(ConsumerConfig {
                auto_commit: Some(false),
                auto_offset_reset: Some(opts.from),
                ..ConsumerConfig::default()
            });
        Ok(Self {
            client: client.clone(),
            poller,
            consumer,
            opts,
            summary: Summary::default(),
        })
    }

    /// Polls once and classifies every message, in order; the summary counts them.
    ///
    /// # Errors
    /// A failed poll; see [`Monitor::restart`].
    pub async fn poll(&mut self) -> Result<Vec<(Message, Verdict)>> {
        let messages = self.consumer.poll().await?;
        let batch: Vec<(Message, Verdict)> = messages
            .into_iter()
            .map(|m| {
                let v = evaluate(&m, &self.opts.ranges);
                (m, v)
            })
            .collect();
        for (_, v) in &batch {
            self.summary.record(v);
        }
        Ok(batch)
    }

    /// After the caller handled `batch`: republishes its ERROR readings (with `--errors-to`)
    /// and commits the next offset of every partition in it.
    ///
    /// # Errors
    /// A failed republish or commit; the batch is then not committed and comes again after a
    /// restart.
    pub async fn ack(&mut self, batch: &[(Message, Verdict)]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(topic) = &self.opts.errors_to {
            let errors: Vec<ProduceRecord> = batch
                .iter()
                .filter_map(|(m, v)| match v {
                    Verdict::Reading {
                        reading,
                        status: Status::Error,
                    } => Some(
                        ProduceRecord::new(reading.to_json())
                            .key(reading.device.to_string())
                            .header("source-topic", m.topic.clone())
                            .header("source-partition", m.partition.to_string())
                            .header("source-offset", m.offset.to_string()),
                    ),
                    _ => None,
                })
                .collect();
            if !errors.is_empty() {
                self.client.produce_many_to(topic, &errors).await?;
            }
        }
        let offsets = next_offsets(batch.iter().map(|(m, _)| m));
        self.client
            .commit(&self.opts.group, &self.opts.instance, &offsets)
            .await
    }

    /// After a failed poll: removes the instance so that the next poll creates it again at the
    /// committed offsets (the lost answer's messages come again instead of being skipped).
    pub async fn restart(&mut self) {
        if let Err(e) = self.consumer.remove().await {
            tracing::debug!(error = %e, "could not remove the consumer instance");
        }
    }

    /// Removes the consumer instance from the server and returns the summary.
    ///
    /// # Errors
    /// A failed removal, with the summary, which is never lost.
    pub async fn close(self) -> std::result::Result<Summary, (Summary, upkafka_client::Error)> {
        let removed = self
            .poller
            .remove_consumer_instance(&self.opts.group, &self.opts.instance)
            .await;
        match removed {
            Ok(()) => Ok(self.summary),
            Err(e) => Err((self.summary, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::Measure;

    fn msg(value: &str) -> Message {
        Message {
            topic: "sensor".into(),
            partition: 1,
            offset: 9,
            timestamp: 0,
            key: String::new(),
            value: value.into(),
            headers: vec![],
            tombstone: false,
        }
    }

    #[test]
    fn verdicts_feed_the_summary() {
        let ranges = Ranges::default();
        let mut summary = Summary::default();
        for v in [
            r#"{"device":1,"measure":"pressure","value":42}"#,
            r#"{"device":2,"measure":"pressure","value":51}"#,
            r#"{"device_id":3,"measure":"temperature","value":19}"#,
            r#"{"device":4,"measure":"temperature","value":80}"#,
            "garbage",
        ] {
            summary.record(&evaluate(&msg(v), &ranges));
        }
        assert_eq!(summary.measures[&Measure::Pressure].ok, 1);
        assert_eq!(summary.measures[&Measure::Pressure].error, 1);
        assert_eq!(summary.measures[&Measure::Temperature].ok, 1);
        assert_eq!(summary.measures[&Measure::Temperature].error, 1);
        assert_eq!(summary.invalid, 1);
        assert_eq!(summary.total(), 5);
        assert_eq!(
            summary.devices_in_error.iter().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        let text = summary.to_string();
        assert!(text.contains("devices in ERROR (2): 2, 3"), "{text}");
    }

    #[test]
    fn lines_name_status_device_and_place() {
        let m = msg(r#"{"device":7,"measure":"pressure","value":42}"#);
        let line = crate::sensor::format_verdict(&m, &evaluate(&m, &Ranges::default()), false);
        assert!(line.starts_with("OK "), "{line}");
        assert!(
            line.contains("device   7") && line.contains("pressure") && line.contains("p1@9"),
            "{line}"
        );
        let bad = msg("{}");
        let line = crate::sensor::format_verdict(&bad, &evaluate(&bad, &Ranges::default()), false);
        assert!(
            line.starts_with("INVALID") && line.contains("missing field `device`"),
            "{line}"
        );
        let json = crate::sensor::verdict_json(&bad, &evaluate(&bad, &Ranges::default()));
        assert_eq!(json["status"], "INVALID");
        assert_eq!(json["offset"], 9);
    }
}
