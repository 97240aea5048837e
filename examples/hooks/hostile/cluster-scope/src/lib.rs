//! Hostile: given a broad namespaced wildcard grant (`verbs: [get, list, apply, delete,
//! watch], resources: ["*"], namespaces: [<app ns>]`), tries to reach cluster-scoped kinds
//! (ClusterRoleBinding, Namespace, ClusterRole, CRD, webhook configuration) and RBAC or
//! credential kinds in its own namespace (Role, RoleBinding, ServiceAccount, Secret).
//!
//! Prints `attempt <label>: refused: <error>` or `LEAKED <label>: <answer>` per attempt,
//! then applies the ConfigMap `allowed` as a control (`control: applied configmap allowed`
//! or `control failed: <error>`). Fails with `leaked: <labels>` when any attempt got through.
//!
//! Config (all optional): `{"victim": "<namespace to delete>", "secret": "<secret name>"}`,
//! defaults `victim` and `db-password`.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

use kubes::hook::cluster;
use kubes::hook::types::{ClusterError, KindRef, ObjectRef};
use serde_json::json;

/// Collects the outcome of each attempt and prints one line per attempt.
#[derive(Default)]
struct Attempts {
    leaked: Vec<&'static str>,
}

impl Attempts {
    fn check(&mut self, label: &'static str, result: Result<String, ClusterError>) {
        match result {
            Ok(answer) => {
                println!("LEAKED {label}: {}", one_line(&answer, 200));
                self.leaked.push(label);
            }
            Err(e) => println!("attempt {label}: refused: {}", cut(&format!("{e:?}"), 300)),
        }
    }

    fn finish(self) -> Result<(), String> {
        if self.leaked.is_empty() {
            Ok(())
        } else {
            Err(format!("leaked: {}", self.leaked.join(",")))
        }
    }
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// At most `max` characters of `text`, control characters escaped so it stays one line.
fn one_line(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn obj(api_version: &str, kind: &str, name: &str, namespace: Option<&str>) -> ObjectRef {
    ObjectRef {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
    }
}

fn kind(api_version: &str, kind: &str) -> KindRef {
    KindRef {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
    }
}

fn joined(items: Vec<String>) -> String {
    format!("{} items: {}", items.len(), items.join(","))
}

impl Guest for Hook {
    fn run(ctx: Context) -> Result<(), String> {
        let config: serde_json::Value =
            serde_json::from_str(&ctx.config_json).unwrap_or(serde_json::Value::Null);
        let setting = |key: &str, default: &str| {
            config
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_string()
        };
        let victim = setting("victim", "victim");
        let secret = setting("secret", "db-password");
        let ns = ctx.namespace.as_str();
        let mut attempts = Attempts::default();

        let rbac = "rbac.authorization.k8s.io/v1";
        let sa_default = json!([{"kind": "ServiceAccount", "name": "default", "namespace": ns}]);
        let cluster_admin = json!({
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        });

        let crb = json!({
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubes-pwn"},
            "roleRef": cluster_admin,
            "subjects": sa_default,
        });
        attempts.check("apply-clusterrolebinding", cluster::apply(&crb.to_string()));

        let mut crb_ns = crb.clone();
        crb_ns["metadata"]["namespace"] = json!(ns);
        attempts.check(
            "apply-clusterrolebinding-ns",
            cluster::apply(&crb_ns.to_string()),
        );

        attempts.check(
            "delete-namespace",
            cluster::delete(&obj("v1", "Namespace", &victim, None), None)
                .map(|gone| format!("deleted={gone}")),
        );
        attempts.check(
            "delete-namespace-in-ns",
            cluster::delete(&obj("v1", "Namespace", &victim, Some(ns)), None)
                .map(|gone| format!("deleted={gone}")),
        );

        attempts.check(
            "get-namespace",
            cluster::get(&obj("v1", "Namespace", "kube-system", None)),
        );
        attempts.check(
            "list-namespaces",
            cluster::list(&kind("v1", "Namespace"), None, None).map(joined),
        );

        let role = json!({
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {"name": "kubes-pwn", "namespace": ns},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        });
        attempts.check("apply-role", cluster::apply(&role.to_string()));

        let role_binding = json!({
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": {"name": "kubes-pwn", "namespace": ns},
            "roleRef": cluster_admin,
            "subjects": sa_default,
        });
        attempts.check(
            "apply-rolebinding",
            cluster::apply(&role_binding.to_string()),
        );

        attempts.check(
            "get-secret",
            cluster::get(&obj("v1", "Secret", &secret, Some(ns))),
        );
        attempts.check(
            "list-secrets",
            cluster::list(&kind("v1", "Secret"), Some(ns), None).map(joined),
        );
        // A watch that opens is a leak even unread; it is dropped (stopped) at once.
        attempts.check(
            "watch-secrets",
            cluster::watch(&kind("v1", "Secret"), Some(ns), None, None).map(|watcher| {
                drop(watcher);
                "watch on Secrets opened".to_string()
            }),
        );

        let service_account = json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "kubes-pwn", "namespace": ns},
        });
        attempts.check(
            "apply-serviceaccount",
            cluster::apply(&service_account.to_string()),
        );

        attempts.check(
            "get-clusterrole",
            cluster::get(&obj(rbac, "ClusterRole", "cluster-admin", None)),
        );

        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "pwns.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "pwns", "singular": "pwn", "kind": "Pwn"},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1",
                    "served": true,
                    "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }],
            },
        });
        attempts.check("apply-crd", cluster::apply(&crd.to_string()));

        let webhook = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "kubes-pwn"},
            "webhooks": [{
                "name": "pwn.example.com",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"url": "https://pwn.example.com/validate"},
                "rules": [{
                    "apiGroups": ["*"],
                    "apiVersions": ["*"],
                    "operations": ["*"],
                    "resources": ["*/*"],
                }],
            }],
        });
        attempts.check("apply-webhook", cluster::apply(&webhook.to_string()));

        // Control: what the grant does allow must still work.
        let allowed = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "allowed", "namespace": ns},
            "data": {"ok": "yes"},
        });
        match cluster::apply(&allowed.to_string()) {
            Ok(_) => println!("control: applied configmap allowed"),
            Err(e) => println!("control failed: {}", cut(&format!("{e:?}"), 300)),
        }

        attempts.finish()
    }
}
