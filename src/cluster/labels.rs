//! Labels kubes puts on everything it applies, so pruning can tell its objects from
//! others' and find an app's objects again.

use std::collections::BTreeMap;

use crate::plan::Plan;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "kubes";
pub const APP: &str = "kubes/app";
pub const ENV: &str = "kubes/env";

/// `managed-by: kubes` plus the app and env.
pub fn managed_labels(app: &str, env: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (APP.to_string(), app.to_string()),
        (ENV.to_string(), env.to_string()),
    ])
}

/// Add `labels` to `metadata.labels` of every object (overriding same-named ones).
pub fn label_plan(plan: &mut Plan, labels: &BTreeMap<String, String>) {
    for file in &mut plan.files {
        for obj in &mut file.objects {
            add_labels(&mut obj.body, labels);
        }
    }
}

pub fn add_labels(obj: &mut serde_json::Value, labels: &BTreeMap<String, String>) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| serde_json::json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let l = meta
        .entry("labels")
        .or_insert_with(|| serde_json::json!({}));
    if !l.is_object() {
        *l = serde_json::json!({});
    }
    if let Some(l) = l.as_object_mut() {
        for (k, v) in labels {
            l.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
    }
}

/// Is a live object one kubes manages? (Prune deletes nothing else.)
pub fn is_managed(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get(MANAGED_BY)
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_labels_keeping_existing_ones() {
        let mut o = json!({"metadata": {"name": "web", "labels": {"app": "web"}}});
        add_labels(&mut o, &managed_labels("shop", "prod"));
        assert_eq!(
            o["metadata"]["labels"],
            json!({"app": "web", MANAGED_BY: "kubes", APP: "shop", ENV: "prod"})
        );
    }

    #[test]
    fn adds_labels_where_there_were_none() {
        let mut o = json!({"metadata": {"name": "web", "labels": null}});
        add_labels(&mut o, &managed_labels("shop", "dev"));
        assert_eq!(o["metadata"]["labels"][MANAGED_BY], "kubes");
    }
}
