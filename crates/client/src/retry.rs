//! When and how patiently failed calls are tried again.

use std::time::Duration;

/// Which failures are retried, and the backoff between attempts.
///
/// By default connection failures, timeouts, 429 and 500/502/503/504 are retried with
/// exponential backoff and full jitter, a `Retry-After` header is honoured, other 4xx answers
/// are never retried (409 only on a produce, see below), and the whole call (all attempts) is
/// bounded by `deadline`.
///
/// **Produce retries are idempotent by default** (`idempotency_keys`): every produce call
/// sends a fresh `Idempotency-Key` header, and every retry of that call sends the same key.
/// A server that keeps keys (the upkafka server, embedded or gateway) answers a retry whose
/// first attempt was stored (its answer lost: a reset connection, a truncated body, a
/// timeout) with the first answer, and stores nothing again. A 409 (the first attempt is
/// still being stored) is retried after its `Retry-After`. Servers that ignore the header
/// (Upstash was one) behave as before: a retry whose first attempt was stored stores the
/// batch again (at-least-once). The key lives for one call: producing the same records in a
/// new call is a new batch. Set `retry_produce` to `false` to make produce calls
/// single-attempt (at-most-once from the client's side).
///
/// ```
/// use std::time::Duration;
/// use upkafka_client::RetryPolicy;
/// let policy = RetryPolicy {
///     deadline: Duration::from_secs(10),
///     retry_produce: false,
///     ..RetryPolicy::default()
/// };
/// assert_eq!(policy.max_retries, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 5.
    pub max_retries: u32,
    /// Backoff before the first retry; doubled for each further retry. Default 200 ms.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff (and of an honoured `Retry-After`). Default 10 s.
    pub max_backoff: Duration,
    /// Bound on one call from first attempt to last answer, on top of any server-side wait.
    /// Default 60 s.
    pub deadline: Duration,
    /// Whether produce calls are retried at all. Default `true`.
    pub retry_produce: bool,
    /// Whether each produce call sends a fresh `Idempotency-Key`, reused by its retries, so
    /// that a retry of a stored batch is not stored again. Default `true`.
    pub idempotency_keys: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
            retry_produce: true,
            idempotency_keys: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries: each call is one attempt (tests, or callers that retry
    /// themselves).
    ///
    /// ```
    /// # use upkafka_client::RetryPolicy;
    /// assert_eq!(RetryPolicy::none().max_retries, 0);
    /// ```
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The default policy with `max_retries` retries.
    ///
    /// ```
    /// # use upkafka_client::RetryPolicy;
    /// assert_eq!(RetryPolicy::with_max_retries(2).max_retries, 2);
    /// ```
    pub fn with_max_retries(max_retries: u32) -> Self {
        Self {
            max_retries,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0-based): a server's `Retry-After` when given
    /// (capped at `max_backoff`), else a random time up to `initial_backoff × 2^retry`.
    pub(crate) fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_backoff);
        }
        let ceiling = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.max_backoff);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        // Full jitter, but never less than a tenth of the ceiling so retries do not hammer.
        let low = millis / 10;
        Duration::from_millis(fastrand::u64(low..=millis.max(low)))
    }
}

/// A fresh `Idempotency-Key` for one produce call: `upk-` and 128 bits as hex. The bits are
/// SipHash of a process-wide counter under the OS-random keys of std's `RandomState`, so keys
/// differ within a process (the counter) and between processes (the random keys) without a
/// dependency for randomness.
pub(crate) fn fresh_idempotency_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(std::collections::hash_map::RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let half = |lane: u8| {
        let mut h = seed.build_hasher();
        h.write_u64(n);
        h.write_u8(lane);
        h.finish()
    };
    format!("upk-{:016x}{:016x}", half(0), half(1))
}

/// Parses a `Retry-After` value given in seconds (the HTTP-date form is ignored).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 0..30 {
            let b = p.backoff(retry, None);
            let ceiling = (p.initial_backoff * 2u32.pow(retry.min(20))).min(p.max_backoff);
            assert!(b <= ceiling && b >= ceiling / 10, "{retry}: {b:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_fresh_and_valid() {
        let keys: std::collections::HashSet<String> =
            (0..10_000).map(|_| fresh_idempotency_key()).collect();
        assert_eq!(keys.len(), 10_000);
        for k in keys.iter().take(10) {
            assert_eq!(k.len(), 36);
            assert!(k.bytes().all(|b| b.is_ascii_graphic()), "{k}");
        }
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.backoff(0, Some(Duration::from_secs(3600))), p.max_backoff);
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
