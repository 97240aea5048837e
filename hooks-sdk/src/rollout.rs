//! Waiting for a Deployment rollout, the way `kubectl rollout status` judges it, but ending
//! at once when the rollout has stalled (`ProgressDeadlineExceeded`).

use std::time::{Duration, Instant};

use crate::client::{Change, Next, Rewatch};
use crate::waiting::wait_any;
use crate::{k8s, HookError, ObjectRef};

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutOutcome {
    /// Every replica runs the current template and is available.
    Ready { replicas: i32 },
    /// The Deployment reports it cannot progress (`Progressing` False, e.g.
    /// `ProgressDeadlineExceeded`), or it was deleted.
    Failed { reason: String, message: String },
    /// Still rolling out after the timeout; `progress` is the last state seen.
    Timeout { waited: Duration, progress: String },
}

/// Where a rollout stands: `Some(outcome)` when it is over.
pub fn rollout_state(d: &k8s::Deployment) -> (Option<RolloutOutcome>, String) {
    let want = d.spec.replicas.unwrap_or(1);
    let s = &d.status;
    let updated = s.updated_replicas.unwrap_or(0);
    let available = s.available_replicas.unwrap_or(0);
    let total = s.replicas.unwrap_or(0);
    if let Some(c) = k8s::condition(&s.conditions, "Progressing") {
        if c.status == "False" {
            return (
                Some(RolloutOutcome::Failed {
                    reason: c.reason.clone().unwrap_or_else(|| "NotProgressing".into()),
                    message: c.message.clone().unwrap_or_default(),
                }),
                String::new(),
            );
        }
    }
    let observed = match (d.metadata.generation, s.observed_generation) {
        (Some(g), Some(o)) => o >= g,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let progress = if !observed {
        "waiting for the controller to observe the new spec".to_string()
    } else if updated < want {
        format!("{updated} of {want} new replicas have been updated")
    } else if total > updated {
        format!("{} old replicas are pending termination", total - updated)
    } else if available < updated {
        format!("{available} of {updated} updated replicas are available")
    } else {
        return (
            Some(RolloutOutcome::Ready { replicas: want }),
            String::new(),
        );
    };
    (None, progress)
}

/// Wait until Deployment `deployment` has rolled out, printing progress as it changes.
/// Returns `Failed` at once when the Deployment reports `ProgressDeadlineExceeded` (or is
/// deleted), `Timeout` after `timeout`. Grant: `watch` on `deployments.apps`.
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
    let mut watcher = Rewatch::new(
        &deployment.kind_ref(),
        deployment.namespace.as_deref(),
        Some(&deployment.name),
        None,
    )?;
    let mut last_progress = String::from("the Deployment does not exist yet");
    loop {
        loop {
            match watcher.next_change::<k8s::Deployment>()? {
                Next::Change(c) if c.change == Change::Deleted => {
                    return Ok(RolloutOutcome::Failed {
                        reason: "Deleted".into(),
                        message: format!("{deployment} was deleted during its rollout"),
                    })
                }
                Next::Change(c) => {
                    let (done, progress) = rollout_state(&c.object);
                    if let Some(outcome) = done {
                        return Ok(outcome);
                    }
                    if progress != last_progress {
                        println!("Waiting for {deployment} rollout: {progress}");
                        last_progress = progress;
                    }
                }
                Next::Pending | Next::End => break,
            }
        }
        if Instant::now() >= deadline {
            return Ok(RolloutOutcome::Timeout {
                waited: start.elapsed(),
                progress: last_progress,
            });
        }
        let until = watcher.retry_at().map_or(deadline, |t| t.min(deadline));
        let pollables: Vec<_> = watcher.subscribe().into_iter().collect();
        wait_any(&pollables.iter().collect::<Vec<_>>(), Some(until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(json: serde_json::Value) -> k8s::Deployment {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn judges_like_rollout_status() {
        let d = deployment(serde_json::json!({
            "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}}));
        assert_eq!(rollout_state(&d).1, "1 of 2 updated replicas are available");
        let d = deployment(serde_json::json!({
            "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert!(rollout_state(&d).0.is_none());
        let d = deployment(serde_json::json!({
            "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert_eq!(
            rollout_state(&d).0,
            Some(RolloutOutcome::Ready { replicas: 2 })
        );
    }

    #[test]
    fn a_stalled_rollout_fails() {
        let d = deployment(serde_json::json!({
            "metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet \"web-1\" has timed out progressing."}]}}));
        assert_eq!(
            rollout_state(&d).0,
            Some(RolloutOutcome::Failed {
                reason: "ProgressDeadlineExceeded".into(),
                message: "ReplicaSet \"web-1\" has timed out progressing.".into()
            })
        );
    }
}
