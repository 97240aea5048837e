//! The deploy lease: one `coordination.k8s.io/v1` Lease per app and namespace, held while a
//! deploy runs, so two deploys of the same app never run its migration at once. Taken the way
//! client-go's leader election takes a lease (create, or update an expired one with the
//! resourceVersion as precondition), renewed in the background, released on exit, taken over
//! when its holder stopped renewing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use super::ClusterError;

/// How long a lease holds without renewal (renewed every third of it).
pub const LEASE_DURATION: Duration = Duration::from_secs(30);

/// The Lease's name for an app: `kubes-deploy-<app>`.
pub fn lease_name(app: &str) -> String {
    format!("kubes-deploy-{app}")
}

/// Who this process is, as the Lease's holder: `user@host pid N`.
pub fn identity() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "kubes".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host} pid {}", std::process::id())
}

/// How to wait for a lease someone else holds.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// `None`: fail at once (`--no-wait`); else wait at most this long.
    pub wait: Option<Duration>,
    pub duration: Duration,
    /// How often to look again while waiting.
    pub poll: Duration,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        LeaseOptions {
            wait: Some(Duration::from_secs(600)),
            duration: LEASE_DURATION,
            poll: Duration::from_secs(1),
        }
    }
}

/// Why the lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another deploy of this app holds the deploy lease {namespace}/{name}: {holder} (renewed {renewed}); {advice}")]
    Held {
        namespace: String,
        name: String,
        holder: String,
        renewed: String,
        advice: &'static str,
    },
    #[error("deploy lease {namespace}/{name}: {source}")]
    Cluster {
        namespace: String,
        name: String,
        #[source]
        source: ClusterError,
    },
}

/// A held lease: renewed until dropped or [`DeployLease::release`]d.
pub struct DeployLease {
    api: Api<Lease>,
    name: String,
    identity: String,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
    /// The lease as this deploy last wrote it: releasing starts from it, without a GET.
    last: Arc<Mutex<Option<Lease>>>,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn expired(spec: &LeaseSpec) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let until = renewed.0 + k8s_openapi::jiff::SignedDuration::from_secs(secs);
    Timestamp::now() > until
}

fn cluster_err(namespace: &str, name: &str, e: kube::Error) -> LeaseError {
    LeaseError::Cluster {
        namespace: namespace.into(),
        name: name.into(),
        source: e.into(),
    }
}

