//! The `Kafka-*` request headers that configure a consumer instance (spec §4.3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `true`/`false`: commit consumed offsets in the background. Default `true`.
pub const KAFKA_ENABLE_AUTO_COMMIT: &str = "Kafka-Enable-Auto-Commit";
/// Auto-commit period in milliseconds. Default 5000.
pub const KAFKA_AUTO_COMMIT_INTERVAL: &str = "Kafka-Auto-Commit-Interval";
/// `earliest` / `latest` / `none`: where a group without a committed offset starts. Default `latest`.
pub const KAFKA_AUTO_OFFSET_RESET: &str = "Kafka-Auto-Offset-Reset";
/// Group session timeout in milliseconds; an idle instance expires after it. Default 120000.
pub const KAFKA_SESSION_TIMEOUT_MS: &str = "Kafka-Session-Timeout-Ms";

/// The request header that makes a produce idempotent (IETF draft-ietf-httpapi-idempotency-key-header):
/// an opaque key of 1–255 visible ASCII characters, bare or as a quoted string. The server
/// answers a repeat of the same key and body with the first answer and stores nothing again.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Request headers that `/webhook` does not copy into the message (spec §4.10, open question 15).
///
/// Our choice: transport, auth and content-negotiation headers are "standard"; everything else
/// (e.g. `Stripe-Signature`, `X-GitHub-Event`) becomes a message header, with its name in lower
/// case as HTTP/2 and hyper present it.
pub const WEBHOOK_EXCLUDED_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cache-control",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "expect",
    "host",
    "idempotency-key",
    "keep-alive",
    "pragma",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];

/// Where a consumer instance starts when its group has no committed offset
/// (`Kafka-Auto-Offset-Reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoOffsetReset {
    /// Start at the first retained message.
    Earliest,
    /// Start after the last message: only new messages are delivered (the API's default).
    #[default]
    Latest,
    /// Fail the consume instead of guessing.
    None,
}

impl AutoOffsetReset {
    /// The header value as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
            AutoOffsetReset::None => "none",
        }
    }
}

impl fmt::Display for AutoOffsetReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AutoOffsetReset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "earliest" => Ok(AutoOffsetReset::Earliest),
            "latest" => Ok(AutoOffsetReset::Latest),
            "none" => Ok(AutoOffsetReset::None),
            other => Err(format!(
                "invalid auto offset reset `{other}`: expected earliest, latest or none"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_reset_round_trips_through_its_header_value() {
        for v in [
            AutoOffsetReset::Earliest,
            AutoOffsetReset::Latest,
            AutoOffsetReset::None,
        ] {
            assert_eq!(v.as_str().parse::<AutoOffsetReset>().unwrap(), v);
        }
        assert_eq!(
            "EARLIEST".parse::<AutoOffsetReset>().unwrap(),
            AutoOffsetReset::Earliest
        );
        assert!("first".parse::<AutoOffsetReset>().is_err());
    }
}
