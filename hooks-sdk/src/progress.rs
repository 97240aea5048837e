//! Following a Job or a Deployment rollout as typed events, over the WIT `progress`
//! interface (new in `kubes:hook@0.2.0`): the host watches the objects, reads every pod's
//! log and says why a pod cannot start; the hook only decides what to print and when to
//! give up. [`crate::job::wait_for_job`] and [`crate::rollout::rollout_wait`] are such
//! policies; use this module directly for your own.
//!
//! ```no_run
//! # use kubes_hook_sdk::prelude::*;
//! # use kubes_hook_sdk::progress::{follow_job, FollowOptions, JobEvent};
//! # use std::time::{Duration, Instant};
//! # fn f() -> Result<(), HookError> {
//! let mut job = follow_job("migrate", &FollowOptions::default())?;
//! let deadline = Instant::now() + Duration::from_secs(300);
//! while let Some(event) = job.next(Some(deadline))? {
//!     match event {
//!         JobEvent::Log { pod, text, .. } => println!("[pod/{pod}] {text}"),
//!         JobEvent::Complete { .. } => println!("done"),
//!         JobEvent::Failed { reason, .. } => return Err(HookError::msg(reason)),
//!         _ => {}
//!     }
//! }
//! if !job.finished() {
//!     return Err(HookError::msg("still running at the deadline"));
//! }
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use crate::bindings::kubes::hook::progress as wit;
use crate::bindings::wasi::io::poll::Pollable;
use crate::errors::ResultExt;
use crate::waiting::wait_any;
use crate::HookError;

/// How to follow a Job.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The Job's namespace; `None`: the app's.
    pub namespace: Option<String>,
    /// Follow the pods' container logs (grant: `logs` on `pods`).
    pub logs: bool,
    /// The container whose log to follow; `None`: every container of the pod.
    pub container: Option<String>,
    /// How long an image pull may keep failing (`ErrImagePull`) before the host reports
    /// [`JobEvent::CannotStart`]; `ImagePullBackOff` is reported at once.
    pub pull_grace: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            namespace: None,
            logs: true,
            container: None,
            pull_grace: Duration::from_secs(30),
        }
    }
}

/// What happened to a Job, in order (the WIT's `job-event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// A pod (an attempt) appeared: `index` 1 for the first pod, 2 for the first retry...;
    /// `limit`: the attempts the Job allows (`backoffLimit` + 1), if it says.
    AttemptStarted {
        pod: String,
        index: u32,
        limit: Option<u32>,
    },
    /// A line one of the pod's containers printed (without its newline).
    Log {
        pod: String,
        container: String,
        text: String,
    },
    /// A pod's attempt ended, after the last of its log lines. `reason`: `Completed`,
    /// `Error`, `OOMKilled`, `DeadlineExceeded`...; `message`: the container's termination
    /// message, if any.
    AttemptEnded {
        pod: String,
        exit_code: Option<i32>,
        reason: String,
        message: String,
        succeeded: bool,
    },
    /// A pod cannot start (`ImagePullBackOff`, `CreateContainerConfigError`,
    /// `CrashLoopBackOff`...).
    CannotStart {
        pod: String,
        reason: String,
        message: String,
    },
    /// A pod's log cannot be read (said once per pod).
    LogsUnavailable {
        pod: String,
        reason: String,
        message: String,
    },
    /// The Job succeeded. The last event.
    Complete { reason: String, message: String },
    /// The Job failed (`BackoffLimitExceeded`, `DeadlineExceeded`, `Deleted`...), said as
    /// soon as the Job's first terminal condition says so. The last event.
    Failed { reason: String, message: String },
}

