//! Fault injection on resource requests: added latency, 429 (with Retry-After), 500 and
//! 503 answers at given rates, watch and log streams cut after N items (optionally with the
//! cut watch's versions compacted away). Decisions are seeded and keyed by route (see
//! [`FaultDice`]), so a run with the same seed sees the same faults on each route even when
//! its requests race one another.

use crate::status::ApiError;
use axum::http::header;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Mutex;
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
    /// Pass each line of a followed log on this long after reading it (a kubelet or network
    /// slow to pass logs on): the pod's status can then tell a container stopped before its
    /// last lines arrived.
    pub log_lag: Duration,
    /// When a watch is cut (`drop_watch_after`), compact the history past everything it
    /// sent, as if the server's history moved on while the client was away: resuming from
    /// its last version is answered 410 Gone, every time, and only a new list helps.
    pub compact_on_watch_drop: bool,
    /// Seed of the fault PRNG.
    pub seed: u64,
}

impl Faults {
    /// Sleep the configured latency, then maybe answer a request of `route` (see [`route`])
    /// with an injected error.
    pub async fn inject(&self, dice: &FaultDice, route: &str) -> Option<Response> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if self.rate_429 + self.rate_500 + self.rate_503 <= 0.0 {
            return None;
        }
        let x = dice.roll(route);
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

/// Seeded fault decisions, one sequence per route: the n-th request of a route meets the
/// same fate in every run with the same seed, whatever other requests came between. (One
/// sequence for all requests would hand a test's racing watches and log reads different
/// faults from run to run.)
#[derive(Debug, Default)]
pub struct FaultDice {
    seed: u64,
    counts: Mutex<HashMap<String, u64>>,
}

impl FaultDice {
    pub fn new(seed: u64) -> Self {
        FaultDice {
            seed,
            counts: Mutex::default(),
        }
    }

    /// The next number in [0, 1) of `route`'s sequence.
    pub fn roll(&self, route: &str) -> f64 {
        let n = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let c = counts.entry(route.to_string()).or_default();
            *c += 1;
            *c
        };
        // FNV-1a of the route, then splitmix64 of (seed, route, n).
        let h = route.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        let mut z = self
            .seed
            .wrapping_add(h)
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A request's route for [`FaultDice`]: method, resource, subresource and whether it reads
/// one object, a list or a watch — never namespaces or names (generated names differ from run
/// to run). E.g. `GET /pods/log item`, `GET batch/jobs watch`.
pub fn route(method: &str, path: &str, query: Option<&str>) -> String {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", _, rest @ ..] => ("", rest),
        ["apis", g, _, rest @ ..] => (*g, rest),
        _ => return format!("{method} {path}"),
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let plural = rest.first().copied().unwrap_or("");
    let sub = rest.get(2).map(|s| format!("/{s}")).unwrap_or_default();
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let what = if watch {
        "watch"
    } else if rest.len() >= 2 {
        "item"
    } else {
        "list"
    };
    format!("{method} {group}/{plural}{sub} {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_the_resource_not_the_object() {
        let r = |m, p, q| route(m, p, q);
        assert_eq!(
            r(
                "GET",
                "/api/v1/namespaces/demo/pods/migrate-x7k2p/log",
                Some("follow=true")
            ),
            "GET /pods/log item"
        );
        assert_eq!(
            r(
                "GET",
                "/apis/batch/v1/namespaces/demo/jobs",
                Some("labelSelector=a&watch=true")
            ),
            "GET batch/jobs watch"
        );
        assert_eq!(
            r("GET", "/api/v1/namespaces/demo/pods", Some("limit=500")),
            "GET /pods list"
        );
        assert_eq!(
            r("DELETE", "/api/v1/namespaces/demo", None),
            "DELETE /namespaces item"
        );
    }

    #[test]
    fn each_route_has_its_own_sequence_whatever_comes_between() {
        let a = FaultDice::new(11);
        let b = FaultDice::new(11);
        let first: Vec<f64> = (0..5).map(|_| a.roll("GET /pods watch")).collect();
        let mut second = Vec::new();
        for _ in 0..5 {
            b.roll("GET /pods/log item");
            second.push(b.roll("GET /pods watch"));
        }
        assert_eq!(first, second);
        assert_ne!(
            a.roll("GET /pods watch"),
            FaultDice::new(12).roll("GET /pods watch")
        );
    }
}
