//! Kubernetes naming rules, as the API server applies them: DNS-1123 labels and subdomains,
//! path-segment names, kinds, API versions, label selectors. Used wherever untrusted text (a
//! hook's arguments) becomes part of a request URL or query, so it is checked here first.
//!
//! Each check returns a short reason; callers add what the value was for.

/// Longest object name (DNS-1123 subdomain).
pub const MAX_NAME: usize = 253;
/// Longest namespace, container name or label value (DNS-1123 label).
pub const MAX_LABEL: usize = 63;
/// Longest label selector we pass on; the API server's URL limits are of this order too.
pub const MAX_SELECTOR: usize = 4096;

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A DNS-1123 label: 1-63 of `[a-z0-9-]`, starting and ending alphanumeric (namespaces,
/// container names).
pub fn dns_label(s: &str) -> Result<(), String> {
    check_dns_label(s).map_err(|p| p.to_string())
}

/// Why a text is not a DNS-1123 label, for callers that word it their own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelProblem {
    Empty,
    /// Longer than [`MAX_LABEL`]; the length in bytes.
    TooLong(usize),
    /// The first character that is not `[a-z0-9-]`.
    BadChar(char),
    /// Starts or ends with `-`.
    BadEnds,
}

impl std::fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelProblem::Empty => f.write_str("must not be empty"),
            LabelProblem::TooLong(_) => write!(f, "longer than {MAX_LABEL} characters"),
            LabelProblem::BadChar(_) => {
                f.write_str("only lowercase letters, digits and `-` are allowed")
            }
            LabelProblem::BadEnds => {
                f.write_str("must start and end with a lowercase letter or digit")
            }
        }
    }
}

/// [`dns_label`], with the problem as a value.
pub fn check_dns_label(s: &str) -> Result<(), LabelProblem> {
    if s.is_empty() {
        return Err(LabelProblem::Empty);
    }
    if s.len() > MAX_LABEL {
        return Err(LabelProblem::TooLong(s.len()));
    }
    if let Some(c) = s.chars().find(|&c| !(lower_alnum(c) || c == '-')) {
        return Err(LabelProblem::BadChar(c));
    }
    if !s.starts_with(lower_alnum) || !s.ends_with(lower_alnum) {
        return Err(LabelProblem::BadEnds);
    }
    Ok(())
}

/// The DNS-1123 label closest to `s`: lowercased, every run of other characters made one
/// `-`, no `-` at either end, at most 63 characters. Empty when nothing is left (`___`).
pub fn to_dns_label(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = if lower_alnum(c) { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.truncate(MAX_LABEL);
    out.trim_end_matches('-').to_string()
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_NAME {
        return Err(format!("longer than {MAX_NAME} characters"));
    }
    if !s.chars().all(|c| lower_alnum(c) || c == '-' || c == '.') {
        return Err("only lowercase letters, digits, `-` and `.` are allowed".into());
    }
    dotted_labels(s)
}

/// Every `.`-separated part non-empty, starting and ending alphanumeric (so no `..`).
fn dotted_labels(s: &str) -> Result<(), String> {
    for part in s.split('.') {
        if part.is_empty() {
            return Err(
                "`.` must separate non-empty parts (no `..`, no leading or trailing `.`)".into(),
            );
        }
        if !part.starts_with(lower_alnum) || !part.ends_with(lower_alnum) {
            return Err(
                "each `.`-separated part must start and end with a lowercase letter or digit"
                    .into(),
            );
        }
    }
    Ok(())
}

/// An object name as it appears in a URL path. Most kinds require a DNS-1123 subdomain;
/// RBAC kinds also allow `:` (`system:controller:...`). Never `.`, `..`, or anything with
/// `/ ? # %`, so a name can never reach a subresource or another path.
pub fn object_name(s: &str) -> Result<(), String> {
    if s == "." || s == ".." {
        return Err("`.` and `..` are not names".into());
    }
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_NAME {
        return Err(format!("longer than {MAX_NAME} characters"));
    }
    if !s
        .chars()
        .all(|c| lower_alnum(c) || c == '-' || c == '.' || c == ':')
    {
        return Err("only lowercase letters, digits, `-`, `.` and `:` are allowed".into());
    }
    dotted_labels(s)
}

/// A kind: `Job`, `ClusterRoleBinding` (letters and digits, starting with a letter).
pub fn kind(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_LABEL {
        return Err(format!("must be 1 to {MAX_LABEL} characters"));
    }
    if !s.starts_with(|c: char| c.is_ascii_alphabetic())
        || !s.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err("only letters and digits, starting with a letter".into());
    }
    Ok(())
}

/// An API version: `v1`, or `group/version` with a DNS-1123 subdomain group.
pub fn api_version(s: &str) -> Result<(), String> {
    let version = match s.split_once('/') {
        None => s,
        Some((group, version)) => {
            dns_subdomain(group).map_err(|e| format!("group: {e}"))?;
            version
        }
    };
    if version.is_empty()
        || version.len() > MAX_LABEL
        || !version.starts_with('v')
        || !version.chars().all(lower_alnum)
    {
        return Err("the version must look like v1, v1beta1".into());
    }
    Ok(())
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain, the name 1-63 of
/// `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn label_key(s: &str) -> Result<(), String> {
    let name = match s.rsplit_once('/') {
        Some((prefix, name)) => {
            dns_subdomain(prefix).map_err(|e| format!("prefix of `{s}`: {e}"))?;
            name
        }
        None => s,
    };
    if name.is_empty() || name.len() > MAX_LABEL {
        return Err(format!(
            "label key name must be 1 to {MAX_LABEL} characters"
        ));
    }
    label_chars(name)
}

