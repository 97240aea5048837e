//! `kubes hooks save FILE` / `kubes hooks load FILE`: every registry module of a project
//! (manifest, config, component, and signature artifacts) in one OCI image-layout tarball
//! (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), for runners without a registry.
//! Loading never extracts by path: each entry is read within a size bound, hashed, and put
//! in the store under its digest; anything else in the tarball is refused.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::{self, MANIFEST_MEDIA_TYPE};
use super::store::{sha256_digest, BlobStore};
use super::{sign, Resolve};
use crate::hooks::limits::HookLimits;
use crate::hooks::HooksConfig;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const SIGNATURE_OF: &str = "dev.kubes.hook.signature-of";
/// Most bytes a tarball may hold in all.
const MAX_TOTAL: u64 = 4 * 1024 * 1024 * 1024;
/// Most entries.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    manifests: Vec<layout::Descriptor>,
}

/// What a save or load covered: the module references and their manifest digests.
#[derive(Debug, Serialize)]
pub struct ArchiveSummary {
    pub file: String,
    pub modules: BTreeMap<String, String>,
    pub blobs: usize,
    pub bytes: u64,
}

/// Write every registry module of the project at `root` (from the store, pulling what is
/// missing, as a deploy would resolve it) into the tarball `file`.
pub fn save(root: &Path, file: &Path) -> anyhow::Result<(ArchiveSummary, Vec<String>)> {
    let config = HooksConfig::load(root)?;
    let (pulled, notes) = super::fetch_all(root, &config, Resolve::PinnedFirst)?;
    if pulled.is_empty() {
        anyhow::bail!(
            "{}: no hook uses a registry module; nothing to save",
            config.file.display()
        );
    }
    let store = BlobStore::open_default().map_err(anyhow::Error::msg)?;
    let max = HookLimits::default().module_size.max(layout::MAX_MANIFEST);
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut index = Vec::new();
    let mut modules = BTreeMap::new();
    let take = |digest: &str, blobs: &mut BTreeMap<String, Vec<u8>>| -> anyhow::Result<u64> {
        let bytes = store
            .get(digest, max)?
            .ok_or_else(|| anyhow::anyhow!("blob {digest} is not in the store"))?;
        let n = bytes.len() as u64;
        blobs.insert(digest.to_string(), bytes);
        Ok(n)
    };
    for (written, p) in &pulled {
        let size = take(&p.origin.digest, &mut blobs)?;
        let manifest: layout::Manifest = serde_json::from_slice(&blobs[&p.origin.digest])?;
        take(&manifest.config.digest, &mut blobs)?;
        take(&manifest.component().digest, &mut blobs)?;
        index.push(layout::Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: p.origin.digest.clone(),
            size,
            annotations: Some(BTreeMap::from([(REF_NAME.to_string(), written.clone())])),
        });
        if let Some(sig) = &p.origin.signature {
            let size = take(sig, &mut blobs)?;
            let layer = sign::signature_layer(&blobs[sig]).map_err(anyhow::Error::msg)?;
            take(&layer.digest, &mut blobs)?;
            take(&sha256_digest(sign::EMPTY_CONFIG), &mut blobs)?;
            index.push(layout::Descriptor {
                media_type: MANIFEST_MEDIA_TYPE.into(),
                digest: sig.clone(),
                size,
                annotations: Some(BTreeMap::from([(
                    SIGNATURE_OF.to_string(),
                    p.origin.digest.clone(),
                )])),
            });
        }
        modules.insert(written.clone(), p.origin.digest.clone());
    }
    let index = serde_json::to_vec_pretty(&Index {
        schema_version: 2,
        media_type: Some("application/vnd.oci.image.index.v1+json".into()),
        manifests: index,
    })?;
    let out =
        std::fs::File::create(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(out));
    let mut add = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &index)?;
    let mut bytes = 0;
    for (digest, b) in &blobs {
        add(&format!("blobs/sha256/{}", &digest["sha256:".len()..]), b)?;
        bytes += b.len() as u64;
    }
    tar.into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok((
        ArchiveSummary {
            file: file.display().to_string(),
            modules,
            blobs: blobs.len(),
            bytes,
        },
        notes,
    ))
}

/// Put every blob of the tarball `file` into the store, each verified by its digest.
pub fn load(file: &Path) -> anyhow::Result<ArchiveSummary> {
    let store = BlobStore::open_default().map_err(anyhow::Error::msg)?;
    let max = HookLimits::default().module_size.max(layout::MAX_MANIFEST);
    let f = std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut tar = tar::Archive::new(f);
    let mut index: Option<Index> = None;
    let (mut blobs, mut bytes, mut entries) = (0usize, 0u64, 0usize);
    let bad = |m: String| anyhow::anyhow!("{}: {m}", file.display());
    for entry in tar.entries()? {
        let mut entry = entry?;
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").to_string();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("`{path}` is not a regular file")));
        }
        let size = entry.header().size()?;
        if size > max {
            return Err(bad(format!("`{path}` is {size} bytes, more than {max}")));
        }
        bytes += size;
        if bytes > MAX_TOTAL {
            return Err(bad(format!("more than {MAX_TOTAL} bytes in all")));
        }
        let mut content = Vec::with_capacity(size as usize);
        (&mut entry).take(max).read_to_end(&mut content)?;
        match path.as_str() {
            "oci-layout" => {}
            "index.json" => {
                index = Some(
                    serde_json::from_slice(&content)
                        .map_err(|e| bad(format!("index.json: {e}")))?,
                )
            }
            p => {
                let hex = p
                    .strip_prefix("blobs/sha256/")
                    .ok_or_else(|| bad(format!("unexpected entry `{p}` (an OCI image layout holds oci-layout, index.json and blobs/)")))?;
                let digest = format!("sha256:{hex}");
                super::reference::check_digest(&digest).map_err(|m| bad(format!("`{p}`: {m}")))?;
                let actual = sha256_digest(&content);
                if actual != digest {
                    return Err(bad(format!(
                        "`{p}` does not match its digest (it hashes to {actual})"
                    )));
                }
                store.put(&digest, &content)?;
                blobs += 1;
            }
        }
    }
    let index = index.ok_or_else(|| bad("no index.json: not an OCI image layout".into()))?;
    let modules = index
        .manifests
        .iter()
        .filter_map(|d| {
            let name = d.annotations.as_ref()?.get(REF_NAME)?;
            Some((name.clone(), d.digest.clone()))
        })
        .collect();
    Ok(ArchiveSummary {
        file: file.display().to_string(),
        modules,
        blobs,
        bytes,
    })
}
