//! Unknown-field detection for `fieldValidation` (Strict rejects, Warn warns), on the
//! parts of the common kinds where typos happen: top level, metadata, workload specs, pod
//! templates, pod specs and containers. Fields outside these shapes are not checked.

use serde_json::Value;

#[derive(Clone, Copy)]
enum Shape {
    Root,
    Meta,
    DeploymentSpec,
    JobSpec,
    CronJobSpec,
    JobTemplate,
    StatefulSetSpec,
    ServiceSpec,
    PodTemplate,
    PodSpec,
    Container,
    /// Not modelled: anything goes.
    Any,
}

const META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
const DEPLOYMENT: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "paused",
    "progressDeadlineSeconds",
];
const JOB: &[&str] = &[
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "podFailurePolicy",
    "successPolicy",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "selector",
    "manualSelector",
    "template",
    "ttlSecondsAfterFinished",
    "completionMode",
    "suspend",
    "podReplacementPolicy",
    "managedBy",
];
const CRONJOB: &[&str] = &[
    "schedule",
    "timeZone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "suspend",
    "jobTemplate",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
];
const STATEFULSET: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "volumeClaimTemplates",
    "serviceName",
    "podManagementPolicy",
    "updateStrategy",
    "revisionHistoryLimit",
    "minReadySeconds",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
];
const SERVICE: &[&str] = &[
    "ports",
    "selector",
    "clusterIP",
    "clusterIPs",
    "type",
    "externalIPs",
    "sessionAffinity",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "publishNotReadyAddresses",
    "sessionAffinityConfig",
    "ipFamilies",
    "ipFamilyPolicy",
    "allocateLoadBalancerNodePorts",
    "loadBalancerClass",
    "internalTrafficPolicy",
    "trafficDistribution",
];
const POD_SPEC: &[&str] = &[
    "volumes",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
];
const CONTAINER: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
];

fn root_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "ConfigMap" => &[
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "binaryData",
            "immutable",
        ],
        "Secret" => &[
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "stringData",
            "type",
            "immutable",
        ],
        "Deployment" | "Job" | "CronJob" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        | "Service" | "Pod" | "Namespace" => &["apiVersion", "kind", "metadata", "spec", "status"],
        _ => return None,
    })
}

fn spec_shape(kind: &str) -> Shape {
    match kind {
        "Deployment" | "DaemonSet" | "ReplicaSet" => Shape::DeploymentSpec,
        "Job" => Shape::JobSpec,
        "CronJob" => Shape::CronJobSpec,
        "StatefulSet" => Shape::StatefulSetSpec,
        "Service" => Shape::ServiceSpec,
        "Pod" => Shape::PodSpec,
        _ => Shape::Any,
    }
}

/// Dotted paths of fields the kind does not declare, e.g. `spec.replica`.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(Shape::Root, kind, obj, "", &mut out);
    out
}

fn walk(shape: Shape, kind: &str, v: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(m) = v else { return };
    let known: &[&str] = match shape {
        Shape::Root => match root_keys(kind) {
            Some(k) => k,
            None => return,
        },
        Shape::Meta => META,
        Shape::DeploymentSpec => DEPLOYMENT,
        Shape::JobSpec => JOB,
        Shape::CronJobSpec => CRONJOB,
        Shape::JobTemplate | Shape::PodTemplate => &["metadata", "spec"],
        Shape::StatefulSetSpec => STATEFULSET,
        Shape::ServiceSpec => SERVICE,
        Shape::PodSpec => POD_SPEC,
        Shape::Container => CONTAINER,
        Shape::Any => return,
    };
    for (k, child) in m {
        // Strategic-merge-patch directives ($patch, $setElementOrder/...) are not fields.
        // A null only deletes (merge patches remove fields that way), so it cannot be a typo
        // that sets something.
        if k.starts_with('$') || child.is_null() {
            continue;
        }
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if !known.contains(&k.as_str()) {
            out.push(p);
            continue;
        }
        let next = match (shape, k.as_str()) {
            (_, "metadata") => Shape::Meta,
            (Shape::Root, "spec") => spec_shape(kind),
            (Shape::DeploymentSpec | Shape::JobSpec | Shape::StatefulSetSpec, "template") => {
                Shape::PodTemplate
            }
            (Shape::CronJobSpec, "jobTemplate") => Shape::JobTemplate,
            (Shape::JobTemplate, "spec") => Shape::JobSpec,
            (Shape::PodTemplate, "spec") => Shape::PodSpec,
            (Shape::PodSpec, "containers" | "initContainers") => {
                if let Value::Array(cs) = child {
                    for (i, c) in cs.iter().enumerate() {
                        walk(Shape::Container, kind, c, &format!("{p}[{i}]"), out);
                    }
                }
                continue;
            }
            _ => Shape::Any,
        };
        walk(next, kind, child, &p, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typos_in_workloads_are_found_and_unmodelled_parts_pass() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "lables": {}},
            "spec": {"replica": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "x",
                "resources": {"anything": 1}}]}}}});
        assert_eq!(
            unknown_fields("Deployment", &d),
            [
                "metadata.lables",
                "spec.replica",
                "spec.template.spec.containers[0].imagePullPolicyy"
            ]
        );
        assert!(unknown_fields("Widget", &json!({"whatever": 1})).is_empty());
        let removal = json!({"spec": {"replica": null, "$setElementOrder/containers": []}});
        assert!(unknown_fields("Deployment", &removal).is_empty());
    }
}
