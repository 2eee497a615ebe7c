//! How readings and verdicts are shown: one line per reading, colours on a terminal, or JSON.

use upkafka_protocol::{Message, ProduceMetadata};

use super::{Reading, Status, Verdict};

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

fn paint(text: &str, colour: &str, on: bool) -> String {
    if on {
        format!("{colour}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// The producer's line for a reading it sent and where it was stored.
pub fn format_sent(reading: &Reading, meta: &ProduceMetadata) -> String {
    format!(
        "sent {}  -> partition {}, offset {}",
        reading.to_json(),
        meta.partition,
        meta.offset
    )
}

/// The monitor's line for one message: status, device, measure, value, partition/offset.
pub fn format_verdict(message: &Message, verdict: &Verdict, colour: bool) -> String {
    let place = format!("p{}@{}", message.partition, message.offset);
    match verdict {
        Verdict::Reading { reading, status } => {
            let (word, c) = match status {
                Status::Ok => ("OK", GREEN),
                Status::Error => ("ERROR", RED),
            };
            format!(
                "{}  device {:>3}  {:<11}  {:>4}  {place}",
                paint(&format!("{word:<7}"), c, colour),
                reading.device,
                reading.measure.as_str(),
                reading.value
            )
        }
        Verdict::Invalid { reason } => {
            let mut payload: String = message.value.chars().take(60).collect();
            if message.value.chars().count() > 60 {
                payload.push('…');
            }
            format!(
                "{}  {reason}: {payload:?}  {place}",
                paint("INVALID", YELLOW, colour)
            )
        }
    }
}

/// The monitor's `--json` envelope for one message.
pub fn verdict_json(message: &Message, verdict: &Verdict) -> serde_json::Value {
    match verdict {
        Verdict::Reading { reading, status } => serde_json::json!({
            "status": status.as_str(),
            "device": reading.device,
            "measure": reading.measure.as_str(),
            "value": reading.value,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }),
        Verdict::Invalid { reason } => serde_json::json!({
            "status": "INVALID",
            "reason": reason.to_string(),
            "payload": message.value,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }),
    }
}
