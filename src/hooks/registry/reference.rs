//! `oci://HOST[:PORT]/REPO:TAG` and `oci://HOST[:PORT]/REPO@sha256:DIGEST`: the registry
//! references hooks.yaml and `kubes hooks push|pull|inspect|sign` take, parsed strictly.
//!
//! The host is always explicit: no default registry, no `library/` prefix, so the reference a
//! user reads is the one kubes contacts (oci-client's own parser would send `name:tag` to a
//! public registry).

use std::fmt;

use oci_client::Reference;

/// A parsed registry reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OciRef {
    /// `HOST[:PORT]`.
    pub host: String,
    /// `team/hooks/migrate-wait`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

/// Longest reference accepted (the distribution spec caps names at 255 characters).
const MAX_LEN: usize = 512;

impl OciRef {
    /// Parse `oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]`; a tag or a digest (or both) is required.
    pub fn parse(s: &str) -> Result<OciRef, String> {
        let expected = "expected oci://HOST[:PORT]/REPOSITORY:TAG or oci://HOST[:PORT]/REPOSITORY@sha256:DIGEST";
        if s.len() > MAX_LEN {
            return Err(format!(
                "reference longer than {MAX_LEN} characters; {expected}"
            ));
        }
        let rest = s
            .strip_prefix("oci://")
            .ok_or_else(|| format!("`{s}`: {expected}"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: no repository; {expected}"))?;
        check_host(host).map_err(|m| format!("`{s}`: {m}"))?;
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => {
                check_digest(d).map_err(|m| format!("`{s}`: {m}"))?;
                (p, Some(d.to_string()))
            }
            None => (path, None),
        };
        // A tag is after the last `:` that follows the last `/`.
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(i) => (
                &path[..last_slash + i],
                Some(path[last_slash + i + 1..].to_string()),
            ),
            None => (path, None),
        };
        check_repository(repository).map_err(|m| format!("`{s}`: {m}"))?;
        if let Some(t) = &tag {
            check_tag(t).map_err(|m| format!("`{s}`: {m}"))?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(format!("`{s}`: no tag or digest; {expected}"));
        }
        Ok(OciRef {
            host: host.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The same repository at `digest`, without a tag.
    pub fn at_digest(&self, digest: &str) -> OciRef {
        OciRef {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The same repository under `tag`.
    pub fn with_tag(&self, tag: &str) -> OciRef {
        OciRef {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// oci-client's reference for the same thing, checked to name the same host and
    /// repository (its parser normalises; a reference must never move to another host).
    pub fn to_client(&self) -> Result<Reference, String> {
        let r = match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => Reference::with_tag_and_digest(
                self.host.clone(),
                self.repository.clone(),
                t.clone(),
                d.clone(),
            ),
            (None, Some(d)) => {
                Reference::with_digest(self.host.clone(), self.repository.clone(), d.clone())
            }
            (Some(t), None) => {
                Reference::with_tag(self.host.clone(), self.repository.clone(), t.clone())
            }
            (None, None) => return Err(format!("{self}: no tag or digest")),
        };
        if r.resolve_registry() != self.host || r.repository() != self.repository {
            return Err(format!(
                "{self}: the OCI client would contact {}/{} instead",
                r.resolve_registry(),
                r.repository()
            ));
        }
        Ok(r)
    }

    /// Whether the host is this machine (plain HTTP is allowed to it).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

/// `localhost`, `127.x.x.x`, `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.host, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no registry host".into());
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or("unclosed `[` in the registry host")?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{ip}` is not an IPv6 address"))?;
        (None, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(p) = port {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{p}` is not a port number"))?;
    }
    if let Some(n) = name {
        let ok = !n.is_empty()
            && n.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok {
            return Err(format!("`{n}` is not a host name"));
        }
        // oci-client reads a first component without `.` or `:` as a repository on a
        // default registry: require a host that cannot be mistaken for one.
        if port.is_none() && !n.contains('.') && n != "localhost" {
            return Err(format!(
                "`{n}` does not look like a registry host (give a domain, an IP address or HOST:PORT)"
            ));
        }
    }
    Ok(())
}

/// Lowercase alphanumerics separated by `.`, `_`, `__`, `-`, components by `/`
/// (the distribution spec's name grammar).
fn check_repository(r: &str) -> Result<(), String> {
    let ok = !r.is_empty()
        && r.len() <= 255
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{r}` is not a repository name (lowercase letters, digits, `.`, `_`, `-`, components separated by `/`)"
        ))
    }
}

fn check_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{t}` is not a tag (letters, digits, `_`, `.`, `-`; at most 128)"
        ))
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn check_digest(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) => Ok(()),
        _ => Err(format!(
            "`{d}` is not a digest (expected sha256: and 64 lowercase hex digits)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_digests_and_ports() {
        let r = OciRef::parse("oci://127.0.0.1:5000/team/hooks/migrate-wait:1.2").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/hooks/migrate-wait");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert!(r.is_loopback());
        let d = OciRef::parse(&format!("oci://registry.example/hooks/w@{D}")).unwrap();
        assert_eq!(d.digest.as_deref(), Some(D));
        assert!(!d.is_loopback());
        assert_eq!(d.to_string(), format!("oci://registry.example/hooks/w@{D}"));
        let both = OciRef::parse(&format!("oci://localhost:5000/w:v1@{D}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("v1"));
        let c = both.to_client().unwrap();
        assert_eq!(c.resolve_registry(), "localhost:5000");
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for bad in [
            "hooks/w.wasm",
            "oci://",
            "oci://host.example",
            "oci://host.example/w",
            "oci://noport/w:v1",
            "oci://host.example/W:v1",
            "oci://host.example/w:",
            "oci://host.example/w@sha256:abc",
            "oci://host.example:99999/w:v1",
            "oci://host.example/w:v1 ",
            "oci://ho$t.example/w:v1",
        ] {
            assert!(OciRef::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("localhost:5000"));
        assert!(is_loopback_host("127.0.0.2"));
        assert!(is_loopback_host("[::1]:5000"));
        assert!(!is_loopback_host("10.0.0.1:5000"));
        assert!(!is_loopback_host("localhost.evil.example"));
    }
}
