//! Waiting for a Job while showing the logs of every pod it creates, retries included, and
//! ending at once when it can no longer succeed: a thin policy over
//! [`crate::progress::follow_job`] (the host does the following).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::progress::{follow_job, FollowOptions, JobEvent};
use crate::{Context, HookError, ObjectRef};

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
    /// Print each log line (`[pod/NAME] line`), each failed attempt, each retry, a pod that
    /// cannot start and a log that cannot be read, as they happen. Off: only the outcome
    /// carries them.
    pub print: bool,
    /// The container whose log to follow; `None`: every container of the pod.
    pub container: Option<String>,
    /// How long an image pull may keep failing (`ErrImagePull`, `ImagePullBackOff`) before
    /// the pod counts as one that cannot start.
    pub pull_grace: Duration,
}

impl Default for JobWaitOptions {
    fn default() -> Self {
        JobWaitOptions {
            namespace: None,
            timeout: Duration::from_secs(300),
            tail_lines: 20,
            print: true,
            container: None,
            pull_grace: FollowOptions::default().pull_grace,
        }
    }
}

/// The config of a hook that waits for a Job, as hooks.yaml writes it (all optional): `job`
/// (default: the Job in the hook's target file), `timeout` (`300s`), `tail_lines` (20),
/// `container` (whose log to follow; default: every container's), `pull_grace` (`30s`: how
/// long a failing image pull may last). Unknown keys are errors naming the key.
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # fn f(ctx: Context) -> Result<(), HookError> {
/// let config: JobWaitConfig = ctx.config()?;
/// let job = config.job(&ctx)?;
/// let outcome = wait_for_job(&job.name, &config.options(&job))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobWaitConfig {
    pub job: Option<String>,
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub timeout: Duration,
    pub tail_lines: usize,
    pub container: Option<String>,
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub pull_grace: Duration,
}

impl Default for JobWaitConfig {
    fn default() -> Self {
        let o = JobWaitOptions::default();
        JobWaitConfig {
            job: None,
            timeout: o.timeout,
            tail_lines: o.tail_lines,
            container: None,
            pull_grace: o.pull_grace,
        }
    }
}

impl JobWaitConfig {
    /// The Job to wait for: the one named by `job`, else the one in the target file.
    pub fn job(&self, ctx: &Context) -> Result<ObjectRef, HookError> {
        match &self.job {
            Some(name) => Ok(ObjectRef::job(name)),
            None => ctx.target_object("Job"),
        }
    }

    /// How to wait for `job` (its namespace, this config's timeout, tail, container and pull
    /// grace).
    pub fn options(&self, job: &ObjectRef) -> JobWaitOptions {
        JobWaitOptions {
            namespace: job.namespace.clone(),
            timeout: self.timeout,
            tail_lines: self.tail_lines,
            container: self.container.clone(),
            pull_grace: self.pull_grace,
            ..Default::default()
        }
    }
}

/// How a Job ended, as far as [`wait_for_job`] saw.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// The Job succeeded.
    Complete {
        /// Pods the Job ran (1 + retries).
        attempts: u32,
    },
    /// The Job failed, or its pod cannot start.
    Failed(JobFailure),
    /// Still not finished after the timeout.
    Timeout {
        waited: Duration,
        attempts: u32,
        /// The last log lines of the last attempt.
        last_lines: LastLines,
    },
}

/// The last log lines of one attempt, for a failure or timeout report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastLines {
    /// The attempt's pod; `None` when the Job started none.
    pub pod: Option<String>,
    /// Its last lines, oldest first (`[pod/NAME] line`).
    pub lines: Vec<String>,
    /// Why its log could not be read, if the host said so.
    pub unavailable: Option<String>,
}

