//! Defaulting and validation of the kinds real deploys touch: names, required fields and
//! the immutable fields a real apiserver rejects changes to (422 Invalid).

use crate::meta::{dns1123_label_error, dns1123_subdomain_error};
use crate::registry::ResourceType;
use crate::status::{ApiError, Cause};
use serde_json::{json, Value};

fn invalid(field: &str, value: &Value, detail: &str) -> Cause {
    let shown = match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "null".into(),
        other => other.to_string(),
    };
    Cause {
        reason: "FieldValueInvalid",
        field: field.into(),
        message: format!("Invalid value: {shown}: {detail}"),
    }
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        field: field.into(),
        message: "Required value".into(),
    }
}

fn unsupported(field: &str, value: &Value, allowed: &[&str]) -> Cause {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    Cause {
        reason: "FieldValueNotSupported",
        field: field.into(),
        message: format!(
            "Unsupported value: {value}: supported values: {}",
            allowed.join(", ")
        ),
    }
}

/// Defaults the apiserver applies on every write: pod specs (in pods and in the
/// templates of workloads) get the fields a real cluster fills in, so clients see live
/// objects shaped like a cluster's.
pub fn default_on_write(rt: &ResourceType, obj: &mut Value) {
    let spec = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => obj.get_mut("spec"),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            obj.pointer_mut("/spec/template/spec")
        }
        ("batch", "CronJob") => obj.pointer_mut("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    };
    if let Some(spec) = spec.filter(|s| s.is_object()) {
        default_pod_spec(spec);
    }
}

fn set_default(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(value);
    }
}

fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs.iter_mut().filter(|c| c.is_object()) {
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let last = image.rsplit('/').next().unwrap_or_default();
            let latest = !last.contains(':') || last.ends_with(":latest");
            let policy = if latest && !image.contains('@') {
                "Always"
            } else {
                "IfNotPresent"
            };
            set_default(c, "imagePullPolicy", json!(policy));
            set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "terminationMessagePolicy", json!("File"));
            set_default(c, "resources", json!({}));
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut() {
                    set_default(p, "protocol", json!("TCP"));
                }
            }
        }
    }
}

