//! `kubes rbac`: the least-privilege RBAC a CI runner's ServiceAccount needs to deploy this
//! project, derived from what a deploy does (no cluster is asked):
//!
//! - the plan: `get` + `patch` (server-side apply reads the live object first, then patches;
//!   a patch creates what does not exist) on each planned kind in each namespace it goes
//!   to; cluster-scoped objects (Namespaces, ClusterRoles, ...) only by name;
//! - the checks before the walk: `get` on every namespace the plan writes into and the
//!   app's (Terminating namespaces are waited out, a missing app namespace created);
//! - the deploy lease: `create` Leases in the app's namespace, `get` + `update` on
//!   `kubes-deploy-<app>`;
//! - the inventory: `get` + `patch` on the ConfigMap `kubes-inventory-<app>-<env>`;
//! - prune: `delete` on the planned kinds with `prune: true`, and on suffix-hashed
//!   ConfigMaps and Secrets always (their old versions are pruned);
//! - every hook that runs during a deploy (apply and prune points; compile hooks have no
//!   cluster): hooks act with kubes' credentials, so each grant adds the API verbs the host
//!   uses to serve it (a hook `watch` is a `list` + `watch` and a `get` for `wait-for`,
//!   `apply` is `get` + `patch`, `delete` is `delete` + `get` to wait, `logs` is `get` on
//!   `pods/log` and `pods`).
//!
//! Discovery needs nothing: every authenticated user may read it (`system:discovery`).
//! Namespaced needs become a Role and a RoleBinding per namespace; cluster-scoped needs and
//! hook grants on every namespace (`namespaces: ["*"]`) a ClusterRole and its binding.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::hooks::grants::Verb as HookVerb;
use crate::hooks::HookSpec;
use crate::lifecycle::Step;
use crate::plan::Plan;

/// The runner's ServiceAccount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub namespace: String,
}

/// What the derivation needs to know about the project.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub app: String,
    pub env: String,
    /// The app's namespace (the lease and the inventory live there).
    pub namespace: String,
    pub plan: &'a Plan,
    /// `prune: true` in the config (or the runner passes `--prune`).
    pub prune: bool,
    pub hooks: &'a [HookSpec],
}

/// Where a rule applies: one namespace, or the whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Namespace(String),
    Cluster,
}

/// One PolicyRule, and why it is there (printed as a comment above the rule).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    pub api_group: String,
    pub resource: String,
    /// Empty: any name.
    pub names: Vec<String>,
    pub verbs: Vec<String>,
    #[serde(skip)]
    pub why: Vec<String>,
}

impl Rule {
    pub fn to_json(&self) -> Value {
        let mut r = json!({
            "apiGroups": [self.api_group],
            "resources": [self.resource],
            "verbs": self.verbs,
        });
        if !self.names.is_empty() {
            r["resourceNames"] = json!(self.names);
        }
        r
    }
}

/// The derived RBAC: rules by scope, and the names of the objects that carry them.
#[derive(Debug, Clone)]
pub struct Policy {
    pub subject: Subject,
    /// Name of every Role, RoleBinding, ClusterRole and ClusterRoleBinding.
    pub name: String,
    pub scopes: BTreeMap<Scope, Vec<Rule>>,
    /// Things to know that are not rules (printed as comments).
    pub notes: Vec<String>,
}

/// One atomic need: a verb on a resource (any name, or one), in a scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Need {
    scope: Scope,
    group: String,
    resource: String,
    name: Option<String>,
    verb: String,
}

#[derive(Default)]
struct Needs(BTreeMap<Need, BTreeSet<String>>);

impl Needs {
    fn add(
        &mut self,
        scope: Scope,
        group: &str,
        resource: &str,
        name: Option<&str>,
        verbs: &[&str],
        why: &str,
    ) {
        for v in verbs {
            let need = Need {
                scope: scope.clone(),
                group: group.into(),
                resource: resource.into(),
                name: name.map(str::to_string),
                verb: v.to_string(),
            };
            self.0.entry(need).or_default().insert(why.to_string());
        }
    }
}

