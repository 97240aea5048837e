//! Hook modules from OCI registries: `module: oci://HOST[:PORT]/REPO:TAG` (or `@sha256:...`)
//! in hooks.yaml. A reference is resolved to a manifest digest (from the reference itself,
//! else the pin in `.kubes/hooks.lock`, else the registry), its blobs come from the
//! content-addressed store or the registry (bounded and verified), and the result says where
//! the module came from ([`Origin`]).
//!
//! - [`reference`]: parsing `oci://` references (an explicit host, never a default one).
//! - [`client`]: oci-client with transport and credential rules, bounded verified fetches.
//! - [`layout`]: the CNCF wasm artifact layout pushed and accepted.
//! - [`store`]: the content-addressed store of pulled blobs, verified on every read.
//! - [`lock`]: `.kubes/hooks.lock`.
//! - [`sign`]: ed25519 signatures as OCI referrers, and the trust policy's check.
//! - [`archive`]: `kubes hooks save|load`, an OCI image-layout tarball.
//! - [`ops`]: the operations behind `kubes hooks push|pull|inspect|lock|sign|save|load`.

pub mod archive;
pub mod client;
pub mod layout;
pub mod lock;
pub mod ops;
pub mod reference;
pub mod sign;
pub mod store;

use std::collections::BTreeMap;
use std::future::Future;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use client::{Registry, RegistryError};
use layout::MAX_CONFIG;
use lock::{LockFile, Pin};
pub use reference::OciRef;
use store::{BlobStore, StoreError};

/// Registry settings from hooks.yaml (`registry:` and `trust:`).
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Hosts (`HOST[:PORT]`) reached over plain HTTP although not loopback.
    pub insecure: Vec<String>,
    pub trust: TrustPolicy,
}

/// `trust: { keys: [ed25519:HEX...], require: true }`.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    pub keys: Vec<VerifyingKey>,
    /// Every registry module must carry a valid signature by one of `keys`.
    pub require: bool,
}

/// Where a hook module came from: what `kubes hooks audit` and `inspect` report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Origin {
    /// The reference as written.
    pub reference: String,
    /// The manifest digest it resolved to.
    pub digest: String,
    /// The component's digest and size.
    pub component: String,
    pub size: u64,
    /// `kubes:hook` version it was built for (the annotation, else its imports).
    pub world: Option<String>,
    /// The `org.opencontainers.image.source` / `.version` annotations.
    pub source: Option<String>,
    pub version: Option<String>,
    /// `ed25519:<hex>` of a trusted key whose signature verified.
    pub signer: Option<String>,
    /// Digest of the signature artifact found, if any.
    pub signature: Option<String>,
    /// How the digest was decided: `reference`, `lock` or `registry`.
    pub pinned_by: &'static str,
    /// Whether every blob came from the local store (no registry contacted for them).
    pub from_cache: bool,
}

