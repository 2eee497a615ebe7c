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

use crate::by_name::ByName;

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

/// Most topics whose own history is kept (the quietest goes first beyond it), so that a
/// stream of new topic names cannot grow the history without bound.
pub const MAX_TOPIC_HISTORIES: usize = 1000;

/// Seconds with activity, oldest first, at most [`HISTORY_SECONDS`] of them.
#[derive(Debug, Default)]
struct Series(VecDeque<Second>);

impl Series {
    fn record_at(&mut self, now: u64, produced: u64, consumed: u64) {
        let h = &mut self.0;
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

    fn seconds_at(&self, now: u64) -> Vec<Second> {
        self.0
            .iter()
            .filter(|s| s.t + HISTORY_SECONDS > now && s.t <= now)
            .copied()
            .collect()
    }

    fn last_active(&self) -> u64 {
        self.0.back().map_or(0, |s| s.t)
    }
}

/// The server's history and each topic's (the Developer API's topic stats).
///
/// One short mutex section per produce or consume request (not per message) for the total,
/// one per topic of the request for the topics; quiet seconds take no room.
#[derive(Debug, Default)]
pub struct History {
    all: Mutex<Series>,
    topics: Mutex<ByName<String, Series>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves counts, not broken invariants.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `produced` and `consumed` messages to the current second.
    pub fn record(&self, produced: u64, consumed: u64) {
        self.record_at(unix_now(), produced, consumed);
    }

    fn record_at(&self, now: u64, produced: u64, consumed: u64) {
        lock(&self.all).record_at(now, produced, consumed);
    }

    /// Adds `produced` and `consumed` messages of `topic` to the current second (its own
    /// history only; [`History::record`] counts the total).
    pub fn record_topic(&self, topic: &str, produced: u64, consumed: u64) {
        self.record_topic_at(unix_now(), topic, produced, consumed);
    }

    /// [`History::record_topic`] and [`History::record`] of the traffic of one topic, at one
    /// reading of the clock (a single-message produce read it twice, issue 19).
    pub fn record_with_topic(&self, topic: &str, produced: u64, consumed: u64) {
        let now = unix_now();
        self.record_topic_at(now, topic, produced, consumed);
        self.record_at(now, produced, consumed);
    }

    fn record_topic_at(&self, now: u64, topic: &str, produced: u64, consumed: u64) {
        let mut topics = lock(&self.topics);
        if let Some(series) = topics.get_mut(topic) {
            series.record_at(now, produced, consumed);
            return;
        }
        if topics.len() >= MAX_TOPIC_HISTORIES
            && let Some(quietest) = topics
                .iter()
                .min_by_key(|(_, s)| s.last_active())
                .map(|(t, _)| t.clone())
        {
            topics.remove(&quietest);
        }
        let mut series = Series::default();
        series.record_at(now, produced, consumed);
        topics.insert(topic.to_owned(), series);
    }

    /// Seconds with activity within the last [`HISTORY_SECONDS`] seconds, oldest first.
    pub fn seconds(&self) -> Vec<Second> {
        self.seconds_at(unix_now())
    }

    fn seconds_at(&self, now: u64) -> Vec<Second> {
        lock(&self.all).seconds_at(now)
    }

    /// [`History::seconds`] of one topic (empty when it had no traffic lately).
    pub fn topic_seconds(&self, topic: &str) -> Vec<Second> {
        let now = unix_now();
        lock(&self.topics)
            .get(topic)
            .map(|s| s.seconds_at(now))
            .unwrap_or_default()
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

    #[test]
    fn one_topics_traffic_counts_in_its_history_and_the_total() {
        let h = History::new();
        h.record_with_topic("a", 2, 1);
        h.record_topic("b", 5, 0);
        let sum = |s: Vec<Second>| {
            s.iter()
                .fold((0, 0), |(p, c), s| (p + s.produced, c + s.consumed))
        };
        assert_eq!(sum(h.topic_seconds("a")), (2, 1));
        // `b` went to its own history only; the total has `a`'s traffic.
        assert_eq!(sum(h.seconds()), (2, 1));
        assert_eq!(sum(h.topic_seconds("b")), (5, 0));
    }

    #[test]
    fn each_topic_has_its_own_history_and_their_number_is_bounded() {
        let h = History::new();
        h.record_topic_at(1_000, "a", 2, 0);
        h.record_topic_at(1_000, "b", 0, 3);
        h.record_topic_at(1_000, "a", 1, 1);
        let a = lock(&h.topics)["a"].seconds_at(1_000);
        assert_eq!(
            a,
            [Second {
                t: 1_000,
                produced: 3,
                consumed: 1
            }]
        );
        assert!(h.topic_seconds("never").is_empty());
        for i in 0..MAX_TOPIC_HISTORIES + 10 {
            h.record_topic_at(2_000 + i as u64, &format!("t{i}"), 1, 0);
        }
        let topics = lock(&h.topics);
        assert_eq!(topics.len(), MAX_TOPIC_HISTORIES);
        assert!(!topics.contains_key("a"), "the quietest went first");
        assert!(topics.contains_key(&format!("t{}", MAX_TOPIC_HISTORIES + 9)));
    }
}
