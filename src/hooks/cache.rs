//! Compiled-component cache on disk. Compiling a component costs ~75 ms for a small Rust
//! hook and ~10 s for a Python or JavaScript one; loading a precompiled one costs well under
//! a millisecond. Entries live under `<cache>/<engine key>/<sha256>.cwasm`, keyed by the
//! component's content digest and a hash of the engine's compilation settings (which include
//! the wasmtime version), so a changed engine never sees old entries.
//!
//! An entry is native code that is loaded with `unsafe` deserialisation next to the cluster
//! credentials, so it is authenticated, not just checksummed: each file carries an
//! HMAC-SHA256 over the engine key, the digest of the component it was compiled from and the
//! payload, under a per-user key kept outside the cache (`<config>/kubes/cache.key`, mode
//! 0600). A corrupt, stale, swapped or forged entry fails the check and is rebuilt from the
//! source; it is never run. A cache directory (or key) that others can write is not used.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Starts every entry: format name and version.
const MAGIC: &[u8; 8] = b"KUBESCW2";
const HEADER_LEN: usize = MAGIC.len() + 32;
/// Bytes of the per-user cache key.
const KEY_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid cache entry.
    Hit,
    /// Compiled (no entry yet, or caching is off).
    Compiled,
    /// An entry existed but failed its check (corrupt, stale, swapped); compiled again and
    /// replaced.
    Rebuilt(String),
}

#[derive(Clone)]
pub struct ModuleCache {
    /// `None`: no caching.
    dir: Option<PathBuf>,
    key: Option<[u8; KEY_LEN]>,
    engine_key: String,
    /// Why a cache that was asked for is not used.
    refused: Option<String>,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("dir", &self.dir)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// The cache root: `$KUBES_CACHE_DIR`, else the user cache dir (`~/.cache/kubes/hooks`).
pub fn default_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBES_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("kubes").join("hooks"))
}

