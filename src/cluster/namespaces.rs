//! Namespaces a deploy writes into, checked before anything is applied: one that is being
//! deleted (`Terminating`) refuses new content with a 403 half-way through a deploy, so it is
//! noticed first and waited out (or reported at once).

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

use super::ClusterError;

/// Why a namespace is not ready for a deploy.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("namespace {0} is being deleted (Terminating); wait for it to go (a deploy waits up to --lock-timeout unless --no-wait)")]
    Terminating(String),
    #[error("namespace {name} is still being deleted (Terminating) after {waited}")]
    StillTerminating { name: String, waited: String },
    #[error("namespace {name}: {source}")]
    Cluster {
        name: String,
        #[source]
        source: ClusterError,
    },
}

/// How a namespace stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceState {
    Absent,
    Active,
    /// Being deleted.
    Terminating,
}

/// How namespace `name` stands.
pub async fn namespace_state(
    client: &kube::Client,
    name: &str,
) -> Result<NamespaceState, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    Ok(match api.get_opt(name).await? {
        None => NamespaceState::Absent,
        Some(ns)
            if ns.metadata.deletion_timestamp.is_some()
                || ns
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|p| p == "Terminating") =>
        {
            NamespaceState::Terminating
        }
        Some(_) => NamespaceState::Active,
    })
}

/// Make sure none of `names` is being deleted: with `wait`, wait (polling every `poll`) up
/// to that long for each to go, calling `on_wait` once per namespace waited for; without,
/// fail at once. The namespaces are read at once, not one after another. Returns the
/// names that exist (and are not being deleted).
pub async fn ensure_not_terminating(
    client: &kube::Client,
    names: &[String],
    wait: Option<Duration>,
    poll: Duration,
    mut on_wait: impl FnMut(&str),
) -> Result<HashSet<String>, NamespaceError> {
    let started = tokio::time::Instant::now();
    let mut existing = HashSet::new();
    let mut pending: Vec<&String> = names.iter().collect();
    let mut told = HashSet::new();
    loop {
        let states =
            futures::future::join_all(pending.iter().map(|n| namespace_state(client, n))).await;
        let mut terminating = Vec::new();
        for (name, state) in pending.into_iter().zip(states) {
            let state = state.map_err(|source| NamespaceError::Cluster {
                name: name.clone(),
                source,
            })?;
            match state {
                NamespaceState::Absent => {}
                NamespaceState::Active => {
                    existing.insert(name.clone());
                }
                NamespaceState::Terminating => terminating.push(name),
            }
        }
        let Some(first) = terminating.first() else {
            return Ok(existing);
        };
        let Some(limit) = wait else {
            return Err(NamespaceError::Terminating((*first).clone()));
        };
        if started.elapsed() >= limit {
            return Err(NamespaceError::StillTerminating {
                name: (*first).clone(),
                waited: humantime::format_duration(limit).to_string(),
            });
        }
        for name in &terminating {
            if told.insert((*name).clone()) {
                on_wait(name);
            }
        }
        tokio::time::sleep(poll).await;
        pending = terminating;
    }
}