impl LastLines {
    /// The report: `Last log lines (N):` and each line indented by two spaces; or, when
    /// there are none, `No log lines from pod NAME: WHY` (why its log could not be read, or
    /// `it printed nothing`), or `No log lines: the Job started no pod`.
    ///
    /// ```
    /// # use kubes_hook_sdk::job::LastLines;
    /// let none = LastLines { pod: Some("migrate-x1".into()), ..Default::default() };
    /// assert_eq!(none.report(), ["No log lines from pod migrate-x1: it printed nothing"]);
    /// let some = LastLines { lines: vec!["[pod/migrate-x1] lock timeout".into()], ..none };
    /// assert_eq!(some.report(), ["Last log lines (1):", "  [pod/migrate-x1] lock timeout"]);
    /// ```
    pub fn report(&self) -> Vec<String> {
        if self.lines.is_empty() {
            let why = self.unavailable.as_deref().unwrap_or("it printed nothing");
            return vec![match &self.pod {
                Some(pod) => format!("No log lines from pod {pod}: {why}"),
                None => "No log lines: the Job started no pod".to_string(),
            }];
        }
        let mut out = vec![format!("Last log lines ({}):", self.lines.len())];
        out.extend(self.lines.iter().map(|l| format!("  {l}")));
        out
    }
}

/// Why a Job failed.
#[derive(Debug, Clone, Default)]
pub struct JobFailure {
    /// `BackoffLimitExceeded`, `DeadlineExceeded`, `Deleted` (the Job's), or why its pod
    /// cannot start (`ImagePullBackOff`, `CreateContainerConfigError`...).
    pub reason: String,
    /// The Job's (or the pod's) message.
    pub message: String,
    /// The pod the failure report is about: the last attempt's, or the one that cannot start.
    pub pod: Option<String>,
    /// That pod's container exit code, if it ended.
    pub exit_code: Option<i32>,
    /// That container's termination message (`terminationMessagePath`), if any.
    pub termination_message: Option<String>,
    /// That pod's last log lines.
    pub last_lines: LastLines,
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
            (None, Some(c)) => write!(f, " (exit code {c})"),
            (None, None) => Ok(()),
        }
    }
}

/// Wait for Job `name` to finish, showing the logs of every pod it creates (retries
/// included), and return as soon as the outcome is known:
///
/// - `Complete` when the Job succeeds;
/// - `Failed` at once when the Job fails (`BackoffLimitExceeded`, `DeadlineExceeded`, said
///   on its first terminal condition), when a pod cannot start (`ImagePullBackOff`,
///   `CreateContainerConfigError`, `CrashLoopBackOff`...) or when the Job is deleted: with
///   the reason, the last pod's exit code and termination message and its last log lines;
/// - `Timeout` after `opts.timeout`, with the last attempt's last lines.
///
/// With `opts.print` it prints, as they happen: `[pod/NAME] LINE`, `retry N: attempt N+1
/// of LIMIT in pod NAME`, `pod NAME failed: container exited with code C: MESSAGE`,
/// `pod NAME cannot start: REASON: MESSAGE`, `cannot read the log of pod NAME: WHY`.
///
/// Grants: `watch` on `jobs.batch` (may be limited to the name), `watch` and `logs` on
/// `pods`.
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
    let follow = FollowOptions {
        namespace: opts.namespace.clone(),
        logs: true,
        container: opts.container.clone(),
        pull_grace: opts.pull_grace,
    };
    let mut progress = follow_job(name, &follow)?;
    let mut story = Story::new(opts.tail_lines);
    let outcome = loop {
        let Some(event) = progress.next(Some(deadline))? else {
            break match progress.finished() {
                // The host stopped without an outcome (it always sends one; be safe).
                true => story.failure(
                    None,
                    "Unknown",
                    "the Job's progress ended without an outcome",
                ),
                false => story.timeout(start.elapsed()),
            };
        };
        let end = story.on(event);
        if opts.print {
            story.out.drain(..).for_each(|l| println!("{l}"));
        }
        if let Some(outcome) = end {
            break outcome;
        }
    };
    crate::logging::debug(&format!(
        "wait_for_job {name}: {} wake-ups in {:.1?}",
        progress.wakeups(),
        start.elapsed()
    ));
    Ok(outcome)
}

/// One attempt as far as the story goes.
#[derive(Debug, Default)]
struct Attempt {
    pod: String,
    lines: VecDeque<String>,
    exit_code: Option<i32>,
    termination_message: Option<String>,
    unavailable: Option<String>,
}

/// The policy of [`wait_for_job`]: what to say about each event, what to keep for the
/// report, when the wait is over.
struct Story {
    tail: usize,
    attempts: Vec<Attempt>,
    /// Lines to print.
    out: Vec<String>,
}

impl Story {
    fn new(tail: usize) -> Self {
        Story {
            tail: tail.max(1),
            attempts: Vec::new(),
            out: Vec::new(),
        }
    }

