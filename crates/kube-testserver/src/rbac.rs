//! Authentication of token users and RBAC authorization, as the Kubernetes API server does
//! them: the admin token (the kubeconfig's user, in `system:masters`) may do anything;
//! ServiceAccount tokens (issued by the TokenRequest subresource or
//! [`crate::TestServer::service_account_token`]) act as `system:serviceaccount:NS:NAME` and
//! may do only what the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings stored in
//! the server allow (Kubernetes' rule semantics, without aggregation). The built-in
//! `system:discovery` and `system:basic-user` rules are granted to every authenticated user,
//! as the default policy of a cluster does. Creating a role or binding that grants more
//! than the creator holds is refused (escalation prevention), and `SubjectAccessReview`,
//! `LocalSubjectAccessReview` and `SelfSubjectAccessReview` answer from the same rules.
//!
//! The request path calls one function, [`guard`], after authentication.

use crate::cluster::Cluster;
use crate::status::ApiError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const AUTHZ_GROUP: &str = "authorization.k8s.io";

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    /// The kubeconfig's user: cluster-admin through `system:masters`.
    pub fn admin() -> User {
        User {
            name: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    /// The user a ServiceAccount token authenticates as.
    pub fn service_account(namespace: &str, name: &str) -> User {
        User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// Issued ServiceAccount tokens. A token stays valid while its ServiceAccount exists with
/// the uid it was issued for (bound tokens: deleting the account revokes them).
#[derive(Default)]
pub struct Tokens {
    issued: Mutex<HashMap<String, (String, String, String)>>,
    random: std::collections::hash_map::RandomState,
}

impl Tokens {
    /// A new token for the ServiceAccount `namespace/name`, which must exist.
    pub fn issue(
        &self,
        cluster: &Cluster,
        namespace: &str,
        name: &str,
    ) -> Result<String, ApiError> {
        let sa = cluster
            .peek("", "serviceaccounts", Some(namespace), name)
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let uid = crate::meta::uid_of(&sa).to_string();
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let mut h = self.random.build_hasher();
        h.write(namespace.as_bytes());
        h.write(name.as_bytes());
        h.write_usize(issued.len());
        let mut h2 = self.random.build_hasher();
        h2.write_u64(h.finish());
        let token = format!("kts-sa.{:016x}{:016x}", h.finish(), h2.finish());
        issued.insert(token.clone(), (namespace.into(), name.into(), uid));
        Ok(token)
    }

    /// The user behind `token`, if it is a live ServiceAccount token.
    pub fn authenticate(&self, cluster: &Cluster, token: &str) -> Option<User> {
        let (ns, name, uid) = self
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()?;
        let sa = cluster.peek("", "serviceaccounts", Some(&ns), &name)?;
        (crate::meta::uid_of(&sa) == uid).then(|| User::service_account(&ns, &name))
    }
}

/// What a request asks to do, as the API server's RequestInfo sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    pub path: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

impl Attributes {
    /// RequestInfo of `method path?query` (`query` decoded).
    pub fn of_request(method: &str, path: &str, query: &HashMap<String, String>) -> Attributes {
        let segs: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let verb = match method {
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            "GET" | "HEAD" => "get",
            other => return non_resource(&other.to_lowercase(), path),
        };
        let (group, version, mut parts) = match segs.as_slice() {
            ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest.to_vec()),
            ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest.to_vec()),
            _ => return non_resource(verb, path),
        };
        let mut a = Attributes {
            verb: verb.into(),
            resource_request: true,
            path: path.into(),
            group: group.into(),
            version: version.into(),
            ..Default::default()
        };
        if parts[0] == "namespaces" && parts.len() > 1 {
            a.namespace = parts[1].into();
            if parts.len() > 2 && !["status", "finalize"].contains(&parts[2]) {
                parts = parts[2..].to_vec();
            }
        }
        a.resource = parts[0].into();
        if parts.len() >= 2 {
            a.name = parts[1].into();
        }
        if parts.len() >= 3 {
            a.subresource = parts[2].into();
        }
        if a.name.is_empty() && a.verb == "get" {
            let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
            a.verb = if watch { "watch" } else { "list" }.into();
            // A list or watch of one object by name is authorized as that name.
            if let Some(name) = query.get("fieldSelector").and_then(|s| exact_name(s)) {
                a.name = name;
            }
        }
        if a.name.is_empty() && a.verb == "delete" {
            a.verb = "deletecollection".into();
        }
        a
    }
}

fn non_resource(verb: &str, path: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        path: path.into(),
        ..Default::default()
    }
}