/// `apps/v1` -> `apps`; `v1` -> ``.
fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map(|(g, _)| g).unwrap_or("")
}

/// The resource (plural) of a kind, as the API server names it: Kubernetes' own guess
/// (`UnsafeGuessKindToResource`), which is what built-in kinds and most CRDs use.
pub fn plural_of(kind: &str) -> String {
    let lower = kind.to_lowercase();
    match lower.as_str() {
        "endpoints" => return lower,
        _ => {}
    }
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// Plurals of the cluster-scoped kinds kubes knows (for hooks' `cluster: true` grants).
fn cluster_scoped_resource(resource: &str) -> bool {
    crate::compile::CLUSTER_SCOPED_KINDS
        .iter()
        .any(|k| plural_of(k) == resource)
}

/// Derive the policy for `inputs`, bound to `subject`.
pub fn derive(inputs: &Inputs, subject: Subject) -> Policy {
    let mut needs = Needs::default();
    let mut notes = Vec::new();
    let app_ns = Scope::Namespace(inputs.namespace.clone());

    // The namespaces checked before the walk, and the app's.
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    namespaces.insert(inputs.namespace.clone());
    for f in inputs.plan.files() {
        for o in &f.objects {
            let cluster_scoped = crate::compile::is_cluster_scoped(&o.kind);
            if o.api_version == "v1" && o.kind == "Namespace" {
                namespaces.insert(o.name.clone());
            }
            let (scope, name) = if cluster_scoped {
                (Scope::Cluster, Some(o.name.as_str()))
            } else {
                let ns = o
                    .namespace
                    .clone()
                    .unwrap_or_else(|| inputs.namespace.clone());
                namespaces.insert(ns.clone());
                (Scope::Namespace(ns), None)
            };
            let group = group_of(&o.api_version);
            let resource = plural_of(&o.kind);
            let why = format!("apply {}", f.output.display());
            needs.add(
                scope.clone(),
                group,
                &resource,
                name,
                &["get", "patch"],
                &why,
            );
            let hashed = o
                .body
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(crate::cluster::suffix_hash::HASHED_FROM))
                .is_some();
            if inputs.prune || hashed {
                let why = if hashed {
                    "prune old versions of suffix-hashed objects".to_string()
                } else {
                    "prune (prune: true)".to_string()
                };
                needs.add(scope, group, &resource, name, &["delete"], &why);
            }
        }
    }
    for ns in &namespaces {
        needs.add(
            Scope::Cluster,
            "",
            "namespaces",
            Some(ns),
            &["get"],
            "check the namespaces are not being deleted",
        );
    }
    if inputs.prune {
        notes.push("prune deletes what the previous inventory recorded: after removing a kind from the project, deploy once with the previous policy (or add that kind's delete) before narrowing it".into());
    }

    // The deploy lease and the inventory, in the app's namespace.
    let lease = crate::cluster::lease::lease_name(&inputs.app);
    needs.add(
        app_ns.clone(),
        "coordination.k8s.io",
        "leases",
        None,
        &["create"],
        "take the deploy lease",
    );
    needs.add(
        app_ns.clone(),
        "coordination.k8s.io",
        "leases",
        Some(&lease),
        &["get", "update"],
        "take, renew and release the deploy lease",
    );
    let inventory = crate::cluster::inventory::InventoryKey {
        app: inputs.app.clone(),
        env: inputs.env.clone(),
        namespace: inputs.namespace.clone(),
    }
    .name();
    needs.add(
        app_ns.clone(),
        "",
        "configmaps",
        Some(&inventory),
        &["get", "patch"],
        "read and record the inventory",
    );

    // Hooks: their grants, as the API calls the host makes for them.
    for h in inputs.hooks {
        if !matches!(h.point.step, Step::Apply | Step::Prune) {
            continue;
        }
        let why = format!("hook {}", h.name);
        for g in &h.grants {
            let scopes: Vec<Scope> = if g.namespaces.iter().any(|n| n == "*") {
                vec![Scope::Cluster]
            } else if g.namespaces.is_empty() {
                vec![app_ns.clone()]
            } else {
                g.namespaces
                    .iter()
                    .map(|n| Scope::Namespace(n.clone()))
                    .collect()
            };
            for r in &g.resources {
                let (resource, group) = if r == "*" {
                    notes.push(format!("hook {} has a grant on `*`: RBAC cannot leave out the RBAC and credential kinds as the hook sandbox does, so the runner gets every resource", h.name));
                    ("*".to_string(), "*".to_string())
                } else {
                    let (p, g) = r.split_once('.').unwrap_or((r, ""));
                    (p.to_string(), g.to_string())
                };
                // Cluster-scoped resources are never in a namespace: a grant reaches them
                // only with `cluster: true`.
                let mut targets: Vec<Scope> = if cluster_scoped_resource(&resource) {
                    vec![]
                } else {
                    scopes.clone()
                };
                if g.cluster && (resource == "*" || cluster_scoped_resource(&resource)) {
                    targets.push(Scope::Cluster);
                }
                let names: Vec<Option<&str>> = if g.names.is_empty() {
                    vec![None]
                } else {
                    g.names.iter().map(|n| Some(n.as_str())).collect()
                };
                for scope in &targets {
                    for name in &names {
                        for v in &g.verbs {
                            let (res, verbs): (String, &[&str]) = match v {
                                HookVerb::Get => (resource.clone(), &["get"]),
                                HookVerb::List => (resource.clone(), &["list"]),
                                HookVerb::Watch => (resource.clone(), &["get", "list", "watch"]),
                                HookVerb::Apply => (resource.clone(), &["get", "patch"]),
                                HookVerb::Delete => (resource.clone(), &["delete", "get"]),
                                HookVerb::Logs => {
                                    needs.add(
                                        scope.clone(),
                                        &group,
                                        &resource,
                                        *name,
                                        &["get"],
                                        &why,
                                    );
                                    (format!("{resource}/log"), &["get"])
                                }
                            };
                            needs.add(scope.clone(), &group, &res, *name, verbs, &why);
                        }
                    }
                }
            }
        }
    }

    Policy {
        subject,
        name: format!("kubes-deploy-{}-{}", inputs.app, inputs.env).to_lowercase(),
        scopes: rules_of(needs),
        notes,
    }
}

