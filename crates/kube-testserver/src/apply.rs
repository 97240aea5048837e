//! Server-side apply: field ownership per manager in `metadata.managedFields`
//! (`FieldsV1`), conflicts between managers, `force`, and removal of fields a manager
//! stopped applying. Keyed lists (containers by name, ports, env, ...) merge per element;
//! other lists are atomic, as in the built-in Kubernetes schemas.

use crate::meta::now_rfc3339;
use crate::patch::merge_key;
use crate::status::{ApiError, Cause};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathElement {
    /// A map field (`f:` in managedFields).
    Field(String),
    /// A list element identified by its merge key, as canonical JSON (`{"name":"a"}`; `k:`).
    Key(String),
    /// A set-list element identified by its value, as JSON (`v:`).
    Value(String),
}

pub type Path = Vec<PathElement>;
pub type FieldSet = BTreeSet<Path>;

/// Fields an applied configuration sets. `apiVersion`, `kind`, name and namespace identify
/// the object and are owned by no one, as in Kubernetes.
pub fn field_set(config: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = config {
        for (k, v) in m {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        if matches!(
                            mk.as_str(),
                            "name"
                                | "namespace"
                                | "managedFields"
                                | "resourceVersion"
                                | "uid"
                                | "creationTimestamp"
                                | "generation"
                        ) {
                            continue;
                        }
                        collect(
                            mv,
                            mk,
                            &mut vec![
                                PathElement::Field("metadata".into()),
                                PathElement::Field(mk.clone()),
                            ],
                            &mut out,
                        );
                    }
                }
                continue;
            }
            collect(v, k, &mut vec![PathElement::Field(k.clone())], &mut out);
        }
    }
    out
}

fn collect(v: &Value, field: &str, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                collect(child, k, path, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            if let Some(key) = merge_key(field, items.first()) {
                if items.iter().all(|i| i.get(key).is_some()) {
                    for item in items {
                        path.push(PathElement::Key(key_json(key, item)));
                        out.insert(path.clone());
                        if let Value::Object(m) = item {
                            for (k, child) in m {
                                path.push(PathElement::Field(k.clone()));
                                collect(child, k, path, out);
                                path.pop();
                            }
                        }
                        path.pop();
                    }
                    return;
                }
            }
            if field == "finalizers" {
                for item in items {
                    path.push(PathElement::Value(item.to_string()));
                    out.insert(path.clone());
                    path.pop();
                }
                return;
            }
            out.insert(path.clone());
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

fn key_json(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(
        key.to_string(),
        item.get(key).cloned().unwrap_or(Value::Null),
    );
    Value::Object(m).to_string()
}

/// Serialize a field set as `fieldsV1`.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    use serde_json::map::Entry;
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for (i, pe) in path.iter().enumerate() {
            let key = match pe {
                PathElement::Field(f) => format!("f:{f}"),
                PathElement::Key(k) => format!("k:{k}"),
                PathElement::Value(v) => format!("v:{v}"),
            };
            let last = i == path.len() - 1;
            let entry = match node.entry(key) {
                Entry::Occupied(o) => {
                    let existing = o.into_mut();
                    // Every intermediate node has children once its path is written, so an
                    // existing empty node is an earlier member leaf (paths come sorted);
                    // giving it children makes it a member with children: ".".
                    if let Value::Object(m) = existing {
                        if !last && m.is_empty() {
                            m.insert(".".into(), json!({}));
                        }
                    }
                    existing
                }
                Entry::Vacant(v) => v.insert(Value::Object(Map::new())),
            };
            let Value::Object(next) = entry else {
                unreachable!("field nodes are objects")
            };
            node = next;
            if last && !node.is_empty() {
                node.insert(".".into(), json!({}));
            }
        }
    }
    Value::Object(root)
}

fn parse_pe(k: &str) -> Option<PathElement> {
    if let Some(f) = k.strip_prefix("f:") {
        Some(PathElement::Field(f.into()))
    } else if let Some(x) = k.strip_prefix("k:") {
        Some(PathElement::Key(x.into()))
    } else {
        k.strip_prefix("v:").map(|x| PathElement::Value(x.into()))
    }
}

/// Parse `fieldsV1` back into a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Value::Object(m) = v else { return };
        if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in m {
            if let Some(pe) = parse_pe(k) {
                path.push(pe);
                walk(child, path, out);
                path.pop();
            }
        }
    }
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// The value at a field path, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = match pe {
            PathElement::Field(f) => cur.get(f)?,
            PathElement::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                let (kn, kv) = key.iter().next()?;
                cur.as_array()?.iter().find(|i| i.get(kn) == Some(kv))?
            }
            PathElement::Value(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|i| **i == want)?
            }
        };
    }
    Some(cur)
}