/// Where the per-user cache key lives: `$KUBES_CONFIG_DIR/cache.key`, else
/// `~/.config/kubes/cache.key`. Never inside the cache.
pub fn default_key_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBES_CONFIG_DIR") {
        return Some(PathBuf::from(dir).join("cache.key"));
    }
    dirs::config_dir().map(|d| d.join("kubes").join("cache.key"))
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
    /// A cache under `root` (see [`default_root`]) for `engine`'s settings, authenticated
    /// with the key at [`default_key_path`]; `None`: off.
    pub fn new(root: Option<PathBuf>, engine: &Engine) -> Self {
        Self::with_key_path(root, default_key_path(), engine)
    }

    /// As [`ModuleCache::new`], with the key file at `key_path`.
    pub fn with_key_path(
        root: Option<PathBuf>,
        key_path: Option<PathBuf>,
        engine: &Engine,
    ) -> Self {
        let engine_key = engine_key(engine);
        let off = |refused: Option<String>| ModuleCache {
            dir: None,
            key: None,
            engine_key: engine_key.clone(),
            refused,
        };
        let Some(root) = root else { return off(None) };
        let Some(key_path) = key_path else {
            return off(Some(
                "no place for the cache key (no config directory)".into(),
            ));
        };
        let dir = root.join(&engine_key);
        let key = match private_dir(&root)
            .and_then(|_| private_dir(&dir))
            .and_then(|_| load_or_create_key(&key_path))
        {
            Ok(k) => k,
            Err(why) => return off(Some(why)),
        };
        ModuleCache {
            dir: Some(dir),
            key: Some(key),
            engine_key,
            refused: None,
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Why the cache asked for is not used (e.g. a directory others can write).
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    fn entry_path(&self, digest: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{digest}.cwasm")))
    }

    fn mac(&self, key: &[u8; KEY_LEN], digest: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(b"kubes-cache-v2\0");
        mac.update(self.engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(digest.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        mac
    }

    /// The component for the source whose digest is `digest`: from the cache when an
    /// authentic entry exists, else `compile()`d and stored. `compile` errors are returned
    /// as they are.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        compile: impl FnOnce() -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let (Some(path), Some(key)) = (self.entry_path(digest), self.key) else {
            return Ok((compile()?, CacheOutcome::Compiled));
        };
        let outcome = match fs::read(&path) {
            Ok(bytes) => match self.verify(&key, digest, &bytes) {
                Ok(payload) => {
                    // SAFETY: the payload is authenticated: its HMAC, under a key only this
                    // user can read, binds it to this engine key and this source digest, so
                    // it is byte-for-byte what `Component::serialize` wrote for this very
                    // component. wasmtime itself also refuses artifacts from other settings.
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
        let component = compile()?;
        // A cache that cannot be written only costs speed: the run goes on.
        if let Ok(serialized) = component.serialize() {
            let mac = self.mac(&key, digest, &serialized).finalize().into_bytes();
            let _ = store(&path, &mac, &serialized);
        }
        Ok((component, outcome))
    }

    fn verify<'a>(
        &self,
        key: &[u8; KEY_LEN],
        digest: &str,
        bytes: &'a [u8],
    ) -> Result<&'a [u8], String> {
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err("corrupt entry: bad header".into());
        }
        let (want, payload) = bytes[MAGIC.len()..].split_at(32);
        self.mac(key, digest, payload)
            .verify_slice(want)
            .map_err(|_| {
                "entry failed authentication (corrupt, or not compiled from this module)"
                    .to_string()
            })?;
        Ok(payload)
    }
}

/// Create `dir` (mode 0700) if missing, and refuse it when someone else owns it or others
/// can write it: they could plant entries (the MAC stops those, but a directory others
/// control can also be swapped wholesale or filled up).
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if let Err(e) = fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Err(format!(
            "cannot create the cache directory {}: {e}",
            dir.display()
        ));
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.uid() != current_uid() {
        return Err(format!(
            "{} belongs to another user (uid {})",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} can be written by others (mode {:o}); `chmod go-w` it to use the cache",
            dir.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Read the per-user key, creating it (mode 0600, from the OS's random source) the first
/// time. A key others can read or write is refused.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let shown = path.display();
    if let Some(parent) = path.parent() {
        private_dir(parent)?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let mut key = [0u8; KEY_LEN];
            getrandom(&mut key).map_err(|e| format!("cannot make a cache key: {e}"))?;
            f.write_all(&key)
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("cannot write the cache key {shown}: {e}"))?;
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create the cache key {shown}: {e}")),
    }
    let mut f =
        fs::File::open(path).map_err(|e| format!("cannot read the cache key {shown}: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if meta.uid() != current_uid() || meta.mode() & 0o077 != 0 {
        return Err(format!(
            "the cache key {shown} is not private (owner uid {}, mode {:o}); it must be yours, mode 0600",
            meta.uid(),
            meta.mode() & 0o777
        ));
    }
    let mut key = [0u8; KEY_LEN];
    let mut rest = Vec::new();
    // A writer that created it a moment ago may not have written it yet: wait briefly.
    for _ in 0..50 {
        rest.clear();
        f.read_to_end(&mut rest)
            .map_err(|e| format!("cannot read the cache key {shown}: {e}"))?;
        if rest.len() >= KEY_LEN {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        use std::io::Seek;
        let _ = f.seek(std::io::SeekFrom::Start(0));
    }
    if rest.len() != KEY_LEN {
        return Err(format!(
            "the cache key {shown} is damaged ({} bytes); delete it to make a new one",
            rest.len()
        ));
    }
    key.copy_from_slice(&rest);
    Ok(key)
}

/// Fill `buf` from the kernel's random source.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// Write atomically (temp file + rename) so a concurrent reader never sees half an entry.
fn store(path: &Path, mac: &[u8], payload: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("entry paths have a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(MAGIC)?;
    tmp.write_all(mac)?;
    tmp.write_all(payload)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn cache(dir: &Path) -> ModuleCache {
        let engine = Engine::default();
        ModuleCache::with_key_path(
            Some(dir.join("cache")),
            Some(dir.join("config/cache.key")),
            &engine,
        )
    }

    #[test]
    fn verify_rejects_tampering_and_swaps() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path());
        assert!(c.refused().is_none(), "{:?}", c.refused());
        let key = c.key.unwrap();
        let payload = b"compiled code";
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&c.mac(&key, "aaaa", payload).finalize().into_bytes());
        entry.extend_from_slice(payload);
        assert_eq!(c.verify(&key, "aaaa", &entry).unwrap(), payload);
        // The same bytes under another component's digest: refused.
        assert!(c
            .verify(&key, "bbbb", &entry)
            .unwrap_err()
            .contains("authentication"));
        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(c
            .verify(&key, "aaaa", &flipped)
            .unwrap_err()
            .contains("authentication"));
        assert!(c
            .verify(&key, "aaaa", &entry[..10])
            .unwrap_err()
            .contains("header"));
        // A checksum-only entry (what an attacker without the key can make): refused.
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(&Sha256::digest(payload));
        forged.extend_from_slice(payload);
        assert!(c.verify(&key, "aaaa", &forged).is_err());
    }

    #[test]
    fn the_key_is_private_and_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let k1 = cache(tmp.path()).key.unwrap();
        let k2 = cache(tmp.path()).key.unwrap();
        assert_eq!(k1, k2);
        let key_path = tmp.path().join("config/cache.key");
        assert_eq!(
            fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        let c = cache(tmp.path());
        assert!(c.dir().is_none());
        assert!(
            c.refused().unwrap().contains("not private"),
            "{:?}",
            c.refused()
        );
    }

    #[test]
    fn a_cache_directory_others_can_write_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        let c = cache(tmp.path());
        assert!(c.dir().is_none());
        assert!(
            c.refused().unwrap().contains("written by others"),
            "{:?}",
            c.refused()
        );
    }
}
