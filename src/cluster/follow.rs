//! Following a Job or a Deployment rollout to its end, as typed events: the waiting every
//! migration and rollout hook needs, done once, here, on kube-runtime watchers (which relist
//! when the server says a version is gone).
//!
//! A Job: each attempt (a pod, or a run of a container restarted in place) as it appears,
//! its containers' log lines (each run's log read once, without blocking anything else; a log
//! that cannot be read is retried a few times and then said once), the end of each attempt
//! after its last line (see [`super::attempts`] for that order and its bound), a pod that
//! cannot start, and the outcome as soon as the Job's first terminal condition says so
//! (`FailureTarget` / `SuccessCriteriaMet` before `Failed` / `Complete`), after every attempt
//! the pods show, even ones the watch missed. The newest version of a pod wins.
//!
//! A rollout: the replica counts (only once `observedGeneration` caught up, as `kubectl
//! rollout status` does), pods of the rollout that cannot start, and the outcome.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::attempts::Attempts;
use super::ClusterError;

/// Container waiting reasons that mean a pod will not start without a change.
pub const CANNOT_START: &[&str] = &[
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// Waiting reasons of a failing image pull: often transient on a real node, so they count as
/// a pod that cannot start only once they lasted [`JobOptions::pull_grace`].
pub const PULL_PROBLEMS: &[&str] = &["ErrImagePull", "ImagePullBackOff"];

/// Longest log line handed on; a longer one arrives in pieces.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// How often a pod's log is opened again after an error, and how many times.
const LOG_RETRY_FIRST: Duration = Duration::from_millis(50);
const LOG_RETRIES: u32 = 4;
/// After the outcome is known, how long to wait for log lines still being read (and for the
/// last attempt's end).
const SETTLE: Duration = Duration::from_millis(1000);
/// After the outcome, how long a log that failed to open may take to recover.
const FAILING_SETTLE: Duration = Duration::from_millis(400);

/// What happened to a Job, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    AttemptStarted {
        pod: String,
        /// 1-based.
        index: u32,
        /// `backoffLimit` + 1, when the Job says.
        limit: Option<u32>,
    },
    Log {
        pod: String,
        container: String,
        text: String,
    },
    AttemptEnded {
        pod: String,
        exit_code: Option<i32>,
        reason: String,
        message: String,
        succeeded: bool,
    },
    CannotStart {
        pod: String,
        reason: String,
        message: String,
    },
    LogsUnavailable {
        pod: String,
        reason: String,
        message: String,
    },
    Complete {
        reason: String,
        message: String,
    },
    Failed {
        reason: String,
        message: String,
    },
}

impl JobEvent {
    /// Bytes it holds (for buffer budgets).
    pub fn size(&self) -> usize {
        64 + match self {
            JobEvent::AttemptStarted { pod, .. } => pod.len(),
            JobEvent::Log {
                pod,
                container,
                text,
            } => pod.len() + container.len() + text.len(),
            JobEvent::AttemptEnded {
                pod,
                reason,
                message,
                ..
            }
            | JobEvent::CannotStart {
                pod,
                reason,
                message,
            }
            | JobEvent::LogsUnavailable {
                pod,
                reason,
                message,
            } => pod.len() + reason.len() + message.len(),
            JobEvent::Complete { reason, message } | JobEvent::Failed { reason, message } => {
                reason.len() + message.len()
            }
        }
    }
}

/// How to follow a Job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub logs: bool,
    /// Only this container's log; `None`: every container.
    pub container: Option<String>,
    /// How long a failing image pull (`ErrImagePull`, `ImagePullBackOff`) may last before it
    /// is reported as `cannot-start`.
    pub pull_grace: Duration,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            logs: true,
            container: None,
            pull_grace: Duration::from_secs(30),
        }
    }
}

fn numeric_rv(meta: &kube::api::ObjectMeta) -> Option<u64> {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
}

/// Messages from a log reader to the follower, about the attempt it reads for.
enum LogMsg {
    Line {
        attempt: usize,
        container: String,
        text: String,
    },
    /// The reader is reading (the log opened); `recovered`: after failing to open it.
    Opened {
        attempt: usize,
        recovered: bool,
    },
    Done {
        attempt: usize,
        /// Whether it gave up while its log still failed to open (see `Failing`).
        failed: bool,
    },
    /// Opening the log failed; the reader tries again.
    Failing {
        attempt: usize,
    },
    Unavailable {
        attempt: usize,
        message: String,
    },
    /// The API refused the log (RBAC): no retry will change that, so the follow fails with
    /// it, as it does when the watches are refused.
    Forbidden(String),
}

/// What the pods' list read once the outcome is known hands on (see `refresh_pods`).
enum Refresh {
    Pod(Box<Pod>),
    /// The list is in (or could not be read).
    Done,
}