impl DeployLease {
    /// Take the lease `name` in `namespace` for `identity`, waiting for its holder as
    /// `opts` says; `on_wait` is called once with the holder when it has to wait.
    pub async fn acquire(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        opts: &LeaseOptions,
        mut on_wait: impl FnMut(&str),
    ) -> Result<DeployLease, LeaseError> {
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let started = tokio::time::Instant::now();
        let mut told = false;
        let secs = opts.duration.as_secs().max(1) as i32;
        let written = loop {
            match api
                .get_opt(name)
                .await
                .map_err(|e| cluster_err(namespace, name, e))?
            {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(name.into()),
                            namespace: Some(namespace.into()),
                            ..Default::default()
                        },
                        spec: Some(LeaseSpec {
                            holder_identity: Some(identity.into()),
                            lease_duration_seconds: Some(secs),
                            acquire_time: Some(now()),
                            renew_time: Some(now()),
                            lease_transitions: Some(0),
                            ..Default::default()
                        }),
                    };
                    match api.create(&PostParams::default(), &lease).await {
                        Ok(written) => break written,
                        // Someone created it first: look again.
                        Err(kube::Error::Api(s)) if s.code == 409 => continue,
                        Err(e) => return Err(cluster_err(namespace, name, e)),
                    }
                }
                Some(mut lease) => {
                    let spec = lease.spec.clone().unwrap_or_default();
                    let holder = spec.holder_identity.clone().unwrap_or_default();
                    if holder.is_empty() || holder == identity || expired(&spec) {
                        let transitions =
                            spec.lease_transitions.unwrap_or(0) + i32::from(holder != identity);
                        lease.spec = Some(LeaseSpec {
                            holder_identity: Some(identity.into()),
                            lease_duration_seconds: Some(secs),
                            acquire_time: Some(now()),
                            renew_time: Some(now()),
                            lease_transitions: Some(transitions),
                            ..Default::default()
                        });
                        // The resourceVersion read above is the precondition: of two
                        // deploys taking over an expired lease, one wins, one sees 409.
                        match api.replace(name, &PostParams::default(), &lease).await {
                            Ok(written) => break written,
                            Err(kube::Error::Api(s)) if s.code == 409 => continue,
                            Err(e) => return Err(cluster_err(namespace, name, e)),
                        }
                    }
                    let renewed = spec
                        .renew_time
                        .as_ref()
                        .map(|t| t.0.to_string())
                        .unwrap_or_else(|| "never".into());
                    let held = |advice| LeaseError::Held {
                        namespace: namespace.into(),
                        name: name.into(),
                        holder: holder.clone(),
                        renewed: renewed.clone(),
                        advice,
                    };
                    let Some(wait) = opts.wait else {
                        return Err(held("not waiting (--no-wait)"));
                    };
                    if started.elapsed() >= wait {
                        return Err(held("gave up waiting (--lock-timeout)"));
                    }
                    if !told {
                        told = true;
                        on_wait(&holder);
                    }
                    tokio::time::sleep(opts.poll).await;
                }
            }
        };
        let lost = Arc::new(AtomicBool::new(false));
        let last = Arc::new(Mutex::new(Some(written)));
        let renewer = tokio::spawn(renew(
            api.clone(),
            name.to_string(),
            identity.to_string(),
            opts.duration,
            lost.clone(),
            last.clone(),
        ));
        Ok(DeployLease {
            api,
            name: name.into(),
            identity: identity.into(),
            renewer,
            lost,
            last,
        })
    }

    /// Whether the lease was lost (another holder took it: this process stopped renewing
    /// in time, e.g. it was suspended).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Give the lease up: the next deploy takes it at once instead of waiting for it to
    /// expire.
    pub async fn release(self) -> Result<(), ClusterError> {
        self.renewer.abort();
        // From the version this deploy last wrote: its resourceVersion is the precondition,
        // so a lease changed since (a renewal cut short, another holder) answers 409, and
        // the lease is read again.
        let last = self.last.lock().map(|mut l| l.take()).unwrap_or_default();
        if let Some(mut lease) = last {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = None;
            spec.renew_time = Some(now());
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            // Changed meanwhile: no longer ours to release.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for DeployLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

async fn renew(
    api: Api<Lease>,
    name: String,
    identity: String,
    every: Duration,
    lost: Arc<AtomicBool>,
    last: Arc<Mutex<Option<Lease>>>,
) {
    loop {
        tokio::time::sleep(every / 3).await;
        let Ok(Some(mut lease)) = api.get_opt(&name).await else {
            continue;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&identity) {
            lost.store(true, Ordering::Relaxed);
            return;
        }
        spec.renew_time = Some(now());
        if let Ok(written) = api.replace(&name, &PostParams::default(), &lease).await {
            if let Ok(mut l) = last.lock() {
                *l = Some(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration_since_renewal() {
        let fresh = LeaseSpec {
            renew_time: Some(now()),
            lease_duration_seconds: Some(30),
            ..Default::default()
        };
        assert!(!expired(&fresh));
        let old = LeaseSpec {
            renew_time: Some(MicroTime(
                Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(31),
            )),
            lease_duration_seconds: Some(30),
            ..Default::default()
        };
        assert!(expired(&old));
        assert!(expired(&LeaseSpec::default()));
        assert_eq!(lease_name("demo"), "kubes-deploy-demo");
    }
}
