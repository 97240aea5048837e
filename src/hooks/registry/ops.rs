//! The operations behind `kubes hooks push|pull|inspect|lock|sign`: each takes parsed
//! arguments and returns data for the reporter.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::layout::{self, PushInfo, WasmConfig};
use super::lock::{LockFile, Pin};
use super::{block_on, sign, Fetcher, Origin, RegistryConfig, Resolve};
use crate::hooks::limits::HookLimits;
use crate::hooks::HooksConfig;

/// What `kubes hooks push` did.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub reference: String,
    /// The manifest digest: `REF@DIGEST` pins exactly this.
    pub digest: String,
    pub component: String,
    pub size: u64,
    pub world: Option<String>,
}

/// The registry settings of the project at `root` (none when it has no hooks.yaml).
pub fn project_registry_config(root: &Path) -> anyhow::Result<RegistryConfig> {
    Ok(HooksConfig::load(root)?.registry)
}

/// Push the component at `file` to `reference` in the CNCF wasm layout.
pub fn push(
    file: &Path,
    reference: &str,
    info: &PushInfo,
    config: &RegistryConfig,
) -> anyhow::Result<Pushed> {
    let r = super::OciRef::parse(reference).map_err(anyhow::Error::msg)?;
    let max = HookLimits::default().module_size;
    let bytes = read_bounded(file, max)?;
    let (config_bytes, manifest) =
        layout::build(&bytes, info).map_err(|m| anyhow::anyhow!("{}: {m}", file.display()))?;
    let world = layout::component_facts(&bytes)
        .ok()
        .and_then(|f| f.hook_version);
    let registry = super::client::Registry::new(&config.insecure);
    let digest = block_on(|| async {
        registry.push_blob(&r, &config_bytes).await?;
        registry.push_blob(&r, &bytes).await?;
        registry
            .push_manifest(&r, &manifest, layout::MANIFEST_MEDIA_TYPE)
            .await
    })?;
    Ok(Pushed {
        reference: r.to_string(),
        digest,
        component: super::store::sha256_digest(&bytes),
        size: bytes.len() as u64,
        world,
    })
}

fn read_bounded(file: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        anyhow::bail!("{}: larger than {max} bytes", file.display());
    }
    Ok(bytes)
}

/// Pull `reference` into the store (what it resolves to now); where it came from.
pub fn pull(reference: &str, config: &RegistryConfig) -> anyhow::Result<(Origin, Vec<String>)> {
    let fetcher = Fetcher::new(config, None).map_err(anyhow::Error::msg)?;
    let max = HookLimits::default().module_size;
    let pulled = block_on(|| fetcher.fetch(reference, max, Resolve::Fresh))?;
    Ok((pulled.origin, fetcher.take_notes()))
}

/// What `kubes hooks inspect REF` shows: where it came from, its config, its annotations.
#[derive(Debug, Serialize)]
pub struct Inspected {
    pub origin: Origin,
    pub config: WasmConfig,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub notes: Vec<String>,
}

/// Fetch `reference` (into the store, nothing compiled or run) and describe it.
pub fn inspect(reference: &str, config: &RegistryConfig) -> anyhow::Result<Inspected> {
    let fetcher = Fetcher::new(config, None).map_err(anyhow::Error::msg)?;
    let max = HookLimits::default().module_size;
    let pulled = block_on(|| fetcher.fetch(reference, max, Resolve::Fresh))?;
    let manifest_bytes = fetcher
        .store
        .get(&pulled.origin.digest, layout::MAX_MANIFEST)?
        .ok_or_else(|| anyhow::anyhow!("the manifest left the store"))?;
    let manifest =
        layout::parse_component_manifest(&manifest_bytes, max).map_err(anyhow::Error::msg)?;
    let config_bytes = fetcher
        .store
        .get(&manifest.config.digest, layout::MAX_CONFIG)?
        .ok_or_else(|| anyhow::anyhow!("the config left the store"))?;
    let wasm_config: WasmConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| anyhow::anyhow!("{reference}: config does not parse: {e}"))?;
    Ok(Inspected {
        origin: pulled.origin,
        config: wasm_config,
        annotations: manifest.annotations.clone().unwrap_or_default(),
        notes: fetcher.take_notes(),
    })
}

/// Resolve every registry module of the project now, pull it, and write `.kubes/hooks.lock`.
pub fn lock(root: &Path) -> anyhow::Result<(PathBuf, Vec<Pin>, Vec<String>)> {
    let config = HooksConfig::load(root)?;
    let (pulled, notes) = super::fetch_all(root, &config, Resolve::Fresh)?;
    let pins: Vec<Pin> = pulled.values().map(|p| p.origin.pin()).collect();
    let lock = LockFile::new(pins.clone());
    let path = lock.write(root)?;
    Ok((path, lock.modules, notes))
}

/// What `kubes hooks sign` did.
#[derive(Debug, Serialize)]
pub struct Signed {
    pub reference: String,
    /// The manifest signed.
    pub digest: String,
    /// The signature artifact's manifest digest and tag.
    pub signature: String,
    pub tag: String,
    pub signer: String,
}

/// Sign what `reference` resolves to now with the key at `key`, and push the signature.
pub fn sign(reference: &str, key: &Path, config: &RegistryConfig) -> anyhow::Result<Signed> {
    let signing = sign::load_signing_key(key)?;
    let r = super::OciRef::parse(reference).map_err(anyhow::Error::msg)?;
    let registry = super::client::Registry::new(&config.insecure);
    block_on(|| async {
        let (manifest, digest) = registry.manifest(&r).await?;
        // Only wasm component artifacts are signed (a signature of something else is no use).
        layout::parse_component_manifest(&manifest, u64::MAX).map_err(anyhow::Error::msg)?;
        let (layer, sig_manifest) = sign::build_signature(&signing, &digest, manifest.len() as u64)
            .map_err(anyhow::Error::msg)?;
        let tag = sign::signature_tag(&digest);
        let target = r.with_tag(&tag);
        registry.push_blob(&target, sign::EMPTY_CONFIG).await?;
        registry.push_blob(&target, &layer).await?;
        let signature = registry
            .push_manifest(&target, &sig_manifest, layout::MANIFEST_MEDIA_TYPE)
            .await?;
        Ok(Signed {
            reference: r.to_string(),
            digest,
            signature,
            tag,
            signer: sign::public_key_text(&signing.verifying_key()),
        })
    })
}