#[derive(Default)]
struct PodTrack {
    rv: Option<u64>,
    /// Its attempt now (its containers' current run).
    current: usize,
    told: HashSet<String>,
    pull_error_since: Option<Instant>,
    /// The pull error's reason and message while it lasts.
    pull_problem: Option<(String, String)>,
    logs_unavailable_told: bool,
    /// The highest `restartCount` seen: each restart in place is an attempt.
    restarts: i32,
}

/// The order a Job made its pods in, as far as the pods tell (timestamps have whole-second
/// resolution): created earlier; then one that ended before one that did not; then a failed
/// one before a succeeded one (a retry follows a failure; nothing follows the success); then
/// the earlier end; then the name.
#[allow(clippy::type_complexity)]
fn attempt_order(
    p: &Pod,
) -> (
    Option<k8s_openapi::jiff::Timestamp>,
    bool,
    bool,
    Option<k8s_openapi::jiff::Timestamp>,
    String,
) {
    let ended_at = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| {
            cs.iter()
                .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
                .map(|t| t.0)
                .max()
        });
    let phase = p
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    let ended = ended_at.is_some() || phase == "Failed" || phase == "Succeeded";
    (
        p.metadata.creation_timestamp.as_ref().map(|t| t.0),
        !ended,
        phase == "Succeeded",
        ended_at,
        p.metadata.name.clone().unwrap_or_default(),
    )
}

fn conditions_of(job: &Job) -> Vec<(String, String, String, String)> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone().unwrap_or_default(),
                        c.message.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The Job's outcome, if a terminal condition (first phase included) says so.
fn job_outcome(job: &Job) -> Option<JobEvent> {
    for (t, status, reason, message) in conditions_of(job) {
        if status != "True" {
            continue;
        }
        match t.as_str() {
            "FailureTarget" | "Failed" => {
                return Some(JobEvent::Failed {
                    reason: if reason.is_empty() { t } else { reason },
                    message,
                })
            }
            "SuccessCriteriaMet" | "Complete" => {
                return Some(JobEvent::Complete {
                    reason: "Complete".into(),
                    message,
                })
            }
            _ => {}
        }
    }
    None
}

enum Input {
    Job(Result<Event<Job>, watcher::Error>),
    Pod(Result<Event<Pod>, watcher::Error>),
    Log(LogMsg),
    Refreshed,
    Tick,
}

/// A watcher error the follower cannot wait out: the API said no.
fn fatal(e: &watcher::Error) -> Option<ClusterError> {
    let inner = match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        _ => return None,
    };
    match inner {
        kube::Error::Api(s) if s.code == 403 || s.code == 401 => {
            Some(ClusterError::Forbidden(s.message.clone()))
        }
        _ => None,
    }
}

