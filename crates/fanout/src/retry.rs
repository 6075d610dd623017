//! [`RetryPolicy`]: how often and after how long a failed model turn is tried again.
//!
//! Retries have one owner: the run loop applies the agent's policy once per model turn,
//! whatever failed — the connection, an error status, a stream cut before any output, a stream
//! cut after eager tool calls had started. Providers make one attempt per request. A turn
//! therefore makes at most `1 + max_retries` requests, and every retry is reported as a
//! [`EventKind::ModelRetry`](crate::EventKind::ModelRetry).

use std::time::Duration;

use crate::error::Error;

/// When to try a failed model turn again. The default is the official SDKs': 2 retries,
/// backoff from 0.5 s doubling to at most 8 s with up to 25 % jitter, and a provider's own wait
/// (`retry-after`, `retry-after-ms`, Gemini's `RetryInfo`) honoured up to 60 s.
///
/// ```
/// use std::time::Duration;
/// use fanout::RetryPolicy;
///
/// let policy = RetryPolicy::default().max_retries(5).max_backoff(Duration::from_secs(30));
/// assert_eq!(policy.retries(), 5);
/// let never = RetryPolicy::none();
/// assert_eq!(never.retries(), 0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            jitter: 0.25,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// Retry a failed turn up to `retries` times (2 by default).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first wait (0.5 s by default); each next one doubles.
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.initial_backoff = wait;
        self
    }

    /// The longest computed wait (8 s by default).
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.max_backoff = wait;
        self
    }

    /// The longest wait a provider may ask for (60 s by default); a longer `retry-after` is not
    /// honoured and the computed backoff applies instead.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Take up to this fraction (0–1) off each computed wait at random (0.25 by default), so
    /// that many clients do not retry in step.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// The number of retries allowed.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// How long to wait before retry number `retry` (1-based) after `err`, or `None` when the
    /// error is not worth retrying or the retries are used up.
    pub fn wait_before(&self, retry: u32, err: &Error) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries || !err.is_retryable() {
            return None;
        }
        if let Some(asked) = err.retry_after().filter(|wait| *wait <= self.max_retry_after) {
            return Some(asked);
        }
        Some(self.backoff(retry))
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(30) as i32;
        let base =
            (self.initial_backoff.as_secs_f64() * 2f64.powi(exponent)).min(self.max_backoff.as_secs_f64());
        // A fresh RandomState is randomly seeded: enough randomness for jitter, without a dependency.
        let random = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), retry);
        let factor = 1.0 - self.jitter * (random as f64 / u64::MAX as f64);
        Duration::from_secs_f64(base * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy::default().max_retries(10);
        let err = Error::status_error("openai", 500, "boom");
        let first = policy.wait_before(1, &err).unwrap_or_default();
        assert!(first <= Duration::from_millis(500) && first >= Duration::from_millis(375), "{first:?}");
        let late = policy.wait_before(10, &err).unwrap_or_default();
        assert!(late <= Duration::from_secs(8) && late >= Duration::from_secs(6), "{late:?}");
        let exact = RetryPolicy::default().jitter(0.0);
        assert_eq!(exact.wait_before(2, &err), Some(Duration::from_secs(1)));
    }

    #[test]
    fn honours_retry_after_within_bounds() {
        let policy = RetryPolicy::default().jitter(0.0);
        let asked = Error::status_error("openai", 429, "slow").with_retry_after(Duration::from_secs(3));
        assert_eq!(policy.wait_before(1, &asked), Some(Duration::from_secs(3)));
        let too_long = Error::status_error("openai", 429, "slow").with_retry_after(Duration::from_secs(3600));
        assert_eq!(policy.wait_before(1, &too_long), Some(Duration::from_millis(500)));
    }

    #[test]
    fn stops_when_used_up_or_not_retryable() {
        let policy = RetryPolicy::default();
        let err = Error::status_error("openai", 503, "down");
        assert!(policy.wait_before(2, &err).is_some());
        assert_eq!(policy.wait_before(3, &err), None);
        assert_eq!(policy.wait_before(1, &Error::status_error("openai", 400, "bad")), None);
        assert_eq!(RetryPolicy::none().wait_before(1, &err), None);
    }
}
