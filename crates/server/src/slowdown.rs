//! Slowing down password guessing: repeated 401s from one client address are answered later
//! and later.
//!
//! An address may fail [`FREE_FAILURES`] times within [`WINDOW`] at full speed; each further
//! failure in that window waits before its 401 is sent, twice as long as the one before,
//! from [`FIRST_DELAY`] up to [`MAX_DELAY`]. Only failures are counted and only failures wait:
//! a request with valid credentials is never delayed or refused, whatever its address has
//! done, so the server's own credential cannot be locked out. The wait happens before the
//! request takes a request slot, so a guesser holds a connection, not a slot others need.
//! At most [`MAX_ADDRESSES`] addresses are remembered (the oldest are forgotten first), and
//! the table is only touched on a failure, never on the produce path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may make per [`WINDOW`] without waiting.
pub const FREE_FAILURES: u32 = 10;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The wait of the first failure over [`FREE_FAILURES`].
pub const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest wait before a 401.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Most client addresses remembered.
pub const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

/// The failures of recent client addresses.
#[derive(Debug, Default)]
pub(crate) struct Slowdown {
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

impl Slowdown {
    /// Counts a failure of `addr` at `now`; returns how long its 401 should wait.
    pub(crate) fn failed(&self, addr: IpAddr, now: Instant) -> Duration {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&addr) {
            map.retain(|_, f| now.saturating_duration_since(f.since) < WINDOW);
            if map.len() >= MAX_ADDRESSES {
                // Every remembered address failed within the window: forget the oldest half.
                let mut since: Vec<Instant> = map.values().map(|f| f.since).collect();
                since.sort_unstable();
                let cut = since[since.len() / 2];
                map.retain(|_, f| f.since > cut);
            }
        }
        let entry = map.entry(addr).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.saturating_duration_since(entry.since) >= WINDOW {
            *entry = Failures {
                since: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
        delay_for(entry.count)
    }
}

/// The wait of the `n`th failure within a window.
fn delay_for(n: u32) -> Duration {
    let Some(over) = n.checked_sub(FREE_FAILURES + 1) else {
        return Duration::ZERO;
    };
    FIRST_DELAY
        .saturating_mul(1u32.checked_shl(over.min(16)).unwrap_or(u32::MAX))
        .min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_free_ones_wait_longer_and_longer_up_to_the_cap() {
        let s = Slowdown::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let t = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(s.failed(a, t), Duration::ZERO);
        }
        assert_eq!(s.failed(a, t), FIRST_DELAY);
        assert_eq!(s.failed(a, t), FIRST_DELAY * 2);
        assert_eq!(s.failed(a, t), FIRST_DELAY * 4);
        for _ in 0..40 {
            assert!(s.failed(a, t) <= MAX_DELAY);
        }
        assert_eq!(s.failed(a, t), MAX_DELAY);
        // Another address is not affected; the window's end forgives.
        assert_eq!(s.failed([10, 0, 0, 2].into(), t), Duration::ZERO);
        assert_eq!(s.failed(a, t + WINDOW), Duration::ZERO);
    }

    #[test]
    fn the_table_stays_bounded() {
        let s = Slowdown::default();
        let t = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 500) {
            let addr: IpAddr = std::net::Ipv4Addr::from(i).into();
            s.failed(addr, t + Duration::from_millis(u64::from(i)));
        }
        let len = s.by_address.lock().unwrap().len();
        assert!(len <= MAX_ADDRESSES, "{len}");
    }
}
