//! Talking to a registry through oci-client: who may be reached over plain HTTP (loopback
//! hosts and the ones hooks.yaml lists as insecure), which credentials go to which host
//! (the Docker config file, or `KUBES_REGISTRY_TOKEN` for the one host in
//! `KUBES_REGISTRY_HOST`), and fetches bounded and verified on top of what oci-client checks:
//! a manifest within [`layout::MAX_MANIFEST`] whose digest is the one asked for, blobs read as
//! a stream and cut off at their limit, hashed again before use.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

use super::layout::{self, MANIFEST_MEDIA_TYPE};
use super::reference::OciRef;
use super::store::sha256_digest;

/// Environment: a bearer token for the registry named in [`ENV_HOST`].
pub const ENV_TOKEN: &str = "KUBES_REGISTRY_TOKEN";
/// Environment: the only host [`ENV_TOKEN`] is sent to.
pub const ENV_HOST: &str = "KUBES_REGISTRY_HOST";
/// Largest Docker config file read.
const MAX_DOCKER_CONFIG: u64 = 1024 * 1024;

/// A registry failure, with the reference it was about.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference}: cannot reach the registry: {message}")]
    Unreachable { reference: String, message: String },
    #[error("{reference}: {message}")]
    Refused { reference: String, message: String },
    #[error("{reference}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("{reference}: {message}")]
    Invalid { reference: String, message: String },
}

pub struct Registry {
    client: Client,
    /// Hosts listed as insecure in hooks.yaml (plain HTTP allowed).
    insecure: Vec<String>,
    /// The clients for plain-HTTP hosts, by host.
    plain: std::sync::Mutex<std::collections::HashMap<String, Client>>,
}

