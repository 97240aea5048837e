//! Record and replay: `kubes deploy --record FILE` gives each hook run a connection that
//! writes down every API request the run caused (the hook's own calls and what the host
//! did for it: discovery, watches, log streams) with its answer, chunk by chunk with the
//! time it came; `kubes hooks test --replay FILE` runs the hook again with a connection
//! that answers from the recording, on paused time, so a failure seen on a real cluster is
//! reproduced on a laptop. The recording is taken at the HTTP layer under the host adapter,
//! so the host code (following a Job, its retries) is replayed too, not just the hook's.
//!
//! Bounded: at most [`MAX_BODY`] bytes of any one answer and [`MAX_TOTAL`] bytes in all are
//! kept; beyond that the recording says it was cut.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, RetryConfig};
use crate::hooks::Grant;
use crate::lifecycle::{Step, When};

/// The format version written into every recording.
pub const FORMAT: u32 = 1;
/// Most bytes of one answer kept.
pub const MAX_BODY: usize = 4 << 20;
/// Most bytes kept over the whole recording.
pub const MAX_TOTAL: usize = 64 << 20;

/// A recording file: the hook runs of one deploy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recording {
    pub kubes_recording: u32,
    pub hooks: Vec<HookRecording>,
}

/// One hook run: how it was invoked, how it ended, every exchange it caused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookRecording {
    pub hook: String,
    /// The module as hooks.yaml names it (relative to the project).
    pub module: PathBuf,
    pub digest: String,
    pub when: When,
    pub step: Step,
    pub target: Option<RecordedTarget>,
    pub app: String,
    pub env: String,
    pub namespace: String,
    pub dry_run: bool,
    pub config_json: String,
    pub timeout_ms: u64,
    pub memory: u64,
    pub grants: Vec<Grant>,
    /// `ok`, or the hook's error as the deploy reported it.
    pub outcome: String,
    pub exchanges: Vec<Exchange>,
    /// Set when the bounds cut the recording short.
    #[serde(default)]
    pub truncated: bool,
}

