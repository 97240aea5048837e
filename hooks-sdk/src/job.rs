//! Waiting for a Job while following the logs of every pod it creates, retries included,
//! and ending at once when it can no longer succeed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::bindings::wasi::io::poll::Pollable;
use crate::client::{self, Change, LogNext, LogOptions, LogStream, Next, Rewatch};
use crate::waiting::wait_any;
use crate::{k8s, HookError, KindRef, ObjectRef};

/// Container waiting reasons after which a pod will not start without a change to the Job.
pub const CANNOT_START: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Pause between attempts to open a log that is not readable yet.
const LOG_OPEN_PAUSE: Duration = Duration::from_millis(200);
/// Attempts to open one pod's log before going on without it (about 4 s).
const MAX_LOG_OPEN_FAILURES: u32 = 20;

/// How [`wait_for_job`] waits.
#[derive(Debug, Clone)]
pub struct JobWaitOptions {
    /// The Job's namespace; `None`: the app's.
    pub namespace: Option<String>,
    /// Give up after this long (return [`JobOutcome::Timeout`]). Keep it below the hook's
    /// own `timeout` in hooks.yaml, or the host stops the hook first.
    pub timeout: Duration,
    /// How many of the last log lines to keep for a failure or timeout report.
    pub tail_lines: usize,
    /// Print each log line (`[pod/NAME] line`), each pod failure and each retry as they
    /// happen. Off: only the outcome carries them.
    pub print: bool,
    /// After the Job finished, how long to keep reading logs that are still arriving.
    pub settle: Duration,
    /// The container whose log to follow; `None`: the pod's first container. Set it when
    /// the migration runs beside a sidecar (e.g. a database proxy) listed first.
    pub container: Option<String>,
}

impl Default for JobWaitOptions {
    fn default() -> Self {
        JobWaitOptions {
            namespace: None,
            timeout: Duration::from_secs(300),
            tail_lines: 20,
            print: true,
            settle: Duration::from_millis(500),
            container: None,
        }
    }
}

/// How a Job ended, as far as [`wait_for_job`] saw.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// The Job has its `Complete` condition.
    Complete {
        /// Pods the Job ran (1 + retries).
        attempts: u32,
    },
    /// The Job failed, or its pod cannot start.
    Failed(JobFailure),
    /// Still not finished after the timeout.
    Timeout {
        waited: Duration,
        /// Whether the Job was seen at all (false: it never appeared).
        job_found: bool,
        attempts: u32,
        /// The last log lines of the newest pod (`[pod/NAME] line`).
        last_lines: Vec<String>,
        /// The Job's events, oldest first.
        events: Vec<k8s::Event>,
        /// Why the events could not be read (e.g. no `list` grant on `events`).
        events_error: Option<String>,
    },
}

/// Why a Job failed.
#[derive(Debug, Clone, Default)]
pub struct JobFailure {
    /// `BackoffLimitExceeded`, `DeadlineExceeded` (the Job's `Failed` condition), a
    /// container waiting reason from [`CANNOT_START`], or `Deleted`.
    pub reason: String,
    /// The condition's (or the waiting container's) message.
    pub message: String,
    /// The pod the failure report is about (the last one that ran).
    pub pod: Option<String>,
    /// That pod's container exit code, if it terminated.
    pub exit_code: Option<i32>,
    /// That container's termination message (`terminationMessagePath`).
    pub termination_message: Option<String>,
    /// The last log lines of that pod (`[pod/NAME] line`).
    pub last_lines: Vec<String>,
    /// Pods the Job ran.
    pub attempts: u32,
}

impl std::fmt::Display for JobFailure {
    /// `BackoffLimitExceeded: Job has reached the specified backoff limit (pod migrate-x1, exit code 1)`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        match (&self.pod, self.exit_code) {
            (Some(p), Some(c)) => write!(f, " (pod {p}, exit code {c})"),
            (Some(p), None) => write!(f, " (pod {p})"),
            _ => Ok(()),
        }
    }
}

