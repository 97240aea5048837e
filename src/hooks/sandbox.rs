//! The sandbox of one hook run: a WASI context that gives the guest nothing of the host (no
//! preopened directories unless `read_output`, no environment, no arguments but the hook's
//! name, no sockets or name lookup, an empty stdin), stdout/stderr captured line by line, and
//! a memory limiter that records when the cap was hit so the failure can say so.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::output::{HookReporter, OutputKind};

/// Where `.kubes/output` appears inside the guest when `read_output: true`.
pub const OUTPUT_GUEST_DIR: &str = "/output";

/// A line longer than this is cut and printed in pieces, so a guest that never prints a
/// newline cannot grow the host's buffer without bound.
const MAX_LINE: usize = 16 * 1024;

/// How much of a run's output (stdout, stderr and `log` messages together) is printed; what
/// goes beyond is counted and said once, so a hook cannot flood the deploy log (or a CI
/// system's log store) without end.
#[derive(Debug)]
pub struct OutputBudget {
    limit: u64,
    used: AtomicU64,
    dropped: AtomicU64,
    said: AtomicBool,
}

impl OutputBudget {
    pub fn new(limit: u64) -> Self {
        OutputBudget {
            limit,
            used: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            said: AtomicBool::new(false),
        }
    }

    /// Whether a line of `len` bytes may still be printed; the first refusal is announced.
    pub fn admit(&self, hook: &str, len: usize, reporter: &dyn HookReporter) -> bool {
        let len = len as u64 + 1;
        let used = self.used.fetch_add(len, Ordering::Relaxed) + len;
        if used <= self.limit {
            return true;
        }
        self.dropped.fetch_add(len, Ordering::Relaxed);
        if !self.said.swap(true, Ordering::Relaxed) {
            reporter.note(&format!(
                "[{hook}] output limit of {} bytes reached: the rest of this run's output is not printed (raise `limits: {{output: ...}}` for this hook)",
                self.limit
            ));
        }
        false
    }

    /// Say how much was not printed, once the run is over.
    pub fn report(&self, hook: &str, reporter: &dyn HookReporter) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            reporter.note(&format!(
                "[{hook}] {dropped} bytes of output were not printed"
            ));
        }
    }
}

/// Build the WASI context for one run. Returns the two captured streams so the engine can
/// print a last unterminated line when the run ends.
pub fn wasi_context(
    hook: &str,
    reporter: Arc<dyn HookReporter>,
    read_output: Option<&Path>,
    budget: Arc<OutputBudget>,
) -> anyhow::Result<(WasiCtx, CapturedStream, CapturedStream)> {
    let stdout =
        CapturedStream::with_budget(hook, OutputKind::Stdout, reporter.clone(), budget.clone());
    let stderr = CapturedStream::with_budget(hook, OutputKind::Stderr, reporter, budget);
    let mut b = WasiCtxBuilder::new();
    // Default stdin is empty; default env and preopens are none. Sockets are denied
    // explicitly: the defaults allow them (with an address check that allows nothing, but
    // name lookup would still reach the host resolver).
    b.stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg(hook)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .monotonic_clock(RuntimeClock::default());
    if let Some(dir) = read_output {
        b.preopened_dir(dir, OUTPUT_GUEST_DIR, FsPerms::ReadOnly)?;
    }
    Ok((b.build(), stdout, stderr))
}

/// The guest's monotonic clock, read from the runtime's clock (tokio's): the real one in a
/// deploy, the simulated one under `kubes hooks test` (paused time), where the guest's
/// timers (`subscribe-instant`, `subscribe-duration`) already run. A hook that computes its
/// deadline from `now()` then times out in simulated time like the rest of the run.
struct RuntimeClock {
    origin: tokio::time::Instant,
}

impl Default for RuntimeClock {
    fn default() -> Self {
        RuntimeClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl wasmtime_wasi::HostMonotonicClock for RuntimeClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A guest output stream: bytes are split into lines, each handed to the reporter with the
/// hook's name. Clones share the partial-line buffer.
#[derive(Clone)]
pub struct CapturedStream {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    hook: String,
    kind: OutputKind,
    reporter: Arc<dyn HookReporter>,
    pending: Vec<u8>,
    budget: Arc<OutputBudget>,
}

impl LineBuffer {
    fn emit(&self, bytes: &[u8]) {
        if !self.budget.admit(&self.hook, bytes.len(), &*self.reporter) {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        self.reporter
            .hook_line(&self.hook, self.kind, text.trim_end_matches('\r'));
    }

    fn write(&mut self, mut buf: &[u8]) {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                self.emit(&buf[..pos]);
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(&buf[..pos]);
                self.emit(&line);
            }
            buf = &buf[pos + 1..];
        }
        self.pending.extend_from_slice(buf);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            let line = std::mem::replace(&mut self.pending, rest);
            self.emit(&line);
        }
    }
}

impl CapturedStream {
    /// A stream with no output limit of its own (tests).
    pub fn new(hook: &str, kind: OutputKind, reporter: Arc<dyn HookReporter>) -> Self {
        Self::with_budget(hook, kind, reporter, Arc::new(OutputBudget::new(u64::MAX)))
    }

