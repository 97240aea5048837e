//! Container log lines the simulated pods produce, per container instance (so
//! `previous=true` works after a restart), with change notification for `follow`.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Default, Clone)]
pub struct Instance {
    /// (RFC 3339 timestamp, line)
    pub lines: Vec<(String, String)>,
    pub finished: bool,
}

/// (namespace, pod) -> container -> instances, oldest first.
type PodLogs = HashMap<(String, String), HashMap<String, Vec<Instance>>>;

#[derive(Default)]
pub struct LogStore {
    pods: Mutex<PodLogs>,
    pub changed: Notify,
}

impl LogStore {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut HashMap<(String, String), HashMap<String, Vec<Instance>>>) -> R,
    ) -> R {
        let mut g = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// A container (re)starts: a fresh instance.
    pub fn start(&self, ns: &str, pod: &str, container: &str) {
        self.with(|p| {
            p.entry((ns.into(), pod.into()))
                .or_default()
                .entry(container.into())
                .or_default()
                .push(Instance::default())
        });
        self.changed.notify_waiters();
    }

    pub fn append(&self, ns: &str, pod: &str, container: &str, line: &str) {
        self.with(|p| {
            let inst = p
                .entry((ns.into(), pod.into()))
                .or_default()
                .entry(container.into())
                .or_default();
            if inst.is_empty() {
                inst.push(Instance::default());
            }
            let last = inst.last_mut().expect("just ensured");
            last.lines
                .push((crate::meta::now_rfc3339(), line.to_string()));
        });
        self.changed.notify_waiters();
    }

    pub fn finish(&self, ns: &str, pod: &str, container: &str) {
        self.with(|p| {
            if let Some(last) = p
                .get_mut(&(ns.into(), pod.into()))
                .and_then(|c| c.get_mut(container))
                .and_then(|i| i.last_mut())
            {
                last.finished = true;
            }
        });
        self.changed.notify_waiters();
    }

    /// The current or previous instance of a container.
    /// The current or previous instance of a container, with its index.
    pub fn instance(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Option<(usize, Instance)> {
        self.with(|p| {
            let inst = p.get(&(ns.into(), pod.into()))?.get(container)?;
            let i = inst.len().checked_sub(if previous { 2 } else { 1 })?;
            Some((i, inst[i].clone()))
        })
    }

    /// One instance by index (a follower keeps reading the instance it started on).
    pub fn instance_at(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        index: usize,
    ) -> Option<Instance> {
        self.with(|p| {
            p.get(&(ns.into(), pod.into()))?
                .get(container)?
                .get(index)
                .cloned()
        })
    }

    pub fn forget_pod(&self, ns: &str, pod: &str) {
        self.with(|p| p.remove(&(ns.into(), pod.into())));
        self.changed.notify_waiters();
    }
}