/// Wait for Job `name` to finish, following the logs of every pod it creates (retries
/// included), and return as soon as the outcome is known:
///
/// - `Complete` when the Job has its Complete condition;
/// - `Failed` at once when the Job has its Failed condition (`BackoffLimitExceeded`,
///   `DeadlineExceeded`), when a pod cannot start (a container waiting with a reason in
///   [`CANNOT_START`], e.g. `ErrImagePull`), or when the Job is deleted: with the reason,
///   the last pod's exit code and termination message and its last log lines;
/// - `Timeout` after `opts.timeout`, with the last log lines and the Job's events.
///
/// Pods are matched by the label `job-name=NAME` and then by owner uid, so pods of an
/// earlier Job of the same name that are still being removed are ignored.
///
/// Grants: `watch` on `jobs.batch`, `watch`+`logs` on `pods`, and `list` on `events`
/// (for the timeout report only; without it the report says why the events are missing).
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # fn f() -> Result<(), HookError> {
/// match wait_for_job("migrate", &JobWaitOptions::default())? {
///     JobOutcome::Complete { .. } => println!("Migration complete"),
///     JobOutcome::Failed(f) => return Err(HookError::msg(format!("migration failed: {f}"))),
///     JobOutcome::Timeout { waited, .. } => {
///         return Err(HookError::msg(format!("migration still running after {waited:?}")))
///     }
/// }
/// # Ok(()) }
/// ```
pub fn wait_for_job(name: &str, opts: &JobWaitOptions) -> Result<JobOutcome, HookError> {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let ns = opts.namespace.as_deref();
    let mut jobs = Rewatch::new(&KindRef::jobs(), ns, Some(name), None)?;
    let mut pods = Rewatch::new(
        &KindRef::pods(),
        ns,
        None,
        Some(&format!("job-name={name}")),
    )?;
    let mut w = JobWatch {
        name: name.to_string(),
        opts: opts.clone(),
        job: None,
        unclaimed: Vec::new(),
        pods: Vec::new(),
        finished: None,
        retry_open_at: None,
        attempts: 0,
    };
    let mut settle_until: Option<Instant> = None;
    let mut wakeups: u32 = 0;
    let done = |wakeups: u32| {
        crate::logging::debug(&format!(
            "wait_for_job {name}: {wakeups} wake-ups in {:.1?}",
            start.elapsed()
        ))
    };
    loop {
        w.take_job_changes(&mut jobs)?;
        w.take_pod_changes(&mut pods)?;
        w.open_logs()?;
        w.take_log_lines(true);
        let now = Instant::now();
        if let Some(fin) = &w.finished {
            // A pod that cannot start is final now; a finished Job gets a moment for the
            // last log lines (bounded by `settle`).
            let at = *settle_until.get_or_insert(now + w.opts.settle);
            let immediate = matches!(fin, Finish::CannotStart { .. });
            if immediate || w.logs_settled() || now >= at {
                // Whatever was held back for ordering is shown before the outcome.
                w.take_log_lines(false);
                done(wakeups);
                return Ok(w.outcome());
            }
        } else if now >= deadline {
            w.take_log_lines(false);
            done(wakeups);
            return Ok(w.timeout_outcome(now - start));
        }
        let mut pollables: Vec<Pollable> = Vec::new();
        pollables.extend(jobs.subscribe());
        pollables.extend(pods.subscribe());
        // Only the streams `take_log_lines` reads now: a later pod's stream waits for its
        // turn, and polling it meanwhile would return at once, again and again.
        for p in &w.pods {
            if let Some(s) = &p.stream {
                pollables.push(s.subscribe());
            }
            if !p.log_finished() {
                break;
            }
        }
        let mut until = deadline;
        let wake = [
            settle_until,
            w.retry_open_at,
            jobs.retry_at(),
            pods.retry_at(),
        ];
        for t in wake.into_iter().flatten() {
            until = until.min(t);
        }
        let refs: Vec<&Pollable> = pollables.iter().collect();
        wait_any(&refs, Some(until));
        wakeups += 1;
    }
}

fn failure_line(pod: &str, container: &str, t: &k8s::Terminated) -> String {
    format!(
        "pod {pod} failed: container {container} exited with code {}{}",
        t.exit_code,
        t.message
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {}", m.trim_end()))
            .unwrap_or_default()
    )
}

/// Order pods the way a Job creates them: by creation time (whole seconds in Kubernetes),
/// then failed ones first (a retry starts only after its predecessor failed), then by
/// resourceVersion (etcd revisions grow; an older attempt finished earlier).
fn sort_by_attempt(pods: &mut [k8s::Pod]) {
    pods.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.clone().unwrap_or_default(),
            p.status.phase.as_deref() != Some("Failed"),
            p.metadata
                .resource_version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(u64::MAX),
        )
    });
}

