//! The host side of the WIT `progress` interface (new in `kubes:hook@0.2.0`): a thin adapter
//! over [`crate::cluster::follow`]. Each call is validated and checked against the grants like
//! any cluster call; the follower runs as a background task whose events reach the guest
//! through a feed within the run's stream budget (one of its open streams, its bytes counted).

use std::time::Duration;

use tokio::sync::mpsc;
use wasmtime::component::Resource;

use super::bindings::kubes::hook::progress::{
    AttemptEnded, AttemptStarted, Host, HostJobProgress, HostRolloutProgress,
    JobEvent as WitJobEvent, JobItem, JobOptions, LogLine, Outcome, PodProblem,
    RolloutEvent as WitRolloutEvent, RolloutItem, RolloutStatus as WitRolloutStatus,
};
use super::input;
use super::streams::{feed_resource, Feed, FeedSender};
use super::HookState;
use crate::cluster::follow::{self, JobEvent, RolloutEvent, RolloutStatus};
use crate::hooks::grants::Verb;

use super::CallResult;

feed_resource!(JobProgress, WitJobEvent, JobItem, Event);
feed_resource!(RolloutProgress, WitRolloutEvent, RolloutItem, Event);

fn job_event(e: JobEvent) -> WitJobEvent {
    match e {
        JobEvent::AttemptStarted { pod, index, limit } => {
            WitJobEvent::AttemptStarted(AttemptStarted { pod, index, limit })
        }
        JobEvent::Log {
            pod,
            container,
            text,
        } => WitJobEvent::Log(LogLine {
            pod,
            container,
            text,
        }),
        JobEvent::AttemptEnded {
            pod,
            exit_code,
            reason,
            message,
            succeeded,
        } => WitJobEvent::AttemptEnded(AttemptEnded {
            pod,
            exit_code,
            reason,
            message,
            succeeded,
        }),
        JobEvent::CannotStart {
            pod,
            reason,
            message,
        } => WitJobEvent::CannotStart(PodProblem {
            pod,
            reason,
            message,
        }),
        JobEvent::LogsUnavailable {
            pod,
            reason,
            message,
        } => WitJobEvent::LogsUnavailable(PodProblem {
            pod,
            reason,
            message,
        }),
        JobEvent::Complete { reason, message } => {
            WitJobEvent::Complete(Outcome { reason, message })
        }
        JobEvent::Failed { reason, message } => WitJobEvent::Failed(Outcome { reason, message }),
    }
}

fn status(s: RolloutStatus) -> WitRolloutStatus {
    WitRolloutStatus {
        desired: s.desired,
        updated: s.updated,
        ready: s.ready,
        available: s.available,
        observed: s.observed,
    }
}

fn rollout_event(e: RolloutEvent) -> WitRolloutEvent {
    match e {
        RolloutEvent::Progress(s) => WitRolloutEvent::Progress(status(s)),
        RolloutEvent::CannotStart {
            pod,
            reason,
            message,
        } => WitRolloutEvent::CannotStart(PodProblem {
            pod,
            reason,
            message,
        }),
        RolloutEvent::Complete(s) => WitRolloutEvent::Complete(status(s)),
        RolloutEvent::Failed { reason, message } => {
            WitRolloutEvent::Failed(Outcome { reason, message })
        }
    }
}

/// A task aborted when this is dropped (dropping a `JoinHandle` only detaches it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Run a follower and hand its events to the guest's feed, within the run's stream budget.
/// The follower is its own task, so it keeps time (and sees how long it waits on a guest
/// that reads slowly) while this one waits for budget; it is aborted with this task, so
/// dropping the feed (or the run) stops it and its log readers too. A guest that does not
/// read pauses it at the budget.
async fn forward<E: Send + 'static, W: Send + 'static>(
    follower: impl std::future::Future<Output = Result<(), crate::cluster::ClusterError>>
        + Send
        + 'static,
    mut events: mpsc::Receiver<E>,
    tx: FeedSender<W>,
    to_wit: fn(E) -> W,
    size: fn(&E) -> usize,
) {
    let mut follower = AbortOnDrop(tokio::spawn(follower));
    let mut ended = None;
    loop {
        tokio::select! {
            r = &mut follower.0, if ended.is_none() => ended = Some(r),
            e = events.recv() => match e {
                Some(e) => {
                    let len = size(&e);
                    if !tx.send(to_wit(e), len).await {
                        return;
                    }
                }
                // The follower is done and its last events are handed on.
                None => break,
            },
        }
    }
    // The events closing and the follower's end come together: select! may take either
    // first, so an error it ended with is read here when the loop did not see it.
    let ended = match ended {
        Some(r) => r,
        None => (&mut follower.0).await,
    };
    if let Ok(Err(e)) = ended {
        tx.fail(super::cluster::to_wit(e)).await;
    }
}