fn remove_at(obj: &mut Value, path: &[PathElement]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for pe in parent {
        let next = match pe {
            PathElement::Field(f) => cur.get_mut(f),
            PathElement::Key(k) => {
                let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                    return;
                };
                let Some((kn, kv)) = key.into_iter().next() else {
                    return;
                };
                cur.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| i.get(&kn) == Some(&kv)))
            }
            PathElement::Value(_) => None,
        };
        let Some(n) = next else { return };
        cur = n;
    }
    match last {
        PathElement::Field(f) => {
            if let Value::Object(m) = cur {
                m.remove(f);
            }
        }
        PathElement::Key(k) => {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            let Some((kn, kv)) = key.into_iter().next() else {
                return;
            };
            if let Value::Array(a) = cur {
                a.retain(|i| i.get(&kn) != Some(&kv));
            }
        }
        PathElement::Value(v) => {
            let Ok(want) = serde_json::from_str::<Value>(v) else {
                return;
            };
            if let Value::Array(a) = cur {
                a.retain(|i| *i != want);
            }
        }
    }
}

/// Merge an applied configuration into the live object.
pub fn merge_applied(live: &mut Value, config: &Value, field: &str) {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            for (k, v) in c {
                match l.get_mut(k) {
                    Some(existing) => merge_applied(existing, v, k),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(c)) => {
            if let Some(key) = merge_key(field, c.first().or(l.first())) {
                if c.iter().chain(l.iter()).all(|i| i.get(key).is_some()) {
                    for item in c {
                        match l.iter_mut().find(|x| x.get(key) == item.get(key)) {
                            Some(existing) => merge_applied(existing, item, ""),
                            None => l.push(item.clone()),
                        }
                    }
                    return;
                }
            }
            if field == "finalizers" {
                for item in c {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
                return;
            }
            *l = c.clone();
        }
        (l, c) => *l = c.clone(),
    }
}

/// One parsed `managedFields` entry.
#[derive(Debug, Clone)]
pub struct Manager {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
    pub fields: FieldSet,
}

pub fn read_managers(obj: &Value) -> Vec<Manager> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| Manager {
                    manager: str_field(e, "manager"),
                    operation: str_field(e, "operation"),
                    api_version: str_field(e, "apiVersion"),
                    subresource: str_field(e, "subresource"),
                    time: str_field(e, "time"),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn write_managers(obj: &mut Value, managers: &[Manager]) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.subresource.is_empty() {
                e["subresource"] = json!(m.subresource);
            }
            e
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

fn path_string(path: &[PathElement]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            PathElement::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            PathElement::Key(k) => s.push_str(&format!(
                "[{}]",
                k.trim_start_matches('{')
                    .trim_end_matches('}')
                    .replace(':', "=")
            )),
            PathElement::Value(v) => s.push_str(&format!("[{v}]")),
        }
    }
    s
}

/// Restrict a field set to (or away from) the `status` subtree.
fn in_status(p: &Path) -> bool {
    p.first() == Some(&PathElement::Field("status".into()))
}

