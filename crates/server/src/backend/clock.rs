//! The server's one clock: record timestamps and time lookups use the same milliseconds, and
//! credentials, tokens and daily quotas the same time in seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch: the timestamp of a record produced without one.
/// A clock before 1970 counts as 0 rather than failing a produce.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in whole seconds since the Unix epoch (what credentials, tokens and the daily request
/// count use): [`now_ms`] divided down, so that both read the same clock.
pub(crate) fn now_secs() -> i64 {
    now_ms() / 1000
}
