//! The pod script annotation (`kubes.test/script`) that tells a simulated pod what to log,
//! how long to run and how to end, one entry per attempt; and the Deployment readiness
//! annotations.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

pub const SCRIPT_ANNOTATION: &str = "kubes.test/script";
pub const READY_AFTER_ANNOTATION: &str = "kubes.test/ready-after-ms";
pub const NEVER_READY_ANNOTATION: &str = "kubes.test/never-ready";
pub const PROGRESS_DEADLINE_ANNOTATION: &str = "kubes.test/progress-deadline-ms";
/// On a Job's own annotations: `activeDeadlineSeconds` in milliseconds.
pub const ACTIVE_DEADLINE_ANNOTATION: &str = "kubes.test/active-deadline-ms";

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// One entry per attempt (pod, or container restart for `restartPolicy: OnFailure`);
    /// the last entry repeats for further attempts.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Every attempt fails to pull its image, for good (ErrImagePull and ImagePullBackOff
    /// in turn, the back-off doubling).
    #[serde(default)]
    pub image_pull_error: bool,
    /// Every attempt fails to pull its image this many times before the pull succeeds
    /// (an attempt's own `pull_failures` wins).
    #[serde(default)]
    pub pull_failures: Option<u32>,
    /// The kubelet of the pods is unreachable: their log requests answer 500, as the API
    /// server does when it cannot connect to the kubelet.
    #[serde(default)]
    pub logs_unavailable: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    #[serde(default)]
    pub logs: Vec<LogLine>,
    #[serde(default)]
    pub exit_code: i32,
    /// Termination message (container `terminated.message`).
    #[serde(default)]
    pub message: Option<String>,
    /// Extra run time after the last log line before the container exits.
    #[serde(default)]
    pub run_ms: u64,
    /// This attempt fails to pull its image, for good.
    #[serde(default)]
    pub image_pull_error: bool,
    /// This attempt's image pull fails this many times (ErrImagePull, then
    /// ImagePullBackOff while the kubelet backs off) before it succeeds and the
    /// container starts.
    #[serde(default)]
    pub pull_failures: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    pub line: String,
    /// Delay before this line is written.
    #[serde(default)]
    pub after_ms: u64,
}

impl Script {
    /// The attempt with this index (0-based); the last entry repeats.
    pub fn attempt(&self, i: usize) -> Attempt {
        let mut a = match self.attempts.len() {
            0 => Attempt::default(),
            n => self.attempts[i.min(n - 1)].clone(),
        };
        a.image_pull_error |= self.image_pull_error;
        if a.pull_failures.is_none() {
            a.pull_failures = self.pull_failures;
        }
        a
    }
}

/// The script of a pod template, Ok(None) when it has none.
pub fn from_template(template: &Value) -> Result<Option<Script>, String> {
    let Some(raw) = template
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(SCRIPT_ANNOTATION))
    else {
        return Ok(None);
    };
    let text = raw.as_str().ok_or_else(|| {
        format!("annotation {SCRIPT_ANNOTATION}: expected a string holding YAML or JSON")
    })?;
    serde_yaml::from_str::<Script>(text)
        .map(Some)
        .map_err(|e| format!("annotation {SCRIPT_ANNOTATION}: {e} (expected {{attempts: [{{logs: [{{line, after_ms}}], exit_code, message, run_ms, image_pull_error, pull_failures}}], image_pull_error, pull_failures, logs_unavailable}})"))
}

/// Readiness behaviour of a Deployment's pods, from its template or own annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub ready_after: Duration,
    pub never_ready: bool,
    pub progress_deadline: Duration,
}

pub fn readiness(
    deployment: &Value,
    default_ready_after: Duration,
    never_ready_deadline: Duration,
) -> Result<Readiness, String> {
    let get = |k: &str| -> Option<&str> {
        deployment
            .pointer("/spec/template/metadata/annotations")
            .and_then(|a| a.get(k))
            .or_else(|| {
                deployment
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(k))
            })
            .and_then(Value::as_str)
    };
    let ms = |k: &str| -> Result<Option<Duration>, String> {
        get(k)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| {
                        format!(
                            "annotation {k}: expected milliseconds as a whole number, found {v:?}"
                        )
                    })
            })
            .transpose()
    };
    let never_ready = match get(NEVER_READY_ANNOTATION) {
        None => false,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(format!(
            "annotation {NEVER_READY_ANNOTATION}: expected \"true\" or \"false\", found {other:?}"
        ))
        }
    };
    let spec_deadline = deployment
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(600));
    let progress_deadline = match ms(PROGRESS_DEADLINE_ANNOTATION)? {
        Some(d) => d,
        // Waiting 600 s for a scripted failure helps no test: never-ready deployments
        // give up quickly unless told otherwise.
        None if never_ready => never_ready_deadline.min(spec_deadline),
        None => spec_deadline,
    };
    Ok(Readiness {
        ready_after: ms(READY_AFTER_ANNOTATION)?.unwrap_or(default_ready_after),
        never_ready,
        progress_deadline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_attempt_repeats() {
        let t = json!({"metadata": {"annotations": {SCRIPT_ANNOTATION:
            "attempts:\n- exit_code: 1\n  logs: [{line: boom}]\n- exit_code: 0\n"}}});
        let s = from_template(&t).unwrap().unwrap();
        assert_eq!(s.attempt(0).exit_code, 1);
        assert_eq!(s.attempt(0).logs[0].line, "boom");
        assert_eq!(s.attempt(5).exit_code, 0);
    }

    #[test]
    fn pull_failures_of_an_attempt_win_over_the_scripts() {
        let t = json!({"metadata": {"annotations": {SCRIPT_ANNOTATION:
            "pull_failures: 2\nlogs_unavailable: true\nattempts:\n- pull_failures: 0\n- exit_code: 0\n"}}});
        let s = from_template(&t).unwrap().unwrap();
        assert_eq!(s.attempt(0).pull_failures, Some(0));
        assert_eq!(s.attempt(1).pull_failures, Some(2));
        assert!(s.logs_unavailable);
    }

    #[test]
    fn bad_scripts_say_what_was_expected() {
        let t = json!({"metadata": {"annotations": {SCRIPT_ANNOTATION: "{\"attempts\": [{\"exit\": 1}]}"}}});
        let e = from_template(&t).unwrap_err();
        assert!(e.contains("unknown field `exit`"), "{e}");
        assert!(e.contains(SCRIPT_ANNOTATION));
    }

    #[test]
    fn readiness_reads_annotations() {
        let d = json!({"spec": {"template": {"metadata": {"annotations": {READY_AFTER_ANNOTATION: "250"}}}}});
        let r = readiness(&d, Duration::from_millis(10), Duration::from_millis(500)).unwrap();
        assert_eq!(r.ready_after, Duration::from_millis(250));
        assert!(!r.never_ready);
        let d = json!({"metadata": {"annotations": {NEVER_READY_ANNOTATION: "yes"}}});
        assert!(readiness(&d, Duration::ZERO, Duration::ZERO).is_err());
    }
}
