//! The inventory: the set of objects an app+env applied last, kept in a ConfigMap in the
//! app's namespace (like kapp's app ConfigMap or Helm's release Secret). Prune deletes
//! what the previous inventory recorded and the plan no longer has.

use std::collections::{BTreeMap, HashMap, HashSet};

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
        let s: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
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
    /// What kubes last applied to it, and how the object stood right after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedRecord>,
}

/// What kubes last applied to an object and the object's state right after, so a later
/// deploy can tell, from a list of the live objects alone, that server-side apply would
/// change nothing:
/// - the same configuration is to be applied again (`sha`), and
/// - the live object is the one applied (`uid`), and either nothing at all changed since
///   (`rv`), or kubes' own `managedFields` entry is exactly as that apply left it (`fields`):
///   anyone who changed a field kubes applies (an update, or a forced apply by another
///   manager) took it over, which changes kubes' entry; changes to other fields (status,
///   fields of other managers) are not kubes' to undo.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppliedRecord {
    /// Hex SHA-256 (first 128 bits) of the applied configuration and the field manager.
    pub sha: String,
    pub uid: String,
    pub rv: String,
    /// Hex SHA-256 (first 128 bits) of kubes' `managedFields` entries (fields, time,
    /// apiVersion).
    pub fields: String,
}

impl AppliedRecord {
    /// The record of an object as the server returned it from an apply of `body`.
    pub fn of_applied(
        body: &serde_json::Value,
        field_manager: &str,
        after: &kube::api::ObjectMeta,
    ) -> Option<AppliedRecord> {
        Some(AppliedRecord {
            sha: config_sha(body, field_manager),
            uid: after.uid.clone()?,
            rv: after.resource_version.clone()?,
            fields: fields_fingerprint(after, field_manager)?,
        })
    }

    /// Whether applying `sha` again to the live object `live` would change nothing.
    pub fn still_holds(
        &self,
        sha: &str,
        live: &kube::api::ObjectMeta,
        field_manager: &str,
    ) -> bool {
        self.sha == sha
            && live.uid.as_deref() == Some(self.uid.as_str())
            && (live.resource_version.as_deref() == Some(self.rv.as_str())
                || fields_fingerprint(live, field_manager).as_deref() == Some(self.fields.as_str()))
    }
}

fn short_sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// The hash of an object's applied configuration (as sent) under `field_manager`.
pub fn config_sha(body: &serde_json::Value, field_manager: &str) -> String {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(0);
    bytes.extend_from_slice(field_manager.as_bytes());
    short_sha(&bytes)
}

/// The hash of `field_manager`'s Apply entries in `meta.managedFields`; `None` when it has
/// none (someone took every field over, or the object was never applied by it).
pub fn fields_fingerprint(meta: &kube::api::ObjectMeta, field_manager: &str) -> Option<String> {
    let ours: Vec<_> = meta
        .managed_fields
        .as_ref()?
        .iter()
        .filter(|m| {
            m.manager.as_deref() == Some(field_manager)
                && m.operation.as_deref() == Some("Apply")
                && m.subresource.as_deref().unwrap_or("").is_empty()
        })
        .map(|m| (&m.api_version, &m.fields_v1, &m.time))
        .collect();
    if ours.is_empty() {
        return None;
    }
    Some(short_sha(&serde_json::to_vec(&ours).ok()?))
}

/// What makes two entries the same object, across API versions: group, kind, namespace,
/// name (borrowed: comparing and hashing it allocates nothing).
pub type Identity<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

impl Entry {
    /// See [`Identity`].
    pub fn identity(&self) -> Identity<'_> {
        let group = self
            .object
            .api_version
            .split_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        (
            group,
            &self.object.kind,
            self.object.namespace.as_deref(),
            &self.object.name,
        )
    }

    fn owned_identity(&self) -> (String, String, Option<String>, String) {
        let (g, k, ns, n) = self.identity();
        (g.into(), k.into(), ns.map(Into::into), n.into())
    }
}

/// The recorded set, in apply order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub objects: Vec<Entry>,
}

const DATA_KEY: &str = "objects";

// Every operation over many entries goes through a hash of identities: an app has
// hundreds of objects, and these run on every deploy, a no-op one included.
impl Inventory {
    /// `entries`, the first of each identity kept, in order.
    pub fn from_unique(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut inv = Inventory::default();
        inv.extend_unique(entries);
        inv
    }

    pub fn contains(&self, e: &Entry) -> bool {
        let id = e.identity();
        self.objects.iter().any(|o| o.identity() == id)
    }

