//! The inventory: the set of objects an app+env applied last, kept in a ConfigMap in the
//! app's namespace (like kapp's app ConfigMap or Helm's release Secret). Prune deletes
//! what the previous inventory recorded and the plan no longer has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{labels, ApplyOptions, Cluster, ClusterError, ObjectRef};

/// Which inventory: one per app and env, in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryKey {
    pub app: String,
    pub env: String,
    pub namespace: String,
}

impl InventoryKey {
    /// The ConfigMap's name: `kubes-inventory-<app>-<env>`, made DNS-safe.
    pub fn name(&self) -> String {
        let raw = format!("kubes-inventory-{}-{}", self.app, self.env).to_lowercase();
        let s: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect();
        s.trim_end_matches(['-', '.']).chars().take(253).collect()
    }
}

/// One recorded object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub object: ObjectRef,
    /// A suffix-hashed ConfigMap/Secret: old versions are pruned even without `--prune`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hashed: bool,
}

impl Entry {
    /// Identity across API versions: group, kind, namespace, name.
    pub fn identity(&self) -> (String, String, Option<String>, String) {
        let group = self.object.api_version.split_once('/').map(|(g, _)| g.to_string()).unwrap_or_default();
        (group, self.object.kind.clone(), self.object.namespace.clone(), self.object.name.clone())
    }
}

/// The recorded set, in apply order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub objects: Vec<Entry>,
}

const DATA_KEY: &str = "objects";

impl Inventory {
    pub fn contains(&self, e: &Entry) -> bool {
        let id = e.identity();
        self.objects.iter().any(|o| o.identity() == id)
    }

    /// Entries recorded here and absent from `current`, in reverse apply order (the
    /// order to delete them in).
    pub fn stale(&self, current: &Inventory) -> Vec<Entry> {
        self.objects.iter().rev().filter(|e| !current.contains(e)).cloned().collect()
    }

    /// Add `e` unless an entry with its identity is present.
    pub fn push_unique(&mut self, e: Entry) {
        if !self.contains(&e) {
            self.objects.push(e);
        }
    }

    /// Read the inventory; `Ok(None)` when there is none yet.
    pub async fn read(cluster: &Cluster, key: &InventoryKey) -> Result<Option<Inventory>, ClusterError> {
        let rk = cluster.resolve_kind("v1", "ConfigMap").await?;
        let Some(cm) = cluster.get_object(&rk, Some(&key.namespace), &key.name()).await? else {
            return Ok(None);
        };
        let text = cm.data.get("data").and_then(|d| d.get(DATA_KEY)).and_then(|v| v.as_str()).unwrap_or("[]");
        let objects: Vec<Entry> = serde_json::from_str(text).map_err(|e| {
            ClusterError::Invalid(format!("inventory ConfigMap {}/{} has unreadable data.{DATA_KEY}: {e}", key.namespace, key.name()))
        })?;
        Ok(Some(Inventory { objects }))
    }

    /// Write (server-side apply) the inventory ConfigMap.
    pub async fn write(&self, cluster: &Cluster, key: &InventoryKey) -> Result<(), ClusterError> {
        let text = serde_json::to_string_pretty(&self.objects).map_err(anyhow::Error::from)?;
        let labels: BTreeMap<String, String> = labels::managed_labels(&key.app, &key.env);
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": key.name(), "namespace": key.namespace, "labels": labels },
            "data": { DATA_KEY: text },
        });
        cluster.apply_object(&body, &ApplyOptions::default()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> Entry {
        Entry {
            object: ObjectRef { api_version: api_version.into(), kind: kind.into(), namespace: ns.map(Into::into), name: name.into() },
            hashed: false,
        }
    }

    #[test]
    fn stale_is_previous_minus_current_in_reverse_order() {
        let prev = Inventory {
            objects: vec![
                e("v1", "ConfigMap", Some("a"), "one"),
                e("apps/v1beta1", "Deployment", Some("a"), "web"),
                e("v1", "Service", Some("a"), "web"),
                e("v1", "Namespace", None, "a"),
            ],
        };
        let cur = Inventory { objects: vec![e("apps/v1", "Deployment", Some("a"), "web"), e("v1", "Namespace", None, "a")] };
        let stale: Vec<String> = prev.stale(&cur).into_iter().map(|e| e.object.name).collect();
        assert_eq!(stale, vec!["web", "one"], "the service then the configmap; the deployment moved API version only");
    }

    #[test]
    fn name_is_dns_safe() {
        let k = InventoryKey { app: "My_App".into(), env: "prod".into(), namespace: "x".into() };
        assert_eq!(k.name(), "kubes-inventory-my-app-prod");
    }

    #[test]
    fn entries_round_trip_as_json() {
        let mut x = e("v1", "ConfigMap", Some("a"), "cfg-0123456789");
        x.hashed = true;
        let text = serde_json::to_string(&vec![x.clone()]).unwrap();
        assert!(text.contains("\"apiVersion\":\"v1\"") && text.contains("\"hashed\":true"), "{text}");
        let back: Vec<Entry> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vec![x]);
    }
}