impl HookState {
    fn namespace_or_app(&self, ns: Option<String>) -> String {
        ns.filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.host.grants.app_namespace.clone())
    }
}

impl Host for HookState {
    async fn follow_job(
        &mut self,
        name: String,
        namespace: Option<String>,
        options: JobOptions,
    ) -> CallResult<Resource<JobProgress>> {
        or_return_to_guest!(input::object_name("job", &name));
        or_return_to_guest!(input::namespace(namespace.as_deref()));
        or_return_to_guest!(input::container(options.container.as_deref()));
        let ns = self.namespace_or_app(namespace);
        or_return_to_guest!(self.authorize(Verb::Watch, "jobs.batch", Some(&name), Some(&ns)));
        or_return_to_guest!(self.authorize(Verb::Watch, "pods", None, Some(&ns)));
        if options.logs {
            // Pod names are generated: the grant must cover any pod of the namespace.
            or_return_to_guest!(self.authorize(Verb::Logs, "pods", None, Some(&ns)));
        }
        let client = or_return_to_guest!(self.cluster()).client().clone();
        let slot = or_return_to_guest!(self.host.streams.open());
        let opts = follow::JobOptions {
            logs: options.logs,
            container: options.container,
            pull_grace: Duration::from_millis(options.pull_grace_ms.into()),
        };
        let (mut feed, tx) = Feed::channel(slot, &self.host.streams);
        let task = tokio::spawn(async move {
            let (etx, erx) = mpsc::channel(64);
            let follower = async move { follow::follow_job(client, &ns, &name, opts, etx).await };
            forward(follower, erx, tx, job_event, JobEvent::size).await
        });
        feed.attach(task.abort_handle());
        Ok(Ok(self.table.push(JobProgress(feed))?))
    }

    async fn follow_rollout(
        &mut self,
        name: String,
        namespace: Option<String>,
    ) -> CallResult<Resource<RolloutProgress>> {
        or_return_to_guest!(input::object_name("deployment", &name));
        or_return_to_guest!(input::namespace(namespace.as_deref()));
        let ns = self.namespace_or_app(namespace);
        or_return_to_guest!(self.authorize(
            Verb::Watch,
            "deployments.apps",
            Some(&name),
            Some(&ns)
        ));
        or_return_to_guest!(self.authorize(Verb::Watch, "pods", None, Some(&ns)));
        let client = or_return_to_guest!(self.cluster()).client().clone();
        let slot = or_return_to_guest!(self.host.streams.open());
        let (mut feed, tx) = Feed::channel(slot, &self.host.streams);
        let task = tokio::spawn(async move {
            let (etx, erx) = mpsc::channel(64);
            let follower =
                async move { follow::follow_rollout(client, &ns, &name, true, etx).await };
            forward(follower, erx, tx, rollout_event, RolloutEvent::size).await
        });
        feed.attach(task.abort_handle());
        Ok(Ok(self.table.push(RolloutProgress(feed))?))
    }
}

impl HostJobProgress for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<JobProgress>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        wasmtime_wasi::p2::subscribe(&mut self.table, this)
    }

    async fn try_next(&mut self, this: Resource<JobProgress>) -> CallResult<JobItem> {
        super::streams::try_next(&mut self.table, &this)
    }

    async fn drop(&mut self, this: Resource<JobProgress>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl HostRolloutProgress for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<RolloutProgress>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        wasmtime_wasi::p2::subscribe(&mut self.table, this)
    }

    async fn try_next(&mut self, this: Resource<RolloutProgress>) -> CallResult<RolloutItem> {
        super::streams::try_next(&mut self.table, &this)
    }

    async fn drop(&mut self, this: Resource<RolloutProgress>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
