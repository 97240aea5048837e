//! The artifact kubes pushes and pulls: the CNCF TAG Runtime layout for WebAssembly in OCI
//! registries, which other wasm OCI tools read — an image manifest whose config has media
//! type `application/vnd.wasm.config.v0+json` (the component's world, imports and exports)
//! and exactly one `application/wasm` layer, the component itself. Annotations say where it
//! came from (source, version) and which `kubes:hook` world it was built for.
//!
//! Pulled manifests are checked here before any blob is fetched: media types, one layer,
//! declared sizes within bounds, well-formed digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reference::check_digest;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";

/// Annotation: the hook world version the component was built for (`0.2.0`).
pub const ANNOTATION_WORLD: &str = "dev.kubes.hook.world-version";
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// Largest manifest kubes accepts (the distribution registry's own limit is 4 MiB).
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// Largest config blob: a world with thousands of imports fits in far less.
pub const MAX_CONFIG: u64 = 1024 * 1024;

/// `application/vnd.wasm.config.v0+json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WasmConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(rename = "layerDigests", default)]
    pub layer_digests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ComponentInfo {
    #[serde(default)]
    pub exports: Vec<String>,
    #[serde(default)]
    pub imports: Vec<String>,
    /// The world it targets (`kubes:hook/hook@0.2.0`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A descriptor in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest, as far as kubes reads and writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What a component says about itself, read from its binary without compiling it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComponentFacts {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// `0.2.0` when it imports `kubes:hook/...@0.2.0`.
    pub hook_version: Option<String>,
}

impl ComponentFacts {
    pub fn world(&self) -> Option<String> {
        self.hook_version
            .as_ref()
            .map(|v| format!("kubes:hook/hook@{v}"))
    }
}

/// Top-level imports and exports of a component (nested modules and components skipped).
pub fn component_facts(bytes: &[u8]) -> Result<ComponentFacts, String> {
    use wasmparser::{Encoding, Parser, Payload};
    let mut facts = ComponentFacts::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("not a valid component: {e}"))? {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err("a core wasm module, not a component".into());
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(s) if depth == 0 => {
                for i in s {
                    let i = i.map_err(|e| e.to_string())?;
                    facts.imports.push(i.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if depth == 0 => {
                for e in s {
                    let e = e.map_err(|e| e.to_string())?;
                    facts.exports.push(e.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    facts.hook_version = facts.imports.iter().find_map(|i| {
        let (iface, v) = i.split_once('@')?;
        iface.starts_with("kubes:hook/").then(|| v.to_string())
    });
    Ok(facts)
}

/// Where a pushed artifact came from, as annotations.
#[derive(Debug, Clone, Default)]
pub struct PushInfo {
    /// The layer's file name (`org.opencontainers.image.title`: what ORAS-style clients
    /// name the file they pull).
    pub title: Option<String>,
    pub source: Option<String>,
    pub version: Option<String>,
    pub created: Option<String>,
}

impl PushInfo {
    /// What `kubes hooks push FILE` records: FILE's name as the title (only a plain file
    /// name: a client may write the layer under it), the given source and version, and now.
    pub fn for_file(
        file: &std::path::Path,
        source: Option<String>,
        version: Option<String>,
    ) -> Self {
        PushInfo {
            title: file
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| {
                    n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                })
                .map(str::to_string),
            source,
            version,
            created: Some(
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ),
        }
    }
}

/// The config and manifest (as the bytes pushed) for `component`.
pub fn build(component: &[u8], info: &PushInfo) -> Result<(Vec<u8>, Vec<u8>), String> {
    let facts = component_facts(component)?;
    let layer_digest = super::store::sha256_digest(component);
    let config = WasmConfig {
        created: info.created.clone(),
        author: None,
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![layer_digest.clone()],
        component: Some(ComponentInfo {
            exports: facts.exports.clone(),
            imports: facts.imports.clone(),
            target: facts.world(),
        }),
    };
    let config_bytes = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
    let mut annotations = BTreeMap::new();
    if let Some(v) = &facts.hook_version {
        annotations.insert(ANNOTATION_WORLD.to_string(), v.clone());
    }
    if let Some(s) = &info.source {
        annotations.insert(ANNOTATION_SOURCE.to_string(), s.clone());
    }
    if let Some(v) = &info.version {
        annotations.insert(ANNOTATION_VERSION.to_string(), v.clone());
    }
    if let Some(c) = &info.created {
        annotations.insert(ANNOTATION_CREATED.to_string(), c.clone());
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        artifact_type: None,
        config: Descriptor {
            media_type: WASM_CONFIG_MEDIA_TYPE.into(),
            digest: super::store::sha256_digest(&config_bytes),
            size: config_bytes.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: WASM_LAYER_MEDIA_TYPE.into(),
            digest: layer_digest,
            size: component.len() as u64,
            annotations: info
                .title
                .as_ref()
                .map(|t| BTreeMap::from([(ANNOTATION_TITLE.to_string(), t.clone())])),
        }],
        subject: None,
        annotations: (!annotations.is_empty()).then_some(annotations),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    Ok((config_bytes, manifest_bytes))
}

/// Parse a pulled manifest and check it is a wasm component artifact whose blobs fit:
/// config within [`MAX_CONFIG`], the one `application/wasm` layer within `max_layer`.
pub fn parse_component_manifest(bytes: &[u8], max_layer: u64) -> Result<Manifest, String> {
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(format!(
            "manifest of {} bytes, more than {MAX_MANIFEST}",
            bytes.len()
        ));
    }
    let m: Manifest =
        serde_json::from_slice(bytes).map_err(|e| format!("not an OCI image manifest: {e}"))?;
    if m.schema_version != 2 {
        return Err(format!("schemaVersion {}, expected 2", m.schema_version));
    }
    if let Some(t) = &m.media_type {
        if t != MANIFEST_MEDIA_TYPE {
            return Err(format!(
                "manifest media type `{t}`, expected {MANIFEST_MEDIA_TYPE}"
            ));
        }
    }
    if m.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "config media type `{}`, expected {WASM_CONFIG_MEDIA_TYPE} (not a wasm artifact)",
            m.config.media_type
        ));
    }
    check_digest(&m.config.digest).map_err(|e| format!("config: {e}"))?;
    if m.config.size > MAX_CONFIG {
        return Err(format!(
            "config of {} bytes, more than {MAX_CONFIG}",
            m.config.size
        ));
    }
    let [layer] = m.layers.as_slice() else {
        return Err(format!(
            "{} layers; a wasm component artifact has exactly one",
            m.layers.len()
        ));
    };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        return Err(format!(
            "layer media type `{}`, expected {WASM_LAYER_MEDIA_TYPE}",
            layer.media_type
        ));
    }
    check_digest(&layer.digest).map_err(|e| format!("layer: {e}"))?;
    if layer.size > max_layer {
        return Err(format!(
            "component of {} bytes, more than the module_size limit of {max_layer}",
            layer.size
        ));
    }
    Ok(m)
}

