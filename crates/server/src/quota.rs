//! Rate limits per scoped credential, as Upstash's quotas were: messages produced per second
//! and requests per day. The server's own credential has none, so it is never locked out.
//!
//! Each credential carries its own [`Quota`] (tokens count against the credential that minted
//! them), all atomics: checking a limit takes no lock shared with other credentials or other
//! requests, so the produce path has no global lock.
//!
//! - Messages per second: the generic cell rate algorithm (a token bucket of one second's
//!   worth): a produce of `n` records is allowed when, after adding it, the credential is at
//!   most one second ahead of its rate. Over it: 429 with `Retry-After` (whole seconds,
//!   rounded up). A single batch larger than one second's worth can never pass: 400 naming the
//!   limit, so that a client splits it instead of retrying forever.
//! - Requests per day: a counter per UTC day. Over it: 429 with `Retry-After` until midnight
//!   UTC.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use upkafka_protocol::RateLimits;

use super::error::ApiError;

/// Refuses a limit of 0: it would read as "nothing allowed" but a missing limit is the way to
/// say "unlimited", and 0 messages per second has no interval to pace by.
///
/// # Errors
/// A sentence naming the field.
pub(crate) fn check_limits(limits: &RateLimits) -> Result<(), String> {
    if limits.messages_per_second == Some(0) {
        return Err("messages_per_second must be at least 1 (leave it out for no limit)".into());
    }
    if limits.requests_per_day == Some(0) {
        return Err("requests_per_day must be at least 1 (leave it out for no limit)".into());
    }
    Ok(())
}

/// A request over a limit: 429 with `Retry-After`, or 400 when waiting cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) message: String,
    /// `None`: waiting does not help (a batch larger than the limit).
    pub(crate) retry_after: Option<Duration>,
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let Some(wait) = self.retry_after else {
            return ApiError::bad_request(self.message).into_response();
        };
        let mut resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, self.message).into_response();
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        resp
    }
}

/// One credential's use of its limits.
#[derive(Debug, Default)]
pub(crate) struct Quota {
    limits: RateLimits,
    /// Theoretical arrival time of the next message, nanoseconds since [`epoch`].
    tat: AtomicU64,
    /// The UTC day `used` counts, days since the Unix epoch.
    day: AtomicU64,
    used: AtomicU64,
}

const SECOND_NS: u64 = 1_000_000_000;

/// The monotonic clock's origin for every quota.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Quota {
    /// A quota enforcing `limits`.
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits it enforces.
    pub(crate) fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Counts one request of `credential` at `now_secs` (Unix seconds).
    pub(crate) fn request(&self, credential: &str, now_secs: u64) -> Result<(), Limited> {
        let Some(limit) = self.limits.requests_per_day else {
            return Ok(());
        };
        let today = now_secs / 86_400;
        let day = self.day.load(Ordering::Acquire);
        // Only forward: a request whose clock read came just before midnight must not take
        // the counter back to yesterday (and zero it again).
        if today > day
            && self
                .day
                .compare_exchange(day, today, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.used.store(0, Ordering::Release);
        }
        if self.used.fetch_add(1, Ordering::AcqRel) < limit {
            return Ok(());
        }
        self.used.fetch_sub(1, Ordering::AcqRel);
        Err(Limited {
            message: format!(
                "too many requests: credential `{credential}` may make {limit} requests per \
                 day (UTC)"
            ),
            retry_after: Some(Duration::from_secs(86_400 - now_secs % 86_400)),
        })
    }

    /// Counts `n` records produced by `credential` now.
    pub(crate) fn messages(&self, credential: &str, n: u64) -> Result<(), Limited> {
        let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.messages_at(credential, n, now)
    }

    fn messages_at(&self, credential: &str, n: u64, now: u64) -> Result<(), Limited> {
        let Some(rate) = self.limits.messages_per_second.filter(|r| *r > 0) else {
            return Ok(());
        };
        if n > u64::from(rate) {
            return Err(Limited {
                message: format!(
                    "a batch of {n} records is more than credential `{credential}` may produce \
                     in a second ({rate} messages per second): send it in smaller batches"
                ),
                retry_after: None,
            });
        }
        let interval = SECOND_NS / u64::from(rate);
        let cost = interval.saturating_mul(n);
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(cost);
            let ahead = next - now;
            if ahead > SECOND_NS {
                return Err(Limited {
                    message: format!(
                        "too many requests: credential `{credential}` may produce {rate} \
                         messages per second"
                    ),
                    retry_after: Some(Duration::from_nanos(ahead - SECOND_NS)),
                });
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_second(rate: u32) -> Quota {
        Quota::new(RateLimits {
            messages_per_second: Some(rate),
            requests_per_day: None,
        })
    }

    #[test]
    fn messages_pass_at_the_rate_with_one_second_of_burst() {
        let q = per_second(10);
        let t0 = 5 * SECOND_NS;
        // A full second's worth at once, then nothing until time has passed.
        assert!(q.messages_at("c", 10, t0).is_ok());
        let over = q.messages_at("c", 1, t0).unwrap_err();
        assert!(over.message.contains("10 messages per second"), "{over:?}");
        assert_eq!(over.retry_after, Some(Duration::from_millis(100)));
        assert!(q.messages_at("c", 1, t0 + SECOND_NS / 10).is_ok());
        // Over ten seconds at most rate × 10 + the burst get through.
        let q = per_second(100);
        let mut passed = 0u64;
        for ms in 0..10_000u64 {
            if q.messages_at("c", 1, t0 + ms * 1_000_000).is_ok() {
                passed += 1;
            }
            if q.messages_at("c", 1, t0 + ms * 1_000_000).is_ok() {
                passed += 1;
            }
        }
        assert!((1000..=1101).contains(&passed), "{passed}");
    }

    #[test]
    fn a_batch_larger_than_a_second_is_refused_for_good() {
        let e = per_second(5).messages_at("c", 6, SECOND_NS).unwrap_err();
        assert_eq!(e.retry_after, None);
        assert!(e.message.contains("smaller batches"), "{e:?}");
        assert_eq!(e.into_response().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn requests_per_day_reset_at_midnight_utc() {
        let q = Quota::new(RateLimits {
            messages_per_second: None,
            requests_per_day: Some(2),
        });
        let noon = 20_000 * 86_400 + 43_200;
        assert!(q.request("c", noon).is_ok());
        assert!(q.request("c", noon).is_ok());
        let e = q.request("c", noon + 1).unwrap_err();
        assert_eq!(e.retry_after, Some(Duration::from_secs(43_199)));
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "43199");
        assert!(q.request("c", noon + 43_200).is_ok(), "a new day");
        // A request whose clock was read before midnight counts for the new day; it does not
        // turn the counter back (and zero it) for another allowance.
        assert!(q.request("c", noon + 43_199).is_ok());
        assert!(q.request("c", noon + 43_199).is_err());
        assert!(
            check_limits(&RateLimits {
                messages_per_second: Some(0),
                requests_per_day: None
            })
            .is_err()
        );
        assert!(
            check_limits(&RateLimits {
                messages_per_second: None,
                requests_per_day: Some(0)
            })
            .is_err()
        );
        assert!(check_limits(&RateLimits::default()).is_ok());
    }

    #[test]
    fn no_limits_mean_no_refusals() {
        let q = Quota::default();
        for _ in 0..10_000 {
            assert!(q.request("c", 0).is_ok());
            assert!(q.messages("c", 1_000_000).is_ok());
        }
    }
}
