//! Cluster access: one kube-rs client and one cached discovery per run, and the
//! object-level operations (server-side apply, delete, wait-until-gone) that apply,
//! delete, diff and prune and the hook engine all share.
//!
//! Nothing here knows about templates or projects; apply, delete, diff and prune work on a
//! [`crate::plan::Plan`] (`walk.rs` walks it for apply and delete).

mod attempts;
mod connect;
mod discovery;
mod error;
mod objects;
pub mod retry;
mod walk;

pub mod apply;
pub mod delete;
pub mod diff;
pub mod follow;
pub mod interrupt;
pub mod inventory;
pub mod labels;
pub mod lease;
pub mod namespaces;
pub mod prune;
pub mod report;
pub mod suffix_hash;
pub mod wait;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use kube::core::{ApiResource, DynamicObject};

pub use error::ClusterError;
pub use interrupt::Interrupt;
pub use objects::{Applied, ObjectRef};
pub use retry::{RetryConfig, RetryStats};
pub use walk::display_kind;

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Kubeconfig file; `None` means `$KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context; `None` means the kubeconfig's current context.
    pub context: Option<String>,
    /// Namespace for namespaced objects that name none; `None` means the context's.
    pub namespace: Option<String>,
    pub retry: RetryConfig,
}

/// A resource kind as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKind {
    pub resource: ApiResource,
    pub namespaced: bool,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
}

impl ResolvedKind {
    /// kubectl's name for the kind in output lines: `deployment.apps`, `service`.
    pub fn display_name(&self) -> String {
        let kind = self.resource.kind.to_lowercase();
        if self.resource.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", self.resource.group)
        }
    }

    /// Resource name as grants and hooks name it: `pods`, `jobs.batch`.
    pub fn resource_name(&self) -> String {
        if self.resource.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.resource.group)
        }
    }
}

/// Options for a server-side apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub field_manager: String,
    /// Take ownership of fields other managers own (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Server-side dry run: validated and defaulted by the server, not persisted.
    pub dry_run: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            field_manager: FIELD_MANAGER.to_string(),
            force_conflicts: true,
            dry_run: false,
        }
    }
}

/// The field manager kubes applies as.
pub const FIELD_MANAGER: &str = "kubes";

/// What a server-side apply did, in kubectl's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyOutcome {
    Created,
    Configured,
    Unchanged,
}

impl std::fmt::Display for ApplyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Configured => "configured",
            ApplyOutcome::Unchanged => "unchanged",
        })
    }
}

/// How dependents of a deleted object are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    /// Wait until the object is gone (finalizers done), at most this long.
    pub wait: Option<Duration>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteOutcome {
    Deleted,
    /// The object did not exist: reported, not an error.
    Absent,
}

impl std::fmt::Display for DeleteOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeleteOutcome::Deleted => "deleted",
            DeleteOutcome::Absent => "absent",
        })
    }
}

/// A connection to one cluster: cheap to clone (everything behind one `Arc`).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    default_namespace: String,
    discovery: discovery::DiscoveryCache,
    retry_stats: Arc<RetryStats>,
    /// Set once this run applied a CustomResourceDefinition, so a discovery miss waits
    /// briefly for the new kind to be served instead of failing at once.
    applied_crd: AtomicBool,
    /// The run's interruption (Ctrl-C), shared with the walks and the hooks.
    interrupt: std::sync::OnceLock<Interrupt>,
}

impl Cluster {
    /// Connect using a kubeconfig (path, `$KUBECONFIG`, default path) or in-cluster config.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, ClusterError> {
        connect::connect(opts).await
    }

    fn new(
        client: kube::Client,
        default_namespace: String,
        retry_stats: Arc<RetryStats>,
    ) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                client,
                default_namespace,
                discovery: discovery::DiscoveryCache::default(),
                retry_stats,
                applied_crd: AtomicBool::new(false),
                interrupt: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    /// Tie this connection to a run's interruption (once, before the run starts; later
    /// calls are ignored): the walks and hooks over it stop when it is triggered.
    pub fn set_interrupt(&self, interrupt: Interrupt) {
        let _ = self.inner.interrupt.set(interrupt);
    }

    /// The run's interruption (one that is never triggered when none was set).
    pub fn interrupt(&self) -> &Interrupt {
        self.inner.interrupt.get_or_init(Interrupt::new)
    }

    /// Namespace for namespaced objects that name none.
    pub fn default_namespace(&self) -> &str {
        &self.inner.default_namespace
    }

    /// Requests retried so far by this connection (429, 5xx, connection errors).
    pub fn retries(&self) -> u64 {
        self.inner.retry_stats.retries()
    }

    /// By apiVersion + kind (apply path). Re-runs discovery on a miss, so CRDs created
    /// earlier in the run resolve.
    pub async fn resolve_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ResolvedKind, ClusterError> {
        let wait = self
            .inner
            .applied_crd
            .load(std::sync::atomic::Ordering::Relaxed);
        self.inner
            .discovery
            .resolve_kind(&self.inner.client, api_version, kind, wait)
            .await
    }

    /// By resource name as grants and hooks name it: "pods", "jobs.batch", "deployments.apps".
    pub async fn resolve_resource(&self, resource: &str) -> Result<ResolvedKind, ClusterError> {
        self.inner
            .discovery
            .resolve_resource(&self.inner.client, resource)
            .await
    }

    /// A dynamic API handle; `namespace` is ignored for cluster-scoped kinds and
    /// defaults to [`Cluster::default_namespace`] for namespaced ones.
    pub fn api(&self, rk: &ResolvedKind, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        if rk.namespaced {
            let ns = namespace.unwrap_or(self.default_namespace());
            kube::Api::namespaced_with(self.inner.client.clone(), ns, &rk.resource)
        } else {
            kube::Api::all_with(self.inner.client.clone(), &rk.resource)
        }
    }

    /// Server-side apply as field manager "kubes".
    pub async fn apply_object(
        &self,
        obj: &serde_json::Value,
        opts: &ApplyOptions,
    ) -> Result<ApplyOutcome, ClusterError> {
        Ok(self.apply_object_returning(obj, opts).await?.outcome)
    }

    /// Server-side apply, returning the object as the server has it afterwards.
    pub async fn apply_object_returning(
        &self,
        obj: &serde_json::Value,
        opts: &ApplyOptions,
    ) -> Result<Applied, ClusterError> {
        objects::apply(self, obj, opts).await
    }

    /// Delete one object; a missing object is [`DeleteOutcome::Absent`], not an error.
    pub async fn delete_object(
        &self,
        rk: &ResolvedKind,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ClusterError> {
        objects::delete(self, rk, namespace, name, opts).await
    }

    /// Get one object; `Ok(None)` when it does not exist.
    pub async fn get_object(
        &self,
        rk: &ResolvedKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<DynamicObject>, ClusterError> {
        Ok(self.api(rk, namespace).get_opt(name).await?)
    }

    fn note_crd_applied(&self) {
        self.inner
            .applied_crd
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("default_namespace", &self.inner.default_namespace)
            .finish_non_exhaustive()
    }
}
