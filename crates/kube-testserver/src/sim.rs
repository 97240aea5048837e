//! The simulated cluster in-process, without sockets: the same store, controllers and HTTP
//! handlers the server runs, answering `http::Request`s handed to [`Simulation::call`].
//! Everything runs on the caller's tokio runtime and clock, so on a runtime with paused
//! time (`start_paused`) a Job that runs for ten minutes takes no wall time at all.

use std::sync::Arc;

use crate::{cluster, controllers, http, logs, Faults, RecordedRequest};

/// The body of the simulation's answers (an `http_body::Body` of `Bytes`).
pub use axum::body::Body;

/// What to simulate: the same knobs as the server's [`crate::Options`], minus the network.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub faults: Faults,
    pub seed: u64,
    pub watch_history: usize,
    pub timing: controllers::Timing,
}

impl Default for SimOptions {
    fn default() -> Self {
        let o = crate::Options::default();
        SimOptions {
            faults: o.faults,
            seed: o.seed,
            watch_history: o.watch_history,
            timing: o.timing,
        }
    }
}

/// An in-process cluster. Cloning shares it. Dropping the last clone does not stop its
/// controllers: they live as long as the runtime they were spawned on.
#[derive(Clone)]
pub struct Simulation {
    cluster: Arc<cluster::Cluster>,
    requests: Arc<http::RequestLog>,
    router: axum::Router,
    auth: axum::http::HeaderValue,
}

/// The bearer token in-process requests carry (the handlers still check one).
const TOKEN: &str = "kube-testserver-in-process";

impl Simulation {
    /// Build the cluster and spawn its controllers on the current tokio runtime (panics
    /// outside one, as `tokio::spawn` does).
    pub fn start(opts: SimOptions) -> Simulation {
        let cluster = Arc::new(cluster::Cluster::new(opts.seed, opts.watch_history));
        let logs = Arc::new(logs::LogStore::default());
        let requests = Arc::new(http::RequestLog::default());
        let app = Arc::new(http::App {
            cluster: cluster.clone(),
            logs: logs.clone(),
            fault_dice: crate::faults::FaultDice::new(opts.faults.seed),
            faults: opts.faults,
            token: TOKEN.into(),
            server_address: "in-process".into(),
            requests: requests.clone(),
            // The in-process user is the admin; no ServiceAccount tokens are issued here.
            tokens: Arc::new(crate::rbac::Tokens::default()),
        });
        controllers::spawn(cluster.clone(), logs, opts.timing);
        Simulation {
            cluster,
            requests,
            router: http::router(app),
            auth: axum::http::HeaderValue::from_static("Bearer kube-testserver-in-process"),
        }
    }

    /// Answer one request as the server would (authenticated as the server's one user).
    /// The request's URI needs only a path and query.
    pub fn call<B>(
        &self,
        req: axum::http::Request<B>,
    ) -> impl std::future::Future<Output = axum::http::Response<Body>> + Send + 'static
    where
        B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use tower_service::Service as _;
        let (mut parts, body) = req.into_parts();
        parts
            .headers
            .insert(axum::http::header::AUTHORIZATION, self.auth.clone());
        let req = axum::http::Request::from_parts(parts, Body::new(body));
        let mut router = self.router.clone();
        async move {
            match router.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    }

    /// The stored object of `group`/`plural` named `name` in `namespace`, as JSON.
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        self.cluster.peek(group, plural, namespace, name)
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.snapshot()
    }

    pub fn clear_requests(&self) {
        self.requests.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn answers_in_process_and_its_controllers_run_on_the_callers_clock() {
        let sim = Simulation::start(SimOptions::default());
        let job = serde_json::json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "slow", "namespace": "default"},
            "spec": {"template": {
                "metadata": {"annotations": {"kubes.test/script": "attempts:\n- run_ms: 600000\n"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}});
        let req = axum::http::Request::post("/apis/batch/v1/namespaces/default/jobs")
            .header("content-type", "application/json")
            .body(Body::from(job.to_string()))
            .unwrap();
        let resp = sim.call(req).await;
        assert_eq!(resp.status(), 201);
        let wall = std::time::Instant::now();
        tokio::time::sleep(std::time::Duration::from_secs(601)).await;
        let done = sim
            .object("batch", "jobs", Some("default"), "slow")
            .unwrap();
        assert_eq!(done["status"]["succeeded"], 1, "{done}");
        assert!(wall.elapsed() < std::time::Duration::from_secs(5));
        assert!(sim
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/jobs")));
    }
}
