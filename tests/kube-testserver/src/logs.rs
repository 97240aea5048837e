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

#[derive(Default)]
pub struct LogStore {
    // (namespace, pod) -> container -> instances, oldest first
    pods: Mutex<HashMap<(String, String), HashMap<String, Vec<Instance>>>>,
    pub changed: Notify,
}

impl LogStore {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<(String, String), HashMap<String, Vec<Instance>>>) -> R) -> R {
        let mut g = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// A container (re)starts: a fresh instance.
    pub fn start(&self, ns: &str, pod: &str, container: &str) {
        self.with(|p| {
            p.entry((ns.into(), pod.into())).or_default().entry(container.into()).or_default().push(Instance::default())
        });
        self.changed.notify_waiters();
    }

    pub fn append(&self, ns: &str, pod: &str, container: &str, line: &str) {
        self.with(|p| {
            let inst = p.entry((ns.into(), pod.into())).or_default().entry(container.into()).or_default();
            if inst.is_empty() {
                inst.push(Instance::default());
            }
            let last = inst.last_mut().expect("just ensured");
            last.lines.push((crate::meta::now_rfc3339(), line.to_string()));
        });
        self.changed.notify_waiters();
    }

    pub fn finish(&self, ns: &str, pod: &str, container: &str) {
        self.with(|p| {
            if let Some(last) = p.get_mut(&(ns.into(), pod.into())).and_then(|c| c.get_mut(container)).and_then(|i| i.last_mut()) {
                last.finished = true;
            }
        });
        self.changed.notify_waiters();
    }

    /// The current or previous instance of a container.
    pub fn instance(&self, ns: &str, pod: &str, container: &str, previous: bool) -> Option<Instance> {
        self.with(|p| {
            let inst = p.get(&(ns.into(), pod.into()))?.get(container)?;
            if previous {
                inst.len().checked_sub(2).map(|i| inst[i].clone())
            } else {
                inst.last().cloned()
            }
        })
    }

    pub fn forget_pod(&self, ns: &str, pod: &str) {
        self.with(|p| p.remove(&(ns.into(), pod.into())));
        self.changed.notify_waiters();
    }
}
