//! Grants: which cluster calls a hook may make. Declared per hook in hooks.yaml as
//! verbs × resources × optional names × optional namespaces; the namespace defaults to the
//! app's. Every cluster call from a hook is checked here before it reaches the API server.
//!
//! Deny by default, and never wider than written:
//! - a grant covers namespaced objects in its namespaces only (the app's by default);
//!   cluster-scoped objects (Namespaces, ClusterRoles, CRDs, ...) only with `cluster: true`;
//! - `*` in `resources` never covers the RBAC and credential kinds ([`EXPLICIT_ONLY`]):
//!   those are granted only by naming them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a cluster call does, as grants name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Watch,
    Apply,
    Delete,
    Logs,
}

impl Verb {
    pub const ALL: [Verb; 6] = [
        Verb::Get,
        Verb::List,
        Verb::Watch,
        Verb::Apply,
        Verb::Delete,
        Verb::Logs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Apply => "apply",
            Verb::Delete => "delete",
            Verb::Logs => "logs",
        }
    }

    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resources `*` never covers: who may do what (RBAC), credentials (Secrets, ServiceAccounts
/// and their tokens, CSRs), and what intercepts or redefines the API (admission webhooks and
/// policies, CRDs, aggregated APIs). A hook gets them only by naming them in `resources`.
/// (Subresources such as `pods/exec`, `*/proxy` or `serviceaccounts/token` are not reachable
/// at all: the WIT has no call for them and object names cannot contain `/`.)
pub const EXPLICIT_ONLY: [&str; 20] = [
    "secrets",
    "serviceaccounts",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "certificatesigningrequests.certificates.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
    "mutatingadmissionpolicies.admissionregistration.k8s.io",
    "mutatingadmissionpolicybindings.admissionregistration.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
    "apiservices.apiregistration.k8s.io",
    "tokenreviews.authentication.k8s.io",
    "subjectaccessreviews.authorization.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "localsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
];

/// Whether `*` stays away from `resource`.
pub fn explicit_only(resource: &str) -> bool {
    EXPLICIT_ONLY.contains(&resource)
}

/// One grant: any of `verbs` on any of `resources` (`plural` for the core group, else
/// `plural.group`, e.g. `jobs.batch`; `*` for all but [`EXPLICIT_ONLY`]), restricted to
/// `names` when given and to `namespaces` when given (else the app's namespace; `*` for all
/// namespaces). Cluster-scoped objects only with `cluster: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub verbs: Vec<Verb>,
    pub resources: Vec<String>,
    pub names: Vec<String>,
    pub namespaces: Vec<String>,
    /// Whether the grant also covers cluster-scoped objects of its resources.
    pub cluster: bool,
}

impl Grant {
    /// What this grant lets a hook do once the rules are applied, one line per aspect: for
    /// `kubes hooks inspect`.
    pub fn effective(&self, app_namespace: &str) -> Vec<String> {
        let verbs: Vec<&str> = self.verbs.iter().map(|v| v.as_str()).collect();
        let mut out = Vec::new();
        let resources = if self.resources.iter().any(|r| r == "*") {
            let named: Vec<&str> = self
                .resources
                .iter()
                .filter(|r| *r != "*")
                .map(String::as_str)
                .collect();
            let mut s = "every resource except the RBAC and credential kinds".to_string();
            if !named.is_empty() {
                s.push_str(&format!(", plus {}", named.join(", ")));
            }
            s
        } else {
            self.resources.join(", ")
        };
        out.push(format!("{} on {resources}", verbs.join(", ")));
        if !self.names.is_empty() {
            out.push(format!("  only objects named {}", self.names.join(", ")));
        }
        let ns = if self.namespaces.is_empty() {
            format!("namespace {app_namespace} (the app's)")
        } else if self.namespaces.iter().any(|n| n == "*") {
            "every namespace".to_string()
        } else {
            format!("namespaces {}", self.namespaces.join(", "))
        };
        out.push(format!(
            "  in {ns}; cluster-scoped objects: {}",
            if self.cluster { "yes" } else { "no" }
        ));
        if self.resources.iter().any(|r| r == "*") {
            out.push(format!("  `*` never covers: {}", EXPLICIT_ONLY.join(", ")));
        }
        out
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verbs: Vec<&str> = self.verbs.iter().map(|v| v.as_str()).collect();
        write!(f, "{} {}", verbs.join(","), self.resources.join(","))?;
        if !self.names.is_empty() {
            write!(f, " names={}", self.names.join(","))?;
        }
        if !self.namespaces.is_empty() {
            write!(f, " namespaces={}", self.namespaces.join(","))?;
        }
        if self.cluster {
            write!(f, " cluster=true")?;
        }
        Ok(())
    }
}

