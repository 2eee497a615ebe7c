//! The tutorial's consumer: reads readings through a consumer group, classifies each, commits
//! after processing.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::protocol::{
    AutoOffsetReset, ConsumerConfig, Message, ProduceRecord, TopicPartitionOffset,
};
use crate::rest::{Client, Consumer, Result};

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

/// A running monitor: one consumer instance with auto-commit off, committing each poll's
/// offsets only after every message of it was handed to the caller (at-least-once).
#[derive(Debug)]
pub struct Monitor {
    client: Client,
    consumer: Consumer,
    opts: MonitorOptions,
    summary: Summary,
}

impl Monitor {
    /// A monitor on `client`; the consumer instance is created by the first poll.
    pub fn new(client: &Client, opts: MonitorOptions) -> Self {
        let consumer = client
            .consumer(&opts.group, &opts.instance, [opts.topic.clone()])
            .with_timeout(opts.poll_timeout)
            .with_config(ConsumerConfig {
                auto_commit: Some(false),
                auto_offset_reset: Some(opts.from),
                ..ConsumerConfig::default()
            });
        Self {
            client: client.clone(),
            consumer,
            opts,
            summary: Summary::default(),
        }
    }

    /// Polls once: hands each message and its verdict to `sink` in order, republishes ERROR
    /// readings when asked, then commits the next offset of every partition seen. Returns how
    /// many messages the poll brought.
    ///
    /// # Errors
    /// A failed poll, republish or commit. Nothing is committed for a poll that failed, so its
    /// messages come again (at-least-once).
    pub async fn poll_once(&mut self, mut sink: impl FnMut(&Message, &Verdict)) -> Result<usize> {
        let messages = self.consumer.poll().await?;
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut errors = Vec::new();
        for m in &messages {
            let verdict = evaluate(m, &self.opts.ranges);
            sink(m, &verdict);
            self.summary.record(&verdict);
            if let (
                Some(_),
                Verdict::Reading {
                    reading,
                    status: Status::Error,
                },
            ) = (&self.opts.errors_to, &verdict)
            {
                errors.push(
                    ProduceRecord::new(reading.to_json())
                        .key(reading.device.to_string())
                        .header("source-topic", m.topic.clone())
                        .header("source-partition", m.partition.to_string())
                        .header("source-offset", m.offset.to_string()),
                );
            }
            let entry = next.entry((m.topic.clone(), m.partition)).or_insert(0);
            *entry = (*entry).max(m.offset + 1);
        }
        if let Some(topic) = &self.opts.errors_to
            && !errors.is_empty()
        {
            self.client.produce_to(topic, &errors).await?;
        }
        if !next.is_empty() {
            let offsets: Vec<TopicPartitionOffset> = next
                .into_iter()
                .map(|((t, p), o)| TopicPartitionOffset::new(t, p, o))
                .collect();
            self.consumer.commit(&offsets).await?;
        }
        Ok(messages.len())
    }

    /// What the monitor has seen so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Removes the consumer instance from the server and returns the summary.
    ///
    /// # Errors
    /// A failed removal (the summary is lost with it only for the caller that ignores `Err`;
    /// use [`Monitor::summary`] first when that matters).
    pub async fn close(self) -> Result<Summary> {
        self.consumer.remove().await?;
        Ok(self.summary)
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
