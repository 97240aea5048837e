//! In-memory object storage: one map per resource, one global monotonic resourceVersion,
//! and a bounded history of change events for watches (older versions answer 410 Gone).

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    /// `ResourceType::storage_key` of the object.
    pub key: String,
    pub namespace: String,
    pub kind: EventType,
    pub object: Arc<Value>,
}

type Objects = BTreeMap<(String, String), Arc<Value>>;
/// (storage key, namespace, name) of a stored object.
type ObjectId = (String, String, String);

pub struct Store {
    objects: HashMap<String, Objects>,
    rv: u64,
    history: VecDeque<Arc<WatchEvent>>,
    history_cap: usize,
    /// Every event with `rv <= compacted` has left the history.
    compacted: u64,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    /// ownerReference uid -> dependents, so garbage collection does not scan everything.
    dependents: HashMap<String, HashSet<ObjectId>>,
}

fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

/// What a watch starting at some resourceVersion gets: the missed events and a live feed.
pub struct WatchStart {
    pub replay: Vec<Arc<WatchEvent>>,
    pub feed: broadcast::Receiver<Arc<WatchEvent>>,
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(16_384);
        Store {
            objects: HashMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_cap,
            compacted: 0,
            tx,
            dependents: HashMap::new(),
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of one resource, optionally in one namespace, in (namespace, name) order.
    pub fn list<'a>(
        &'a self,
        key: &str,
        ns: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<Value>> + 'a> {
        let Some(objs) = self.objects.get(key) else {
            return Box::new(std::iter::empty());
        };
        match ns {
            Some(ns) => Box::new(
                objs.range((ns.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns)
                    .map(|(_, v)| v),
            ),
            None => Box::new(objs.values()),
        }
    }

    pub fn count(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    /// Every stored object of every resource (for garbage collection).
    pub fn all(&self) -> impl Iterator<Item = (&String, &Arc<Value>)> {
        self.objects
            .iter()
            .flat_map(|(k, m)| m.values().map(move |v| (k, v)))
    }

    /// Commit a create or update: stamps the next resourceVersion into the object.
    pub fn put(&mut self, key: &str, mut obj: Value, kind: EventType) -> Arc<Value> {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let obj = Arc::new(obj);
        let id = (key.to_string(), ns.clone(), name.clone());
        if let Some(old) = self.get(key, &ns, &name) {
            self.unindex(&old, &id);
        }
        for uid in owner_uids(&obj) {
            self.dependents
                .entry(uid.to_string())
                .or_default()
                .insert(id.clone());
        }
        self.objects
            .entry(key.to_string())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        self.record(key, ns, kind, obj.clone());
        obj
    }

    pub fn remove(&mut self, key: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.unindex(&old, &(key.to_string(), ns.to_string(), name.to_string()));
        self.rv += 1;
        let mut gone = (*old).clone();
        gone["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let gone = Arc::new(gone);
        self.record(key, ns.to_string(), EventType::Deleted, gone.clone());
        Some(gone)
    }

    fn unindex(&mut self, obj: &Value, id: &ObjectId) {
        for uid in owner_uids(obj) {
            if let Some(set) = self.dependents.get_mut(uid) {
                set.remove(id);
                if set.is_empty() {
                    self.dependents.remove(uid);
                }
            }
        }
    }

    /// Objects whose ownerReferences name this uid.
    pub fn dependents_of(&self, uid: &str) -> Vec<(String, Arc<Value>)> {
        let Some(ids) = self.dependents.get(uid) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|(k, ns, name)| self.get(k, ns, name).map(|o| (k.clone(), o)))
            .collect()
    }

    fn record(&mut self, key: &str, namespace: String, kind: EventType, object: Arc<Value>) {
        let ev = Arc::new(WatchEvent {
            rv: self.rv,
            key: key.to_string(),
            namespace,
            kind,
            object,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    /// Drop the whole history (a fault: the server's history moved on while a client was
    /// away). The revision moves on by one, as a write elsewhere would move it, so every
    /// version handed out so far is older than the oldest one kept: resuming from it is
    /// answered 410, and a new list gives a version a watch can start from.
    pub fn compact_all(&mut self) {
        self.rv += 1;
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Start a watch after `from_rv`: Err(oldest available) when that version was compacted.
    pub fn watch_from(&self, from_rv: u64) -> Result<WatchStart, u64> {
        if from_rv < self.compacted {
            return Err(self.compacted + 1);
        }
        let replay = self
            .history
            .iter()
            .filter(|e| e.rv > from_rv)
            .cloned()
            .collect();
        Ok(WatchStart {
            replay,
            feed: self.tx.subscribe(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn dependents_are_indexed_by_owner_uid() {
        let mut s = Store::new(10);
        let mut dep = cm("dep");
        dep["metadata"]["ownerReferences"] = json!([{"uid": "owner-1"}]);
        s.put("/configmaps", dep.clone(), EventType::Added);
        assert_eq!(s.dependents_of("owner-1").len(), 1);
        dep["metadata"]["ownerReferences"] = json!([]);
        s.put("/configmaps", dep, EventType::Modified);
        assert!(s.dependents_of("owner-1").is_empty());
        let mut again = cm("dep2");
        again["metadata"]["ownerReferences"] = json!([{"uid": "owner-1"}]);
        s.put("/configmaps", again, EventType::Added);
        s.remove("/configmaps", "default", "dep2");
        assert!(s.dependents_of("owner-1").is_empty());
    }

    #[test]
    fn resource_versions_increase_and_old_ones_expire() {
        let mut s = Store::new(2);
        let a = s.put("/configmaps", cm("a"), EventType::Added);
        let b = s.put("/configmaps", cm("b"), EventType::Added);
        let rv_a: u64 = a["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let rv_b: u64 = b["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(rv_b > rv_a);
        let w = s.watch_from(rv_a).unwrap();
        assert_eq!(w.replay.len(), 1);
        s.put("/configmaps", cm("c"), EventType::Added);
        s.put("/configmaps", cm("d"), EventType::Added);
        assert!(s.watch_from(rv_a).is_err());
        assert_eq!(s.list("/configmaps", Some("default")).count(), 4);
        assert_eq!(s.list("/configmaps", Some("other")).count(), 0);
    }

    #[test]
    fn a_compacted_history_refuses_every_version_handed_out_but_not_a_new_list() {
        let mut s = Store::new(100);
        s.put("/configmaps", cm("a"), EventType::Added);
        let last = s.resource_version();
        assert!(s.watch_from(last).is_ok());
        s.compact_all();
        assert!(s.watch_from(last).is_err());
        // A list now gives the current version, and a watch starts from it.
        assert!(s.watch_from(s.resource_version()).is_ok());
        let b = s.put("/configmaps", cm("b"), EventType::Added);
        assert!(
            b["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > last + 1
        );
    }
}
