//! The few Kubernetes fields hooks read, as small serde structs (k8s-openapi is heavy in a
//! guest). Unknown fields are ignored and missing ones default, so these read any object of
//! the kind; for anything else use `serde_json::Value`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: Option<String>,
    pub uid: String,
    pub generation: Option<i64>,
    pub resource_version: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub owner_references: Vec<OwnerReference>,
    pub creation_timestamp: Option<String>,
    pub deletion_timestamp: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// A status condition (Jobs, Deployments, Pods).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The condition of `type_`, if the object has it.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Job {
    pub metadata: ObjectMeta,
    pub spec: JobSpec,
    pub status: JobStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JobSpec {
    pub backoff_limit: Option<i32>,
    pub active_deadline_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JobStatus {
    pub active: Option<i32>,
    pub succeeded: Option<i32>,
    pub failed: Option<i32>,
    pub start_time: Option<String>,
    pub completion_time: Option<String>,
    pub conditions: Vec<Condition>,
}

impl Job {
    /// The Job's `Complete` or `Failed` condition, when one is True.
    pub fn finished(&self) -> Option<&Condition> {
        self.status
            .conditions
            .iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.is_true())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub restart_policy: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub container_statuses: Vec<ContainerStatus>,
    pub init_container_statuses: Vec<ContainerStatus>,
}

impl Pod {
    /// Whether the pod was created by the Job with this uid.
    pub fn owned_by(&self, uid: &str) -> bool {
        self.metadata.owner_references.iter().any(|o| o.uid == uid)
    }

    /// True once a container has started (running or terminated): its log can be read.
    pub fn has_started(&self) -> bool {
        matches!(
            self.status.phase.as_deref(),
            Some("Running") | Some("Succeeded") | Some("Failed")
        ) || self
            .status
            .container_statuses
            .iter()
            .any(|c| c.state.running.is_some() || c.state.terminated.is_some())
    }

    /// The first container stuck waiting with one of `reasons` (e.g. `ErrImagePull`).
    pub fn waiting_with<'a>(
        &'a self,
        reasons: &[&str],
    ) -> Option<(&'a ContainerStatus, &'a Waiting)> {
        self.status
            .init_container_statuses
            .iter()
            .chain(&self.status.container_statuses)
            .find_map(|c| {
                let w = c.state.waiting.as_ref()?;
                reasons.contains(&w.reason.as_deref()?).then_some((c, w))
            })
    }

    /// The first terminated container that failed (non-zero exit).
    pub fn failed_container(&self) -> Option<(&ContainerStatus, &Terminated)> {
        self.status.container_statuses.iter().find_map(|c| {
            let t = c.state.terminated.as_ref()?;
            (t.exit_code != 0).then_some((c, t))
        })
    }

    /// How often its containers restarted in place (`restartPolicy: OnFailure`).
    pub fn restart_count(&self) -> i32 {
        self.status
            .container_statuses
            .iter()
            .map(|c| c.restart_count)
            .max()
            .unwrap_or(0)
    }

    /// In-place container failures so far: the restarts, plus one while a failed container
    /// waits to restart (`CrashLoopBackOff` with its last run `terminated`).
    pub fn crashes_in_place(&self) -> i32 {
        let waiting_to_restart = self.status.container_statuses.iter().any(|c| {
            c.state.waiting.is_some()
                && c.last_state
                    .terminated
                    .as_ref()
                    .is_some_and(|t| t.exit_code != 0)
        });
        self.restart_count() + i32::from(waiting_to_restart)
    }

    /// The last failed run of a container that restarts in place.
    pub fn last_crash(&self) -> Option<(&ContainerStatus, &Terminated)> {
        self.status.container_statuses.iter().find_map(|c| {
            let t = c.last_state.terminated.as_ref()?;
            (t.exit_code != 0).then_some((c, t))
        })
    }

    /// True when the pod has finished (Succeeded or Failed).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status.phase.as_deref(),
            Some("Succeeded") | Some("Failed")
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: i32,
    pub state: ContainerState,
    pub last_state: ContainerState,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerState {
    pub waiting: Option<Waiting>,
    pub running: Option<serde_json::Value>,
    pub terminated: Option<Terminated>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Waiting {
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Deployment {
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
    pub status: DeploymentStatus,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentSpec {
    pub replicas: Option<i32>,
    pub progress_deadline_seconds: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub observed_generation: Option<i64>,
    pub replicas: Option<i32>,
    pub updated_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    pub unavailable_replicas: Option<i32>,
    pub conditions: Vec<Condition>,
}

/// A core/v1 Event.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Event {
    pub metadata: ObjectMeta,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub count: Option<i32>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
}

impl std::fmt::Display for Event {
    /// `Warning BackoffLimitExceeded: Job has reached the specified backoff limit`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.type_.as_deref().unwrap_or("Normal"),
            self.reason.as_deref().unwrap_or("-"),
            self.message.as_deref().unwrap_or("")
        )?;
        match self.count {
            Some(n) if n > 1 => write!(f, " (x{n})"),
            _ => Ok(()),
        }
    }
}