impl Origin {
    pub fn pin(&self) -> Pin {
        Pin {
            reference: self.reference.clone(),
            digest: self.digest.clone(),
            component: self.component.clone(),
            size: self.size,
            world: self.world.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// A fetched module: where it came from and the component's bytes (verified).
pub struct Pulled {
    pub origin: Origin,
    pub component: Vec<u8>,
}

/// Why a registry module cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{reference} is not pinned in .kubes/hooks.lock (a locked deploy takes pinned modules only); run `kubes hooks lock`")]
    NotPinned { reference: String },
    #[error("{reference}: the tag moved since it was locked: the lock pins {locked}, the registry has {now}; run `kubes hooks lock` to accept it")]
    TagMoved {
        reference: String,
        locked: String,
        now: String,
    },
    #[error("{reference}: .kubes/hooks.lock pins {locked} but the reference names {named}; run `kubes hooks lock`")]
    LockStale {
        reference: String,
        locked: String,
        named: String,
    },
    #[error("{reference}: {message}")]
    Mismatch { reference: String, message: String },
    #[error("{reference}: not signed by a trusted key ({why}); `trust: require: true` refuses it")]
    Unsigned { reference: String, why: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{reference}: {message}")]
    Invalid { reference: String, message: String },
}

/// How a reference's digest is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// The reference's digest, else the lock's pin, else the registry (a deploy).
    PinnedFirst,
    /// As `PinnedFirst`, but a reference without a pin is refused and a pinned tag is
    /// checked against the registry when it answers (`--locked`).
    Locked,
    /// The registry's answer now (`kubes hooks lock`, `pull`, `inspect`).
    Fresh,
}

/// Fetches registry modules through the store.
pub struct Fetcher {
    pub store: BlobStore,
    pub registry: Registry,
    pub lock: Option<LockFile>,
    pub trust: TrustPolicy,
    /// Things worth telling the user (a tag not checked because the registry is away).
    pub notes: std::sync::Mutex<Vec<String>>,
}

impl Fetcher {
    pub fn new(config: &RegistryConfig, lock: Option<LockFile>) -> Result<Fetcher, String> {
        Ok(Fetcher {
            store: BlobStore::open_default()?,
            registry: Registry::new(&config.insecure),
            lock,
            trust: config.trust.clone(),
            notes: Default::default(),
        })
    }

    fn note(&self, s: String) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    /// The manifest digest `r` stands for, by `how`.
    async fn digest_for(
        &self,
        r: &OciRef,
        written: &str,
        how: Resolve,
    ) -> Result<(String, &'static str), FetchError> {
        let pin = match how {
            Resolve::Fresh => None,
            _ => self.lock.as_ref().and_then(|l| l.pin(written)),
        };
        if let (Some(named), Some(p)) = (&r.digest, pin) {
            if named != &p.digest {
                return Err(FetchError::LockStale {
                    reference: written.into(),
                    locked: p.digest.clone(),
                    named: named.clone(),
                });
            }
        }
        if let Some(d) = &r.digest {
            return Ok((d.clone(), "reference"));
        }
        match (how, pin) {
            (Resolve::Locked, None) => Err(FetchError::NotPinned {
                reference: written.into(),
            }),
            (Resolve::Locked, Some(p)) => {
                // A tag that moved is refused; a registry that does not answer cannot say,
                // and the pin is what a locked deploy runs anyway.
                match self.registry.resolve(r).await {
                    Ok(now) if now != p.digest => Err(FetchError::TagMoved {
                        reference: written.into(),
                        locked: p.digest.clone(),
                        now,
                    }),
                    Ok(_) => Ok((p.digest.clone(), "lock")),
                    Err(RegistryError::Unreachable { .. }) => {
                        self.note(format!(
                            "{written}: registry not reachable; the tag was not checked, using the pinned {}",
                            p.digest
                        ));
                        Ok((p.digest.clone(), "lock"))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            (Resolve::PinnedFirst, Some(p)) => Ok((p.digest.clone(), "lock")),
            _ => Ok((self.registry.resolve(r).await?, "registry")),
        }
    }

    /// A blob from the store, else the registry (stored after it verifies). A stored blob
    /// that no longer matches its digest is dropped and fetched again.
    async fn blob(
        &self,
        r: &OciRef,
        digest: &str,
        max: u64,
        manifest: bool,
        cached: &mut bool,
    ) -> Result<Vec<u8>, FetchError> {
        let mut changed = None;
        match self.store.get(digest, max) {
            Ok(Some(b)) => return Ok(b),
            Ok(None) => {}
            Err(e @ StoreError::Mismatch { .. }) => {
                self.note(format!("{r}: {e}"));
                changed = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
        *cached = false;
        let fetched = if manifest {
            self.registry
                .manifest(&r.at_digest(digest))
                .await
                .map(|(b, _)| b)
        } else {
            self.registry.blob(r, digest, max).await
        };
        let bytes = match (fetched, changed) {
            (Ok(b), _) => b,
            (Err(e), None) => return Err(e.into()),
            // Say both: the local copy changed, and the registry could not replace it.
            (Err(e), Some(local)) => {
                return Err(FetchError::Mismatch {
                    reference: r.to_string(),
                    message: format!("{local}; fetching it again failed: {e}"),
                })
            }
        };
        self.store.put(digest, &bytes)?;
        Ok(bytes)
    }

    /// Fetch the module `written` (an `oci://` reference), its component at most `max` bytes.
    pub async fn fetch(&self, written: &str, max: u64, how: Resolve) -> Result<Pulled, FetchError> {
        let r = OciRef::parse(written).map_err(|m| FetchError::Invalid {
            reference: written.into(),
            message: m,
        })?;
        let (digest, pinned_by) = self.digest_for(&r, written, how).await?;
        let mut cached = true;
        let manifest_bytes = self
            .blob(&r, &digest, layout::MAX_MANIFEST, true, &mut cached)
            .await?;
        let manifest = layout::parse_component_manifest(&manifest_bytes, max).map_err(|m| {
            FetchError::Invalid {
                reference: written.into(),
                message: m,
            }
        })?;
        let layer = manifest.component().clone();
        if let Some(p) = self.lock.as_ref().and_then(|l| l.pin(written)) {
            if how != Resolve::Fresh && (p.component != layer.digest || p.size != layer.size) {
                return Err(FetchError::Mismatch {
                    reference: written.into(),
                    message: format!(
                        "the manifest names component {} ({} bytes), the lock pins {} ({} bytes)",
                        layer.digest, layer.size, p.component, p.size
                    ),
                });
            }
        }
        // The config too: an image layout saved from the store must be complete.
        self.blob(&r, &manifest.config.digest, MAX_CONFIG, false, &mut cached)
            .await?;
        let component = self
            .blob(&r, &layer.digest, layer.size.min(max), false, &mut cached)
            .await?;
        let facts = layout::component_facts(&component).map_err(|m| FetchError::Invalid {
            reference: written.into(),
            message: m,
        })?;
        let world = manifest
            .annotation(layout::ANNOTATION_WORLD)
            .map(str::to_string)
            .or(facts.hook_version);
        let (signer, signature) = self.signature(&r, written, &digest, how).await?;
        Ok(Pulled {
            origin: Origin {
                reference: written.to_string(),
                digest,
                component: layer.digest.clone(),
                size: layer.size,
                world,
                source: manifest
                    .annotation(layout::ANNOTATION_SOURCE)
                    .map(str::to_string),
                version: manifest
                    .annotation(layout::ANNOTATION_VERSION)
                    .map(str::to_string),
                signer,
                signature,
                pinned_by,
                from_cache: cached,
            },
            component,
        })
    }

    /// The signature of `digest`: the one the lock pins (from the store), else the one under
    /// its `.sig` tag in the registry. Under `trust.require` a missing or bad one is an error.
    async fn signature(
        &self,
        r: &OciRef,
        written: &str,
        digest: &str,
        how: Resolve,
    ) -> Result<(Option<String>, Option<String>), FetchError> {
        let pinned = match how {
            Resolve::Fresh => None,
            _ => self
                .lock
                .as_ref()
                .and_then(|l| l.pin(written))
                .and_then(|p| p.signature.clone()),
        };
        let found = self.find_signature(r, digest, pinned.as_deref()).await;
        let unsigned = |why: String| FetchError::Unsigned {
            reference: written.into(),
            why,
        };
        match found {
            Ok(Some((sig_digest, payload))) => {
                if self.trust.keys.is_empty() {
                    if self.trust.require {
                        return Err(unsigned("no trusted keys are configured".into()));
                    }
                    return Ok((None, Some(sig_digest)));
                }
                match sign::verify(&payload, digest, &self.trust.keys) {
                    Ok(signer) => Ok((Some(signer), Some(sig_digest))),
                    Err(why) if self.trust.require => Err(unsigned(why)),
                    Err(why) => {
                        self.note(format!("{written}: signature not trusted: {why}"));
                        Ok((None, Some(sig_digest)))
                    }
                }
            }
            Ok(None) if self.trust.require => Err(unsigned("no signature found".into())),
            Ok(None) => Ok((None, None)),
            Err(e) if self.trust.require => Err(unsigned(e.to_string())),
            Err(e) => {
                self.note(format!("{written}: signature not read: {e}"));
                Ok((None, None))
            }
        }
    }

    async fn find_signature(
        &self,
        r: &OciRef,
        digest: &str,
        pinned: Option<&str>,
    ) -> Result<Option<(String, Vec<u8>)>, FetchError> {
        let sig_digest = match pinned {
            Some(d) => d.to_string(),
            None => match self
                .registry
                .resolve(&r.with_tag(&sign::signature_tag(digest)))
                .await
            {
                Ok(d) => d,
                Err(RegistryError::Refused { .. }) | Err(RegistryError::Unreachable { .. }) => {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut cached = true;
        let manifest = self
            .blob(r, &sig_digest, layout::MAX_MANIFEST, true, &mut cached)
            .await?;
        let layer = sign::signature_layer(&manifest).map_err(|m| FetchError::Invalid {
            reference: r.to_string(),
            message: m,
        })?;
        let config_digest = store::sha256_digest(sign::EMPTY_CONFIG);
        if !self.store.contains(&config_digest) {
            self.store.put(&config_digest, sign::EMPTY_CONFIG)?;
        }
        let payload = self
            .blob(r, &layer.digest, sign::MAX_SIGNATURE, false, &mut cached)
            .await?;
        Ok(Some((sig_digest, payload)))
    }

    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Run `f` to completion on a runtime of its own, on a thread of its own, so sync callers
/// and callers already inside a runtime can both use the async registry code.
pub fn block_on<T: Send, F: Future<Output = T>>(f: impl FnOnce() -> F + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds")
                .block_on(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Fetch every registry module `hooks` names (each once), by `how`, within each hook's
/// `module_size`. Returns the modules by reference, and the notes to show.
pub fn fetch_all(
    project_root: &std::path::Path,
    config: &crate::hooks::HooksConfig,
    how: Resolve,
) -> anyhow::Result<(BTreeMap<String, Pulled>, Vec<String>)> {
    let refs = config.registry_modules();
    if refs.is_empty() {
        return Ok((BTreeMap::new(), Vec::new()));
    }
    let lock = LockFile::load(project_root)?;
    let fetcher = Fetcher::new(&config.registry, lock).map_err(anyhow::Error::msg)?;
    block_on(|| async {
        let mut out = BTreeMap::new();
        for (written, max) in &refs {
            let pulled = fetcher.fetch(written, *max, how).await?;
            out.insert(written.clone(), pulled);
        }
        let notes = fetcher.take_notes();
        Ok((out, notes))
    })
}
