//! Simulated controllers: Jobs run scripted pods, Deployments roll out ReplicaSets whose
//! pods become ready on a schedule. They react to the store's change feed and write
//! through the same API semantics clients use, so watches see every transition.

mod container_config;
mod deployment;
mod events;
mod job;
mod workloads;

use crate::cluster::Cluster;
use crate::logs::LogStore;
use crate::store::EventType;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Simulated durations; everything is milliseconds by default so tests stay fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// From pod creation to its binding to the node (`spec.nodeName`): until then the pod
    /// is unscheduled and its log answers `204 No Content`, as in Kubernetes.
    pub schedule: Duration,
    /// From pod creation to its container running.
    pub pod_start: Duration,
    /// Run time of a container whose pod has no script.
    pub default_run: Duration,
    /// Multiplies Kubernetes' real back-off durations: the Job controller's pod failure
    /// back-off (10 s, 20 s, 40 s, ... capped at 10 min), the kubelet's CrashLoopBackOff
    /// (first restart at once, then 10 s, 20 s, ... capped at 5 min) and image pull back-off
    /// (10 s, 20 s, ... capped at 5 min). The default 0.001 turns 10 s into 10 ms and keeps
    /// the doubling.
    pub backoff_scale: f64,
    /// Grace period of a pod the Job controller deletes (deadline exceeded, back-off limit
    /// reached with `restartPolicy: OnFailure`): the pod stays, with `deletionTimestamp`,
    /// counted in the Job's `status.terminating`, this long before it is gone. The Job's
    /// `Failed` condition comes only after that (`FailureTarget` at once).
    pub termination_grace: Duration,
    /// The Job controller's round trip between the interim condition (`FailureTarget`,
    /// `SuccessCriteriaMet`) and the final one (`Failed`, `Complete`): removing its pods'
    /// tracking finalizers and counting them.
    pub finalizer_removal: Duration,
    /// Default delay before a Deployment's pods report ready.
    pub ready_after: Duration,
    /// When a never-ready Deployment reports ProgressDeadlineExceeded (unless its
    /// progress-deadline annotation says otherwise).
    pub never_ready_deadline: Duration,
    /// How long after a Deployment's spec changes its controller notices: until then its
    /// status (conditions, replica counts) is the previous generation's and
    /// `status.observedGeneration` lags behind `metadata.generation`.
    pub observed_generation_lag: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            schedule: Duration::from_millis(2),
            pod_start: Duration::from_millis(5),
            default_run: Duration::from_millis(20),
            backoff_scale: 0.001,
            termination_grace: Duration::from_millis(30),
            finalizer_removal: Duration::from_millis(5),
            ready_after: Duration::from_millis(20),
            never_ready_deadline: Duration::from_millis(500),
            observed_generation_lag: Duration::from_millis(15),
        }
    }
}

impl Timing {
    /// `base * 2^(n-1)` capped at `cap` (n >= 1), scaled by `backoff_scale`: the shape of
    /// every back-off in Kubernetes (Job pod failures, CrashLoopBackOff, image pulls).
    pub fn backoff(&self, base: Duration, cap: Duration, n: u32) -> Duration {
        self.scaled(real_backoff(base, cap, n))
    }

    /// A real duration scaled by `backoff_scale`.
    pub fn scaled(&self, real: Duration) -> Duration {
        Duration::from_secs_f64((real.as_secs_f64() * self.backoff_scale).max(0.0))
    }
}

/// `base * 2^(n-1)` capped at `cap`, for n >= 1 (as `getRemainingTimeForFailuresCount` in
/// the Job controller and `flowcontrol.Backoff` in the kubelet compute it).
pub fn real_backoff(base: Duration, cap: Duration, n: u32) -> Duration {
    let mut d = base;
    for _ in 1..n.max(1) {
        d = d.saturating_mul(2);
        if d >= cap {
            return cap;
        }
    }
    d.min(cap)
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`), for messages that quote the real
/// back-off.
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

/// Start the controllers on the current runtime.
pub fn spawn(cluster: Arc<Cluster>, logs: Arc<LogStore>, timing: Timing) {
    let mut feed = cluster.subscribe();
    tokio::spawn(async move {
        // uids of Jobs already being run, (uid, generation) of Deployments reconciled.
        let mut jobs: HashSet<String> = HashSet::new();
        let mut deployments = deployment::Tracker::default();
        let mut workloads: HashSet<(String, i64)> = HashSet::new();
        loop {
            match feed.recv().await {
                Ok(ev) => {
                    if ev.kind == EventType::Deleted {
                        if ev.key == "/pods" {
                            deployment::on_pod_deleted(
                                &cluster,
                                &logs,
                                &timing,
                                &mut deployments,
                                &ev.object,
                            );
                        }
                        continue;
                    }
                    match ev.key.as_str() {
                        "batch/jobs" => {
                            job::on_event(&cluster, &logs, &timing, &mut jobs, &ev.object)
                        }
                        "apps/deployments" => deployment::on_event(
                            &cluster,
                            &logs,
                            &timing,
                            &mut deployments,
                            &ev.object,
                        ),
                        key @ ("apps/statefulsets" | "apps/daemonsets") => {
                            workloads::on_event(&cluster, &timing, &mut workloads, key, &ev.object)
                        }
                        _ => {}
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Missed events: look at every Job and Deployment again.
                    for (key, obj) in cluster.all_of(&[
                        "batch/jobs",
                        "apps/deployments",
                        "apps/statefulsets",
                        "apps/daemonsets",
                    ]) {
                        match key.as_str() {
                            "batch/jobs" => {
                                job::on_event(&cluster, &logs, &timing, &mut jobs, &obj)
                            }
                            "apps/deployments" => deployment::on_event(
                                &cluster,
                                &logs,
                                &timing,
                                &mut deployments,
                                &obj,
                            ),
                            other => {
                                workloads::on_event(&cluster, &timing, &mut workloads, other, &obj)
                            }
                        }
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_offs_double_from_ten_seconds_up_to_their_cap() {
        let job: Vec<u64> = (1..=8)
            .map(|n| real_backoff(Duration::from_secs(10), Duration::from_secs(600), n).as_secs())
            .collect();
        assert_eq!(job, [10, 20, 40, 80, 160, 320, 600, 600]);
        let kubelet: Vec<u64> = (1..=7)
            .map(|n| real_backoff(Duration::from_secs(10), Duration::from_secs(300), n).as_secs())
            .collect();
        assert_eq!(kubelet, [10, 20, 40, 80, 160, 300, 300]);
        let t = Timing::default();
        assert_eq!(
            t.backoff(Duration::from_secs(10), Duration::from_secs(600), 1),
            Duration::from_millis(10)
        );
        assert_eq!(
            t.backoff(Duration::from_secs(10), Duration::from_secs(600), 3),
            Duration::from_millis(40)
        );
        let real = Timing {
            backoff_scale: 1.0,
            ..Timing::default()
        };
        assert_eq!(
            real.backoff(Duration::from_secs(10), Duration::from_secs(600), 2),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn durations_print_as_go_does() {
        let s = |secs| go_duration(Duration::from_secs(secs));
        assert_eq!(
            (s(10), s(80), s(300), s(3725)),
            ("10s".into(), "1m20s".into(), "5m0s".into(), "1h2m5s".into())
        );
    }
}
