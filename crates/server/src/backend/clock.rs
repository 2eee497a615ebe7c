//! The one clock of the backends: record timestamps and time lookups use the same
//! milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch: the timestamp of a record produced without one.
/// A clock before 1970 counts as 0 rather than failing a produce.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