/// Group atomic needs into rules: a named need covered by the same verb on any name (in
/// the same scope, or cluster-wide) is dropped; the rest become one rule per resource and
/// set of names, with the verbs joined.
fn rules_of(needs: Needs) -> BTreeMap<Scope, Vec<Rule>> {
    let covered = |n: &Need| -> bool {
        let any = |scope: &Scope| {
            needs.0.contains_key(&Need {
                scope: scope.clone(),
                name: None,
                ..n.clone()
            })
        };
        (n.name.is_some() && any(&n.scope))
            || (matches!(n.scope, Scope::Namespace(_))
                && (any(&Scope::Cluster)
                    || needs.0.contains_key(&Need {
                        scope: Scope::Cluster,
                        ..n.clone()
                    })))
    };
    // (scope, group, resource, name) -> verbs, whys
    let mut by_object: BTreeMap<
        (Scope, String, String, Option<String>),
        (BTreeSet<String>, BTreeSet<String>),
    > = BTreeMap::new();
    for (n, why) in &needs.0 {
        if covered(n) {
            continue;
        }
        let e = by_object
            .entry((
                n.scope.clone(),
                n.group.clone(),
                n.resource.clone(),
                n.name.clone(),
            ))
            .or_default();
        e.0.insert(n.verb.clone());
        e.1.extend(why.iter().cloned());
    }
    // Names with the same verbs on one resource share a rule.
    let mut grouped: BTreeMap<
        (Scope, String, String, Vec<String>, bool),
        (Vec<String>, BTreeSet<String>),
    > = BTreeMap::new();
    for ((scope, group, resource, name), (verbs, why)) in by_object {
        let verbs: Vec<String> = verbs.into_iter().collect();
        let e = grouped
            .entry((scope, group, resource, verbs, name.is_some()))
            .or_default();
        if let Some(n) = name {
            e.0.push(n);
        }
        e.1.extend(why);
    }
    let mut out: BTreeMap<Scope, Vec<Rule>> = BTreeMap::new();
    for ((scope, api_group, resource, verbs, _), (names, why)) in grouped {
        out.entry(scope).or_default().push(Rule {
            api_group,
            resource,
            names,
            verbs,
            why: why.into_iter().collect(),
        });
    }
    out
}

