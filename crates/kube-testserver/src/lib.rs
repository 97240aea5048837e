//! A test Kubernetes API server: discovery, CRUD, watch, server-side apply, simulated
//! Job and Deployment controllers, pod logs and fault injection, on 127.0.0.1.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let srv = kube_testserver::TestServer::start(kube_testserver::Options::default()).await?;
//! println!("{} {}", srv.url(), srv.kubeconfig_path().display());
//! # Ok(()) }
//! ```

pub mod apply;
pub mod cluster;
pub mod controllers;
mod discovery;
pub mod faults;
pub mod fields;
mod http;
pub mod logs;
pub mod meta;
pub mod patch;
mod podlogs;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod script;
pub mod sim;
pub mod status;
pub mod store;
pub mod table;
mod tls;
pub mod validate;
mod watch;

pub use faults::Faults;
pub use http::RecordedRequest;

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bearer token clients must present (written into the kubeconfig).
    pub token: String,
    /// Where to write the kubeconfig; None writes it into a temp dir owned by the server.
    pub kubeconfig_path: Option<PathBuf>,
    /// Injected faults (none by default).
    pub faults: Faults,
    /// Seed for uids, generated names and pod suffixes.
    pub seed: u64,
    /// Watch events kept for resuming watches; older resourceVersions get 410 Gone.
    pub watch_history: usize,
    /// Simulated controller timings (all in milliseconds by default).
    pub timing: controllers::Timing,
    /// Serve https (the default: kubectl sends bearer tokens only over TLS). Plain http
    /// still requires the token, which kube-rs sends but kubectl does not.
    pub tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: "kube-testserver-token".into(),
            kubeconfig_path: None,
            faults: Faults::default(),
            seed: 42,
            watch_history: 10_000,
            timing: controllers::Timing::default(),
            tls: true,
        }
    }
}

/// A running server. Dropping it shuts the server down.
pub struct TestServer {
    url: String,
    token: String,
    kubeconfig_yaml: String,
    kubeconfig_path: PathBuf,
    cluster: Arc<cluster::Cluster>,
    requests: Arc<http::RequestLog>,
    tokens: Arc<rbac::Tokens>,
    ca_pem: Option<String>,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Start the server on its own runtime thread (so tests on any runtime, or none,
    /// can block on clients like `kubectl` without starving it).
    pub async fn start(opts: Options) -> anyhow::Result<TestServer> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(TestServer::start_blocking(opts));
        });
        rx.await
            .context("the server thread stopped before reporting")?
    }

    /// Start the server from non-async code.
    pub fn start_blocking(opts: Options) -> anyhow::Result<TestServer> {
        let cluster = Arc::new(cluster::Cluster::new(opts.seed, opts.watch_history));
        let logs = Arc::new(logs::LogStore::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<SocketAddr>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let tls = if opts.tls {
            Some(tls::generate().context("setting up TLS")?)
        } else {
            None
        };
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
        let requests = Arc::new(http::RequestLog::default());
        let tokens = Arc::new(rbac::Tokens::default());
        let (c2, l2, o2, r2, t2) = (
            cluster.clone(),
            logs.clone(),
            opts.clone(),
            requests.clone(),
            tokens.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("kube-testserver".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind(o2.listen).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ =
                                ready_tx
                                    .send(Err(anyhow::Error::new(e)
                                        .context(format!("binding {}", o2.listen))));
                            return;
                        }
                    };
                    let addr = match listener.local_addr() {
                        Ok(a) => a,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let app = Arc::new(http::App {
                        cluster: c2.clone(),
                        logs: l2.clone(),
                        fault_dice: crate::faults::FaultDice::new(o2.faults.seed),
                        faults: o2.faults.clone(),
                        token: o2.token.clone(),
                        server_address: addr.to_string(),
                        requests: r2,
                        tokens: t2,
                    });
                    controllers::spawn(c2, l2, o2.timing.clone());
                    let _ = ready_tx.send(Ok(addr));
                    tokio::select! {
                        _ = serve(listener, http::router(app), acceptor) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Open watch and log streams must not hold shutdown up.
                rt.shutdown_background();
            })
            .context("spawning the server thread")?;
        let addr = ready_rx
            .recv()
            .context("the server thread stopped before listening")??;
        let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        let kubeconfig_yaml =
            kubeconfig(&url, &opts.token, tls.as_ref().map(|t| t.ca_pem.as_str()));
        let (dir, path) = match &opts.kubeconfig_path {
            Some(p) => (None, p.clone()),
            None => {
                let dir = tempfile::tempdir().context("creating a temp dir for the kubeconfig")?;
                let p = dir.path().join("kubeconfig");
                (Some(dir), p)
            }
        };
        std::fs::write(&path, &kubeconfig_yaml)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(TestServer {
            url,
            token: opts.token,
            kubeconfig_yaml,
            kubeconfig_path: path,
            cluster,
            requests,
            tokens,
            ca_pem: tls.as_ref().map(|t| t.ca_pem.clone()),
            _dir: dir,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT` (`http://` when TLS is off)
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// A token acting as the ServiceAccount `namespace/name` (which must exist), authorized
    /// by the RBAC objects stored in the server (see [`rbac`]); what `kubectl create token`
    /// gets through the TokenRequest subresource.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        Ok(self.tokens.issue(&self.cluster, namespace, name)?)
    }

    /// A kubeconfig for this server whose user is `token` (e.g. a ServiceAccount token).
    pub fn kubeconfig_for_token(&self, token: &str) -> String {
        kubeconfig(&self.url, token, self.ca_pem.as_deref())
    }

    /// Every request received so far (method, raw path and query), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.snapshot()
    }

    /// The errors injected so far (`Faults` rates), as `<route> <status>`, e.g.
    /// `GET /pods list 500` (see `faults::route`), oldest first.
    pub fn injected_faults(&self) -> Vec<String> {
        self.requests.faults()
    }

    /// Forget the requests received so far (so a test can look at one step's requests).
    pub fn clear_requests(&self) {
        self.requests.clear()
    }

    /// The stored object at `path` (e.g. `/api/v1/namespaces/demo/configmaps/x`), as JSON.
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        self.cluster.peek(group, plural, namespace, name)
    }

    /// Number of stored objects (for benchmarks and sanity checks).
    pub fn object_count(&self) -> usize {
        self.cluster.object_count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accept connections forever, each served on its own task.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(router.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    // A client that fails the handshake just loses its connection.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = conn
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                }
                None => {
                    let _ = conn
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                }
            }
        });
    }
}

/// A kubeconfig with one cluster, one token user and one context (namespace `default`).
pub fn kubeconfig(url: &str, token: &str, ca_pem: Option<&str>) -> String {
    use base64::Engine as _;
    let ca = ca_pem
        .map(|pem| {
            format!(
                "\n    certificate-authority-data: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-testserver
  cluster:
    server: {url}{ca}
users:
- name: kube-testserver
  user:
    token: {token}
contexts:
- name: kube-testserver
  context:
    cluster: kube-testserver
    user: kube-testserver
    namespace: default
current-context: kube-testserver
preferences: {{}}
"
    )
}