/// `metadata.name=X` (or `==`) as the whole selector, or one of its terms.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
        (k.trim() == "metadata.name" && !k.ends_with('!') && !v.is_empty()).then(|| v.into())
    })
}

/// One PolicyRule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Rule {
    pub fn from_json(v: &Value) -> Rule {
        Rule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    fn of(verbs: &[&str], groups: &[&str], resources: &[&str], urls: &[&str]) -> Rule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Rule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: Vec::new(),
            non_resource_urls: v(urls),
        }
    }

    /// Whether this rule allows the request (rbac/v1 `RuleAllows`).
    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if !a.resource_request {
            return self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || *u == a.path
                    || (u.ends_with('*') && a.path.starts_with(&u[..u.len() - 1]))
            });
        }
        has(&self.api_groups, &a.group)
            && self.resource_matches(&a.resource, &a.subresource)
            && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }

    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        let combined = if subresource.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{subresource}")
        };
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!subresource.is_empty()
                    && r.strip_prefix("*/").is_some_and(|s| s == subresource))
        })
    }
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

/// The default policy every authenticated user holds (`system:discovery`,
/// `system:basic-user`, `system:public-info-viewer`).
fn default_rules() -> Vec<Rule> {
    vec![
        Rule::of(
            &["get"],
            &[],
            &[],
            &[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/readyz",
                "/version",
                "/version/",
                "/openapi",
                "/openapi/*",
            ],
        ),
        Rule::of(
            &["create"],
            &[AUTHZ_GROUP],
            &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            &[],
        ),
    ]
}

/// A rule and where it came from, for review reasons.
struct Granted {
    rule: Rule,
    via: String,
}

fn subject_matches(s: &Value, user: &User, binding_ns: &str) -> bool {
    let str_of = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
    match str_of("kind") {
        "User" => str_of("name") == user.name,
        "Group" => user.groups.iter().any(|g| g == str_of("name")),
        "ServiceAccount" => {
            let ns = match str_of("namespace") {
                "" => binding_ns,
                ns => ns,
            };
            user.name == format!("system:serviceaccount:{ns}:{}", str_of("name"))
        }
        _ => false,
    }
}

fn role_rules(cluster: &Cluster, kind: &str, name: &str, ns: &str) -> Option<Vec<Rule>> {
    let role = match kind {
        "ClusterRole" => cluster.peek(RBAC_GROUP, "clusterroles", None, name)?,
        "Role" => cluster.peek(RBAC_GROUP, "roles", Some(ns), name)?,
        _ => return None,
    };
    Some(
        role.get("rules")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().map(Rule::from_json).collect())
            .unwrap_or_default(),
    )
}

/// Every rule `user` holds in `namespace` (`""`: cluster-wide rules only).
fn rules_for(cluster: &Cluster, user: &User, namespace: &str) -> Vec<Granted> {
    let mut out: Vec<Granted> = default_rules()
        .into_iter()
        .map(|rule| Granted {
            rule,
            via: "the default policy".into(),
        })
        .collect();
    let mut bindings = cluster.all_of(&[&format!("{RBAC_GROUP}/clusterrolebindings")]);
    if !namespace.is_empty() {
        bindings.extend(
            cluster
                .all_of(&[&format!("{RBAC_GROUP}/rolebindings")])
                .into_iter()
                .filter(|(_, b)| crate::meta::namespace_of(b) == namespace),
        );
    }
    for (key, b) in bindings {
        let b_ns = crate::meta::namespace_of(&b);
        let subjects = b.get("subjects").and_then(Value::as_array);
        if !subjects.is_some_and(|ss| ss.iter().any(|s| subject_matches(s, user, b_ns))) {
            continue;
        }
        let kind = b
            .pointer("/roleRef/kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let role = b
            .pointer("/roleRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let binding_kind = if key.ends_with("clusterrolebindings") {
            "ClusterRoleBinding"
        } else {
            "RoleBinding"
        };
        let via = format!(
            "{binding_kind} \"{}\" of {kind} \"{role}\"",
            crate::meta::name_of(&b)
        );
        for rule in role_rules(cluster, kind, role, b_ns).unwrap_or_default() {
            out.push(Granted {
                rule,
                via: via.clone(),
            });
        }
    }
    out
}

/// `Some(reason)` when `user` may do `a`.
pub fn authorize(cluster: &Cluster, user: &User, a: &Attributes) -> Option<String> {
    if user.is_master() {
        return Some("user is in system:masters".into());
    }
    rules_for(cluster, user, &a.namespace)
        .into_iter()
        .find(|g| g.rule.allows(a))
        .map(|g| format!("RBAC: allowed by {}", g.via))
}

/// The 403 the API server answers with, word for word.
pub fn forbidden(user: &User, a: &Attributes) -> ApiError {
    if !a.resource_request {
        return ApiError::new(
            403,
            "Forbidden",
            format!(
                "forbidden: User \"{}\" cannot {} path \"{}\"",
                user.name, a.verb, a.path
            ),
        );
    }
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    let why = format!(
        "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        user.name, a.verb, a.group
    );
    let qualified = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let message = if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {why}", a.name)
    };
    let mut details = json!({"group": a.group, "kind": a.resource});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    let mut e = ApiError::new(403, "Forbidden", message);
    e.details = details;
    e
}

