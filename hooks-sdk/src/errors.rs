//! [`HookError`]: why a hook failed, with what it was doing. Cluster errors keep their WIT
//! case so callers can branch on it (`is_not_found`, `is_forbidden`).

use std::fmt;

use crate::ClusterError;

/// Why a hook (or one of the SDK's calls) failed. Its `Display` text is what the deploy log
/// shows when `run` returns it.
#[derive(Debug, Clone)]
pub enum HookError {
    /// A cluster call failed; `context` says what the hook was doing.
    Cluster {
        context: String,
        error: ClusterError,
    },
    /// The hook's `config` in hooks.yaml does not have the shape the hook expects.
    Config(String),
    /// An object from the cluster (or one the hook built) is not the JSON expected.
    Json { context: String, message: String },
    /// The hook decided to fail, with this message.
    Failed(String),
}

impl HookError {
    /// A failure with the hook's own message.
    ///
    /// ```
    /// # use kubes_hook_sdk::HookError;
    /// let e = HookError::msg("migration failed: BackoffLimitExceeded");
    /// assert_eq!(e.to_string(), "migration failed: BackoffLimitExceeded");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Self {
        HookError::Failed(message.to_string())
    }

    /// The cluster error behind this one, if any.
    pub fn cluster_error(&self) -> Option<&ClusterError> {
        match self {
            HookError::Cluster { error, .. } => Some(error),
            _ => None,
        }
    }

    /// True when a cluster call found no such object.
    pub fn is_not_found(&self) -> bool {
        matches!(self.cluster_error(), Some(ClusterError::NotFound))
    }

    /// True when the hook's grants (or the API server) denied a call.
    pub fn is_forbidden(&self) -> bool {
        matches!(self.cluster_error(), Some(ClusterError::Forbidden(_)))
    }

    /// True when a wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.cluster_error(), Some(ClusterError::Timeout))
    }

    /// Put `what` in front of the existing context (`what: context: cause`).
    pub fn context(self, what: impl fmt::Display) -> Self {
        let join = |c: String| {
            if c.is_empty() {
                what.to_string()
            } else {
                format!("{what}: {c}")
            }
        };
        match self {
            HookError::Cluster { context, error } => HookError::Cluster {
                context: join(context),
                error,
            },
            HookError::Json { context, message } => HookError::Json {
                context: join(context),
                message,
            },
            HookError::Config(m) => HookError::Config(format!("{what}: {m}")),
            HookError::Failed(m) => HookError::Failed(format!("{what}: {m}")),
        }
    }

    pub(crate) fn json(context: impl fmt::Display, e: impl fmt::Display) -> Self {
        HookError::Json {
            context: context.to_string(),
            message: e.to_string(),
        }
    }
}

/// How a cluster error reads in a message.
pub fn describe(e: &ClusterError) -> String {
    match e {
        ClusterError::NotFound => "not found".into(),
        ClusterError::Forbidden(m) => format!("forbidden: {m}"),
        ClusterError::Conflict(m) => format!("conflict: {m}"),
        ClusterError::Invalid(m) => format!("invalid: {m}"),
        ClusterError::Timeout => "timed out".into(),
        ClusterError::Unavailable(m) => format!("cluster unavailable: {m}"),
        ClusterError::Other(m) => m.clone(),
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Cluster { context, error } if context.is_empty() => {
                f.write_str(&describe(error))
            }
            HookError::Cluster { context, error } => write!(f, "{context}: {}", describe(error)),
            HookError::Config(m) => f.write_str(m),
            HookError::Json { context, message } if context.is_empty() => f.write_str(message),
            HookError::Json { context, message } => write!(f, "{context}: {message}"),
            HookError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HookError {}

impl From<ClusterError> for HookError {
    fn from(error: ClusterError) -> Self {
        HookError::Cluster {
            context: String::new(),
            error,
        }
    }
}

impl From<serde_json::Error> for HookError {
    fn from(e: serde_json::Error) -> Self {
        HookError::json("", e)
    }
}

/// `.context("deleting Job/migrate")` on results of cluster calls and SDK calls.
///
/// ```
/// # use kubes_hook_sdk::{ClusterError, HookError, ResultExt};
/// let r: Result<(), ClusterError> = Err(ClusterError::NotFound);
/// let e = r.context("reading Job/migrate").unwrap_err();
/// assert_eq!(e.to_string(), "reading Job/migrate: not found");
/// assert!(e.is_not_found());
/// ```
pub trait ResultExt<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, HookError>;
}

impl<T, E: Into<HookError>> ResultExt<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, HookError> {
        self.map_err(|e| e.into().context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_nests_outermost_first() {
        let e = HookError::from(ClusterError::Forbidden(
            "no grant to delete jobs.batch".into(),
        ))
        .context("deleting Job/migrate")
        .context("cleanup");
        assert_eq!(
            e.to_string(),
            "cleanup: deleting Job/migrate: forbidden: no grant to delete jobs.batch"
        );
        assert!(e.is_forbidden());
        assert!(!e.is_not_found());
    }
}
