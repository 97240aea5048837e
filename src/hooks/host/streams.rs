//! The host objects behind the WIT stream resources (`watcher`, `log-stream`, `job-progress`,
//! `rollout-progress`): a background task
//! feeds items into a bounded channel; the guest waits on a `wasi:io/poll` pollable and takes
//! items without blocking. Dropping the resource (or the whole store, at the deadline)
//! aborts the task, so nothing outlives the hook run.
//!
//! What a run's streams hold is bounded by its [`StreamBudget`]: how many may be open at
//! once, and how many bytes all of them together may buffer ahead of the guest. A producer
//! takes bytes from the budget before it queues an item and the guest gives them back by
//! taking it, so a hook that opens watches and never reads them pauses them instead of
//! growing the host's memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use super::bindings::kubes::hook::cluster::WatchEvent;
use super::ClusterError;

/// Items buffered ahead of the guest; the producer waits when the guest is slow.
pub const FEED_BUFFER: usize = 256;

/// The streams of one run against its limits.
#[derive(Clone, Debug)]
pub struct StreamBudget {
    open: Arc<AtomicUsize>,
    max_open: usize,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
    /// Held by a stream while it holds a fetched list page not yet within the byte budget,
    /// so at most one such page exists per run, however many watches start at once.
    page: Arc<tokio::sync::Mutex<()>>,
}

impl StreamBudget {
    pub fn new(limits: &crate::hooks::limits::HookLimits) -> Self {
        let max_bytes = usize::try_from(limits.stream_buffer)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        StreamBudget {
            open: Arc::new(AtomicUsize::new(0)),
            max_open: limits.streams,
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_bytes,
            page: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Take the run's page turn (see the `page` field).
    pub async fn page_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.page.clone().lock_owned().await
    }

    /// A slot for one more stream, or why not.
    pub fn open(&self) -> Result<OpenSlot, ClusterError> {
        let n = self.open.fetch_add(1, Ordering::SeqCst);
        if n >= self.max_open {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err(ClusterError::Invalid(format!(
                "this hook already has {} watches and log streams open, the limit (drop one first, or raise `limits: {{streams: N}}`)",
                self.max_open
            )));
        }
        Ok(OpenSlot(self.open.clone()))
    }

    /// Wait until `len` bytes fit in the buffer budget; they are given back when the permit
    /// (carried with the item) is dropped. An item larger than the whole budget is an error.
    pub async fn reserve(&self, len: usize) -> Result<OwnedSemaphorePermit, ClusterError> {
        let len = len.max(1);
        if len > self.max_bytes {
            return Err(ClusterError::Other(format!(
                "an item of {len} bytes is larger than the stream buffer limit of {} bytes (raise `limits: {{stream_buffer: ...}}`)",
                self.max_bytes
            )));
        }
        let permits =
            u32::try_from(len).map_err(|_| ClusterError::Other("item too large".into()))?;
        self.bytes
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| ClusterError::Other("the stream budget was closed".into()))
    }

    /// Bytes currently buffered over all streams of the run.
    pub fn buffered(&self) -> usize {
        self.max_bytes - self.bytes.available_permits()
    }
}

/// One open stream, counted against [`StreamBudget`] until dropped.
#[derive(Debug)]
pub struct OpenSlot(Arc<AtomicUsize>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What travels through a feed: an item (or an error) and the buffer bytes it holds.
pub type Fed<T> = (Result<T, ClusterError>, Option<OwnedSemaphorePermit>);

/// The producer side of a feed: queues items within the run's buffer budget.
pub struct FeedSender<T> {
    tx: mpsc::Sender<Fed<T>>,
    budget: StreamBudget,
}

impl<T: Send + 'static> FeedSender<T> {
    /// Queue an item of `len` bytes, waiting for budget and room; false when the guest has
    /// dropped the stream (the producer should stop).
    pub async fn send(&self, item: T, len: usize) -> bool {
        match self.budget.reserve(len).await {
            Ok(permit) => self.tx.send((Ok(item), Some(permit))).await.is_ok(),
            Err(e) => {
                let _ = self.tx.send((Err(e), None)).await;
                false
            }
        }
    }

    /// The run's budget, for a producer that takes its page turn.
    pub fn budget(&self) -> &StreamBudget {
        &self.budget
    }

    /// Queue an error (it holds no buffer).
    pub async fn fail(&self, e: ClusterError) {
        let _ = self.tx.send((Err(e), None)).await;
    }
}

/// What a feed yields to `try-next`.
pub enum Next<T> {
    Item(T),
    Failed(ClusterError),
    Pending,
    End,
}

/// A channel fed by a background task, readable without blocking.
pub struct Feed<T: Send + 'static> {
    rx: mpsc::Receiver<Fed<T>>,
    /// An item (or the end, as `None`) taken while waiting for readiness.
    peeked: Option<Option<Fed<T>>>,
    task: Option<AbortHandle>,
    _slot: Option<OpenSlot>,
}