/// The one call on the request path: authorize `user`'s request, refuse escalation through
/// roles and bindings, and answer access reviews. `Err` is the response to send instead of
/// serving the request; `Ok(Some)` is an access review's answer; `Ok(None)` serves it.
pub fn guard(
    cluster: &Cluster,
    user: &User,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<Option<Value>, ApiError> {
    let a = Attributes::of_request(method, path, query);
    if authorize(cluster, user, &a).is_none() {
        return Err(forbidden(user, &a));
    }
    if !a.resource_request {
        return Ok(None);
    }
    if a.group == AUTHZ_GROUP && a.verb == "create" {
        return review(cluster, user, &a, body).map(Some);
    }
    if a.group == RBAC_GROUP
        && matches!(a.verb.as_str(), "create" | "update" | "patch")
        && !user.is_master()
    {
        let obj: Value = serde_json::from_slice(body)
            .or_else(|_| serde_yaml::from_slice(body))
            .unwrap_or(Value::Null);
        no_escalation(cluster, user, &a, &obj)?;
    }
    Ok(None)
}

/// Kubernetes' escalation check: a Role or ClusterRole may be written only with rules the
/// writer holds (or with the `escalate` verb on it); a binding only to a role whose rules
/// the writer holds (or with `bind` on it).
fn no_escalation(
    cluster: &Cluster,
    user: &User,
    a: &Attributes,
    obj: &Value,
) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(&a.name)
        .to_string();
    let special = |verb: &str| {
        let mut b = a.clone();
        b.verb = verb.into();
        b.subresource.clear();
        b.name = name.clone();
        authorize(cluster, user, &b).is_some()
    };
    let granted = match a.resource.as_str() {
        "roles" | "clusterroles" => {
            if special("escalate") {
                return Ok(());
            }
            let rules: Vec<Rule> = obj
                .get("rules")
                .and_then(Value::as_array)
                .map(|rs| rs.iter().map(Rule::from_json).collect())
                .unwrap_or_default();
            rules
        }
        "rolebindings" | "clusterrolebindings" => {
            let kind = obj
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let role = obj
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut b = a.clone();
            b.verb = "bind".into();
            b.resource = if kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            }
            .into();
            b.name = role.into();
            b.subresource.clear();
            if authorize(cluster, user, &b).is_some() {
                return Ok(());
            }
            role_rules(cluster, kind, role, &a.namespace).unwrap_or_default()
        }
        _ => return Ok(()),
    };
    let missing: Vec<String> = granted
        .iter()
        .flat_map(|r| breakdown(r))
        .filter(|r| !covered(cluster, user, &a.namespace, r))
        .map(|r| describe(&r))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let what = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    Err(ApiError::new(
        403,
        "Forbidden",
        format!(
            "{what} \"{name}\" is forbidden: user \"{}\" (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
            user.name,
            user.groups,
            missing.join("\n")
        ),
    ))
}

