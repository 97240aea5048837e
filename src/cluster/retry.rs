//! Retrying transient API failures at the HTTP layer: 429 (honouring `Retry-After`),
//! 5xx and connection errors, with capped exponential backoff and jitter.
//!
//! It sits in the kube client's tower stack, so every request (apply, get, delete,
//! discovery, hooks' calls) gets the same policy and the engines stay free of retry loops.
//! Server-side apply, get and delete are idempotent, so replaying them is safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use tower::retry::Policy;
use tower::BoxError;

/// Tunables of the retry policy.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay; doubles each retry.
    pub base_delay: Duration,
    /// Cap on any single backoff delay.
    pub max_delay: Duration,
    /// Cap on a server's `Retry-After`, so a misbehaving server cannot stall a deploy for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Counts retries across all requests of one client, for the report.
#[derive(Debug, Default)]
pub struct RetryStats {
    retries: AtomicU64,
}

impl RetryStats {
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// Per-request state (tower clones the policy for every request).
#[derive(Clone)]
pub struct RetryPolicy {
    config: RetryConfig,
    attempt: u32,
    stats: Arc<RetryStats>,
}

impl RetryPolicy {
    pub fn new(config: RetryConfig, stats: Arc<RetryStats>) -> Self {
        RetryPolicy { config, attempt: 0, stats }
    }

    /// The delay before retry number `attempt` (0-based), or `None` when the response
    /// is final. `retry_after` is the server's hint in seconds.
    fn delay_for(&self, status: Option<StatusCode>, retry_after: Option<u64>) -> Option<Duration> {
        if self.attempt >= self.config.max_retries {
            return None;
        }
        let retryable = match status {
            None => true, // connection error
            Some(s) => s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED,
        };
        if !retryable {
            return None;
        }
        let exp = self.config.base_delay.saturating_mul(1u32 << self.attempt.min(16));
        let backoff = exp.min(self.config.max_delay);
        // Up to 25% jitter so concurrent appliers do not retry in lockstep.
        let jitter = backoff.mul_f64(jitter_fraction() * 0.25);
        let backoff = backoff + jitter;
        Some(match retry_after {
            Some(secs) => Duration::from_secs(secs).min(self.config.max_retry_after).max(backoff.min(self.config.base_delay)),
            None => backoff,
        })
    }
}

/// A cheap pseudo-random fraction in [0, 1) without a RNG dependency.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

fn retry_after_secs<B>(res: &Response<B>) -> Option<u64> {
    res.headers().get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _req: &mut Request<Body>, result: &mut Result<Response<Res>, BoxError>) -> Option<Self::Future> {
        let delay = match result {
            Ok(res) => self.delay_for(Some(res.status()), retry_after_secs(res))?,
            Err(_) => self.delay_for(None, None)?,
        };
        self.attempt += 1;
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        // Streaming bodies cannot be replayed; every body kubes sends is buffered.
        let body = req.body().try_clone()?;
        let mut new = Request::builder().method(req.method().clone()).uri(req.uri().clone()).version(req.version());
        if let Some(h) = new.headers_mut() {
            h.extend(req.headers().clone());
        }
        let mut new = new.body(body).ok()?;
        *new.extensions_mut() = req.extensions().clone();
        Some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempt: u32) -> RetryPolicy {
        let mut p = RetryPolicy::new(RetryConfig::default(), Arc::new(RetryStats::default()));
        p.attempt = attempt;
        p
    }

    #[test]
    fn retries_429_5xx_and_connection_errors_only() {
        let p = policy(0);
        assert!(p.delay_for(Some(StatusCode::TOO_MANY_REQUESTS), None).is_some());
        assert!(p.delay_for(Some(StatusCode::INTERNAL_SERVER_ERROR), None).is_some());
        assert!(p.delay_for(Some(StatusCode::SERVICE_UNAVAILABLE), None).is_some());
        assert!(p.delay_for(None, None).is_some());
        assert!(p.delay_for(Some(StatusCode::NOT_IMPLEMENTED), None).is_none());
        assert!(p.delay_for(Some(StatusCode::NOT_FOUND), None).is_none());
        assert!(p.delay_for(Some(StatusCode::CONFLICT), None).is_none());
        assert!(p.delay_for(Some(StatusCode::OK), None).is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let d0 = policy(0).delay_for(None, None).unwrap();
        let d3 = policy(3).delay_for(None, None).unwrap();
        let d5 = policy(5).delay_for(None, None).unwrap();
        assert!(d0 >= Duration::from_millis(100) && d0 <= Duration::from_millis(125));
        assert!(d3 >= Duration::from_millis(800) && d3 <= Duration::from_millis(1000));
        assert!(d5 <= Duration::from_millis(6250), "capped at 5s + jitter, got {d5:?}");
    }

    #[test]
    fn honours_retry_after_up_to_cap() {
        let p = policy(0);
        assert_eq!(p.delay_for(Some(StatusCode::TOO_MANY_REQUESTS), Some(2)), Some(Duration::from_secs(2)));
        assert_eq!(p.delay_for(Some(StatusCode::TOO_MANY_REQUESTS), Some(100_000)), Some(Duration::from_secs(60)));
    }

    #[test]
    fn gives_up_after_max_retries() {
        assert!(policy(6).delay_for(Some(StatusCode::INTERNAL_SERVER_ERROR), None).is_none());
    }
}
