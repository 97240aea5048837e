//! Building the one kube client of a run: kubeconfig resolution and the retry layer.

use std::sync::Arc;

use anyhow::Context as _;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Config;
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use super::retry::{RetryPolicy, RetryStats};
use super::{Cluster, ClusterError, ConnectOptions};

pub(super) async fn connect(opts: &ConnectOptions) -> Result<Cluster, ClusterError> {
    let mut config = load_config(opts).await?;
    if let Some(ns) = &opts.namespace {
        config.default_namespace = ns.clone();
    }
    // Our own retry layer replaces kube's (which skips 500 and connection errors).
    config.default_retry = false;
    let default_namespace = config.default_namespace.clone();
    let stats = Arc::new(RetryStats::default());
    let policy = RetryPolicy::new(opts.retry.clone(), stats.clone());
    let client = ClientBuilder::try_from(config)
        .context("building the Kubernetes client")?
        // Retry needs a cloneable service; the buffer makes the boxed stack one.
        .with_layer(&BufferLayer::new(1024))
        .with_layer(&RetryLayer::new(policy))
        .build();
    Ok(Cluster::new(client, default_namespace, stats))
}

async fn load_config(opts: &ConnectOptions) -> Result<Config, ClusterError> {
    let kc_opts = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    if let Some(path) = &opts.kubeconfig {
        let kc = Kubeconfig::read_from(path)
            .with_context(|| format!("reading kubeconfig {}", path.display()))?;
        return Ok(Config::from_custom_kubeconfig(kc, &kc_opts)
            .await
            .with_context(|| format!("loading kubeconfig {}", path.display()))?);
    }
    if kubeconfig_available() {
        return Ok(Config::from_kubeconfig(&kc_opts)
            .await
            .context("loading kubeconfig ($KUBECONFIG or ~/.kube/config)")?);
    }
    if opts.context.is_some() {
        return Err(anyhow::anyhow!(
            "--context given but no kubeconfig found ($KUBECONFIG unset, no ~/.kube/config)"
        )
        .into());
    }
    Ok(Config::incluster().context(
        "no kubeconfig found ($KUBECONFIG unset, no ~/.kube/config) and not running in a cluster",
    )?)
}

fn kubeconfig_available() -> bool {
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    std::env::var_os("HOME")
        .is_some_and(|h| std::path::Path::new(&h).join(".kube/config").is_file())
}

impl Cluster {
    /// A connection whose requests `service` answers in-process (the simulated cluster of
    /// `kubes hooks test`, a replayed recording), behind the same retry layer as a real one.
    /// Needs a tokio runtime (the client spawns its buffer task).
    pub fn over_service<S, B>(
        service: S,
        default_namespace: &str,
        retry: super::RetryConfig,
    ) -> Cluster
    where
        S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>
            + Send
            + Clone
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<tower::BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<tower::BoxError>,
    {
        let stats = Arc::new(RetryStats::default());
        let policy = RetryPolicy::new(retry, stats.clone());
        let service = tower::ServiceBuilder::new()
            .layer(RetryLayer::new(policy))
            .map_err(|e: S::Error| -> tower::BoxError { e.into() })
            .service(service);
        Cluster::new(
            kube::Client::new(service, default_namespace),
            default_namespace.to_string(),
            stats,
        )
    }
}