    fn attempt(&mut self, pod: &str) -> &mut Attempt {
        match self.attempts.iter().position(|a| a.pod == pod) {
            Some(i) => &mut self.attempts[i],
            None => {
                self.attempts.push(Attempt {
                    pod: pod.to_string(),
                    ..Default::default()
                });
                self.attempts.last_mut().expect("pushed")
            }
        }
    }

    /// Take one event; `Some` when it ends the wait.
    fn on(&mut self, event: JobEvent) -> Option<JobOutcome> {
        match event {
            JobEvent::AttemptStarted { pod, index, limit } => {
                self.attempt(&pod);
                if index > 1 {
                    let of = limit.map(|l| format!(" of {l}")).unwrap_or_default();
                    let n = index - 1;
                    self.out
                        .push(format!("retry {n}: attempt {index}{of} in pod {pod}"));
                }
            }
            JobEvent::Log { pod, text, .. } => {
                let line = format!("[pod/{pod}] {text}");
                let tail = self.tail;
                let lines = &mut self.attempt(&pod).lines;
                if lines.len() == tail {
                    lines.pop_front();
                }
                lines.push_back(line.clone());
                self.out.push(line);
            }
            JobEvent::AttemptEnded {
                pod,
                exit_code,
                reason,
                message,
                succeeded,
            } => {
                let a = self.attempt(&pod);
                a.exit_code = exit_code;
                a.termination_message = Some(message.clone()).filter(|m| !m.is_empty());
                if !succeeded {
                    let why = match exit_code {
                        Some(code) => format!("container exited with code {code}"),
                        None => reason,
                    };
                    self.out
                        .push(format!("pod {pod} failed: {why}{}", colon(&message)));
                }
            }
            JobEvent::CannotStart {
                pod,
                reason,
                message,
            } => {
                self.attempt(&pod);
                self.out.push(format!(
                    "pod {pod} cannot start: {reason}{}",
                    colon(&message)
                ));
                return Some(self.failure(Some(&pod), &reason, &message));
            }
            JobEvent::LogsUnavailable { pod, message, .. } => {
                self.out
                    .push(format!("cannot read the log of pod {pod}: {message}"));
                self.attempt(&pod).unavailable = Some(message);
            }
            JobEvent::Complete { .. } => {
                return Some(JobOutcome::Complete {
                    attempts: self.attempts.len() as u32,
                })
            }
            JobEvent::Failed { reason, message } => {
                return Some(self.failure(None, &reason, &message))
            }
        }
        None
    }

    /// The attempt a report is about: `pod`'s, else the last one.
    fn report_on(&self, pod: Option<&str>) -> Option<&Attempt> {
        match pod {
            Some(p) => self.attempts.iter().find(|a| a.pod == p),
            None => self.attempts.last(),
        }
    }

    fn last_lines(&self, pod: Option<&str>) -> LastLines {
        let a = self.report_on(pod);
        LastLines {
            pod: a.map(|a| a.pod.clone()),
            lines: a
                .map(|a| a.lines.iter().cloned().collect())
                .unwrap_or_default(),
            unavailable: a.and_then(|a| a.unavailable.clone()),
        }
    }

    fn failure(&self, pod: Option<&str>, reason: &str, message: &str) -> JobOutcome {
        let a = self.report_on(pod);
        JobOutcome::Failed(JobFailure {
            reason: reason.to_string(),
            message: message.to_string(),
            pod: a.map(|a| a.pod.clone()),
            exit_code: a.and_then(|a| a.exit_code),
            termination_message: a.and_then(|a| a.termination_message.clone()),
            last_lines: self.last_lines(pod),
            attempts: self.attempts.len() as u32,
        })
    }

    fn timeout(&self, waited: Duration) -> JobOutcome {
        JobOutcome::Timeout {
            waited,
            attempts: self.attempts.len() as u32,
            last_lines: self.last_lines(None),
        }
    }
}

