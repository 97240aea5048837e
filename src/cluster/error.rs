//! Errors from the cluster, classified so callers (the apply report, hooks' WIT
//! `cluster-error`) can branch on what happened rather than on HTTP codes.

use kube::core::Status;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl ClusterError {
    /// Classify an API `Status` by its HTTP code first, then its reason.
    pub fn from_status(status: &Status) -> ClusterError {
        let msg = if status.message.is_empty() {
            format!("{} (HTTP {})", status.reason, status.code)
        } else {
            status.message.clone()
        };
        match (status.code, status.reason.as_str()) {
            (404, _) | (_, "NotFound") => ClusterError::NotFound(msg),
            (401 | 403, _) | (_, "Forbidden" | "Unauthorized") => ClusterError::Forbidden(msg),
            (409, _) | (_, "Conflict" | "AlreadyExists") => ClusterError::Conflict(msg),
            (400 | 422, _) | (_, "Invalid" | "BadRequest") => ClusterError::Invalid(msg),
            (504, _) | (_, "Timeout" | "ServerTimeout") => ClusterError::Timeout(msg),
            (429 | 500..=599, _) => ClusterError::Unavailable(msg),
            _ => ClusterError::Other(anyhow::anyhow!("{msg} (HTTP {})", status.code)),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::NotFound(_))
    }

    /// A short machine-readable name, used in JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::NotFound(_) => "not-found",
            ClusterError::Forbidden(_) => "forbidden",
            ClusterError::Conflict(_) => "conflict",
            ClusterError::Invalid(_) => "invalid",
            ClusterError::Timeout(_) => "timeout",
            ClusterError::Unavailable(_) => "unavailable",
            ClusterError::Other(_) => "other",
        }
    }
}

impl From<kube::Error> for ClusterError {
    fn from(err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => ClusterError::from_status(&status),
            // Connection-level failures, after the client's retries gave up.
            kube::Error::HyperError(e) => ClusterError::Unavailable(format!("connection failed: {e}")),
            kube::Error::Service(e) => ClusterError::Unavailable(format!("connection failed: {}", chain(&*e))),
            other => ClusterError::Other(anyhow::Error::new(other)),
        }
    }
}

/// Error plus its sources on one line: tower/hyper wrap the useful part deep inside.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status::failure(message, reason).with_code(code)
    }

    #[test]
    fn classifies_by_code_and_reason() {
        assert!(matches!(ClusterError::from_status(&status(404, "NotFound", "x")), ClusterError::NotFound(m) if m == "x"));
        assert!(matches!(ClusterError::from_status(&status(403, "Forbidden", "no")), ClusterError::Forbidden(_)));
        assert!(matches!(ClusterError::from_status(&status(409, "Conflict", "c")), ClusterError::Conflict(_)));
        assert!(matches!(ClusterError::from_status(&status(422, "Invalid", "bad")), ClusterError::Invalid(_)));
        assert!(matches!(ClusterError::from_status(&status(429, "TooManyRequests", "slow")), ClusterError::Unavailable(_)));
        assert!(matches!(ClusterError::from_status(&status(500, "InternalError", "boom")), ClusterError::Unavailable(_)));
        assert!(matches!(ClusterError::from_status(&status(504, "Timeout", "t")), ClusterError::Timeout(_)));
        assert!(matches!(ClusterError::from_status(&status(418, "Teapot", "t")), ClusterError::Other(_)));
    }

    #[test]
    fn empty_message_falls_back_to_reason_and_code() {
        let e = ClusterError::from_status(&status(500, "InternalError", ""));
        assert_eq!(e.to_string(), "unavailable: InternalError (HTTP 500)");
    }
}