impl From<wit::JobEvent> for JobEvent {
    fn from(e: wit::JobEvent) -> Self {
        use wit::JobEvent as W;
        match e {
            W::AttemptStarted(a) => JobEvent::AttemptStarted {
                pod: a.pod,
                index: a.index,
                limit: a.limit,
            },
            W::Log(l) => JobEvent::Log {
                pod: l.pod,
                container: l.container,
                text: l.text,
            },
            W::AttemptEnded(a) => JobEvent::AttemptEnded {
                pod: a.pod,
                exit_code: a.exit_code,
                reason: a.reason,
                message: a.message,
                succeeded: a.succeeded,
            },
            W::CannotStart(p) => JobEvent::CannotStart {
                pod: p.pod,
                reason: p.reason,
                message: p.message,
            },
            W::LogsUnavailable(p) => JobEvent::LogsUnavailable {
                pod: p.pod,
                reason: p.reason,
                message: p.message,
            },
            W::Complete(o) => JobEvent::Complete {
                reason: o.reason,
                message: o.message,
            },
            W::Failed(o) => JobEvent::Failed {
                reason: o.reason,
                message: o.message,
            },
        }
    }
}

/// Replica counts of a rollout, as the Deployment's status has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolloutStatus {
    pub desired: u32,
    pub updated: u32,
    pub ready: u32,
    pub available: u32,
    /// False while the controller has not yet seen the latest spec (the counts are then
    /// the old ones).
    pub observed: bool,
}

impl From<wit::RolloutStatus> for RolloutStatus {
    fn from(s: wit::RolloutStatus) -> Self {
        RolloutStatus {
            desired: s.desired,
            updated: s.updated,
            ready: s.ready,
            available: s.available,
            observed: s.observed,
        }
    }
}

impl RolloutStatus {
    /// Where the rollout stands, in `kubectl rollout status` words.
    ///
    /// ```
    /// # use kubes_hook_sdk::progress::RolloutStatus;
    /// let s = RolloutStatus { desired: 2, updated: 2, ready: 1, available: 1, observed: true };
    /// assert_eq!(s.describe(), "1 of 2 updated replicas are available");
    /// ```
    pub fn describe(&self) -> String {
        if !self.observed {
            "waiting for the controller to observe the new spec".into()
        } else if self.updated < self.desired {
            format!(
                "{} of {} new replicas have been updated",
                self.updated, self.desired
            )
        } else if self.available < self.updated {
            format!(
                "{} of {} updated replicas are available",
                self.available, self.updated
            )
        } else {
            "old replicas are pending termination".into()
        }
    }
}

/// What happened to a rollout, in order (the WIT's `rollout-event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutEvent {
    /// The counts changed.
    Progress(RolloutStatus),
    /// A pod of this rollout cannot start (image, config, crash loop).
    CannotStart {
        pod: String,
        reason: String,
        message: String,
    },
    /// Every replica is updated and available. The last event.
    Complete(RolloutStatus),
    /// `ProgressDeadlineExceeded`, or the Deployment was deleted. The last event.
    Failed { reason: String, message: String },
}

impl From<wit::RolloutEvent> for RolloutEvent {
    fn from(e: wit::RolloutEvent) -> Self {
        use wit::RolloutEvent as W;
        match e {
            W::Progress(s) => RolloutEvent::Progress(s.into()),
            W::CannotStart(p) => RolloutEvent::CannotStart {
                pod: p.pod,
                reason: p.reason,
                message: p.message,
            },
            W::Complete(s) => RolloutEvent::Complete(s.into()),
            W::Failed(o) => RolloutEvent::Failed {
                reason: o.reason,
                message: o.message,
            },
        }
    }
}

/// What a progress resource's `try-next` found, whatever it follows.
enum Item<E> {
    Event(E),
    Pending,
    End,
}

/// Wait for the next item of a followed object: take what is there, else wait on the
/// pollable (and the deadline) and ask again.
fn next_item<E>(
    pollable: &Pollable,
    ended: &mut bool,
    wakeups: &mut u32,
    until: Option<Instant>,
    mut try_next: impl FnMut() -> Result<Item<E>, HookError>,
) -> Result<Option<E>, HookError> {
    loop {
        if *ended {
            return Ok(None);
        }
        match try_next()? {
            Item::Event(e) => return Ok(Some(e)),
            Item::End => {
                *ended = true;
                return Ok(None);
            }
            Item::Pending => {
                if until.is_some_and(|t| Instant::now() >= t) {
                    return Ok(None);
                }
                *wakeups += 1;
                if !wait_any(&[pollable], until) {
                    return Ok(None);
                }
            }
        }
    }
}