/// Why the wait is over (before the report is assembled).
enum Finish {
    Complete,
    Failed {
        reason: String,
        message: String,
    },
    CannotStart {
        pod: usize,
        reason: String,
        message: String,
    },
}

/// One pod of the Job, in creation order.
struct PodTrack {
    name: String,
    pod: k8s::Pod,
    stream: Option<LogStream>,
    log_done: bool,
    /// Deleted (e.g. by the Job's deadline).
    gone: bool,
    lines: VecDeque<String>,
    /// Its retry line has been printed.
    announced: bool,
    failure_reported: bool,
    /// In-place container failures and restarts already told (`restartPolicy: OnFailure`).
    crashes_told: i32,
    restarts_told: i32,
    /// Failed attempts to open its log in a row.
    open_failures: u32,
}

impl PodTrack {
    /// Nothing more will come from this pod's log.
    fn log_finished(&self) -> bool {
        self.log_done || (self.stream.is_none() && (self.gone || self.pod.is_finished()))
    }
}

struct JobWatch {
    name: String,
    opts: JobWaitOptions,
    job: Option<k8s::Job>,
    /// Pods seen before the Job's uid was known.
    unclaimed: Vec<k8s::Pod>,
    pods: Vec<PodTrack>,
    finished: Option<Finish>,
    /// When to try again to open logs that were not ready yet.
    retry_open_at: Option<Instant>,
    /// Attempts told so far: pods, plus in-place restarts.
    attempts: u32,
}

impl JobWatch {
    fn say(&self, line: &str) {
        if self.opts.print {
            println!("{line}");
        }
    }

    fn take_job_changes(&mut self, jobs: &mut Rewatch) -> Result<(), HookError> {
        loop {
            match jobs.next_change::<k8s::Job>()? {
                Next::Change(c) => {
                    if c.change == Change::Deleted {
                        if self.finished.is_none() {
                            self.finished = Some(Finish::Failed {
                                reason: "Deleted".into(),
                                message: format!(
                                    "Job {} was deleted while waiting for it",
                                    self.name
                                ),
                            });
                        }
                        continue;
                    }
                    if let Some(cond) = c.object.finished() {
                        if self.finished.is_none() {
                            self.finished = Some(if cond.type_ == "Complete" {
                                Finish::Complete
                            } else {
                                Finish::Failed {
                                    reason: cond.reason.clone().unwrap_or_else(|| "Failed".into()),
                                    message: cond.message.clone().unwrap_or_default(),
                                }
                            });
                        }
                    }
                    let first = self.job.is_none();
                    self.job = Some(c.object);
                    if first {
                        let mut unclaimed = std::mem::take(&mut self.unclaimed);
                        sort_by_attempt(&mut unclaimed);
                        for pod in unclaimed {
                            self.on_pod(pod);
                        }
                    }
                }
                Next::Pending | Next::End => return Ok(()),
            }
        }
    }

    fn take_pod_changes(&mut self, pods: &mut Rewatch) -> Result<(), HookError> {
        let mut batch = Vec::new();
        loop {
            match pods.next_change::<k8s::Pod>()? {
                Next::Change(c) if c.change == Change::Deleted => {
                    // Its log stream ends by itself; keep what was read.
                    let name = &c.object.metadata.name;
                    if let Some(p) = self.pods.iter_mut().find(|p| &p.name == name) {
                        p.gone = true;
                    }
                }
                Next::Change(c) => batch.push(c.object),
                Next::Pending | Next::End => break,
            }
        }
        // A watch starts with a list in name order: put pods in the order the Job made them.
        sort_by_attempt(&mut batch);
        for pod in batch {
            match &self.job {
                Some(_) => self.on_pod(pod),
                None => {
                    self.unclaimed
                        .retain(|p| p.metadata.name != pod.metadata.name);
                    self.unclaimed.push(pod);
                }
            }
        }
        Ok(())
    }

    fn backoff_limit(&self) -> i32 {
        self.job
            .as_ref()
            .and_then(|j| j.spec.backoff_limit)
            .unwrap_or(6)
    }

