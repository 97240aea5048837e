//! `kube-testserver --listen 127.0.0.1:0 --kubeconfig PATH`: serve until killed.

use anyhow::Context as _;
use clap::Parser;
use kube_testserver::{Faults, Options, TestServer};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A test Kubernetes API server on loopback, for kubectl and kube-rs.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the kubeconfig.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Bearer token clients must send.
    #[arg(long, default_value = "kube-testserver-token")]
    token: String,
    /// Seed for generated names and uids.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Added latency per resource request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction of resource requests answered 429 Too Many Requests.
    #[arg(long, default_value = "0", value_parser = Faults::parse_rate)]
    rate_429: f64,
    /// Fraction answered 500 Internal Server Error.
    #[arg(long, default_value = "0", value_parser = Faults::parse_rate)]
    rate_500: f64,
    /// Fraction answered 503 Service Unavailable.
    #[arg(long, default_value = "0", value_parser = Faults::parse_rate)]
    rate_503: f64,
    /// Close watch streams after this many events.
    #[arg(long)]
    drop_watch_after: Option<usize>,
    /// Close log streams after this many lines.
    #[arg(long)]
    drop_logs_after: Option<usize>,
    /// Compact the history past a watch that is cut (its resume is answered 410).
    #[arg(long)]
    compact_on_watch_drop: bool,
    /// Pass each line of a followed log on this many milliseconds late.
    #[arg(long, default_value_t = 0)]
    log_lag_ms: u64,
    /// Seed of the fault decisions.
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Serve plain http instead of https. kube-rs still sends the token; kubectl never
    /// sends tokens over http, so it cannot authenticate then.
    #[arg(long)]
    plain_http: bool,
    /// Watch events kept for resuming; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
    /// Multiplier of Kubernetes' real back-offs (Job retries, CrashLoopBackOff, image
    /// pulls); 1 is real time, the default 0.001 makes 10 s into 10 ms.
    #[arg(long, default_value_t = 0.001, value_parser = parse_scale)]
    backoff_scale: f64,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a non-negative number, found {s:?}")),
    }
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let opts = Options {
        listen: a.listen,
        token: a.token,
        kubeconfig_path: Some(a.kubeconfig),
        seed: a.seed,
        watch_history: a.watch_history,
        tls: !a.plain_http,
        faults: Faults {
            latency: Duration::from_millis(a.latency_ms),
            rate_429: a.rate_429,
            rate_500: a.rate_500,
            rate_503: a.rate_503,
            drop_watch_after: a.drop_watch_after,
            drop_logs_after: a.drop_logs_after,
            compact_on_watch_drop: a.compact_on_watch_drop,
            log_lag: Duration::from_millis(a.log_lag_ms),
            seed: a.fault_seed,
        },
        timing: kube_testserver::controllers::Timing {
            backoff_scale: a.backoff_scale,
            ..Default::default()
        },
    };
    let srv = TestServer::start_blocking(opts).context("starting kube-testserver")?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", srv.url())?;
    out.flush()?;
    // Whoever reads the first line may close the pipe afterwards: later notes go to stderr.
    eprintln!("kubeconfig written to {}", srv.kubeconfig_path().display());
    // Serve until killed (SIGTERM/SIGINT end the process; the OS closes the socket).
    loop {
        std::thread::park();
    }
}
