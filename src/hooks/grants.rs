//! Grants: which cluster calls a hook may make. Declared per hook in hooks.yaml as
//! verbs × resources × optional names × optional namespaces; the namespace defaults to the
//! app's. Every cluster call from a hook is checked here before it reaches the API server.

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

/// One grant: any of `verbs` on any of `resources` (`plural` for the core group, else
/// `plural.group`, e.g. `jobs.batch`; `*` for all), restricted to `names` when given and to
/// `namespaces` when given (else the app's namespace; `*` for all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub verbs: Vec<Verb>,
    pub resources: Vec<String>,
    pub names: Vec<String>,
    pub namespaces: Vec<String>,
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
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hook={} verb={} resource={} name={} namespace={} denied: no grant covers it",
            self.hook,
            self.verb,
            self.resource,
            self.name.as_deref().unwrap_or("*"),
            self.namespace.as_deref().unwrap_or("(cluster)")
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

impl Grants {
    /// Allow the call if any grant covers it; else say what was denied.
    pub fn check(&self, req: &Request<'_>) -> Result<(), Denial> {
        if self
            .grants
            .iter()
            .any(|g| covers(g, req, &self.app_namespace))
        {
            return Ok(());
        }
        Err(Denial {
            hook: self.hook.clone(),
            verb: req.verb,
            resource: req.resource.to_string(),
            name: req.name.map(str::to_string),
            namespace: req.namespace.map(str::to_string),
        })
    }
}

fn covers(g: &Grant, req: &Request<'_>, app_ns: &str) -> bool {
    if !g.verbs.contains(&req.verb) {
        return false;
    }
    if !g.resources.iter().any(|r| r == "*" || r == req.resource) {
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
        // Cluster-scoped: the resource list is the restriction.
        None => true,
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
    fn cluster_scoped_calls_need_only_the_resource() {
        let g = grants(vec![grant(&[Verb::Get], &["namespaces"], &[], &[])]);
        assert!(g
            .check(&req(Verb::Get, "namespaces", Some("app"), None))
            .is_ok());
        assert!(g.check(&req(Verb::Get, "nodes", Some("n1"), None)).is_err());
    }
}