    fn on_pod(&mut self, pod: k8s::Pod) {
        let uid = self
            .job
            .as_ref()
            .map(|j| j.metadata.uid.as_str())
            .unwrap_or("");
        if !uid.is_empty() && !pod.owned_by(uid) {
            return;
        }
        let index = match self.pods.iter().position(|p| p.name == pod.metadata.name) {
            Some(i) => {
                self.pods[i].pod = pod;
                i
            }
            None => {
                self.pods.push(PodTrack {
                    name: pod.metadata.name.clone(),
                    pod,
                    stream: None,
                    log_done: false,
                    gone: false,
                    lines: VecDeque::new(),
                    announced: false,
                    failure_reported: false,
                    crashes_told: 0,
                    restarts_told: 0,
                    open_failures: 0,
                });
                self.pods.len() - 1
            }
        };
        let track = &self.pods[index];
        if let Some((c, w)) = track.pod.waiting_with(CANNOT_START) {
            if !matches!(
                self.finished,
                Some(Finish::Complete | Finish::Failed { .. })
            ) {
                let reason = w.reason.clone().unwrap_or_default();
                let message = w.message.clone().unwrap_or_default();
                self.say(&format!(
                    "pod {} cannot start: container {} is waiting: {reason}{}",
                    track.name,
                    c.name,
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                ));
                self.finished = Some(Finish::CannotStart {
                    pod: index,
                    reason,
                    message,
                });
            }
        }
    }

    /// Open the log of every started pod that has none open yet.
    fn open_logs(&mut self) -> Result<(), HookError> {
        let now = Instant::now();
        if self.retry_open_at.is_some_and(|t| now < t) {
            return Ok(());
        }
        self.retry_open_at = None;
        let ns = self.opts.namespace.clone();
        let mut notes = Vec::new();
        for p in &mut self.pods {
            if p.stream.is_some() || p.log_done || !p.pod.has_started() {
                continue;
            }
            // The API server wants a container name for pods with several; default to the
            // first, as the WIT documents.
            let container = self
                .opts
                .container
                .clone()
                .or_else(|| p.pod.spec.containers.first().map(|c| c.name.clone()));
            let opts = LogOptions {
                container,
                follow: true,
                tail_lines: None,
            };
            match client::logs(&p.name, ns.as_deref(), &opts) {
                Ok(s) => {
                    p.stream = Some(s);
                    p.open_failures = 0;
                }
                Err(e) if e.is_forbidden() => return Err(e),
                Err(e) if e.is_not_found() => p.log_done = true,
                Err(e) => {
                    // Not readable yet (e.g. the container is still being created): try
                    // again, for a while; then say why and go on without this log.
                    p.open_failures += 1;
                    if p.open_failures >= MAX_LOG_OPEN_FAILURES {
                        p.log_done = true;
                        notes.push(format!("cannot read the log of pod {}: {e}", p.name));
                    } else {
                        self.retry_open_at = Some(now + LOG_OPEN_PAUSE);
                    }
                }
            }
        }
        for n in notes {
            self.say(&n);
        }
        Ok(())
    }

    /// Read what the log streams have and tell the story in attempt order: a pod's log
    /// lines, then its failure, then the next attempt. A later pod's lines wait until the
    /// earlier pod's log has ended (a retry starts only after the failure, so that is soon).
    fn take_log_lines(&mut self, gated: bool) {
        let keep = self.opts.tail_lines.max(1);
        let limit = self.backoff_limit() + 1;
        let mut attempts = self.attempts;
        let mut out: Vec<String> = Vec::new();
        for p in &mut self.pods {
            if !p.announced {
                p.announced = true;
                attempts += 1;
                if attempts > 1 {
                    out.push(format!(
                        "retry {}: attempt {attempts} of {limit} in pod {}",
                        attempts - 1,
                        p.name
                    ));
                }
            }
            if let Some(stream) = &p.stream {
                loop {
                    match client::next_line(stream) {
                        Ok(LogNext::Line(l)) => {
                            let line = format!("[pod/{}] {l}", p.name);
                            if p.lines.len() == keep {
                                p.lines.pop_front();
                            }
                            p.lines.push_back(line.clone());
                            out.push(line);
                        }
                        Ok(LogNext::Pending) => break,
                        Ok(LogNext::End) => {
                            p.stream = None;
                            p.log_done = true;
                            break;
                        }
                        Err(e) => {
                            out.push(format!("log of pod {} broke off: {e}", p.name));
                            p.stream = None;
                            p.log_done = true;
                            break;
                        }
                    }
                }
            }
            if !p.log_finished() {
                if gated {
                    break;
                }
                continue;
            }
            // `restartPolicy: OnFailure`: the container failed and restarts in the same pod.
            let crashes = p.pod.crashes_in_place();
            if crashes > p.crashes_told {
                p.crashes_told = crashes;
                if let Some((c, t)) = p.pod.last_crash() {
                    out.push(failure_line(&p.name, &c.name, t));
                }
            }
            let restarts = p.pod.restart_count();
            if restarts > p.restarts_told {
                p.restarts_told = restarts;
                attempts += 1;
                out.push(format!(
                    "retry {}: attempt {attempts} of {limit}: container restarted in pod {}",
                    attempts - 1,
                    p.name
                ));
                // Follow the new container's log.
                p.log_done = false;
                p.lines.clear();
                continue;
            }
            if !p.failure_reported {
                if let Some((c, t)) = p.pod.failed_container() {
                    p.failure_reported = true;
                    out.push(failure_line(&p.name, &c.name, t));
                }
            }
        }
        self.attempts = attempts;
        for line in out {
            self.say(&line);
        }
    }

