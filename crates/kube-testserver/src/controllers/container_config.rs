//! What the kubelet checks before it creates a container (`makeEnvironmentVariables` in
//! pkg/kubelet): the ConfigMaps and Secrets its `envFrom` and `env` refer to. A reference
//! that is not `optional` and does not resolve keeps the container waiting with reason
//! `CreateContainerConfigError` and the kubelet's message, retried on each pod sync, until
//! the object (or key) appears.

use crate::cluster::Cluster;
use serde_json::Value;

/// Why the kubelet cannot configure `container` (a pod spec container) of a pod in `ns`,
/// in its words: `configmap "NAME" not found`, `secret "NAME" not found` (its watch-based
/// managers' NotFound errors), `couldn't find key KEY in ConfigMap NS/NAME` (or `Secret`).
/// `envFrom` is checked first, then `env`, each in order; the first problem is the one said.
pub fn config_error(cluster: &Cluster, ns: &str, container: &Value) -> Option<String> {
    let optional = |r: &Value| r["optional"] == Value::Bool(true);
    for from in container["envFrom"].as_array().into_iter().flatten() {
        for (field, plural, word) in [
            ("configMapRef", "configmaps", "configmap"),
            ("secretRef", "secrets", "secret"),
        ] {
            let Some(r) = from.get(field) else { continue };
            let name = r["name"].as_str().unwrap_or_default();
            if !optional(r) && cluster.peek("", plural, Some(ns), name).is_none() {
                return Some(format!("{word} \"{name}\" not found"));
            }
        }
    }
    for env in container["env"].as_array().into_iter().flatten() {
        for (field, plural, word, kind) in [
            ("configMapKeyRef", "configmaps", "configmap", "ConfigMap"),
            ("secretKeyRef", "secrets", "secret", "Secret"),
        ] {
            let Some(r) = env.pointer(&format!("/valueFrom/{field}")) else {
                continue;
            };
            let name = r["name"].as_str().unwrap_or_default();
            let key = r["key"].as_str().unwrap_or_default();
            let Some(obj) = cluster.peek("", plural, Some(ns), name) else {
                if optional(r) {
                    continue;
                }
                return Some(format!("{word} \"{name}\" not found"));
            };
            // A Secret written with `stringData` holds it under `data` in Kubernetes; look
            // in both, whichever this server kept.
            let has = ["data", "stringData", "binaryData"]
                .iter()
                .take(if kind == "Secret" { 2 } else { 1 })
                .any(|d| obj[*d].get(key).is_some());
            if !has && !optional(r) {
                return Some(format!("couldn't find key {key} in {kind} {ns}/{name}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_references_are_named_as_the_kubelet_names_them() {
        let cluster = Cluster::new(1, 100);
        let cms = cluster.registry.find("", "v1", "configmaps").unwrap();
        let w = crate::cluster::WriteOptions {
            manager: "test".into(),
            ..Default::default()
        };
        let settings = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}});
        cluster.create(&cms, "default", settings, &w).unwrap();
        let c = |v: Value| config_error(&cluster, "default", &v);
        assert_eq!(c(json!({"name": "m"})), None);
        assert_eq!(
            c(json!({"envFrom": [{"secretRef": {"name": "db"}}]})),
            Some("secret \"db\" not found".into())
        );
        assert_eq!(
            c(json!({"envFrom": [{"secretRef": {"name": "db", "optional": true}}]})),
            None
        );
        assert_eq!(
            c(
                json!({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}}]})
            ),
            None
        );
        assert_eq!(
            c(
                json!({"env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "b"}}}]})
            ),
            Some("couldn't find key b in ConfigMap default/settings".into())
        );
        assert_eq!(
            c(
                json!({"env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "c"}}}]})
            ),
            Some("configmap \"other\" not found".into())
        );
        // envFrom first, whatever the order in the manifest.
        assert_eq!(
            c(
                json!({"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "p"}}}],
                     "envFrom": [{"configMapRef": {"name": "missing"}}]})
            ),
            Some("configmap \"missing\" not found".into())
        );
    }
}