/// Follow Job `name` in `namespace`, sending events to `out` until the outcome (or the Job's
/// deletion). Returns when done or when `out` is closed.
pub async fn follow_job(
    client: kube::Client,
    namespace: &str,
    name: &str,
    opts: JobOptions,
    out: mpsc::Sender<JobEvent>,
) -> Result<(), ClusterError> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut job_stream = watcher(
        jobs,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .boxed();
    let mut pod_stream = watcher(
        pods.clone(),
        watcher::Config::default().labels(&format!("job-name={name}")),
    )
    .default_backoff()
    .boxed();
    let (log_tx, mut log_rx) = mpsc::channel::<LogMsg>(256);
    let (refresh_tx, mut refresh_rx) = mpsc::channel::<Refresh>(64);
    let mut f = JobFollower {
        opts,
        pods_api: pods,
        log_tx,
        refresh_tx,
        selector: format!("job-name={name}"),
        job_uid: None,
        unclaimed: Vec::new(),
        tracks: BTreeMap::new(),
        attempts: Attempts::default(),
        outcome: None,
        settle_until: None,
        refreshing: false,
        readers: Vec::new(),
        limit: None,
        deleting: false,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut relist: Option<Vec<Pod>> = None;
    loop {
        let input = tokio::select! {
            e = job_stream.next() => match e { Some(e) => Input::Job(e), None => return Ok(()) },
            e = pod_stream.next() => match e { Some(e) => Input::Pod(e), None => return Ok(()) },
            Some(m) = log_rx.recv() => Input::Log(m),
            Some(r) = refresh_rx.recv() => match r {
                Refresh::Pod(p) => Input::Pod(Ok(Event::Apply(*p))),
                Refresh::Done => Input::Refreshed,
            },
            _ = tick.tick() => Input::Tick,
        };
        let mut events = Vec::new();
        match input {
            Input::Job(Ok(Event::Apply(job) | Event::InitApply(job))) => {
                f.job_uid = job.metadata.uid.clone();
                f.limit = job
                    .spec
                    .as_ref()
                    .map(|s| s.backoff_limit.unwrap_or(6).max(0) as u32 + 1);
                for pod in std::mem::take(&mut f.unclaimed) {
                    f.on_pod(pod, &mut events);
                }
                if f.outcome.is_none() {
                    f.outcome = job_outcome(&job);
                }
            }
            Input::Job(Ok(Event::Delete(_))) => {
                if f.outcome.is_none() {
                    f.outcome = Some(JobEvent::Failed {
                        reason: "Deleted".into(),
                        message: format!("Job {name} was deleted"),
                    });
                }
            }
            Input::Pod(Ok(Event::Apply(pod))) => f.on_pod(pod, &mut events),
            Input::Pod(Ok(Event::Delete(pod))) => f.on_pod_deleted(pod, &mut events),
            // A (re)list arrives in name order: collect it, then take the pods in the order
            // the Job made them, so attempts are numbered (and blamed) right.
            Input::Pod(Ok(Event::Init)) => relist = Some(Vec::new()),
            Input::Pod(Ok(Event::InitApply(pod))) => match relist.as_mut() {
                Some(batch) => batch.push(pod),
                None => f.on_pod(pod, &mut events),
            },
            Input::Pod(Ok(Event::InitDone)) => {
                let mut batch = relist.take().unwrap_or_default();
                batch.sort_by_key(attempt_order);
                let listed: HashSet<String> = batch
                    .iter()
                    .filter_map(|p| p.metadata.name.clone())
                    .collect();
                for pod in batch {
                    f.on_pod(pod, &mut events);
                }
                // Pods deleted while the watch was away: the relist no longer has them.
                if f.job_uid.is_some() {
                    let gone: Vec<String> = f
                        .tracks
                        .keys()
                        .filter(|n| !listed.contains(*n))
                        .cloned()
                        .collect();
                    for name in gone {
                        f.gone(&name);
                    }
                }
            }
            Input::Job(Ok(_)) => {}
            Input::Job(Err(e)) | Input::Pod(Err(e)) => {
                if let Some(e) = fatal(&e) {
                    return Err(e);
                }
            }
            Input::Log(LogMsg::Forbidden(message)) => return Err(ClusterError::Forbidden(message)),
            Input::Log(m) => f.on_log(m, &mut events),
            Input::Refreshed => f.refreshing = false,
            Input::Tick => f.on_tick(&mut events),
        }
        f.attempts.flush(Instant::now(), false, &mut events);
        let done = f.finish(&mut events);
        for e in events {
            let sent_at = Instant::now();
            if out.send(e).await.is_err() {
                return Ok(());
            }
            // Time spent waiting for a slow reader (a full feed) is not time the log readers
            // had: the settle moment after the outcome moves on by as much, so a hook that
            // reads slowly still gets every line.
            if let Some(until) = f.settle_until.as_mut() {
                *until += sent_at.elapsed();
            }
        }
        if done {
            return Ok(());
        }
    }
}

struct JobFollower {
    opts: JobOptions,
    pods_api: Api<Pod>,
    log_tx: mpsc::Sender<LogMsg>,
    /// Pods read again once the outcome is known (see `refresh_pods`).
    refresh_tx: mpsc::Sender<Refresh>,
    /// The Job's pods' label selector.
    selector: String,
    job_uid: Option<String>,
    /// Pods seen before their Job (ownership not known yet).
    unclaimed: Vec<Pod>,
    tracks: BTreeMap<String, PodTrack>,
    /// The attempts told, in order: pods, and containers restarted in place
    /// (`restartPolicy: OnFailure`).
    attempts: Attempts,
    outcome: Option<JobEvent>,
    settle_until: Option<Instant>,
    /// The pods' list read once the outcome is known is not in yet.
    refreshing: bool,
    readers: Vec<tokio::task::AbortHandle>,
    /// Attempts the Job allows.
    limit: Option<u32>,
    /// Set while the last version of a deleted pod is taken.
    deleting: bool,
}

impl Drop for JobFollower {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

impl JobFollower {
    fn on_pod(&mut self, pod: Pod, events: &mut Vec<JobEvent>) {
        let Some(uid) = &self.job_uid else {
            // Keep the newest version only.
            let name = pod.metadata.name.clone();
            self.unclaimed.retain(|p| p.metadata.name != name);
            self.unclaimed.push(pod);
            self.unclaimed.sort_by_key(attempt_order);
            return;
        };
        // Pods of an earlier Job of the same name (still being removed) are not ours.
        let ours = pod
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| o.iter().any(|r| &r.uid == uid));
        if !ours {
            return;
        }
        let Some(name) = pod.metadata.name.clone() else {
            return;
        };
        let mut track = match self.tracks.remove(&name) {
            Some(t) => t,
            // A new pod is a new attempt; `Attempts` hands it on in its turn.
            None => PodTrack {
                current: self.attempts.start(&name, 0, self.limit),
                ..Default::default()
            },
        };
        // The newest version wins: an older one arriving late (a relist) changes nothing.
        let rv = numeric_rv(&pod.metadata);
        let stale = matches!((track.rv, rv), (Some(old), Some(new)) if new < old);
        if !stale {
            track.rv = rv;
            self.take_pod(&name, &pod, &mut track, events);
        }
        self.tracks.insert(name, track);
    }

    /// Take in a (newer) version of pod `name`.
    fn take_pod(
        &mut self,
        name: &str,
        pod: &Pod,
        track: &mut PodTrack,
        events: &mut Vec<JobEvent>,
    ) {
        let status = pod.status.clone().unwrap_or_default();
        let wanted = |c: &str| self.opts.container.as_deref().is_none_or(|w| w == c);
        let statuses: Vec<_> = status
            .container_statuses
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| wanted(&c.name))
            .collect();
        let on_node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some();
        // A deleted pod's log is gone with it: no reader is started for it now.
        let read_logs = self.opts.logs && on_node && !self.deleting;
        // `restartPolicy: OnFailure`: a container restarted in the pod is the next attempt,
        // after the end of the run that failed (from its `lastState` if its end was missed).
        let restarts = statuses.iter().map(|c| c.restart_count).max().unwrap_or(0);
        if restarts > track.restarts {
            track.restarts = restarts;
            let ended = track.current;
            if !self.attempts.has_end(ended) {
                let last: Vec<_> = statuses
                    .iter()
                    .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref())
                    .collect();
                let crashed = last.iter().find(|t| t.exit_code != 0).or(last.first());
                self.attempts.end(
                    ended,
                    match crashed {
                        Some(t) => JobEvent::AttemptEnded {
                            pod: name.to_string(),
                            exit_code: Some(t.exit_code),
                            reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
                            message: t.message.clone().unwrap_or_default().trim_end().to_string(),
                            succeeded: false,
                        },
                        None => JobEvent::AttemptEnded {
                            pod: name.to_string(),
                            exit_code: None,
                            reason: "Restarted".into(),
                            message: "the container was restarted".into(),
                            succeeded: false,
                        },
                    },
                );
            }
            // A run that started and ended unseen (between two versions the watch saw): its
            // log is the container's previous one, which the kubelet keeps for one restart.
            let unread = self.attempts.get(ended).opened.is_empty()
                && restarts == self.attempts.get(ended).run + 1;
            if read_logs && unread {
                for c in &statuses {
                    let ran = c
                        .last_state
                        .as_ref()
                        .is_some_and(|s| s.terminated.is_some());
                    if ran {
                        self.spawn_reader(ended, name, &c.name, true);
                    }
                }
            }
            // Its end is held until that run's log is read (`Attempts`), so this start and
            // the new run's lines come after it.
            track.current = self.attempts.start(name, restarts, self.limit);
        }
        let current = track.current;
        // A pod that cannot start. (Not CrashLoopBackOff: for a Job that is the kubelet's
        // pause between its retries in place, which the Job's backoffLimit counts.)
        // Image pulls: a transient failure on a real node goes ErrImagePull, ImagePullBackOff
        // while the kubelet backs off (10 s, 20 s, ...), then a pull that succeeds; so a pull
        // problem (either reason) counts only once it lasted `pull_grace` without the
        // container starting (checked again on every tick). The other reasons count at once.
        let mut pulling: Option<(String, String)> = None;
        for c in &statuses {
            let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = w.reason.clone().unwrap_or_default();
            let message = w.message.clone().unwrap_or_default();
            if PULL_PROBLEMS.contains(&reason.as_str()) {
                // The back-off is what a user knows a stuck pull by: it wins when seen.
                if pulling
                    .as_ref()
                    .is_none_or(|(r, _)| r != "ImagePullBackOff")
                {
                    pulling = Some((reason, message));
                }
            } else if CANNOT_START.contains(&reason.as_str())
                && reason != "CrashLoopBackOff"
                && track.told.insert(reason.clone())
            {
                let e = JobEvent::CannotStart {
                    pod: name.to_string(),
                    reason,
                    message,
                };
                self.attempts.push(current, e, events);
            }
        }
        match pulling {
            Some(problem) => {
                track.pull_error_since.get_or_insert_with(Instant::now);
                // Between two failed pulls the reason goes back to ErrImagePull for a moment:
                // the report keeps the back-off seen last.
                let keep = problem.0 == "ErrImagePull"
                    && track
                        .pull_problem
                        .as_ref()
                        .is_some_and(|(r, _)| r == "ImagePullBackOff");
                if !keep {
                    track.pull_problem = Some(problem);
                }
            }
            None => {
                track.pull_error_since = None;
                track.pull_problem = None;
            }
        }
        Self::pull_overdue(
            name,
            track,
            self.opts.pull_grace,
            &mut self.attempts,
            events,
        );
        // A container asked for that the pod does not have: its log cannot be read (said
        // once, rather than nothing at all).
        if let (true, Some(want)) = (self.opts.logs, self.opts.container.as_deref()) {
            let has = pod
                .spec
                .as_ref()
                .is_some_and(|s| s.containers.iter().any(|c| c.name == want));
            if !has && !track.logs_unavailable_told {
                track.logs_unavailable_told = true;
                let e = JobEvent::LogsUnavailable {
                    pod: name.to_string(),
                    reason: "ContainerNotFound".into(),
                    message: format!("the pod has no container {want}"),
                };
                self.attempts.push(current, e, events);
            }
        }
        // Logs: each container of the current run once it runs (or ran) on a node.
        if read_logs {
            for c in &statuses {
                let started = c
                    .state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
                if started {
                    self.spawn_reader(current, name, &c.name, false);
                }
            }
        }
        // The attempt's end.
        let phase = status.phase.clone().unwrap_or_default();
        let terminated: Vec<_> = statuses
            .iter()
            .filter_map(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()))
            .collect();
        let all_terminated = !statuses.is_empty() && terminated.len() == statuses.len();
        let over = phase == "Failed" || phase == "Succeeded" || all_terminated;
        if over && !self.attempts.has_end(current) {
            let failing = terminated
                .iter()
                .find(|t| t.exit_code != 0)
                .or(terminated.first());
            let succeeded = phase == "Succeeded"
                || (phase != "Failed" && terminated.iter().all(|t| t.exit_code == 0));
            let e = JobEvent::AttemptEnded {
                pod: name.to_string(),
                exit_code: failing.map(|t| t.exit_code),
                reason: failing
                    .and_then(|t| t.reason.clone())
                    .or(status.reason.clone())
                    .unwrap_or_else(|| phase.clone()),
                message: failing
                    .and_then(|t| t.message.clone())
                    .or(status.message.clone())
                    .unwrap_or_default()
                    .trim_end()
                    .to_string(),
                succeeded,
            };
            self.attempts.end(current, e);
        }
    }

    /// Start reading `container`'s log for `attempt` (once per container and attempt):
    /// following the current run, or reading the `previous` one.
    fn spawn_reader(&mut self, attempt: usize, pod: &str, container: &str, previous: bool) {
        if !self
            .attempts
            .get_mut(attempt)
            .opened
            .insert(container.to_string())
        {
            return;
        }
        self.attempts.reader_started(attempt);
        let task = tokio::spawn(read_log(
            self.pods_api.clone(),
            LogTarget {
                pod: pod.to_string(),
                container: container.to_string(),
                previous,
                attempt,
            },
            self.log_tx.clone(),
        ));
        self.readers.push(task.abort_handle());
    }

    /// A pod was deleted. Its last version may still carry its end (a pod stopped, then
    /// removed); if not, its attempt ends here, as deleted.
    fn on_pod_deleted(&mut self, pod: Pod, events: &mut Vec<JobEvent>) {
        let Some(name) = pod.metadata.name.clone() else {
            return;
        };
        if self.job_uid.is_none() {
            self.unclaimed
                .retain(|p| p.metadata.name.as_ref() != Some(&name));
            return;
        }
        self.deleting = true;
        self.on_pod(pod, events);
        self.deleting = false;
        self.gone(&name);
    }

    /// Pod `name` is gone: an attempt that had not ended ends now, failed (the Job counts a
    /// pod deleted from under it as failed), with reason `Deleted`. Its log readers end with
    /// its log; its end is told after its last lines, as any other.
    fn gone(&mut self, name: &str) {
        let Some(track) = self.tracks.get_mut(name) else {
            return;
        };
        if !self.attempts.has_end(track.current) {
            self.attempts.end(
                track.current,
                JobEvent::AttemptEnded {
                    pod: name.to_string(),
                    exit_code: None,
                    reason: "Deleted".into(),
                    message: format!("pod {name} was deleted before it ended"),
                    succeeded: false,
                },
            );
        }
        // A pull problem of a pod that is gone is no longer one.
        track.pull_error_since = None;
        track.pull_problem = None;
    }

    fn on_log(&mut self, m: LogMsg, events: &mut Vec<JobEvent>) {
        match m {
            LogMsg::Line {
                attempt,
                container,
                text,
            } => {
                let pod = self.attempts.get(attempt).pod.clone();
                let line = JobEvent::Log {
                    pod,
                    container,
                    text,
                };
                self.attempts.push(attempt, line, events);
            }
            LogMsg::Opened { attempt, recovered } => {
                self.attempts.reader_opened(attempt, recovered)
            }
            LogMsg::Failing { attempt } => self.attempts.reader_failing(attempt),
            LogMsg::Done { attempt, failed } => self.attempts.reader_done(attempt, failed),
            // Handled by the follow loop (it ends the follow).
            LogMsg::Forbidden(_) => {}
            LogMsg::Unavailable { attempt, message } => {
                let pod = self.attempts.get(attempt).pod.clone();
                if let Some(t) = self.tracks.get_mut(&pod) {
                    if !t.logs_unavailable_told {
                        t.logs_unavailable_told = true;
                        let e = JobEvent::LogsUnavailable {
                            pod,
                            reason: "LogsUnavailable".into(),
                            message,
                        };
                        self.attempts.push(attempt, e, events);
                    }
                }
            }
        }
    }

    /// A pull failing for longer than the grace: said once.
    fn pull_overdue(
        pod: &str,
        track: &mut PodTrack,
        grace: Duration,
        attempts: &mut Attempts,
        events: &mut Vec<JobEvent>,
    ) {
        let (Some(since), Some((reason, message))) = (track.pull_error_since, &track.pull_problem)
        else {
            return;
        };
        if since.elapsed() >= grace && track.told.insert("image-pull".into()) {
            let e = JobEvent::CannotStart {
                pod: pod.to_string(),
                reason: reason.clone(),
                message: message.clone(),
            };
            attempts.push(track.current, e, events);
        }
    }

    fn on_tick(&mut self, events: &mut Vec<JobEvent>) {
        for (name, track) in self.tracks.iter_mut() {
            Self::pull_overdue(
                name,
                track,
                self.opts.pull_grace,
                &mut self.attempts,
                events,
            );
        }
    }

    /// Once the outcome is known: read the pods once more, give log readers (and the last
    /// attempt's end) a moment, then say every attempt, in order, and the outcome. True when
    /// done.
    fn finish(&mut self, events: &mut Vec<JobEvent>) -> bool {
        let Some(outcome) = self.outcome.clone() else {
            return false;
        };
        let first = self.settle_until.is_none();
        let until = *self
            .settle_until
            .get_or_insert_with(|| Instant::now() + SETTLE);
        // The Job's condition and its pods come by two watches, in either order, and the
        // pods' watch may be behind (waiting to reconnect after an error): pods that ended
        // unseen, even every one of them, are attempts all the same. So the pods are read
        // once more, and the outcome waits for that list.
        if first {
            self.refresh_pods();
        }
        // Logs being read get the settle time; logs still opening (a pod first seen late,
        // after a relist) or failing to open (a transient error, or a kubelet that cannot be
        // reached) get a shorter one, so they never hold the outcome up for long.
        let reading = self.attempts.reading();
        let opening = self.attempts.opening();
        let failing_until = until - SETTLE + FAILING_SETTLE;
        // The last attempt's end (its exit code and message) gets the same moment.
        let last_unended = self.attempts.last_unended();
        let now = Instant::now();
        if (reading || last_unended || self.refreshing) && now < until {
            return false;
        }
        if opening && now < failing_until {
            return false;
        }
        self.attempts.flush(now, true, events);
        events.push(outcome);
        true
    }

    /// Read the Job's pods once (in the order the Job made them), for pods the watch has not
    /// shown, the last attempt's end, and the logs of pods not seen running yet.
    fn refresh_pods(&mut self) {
        self.refreshing = true;
        let (api, tx) = (self.pods_api.clone(), self.refresh_tx.clone());
        let lp = ListParams::default().labels(&self.selector);
        let task = tokio::spawn(async move {
            for _ in 0..5 {
                match api.list(&lp).await {
                    Ok(list) => {
                        let mut pods = list.items;
                        pods.sort_by_key(attempt_order);
                        for pod in pods {
                            if tx.send(Refresh::Pod(Box::new(pod))).await.is_err() {
                                return;
                            }
                        }
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            let _ = tx.send(Refresh::Done).await;
        });
        self.readers.push(task.abort_handle());
    }
}

/// The log a reader reads, and the attempt it reads it for.
struct LogTarget {
    pod: String,
    container: String,
    /// The container's previous run (read at once) rather than its current one (followed
    /// until the container stops, when the kubelet ends the stream).
    previous: bool,
    attempt: usize,
}

/// Read one container's log and hand its lines on; retry a few times when it cannot be
/// read, then say so once.
async fn read_log(pods: Api<Pod>, t: LogTarget, tx: mpsc::Sender<LogMsg>) {
    let LogTarget {
        pod,
        container,
        previous,
        attempt,
    } = t;
    let lp = LogParams {
        container: Some(container.clone()),
        follow: !previous,
        previous,
        ..Default::default()
    };
    let mut pause = LOG_RETRY_FIRST;
    let mut failures = 0;
    loop {
        match pods.log_stream(&pod, &lp).await {
            Ok(reader) => {
                let _ = tx
                    .send(LogMsg::Opened {
                        attempt,
                        recovered: failures > 0,
                    })
                    .await;
                let mut reader = Box::pin(reader);
                let mut line = Vec::new();
                loop {
                    match read_line(&mut reader, &mut line, MAX_LOG_LINE).await {
                        Ok(true) => {
                            let text = String::from_utf8_lossy(&line).into_owned();
                            let msg = LogMsg::Line {
                                attempt,
                                container: container.clone(),
                                text,
                            };
                            if tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                        Ok(false) => break,
                        Err(e) => {
                            let _ = tx
                                .send(LogMsg::Unavailable {
                                    attempt,
                                    message: format!(
                                        "the log of container {container} broke off: {e}"
                                    ),
                                })
                                .await;
                            break;
                        }
                    }
                }
                // It opened: if it had failed before, `Opened` already took it off the
                // failing ones.
                let _ = tx
                    .send(LogMsg::Done {
                        attempt,
                        failed: false,
                    })
                    .await;
                return;
            }
            Err(e) => {
                if let kube::Error::Api(s) = &e {
                    if s.code == 403 {
                        let _ = tx.send(LogMsg::Forbidden(s.message.clone())).await;
                        return;
                    }
                }
                failures += 1;
                if failures == 1 {
                    let _ = tx.send(LogMsg::Failing { attempt }).await;
                }
                if failures > LOG_RETRIES {
                    let _ = tx
                        .send(LogMsg::Unavailable {
                            attempt,
                            message: format!(
                                "cannot read the log of container {container}: {}",
                                ClusterError::from(e)
                            ),
                        })
                        .await;
                    let _ = tx
                        .send(LogMsg::Done {
                            attempt,
                            failed: true,
                        })
                        .await;
                    return;
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
}

/// Read one line (without its newline) into `line`, at most `max` bytes: a longer line
/// comes back in `max`-byte pieces, so a container that never prints a newline cannot grow
/// the host's buffer. False at the end of the stream with nothing read.
pub async fn read_line<R: futures::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<bool> {
    line.clear();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(!line.is_empty());
        }
        let room = max - line.len();
        let window = &buf[..buf.len().min(room)];
        if let Some(pos) = window.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&window[..pos]);
            reader.consume_unpin(pos + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
        let n = window.len();
        line.extend_from_slice(window);
        reader.consume_unpin(n);
        if line.len() >= max {
            // A line of exactly `max` bytes: its newline is not the start of another.
            if reader.fill_buf().await?.first() == Some(&b'\n') {
                reader.consume_unpin(1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            return Ok(true);
        }
    }
}

/// Replica counts of a rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolloutStatus {
    pub desired: u32,
    pub updated: u32,
    pub ready: u32,
    pub available: u32,
    pub observed: bool,
}

/// What happened to a rollout, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutEvent {
    Progress(RolloutStatus),
    CannotStart {
        pod: String,
        reason: String,
        message: String,
    },
    Complete(RolloutStatus),
    Failed {
        reason: String,
        message: String,
    },
}

impl RolloutEvent {
    pub fn size(&self) -> usize {
        64 + match self {
            RolloutEvent::CannotStart {
                pod,
                reason,
                message,
            } => pod.len() + reason.len() + message.len(),
            RolloutEvent::Failed { reason, message } => reason.len() + message.len(),
            _ => 0,
        }
    }
}

/// Where a rollout stands, as `kubectl rollout status` reads it: `observedGeneration` first.
pub fn rollout_state(d: &Deployment) -> (RolloutStatus, Option<RolloutEvent>) {
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0) >= generation;
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
    let s = RolloutStatus {
        desired,
        updated: status.updated_replicas.unwrap_or(0).max(0) as u32,
        ready: status.ready_replicas.unwrap_or(0).max(0) as u32,
        available: status.available_replicas.unwrap_or(0).max(0) as u32,
        observed,
    };
    if !observed {
        return (s, None);
    }
    let stalled = status.conditions.as_ref().and_then(|cs| {
        cs.iter().find(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
    });
    if let Some(c) = stalled {
        return (
            s,
            Some(RolloutEvent::Failed {
                reason: "ProgressDeadlineExceeded".into(),
                message: c.message.clone().unwrap_or_default(),
            }),
        );
    }
    let total = status.replicas.unwrap_or(0).max(0) as u32;
    let done = s.updated >= desired && total <= s.updated && s.available >= s.updated;
    (s, done.then_some(RolloutEvent::Complete(s)))
}

/// Follow the rollout of Deployment `name` until it completes or fails (or `out` closes).
/// Pods of the rollout (created since it was followed, or any pod of a Deployment at its
/// first generation) that cannot start are reported once each.
pub async fn follow_rollout(
    client: kube::Client,
    namespace: &str,
    name: &str,
    watch_pods: bool,
    out: mpsc::Sender<RolloutEvent>,
) -> Result<(), ClusterError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    let mut d_stream = watcher(
        deployments,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .boxed();
    let started = chrono_now();
    let mut pod_stream: Option<
        futures::stream::BoxStream<'static, Result<Event<Pod>, watcher::Error>>,
    > = None;
    let mut last: Option<RolloutStatus> = None;
    let mut told: HashSet<(String, String)> = HashSet::new();
    let mut first_generation = false;
    loop {
        let mut events = Vec::new();
        tokio::select! {
            e = d_stream.next() => match e {
                None => return Ok(()),
                Some(Err(e)) => if let Some(e) = fatal(&e) { return Err(e) },
                Some(Ok(Event::Apply(d) | Event::InitApply(d))) => {
                    first_generation = d.metadata.generation.unwrap_or(1) <= 1;
                    if watch_pods && pod_stream.is_none() {
                        if let Some(sel) = selector(&d) {
                            pod_stream = Some(watcher(pods.clone(), watcher::Config::default().labels(&sel)).default_backoff().boxed());
                        }
                    }
                    let (s, end) = rollout_state(&d);
                    if last != Some(s) && end.is_none() {
                        events.push(RolloutEvent::Progress(s));
                    }
                    last = Some(s);
                    if let Some(end) = end {
                        events.push(end);
                    }
                }
                Some(Ok(Event::Delete(_))) => events.push(RolloutEvent::Failed {
                    reason: "Deleted".into(),
                    message: format!("Deployment {name} was deleted"),
                }),
                Some(Ok(_)) => {}
            },
            Some(e) = async { match pod_stream.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => {
                match e {
                    Err(e) => if let Some(e) = fatal(&e) { return Err(e) },
                    Ok(Event::Apply(p) | Event::InitApply(p)) => {
                        let new = first_generation || p.metadata.creation_timestamp.as_ref().is_some_and(|t| t.0 >= started);
                        if new {
                            for (reason, message) in stuck(&p) {
                                let pod = p.metadata.name.clone().unwrap_or_default();
                                if told.insert((pod.clone(), reason.clone())) {
                                    events.push(RolloutEvent::CannotStart { pod, reason, message });
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        let done = events
            .iter()
            .any(|e| matches!(e, RolloutEvent::Complete(_) | RolloutEvent::Failed { .. }));
        for e in events {
            if out.send(e).await.is_err() {
                return Ok(());
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// Now, less a little: pods created by the rollout being followed count as its own even if
/// the API server's clock is slightly behind ours.
fn chrono_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(5)
}

fn selector(d: &Deployment) -> Option<String> {
    let labels = d.spec.as_ref()?.selector.match_labels.as_ref()?;
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The waiting reasons of a pod's containers that mean it cannot start.
fn stuck(p: &Pod) -> Vec<(String, String)> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
                .filter(|w| CANNOT_START.contains(&w.reason.as_deref().unwrap_or("")))
                .map(|w| {
                    (
                        w.reason.clone().unwrap_or_default(),
                        w.message.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(conditions: serde_json::Value) -> Job {
        serde_json::from_value(
            json!({"metadata": {"name": "m"}, "status": {"conditions": conditions}}),
        )
        .unwrap()
    }

    #[test]
    fn the_first_terminal_condition_is_the_outcome() {
        let j = job(
            json!([{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}]),
        );
        assert_eq!(
            job_outcome(&j),
            Some(JobEvent::Failed {
                reason: "BackoffLimitExceeded".into(),
                message: "limit".into()
            })
        );
        let j = job(json!([{"type": "SuccessCriteriaMet", "status": "True"}]));
        assert!(matches!(job_outcome(&j), Some(JobEvent::Complete { .. })));
        let j = job(json!([{"type": "Failed", "status": "False"}]));
        assert_eq!(job_outcome(&j), None);
    }

    fn deployment(generation: i64, observed: i64, status: serde_json::Value) -> Deployment {
        let mut s = status;
        s["observedGeneration"] = json!(observed);
        serde_json::from_value(
            json!({"metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {}},
            "status": s}),
        )
        .unwrap()
    }

    #[test]
    fn rollouts_check_observed_generation_before_conditions() {
        let stalled = json!({"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        // A re-deploy after a stalled rollout: the old condition is not the new outcome.
        let (s, end) = rollout_state(&deployment(3, 2, stalled.clone()));
        assert!(!s.observed);
        assert_eq!(end, None);
        let (_, end) = rollout_state(&deployment(3, 3, stalled));
        assert!(matches!(end, Some(RolloutEvent::Failed { .. })));
        let done = json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2});
        assert!(matches!(
            rollout_state(&deployment(3, 3, done)).1,
            Some(RolloutEvent::Complete(_))
        ));
        let half = json!({"replicas": 3, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(rollout_state(&deployment(3, 3, half)).1, None);
    }

    #[tokio::test]
    async fn log_lines_are_split_and_bounded() {
        let data = b"one\r\ntwo\nxxxxxxxxxx\nlast".to_vec();
        let mut r = futures::io::BufReader::with_capacity(3, futures::io::Cursor::new(data));
        let mut line = Vec::new();
        let mut got = Vec::new();
        while read_line(&mut r, &mut line, 4).await.unwrap() {
            got.push(String::from_utf8(line.clone()).unwrap());
        }
        assert_eq!(got, ["one", "two", "xxxx", "xxxx", "xx", "last"]);
    }
}
