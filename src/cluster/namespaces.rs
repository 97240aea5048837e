//! Namespaces a deploy writes into, checked before anything is applied: one that is being
//! deleted (`Terminating`) refuses new content with a 403 half-way through a deploy, so it is
//! noticed first and waited out (or reported at once).

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

/// Whether namespace `name` exists and is being deleted.
pub async fn is_terminating(client: &kube::Client, name: &str) -> Result<bool, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    Ok(api.get_opt(name).await?.is_some_and(|ns| {
        ns.metadata.deletion_timestamp.is_some()
            || ns
                .status
                .and_then(|s| s.phase)
                .is_some_and(|p| p == "Terminating")
    }))
}

/// Make sure none of `names` is being deleted: with `wait`, wait (polling every `poll`) up
/// to that long for each to go, calling `on_wait` once per namespace waited for; without,
/// fail at once.
pub async fn ensure_not_terminating(
    client: &kube::Client,
    names: &[String],
    wait: Option<Duration>,
    poll: Duration,
    mut on_wait: impl FnMut(&str),
) -> Result<(), NamespaceError> {
    let started = tokio::time::Instant::now();
    for name in names {
        let err = |source| NamespaceError::Cluster {
            name: name.clone(),
            source,
        };
        let mut told = false;
        while is_terminating(client, name).await.map_err(err)? {
            let Some(limit) = wait else {
                return Err(NamespaceError::Terminating(name.clone()));
            };
            if started.elapsed() >= limit {
                return Err(NamespaceError::StillTerminating {
                    name: name.clone(),
                    waited: humantime::format_duration(limit).to_string(),
                });
            }
            if !told {
                told = true;
                on_wait(name);
            }
            tokio::time::sleep(poll).await;
        }
    }
    Ok(())
}
