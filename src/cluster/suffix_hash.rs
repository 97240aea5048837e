//! Kubes' `suffix_hash`: ConfigMaps and Secrets get a content-hash suffix on their name,
//! and pod templates referring to them are rewritten, so a change of config rolls the
//! pods that use it. Old hashed versions are pruned after a successful apply (they carry
//! [`HASHED_FROM`] so the inventory knows them).

use sha2::{Digest, Sha256};

use crate::plan::Plan;

/// Annotation on a hashed object naming its unhashed name.
pub const HASHED_FROM: &str = "kubes/hashed-from";

/// One renamed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub kind: String,
    pub namespace: Option<String>,
    pub from: String,
    pub to: String,
}

/// Hash ConfigMaps and Secrets in `plan` and rewrite references to them in every pod
/// template of the plan. Returns what was renamed.
pub fn apply_suffix_hash(plan: &mut Plan) -> Vec<Renamed> {
    let mut renamed = vec![];
    for file in &mut plan.files {
        for obj in &mut file.objects {
            if obj.api_version != "v1" || !(obj.kind == "ConfigMap" || obj.kind == "Secret") {
                continue;
            }
            let to = format!("{}-{}", obj.name, content_hash(&obj.body));
            if let Some(meta) = obj.body.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.insert("name".into(), to.clone().into());
                let ann = meta
                    .entry("annotations")
                    .or_insert_with(|| serde_json::json!({}));
                if !ann.is_object() {
                    *ann = serde_json::json!({});
                }
                ann.as_object_mut()
                    .map(|a| a.insert(HASHED_FROM.into(), obj.name.clone().into()));
            }
            renamed.push(Renamed {
                kind: obj.kind.clone(),
                namespace: obj.namespace.clone(),
                from: obj.name.clone(),
                to: to.clone(),
            });
            obj.name = to;
        }
    }
    if renamed.is_empty() {
        return renamed;
    }
    for file in &mut plan.files {
        for obj in &mut file.objects {
            let ns = obj.namespace.clone();
            let lookup = |kind: &str, name: &str| -> Option<String> {
                renamed
                    .iter()
                    .find(|r| {
                        r.kind == kind
                            && r.from == name
                            && (r.namespace == ns || r.namespace.is_none() || ns.is_none())
                    })
                    .map(|r| r.to.clone())
            };
            for spec in pod_specs(&mut obj.body) {
                rewrite_pod_spec(spec, &lookup);
            }
        }
    }
    renamed
}

/// Ten hex digits of SHA-256 over the object's content (kind, type and data), so equal
/// content gives equal names across runs and machines.
pub fn content_hash(obj: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    for key in [
        "kind",
        "type",
        "data",
        "binaryData",
        "stringData",
        "immutable",
    ] {
        if let Some(v) = obj.get(key) {
            // serde_json's maps are sorted, so this serialisation is canonical.
            h.update(key.as_bytes());
            h.update(b"=");
            h.update(v.to_string().as_bytes());
            h.update(b"\n");
        }
    }
    let digest = h.finalize();
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// The pod specs inside an object: a Pod's, a workload template's, a CronJob's.
fn pod_specs(obj: &mut serde_json::Value) -> Vec<&mut serde_json::Value> {
    let kind = obj
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let Some(spec) = obj.get_mut("spec") else {
        return vec![];
    };
    if kind == "Pod" {
        return vec![spec];
    }
    if spec.get("jobTemplate").is_some() {
        return spec
            .pointer_mut("/jobTemplate/spec/template/spec")
            .into_iter()
            .collect();
    }
    spec.pointer_mut("/template/spec").into_iter().collect()
}

fn rewrite_pod_spec(spec: &mut serde_json::Value, lookup: &dyn Fn(&str, &str) -> Option<String>) {
    let set = |v: Option<&mut serde_json::Value>, kind: &str| {
        if let Some(v) = v {
            if let Some(new) = v.as_str().and_then(|name| lookup(kind, name)) {
                *v = new.into();
            }
        }
    };
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in array(spec.get_mut(list)) {
            for e in array(c.get_mut("env")) {
                set(
                    e.pointer_mut("/valueFrom/configMapKeyRef/name"),
                    "ConfigMap",
                );
                set(e.pointer_mut("/valueFrom/secretKeyRef/name"), "Secret");
            }
            for e in array(c.get_mut("envFrom")) {
                set(e.pointer_mut("/configMapRef/name"), "ConfigMap");
                set(e.pointer_mut("/secretRef/name"), "Secret");
            }
        }
    }
    for v in array(spec.get_mut("volumes")) {
        set(v.pointer_mut("/configMap/name"), "ConfigMap");
        set(v.pointer_mut("/secret/secretName"), "Secret");
        for s in array(v.pointer_mut("/projected/sources")) {
            set(s.pointer_mut("/configMap/name"), "ConfigMap");
            set(s.pointer_mut("/secret/name"), "Secret");
        }
    }
    for s in array(spec.get_mut("imagePullSecrets")) {
        set(s.get_mut("name"), "Secret");
    }
}