    /// True when every attempt the Job reports (pods, or in-place restarts) has been told,
    /// every log read to the end and every pod that ran seen in its final state. (The Job's
    /// Failed condition can arrive before the last pod's own update: without the last
    /// check the report would be about the attempt before it.)
    fn logs_settled(&self) -> bool {
        let reported = self
            .job
            .as_ref()
            .map(|j| j.status.succeeded.unwrap_or(0) + j.status.failed.unwrap_or(0))
            .unwrap_or(0);
        self.attempts as i64 >= i64::from(reported)
            && self.pods.iter().all(|p| {
                !p.pod.has_started() || (p.log_finished() && (p.gone || p.pod.is_finished()))
            })
    }

    fn last_lines(&self, index: Option<usize>) -> Vec<String> {
        index
            .and_then(|i| self.pods.get(i))
            .map(|p| p.lines.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn outcome(&mut self) -> JobOutcome {
        let attempts = self.attempts;
        let (reason, message, index) = match self.finished.take() {
            Some(Finish::Complete) | None => return JobOutcome::Complete { attempts },
            Some(Finish::Failed { reason, message }) => {
                // Report on the last pod that failed, else the newest one.
                let i = self
                    .pods
                    .iter()
                    .rposition(|p| p.pod.failed_container().is_some())
                    .or(self.pods.len().checked_sub(1));
                (reason, message, i)
            }
            Some(Finish::CannotStart {
                pod,
                reason,
                message,
            }) => (reason, message, Some(pod)),
        };
        let track = index.and_then(|i| self.pods.get(i));
        let term = track.and_then(|p| p.pod.failed_container().map(|(_, t)| t.clone()));
        JobOutcome::Failed(JobFailure {
            reason,
            message,
            pod: track.map(|p| p.name.clone()),
            exit_code: term.as_ref().map(|t| t.exit_code),
            termination_message: term
                .and_then(|t| t.message)
                .map(|m| m.trim_end().to_string())
                .filter(|m| !m.is_empty()),
            last_lines: self.last_lines(index),
            attempts,
        })
    }

    fn timeout_outcome(&self, waited: Duration) -> JobOutcome {
        let mut job = ObjectRef::job(&self.name);
        job.namespace = self.opts.namespace.clone();
        let (events, events_error) = match client::events(&job) {
            Ok(ev) => (ev, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        JobOutcome::Timeout {
            waited,
            job_found: self.job.is_some(),
            attempts: self.attempts,
            last_lines: self.last_lines(self.pods.len().checked_sub(1)),
            events,
            events_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, created: &str, phase: &str, rv: &str) -> k8s::Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "creationTimestamp": created, "resourceVersion": rv},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn pods_sort_in_attempt_order_not_name_order() {
        let t = "2026-11-25T10:00:00Z";
        let mut pods = vec![
            pod("migrate-aaaaa", t, "Running", "90"),
            pod("migrate-bbbbb", t, "Failed", "70"),
            pod("migrate-ccccc", "2026-11-25T09:59:59Z", "Failed", "80"),
            pod("migrate-ddddd", t, "Failed", "60"),
        ];
        sort_by_attempt(&mut pods);
        let names: Vec<&str> = pods.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "migrate-ccccc",
                "migrate-ddddd",
                "migrate-bbbbb",
                "migrate-aaaaa"
            ]
        );
    }
}