impl Registry {
    /// A client that speaks HTTPS to every host except loopback ones and `insecure`.
    pub fn new(insecure: &[String]) -> Registry {
        Self::installing_crypto();
        let config = ClientConfig {
            // The exceptions are decided per reference in `check_transport`; oci-client's
            // list is the union of what any reference may use.
            protocol: ClientProtocol::HttpsExcept(Vec::new()),
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        Registry {
            client: Client::new(config),
            insecure: insecure.to_vec(),
            plain: Default::default(),
        }
    }

    fn installing_crypto() {
        // reqwest is built without a TLS crypto provider of its own: use the one the
        // Kubernetes client already links (ring). Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    /// The client for `r`: plain HTTP only to a loopback host or one listed insecure. One
    /// client per such host, kept, so the credentials it was given stay with it.
    fn client_for(&self, r: &OciRef) -> Client {
        if r.is_loopback() || self.insecure.iter().any(|h| h == &r.host) {
            let mut plain = self.plain.lock().unwrap_or_else(|e| e.into_inner());
            plain
                .entry(r.host.clone())
                .or_insert_with(|| {
                    Client::new(ClientConfig {
                        protocol: ClientProtocol::HttpsExcept(vec![r.host.clone()]),
                        connect_timeout: Some(Duration::from_secs(10)),
                        read_timeout: Some(Duration::from_secs(60)),
                        ..Default::default()
                    })
                })
                .clone()
        } else {
            self.client.clone()
        }
    }

    fn target(r: &OciRef) -> Result<oci_client::Reference, RegistryError> {
        r.to_client().map_err(|m| RegistryError::Invalid {
            reference: r.to_string(),
            message: m,
        })
    }

    fn fail(r: &OciRef, e: oci_client::errors::OciDistributionError) -> RegistryError {
        use oci_client::errors::OciDistributionError as E;
        let message = crate::hooks::engine::guest_text(&e.to_string(), 2048);
        match e {
            E::RequestError(_) => RegistryError::Unreachable {
                reference: r.to_string(),
                message,
            },
            E::DigestError(_) => RegistryError::DigestMismatch {
                reference: r.to_string(),
                expected: r.digest.clone().unwrap_or_default(),
                actual: message,
            },
            _ => RegistryError::Refused {
                reference: r.to_string(),
                message,
            },
        }
    }

    /// The manifest digest a reference resolves to now (a `HEAD` of the tag).
    pub async fn resolve(&self, r: &OciRef) -> Result<String, RegistryError> {
        let target = Self::target(r)?;
        let digest = self
            .client_for(r)
            .fetch_manifest_digest(&target, &credentials(&r.host))
            .await
            .map_err(|e| Self::fail(r, e))?;
        super::reference::check_digest(&digest).map_err(|m| RegistryError::Invalid {
            reference: r.to_string(),
            message: format!("the registry answered {m}"),
        })?;
        Ok(digest)
    }

    /// The manifest at `r` (its bytes and digest), at most [`layout::MAX_MANIFEST`]; when
    /// `r` names a digest, the bytes must hash to it.
    pub async fn manifest(&self, r: &OciRef) -> Result<(Vec<u8>, String), RegistryError> {
        let target = Self::target(r)?;
        let client = self.client_for(r);
        let (bytes, _) = client
            .pull_manifest_raw(&target, &credentials(&r.host), &[MANIFEST_MEDIA_TYPE])
            .await
            .map_err(|e| Self::fail(r, e))?;
        if bytes.len() as u64 > layout::MAX_MANIFEST {
            return Err(RegistryError::Refused {
                reference: r.to_string(),
                message: format!(
                    "manifest of {} bytes, more than {}",
                    bytes.len(),
                    layout::MAX_MANIFEST
                ),
            });
        }
        let actual = sha256_digest(&bytes);
        if let Some(want) = &r.digest {
            if want != &actual {
                return Err(RegistryError::DigestMismatch {
                    reference: r.to_string(),
                    expected: want.clone(),
                    actual,
                });
            }
        }
        Ok((bytes.to_vec(), actual))
    }

    /// The blob `digest` of `r`'s repository, read as a stream and cut off past `max`
    /// bytes, hashed before it is returned.
    pub async fn blob(&self, r: &OciRef, digest: &str, max: u64) -> Result<Vec<u8>, RegistryError> {
        let target = Self::target(r)?;
        let desc = oci_client::manifest::OciDescriptor {
            digest: digest.to_string(),
            ..Default::default()
        };
        let client = self.client_for(r);
        client
            .store_auth_if_needed(&r.host, &credentials(&r.host))
            .await;
        let mut stream = client
            .pull_blob_stream(&target, &desc)
            .await
            .map_err(|e| Self::fail(r, e))?;
        let too_big = |n: u64| RegistryError::Refused {
            reference: r.to_string(),
            message: format!("blob {digest} is larger than {max} bytes (at least {n})"),
        };
        if let Some(n) = stream.content_length {
            if n > max {
                return Err(too_big(n));
            }
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                // oci-client's verifying stream ends with a digest error of its own.
                if e.get_ref()
                    .is_some_and(|i| i.is::<oci_client::errors::DigestError>())
                {
                    RegistryError::DigestMismatch {
                        reference: format!("{r} blob"),
                        expected: digest.to_string(),
                        actual: e.to_string(),
                    }
                } else {
                    RegistryError::Unreachable {
                        reference: r.to_string(),
                        message: e.to_string(),
                    }
                }
            })?;
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_big((bytes.len() + chunk.len()) as u64));
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                reference: format!("{r} blob"),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Upload a blob (skipped when the registry has it).
    pub async fn push_blob(&self, r: &OciRef, bytes: &[u8]) -> Result<String, RegistryError> {
        let target = Self::target(r)?;
        let client = self.client_for(r);
        let digest = sha256_digest(bytes);
        client
            .store_auth_if_needed(&r.host, &credentials(&r.host))
            .await;
        client
            .auth(
                &target,
                &credentials(&r.host),
                oci_client::RegistryOperation::Push,
            )
            .await
            .map_err(|e| Self::fail(r, e))?;
        if !client
            .blob_exists(&target, &digest)
            .await
            .map_err(|e| Self::fail(r, e))?
        {
            client
                .push_blob(&target, bytes.to_vec(), &digest)
                .await
                .map_err(|e| Self::fail(r, e))?;
        }
        Ok(digest)
    }

    /// Upload a manifest under `r` (its tag, or its digest); returns its digest.
    pub async fn push_manifest(
        &self,
        r: &OciRef,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<String, RegistryError> {
        let target = Self::target(r)?;
        let client = self.client_for(r);
        client
            .auth(
                &target,
                &credentials(&r.host),
                oci_client::RegistryOperation::Push,
            )
            .await
            .map_err(|e| Self::fail(r, e))?;
        let content_type =
            http::HeaderValue::from_str(media_type).map_err(|e| RegistryError::Invalid {
                reference: r.to_string(),
                message: e.to_string(),
            })?;
        client
            .push_manifest_raw(&target, bytes.to_vec(), content_type)
            .await
            .map_err(|e| Self::fail(r, e))?;
        Ok(sha256_digest(bytes))
    }
}

/// The credentials for `host`: `KUBES_REGISTRY_TOKEN` when `KUBES_REGISTRY_HOST` names this
/// host, else the Docker config's `auths` entry, else anonymous. The token never goes to a
/// host it was not given for: a hooks.yaml can name any host.
pub fn credentials(host: &str) -> RegistryAuth {
    if let (Ok(token), Ok(for_host)) = (std::env::var(ENV_TOKEN), std::env::var(ENV_HOST)) {
        if for_host == host && !token.is_empty() {
            return RegistryAuth::Bearer(token);
        }
    }
    docker_config_auth(host).unwrap_or(RegistryAuth::Anonymous)
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(d).join("config.json"));
    }
    dirs::home_dir().map(|h| h.join(".docker").join("config.json"))
}

