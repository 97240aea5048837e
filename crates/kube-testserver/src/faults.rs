//! Fault injection on resource requests: added latency, 429 (with Retry-After), 500 and
//! 503 answers at given rates, watch and log streams cut after N items. Decisions come
//! from a seeded PRNG, so a run with the same seed and request order sees the same faults.

use crate::meta::Rng;
use crate::status::ApiError;
use axum::http::header;
use axum::response::Response;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every resource request before it is answered.
    pub latency: Duration,
    /// Fractions in [0, 1] of resource requests answered 429 / 500 / 503.
    pub rate_429: f64,
    pub rate_500: f64,
    pub rate_503: f64,
    /// Close each watch stream after this many events.
    pub drop_watch_after: Option<usize>,
    /// Close each log stream after this many lines.
    pub drop_logs_after: Option<usize>,
    /// Seed of the fault PRNG.
    pub seed: u64,
}

impl Faults {
    /// Sleep the configured latency, then maybe answer with an injected error.
    pub async fn inject(&self, rng: &Rng) -> Option<Response> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if self.rate_429 + self.rate_500 + self.rate_503 <= 0.0 {
            return None;
        }
        let x = rng.next_f64();
        let (code, reason, message) = if x < self.rate_429 {
            (429, "TooManyRequests", "the server has received too many requests and has asked us to try again later (injected fault)")
        } else if x < self.rate_429 + self.rate_500 {
            (500, "InternalError", "an error on the server (\"injected fault\") has prevented the request from succeeding")
        } else if x < self.rate_429 + self.rate_500 + self.rate_503 {
            (
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request (injected fault)",
            )
        } else {
            return None;
        };
        let mut status = ApiError::new(code, reason, message).to_status();
        if code == 429 {
            status["details"] = serde_json::json!({"retryAfterSeconds": 1});
        }
        let mut r = Response::builder()
            .status(code)
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                serde_json::to_vec(&status).unwrap_or_default(),
            ))
            .expect("static response parts are valid");
        if code == 429 || code == 503 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        Some(r)
    }

    /// Parse a rate given on the command line.
    pub fn parse_rate(s: &str) -> Result<f64, String> {
        let v: f64 = s
            .parse()
            .map_err(|_| format!("expected a fraction between 0 and 1, found {s:?}"))?;
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!("expected a fraction between 0 and 1, found {v}"))
        }
    }
}
