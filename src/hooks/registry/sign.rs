//! Signatures of hook artifacts: an ed25519 signature over the manifest digest, stored in
//! the registry as its own small OCI artifact whose `subject` is the signed manifest (an
//! OCI referrer) and pushed under the tag `sha256-<hex>.sig` too, because Debian's
//! `docker-registry` 2.8 has no referrers API. Cosign's format is not used: its only Rust
//! verifier (the `sigstore` crate) is experimental and very heavy (docs/registries.md).
//!
//! Keys: a private key file holds the 32-byte ed25519 seed as hex (mode 0600); a public key
//! is written `ed25519:<64 hex>`, as it appears in `trust: { keys: [...] }`.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::layout::{Descriptor, Manifest, MANIFEST_MEDIA_TYPE};
use super::store::sha256_digest;

pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.dev.kubes.hook.signature.v1+json";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Largest signature blob read.
pub const MAX_SIGNATURE: u64 = 64 * 1024;
/// What is signed: this prefix, then the manifest digest (`sha256:<hex>`).
const CONTEXT: &[u8] = b"kubes-hook-signature-v1\0";

/// The signature blob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignaturePayload {
    /// The signed manifest digest.
    pub signed: String,
    /// `ed25519:<hex>`.
    pub key: String,
    /// Hex of the 64-byte signature.
    pub signature: String,
}

/// The tag a signature of `digest` is also pushed under.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// A public key as `ed25519:<hex>`.
pub fn public_key_text(k: &VerifyingKey) -> String {
    format!("ed25519:{}", hex::encode(k.as_bytes()))
}

pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let h = s
        .trim()
        .strip_prefix("ed25519:")
        .ok_or_else(|| format!("`{s}`: expected ed25519:<64 hex digits>"))?;
    let bytes: [u8; 32] = hex::decode(h)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("`{s}`: expected ed25519:<64 hex digits>"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("`{s}`: not an ed25519 key: {e}"))
}

/// Make a key pair: the private key at `path` (0600, refused if it exists), the public
/// key at `path.pub`; returns the public key.
pub fn generate_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    let key = SigningKey::from_bytes(&seed);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())?;
    let public = key.verifying_key();
    let pub_path = path.with_extension("pub");
    std::fs::write(&pub_path, format!("{}\n", public_key_text(&public)))?;
    Ok(public)
}

/// Read a private key file; one others can read is refused.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        anyhow::bail!(
            "{}: the private key can be read by others (mode {:o}); `chmod 600` it",
            path.display(),
            meta.mode() & 0o777
        );
    }
    let text = std::fs::read_to_string(path)?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: expected 64 hex digits (a key from `kubes hooks keygen`)",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The signature artifact for the manifest `digest` (of `size` bytes): its config (the
/// empty `{}`), its one layer, and its manifest.
pub fn build_signature(
    key: &SigningKey,
    digest: &str,
    size: u64,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(digest.as_bytes());
    let sig = key.sign(&message);
    let payload = SignaturePayload {
        signed: digest.to_string(),
        key: public_key_text(&key.verifying_key()),
        signature: hex::encode(sig.to_bytes()),
    };
    let layer = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some(SIGNATURE_MEDIA_TYPE.into()),
        config: Descriptor {
            media_type: EMPTY_MEDIA_TYPE.into(),
            digest: sha256_digest(EMPTY_CONFIG),
            size: EMPTY_CONFIG.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: SIGNATURE_MEDIA_TYPE.into(),
            digest: sha256_digest(&layer),
            size: layer.len() as u64,
            annotations: None,
        }],
        subject: Some(Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: digest.to_string(),
            size,
            annotations: None,
        }),
        annotations: Some(BTreeMap::from([(
            "dev.kubes.hook.signer".to_string(),
            payload.key.clone(),
        )])),
    };
    let manifest = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    Ok((layer, manifest))
}

/// The layer digest a signature manifest points to, after checking its shape.
pub fn signature_layer(manifest: &[u8]) -> Result<Descriptor, String> {
    if manifest.len() as u64 > super::layout::MAX_MANIFEST {
        return Err("signature manifest too large".into());
    }
    let m: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| format!("signature manifest does not parse: {e}"))?;
    match m.layers.as_slice() {
        [l] if l.media_type == SIGNATURE_MEDIA_TYPE && l.size <= MAX_SIGNATURE => {
            super::reference::check_digest(&l.digest)?;
            Ok(l.clone())
        }
        _ => Err("not a kubes signature artifact".into()),
    }
}

/// Check a signature blob signs `digest` with one of `trusted`; returns the signer's key.
pub fn verify(payload: &[u8], digest: &str, trusted: &[VerifyingKey]) -> Result<String, String> {
    let p: SignaturePayload =
        serde_json::from_slice(payload).map_err(|e| format!("signature does not parse: {e}"))?;
    if p.signed != digest {
        return Err(format!("the signature is for {}, not {digest}", p.signed));
    }
    let key = parse_public_key(&p.key)?;
    if !trusted.contains(&key) {
        return Err(format!("signed by {}, which is not a trusted key", p.key));
    }
    let sig: [u8; 64] = hex::decode(&p.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 bytes of hex")?;
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(digest.as_bytes());
    key.verify(&message, &Signature::from_bytes(&sig))
        .map_err(|_| format!("the signature by {} does not verify", p.key))?;
    Ok(p.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_only_with_a_trusted_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        let d = format!("sha256:{}", "b".repeat(64));
        let (layer, manifest) = build_signature(&key, &d, 100).unwrap();
        assert_eq!(
            signature_layer(&manifest).unwrap().digest,
            sha256_digest(&layer)
        );
        let signer = verify(&layer, &d, &[key.verifying_key()]).unwrap();
        assert_eq!(signer, public_key_text(&key.verifying_key()));
        assert!(verify(&layer, &d, &[other])
            .unwrap_err()
            .contains("not a trusted"));
        let other_digest = format!("sha256:{}", "c".repeat(64));
        assert!(verify(&layer, &other_digest, &[key.verifying_key()]).is_err());
        let mut p: SignaturePayload = serde_json::from_slice(&layer).unwrap();
        p.signature = hex::encode([0u8; 64]);
        let e = verify(&serde_json::to_vec(&p).unwrap(), &d, &[key.verifying_key()]);
        assert!(e.unwrap_err().contains("does not verify"));
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", "b".repeat(64)));
        assert!(parse_public_key("ed25519:zz").is_err());
    }
}