fn docker_config_auth(host: &str) -> Option<RegistryAuth> {
    use std::io::Read;
    let path = docker_config_path()?;
    let mut text = String::new();
    std::fs::File::open(&path)
        .ok()?
        .take(MAX_DOCKER_CONFIG)
        .read_to_string(&mut text)
        .ok()?;
    auth_from_docker_config(&text, host)
}

/// The `auths` entry for `host` in a Docker config: `auth` (base64 `user:password`) or
/// `username` + `password`, or `registrytoken` (a bearer token). Credential helpers are not
/// run (docs/registries.md).
pub fn auth_from_docker_config(text: &str, host: &str) -> Option<RegistryAuth> {
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let auths = v.get("auths")?.as_object()?;
    let entry = auths.get(host).or_else(|| {
        auths.iter().find_map(|(k, e)| {
            let k = k
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            (k.trim_end_matches('/') == host).then_some(e)
        })
    })?;
    if let Some(token) = entry.get("registrytoken").and_then(|t| t.as_str()) {
        return Some(RegistryAuth::Bearer(token.to_string()));
    }
    if let Some(a) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (u, p) = decoded.split_once(':')?;
        return Some(RegistryAuth::Basic(u.to_string(), p.to_string()));
    }
    let u = entry.get("username")?.as_str()?;
    let p = entry.get("password")?.as_str()?;
    Some(RegistryAuth::Basic(u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries() {
        let text = r#"{"auths": {
            "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
            "https://registry.example/": {"username": "u", "password": "p"}
        }}"#;
        assert!(matches!(
            auth_from_docker_config(text, "127.0.0.1:5000"),
            Some(RegistryAuth::Basic(u, p)) if u == "user" && p == "pass"
        ));
        assert!(matches!(
            auth_from_docker_config(text, "registry.example"),
            Some(RegistryAuth::Basic(u, _)) if u == "u"
        ));
        assert!(auth_from_docker_config(text, "other.example").is_none());
        assert!(auth_from_docker_config("not json", "x").is_none());
    }
}