impl HookRecording {
    /// `after apply`: the lifecycle point it ran at.
    pub fn point(&self) -> crate::lifecycle::Point {
        crate::lifecycle::Point {
            when: self.when,
            step: self.step,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedTarget {
    pub role: String,
    pub kind: String,
    /// `[apiVersion, kind, name, namespace]` of each object.
    pub objects: Vec<[String; 4]>,
}

/// One request and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub status: u16,
    /// When the request was sent, from the start of the run.
    pub at_ms: u64,
    /// The answer's body as it came, each piece with its time after the request.
    pub chunks: Vec<Chunk>,
    /// Whether the answer ended (a watch still open when the run ended did not).
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    pub after_ms: u64,
    pub data: String,
}

/// The exchanges of one run as they are recorded.
#[derive(Clone, Default)]
pub struct Tape {
    inner: Arc<Mutex<TapeState>>,
}

#[derive(Default)]
struct TapeState {
    exchanges: Vec<Exchange>,
    bytes: usize,
    truncated: bool,
}

impl Tape {
    fn lock(&self) -> std::sync::MutexGuard<'_, TapeState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything recorded, and whether the bounds cut it.
    pub fn take(&self) -> (Vec<Exchange>, bool) {
        let mut s = self.lock();
        (std::mem::take(&mut s.exchanges), s.truncated)
    }

    fn start(&self, e: Exchange) -> Option<usize> {
        let mut s = self.lock();
        let size = e.uri.len() + e.body.as_ref().map_or(0, String::len);
        if s.bytes + size > MAX_TOTAL {
            s.truncated = true;
            return None;
        }
        s.bytes += size;
        s.exchanges.push(e);
        Some(s.exchanges.len() - 1)
    }

    fn chunk(&self, i: usize, after: Duration, data: &[u8], kept: &mut usize) {
        let mut s = self.lock();
        if *kept + data.len() > MAX_BODY || s.bytes + data.len() > MAX_TOTAL {
            s.truncated = true;
            return;
        }
        *kept += data.len();
        s.bytes += data.len();
        s.exchanges[i].chunks.push(Chunk {
            after_ms: after.as_millis() as u64,
            data: String::from_utf8_lossy(data).into_owned(),
        });
    }

    fn complete(&self, i: usize) {
        self.lock().exchanges[i].complete = true;
    }
}

/// A connection like `cluster`'s (its client, retries and interrupt) that records every
/// exchange on `tape`.
pub fn recording(cluster: &Cluster, tape: Tape) -> Cluster {
    let client = cluster.client().clone();
    let origin = tokio::time::Instant::now();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (client, tape) = (client.clone(), tape.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect_bytes().await?;
            let sent = tokio::time::Instant::now();
            let index = tape.start(Exchange {
                method: parts.method.to_string(),
                uri: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
                status: 0,
                at_ms: sent.duration_since(origin).as_millis() as u64,
                chunks: Vec::new(),
                complete: false,
            });
            let req = http::Request::from_parts(parts, kube::client::Body::from(body));
            let resp = client.send(req).await?;
            let (parts, body) = resp.into_parts();
            let Some(i) = index else {
                return Ok::<_, kube::Error>(http::Response::from_parts(
                    parts,
                    body.boxed_unsync(),
                ));
            };
            tape.lock().exchanges[i].status = parts.status.as_u16();
            let mut kept = 0usize;
            let on_data = tape.clone();
            let frames = http_body_util::BodyStream::new(body)
                .inspect(move |frame| {
                    if let Some(d) = frame.as_ref().ok().and_then(|f| f.data_ref()) {
                        on_data.chunk(i, sent.elapsed(), d, &mut kept);
                    }
                })
                // Polled only once the answer has ended.
                .chain(
                    futures::stream::once(async move { tape.complete(i) })
                        .filter_map(|()| async { None }),
                );
            Ok(http::Response::from_parts(
                parts,
                http_body_util::StreamBody::new(frames).boxed_unsync(),
            ))
        }
    });
    let recorded = Cluster::over_service(
        service,
        cluster.default_namespace(),
        RetryConfig {
            // The wrapped client retries already.
            max_retries: 0,
            ..Default::default()
        },
    );
    recorded.set_interrupt(cluster.interrupt().clone());
    recorded
}

/// Where `kubes deploy --record` writes: the hook runs so far, the file rewritten after each
/// one (so a deploy that fails or is interrupted still leaves its recording).
pub struct Recorder {
    path: PathBuf,
    recording: Mutex<Recording>,
}

impl Recorder {
    /// Check the file can be written before the deploy starts.
    pub fn create(path: &Path) -> anyhow::Result<Recorder> {
        let r = Recorder {
            path: path.to_path_buf(),
            recording: Mutex::new(Recording {
                kubes_recording: FORMAT,
                hooks: Vec::new(),
            }),
        };
        r.write()?;
        Ok(r)
    }

    pub fn push(&self, run: HookRecording) -> anyhow::Result<()> {
        self.recording
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .hooks
            .push(run);
        self.write()
    }

    fn write(&self) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let text = serde_json::to_vec(&*self.recording.lock().unwrap_or_else(|e| e.into_inner()))?;
        std::fs::write(&self.path, text)
            .with_context(|| format!("writing the recording {}", self.path.display()))
    }
}

/// Read a recording file.
pub fn load(path: &Path) -> anyhow::Result<Recording> {
    use anyhow::Context as _;
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let r: Recording = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: {e} (expected a recording written by `kubes deploy --record`)",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if r.kubes_recording != FORMAT {
        anyhow::bail!(
            "{}: recording format {} (this kubes reads format {FORMAT})",
            path.display(),
            r.kubes_recording
        );
    }
    Ok(r)
}

/// A request the replay had no recorded answer for, with the recorded request nearest to it.
#[derive(Debug, Clone)]
pub struct Difference {
    pub request: String,
    pub recorded: Option<String>,
    /// How many times in a row the replay asked it (a host retrying).
    pub times: u32,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the replay asked {}", self.request)?;
        if self.times > 1 {
            write!(f, " ({} times)", self.times)?;
        }
        match &self.recorded {
            Some(r) => write!(f, "; the recording has {r}"),
            None => write!(f, "; the recording has no request left"),
        }
    }
}

