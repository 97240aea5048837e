//! Everything a guest passes to a `cluster` call, checked before the grant check and before
//! anything reaches the API server: names, namespaces, kinds, API versions, label selectors
//! and container names as Kubernetes validates them (so none can reach another URL path,
//! subresource or query parameter), and sizes before parsing. A failed check is `invalid`,
//! naming the argument and quoting a short, escaped part of the value.

use super::bindings::kubes::hook::cluster::KindRef;
use super::{ClusterError, ObjectRef};
use crate::names;

/// Longest part of a hostile value echoed back in an error.
const ECHO: usize = 64;

/// Most conditions one `wait-for` may name, and the longest one.
const MAX_CONDITIONS: usize = 32;
const MAX_CONDITION_LEN: usize = 316;

fn invalid(what: &str, value: &str, reason: String) -> ClusterError {
    ClusterError::Invalid(format!(
        "{what} {} is not valid: {reason}",
        names::quote(value, ECHO)
    ))
}

pub fn object_name(what: &str, s: &str) -> Result<(), ClusterError> {
    names::object_name(s).map_err(|r| invalid(what, s, r))
}

/// A namespace argument: `none` or empty means the app's.
pub fn namespace(ns: Option<&str>) -> Result<(), ClusterError> {
    match ns.filter(|s| !s.is_empty()) {
        Some(s) => names::dns_label(s).map_err(|r| invalid("namespace", s, r)),
        None => Ok(()),
    }
}

pub fn kind_ref(api_version: &str, kind: &str) -> Result<(), ClusterError> {
    names::api_version(api_version).map_err(|r| invalid("apiVersion", api_version, r))?;
    names::kind(kind).map_err(|r| invalid("kind", kind, r))
}

pub fn kind(k: &KindRef) -> Result<(), ClusterError> {
    kind_ref(&k.api_version, &k.kind)
}

pub fn object_ref(o: &ObjectRef) -> Result<(), ClusterError> {
    kind_ref(&o.api_version, &o.kind)?;
    object_name("name", &o.name)?;
    namespace(o.namespace.as_deref())
}

/// A label selector argument: `none` or empty means all.
pub fn selector(sel: Option<&str>) -> Result<(), ClusterError> {
    match sel.filter(|s| !s.is_empty()) {
        Some(s) => names::label_selector(s).map_err(|r| invalid("label selector", s, r)),
        None => Ok(()),
    }
}

pub fn container(c: Option<&str>) -> Result<(), ClusterError> {
    match c.filter(|s| !s.is_empty()) {
        Some(s) => names::dns_label(s).map_err(|r| invalid("container", s, r)),
        None => Ok(()),
    }
}

pub fn conditions(list: &[String]) -> Result<(), ClusterError> {
    if list.is_empty() {
        return Err(ClusterError::Invalid(
            "wait-for needs at least one condition".into(),
        ));
    }
    if list.len() > MAX_CONDITIONS {
        return Err(ClusterError::Invalid(format!(
            "wait-for takes at most {MAX_CONDITIONS} conditions, got {}",
            list.len()
        )));
    }
    for c in list {
        if c.is_empty()
            || c.len() > MAX_CONDITION_LEN
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.' | '/'))
        {
            return Err(invalid(
                "condition",
                c,
                format!("expected a condition type such as Complete (at most {MAX_CONDITION_LEN} of letters, digits, `-_./`)"),
            ));
        }
    }
    Ok(())
}

/// The object a guest wants applied: size-checked before it is parsed, then its identity
/// checked like any other reference. Returns the parsed object.
pub fn apply_body(text: &str, max: u64) -> Result<serde_json::Value, ClusterError> {
    if text.len() as u64 > max {
        return Err(ClusterError::Invalid(format!(
            "the object is {} bytes, more than the request limit of {max} bytes",
            text.len()
        )));
    }
    let obj: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ClusterError::Invalid(format!(
            "object is not JSON: {}",
            names::quote(&e.to_string(), 200)
        ))
    })?;
    if !obj.is_object() {
        return Err(ClusterError::Invalid("object is not a JSON object".into()));
    }
    let field = |v: &serde_json::Value, what: &str| -> Result<String, ClusterError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| ClusterError::Invalid(format!("object has no {what}")))
    };
    let api_version = field(&obj["apiVersion"], "apiVersion")?;
    let kind = field(&obj["kind"], "kind")?;
    let name = field(&obj["metadata"]["name"], "metadata.name")?;
    kind_ref(&api_version, &kind)?;
    object_name("metadata.name", &name)?;
    match &obj["metadata"]["namespace"] {
        serde_json::Value::Null => {}
        serde_json::Value::String(ns) => namespace(Some(ns))?,
        _ => {
            return Err(ClusterError::Invalid(
                "metadata.namespace is not a string".into(),
            ))
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(api_version: &str, kind: &str, name: &str, ns: Option<&str>) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(str::to_string),
        }
    }

    #[test]
    fn references_that_would_reach_other_paths_are_invalid() {
        assert!(object_ref(&obj("v1", "Pod", "web-1", None)).is_ok());
        assert!(object_ref(&obj("v1", "Pod", "web-1", Some(""))).is_ok());
        for bad in [
            obj("v1", "Pod", "web/log?tailLines=1", None),
            obj("v1", "Pod", "..", None),
            obj("v1", "Pod", "web", Some("../../kube-system")),
            obj("v1", "Pod/log", "web", None),
            obj("v1/../..", "Pod", "web", None),
        ] {
            assert!(
                matches!(object_ref(&bad), Err(ClusterError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_echo_only_a_short_escaped_part() {
        let long = format!("{}\u{1b}[2K", "a".repeat(1 << 20));
        let Err(ClusterError::Invalid(m)) = object_name("name", &long) else {
            panic!()
        };
        assert!(m.len() < 300, "{}", m.len());
        assert!(!m.contains('\u{1b}'));
    }

    #[test]
    fn apply_bodies_are_size_checked_before_parsing() {
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(4 << 20));
        assert!(
            matches!(apply_body(&big, 3 << 20), Err(ClusterError::Invalid(m)) if m.contains("request limit"))
        );
        assert!(apply_body(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
            3 << 20
        )
        .is_ok());
        assert!(apply_body(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c/x"}}"#,
            3 << 20
        )
        .is_err());
        assert!(apply_body("[1,2]", 100).is_err());
    }
}
