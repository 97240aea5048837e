//! The host objects behind the WIT `watcher` and `log-stream` resources: a background task
//! feeds items into a bounded channel; the guest waits on a `wasi:io/poll` pollable and takes
//! items without blocking. Dropping the resource (or the whole store, at the deadline)
//! aborts the task, so nothing outlives the hook run.

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use wasmtime_wasi::p2::Pollable;

use super::bindings::kubes::hook::cluster::WatchEvent;
use super::ClusterError;

/// Items buffered ahead of the guest; the producer waits when the guest is slow.
pub const FEED_BUFFER: usize = 256;

/// What a feed yields to `try-next`.
pub enum Next<T> {
    Item(T),
    Failed(ClusterError),
    Pending,
    End,
}

/// A channel fed by a background task, readable without blocking.
pub struct Feed<T: Send + 'static> {
    rx: mpsc::Receiver<Result<T, ClusterError>>,
    /// An item (or the end, as `None`) taken while waiting for readiness.
    peeked: Option<Option<Result<T, ClusterError>>>,
    task: Option<AbortHandle>,
}

impl<T: Send + 'static> Feed<T> {
    /// A feed and the sender its producer task writes to.
    pub fn channel() -> (Self, mpsc::Sender<Result<T, ClusterError>>) {
        let (tx, rx) = mpsc::channel(FEED_BUFFER);
        (
            Feed {
                rx,
                peeked: None,
                task: None,
            },
            tx,
        )
    }

    /// Tie the producer task's life to this feed.
    pub fn attach(&mut self, task: AbortHandle) {
        self.task = Some(task);
    }

    pub fn try_next(&mut self) -> Next<T> {
        let item = match self.peeked.take() {
            Some(item) => item,
            None => match self.rx.try_recv() {
                Ok(item) => Some(item),
                Err(mpsc::error::TryRecvError::Empty) => return Next::Pending,
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            },
        };
        match item {
            Some(Ok(v)) => Next::Item(v),
            Some(Err(e)) => Next::Failed(e),
            None => Next::End,
        }
    }

    async fn wait(&mut self) {
        if self.peeked.is_none() {
            self.peeked = Some(self.rx.recv().await);
        }
    }
}

impl<T: Send + 'static> Drop for Feed<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The host side of `watcher`.
pub struct WatchStream(pub Feed<WatchEvent>);

/// The host side of `log-stream`: lines without their newline.
pub struct LogStream(pub Feed<String>);

#[wasmtime_wasi::async_trait]
impl Pollable for WatchStream {
    async fn ready(&mut self) {
        self.0.wait().await
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {
        self.0.wait().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn feed_reports_pending_items_and_end() {
        let (mut feed, tx) = Feed::<String>::channel();
        assert!(matches!(feed.try_next(), Next::Pending));
        tx.send(Ok("a".into())).await.unwrap();
        tx.send(Err(ClusterError::Timeout)).await.unwrap();
        feed.wait().await;
        assert!(matches!(feed.try_next(), Next::Item(s) if s == "a"));
        assert!(matches!(
            feed.try_next(),
            Next::Failed(ClusterError::Timeout)
        ));
        drop(tx);
        feed.wait().await;
        assert!(matches!(feed.try_next(), Next::End));
    }
}
