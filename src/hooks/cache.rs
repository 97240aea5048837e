//! Compiled-component cache on disk. Compiling a component costs ~75 ms for a small Rust
//! hook and ~10 s for a Python or JavaScript one; loading a precompiled one costs well under
//! a millisecond. Entries live under `<cache>/kubes/hooks/<engine key>/<sha256>.cwasm`,
//! keyed by the component's content digest and a hash of the engine's compilation settings
//! (which include the wasmtime version), so a changed engine never sees old entries.
//!
//! Deserializing precompiled code is `unsafe` (it is trusted machine code), so an entry is
//! never trusted blindly: each file carries a SHA-256 of its payload, checked before
//! deserializing, and a mismatch or a refused payload makes the entry be rebuilt.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Starts every entry: format name and version.
const MAGIC: &[u8; 8] = b"KUBESCW1";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid cache entry.
    Hit,
    /// Compiled (no entry yet, or caching is off).
    Compiled,
    /// An entry existed but was corrupt or stale; compiled again and replaced.
    Rebuilt(String),
}

#[derive(Debug, Clone)]
pub struct ModuleCache {
    /// `None`: no caching (no cache directory could be found).
    dir: Option<PathBuf>,
}

/// The cache root: `$KUBES_CACHE_DIR`, else the user cache dir (`~/.cache/kubes/hooks`).
pub fn default_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBES_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("kubes").join("hooks"))
}

/// Hex SHA-256 of `bytes`: the content digest modules are known by.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A stable name for the engine's compilation settings.
pub fn engine_key(engine: &Engine) -> String {
    // SipHash with fixed keys (DefaultHasher::new) is deterministic within a build of kubes;
    // a different Rust std could change it, which only costs a recompile.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{}-{:016x}", std::env::consts::ARCH, h.finish())
}

impl ModuleCache {
    /// A cache under `root` (see [`default_root`]) for `engine`'s settings; `None`: off.
    pub fn new(root: Option<PathBuf>, engine: &Engine) -> Self {
        ModuleCache {
            dir: root.map(|r| r.join(engine_key(engine))),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry_path(&self, digest: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{digest}.cwasm")))
    }

    /// The component for `wasm` (whose digest is `digest`): from the cache when a valid
    /// entry exists, else compiled and stored. `compile` errors are returned as they are.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(path) = self.entry_path(digest) else {
            return Ok((Component::new(engine, wasm)?, CacheOutcome::Compiled));
        };
        let outcome = match fs::read(&path) {
            Ok(bytes) => match verify(&bytes) {
                Ok(payload) => {
                    // SAFETY: the payload is byte-for-byte what `Component::serialize`
                    // wrote for this digest under this engine key (its SHA-256 matches), and
                    // wasmtime itself refuses artifacts from another version or settings.
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(c) => return Ok((c, CacheOutcome::Hit)),
                        Err(e) => {
                            CacheOutcome::Rebuilt(format!("stale entry refused by the engine: {e}"))
                        }
                    }
                }
                Err(why) => CacheOutcome::Rebuilt(why),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheOutcome::Compiled,
            Err(e) => CacheOutcome::Rebuilt(format!("unreadable entry: {e}")),
        };
        let component = Component::new(engine, wasm)?;
        // A cache that cannot be written only costs speed: the run goes on.
        if let Ok(serialized) = component.serialize() {
            let _ = store(&path, &serialized);
        }
        Ok((component, outcome))
    }
}

fn verify(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err("corrupt entry: bad header".into());
    }
    let (want, payload) = bytes[MAGIC.len()..].split_at(32);
    if Sha256::digest(payload).as_slice() != want {
        return Err("corrupt entry: checksum mismatch".into());
    }
    Ok(payload)
}

/// Write atomically (temp file + rename) so a concurrent reader never sees half an entry.
fn store(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("entry paths have a parent");
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(MAGIC)?;
    tmp.write_all(&Sha256::digest(payload))?;
    tmp.write_all(payload)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rejects_tampering() {
        let payload = b"compiled code";
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&Sha256::digest(payload));
        entry.extend_from_slice(payload);
        assert_eq!(verify(&entry).unwrap(), payload);
        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(verify(&flipped).unwrap_err().contains("checksum"));
        assert!(verify(&entry[..10]).unwrap_err().contains("header"));
        assert!(verify(b"XXXXXXXX0123456789012345678901234567890123")
            .unwrap_err()
            .contains("header"));
    }
}