/// Fill in the defaults a real apiserver adds on create.
pub fn default_on_create(rt: &ResourceType, obj: &mut Value, uid: &str) {
    default_on_write(rt, obj);
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        ("", "Service") => {
            let spec = &mut obj["spec"];
            if spec.get("type").is_none() {
                spec["type"] = json!("ClusterIP");
            }
            if spec.get("clusterIP").is_none() && spec["type"] != "ExternalName" {
                let h = uid
                    .bytes()
                    .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
                let ip = format!("10.96.{}.{}", (h >> 8) % 254 + 1, h % 254 + 1);
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            if spec.get("sessionAffinity").is_none() {
                spec["sessionAffinity"] = json!("None");
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        ("batch", "Job") => {
            let spec = &mut obj["spec"];
            for (k, v) in [("backoffLimit", 6), ("completions", 1), ("parallelism", 1)] {
                if spec.get(k).is_none() {
                    spec[k] = json!(v);
                }
            }
            if spec.get("completionMode").is_none() {
                spec["completionMode"] = json!("NonIndexed");
            }
            if spec.get("suspend").is_none() {
                spec["suspend"] = json!(false);
            }
            // Real Jobs get a generated selector bound to their uid unless manualSelector.
            if spec.get("manualSelector") != Some(&json!(true)) {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                let name = obj["metadata"]["name"].clone();
                let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
                labels["batch.kubernetes.io/controller-uid"] = json!(uid);
                labels["controller-uid"] = json!(uid);
                labels["batch.kubernetes.io/job-name"] = name.clone();
                labels["job-name"] = name;
            }
        }
        ("apps", "Deployment") => {
            let spec = &mut obj["spec"];
            if spec.get("replicas").is_none() {
                spec["replicas"] = json!(1);
            }
            if spec.get("revisionHistoryLimit").is_none() {
                spec["revisionHistoryLimit"] = json!(10);
            }
            if spec.get("progressDeadlineSeconds").is_none() {
                spec["progressDeadlineSeconds"] = json!(600);
            }
            if spec.get("strategy").is_none() {
                spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            }
        }
        ("", "PersistentVolumeClaim") => {
            // No storage provisioner to wait for: claims bind at once.
            obj["status"] = json!({"phase": "Bound", "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
                "capacity": obj.pointer("/spec/resources/requests").cloned().unwrap_or(json!({}))});
        }
        ("", "Pod") if obj.get("status").is_none() => {
            obj["status"] = json!({"phase": "Pending"});
        }
        _ => {}
    }
}

/// Check a new object; `old` is the stored version for updates.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut causes = Vec::new();
    let name_problem = match rt.kind.as_str() {
        "Namespace" | "Service" => dns1123_label_error(name),
        _ if rt.from_crd => None,
        _ => dns1123_subdomain_error(name),
    };
    if let Some(problem) = name_problem {
        causes.push(invalid("metadata.name", &json!(name), &problem));
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !v.is_string() {
                causes.push(invalid(
                    &format!("metadata.labels.{k}"),
                    v,
                    "label values must be strings",
                ));
            } else if v.as_str().is_some_and(|s| s.len() > 63) {
                causes.push(invalid(
                    &format!("metadata.labels.{k}"),
                    v,
                    "must be no more than 63 characters",
                ));
            }
        }
    }
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("batch", "Job") => {
            pod_template_checks(spec.get("template"), "spec.template", &mut causes);
            let rp = spec
                .pointer("/template/spec/restartPolicy")
                .cloned()
                .unwrap_or(Value::Null);
            if rp != "Never" && rp != "OnFailure" {
                causes.push(unsupported(
                    "spec.template.spec.restartPolicy",
                    &rp,
                    &["OnFailure", "Never"],
                ));
            }
            if let Some(old) = old {
                let old_spec = old.get("spec").unwrap_or(&Value::Null);
                if old_spec.get("selector") != spec.get("selector") {
                    causes.push(invalid(
                        "spec.selector",
                        spec.get("selector").unwrap_or(&Value::Null),
                        "field is immutable",
                    ));
                }
                if old_spec.get("template") != spec.get("template") {
                    causes.push(invalid(
                        "spec.template",
                        &json!("core.PodTemplateSpec{...}"),
                        "field is immutable",
                    ));
                }
                if old_spec.get("completions") != spec.get("completions") {
                    causes.push(invalid(
                        "spec.completions",
                        spec.get("completions").unwrap_or(&Value::Null),
                        "field is immutable",
                    ));
                }
            }
        }
        ("apps", kind @ ("Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")) => {
            match spec.get("selector") {
                None | Some(Value::Null) => causes.push(required("spec.selector")),
                Some(sel) => {
                    let labels = spec.pointer("/template/metadata/labels");
                    let reqs = crate::meta::selector_requirements(sel);
                    if reqs.is_empty() {
                        causes.push(invalid(
                            "spec.selector",
                            sel,
                            "empty selector is invalid for deployment",
                        ));
                    } else if !crate::meta::labels_match(&reqs, labels) {
                        causes.push(invalid(
                            "spec.template.metadata.labels",
                            labels.unwrap_or(&Value::Null),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
            }
            pod_template_checks(spec.get("template"), "spec.template", &mut causes);
            if let Some(old) = old {
                if old.pointer("/spec/selector") != spec.get("selector") {
                    causes.push(invalid(
                        "spec.selector",
                        spec.get("selector").unwrap_or(&Value::Null),
                        "field is immutable",
                    ));
                }
            }
            let _ = kind;
        }
        ("", "Pod")
            if spec
                .get("containers")
                .and_then(Value::as_array)
                .is_none_or(|c| c.is_empty()) =>
        {
            causes.push(required("spec.containers"));
        }
        ("", "Service") => {
            if let Some(old) = old {
                let (o, n) = (old.pointer("/spec/clusterIP"), spec.get("clusterIP"));
                if n.is_some() && o != n {
                    causes.push(invalid(
                        "spec.clusterIP",
                        n.unwrap_or(&Value::Null),
                        "field is immutable",
                    ));
                }
            }
        }
        ("", "ConfigMap") | ("", "Secret") => {
            if let Some(old) = old {
                if old.get("immutable") == Some(&json!(true))
                    && (old.get("data") != obj.get("data")
                        || old.get("binaryData") != obj.get("binaryData"))
                {
                    causes.push(Cause {
                        reason: "FieldValueForbidden",
                        field: "data".into(),
                        message: "Forbidden: field is immutable when `immutable` is set".into(),
                    });
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            for f in ["group", "names", "scope", "versions"] {
                if spec.get(f).is_none() {
                    causes.push(required(&format!("spec.{f}")));
                }
            }
            let group = spec
                .get("group")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plural = spec
                .pointer("/names/plural")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !name.is_empty() && name != format!("{plural}.{group}") {
                causes.push(invalid(
                    "metadata.name",
                    &json!(name),
                    "must be spec.names.plural+\".\"+spec.group",
                ));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&rt.kind, &rt.group, name, causes))
    }
}

fn pod_template_checks(template: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let containers = template
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array);
    match containers {
        None => causes.push(required(&format!("{at}.spec.containers"))),
        Some(cs) if cs.is_empty() => causes.push(required(&format!("{at}.spec.containers"))),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                let cname = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if cname.is_empty() {
                    causes.push(required(&format!("{at}.spec.containers[{i}].name")));
                } else if let Some(p) = dns1123_label_error(cname) {
                    causes.push(invalid(
                        &format!("{at}.spec.containers[{i}].name"),
                        &json!(cname),
                        &p,
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(required(&format!("{at}.spec.containers[{i}].image")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn job(template_image: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": template_image}]}}}})
    }

    #[test]
    fn job_template_is_immutable() {
        let reg = Registry::default();
        let rt = reg.find("batch", "v1", "jobs").unwrap();
        let mut old = job("db:1");
        default_on_create(&rt, &mut old, "u1");
        validate(&rt, &old, None).unwrap();
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("db:2");
        let err = validate(&rt, &new, Some(&old)).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.reason, "Invalid");
        assert!(
            err.message
                .starts_with("Job.batch \"migrate\" is invalid: spec.template"),
            "{}",
            err.message
        );
    }

    #[test]
    fn pod_templates_get_cluster_defaults() {
        let reg = Registry::default();
        let rt = reg.find("apps", "v1", "deployments").unwrap();
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "web:1.2", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "registry.local:5000/web"}]}}}});
        default_on_write(&rt, &mut d);
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["containers"][1]["imagePullPolicy"], "Always");
    }

    #[test]
    fn bad_names_and_missing_fields_are_invalid() {
        let reg = Registry::default();
        let rt = reg.find("apps", "v1", "deployments").unwrap();
        let d = json!({"metadata": {"name": "Web_1"}, "spec": {"template": {"spec": {"containers": []}}}});
        let err = validate(&rt, &d, None).unwrap_err();
        assert!(err.message.contains("metadata.name"), "{}", err.message);
        assert!(
            err.message.contains("spec.selector: Required value"),
            "{}",
            err.message
        );
    }
}