    /// The identities recorded here.
    pub fn identities(&self) -> HashSet<Identity<'_>> {
        self.objects.iter().map(Entry::identity).collect()
    }

    /// Entries recorded here and absent from `current`, in reverse apply order (the
    /// order to delete them in).
    pub fn stale(&self, current: &Inventory) -> Vec<Entry> {
        let current = current.identities();
        self.objects
            .iter()
            .rev()
            .filter(|e| !current.contains(&e.identity()))
            .cloned()
            .collect()
    }

    /// The entry with `e`'s identity.
    pub fn find(&self, e: &Entry) -> Option<&Entry> {
        let id = e.identity();
        self.objects.iter().find(|o| o.identity() == id)
    }

    /// The entries by identity (the first of each).
    pub fn by_identity(&self) -> HashMap<Identity<'_>, &Entry> {
        let mut map = HashMap::with_capacity(self.objects.len());
        for e in &self.objects {
            map.entry(e.identity()).or_insert(e);
        }
        map
    }

    /// Add each of `entries`, or replace the entry with its identity (keeping its place).
    pub fn upsert_all(&mut self, entries: impl IntoIterator<Item = Entry>) {
        let mut at: HashMap<_, usize> = HashMap::with_capacity(self.objects.len());
        for (i, e) in self.objects.iter().enumerate() {
            at.entry(e.owned_identity()).or_insert(i);
        }
        for e in entries {
            match at.get(&e.owned_identity()) {
                Some(&i) => self.objects[i] = e,
                None => {
                    at.insert(e.owned_identity(), self.objects.len());
                    self.objects.push(e);
                }
            }
        }
    }

    /// Add each of `entries` unless an entry with its identity is present.
    pub fn extend_unique(&mut self, entries: impl IntoIterator<Item = Entry>) {
        let mut seen: HashSet<_> = self.objects.iter().map(Entry::owned_identity).collect();
        for e in entries {
            if seen.insert(e.owned_identity()) {
                self.objects.push(e);
            }
        }
    }

    /// Read the inventory; `Ok(None)` when there is none yet.
    pub async fn read(
        cluster: &Cluster,
        key: &InventoryKey,
    ) -> Result<Option<Inventory>, ClusterError> {
        let rk = cluster.resolve_kind("v1", "ConfigMap").await?;
        let Some(cm) = cluster
            .get_object(&rk, Some(&key.namespace), &key.name())
            .await?
        else {
            return Ok(None);
        };
        let text = cm
            .data
            .get("data")
            .and_then(|d| d.get(DATA_KEY))
            .and_then(|v| v.as_str())
            .unwrap_or("[]");
        let objects: Vec<Entry> = serde_json::from_str(text).map_err(|e| {
            ClusterError::Invalid(format!(
                "inventory ConfigMap {}/{} has unreadable data.{DATA_KEY}: {e}",
                key.namespace,
                key.name()
            ))
        })?;
        Ok(Some(Inventory { objects }))
    }

    /// Delete the inventory ConfigMap (absent is fine).
    pub async fn remove(cluster: &Cluster, key: &InventoryKey) -> Result<(), ClusterError> {
        let rk = cluster.resolve_kind("v1", "ConfigMap").await?;
        cluster
            .delete_object(&rk, Some(&key.namespace), &key.name(), &Default::default())
            .await?;
        Ok(())
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
        // A plain server-side apply: nothing here needs to know whether it changed, so
        // no GET before the patch (`Cluster::apply_object` makes one to tell).
        let rk = cluster.resolve_kind("v1", "ConfigMap").await?;
        let opts = ApplyOptions::default();
        let mut params = kube::api::PatchParams::apply(&opts.field_manager);
        params.force = opts.force_conflicts;
        cluster
            .api(&rk, Some(&key.namespace))
            .patch(&key.name(), &params, &kube::api::Patch::Apply(&body))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> Entry {
        Entry {
            object: ObjectRef {
                api_version: api_version.into(),
                kind: kind.into(),
                namespace: ns.map(Into::into),
                name: name.into(),
            },
            hashed: false,
            applied: None,
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
        let cur = Inventory {
            objects: vec![
                e("apps/v1", "Deployment", Some("a"), "web"),
                e("v1", "Namespace", None, "a"),
            ],
        };
        let stale: Vec<String> = prev
            .stale(&cur)
            .into_iter()
            .map(|e| e.object.name)
            .collect();
        assert_eq!(
            stale,
            vec!["web", "one"],
            "the service then the configmap; the deployment moved API version only"
        );
    }

    #[test]
    fn name_is_dns_safe() {
        let k = InventoryKey {
            app: "My_App".into(),
            env: "prod".into(),
            namespace: "x".into(),
        };
        assert_eq!(k.name(), "kubes-inventory-my-app-prod");
    }

    #[test]
    fn entries_round_trip_as_json() {
        let mut x = e("v1", "ConfigMap", Some("a"), "cfg-0123456789");
        x.hashed = true;
        let text = serde_json::to_string(&vec![x.clone()]).unwrap();
        assert!(
            text.contains("\"apiVersion\":\"v1\"") && text.contains("\"hashed\":true"),
            "{text}"
        );
        let back: Vec<Entry> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vec![x]);
    }
}