/// Apply `config` as `manager` to `live` (an empty object for a create). On success `live`
/// holds the merged object with updated managedFields.
pub fn apply(
    live: &mut Value,
    config: &Value,
    manager: &str,
    force: bool,
    subresource: &str,
) -> Result<(), ApiError> {
    let status_only = subresource == "status";
    let mut new_set = field_set(config);
    new_set.retain(|p| in_status(p) == status_only);
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut managers = read_managers(live);
    let mut managers_changed = false;

    // Conflicts: another manager owns a field this config sets to a different value.
    let mut causes = Vec::new();
    for other in managers
        .iter_mut()
        .filter(|m| !(m.manager == manager && m.operation == "Apply"))
    {
        let clashing: Vec<Path> = other
            .fields
            .intersection(&new_set)
            .filter(|p| {
                !matches!(
                    p.last(),
                    Some(PathElement::Key(_)) | Some(PathElement::Value(_))
                )
            })
            .filter(|p| value_at(live, p) != value_at(config, p))
            .cloned()
            .collect();
        if clashing.is_empty() {
            continue;
        }
        if force {
            managers_changed = true;
            for p in &clashing {
                other.fields.remove(p);
            }
        } else {
            for p in clashing {
                causes.push(Cause {
                    reason: "FieldManagerConflict",
                    field: path_string(&p),
                    message: format!(
                        "conflict with \"{}\" using {}: {}",
                        other.manager,
                        other.api_version,
                        path_string(&p)
                    ),
                });
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::apply_conflict(causes));
    }

    // Fields this manager applied before but no longer does, and nobody else owns: remove.
    let old_set = managers
        .iter()
        .find(|m| {
            m.manager == manager
                && m.operation == "Apply"
                && (m.subresource == "status") == status_only
        })
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut removed: Vec<Path> = old_set
        .difference(&new_set)
        .filter(|p| {
            !managers
                .iter()
                .filter(|m| !(m.manager == manager && m.operation == "Apply"))
                .any(|m| m.fields.iter().any(|q| q.starts_with(p)))
        })
        .cloned()
        .collect();
    removed.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in &removed {
        remove_at(live, p);
    }
    if !live.is_object() {
        *live = json!({});
    }
    let mut to_merge = config.clone();
    if let Value::Object(m) = &mut to_merge {
        if status_only {
            m.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind");
        } else {
            m.remove("status");
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
    }
    merge_applied(live, &to_merge, "");

    let entry = Manager {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version,
        subresource: if status_only {
            "status".into()
        } else {
            String::new()
        },
        time: now_rfc3339(),
        fields: new_set,
    };
    // Replace in place: re-applying the same config must leave the object byte-identical
    // (no-op, no new resourceVersion), so the entry keeps its position.
    match managers.iter_mut().find(|m| {
        m.manager == manager && m.operation == "Apply" && (m.subresource == "status") == status_only
    }) {
        Some(m) => {
            if m.fields != entry.fields || m.api_version != entry.api_version {
                *m = entry;
                managers_changed = true;
            }
        }
        None => {
            managers.push(entry);
            managers_changed = true;
        }
    }
    // Unchanged ownership keeps the stored managedFields as they are (cheaper, and exact).
    if managers_changed {
        write_managers(live, &managers);
    }
    Ok(())
}

/// Record a non-apply write (create, update, patch) by `manager`: it takes ownership of
/// every field it set or changed; fields that disappeared leave every manager's set.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, subresource: &str) {
    let mut managers = old.map(read_managers).unwrap_or_default();
    let new_fields = field_set(new);
    let old_fields = old.map(field_set).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| {
            !old_fields.contains(*p) || old.and_then(|o| value_at(o, p)) != value_at(new, p)
        })
        .filter(|p| subresource != "status" || in_status(p))
        .cloned()
        .collect();
    for m in managers.iter_mut() {
        m.fields
            .retain(|p| new_fields.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        let api_version = new
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match managers.iter_mut().find(|m| {
            m.manager == manager && m.operation == "Update" && m.subresource == subresource
        }) {
            Some(m) => {
                m.fields.extend(changed);
                m.time = now_rfc3339();
            }
            None => managers.push(Manager {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version,
                subresource: subresource.to_string(),
                time: now_rfc3339(),
                fields: changed,
            }),
        }
    }
    write_managers(new, &managers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
    }

    #[test]
    fn fields_v1_round_trips() {
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1"}},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "x"}]}}}});
        let set = field_set(&cfg);
        let v1 = to_fields_v1(&set);
        assert!(v1
            .pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/.")
            .is_some());
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn second_manager_conflicts_unless_forced() {
        let mut live = json!({});
        apply(&mut live, &cm(json!({"k": "1"})), "one", false, "").unwrap();
        let err = apply(&mut live, &cm(json!({"k": "2"})), "two", false, "").unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("conflict with \"one\""),
            "{}",
            err.message
        );
        // Same value: shared ownership, no conflict.
        apply(&mut live, &cm(json!({"k": "1"})), "three", false, "").unwrap();
        apply(&mut live, &cm(json!({"k": "2"})), "two", true, "").unwrap();
        assert_eq!(live["data"]["k"], "2");
    }

    #[test]
    fn fields_dropped_from_config_are_removed() {
        let mut live = json!({});
        apply(&mut live, &cm(json!({"a": "1", "b": "2"})), "me", false, "").unwrap();
        apply(&mut live, &cm(json!({"a": "1"})), "me", false, "").unwrap();
        assert_eq!(live["data"], json!({"a": "1"}));
    }

    #[test]
    fn reapplying_unchanged_config_leaves_the_object_identical() {
        let mut live = json!({});
        apply(&mut live, &cm(json!({"a": "1"})), "one", false, "").unwrap();
        apply(
            &mut live,
            &cm(json!({"a": "1", "b": "2"})),
            "two",
            false,
            "",
        )
        .unwrap();
        let before = live.clone();
        apply(&mut live, &cm(json!({"a": "1"})), "one", false, "").unwrap();
        assert_eq!(live, before);
    }

    #[test]
    fn updates_take_ownership() {
        let mut live = json!({});
        apply(&mut live, &cm(json!({"a": "1"})), "me", false, "").unwrap();
        let old = live.clone();
        live["data"]["a"] = json!("edited");
        record_update(Some(&old), &mut live, "kubectl-edit", "");
        let err = apply(&mut live.clone(), &cm(json!({"a": "1"})), "me", false, "").unwrap_err();
        assert!(err.message.contains("kubectl-edit"));
    }
}