    pub fn with_budget(
        hook: &str,
        kind: OutputKind,
        reporter: Arc<dyn HookReporter>,
        budget: Arc<OutputBudget>,
    ) -> Self {
        CapturedStream {
            inner: Arc::new(Mutex::new(LineBuffer {
                hook: hook.to_string(),
                kind,
                reporter,
                pending: Vec::new(),
                budget,
            })),
        }
    }

    /// Print what is left without a trailing newline.
    pub fn finish(&self) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !b.pending.is_empty() {
            let line = std::mem::take(&mut b.pending);
            b.emit(&line);
        }
    }
}

impl IsTerminal for CapturedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CapturedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Caps the hook's linear memory, all of its memories together (a component may have
/// several: a Python one does), and table growth; remembers a refused growth so the engine
/// can report "memory cap hit" instead of a bare trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub cap: u64,
    /// The total a refused growth asked for.
    pub refused: Option<u64>,
    /// Bytes of linear memory granted so far, over every memory of the store.
    used: u64,
    /// What the last permitted growth added, taken back if the growth then fails.
    last_growth: u64,
}

impl MemoryLimiter {
    pub fn new(cap: u64) -> Self {
        MemoryLimiter {
            cap,
            refused: None,
            used: 0,
            last_growth: 0,
        }
    }
}

/// Tables hold function references; a hook has no business with millions of them.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl ResourceLimiter for MemoryLimiter {
    // Called for a memory's creation too (current 0), so `used` counts every memory.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = (desired as u64).saturating_sub(current as u64);
        let total = self.used.saturating_add(growth);
        if total > self.cap {
            self.refused = Some(total);
            // An error (not `false`) traps at once: a guest allocator would otherwise turn
            // the refusal into an abort with a less helpful message.
            wasmtime::bail!("memory cap of {} bytes hit (wanted {total})", self.cap);
        }
        self.used = total;
        self.last_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used -= std::mem::take(&mut self.last_growth);
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::output::MemoryReporter;

    #[test]
    fn the_memory_cap_counts_every_memory_of_the_hook_together() {
        let mib = 1 << 20;
        let mut l = MemoryLimiter::new(64 * mib);
        // Two memories created at 30 MiB each: 60 MiB in all, under the cap.
        assert!(l.memory_growing(0, 30 * mib as usize, None).unwrap());
        assert!(l.memory_growing(0, 30 * mib as usize, None).unwrap());
        // Growing the first by 5 MiB would make 65 MiB: refused, though 35 MiB < 64 MiB alone.
        let err = l.memory_growing(30 * mib as usize, 35 * mib as usize, None);
        assert!(err.is_err());
        assert_eq!(l.refused, Some(65 * mib));
    }

    #[test]
    fn a_growth_that_fails_elsewhere_is_not_counted() {
        let mib = 1 << 20;
        let mut l = MemoryLimiter::new(64 * mib);
        assert!(l.memory_growing(0, 40 * mib as usize, None).unwrap());
        assert!(l
            .memory_growing(40 * mib as usize, 60 * mib as usize, None)
            .unwrap());
        l.memory_grow_failed(wasmtime::Error::msg("maximum exceeded"))
            .unwrap();
        // Back at 40 MiB: 20 more fit again.
        assert!(l
            .memory_growing(40 * mib as usize, 60 * mib as usize, None)
            .unwrap());
        assert_eq!(l.refused, None);
    }

    #[test]
    fn output_is_split_into_prefixed_lines() {
        let mem = MemoryReporter::new();
        let s = CapturedStream::new("h", OutputKind::Stdout, Arc::new(mem.clone()));
        s.inner.lock().unwrap().write(b"one\ntw");
        s.inner.lock().unwrap().write(b"o\r\nthree");
        assert_eq!(mem.lines(), vec!["[h] one", "[h] two"]);
        s.finish();
        assert_eq!(mem.lines(), vec!["[h] one", "[h] two", "[h] three"]);
    }

    #[test]
    fn output_beyond_the_budget_is_counted_not_printed() {
        let mem = MemoryReporter::new();
        let budget = Arc::new(OutputBudget::new(10));
        let s = CapturedStream::with_budget(
            "h",
            OutputKind::Stdout,
            Arc::new(mem.clone()),
            budget.clone(),
        );
        s.inner.lock().unwrap().write(b"12345\n123\nabcdef\nxyz\n");
        budget.report("h", &mem);
        let lines = mem.lines();
        assert_eq!(lines[0], "[h] 12345");
        assert_eq!(lines[1], "[h] 123");
        assert!(
            lines[2].contains("output limit of 10 bytes reached"),
            "{lines:?}"
        );
        assert_eq!(lines[3], "[h] 11 bytes of output were not printed");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn endless_lines_are_cut() {
        let mem = MemoryReporter::new();
        let s = CapturedStream::new("h", OutputKind::Stderr, Arc::new(mem.clone()));
        s.inner.lock().unwrap().write(&vec![b'x'; MAX_LINE * 2 + 5]);
        assert_eq!(mem.lines().len(), 2);
        s.finish();
        assert_eq!(mem.lines().len(), 3);
        assert_eq!(mem.lines()[2], "[h] xxxxx");
    }
}