/// A rule split into one verb, group, resource and name each (`BreakdownRule`).
fn breakdown(r: &Rule) -> Vec<Rule> {
    let mut out = Vec::new();
    let names: Vec<Option<&String>> = if r.resource_names.is_empty() {
        vec![None]
    } else {
        r.resource_names.iter().map(Some).collect()
    };
    for v in &r.verbs {
        for g in &r.api_groups {
            for res in &r.resources {
                for n in &names {
                    out.push(Rule {
                        verbs: vec![v.clone()],
                        api_groups: vec![g.clone()],
                        resources: vec![res.clone()],
                        resource_names: n.map(|n| vec![n.clone()]).unwrap_or_default(),
                        non_resource_urls: Vec::new(),
                    });
                }
            }
        }
        for u in &r.non_resource_urls {
            out.push(Rule {
                verbs: vec![v.clone()],
                non_resource_urls: vec![u.clone()],
                ..Default::default()
            });
        }
    }
    out
}

/// Whether one of the user's rules covers the single-valued rule `r` (`ruleCovers`).
fn covered(cluster: &Cluster, user: &User, namespace: &str, r: &Rule) -> bool {
    rules_for(cluster, user, namespace).iter().any(|g| {
        let o = &g.rule;
        let verb = has(&o.verbs, &r.verbs[0]);
        if !r.non_resource_urls.is_empty() {
            let u = &r.non_resource_urls[0];
            return verb
                && o.non_resource_urls.iter().any(|ou| {
                    ou == "*"
                        || ou == u
                        || (ou.ends_with('*') && u.starts_with(&ou[..ou.len() - 1]))
                });
        }
        let res = &r.resources[0];
        let resource = o.resources.iter().any(|or| {
            or == "*"
                || or == res
                || (or.starts_with("*/") && res.split_once('/').is_some_and(|(_, s)| or[2..] == *s))
        });
        verb && has(&o.api_groups, &r.api_groups[0])
            && resource
            && (o.resource_names.is_empty()
                || r.resource_names
                    .first()
                    .is_some_and(|n| o.resource_names.contains(n)))
    })
}

fn describe(r: &Rule) -> String {
    if !r.non_resource_urls.is_empty() {
        return format!(
            "{{NonResourceURLs:[{}], Verbs:[{}]}}",
            r.non_resource_urls.join(" "),
            r.verbs.join(" ")
        );
    }
    let mut s = format!(
        "{{APIGroups:[{:?}], Resources:[{:?}]",
        r.api_groups[0], r.resources[0]
    );
    if !r.resource_names.is_empty() {
        s.push_str(&format!(", ResourceNames:[{:?}]", r.resource_names[0]));
    }
    s.push_str(&format!(", Verbs:[{:?}]}}", r.verbs[0]));
    s
}