fn array(v: Option<&mut serde_json::Value>) -> impl Iterator<Item = &mut serde_json::Value> {
    v.and_then(|v| v.as_array_mut()).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{CompiledObject, PlannedFile};
    use serde_json::json;

    fn object(body: serde_json::Value) -> CompiledObject {
        CompiledObject {
            api_version: body["apiVersion"].as_str().unwrap().into(),
            kind: body["kind"].as_str().unwrap().into(),
            name: body["metadata"]["name"].as_str().unwrap().into(),
            namespace: None,
            body,
        }
    }

    fn plan(objects: Vec<serde_json::Value>) -> Plan {
        Plan {
            files: vec![PlannedFile {
                role: "web".into(),
                kind: "all".into(),
                output: ".kubes/output/web/all.yaml".into(),
                source: ".kubes/resources/web/all.yaml".into(),
                objects: objects.into_iter().map(object).collect(),
            }],
        }
    }

    #[test]
    fn hashes_config_and_rewrites_every_reference() {
        let mut p = plan(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"pw": "x"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {
                "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}],
                    "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
                            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "other", "key": "b"}}}]}],
                "volumes": [{"name": "v", "configMap": {"name": "cfg"}}, {"name": "s", "secret": {"secretName": "creds"}},
                            {"name": "p", "projected": {"sources": [{"configMap": {"name": "cfg"}}]}}]}}}}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cron"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]}}}}}}),
        ]);
        let renamed = apply_suffix_hash(&mut p);
        let objs = &p.files[0].objects;
        let cfg = &renamed[0].to;
        let creds = &renamed[1].to;
        assert!(
            cfg.starts_with("cfg-") && cfg.len() == "cfg-".len() + 10,
            "{cfg}"
        );
        assert_eq!(objs[0].name, *cfg);
        assert_eq!(objs[0].body["metadata"]["name"], json!(cfg));
        assert_eq!(objs[0].body["metadata"]["annotations"][HASHED_FROM], "cfg");
        let pod = &objs[2].body["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            json!(cfg)
        );
        assert_eq!(
            pod["containers"][0]["envFrom"][1]["secretRef"]["name"],
            json!(creds)
        );
        assert_eq!(
            pod["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"]["name"],
            json!(cfg)
        );
        assert_eq!(
            pod["containers"][0]["env"][1]["valueFrom"]["secretKeyRef"]["name"], "other",
            "unknown names stay"
        );
        assert_eq!(pod["volumes"][0]["configMap"]["name"], json!(cfg));
        assert_eq!(pod["volumes"][1]["secret"]["secretName"], json!(creds));
        assert_eq!(
            pod["volumes"][2]["projected"]["sources"][0]["configMap"]["name"],
            json!(cfg)
        );
        let cron = &objs[3].body["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(
            cron["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            json!(cfg)
        );
    }

    #[test]
    fn hash_follows_content_only() {
        let a = json!({"kind": "ConfigMap", "metadata": {"name": "x", "labels": {"l": "1"}}, "data": {"a": "1"}});
        let b = json!({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}});
        let c = json!({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "2"}});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
    }
}