impl<T: Send + 'static> Feed<T> {
    /// A feed holding one of the run's stream slots, and the sender its producer writes to.
    pub fn channel(slot: OpenSlot, budget: &StreamBudget) -> (Self, FeedSender<T>) {
        let (tx, rx) = mpsc::channel(FEED_BUFFER);
        (
            Feed {
                rx,
                peeked: None,
                task: None,
                _slot: Some(slot),
            },
            FeedSender {
                tx,
                budget: budget.clone(),
            },
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
        // The item's buffer bytes go back to the budget here, as the guest takes it.
        match item {
            Some((Ok(v), _permit)) => Next::Item(v),
            Some((Err(e), _)) => Next::Failed(e),
            None => Next::End,
        }
    }

    /// Wait until an item (or the end) is there to take.
    pub async fn wait(&mut self) {
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

/// A host resource backed by a feed: its `subscribe` waits on the feed and its `try-next`
/// takes from it ([`try_next`]).
pub trait FeedResource: Send + 'static {
    type Item: Send + 'static;
    fn feed(&mut self) -> &mut Feed<Self::Item>;
}

/// A WIT `*-item` variant: an item, `pending` or `end`.
pub trait WitItem<T> {
    fn item(v: T) -> Self;
    fn pending() -> Self;
    fn end() -> Self;
}

/// A feed-backed resource type (`$res(pub Feed<$item>)`), pollable, whose `try-next`
/// answers `$wit` (its item variant `$variant`).
macro_rules! feed_resource {
    ($res:ident, $item:ty, $wit:ty, $variant:ident) => {
        pub struct $res(pub $crate::hooks::host::streams::Feed<$item>);

        impl $crate::hooks::host::streams::FeedResource for $res {
            type Item = $item;
            fn feed(&mut self) -> &mut $crate::hooks::host::streams::Feed<$item> {
                &mut self.0
            }
        }

        #[wasmtime_wasi::async_trait]
        impl wasmtime_wasi::p2::Pollable for $res {
            async fn ready(&mut self) {
                self.0.wait().await
            }
        }

        impl $crate::hooks::host::streams::WitItem<$item> for $wit {
            fn item(v: $item) -> Self {
                <$wit>::$variant(v)
            }
            fn pending() -> Self {
                <$wit>::Pending
            }
            fn end() -> Self {
                <$wit>::End
            }
        }
    };
}
pub(crate) use feed_resource;

/// `try-next` of any feed-backed resource: the next item, `pending`, `end`, or the error
/// the producer ended with.
pub fn try_next<R: FeedResource, I: WitItem<R::Item>>(
    table: &mut wasmtime::component::ResourceTable,
    this: &wasmtime::component::Resource<R>,
) -> super::CallResult<I> {
    Ok(match table.get_mut(this)?.feed().try_next() {
        Next::Item(v) => Ok(I::item(v)),
        Next::Failed(e) => Err(e),
        Next::Pending => Ok(I::pending()),
        Next::End => Ok(I::end()),
    })
}

feed_resource!(
    WatchStream,
    WatchEvent,
    super::bindings::kubes::hook::cluster::WatchItem,
    Event
);

// The host side of `log-stream`: lines without their newline.
feed_resource!(
    LogStream,
    String,
    super::bindings::kubes::hook::cluster::LogItem,
    Line
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::limits::HookLimits;

    fn budget(streams: usize, bytes: u64) -> StreamBudget {
        StreamBudget::new(&HookLimits {
            streams,
            stream_buffer: bytes,
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn feed_reports_pending_items_and_end() {
        let b = budget(4, 1024);
        let (mut feed, tx) = Feed::<String>::channel(b.open().unwrap(), &b);
        assert!(matches!(feed.try_next(), Next::Pending));
        assert!(tx.send("a".into(), 1).await);
        tx.fail(ClusterError::Timeout).await;
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

    #[tokio::test]
    async fn streams_are_counted_and_freed() {
        let b = budget(2, 1024);
        let s1 = b.open().unwrap();
        let _s2 = b.open().unwrap();
        assert!(matches!(b.open(), Err(ClusterError::Invalid(m)) if m.contains("limit")));
        drop(s1);
        assert!(b.open().is_ok());
    }

    #[tokio::test]
    async fn an_unread_feed_pauses_its_producer_at_the_byte_budget() {
        let b = budget(4, 100);
        let (mut feed, tx) = Feed::<String>::channel(b.open().unwrap(), &b);
        assert!(tx.send("x".repeat(60), 60).await);
        // The next 60 bytes do not fit: the producer waits...
        let blocked = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            tx.send("y".repeat(60), 60),
        )
        .await;
        assert!(blocked.is_err(), "the producer should wait for budget");
        assert_eq!(b.buffered(), 60);
        // ...until the guest takes the first item.
        assert!(matches!(feed.try_next(), Next::Item(_)));
        assert_eq!(b.buffered(), 0);
        assert!(tx.send("y".repeat(60), 60).await);
        // An item larger than the whole budget is an error, not a wait.
        assert!(!tx.send("z".repeat(200), 200).await);
        assert!(matches!(feed.try_next(), Next::Item(_)));
        assert!(matches!(feed.try_next(), Next::Failed(_)));
    }
}