impl Manifest {
    /// The component layer (checked by [`parse_component_manifest`]).
    pub fn component(&self) -> &Descriptor {
        &self.layers[0]
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the 8-byte preamble.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn builds_the_cncf_layout_and_reads_it_back() {
        let (config, manifest) = build(
            EMPTY_COMPONENT,
            &PushInfo {
                title: Some("hook.wasm".into()),
                source: Some("https://git.example/hooks".into()),
                version: Some("1.0.0".into()),
                created: None,
            },
        )
        .unwrap();
        let m = parse_component_manifest(&manifest, 1024).unwrap();
        assert_eq!(m.config.media_type, WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(m.config.size, config.len() as u64);
        assert_eq!(m.component().size, EMPTY_COMPONENT.len() as u64);
        assert_eq!(m.annotation(ANNOTATION_VERSION), Some("1.0.0"));
        let c: WasmConfig = serde_json::from_slice(&config).unwrap();
        assert_eq!(c.architecture, "wasm");
        assert_eq!(c.layer_digests, vec![m.component().digest.clone()]);
        // Too big for the module_size limit: refused before any blob is fetched.
        assert!(parse_component_manifest(&manifest, 4)
            .unwrap_err()
            .contains("module_size"));
    }

    #[test]
    fn refuses_other_artifacts() {
        let (_, manifest) = build(EMPTY_COMPONENT, &PushInfo::default()).unwrap();
        let mut m: Manifest = serde_json::from_slice(&manifest).unwrap();
        m.config.media_type = "application/vnd.oci.image.config.v1+json".into();
        let e = parse_component_manifest(&serde_json::to_vec(&m).unwrap(), 1 << 20).unwrap_err();
        assert!(e.contains("not a wasm artifact"), "{e}");
        let mut two: Manifest = serde_json::from_slice(&manifest).unwrap();
        two.layers.push(two.layers[0].clone());
        assert!(
            parse_component_manifest(&serde_json::to_vec(&two).unwrap(), 1 << 20)
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(component_facts(b"\0asm\x01\0\0\0")
            .unwrap_err()
            .contains("core"));
    }
}
