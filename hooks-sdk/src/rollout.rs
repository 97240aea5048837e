//! Waiting for a Deployment rollout, the way `kubectl rollout status` judges it
//! (`observedGeneration` first), but ending at once when the rollout cannot succeed: a thin
//! policy over [`crate::progress::follow_rollout`] (the host does the following).

use std::time::{Duration, Instant};

use crate::progress::{follow_rollout, RolloutEvent};
use crate::{HookError, ObjectRef};

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutOutcome {
    /// Every replica runs the current template and is available.
    Ready { replicas: i32 },
    /// The Deployment reports it cannot progress (`ProgressDeadlineExceeded`), a pod of
    /// the rollout cannot start (`ImagePullBackOff`, `CrashLoopBackOff`,
    /// `CreateContainerConfigError`...; `pod` names it), or the Deployment was deleted.
    Failed {
        reason: String,
        message: String,
        pod: Option<String>,
    },
    /// Still rolling out after the timeout; `progress` is the last state seen.
    Timeout { waited: Duration, progress: String },
}

/// Wait until Deployment `deployment` has rolled out, printing
/// `Waiting for Deployment/NAME rollout: PROGRESS` as progress changes. Returns `Failed` at
/// once when the Deployment reports `ProgressDeadlineExceeded` (or is deleted) or when a
/// pod of the rollout cannot start (printing `pod NAME cannot start: REASON: MESSAGE`),
/// `Timeout` after `timeout`. Grants: `watch` on `deployments.apps` (may be limited to the
/// name) and `watch` on `pods`.
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # use std::time::Duration;
/// # fn f() -> Result<(), HookError> {
/// match rollout_wait(&ObjectRef::deployment("web"), Duration::from_secs(120))? {
///     RolloutOutcome::Ready { replicas } => println!("web ready ({replicas} replicas)"),
///     other => return Err(HookError::msg(format!("web did not roll out: {other:?}"))),
/// }
/// # Ok(()) }
/// ```
pub fn rollout_wait(
    deployment: &ObjectRef,
    timeout: Duration,
) -> Result<RolloutOutcome, HookError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut progress = follow_rollout(&deployment.name, deployment.namespace.as_deref())?;
    let mut last = String::from("the Deployment does not exist yet");
    while let Some(event) = progress.next(Some(deadline))? {
        match event {
            RolloutEvent::Progress(s) => {
                let now = s.describe();
                if now != last {
                    println!("Waiting for {deployment} rollout: {now}");
                    last = now;
                }
            }
            RolloutEvent::CannotStart {
                pod,
                reason,
                message,
            } => {
                let colon = if message.is_empty() { "" } else { ": " };
                println!("pod {pod} cannot start: {reason}{colon}{message}");
                return Ok(RolloutOutcome::Failed {
                    reason,
                    message,
                    pod: Some(pod),
                });
            }
            RolloutEvent::Complete(s) => {
                return Ok(RolloutOutcome::Ready {
                    replicas: s.desired as i32,
                })
            }
            RolloutEvent::Failed { reason, message } => {
                return Ok(RolloutOutcome::Failed {
                    reason,
                    message,
                    pod: None,
                })
            }
        }
    }
    if progress.finished() {
        // The host stopped without an outcome (it always sends one; be safe).
        return Ok(RolloutOutcome::Failed {
            reason: "Unknown".into(),
            message: format!("the rollout of {deployment} ended without an outcome"),
            pod: None,
        });
    }
    Ok(RolloutOutcome::Timeout {
        waited: start.elapsed(),
        progress: last,
    })
}

#[cfg(test)]
mod tests {
    use crate::progress::RolloutStatus;

    #[test]
    fn progress_reads_like_rollout_status() {
        let s = |desired, updated, available, observed| RolloutStatus {
            desired,
            updated,
            ready: available,
            available,
            observed,
        };
        assert_eq!(
            s(2, 2, 2, false).describe(),
            "waiting for the controller to observe the new spec"
        );
        assert_eq!(
            s(2, 1, 1, true).describe(),
            "1 of 2 new replicas have been updated"
        );
        assert_eq!(
            s(2, 2, 1, true).describe(),
            "1 of 2 updated replicas are available"
        );
        assert_eq!(
            s(2, 2, 2, true).describe(),
            "old replicas are pending termination"
        );
    }
}