/// One cluster call a hook wants to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub verb: Verb,
    /// `plural` or `plural.group`, as grants name resources.
    pub resource: &'a str,
    /// `None` for calls on many objects (list, watch without a name).
    pub name: Option<&'a str>,
    /// `None` for cluster-scoped resources.
    pub namespace: Option<&'a str>,
}

/// A call the grants did not cover: returned to the guest as `forbidden` and printed as an
/// audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub hook: String,
    pub verb: Verb,
    pub resource: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Which rule refused it.
    pub rule: DenyRule,
}

/// Why a call was denied: the rule a user needs to know to grant it, if they mean to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenyRule {
    /// No grant has this verb on this resource, name and namespace.
    NoGrant,
    /// A grant would cover it but for its scope: cluster-scoped objects need `cluster: true`.
    ClusterScope,
    /// A grant with `resources: ["*"]` would cover it, but `*` never covers this kind.
    ExplicitOnly,
}

impl DenyRule {
    pub fn describe(self) -> &'static str {
        match self {
            DenyRule::NoGrant => "no grant covers it",
            DenyRule::ClusterScope => {
                "cluster-scoped objects are covered only by a grant with `cluster: true`"
            }
            DenyRule::ExplicitOnly => {
                "`*` never covers the RBAC and credential kinds: name the resource in `resources`"
            }
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hook={} verb={} resource={} name={} namespace={} denied: {}",
            self.hook,
            self.verb,
            self.resource,
            self.name.as_deref().unwrap_or("*"),
            self.namespace.as_deref().unwrap_or("(cluster)"),
            self.rule.describe()
        )
    }
}

/// A hook's grants, with the app namespace they default to.
#[derive(Debug, Clone)]
pub struct Grants {
    pub hook: String,
    pub app_namespace: String,
    pub grants: Vec<Grant>,
}

/// The API group of a resource as grants name it: `jobs.batch` -> `batch`, `pods` -> ``.
fn resource_group(resource: &str) -> &str {
    resource.split_once('.').map_or("", |(_, g)| g)
}

impl Grants {
    /// Whether any grant could cover `verb` on some resource of API group `group`: checked
    /// before discovery, so a call no grant can cover makes no request at all.
    pub fn may_cover(&self, verb: Verb, group: &str) -> bool {
        self.grants.iter().any(|g| {
            g.verbs.contains(&verb)
                && g.resources
                    .iter()
                    .any(|r| r == "*" || resource_group(r) == group)
        })
    }