/// A followed Job (see [`follow_job`]). Dropping it stops following.
pub struct JobProgress {
    // Declared (so dropped) before the resource it was made from.
    pollable: Pollable,
    inner: wit::JobProgress,
    what: String,
    ended: bool,
    wakeups: u32,
}

impl JobProgress {
    /// The next event, waiting for it until `until` (`None`: as long as it takes). `None`
    /// when there are no more ([`JobProgress::finished`]) or the deadline passed.
    pub fn next(&mut self, until: Option<Instant>) -> Result<Option<JobEvent>, HookError> {
        let (inner, what) = (&self.inner, &self.what);
        next_item(
            &self.pollable,
            &mut self.ended,
            &mut self.wakeups,
            until,
            || {
                Ok(match inner.try_next().context(what)? {
                    wit::JobItem::Event(e) => Item::Event(JobEvent::from(e)),
                    wit::JobItem::Pending => Item::Pending,
                    wit::JobItem::End => Item::End,
                })
            },
        )
    }

    /// True once the host said there are no more events (after `Complete` or `Failed`).
    pub fn finished(&self) -> bool {
        self.ended
    }

    /// How many times [`JobProgress::next`] waited (to check a hook waits and never spins).
    pub fn wakeups(&self) -> u32 {
        self.wakeups
    }
}

/// Follow Job `name`: its attempts, their logs, pods that cannot start, the outcome.
/// Grants: `watch` on `jobs.batch` (may be limited to the name), `watch` on `pods`, and
/// `logs` on `pods` when `opts.logs`.
pub fn follow_job(name: &str, opts: &FollowOptions) -> Result<JobProgress, HookError> {
    let what = format!("follow Job/{name}");
    let options = wit::JobOptions {
        logs: opts.logs,
        container: opts.container.clone(),
        pull_grace_ms: opts.pull_grace.as_millis().min(u32::MAX as u128) as u32,
    };
    let inner = wit::follow_job(name, opts.namespace.as_deref(), &options).context(&what)?;
    Ok(JobProgress {
        pollable: inner.subscribe(),
        inner,
        what,
        ended: false,
        wakeups: 0,
    })
}

/// A followed rollout (see [`follow_rollout`]). Dropping it stops following.
pub struct RolloutProgress {
    pollable: Pollable,
    inner: wit::RolloutProgress,
    what: String,
    ended: bool,
    wakeups: u32,
}

impl RolloutProgress {
    /// The next event, waiting for it until `until`; `None` at the end
    /// ([`RolloutProgress::finished`]) or at the deadline.
    pub fn next(&mut self, until: Option<Instant>) -> Result<Option<RolloutEvent>, HookError> {
        let (inner, what) = (&self.inner, &self.what);
        next_item(
            &self.pollable,
            &mut self.ended,
            &mut self.wakeups,
            until,
            || {
                Ok(match inner.try_next().context(what)? {
                    wit::RolloutItem::Event(e) => Item::Event(RolloutEvent::from(e)),
                    wit::RolloutItem::Pending => Item::Pending,
                    wit::RolloutItem::End => Item::End,
                })
            },
        )
    }

    /// True once the host said there are no more events.
    pub fn finished(&self) -> bool {
        self.ended
    }
}

/// Follow the rollout of Deployment `name` (namespace `None`: the app's), `observedGeneration`
/// first. Grants: `watch` on `deployments.apps` (may be limited to the name) and `watch` on
/// `pods`.
pub fn follow_rollout(name: &str, namespace: Option<&str>) -> Result<RolloutProgress, HookError> {
    let what = format!("follow the rollout of Deployment/{name}");
    let inner = wit::follow_rollout(name, namespace).context(&what)?;
    Ok(RolloutProgress {
        pollable: inner.subscribe(),
        inner,
        what,
        ended: false,
        wakeups: 0,
    })
}