/// A label value: empty, or 1-63 of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > MAX_LABEL {
        return Err(format!("label value longer than {MAX_LABEL} characters"));
    }
    label_chars(s)
}

fn label_chars(s: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if !s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        || !s.starts_with(alnum)
        || !s.ends_with(alnum)
    {
        return Err(format!(
            "`{s}` must be letters, digits, `-`, `_`, `.`, starting and ending alphanumeric"
        ));
    }
    Ok(())
}

/// A label selector in the API's syntax: comma-separated requirements `key`, `!key`,
/// `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`.
pub fn label_selector(s: &str) -> Result<(), String> {
    if s.len() > MAX_SELECTOR {
        return Err(format!("longer than {MAX_SELECTOR} characters"));
    }
    for req in split_requirements(s)? {
        let req = req.trim();
        if req.is_empty() {
            return Err("empty requirement".into());
        }
        if let Some(key) = req.strip_prefix('!') {
            label_key(key.trim())?;
            continue;
        }
        if let Some((key, values)) = split_set_op(req) {
            label_key(key)?;
            let inner = values
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or("a set must be written as (v1,v2)")?;
            for v in inner.split(',') {
                label_value(v.trim())?;
            }
            continue;
        }
        let (key, value) = if let Some((k, v)) = req.split_once("!=") {
            (k, v)
        } else if let Some((k, v)) = req.split_once("==") {
            (k, v)
        } else if let Some((k, v)) = req.split_once('=') {
            (k, v)
        } else {
            (req, "")
        };
        label_key(key.trim())?;
        label_value(value.trim())?;
    }
    Ok(())
}

/// Split on commas outside parentheses.
fn split_requirements(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced `)`")?,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced `(`".into());
    }
    out.push(&s[start..]);
    Ok(out)
}

/// `key in (...)` / `key notin (...)` -> (key, `(...)`).
fn split_set_op(req: &str) -> Option<(&str, &str)> {
    for op in [" notin ", " in "] {
        if let Some((k, v)) = req.split_once(op) {
            return Some((k.trim(), v.trim()));
        }
    }
    None
}

/// Untrusted text for an error message: at most `max` characters, control characters and
/// quotes escaped, so an echo of a hostile value is short and inert.
pub fn quote(s: &str, max: usize) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push_str(&format!("\"... ({} bytes)", s.len()));
            return out;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_reach_other_paths() {
        for bad in [
            "",
            ".",
            "..",
            "pod/log",
            "pod?x=1",
            "pod#x",
            "pod%2Flog",
            "Pod",
            "a b",
            "-a",
            "a-",
            "vіctim",
            "a\nb",
        ] {
            assert!(object_name(bad).is_err(), "{bad:?}");
        }
        assert!(object_name(&"a".repeat(254)).is_err());
        for good in [
            "migrate",
            "web-1",
            "a.b.c",
            "system:controller:job-controller",
            "0",
        ] {
            assert!(object_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn labels_are_made_from_other_names() {
        assert_eq!(to_dns_label("My_App"), "my-app");
        assert_eq!(to_dns_label("--x--y--"), "x-y");
        assert_eq!(to_dns_label("tmp.AbC123"), "tmp-abc123");
        assert_eq!(to_dns_label("___"), "");
        assert_eq!(to_dns_label(&"a".repeat(70)).len(), MAX_LABEL);
        assert_eq!(check_dns_label("My"), Err(LabelProblem::BadChar('M')));
    }

    #[test]
    fn namespaces_and_containers_are_labels() {
        assert!(dns_label("demo").is_ok());
        for bad in [
            "../kube-system",
            "demo/pods",
            "a.b",
            "",
            "Demo",
            &"a".repeat(64),
        ] {
            assert!(dns_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kinds_and_api_versions() {
        assert!(kind("ClusterRoleBinding").is_ok());
        assert!(kind("Pod/log").is_err());
        assert!(kind("").is_err());
        for good in [
            "v1",
            "batch/v1",
            "rbac.authorization.k8s.io/v1",
            "apps/v1beta2",
        ] {
            assert!(api_version(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "v1/../..",
            "v1?x=y",
            "batch/",
            "/v1",
            "Batch/v1",
            "batch/v1/x",
            "x",
        ] {
            assert!(api_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selectors_follow_the_api_grammar() {
        for good in [
            "app=web",
            "app=web,tier!=db",
            "app==web",
            "app",
            "!app",
            "app in (web,api)",
            "env notin (prod)",
            "example.com/team=a",
            "app=",
        ] {
            assert!(label_selector(good).is_ok(), "{good}");
        }
        for bad in [
            "app=web&fieldSelector=metadata.name=x",
            "a in (b",
            "a=b)",
            "a=b,",
            "a=b c",
            "a/b/c=d",
            "a=\u{1b}",
        ] {
            assert!(label_selector(bad).is_err(), "{bad}");
        }
        assert!(label_selector(&"a=b,".repeat(2000)).is_err());
    }

    #[test]
    fn quote_is_short_and_inert() {
        assert_eq!(quote("a\u{1b}[2K", 10), "\"a\\u{1b}[2K\"");
        let q = quote(&"x".repeat(1 << 20), 8);
        assert_eq!(q, "\"xxxxxxxx\"... (1048576 bytes)");
    }
}