/// `: message`, or nothing for an empty message.
fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(pod: &str, index: u32) -> JobEvent {
        JobEvent::AttemptStarted {
            pod: pod.into(),
            index,
            limit: Some(2),
        }
    }

    fn log(pod: &str, text: &str) -> JobEvent {
        JobEvent::Log {
            pod: pod.into(),
            container: "migrate".into(),
            text: text.into(),
        }
    }

    fn failed_attempt(pod: &str) -> JobEvent {
        JobEvent::AttemptEnded {
            pod: pod.into(),
            exit_code: Some(1),
            reason: "Error".into(),
            message: "rake aborted".into(),
            succeeded: false,
        }
    }

    #[test]
    fn the_config_has_the_keys_of_the_example_hooks() {
        let c: JobWaitConfig = crate::context::parse_config("w", "null").unwrap();
        assert_eq!((c.timeout, c.tail_lines), (Duration::from_secs(300), 20));
        let c: JobWaitConfig =
            crate::context::parse_config("w", r#"{"job": "migrate", "timeout": "1m30s"}"#).unwrap();
        assert_eq!(c.job.as_deref(), Some("migrate"));
        assert_eq!(c.timeout, Duration::from_secs(90));
        let e = crate::context::parse_config::<JobWaitConfig>("w", r#"{"tail": 5}"#);
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains(
                "unknown field `tail`, expected one of `job`, `timeout`, `tail_lines`, `container`, `pull_grace`"
            ),
            "{e}"
        );
    }

    #[test]
    fn tells_attempts_and_reports_on_the_last_one() {
        let mut s = Story::new(2);
        let events = [
            started("m-1", 1),
            log("m-1", "one"),
            failed_attempt("m-1"),
            started("m-2", 2),
            log("m-2", "a"),
            log("m-2", "b"),
            log("m-2", "c"),
            failed_attempt("m-2"),
        ];
        for e in events {
            assert!(s.on(e).is_none());
        }
        assert_eq!(
            s.out,
            [
                "[pod/m-1] one",
                "pod m-1 failed: container exited with code 1: rake aborted",
                "retry 1: attempt 2 of 2 in pod m-2",
                "[pod/m-2] a",
                "[pod/m-2] b",
                "[pod/m-2] c",
                "pod m-2 failed: container exited with code 1: rake aborted",
            ]
        );
        let end = s.on(JobEvent::Failed {
            reason: "BackoffLimitExceeded".into(),
            message: "Job has reached the specified backoff limit".into(),
        });
        let Some(JobOutcome::Failed(f)) = end else {
            panic!("{end:?}")
        };
        assert_eq!(
            f.to_string(),
            "BackoffLimitExceeded: Job has reached the specified backoff limit (pod m-2, exit code 1)"
        );
        assert_eq!(f.termination_message.as_deref(), Some("rake aborted"));
        assert_eq!(f.last_lines.lines, ["[pod/m-2] b", "[pod/m-2] c"]);
        assert_eq!(f.attempts, 2);
    }

    #[test]
    fn a_pod_that_cannot_start_ends_the_wait_naming_it() {
        let mut s = Story::new(20);
        s.on(started("m-1", 1));
        let end = s.on(JobEvent::CannotStart {
            pod: "m-1".into(),
            reason: "ImagePullBackOff".into(),
            message: "Back-off pulling image \"db-migrate:1\"".into(),
        });
        assert_eq!(
            s.out,
            ["pod m-1 cannot start: ImagePullBackOff: Back-off pulling image \"db-migrate:1\""]
        );
        let Some(JobOutcome::Failed(f)) = end else {
            panic!("{end:?}")
        };
        assert_eq!(f.reason, "ImagePullBackOff");
        assert_eq!(
            f.last_lines.report(),
            ["No log lines from pod m-1: it printed nothing"]
        );
    }

    #[test]
    fn a_log_that_cannot_be_read_is_said_and_reported() {
        let mut s = Story::new(20);
        s.on(started("m-1", 1));
        s.on(JobEvent::LogsUnavailable {
            pod: "m-1".into(),
            reason: "LogsUnavailable".into(),
            message: "connection refused".into(),
        });
        assert_eq!(
            s.out,
            ["cannot read the log of pod m-1: connection refused"]
        );
        let JobOutcome::Timeout { last_lines, .. } = s.timeout(Duration::from_secs(1)) else {
            panic!()
        };
        assert_eq!(
            last_lines.report(),
            ["No log lines from pod m-1: connection refused"]
        );
        assert_eq!(
            Story::new(1).last_lines(None).report(),
            ["No log lines: the Job started no pod"]
        );
    }
}