impl Policy {
    /// The objects an admin applies once: a Namespace for each namespace that gets a Role
    /// (a Role needs its namespace to exist before the first deploy), then per namespace a
    /// Role and a RoleBinding, then the ClusterRole and ClusterRoleBinding if any.
    pub fn objects(&self) -> Vec<(Vec<String>, Value)> {
        let rbac = "rbac.authorization.k8s.io/v1";
        let subject = json!([{"kind": "ServiceAccount", "name": self.subject.name, "namespace": self.subject.namespace}]);
        let labels =
            json!({"app.kubernetes.io/managed-by": "kubes", "kubes/rbac-for": self.subject.name});
        let why_lines = |rules: &[Rule]| -> Vec<String> {
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| format!("rule {}: {}", i + 1, r.why.join("; ")))
                .collect()
        };
        let mut out = Vec::new();
        for (scope, rules) in &self.scopes {
            if let Scope::Namespace(ns) = scope {
                out.push((
                    vec![format!(
                        "namespace {ns} must exist before its Role can be created"
                    )],
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                ));
                let rules_json: Vec<Value> = rules.iter().map(Rule::to_json).collect();
                out.push((
                    why_lines(rules),
                    json!({"apiVersion": rbac, "kind": "Role",
                        "metadata": {"name": self.name, "namespace": ns, "labels": labels},
                        "rules": rules_json}),
                ));
                out.push((
                    vec![],
                    json!({"apiVersion": rbac, "kind": "RoleBinding",
                        "metadata": {"name": self.name, "namespace": ns, "labels": labels},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": self.name},
                        "subjects": subject}),
                ));
            }
        }
        if let Some(rules) = self.scopes.get(&Scope::Cluster) {
            let rules_json: Vec<Value> = rules.iter().map(Rule::to_json).collect();
            out.push((
                why_lines(rules),
                json!({"apiVersion": rbac, "kind": "ClusterRole",
                    "metadata": {"name": self.name, "labels": labels},
                    "rules": rules_json}),
            ));
            out.push((
                vec![],
                json!({"apiVersion": rbac, "kind": "ClusterRoleBinding",
                    "metadata": {"name": self.name, "labels": labels},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": self.name},
                    "subjects": subject}),
            ));
        }
        out
    }

    /// Multi-document YAML, each rule's reasons as comments above its object.
    pub fn to_yaml(&self) -> anyhow::Result<String> {
        let mut out = format!(
            "# Least-privilege RBAC for ServiceAccount {}/{} to deploy this project with kubes\n# (generated by `kubes rbac`; apply once as an admin: kubectl apply -f FILE).\n# Discovery needs no rule: every authenticated user may read it (system:discovery).\n",
            self.subject.namespace, self.subject.name
        );
        for n in &self.notes {
            out.push_str(&format!("# note: {n}\n"));
        }
        for (comments, obj) in self.objects() {
            out.push_str("---\n");
            for c in comments {
                out.push_str(&format!("# {c}\n"));
            }
            out.push_str(&crate::yaml::to_string(&obj)?);
        }
        Ok(out)
    }

    /// One JSON value: a `v1` List of the objects.
    pub fn to_json(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "List",
            "items": self.objects().into_iter().map(|(_, o)| o).collect::<Vec<_>>()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_as_kubernetes_guesses_them() {
        assert_eq!(plural_of("Deployment"), "deployments");
        assert_eq!(plural_of("Ingress"), "ingresses");
        assert_eq!(plural_of("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural_of("Endpoints"), "endpoints");
        assert!(cluster_scoped_resource("namespaces"));
        assert!(!cluster_scoped_resource("pods"));
    }
}