/// Answer a SubjectAccessReview, LocalSubjectAccessReview or SelfSubjectAccessReview.
fn review(
    cluster: &Cluster,
    requester: &User,
    a: &Attributes,
    body: &[u8],
) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("reading the review: {e}")))?;
    let (kind, user) = match a.resource.as_str() {
        "selfsubjectaccessreviews" => ("SelfSubjectAccessReview", requester.clone()),
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let name = obj
                .pointer("/spec/user")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut groups: Vec<String> = obj
                .pointer("/spec/groups")
                .and_then(Value::as_array)
                .map(|g| {
                    g.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(rest) = name.strip_prefix("system:serviceaccount:") {
                if let Some((ns, sa)) = rest.split_once(':') {
                    for g in User::service_account(ns, sa).groups {
                        if !groups.contains(&g) {
                            groups.push(g);
                        }
                    }
                }
            }
            if name.is_empty() && groups.is_empty() {
                return Err(ApiError::invalid(
                    "SubjectAccessReview",
                    AUTHZ_GROUP,
                    "",
                    vec![crate::status::Cause {
                        reason: "FieldValueRequired",
                        field: "spec.user".into(),
                        message:
                            "Invalid value: \"\": at least one of user or group must be specified"
                                .into(),
                    }],
                ));
            }
            let kind = if a.resource == "subjectaccessreviews" {
                "SubjectAccessReview"
            } else {
                "LocalSubjectAccessReview"
            };
            (
                kind,
                User {
                    name: name.into(),
                    groups,
                },
            )
        }
        _ => return Err(ApiError::not_found(AUTHZ_GROUP, &a.resource, "")),
    };
    let attrs = if let Some(ra) = obj.pointer("/spec/resourceAttributes") {
        let s = |k: &str| {
            ra.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let namespace = if kind == "LocalSubjectAccessReview" {
            a.namespace.clone()
        } else {
            s("namespace")
        };
        Attributes {
            verb: s("verb"),
            resource_request: true,
            path: String::new(),
            group: s("group"),
            version: s("version"),
            resource: s("resource"),
            subresource: s("subresource"),
            namespace,
            name: s("name"),
        }
    } else if let Some(nra) = obj.pointer("/spec/nonResourceAttributes") {
        let s = |k: &str| {
            nra.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        non_resource(&s("verb"), &s("path"))
    } else {
        return Err(ApiError::bad_request(
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let decision = authorize(cluster, &user, &attrs);
    obj["apiVersion"] = json!(format!("{AUTHZ_GROUP}/v1"));
    obj["kind"] = json!(kind);
    obj["metadata"] = json!({"creationTimestamp": null});
    obj["status"] = match decision {
        Some(reason) => json!({"allowed": true, "reason": reason}),
        None => json!({"allowed": false}),
    };
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::WriteOptions;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn create(c: &Cluster, plural: &str, group: &str, ns: &str, body: Value) {
        let rt = c
            .registry
            .all()
            .into_iter()
            .find(|t| t.plural == plural && t.group == group)
            .unwrap();
        c.create(&rt, ns, body, &WriteOptions::default()).unwrap();
    }

    fn cluster() -> Cluster {
        let c = Cluster::new(1, 100);
        for ns in ["demo", "other"] {
            create(
                &c,
                "namespaces",
                "",
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            );
        }
        create(
            &c,
            "serviceaccounts",
            "",
            "demo",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": "demo"}}),
        );
        c
    }

    fn role(c: &Cluster, ns: &str, name: &str, rules: Value) {
        create(
            &c,
            "roles",
            RBAC_GROUP,
            ns,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": ns}, "rules": rules}),
        );
        create(
            &c,
            "rolebindings",
            RBAC_GROUP,
            ns,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "demo"}]}),
        );
    }

    fn can(c: &Cluster, method: &str, path: &str, query: &[(&str, &str)]) -> Result<(), String> {
        let user = User::service_account("demo", "ci");
        let a = Attributes::of_request(method, path, &q(query));
        match authorize(c, &user, &a) {
            Some(_) => Ok(()),
            None => Err(forbidden(&user, &a).message),
        }
    }

    #[test]
    fn request_info_as_the_api_server_reads_it() {
        let a = Attributes::of_request(
            "GET",
            "/apis/batch/v1/namespaces/demo/jobs",
            &q(&[
                ("watch", "true"),
                ("fieldSelector", "metadata.name=migrate"),
            ]),
        );
        assert_eq!(
            (
                a.verb.as_str(),
                a.group.as_str(),
                a.resource.as_str(),
                a.namespace.as_str(),
                a.name.as_str()
            ),
            ("watch", "batch", "jobs", "demo", "migrate")
        );
        let a = Attributes::of_request("GET", "/api/v1/namespaces/demo/pods/p1/log", &q(&[]));
        assert_eq!(
            (
                a.verb.as_str(),
                a.resource.as_str(),
                a.subresource.as_str(),
                a.name.as_str()
            ),
            ("get", "pods", "log", "p1")
        );
        // A Namespace object is in its own namespace, as RequestInfo has it.
        let a = Attributes::of_request("PATCH", "/api/v1/namespaces/demo", &q(&[]));
        assert_eq!(
            (
                a.verb.as_str(),
                a.resource.as_str(),
                a.namespace.as_str(),
                a.name.as_str()
            ),
            ("patch", "namespaces", "demo", "demo")
        );
        let a = Attributes::of_request("DELETE", "/api/v1/namespaces/demo/configmaps", &q(&[]));
        assert_eq!(a.verb, "deletecollection");
        let a = Attributes::of_request("POST", "/api/v1/namespaces", &q(&[]));
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.name.as_str()),
            ("create", "", "")
        );
        assert!(!Attributes::of_request("GET", "/apis/batch/v1", &q(&[])).resource_request);
    }

    #[test]
    fn forbidden_messages_are_the_api_servers() {
        let c = cluster();
        assert_eq!(
            can(&c, "GET", "/apis/batch/v1/namespaces/demo/jobs/migrate", &[]).unwrap_err(),
            "jobs.batch \"migrate\" is forbidden: User \"system:serviceaccount:demo:ci\" cannot get resource \"jobs\" in API group \"batch\" in the namespace \"demo\""
        );
        assert_eq!(
            can(&c, "GET", "/api/v1/namespaces/demo/pods", &[]).unwrap_err(),
            "pods is forbidden: User \"system:serviceaccount:demo:ci\" cannot list resource \"pods\" in API group \"\" in the namespace \"demo\""
        );
        assert_eq!(
            can(&c, "GET", "/api/v1/namespaces/demo/pods/p/log", &[]).unwrap_err(),
            "pods \"p\" is forbidden: User \"system:serviceaccount:demo:ci\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"demo\""
        );
        assert_eq!(
            can(&c, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", &[]).unwrap_err(),
            "clusterroles.rbac.authorization.k8s.io is forbidden: User \"system:serviceaccount:demo:ci\" cannot create resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope"
        );
        // Discovery is every authenticated user's.
        can(&c, "GET", "/apis/batch/v1", &[]).unwrap();
        can(&c, "GET", "/api", &[]).unwrap();
        assert_eq!(
            can(&c, "GET", "/metrics", &[]).unwrap_err(),
            "forbidden: User \"system:serviceaccount:demo:ci\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn roles_grant_verbs_resources_subresources_and_names_in_their_namespace_only() {
        let c = cluster();
        role(
            &c,
            "demo",
            "r",
            json!([
                {"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": ["migrate"], "verbs": ["get", "watch", "list"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["patch"]},
            ]),
        );
        can(
            &c,
            "GET",
            "/apis/batch/v1/namespaces/demo/jobs/migrate",
            &[],
        )
        .unwrap();
        can(
            &c,
            "GET",
            "/apis/batch/v1/namespaces/demo/jobs",
            &[("watch", "1"), ("fieldSelector", "metadata.name=migrate")],
        )
        .unwrap();
        // resourceNames never match an unnamed list, another name, or another namespace.
        can(&c, "GET", "/apis/batch/v1/namespaces/demo/jobs", &[]).unwrap_err();
        can(&c, "GET", "/apis/batch/v1/namespaces/demo/jobs/other", &[]).unwrap_err();
        can(
            &c,
            "GET",
            "/apis/batch/v1/namespaces/other/jobs/migrate",
            &[],
        )
        .unwrap_err();
        can(
            &c,
            "DELETE",
            "/apis/batch/v1/namespaces/demo/jobs/migrate",
            &[],
        )
        .unwrap_err();
        // A subresource is granted apart from its resource.
        can(&c, "GET", "/api/v1/namespaces/demo/pods/p/log", &[]).unwrap();
        can(&c, "GET", "/api/v1/namespaces/demo/pods/p", &[]).unwrap_err();
        // `*` resources cover the group's resources and subresources, no other group.
        can(
            &c,
            "PATCH",
            "/apis/apps/v1/namespaces/demo/deployments/web",
            &[],
        )
        .unwrap();
        can(
            &c,
            "PATCH",
            "/apis/apps/v1/namespaces/demo/deployments/web/scale",
            &[],
        )
        .unwrap();
        can(
            &c,
            "PATCH",
            "/apis/batch/v1/namespaces/demo/jobs/migrate",
            &[],
        )
        .unwrap_err();
    }

    #[test]
    fn cluster_roles_through_role_bindings_are_namespaced_and_through_cluster_bindings_everywhere()
    {
        let c = cluster();
        create(
            &c,
            "clusterroles",
            RBAC_GROUP,
            "",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "leases"}, "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]}),
        );
        create(
            &c,
            "rolebindings",
            RBAC_GROUP,
            "demo",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "leases", "namespace": "demo"}, "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "leases"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci"}]}),
        );
        can(
            &c,
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/demo/leases",
            &[],
        )
        .unwrap();
        can(
            &c,
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/other/leases",
            &[],
        )
        .unwrap_err();
        create(
            &c,
            "clusterrolebindings",
            RBAC_GROUP,
            "",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "leases"}, "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "leases"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:demo"}]}),
        );
        can(
            &c,
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/other/leases",
            &[],
        )
        .unwrap();
        // A binding to a role that does not exist grants nothing.
        create(
            &c,
            "rolebindings",
            RBAC_GROUP,
            "demo",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "ghost", "namespace": "demo"}, "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "ghost"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "demo"}]}),
        );
        can(&c, "GET", "/api/v1/namespaces/demo/secrets", &[]).unwrap_err();
    }

    #[test]
    fn tokens_act_as_their_service_account_while_it_exists() {
        let c = cluster();
        let tokens = Tokens::default();
        let t = tokens.issue(&c, "demo", "ci").unwrap();
        assert_eq!(
            tokens.authenticate(&c, &t),
            Some(User::service_account("demo", "ci"))
        );
        assert_eq!(tokens.authenticate(&c, "kts-sa.guess"), None);
        assert!(tokens.issue(&c, "demo", "nobody").is_err());
        let rt = c.registry.find("", "v1", "serviceaccounts").unwrap();
        c.delete(&rt, "demo", "ci", None, None, false).unwrap();
        assert_eq!(tokens.authenticate(&c, &t), None);
        assert!(authorize(
            &c,
            &User::admin(),
            &Attributes::of_request("DELETE", "/api/v1/namespaces/demo", &q(&[]))
        )
        .is_some());
    }

    #[test]
    fn writing_roles_and_bindings_cannot_escalate() {
        let c = cluster();
        role(
            &c,
            "demo",
            "rbac-writer",
            json!([
                {"apiGroups": [RBAC_GROUP], "resources": ["roles", "rolebindings"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
            ]),
        );
        let user = User::service_account("demo", "ci");
        let write = |path: &str, body: Value| {
            guard(
                &c,
                &user,
                "POST",
                path,
                &q(&[]),
                &serde_json::to_vec(&body).unwrap(),
            )
        };
        let within = json!({"metadata": {"name": "cm-reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]});
        write(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
            within,
        )
        .unwrap();
        let wider = json!({"metadata": {"name": "secrets"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]});
        let e = write(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
            wider.clone(),
        )
        .unwrap_err();
        assert_eq!(e.code, 403);
        assert!(e.message.contains("is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"), "{}", e.message);
        // Binding a role whose rules one does not hold is escalation too.
        create(
            &c,
            "roles",
            RBAC_GROUP,
            "demo",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "secrets", "namespace": "demo"}, "rules": wider["rules"]}),
        );
        let bind = |role: &str| {
            json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "demo"}]})
        };
        write(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings",
            bind("secrets"),
        )
        .unwrap_err();
        write(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings",
            bind("cm-reader"),
        )
        .unwrap();
    }

    #[test]
    fn access_reviews_answer_from_the_same_rules() {
        let c = cluster();
        role(
            &c,
            "demo",
            "r",
            json!([{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["delete"]}]),
        );
        let sa = User::service_account("demo", "ci");
        let ask = |user: &User, path: &str, spec: Value| {
            let body = serde_json::to_vec(&json!({"spec": spec})).unwrap();
            guard(&c, user, "POST", path, &q(&[]), &body)
                .unwrap()
                .unwrap()["status"]
                .clone()
        };
        let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
        let s = ask(
            &sa,
            ssar,
            json!({"resourceAttributes": {"verb": "delete", "group": "batch", "resource": "jobs", "namespace": "demo"}}),
        );
        assert_eq!(s["allowed"], true);
        assert_eq!(
            s["reason"],
            "RBAC: allowed by RoleBinding \"r\" of Role \"r\""
        );
        let s = ask(
            &sa,
            ssar,
            json!({"resourceAttributes": {"verb": "delete", "group": "batch", "resource": "jobs", "namespace": "other"}}),
        );
        assert_eq!(s["allowed"], false);
        // A SubjectAccessReview asks about someone else: only who may create it may ask.
        let sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
        let spec = json!({"user": "system:serviceaccount:demo:ci", "resourceAttributes": {"verb": "delete", "group": "batch", "resource": "jobs", "namespace": "demo"}});
        assert_eq!(ask(&User::admin(), sar, spec.clone())["allowed"], true);
        let body = serde_json::to_vec(&json!({"spec": spec})).unwrap();
        assert_eq!(
            guard(&c, &sa, "POST", sar, &q(&[]), &body)
                .unwrap_err()
                .code,
            403
        );
    }
}