    /// The denial for a call refused before its resource was resolved.
    pub fn deny(
        &self,
        verb: Verb,
        resource: String,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Denial {
        Denial {
            hook: self.hook.clone(),
            verb,
            resource,
            name: name.map(str::to_string),
            namespace: namespace.map(str::to_string),
            rule: DenyRule::NoGrant,
        }
    }

    /// Allow the call if any grant covers it; else say what was denied.
    pub fn check(&self, req: &Request<'_>) -> Result<(), Denial> {
        if self
            .grants
            .iter()
            .any(|g| covers(g, req, &self.app_namespace))
        {
            return Ok(());
        }
        // Say which rule stopped it: would a grant cover it if it were namespaced, or if
        // `*` covered every kind?
        let widened = |g: &Grant| {
            let mut w = g.clone();
            w.cluster = true;
            w
        };
        let rule = if explicit_only(req.resource)
            && self.grants.iter().any(|g| {
                let mut w = widened(g);
                w.resources = vec![req.resource.to_string()];
                g.resources.iter().any(|r| r == "*") && covers(&w, req, &self.app_namespace)
            }) {
            DenyRule::ExplicitOnly
        } else if req.namespace.is_none()
            && self
                .grants
                .iter()
                .any(|g| covers(&widened(g), req, &self.app_namespace))
        {
            DenyRule::ClusterScope
        } else {
            DenyRule::NoGrant
        };
        Err(Denial {
            hook: self.hook.clone(),
            verb: req.verb,
            resource: req.resource.to_string(),
            name: req.name.map(str::to_string),
            namespace: req.namespace.map(str::to_string),
            rule,
        })
    }
}

fn covers(g: &Grant, req: &Request<'_>, app_ns: &str) -> bool {
    if !g.verbs.contains(&req.verb) {
        return false;
    }
    if !g
        .resources
        .iter()
        .any(|r| r == req.resource || (r == "*" && !explicit_only(req.resource)))
    {
        return false;
    }
    if !g.names.is_empty() {
        // A grant limited to names never covers a call on "all objects" (list, watch).
        let Some(name) = req.name else { return false };
        if !g.names.iter().any(|n| n == "*" || n == name) {
            return false;
        }
    }
    match req.namespace {
        // Cluster-scoped: never implied by namespaces, only by `cluster: true`.
        None => g.cluster,
        Some(ns) if g.namespaces.is_empty() => ns == app_ns,
        Some(ns) => g.namespaces.iter().any(|n| n == "*" || n == ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(list: Vec<Grant>) -> Grants {
        Grants {
            hook: "h".into(),
            app_namespace: "app".into(),
            grants: list,
        }
    }

    fn grant(verbs: &[Verb], resources: &[&str], names: &[&str], namespaces: &[&str]) -> Grant {
        Grant {
            verbs: verbs.to_vec(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            names: names.iter().map(|s| s.to_string()).collect(),
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            cluster: false,
        }
    }

    fn req<'a>(
        verb: Verb,
        resource: &'a str,
        name: Option<&'a str>,
        ns: Option<&'a str>,
    ) -> Request<'a> {
        Request {
            verb,
            resource,
            name,
            namespace: ns,
        }
    }

    #[test]
    fn may_cover_looks_at_verb_and_group_only() {
        let g = grants(vec![grant(&[Verb::Get], &["jobs.batch"], &[], &[])]);
        assert!(g.may_cover(Verb::Get, "batch"));
        assert!(!g.may_cover(Verb::Get, ""));
        assert!(!g.may_cover(Verb::Delete, "batch"));
        let g = grants(vec![grant(&[Verb::List], &["*"], &[], &[])]);
        assert!(g.may_cover(Verb::List, "apps"));
        assert!(!grants(vec![]).may_cover(Verb::Get, ""));
    }

    #[test]
    fn no_grants_deny_everything() {
        let g = grants(vec![]);
        let d = g
            .check(&req(Verb::Get, "pods", Some("p"), Some("app")))
            .unwrap_err();
        assert_eq!(d.verb, Verb::Get);
        assert_eq!(
            d.to_string(),
            "hook=h verb=get resource=pods name=p namespace=app denied: no grant covers it"
        );
    }

    #[test]
    fn verb_and_resource_must_both_match() {
        let g = grants(vec![grant(
            &[Verb::Get, Verb::Delete],
            &["jobs.batch"],
            &[],
            &[],
        )]);
        assert!(g
            .check(&req(
                Verb::Delete,
                "jobs.batch",
                Some("migrate"),
                Some("app")
            ))
            .is_ok());
        assert!(g
            .check(&req(
                Verb::Apply,
                "jobs.batch",
                Some("migrate"),
                Some("app")
            ))
            .is_err());
        assert!(g
            .check(&req(Verb::Get, "jobs", Some("migrate"), Some("app")))
            .is_err());
        assert!(g
            .check(&req(
                Verb::Get,
                "cronjobs.batch",
                Some("migrate"),
                Some("app")
            ))
            .is_err());
    }

    #[test]
    fn namespace_defaults_to_the_apps() {
        let g = grants(vec![grant(&[Verb::Get], &["secrets"], &[], &[])]);
        assert!(g
            .check(&req(Verb::Get, "secrets", Some("s"), Some("app")))
            .is_ok());
        assert!(g
            .check(&req(Verb::Get, "secrets", Some("s"), Some("kube-system")))
            .is_err());
    }

    #[test]
    fn named_namespaces_and_wildcards() {
        let g = grants(vec![
            grant(&[Verb::Get], &["configmaps"], &[], &["shared"]),
            grant(&[Verb::List], &["*"], &[], &["*"]),
        ]);
        assert!(g
            .check(&req(Verb::Get, "configmaps", Some("c"), Some("shared")))
            .is_ok());
        // Naming namespaces replaces the default: the app's own is no longer implied.
        assert!(g
            .check(&req(Verb::Get, "configmaps", Some("c"), Some("app")))
            .is_err());
        assert!(g
            .check(&req(
                Verb::List,
                "anything.example.com",
                None,
                Some("other")
            ))
            .is_ok());
    }

    #[test]
    fn names_restrict_and_exclude_collection_calls() {
        let g = grants(vec![grant(
            &[Verb::Get, Verb::Watch],
            &["jobs.batch"],
            &["migrate"],
            &[],
        )]);
        assert!(g
            .check(&req(Verb::Get, "jobs.batch", Some("migrate"), Some("app")))
            .is_ok());
        assert!(g
            .check(&req(Verb::Get, "jobs.batch", Some("other"), Some("app")))
            .is_err());
        assert!(g
            .check(&req(Verb::Watch, "jobs.batch", None, Some("app")))
            .is_err());
        assert!(g
            .check(&req(
                Verb::Watch,
                "jobs.batch",
                Some("migrate"),
                Some("app")
            ))
            .is_ok());
    }

    #[test]
    fn cluster_scoped_calls_need_cluster_true() {
        let mut ns_grant = grant(&[Verb::Get], &["namespaces"], &[], &[]);
        let g = grants(vec![ns_grant.clone()]);
        assert!(g
            .check(&req(Verb::Get, "namespaces", Some("app"), None))
            .is_err());
        ns_grant.cluster = true;
        let g = grants(vec![ns_grant]);
        assert!(g
            .check(&req(Verb::Get, "namespaces", Some("app"), None))
            .is_ok());
        assert!(g.check(&req(Verb::Get, "nodes", Some("n1"), None)).is_err());
    }

    #[test]
    fn a_namespaced_wildcard_never_reaches_cluster_scope_or_credentials() {
        let all = [
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Apply,
            Verb::Delete,
        ];
        let g = grants(vec![grant(&all, &["*"], &[], &["app"])]);
        assert!(g
            .check(&req(Verb::Apply, "configmaps", Some("c"), Some("app")))
            .is_ok());
        for (resource, ns) in [
            ("clusterrolebindings.rbac.authorization.k8s.io", None),
            ("namespaces", None),
            ("customresourcedefinitions.apiextensions.k8s.io", None),
            ("rolebindings.rbac.authorization.k8s.io", Some("app")),
            ("roles.rbac.authorization.k8s.io", Some("app")),
            ("secrets", Some("app")),
            ("serviceaccounts", Some("app")),
        ] {
            for verb in all {
                assert!(
                    g.check(&req(verb, resource, Some("x"), ns)).is_err(),
                    "{verb} {resource}"
                );
            }
        }
        let d = g
            .check(&req(Verb::Get, "namespaces", Some("x"), None))
            .unwrap_err();
        assert_eq!(d.rule, DenyRule::ClusterScope);
        let d = g
            .check(&req(Verb::Get, "secrets", Some("x"), Some("app")))
            .unwrap_err();
        assert_eq!(d.rule, DenyRule::ExplicitOnly);
        assert!(d.to_string().contains("`*` never covers"), "{d}");
        // Even `cluster: true` with `*` keeps away from the explicit-only kinds.
        let mut wide = grant(&all, &["*"], &[], &["*"]);
        wide.cluster = true;
        let g = grants(vec![wide]);
        assert!(g
            .check(&req(Verb::Delete, "namespaces", Some("x"), None))
            .is_ok());
        assert!(g
            .check(&req(
                Verb::Apply,
                "clusterrolebindings.rbac.authorization.k8s.io",
                Some("x"),
                None
            ))
            .is_err());
        // Naming the kind grants it.
        let g = grants(vec![grant(&[Verb::Get], &["secrets"], &["db"], &[])]);
        assert!(g
            .check(&req(Verb::Get, "secrets", Some("db"), Some("app")))
            .is_ok());
    }
}