fn describe(method: &str, uri: &str, body: Option<&str>) -> String {
    match body {
        Some(b) => {
            let short: String = b.chars().take(200).collect();
            format!("{method} {uri} with body {short}")
        }
        None => format!("{method} {uri}"),
    }
}

/// Answers requests from one hook run's exchanges: each request takes the first unused
/// exchange with the same method, path, query and body, and its answer comes chunk by chunk
/// at the recorded times (an answer that had not ended stays open). A request with none is
/// answered 500 and kept as a [`Difference`].
#[derive(Clone)]
pub struct Replayer {
    inner: Arc<Mutex<ReplayState>>,
}

struct ReplayState {
    unused: VecDeque<Exchange>,
    differences: Vec<Difference>,
}

impl Replayer {
    pub fn new(exchanges: Vec<Exchange>) -> Replayer {
        Replayer {
            inner: Arc::new(Mutex::new(ReplayState {
                unused: exchanges.into(),
                differences: Vec::new(),
            })),
        }
    }

    pub fn differences(&self) -> Vec<Difference> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .differences
            .clone()
    }

    /// Recorded requests the replay did not make.
    pub fn unused(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unused
            .len()
    }

    fn answer(&self, method: &str, uri: &str, body: Option<&str>) -> Option<Exchange> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = s
            .unused
            .iter()
            .position(|e| e.method == method && e.uri == uri && e.body.as_deref() == body)
        {
            return s.unused.remove(i);
        }
        let path = uri.split('?').next().unwrap_or(uri);
        let nearest = s
            .unused
            .iter()
            .find(|e| e.method == method && e.uri.split('?').next() == Some(path))
            .or_else(|| s.unused.front())
            .map(|e| describe(&e.method, &e.uri, e.body.as_deref()));
        let request = describe(method, uri, body);
        let full = s.differences.len() >= 100;
        match s.differences.last_mut() {
            Some(last) if last.request == request => last.times += 1,
            // Bounded: a hook asking in a loop costs a counter.
            _ if full => {}
            _ => s.differences.push(Difference {
                request,
                recorded: nearest,
                times: 1,
            }),
        }
        None
    }

    /// A connection answered by this replayer (no retries: the recording has them).
    pub fn connect(&self, namespace: &str) -> Cluster {
        let me = self.clone();
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let me = me.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect_bytes().await?;
                let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
                let uri = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let Some(e) = me.answer(parts.method.as_str(), &uri, body.as_deref()) else {
                    let status = serde_json::json!({"kind": "Status", "apiVersion": "v1",
                        "status": "Failure", "code": 500, "reason": "InternalError",
                        "message": format!("replay: no recorded answer for {} {uri}", parts.method)});
                    return Ok::<_, kube::Error>(
                        http::Response::builder()
                            .status(500)
                            .header("content-type", "application/json")
                            .body(
                                http_body_util::Full::new(Bytes::from(status.to_string()))
                                    .map_err(|never| match never {})
                                    .boxed_unsync(),
                            )
                            .expect("static response parts are valid"),
                    );
                };
                let sent = tokio::time::Instant::now();
                let complete = e.complete;
                let chunks = futures::stream::iter(e.chunks).then(move |c| async move {
                    tokio::time::sleep_until(sent + Duration::from_millis(c.after_ms)).await;
                    Ok::<_, kube::Error>(http_body::Frame::data(Bytes::from(c.data)))
                });
                // An answer that was still open when the run ended stays open.
                let rest = futures::stream::once(async move {
                    if !complete {
                        std::future::pending::<()>().await;
                    }
                })
                .filter_map(|()| async { None });
                let body = http_body_util::StreamBody::new(chunks.chain(rest)).boxed_unsync();
                Ok(http::Response::builder()
                    .status(e.status)
                    .header("content-type", "application/json")
                    .body(body)
                    .expect("a recorded status is valid"))
            }
        });
        Cluster::over_service(
            service,
            namespace,
            RetryConfig {
                max_retries: 0,
                ..Default::default()
            },
        )
    }
}
