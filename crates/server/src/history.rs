//! The console's throughput history: produced and consumed (consumer groups) messages per
//! second over the last [`HISTORY_SECONDS`] seconds, which the `/ui` rate chart reads through
//! `/ui/api/stats`.
//!
//! It is kept apart from the Prometheus metrics ([`crate::metrics`]): Prometheus computes rates
//! from counters itself, whereas the console has no time-series store and needs the recent
//! seconds kept for it. [`crate::metrics::Metrics`] feeds it from the same events that drive
//! the counters.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many seconds of per-second produce/consume counts are kept for the console.
pub const HISTORY_SECONDS: u64 = 300;

/// Produced and consumed (consumer groups) messages in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Second {
    /// Unix time, seconds.
    pub t: u64,
    /// Messages produced in that second.
    pub produced: u64,
    /// Messages delivered through consumer groups in that second.
    pub consumed: u64,
}

/// Seconds with activity, oldest first, at most [`HISTORY_SECONDS`] of them.
///
/// One short mutex section per produce or consume request (not per message); quiet seconds
/// take no room.
#[derive(Debug, Default)]
pub struct History {
    seconds: Mutex<VecDeque<Second>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Second>> {
        // A panic elsewhere while holding the lock leaves counts, not broken invariants.
        self.seconds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `produced` and `consumed` messages to the current second.
    pub fn record(&self, produced: u64, consumed: u64) {
        self.record_at(unix_now(), produced, consumed);
    }

    fn record_at(&self, now: u64, produced: u64, consumed: u64) {
        let mut h = self.lock();
        match h.back_mut() {
            Some(last) if last.t == now => {
                last.produced += produced;
                last.consumed += consumed;
            }
            _ => h.push_back(Second {
                t: now,
                produced,
                consumed,
            }),
        }
        // Drop what fell out of the window, and anything "from the future" after the clock
        // stepped back.
        while h
            .front()
            .is_some_and(|s| s.t + HISTORY_SECONDS <= now || s.t > now)
        {
            h.pop_front();
        }
    }

    /// Seconds with activity within the last [`HISTORY_SECONDS`] seconds, oldest first.
    pub fn seconds(&self) -> Vec<Second> {
        self.seconds_at(unix_now())
    }

    fn seconds_at(&self, now: u64) -> Vec<Second> {
        self.lock()
            .iter()
            .filter(|s| s.t + HISTORY_SECONDS > now && s.t <= now)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_second_and_age_out() {
        let h = History::new();
        h.record_at(1_000, 2, 0);
        h.record_at(1_000, 1, 4);
        h.record_at(1_001, 0, 1);
        assert_eq!(
            h.seconds_at(1_001),
            vec![
                Second {
                    t: 1_000,
                    produced: 3,
                    consumed: 4
                },
                Second {
                    t: 1_001,
                    produced: 0,
                    consumed: 1
                },
            ]
        );
        // 1_000 is out of the window at 1_300, 1_001 still in.
        assert_eq!(h.seconds_at(1_000 + HISTORY_SECONDS).len(), 1);
        h.record_at(1_001 + HISTORY_SECONDS, 5, 0);
        assert_eq!(
            h.seconds_at(1_001 + HISTORY_SECONDS),
            vec![Second {
                t: 1_001 + HISTORY_SECONDS,
                produced: 5,
                consumed: 0
            }]
        );
    }
}
