//! Interruption of a run (Ctrl-C, SIGTERM): one flag set once by whoever catches the signal
//! (the CLI), seen by every part of the run through its [`super::Cluster`]: the walks stop
//! before the next file and drop the one in flight, the hook engine traps running wasm at the
//! next epoch tick and drops a waiting host call (a watch) at once.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A run's interruption: cheap to clone, all clones share one flag.
#[derive(Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    set: AtomicBool,
    /// The signal that interrupted the run (0: none yet, or not a signal).
    signal: AtomicI32,
    notify: Notify,
}

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Interrupt the run, by signal `signal` (e.g. `libc::SIGINT`). Only the first call
    /// counts.
    pub fn trigger(&self, signal: i32) {
        if !self.inner.set.swap(true, Ordering::SeqCst) {
            self.inner.signal.store(signal, Ordering::SeqCst);
        }
        self.inner.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// The signal that interrupted the run, once it is interrupted.
    pub fn signal(&self) -> Option<i32> {
        self.is_set()
            .then(|| self.inner.signal.load(Ordering::SeqCst))
    }

    /// The signal's name (`SIGINT`, `SIGTERM`), or `interrupt`.
    pub fn signal_name(&self) -> &'static str {
        match self.signal() {
            Some(libc::SIGINT) => "SIGINT",
            Some(libc::SIGTERM) => "SIGTERM",
            _ => "interrupt",
        }
    }

    /// Resolves once the run is interrupted (at once if it already is).
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before looking at the flag, so a trigger in between is not missed.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }

    /// `fut`, unless the run is interrupted first (`None`; `fut` is dropped, which cancels
    /// what it was doing).
    pub async fn or_interrupted<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        if self.is_set() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.wait() => None,
            v = fut => Some(v),
        }
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("set", &self.is_set())
            .field("signal", &self.signal())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Interrupt;
    use std::time::Duration;

    #[tokio::test]
    async fn a_trigger_wakes_waiters_and_cancels_the_raced_future() {
        let i = Interrupt::new();
        let j = i.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            j.trigger(libc::SIGTERM);
        });
        let r = i
            .or_interrupted(tokio::time::sleep(Duration::from_secs(30)))
            .await;
        assert!(r.is_none());
        assert_eq!(i.signal(), Some(libc::SIGTERM));
        assert_eq!(i.signal_name(), "SIGTERM");
        // Only the first signal counts; later waits return at once.
        i.trigger(libc::SIGINT);
        assert_eq!(i.signal(), Some(libc::SIGTERM));
        i.wait().await;
        assert_eq!(Interrupt::new().or_interrupted(async { 7 }).await, Some(7));
    }
}
