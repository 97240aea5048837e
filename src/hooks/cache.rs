//! The on-disk cache of compiled components, keyed by the SHA-256 of the component and the
//! engine's settings. A compiled entry is native code loaded with `unsafe` deserialisation
//! next to the cluster credentials, so it is authenticated, not just checksummed.
//!
//! An entry is two files: `<digest>.cwasm`, exactly what `Component::serialize` wrote (so
//! wasmtime can memory-map it, and map the guest's initial memory copy-on-write from it
//! instead of copying it), and `<digest>.auth`, 128 bytes: an HMAC-SHA256, under a per-user
//! key kept outside the cache (`<config>/kubes/cache.key`, mode 0600), over the engine key,
//! the digest of the component it was compiled from, the SHA-256 of the `.cwasm` and the
//! `.cwasm` file's identity (device, inode, size, mtime, ctime). Loading checks the MAC and
//! the identity (a `stat`, not a read of 40-60 MB): any write to the file since it was
//! stamped changes its ctime, which no one but root can set. A file whose identity changed
//! (copied, restored, touched) is hashed in full against the authenticated SHA-256 and
//! re-stamped; one that fails is rebuilt from the source, never run. A cache directory (or
//! key) that others can write is not used. See docs/security.md ("The compiled-component
//! cache") for the reasoning.
//!
//! The cache also remembers, per source file identity, the digest of a hook module it has
//! hashed (`src-<dev>-<ino>.stamp`, authenticated the same way), so a new process loading an
//! unchanged 20 MB module does not read and hash it again.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Starts every `.auth` file: format name and version.
const AUTH_MAGIC: &[u8; 8] = b"KUBESCA3";
/// Starts every source stamp.
const SOURCE_MAGIC: &[u8; 8] = b"KUBESSR1";
/// Magic, MAC, a SHA-256, a [`FileStamp`].
const RECORD_LEN: usize = 8 + 32 + 32 + STAMP_LEN;
/// Bytes of the per-user cache key.
const KEY_LEN: usize = 32;
/// A source file changed less than this long ago is not stamped: its ctime may share a
/// clock tick with a write still to come (git's "racy" index entries).
const RACY: Duration = Duration::from_secs(2);

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

/// A file's identity and version as `stat` tells it. Any write changes the ctime (and a
/// replaced file has another inode); only root can set a ctime back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

const STAMP_LEN: usize = 7 * 8;

impl FileStamp {
    pub fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn bytes(&self) -> [u8; STAMP_LEN] {
        let mut out = [0u8; STAMP_LEN];
        let words = [
            self.dev,
            self.ino,
            self.size,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ];
        for (chunk, w) in out.chunks_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Changed so recently that a write in the same clock tick could go unseen.
    fn is_racy(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(i64::MAX);
        let newest = self.mtime.0.max(self.ctime.0);
        newest + RACY.as_secs() as i64 >= now
    }
}

/// A record of the cache: `magic | MAC | sha256 | stamp`, the MAC over `context | sha256 |
/// stamp`.
#[derive(Debug)]
struct Record {
    sha: [u8; 32],
    stamp: [u8; STAMP_LEN],
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

/// Why an entry cannot be used.
enum EntryCheck {
    Missing,
    Bad(String),
}

const FAILED_AUTH: &str = "entry failed authentication (corrupt, or not compiled from this module)";

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

    fn entry_paths(&self, digest: &str) -> Option<(PathBuf, PathBuf)> {
        self.dir.as_ref().map(|d| {
            (
                d.join(format!("{digest}.cwasm")),
                d.join(format!("{digest}.auth")),
            )
        })
    }

    fn source_path(&self, stamp: &FileStamp) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("src-{:x}-{:x}.stamp", stamp.dev, stamp.ino)))
    }

    /// The MAC of a record: what it is (`context`: an entry's source digest, or "source"),
    /// under this engine key, with its SHA-256 and stamp.
    fn mac(&self, key: &[u8; KEY_LEN], context: &str, sha: &[u8], stamp: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(b"kubes-cache-v3\0");
        mac.update(self.engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(context.as_bytes());
        mac.update(b"\0");
        mac.update(sha);
        mac.update(stamp);
        mac
    }

    fn record_bytes(
        &self,
        key: &[u8; KEY_LEN],
        magic: &[u8; 8],
        context: &str,
        sha: &[u8; 32],
        stamp: &FileStamp,
    ) -> Vec<u8> {
        let stamp = stamp.bytes();
        let mac = self.mac(key, context, sha, &stamp).finalize().into_bytes();
        let mut out = Vec::with_capacity(RECORD_LEN);
        out.extend_from_slice(magic);
        out.extend_from_slice(&mac);
        out.extend_from_slice(sha);
        out.extend_from_slice(&stamp);
        out
    }

    /// Parse and authenticate a record; the error says why it is refused.
    fn verify_record(
        &self,
        key: &[u8; KEY_LEN],
        magic: &[u8; 8],
        context: &str,
        bytes: &[u8],
    ) -> Result<Record, String> {
        if bytes.len() != RECORD_LEN || &bytes[..8] != magic {
            return Err("corrupt entry: bad header".into());
        }
        let (mac, rest) = bytes[8..].split_at(32);
        let (sha, stamp) = rest.split_at(32);
        self.mac(key, context, sha, stamp)
            .verify_slice(mac)
            .map_err(|_| FAILED_AUTH.to_string())?;
        Ok(Record {
            sha: sha.try_into().expect("32 bytes"),
            stamp: stamp.try_into().expect("stamp bytes"),
        })
    }

    /// The digest of the module file whose identity is `stamp`, when this cache hashed that
    /// very version of it before.
    pub fn known_digest(&self, stamp: &FileStamp) -> Option<String> {
        let (path, key) = (self.source_path(stamp)?, self.key?);
        let bytes = fs::read(path).ok()?;
        let record = self
            .verify_record(&key, SOURCE_MAGIC, "source", &bytes)
            .ok()?;
        (record.stamp == stamp.bytes()).then(|| hex::encode(record.sha))
    }

    /// Remember that the module file `stamp` has `digest` (not for a file changed a moment
    /// ago: see [`RACY`]). A cache that cannot be written only costs speed.
    pub fn remember_digest(&self, stamp: &FileStamp, digest: &str) {
        let (Some(path), Some(key)) = (self.source_path(stamp), self.key) else {
            return;
        };
        let Ok(Ok(sha)) = hex::decode(digest).map(<[u8; 32]>::try_from) else {
            return;
        };
        if stamp.is_racy() {
            return;
        }
        let _ = write_atomic(
            &path,
            &self.record_bytes(&key, SOURCE_MAGIC, "source", &sha, stamp),
        );
    }

    /// Whether an authentic entry for `digest` is on disk: its `.auth` record verifies and
    /// the `.cwasm` is the very file it stamped, or (a copied or touched file) hashes to the
    /// authenticated SHA-256, in which case it is stamped again.
    fn check_entry(&self, key: &[u8; KEY_LEN], digest: &str) -> Result<PathBuf, EntryCheck> {
        let (cwasm, auth) = self.entry_paths(digest).ok_or(EntryCheck::Missing)?;
        let bytes = match fs::read(&auth) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(EntryCheck::Missing),
            Err(e) => return Err(EntryCheck::Bad(format!("unreadable entry: {e}"))),
        };
        let record = self
            .verify_record(key, AUTH_MAGIC, digest, &bytes)
            .map_err(EntryCheck::Bad)?;
        let meta = match fs::symlink_metadata(&cwasm) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Err(EntryCheck::Bad("corrupt entry: not a file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(EntryCheck::Missing),
            Err(e) => return Err(EntryCheck::Bad(format!("unreadable entry: {e}"))),
        };
        let now = FileStamp::of(&meta);
        if now.bytes() == record.stamp {
            return Ok(cwasm);
        }
        let payload =
            fs::read(&cwasm).map_err(|e| EntryCheck::Bad(format!("unreadable entry: {e}")))?;
        if Sha256::digest(&payload).as_slice() != record.sha {
            return Err(EntryCheck::Bad(FAILED_AUTH.into()));
        }
        let _ = write_atomic(
            &auth,
            &self.record_bytes(key, AUTH_MAGIC, digest, &record.sha, &now),
        );
        Ok(cwasm)
    }

    /// Map an authentic entry. `Err` when it is missing, fails its check, or the engine
    /// refuses it.
    fn open_entry(
        &self,
        engine: &Engine,
        key: &[u8; KEY_LEN],
        digest: &str,
    ) -> Result<Component, EntryCheck> {
        let path = self.check_entry(key, digest)?;
        // SAFETY: the file is authenticated: its `.auth` record's HMAC, under a key only this
        // user can read, binds this engine key and this source digest to the SHA-256 of what
        // `Component::serialize` wrote for this very component, and to this file's identity
        // (or the file was just hashed against it). Only this user (or root) can write the
        // file between the check and the mapping, and this user can already run anything
        // as kubes does (docs/security.md). wasmtime itself also refuses artifacts from other
        // settings.
        unsafe { Component::deserialize_file(engine, &path) }
            .map_err(|e| EntryCheck::Bad(format!("stale entry refused by the engine: {e}")))
    }

    /// The cached component for `digest`, only when an authentic entry exists.
    pub fn load_hit(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let key = self.key?;
        self.open_entry(engine, &key, digest).ok()
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
        let (Some((cwasm, auth)), Some(key)) = (self.entry_paths(digest), self.key) else {
            return Ok((compile()?, CacheOutcome::Compiled));
        };
        let outcome = match self.open_entry(engine, &key, digest) {
            Ok(c) => return Ok((c, CacheOutcome::Hit)),
            Err(EntryCheck::Missing) => CacheOutcome::Compiled,
            Err(EntryCheck::Bad(why)) => CacheOutcome::Rebuilt(why),
        };
        let component = compile()?;
        // A cache that cannot be written only costs speed: the run goes on.
        if let Ok(serialized) = component.serialize() {
            let _ = self.store(&key, digest, &cwasm, &auth, &serialized);
        }
        Ok((component, outcome))
    }

    /// Write the payload, then its record stamped with the file as written. A reader in
    /// between sees a record that does not match and hashes the payload (or rebuilds).
    fn store(
        &self,
        key: &[u8; KEY_LEN],
        digest: &str,
        cwasm: &Path,
        auth: &Path,
        payload: &[u8],
    ) -> std::io::Result<()> {
        write_atomic(cwasm, payload)?;
        let stamp = FileStamp::of(&fs::symlink_metadata(cwasm)?);
        let sha: [u8; 32] = Sha256::digest(payload).into();
        write_atomic(
            auth,
            &self.record_bytes(key, AUTH_MAGIC, digest, &sha, &stamp),
        )
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

/// Write atomically (temp file + rename) so a concurrent reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
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

    fn stamp_of(path: &Path) -> FileStamp {
        FileStamp::of(&fs::metadata(path).unwrap())
    }

    #[test]
    fn records_refuse_tampering_and_swaps() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path());
        assert!(c.refused().is_none(), "{:?}", c.refused());
        let key = c.key.unwrap();
        let file = tmp.path().join("payload");
        fs::write(&file, b"compiled code").unwrap();
        let stamp = stamp_of(&file);
        let sha: [u8; 32] = Sha256::digest(b"compiled code").into();
        let rec = c.record_bytes(&key, AUTH_MAGIC, "aaaa", &sha, &stamp);
        let ok = c.verify_record(&key, AUTH_MAGIC, "aaaa", &rec).unwrap();
        assert_eq!((ok.sha, ok.stamp), (sha, stamp.bytes()));
        // The same record for another component's digest: refused.
        assert!(c
            .verify_record(&key, AUTH_MAGIC, "bbbb", &rec)
            .unwrap_err()
            .contains("authentication"));
        // Any changed byte (the digest it vouches for, the stamp): refused.
        for i in [8, 40, 72, RECORD_LEN - 1] {
            let mut flipped = rec.clone();
            flipped[i] ^= 1;
            assert!(c.verify_record(&key, AUTH_MAGIC, "aaaa", &flipped).is_err());
        }
        assert!(c
            .verify_record(&key, AUTH_MAGIC, "aaaa", &rec[..10])
            .unwrap_err()
            .contains("header"));
        // A record made without the key (what someone who can write the cache can make).
        let other = cache(&tmp.path().join("elsewhere"));
        let forged = other.record_bytes(&other.key.unwrap(), AUTH_MAGIC, "aaaa", &sha, &stamp);
        assert!(c.verify_record(&key, AUTH_MAGIC, "aaaa", &forged).is_err());
    }

    #[test]
    fn an_entry_rewritten_in_place_is_hashed_again_and_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path());
        let key = c.key.unwrap();
        let (cwasm, auth) = c.entry_paths("aaaa").unwrap();
        c.store(&key, "aaaa", &cwasm, &auth, b"the real compiled bytes")
            .unwrap();
        assert_eq!(c.check_entry(&key, "aaaa").ok(), Some(cwasm.clone()));
        // Same size, same mtime put back: the ctime (and so the stamp) still changes.
        let mtime = fs::metadata(&cwasm).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&cwasm, b"the fake compiled bytes").unwrap();
        fs::File::options()
            .write(true)
            .open(&cwasm)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        match c.check_entry(&key, "aaaa") {
            Err(EntryCheck::Bad(why)) => assert!(why.contains("authentication"), "{why}"),
            _ => panic!("a rewritten entry passed its check"),
        }
        // A faithful copy (new inode) is hashed, found authentic, and stamped again.
        let copy = tmp.path().join("copy");
        fs::write(&copy, b"the real compiled bytes").unwrap();
        fs::rename(&copy, &cwasm).unwrap();
        assert!(c.check_entry(&key, "aaaa").is_ok());
        let record = c
            .verify_record(&key, AUTH_MAGIC, "aaaa", &fs::read(&auth).unwrap())
            .unwrap();
        assert_eq!(record.stamp, stamp_of(&cwasm).bytes());
    }

    #[test]
    fn source_digests_are_remembered_per_file_version() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path());
        let module = tmp.path().join("hook.wasm");
        fs::write(&module, b"module v1").unwrap();
        let v1 = stamp_of(&module);
        let digest = digest(b"module v1");
        // Just written: too recent to stamp safely.
        c.remember_digest(&v1, &digest);
        assert_eq!(c.known_digest(&v1), None);
        let old = SystemTime::now() - Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&module)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // ctime is still now; pretend the file is older by stamping a copy of the stamp.
        let mut settled = stamp_of(&module);
        settled.ctime.0 -= 60;
        c.remember_digest(&settled, &digest);
        assert_eq!(c.known_digest(&settled), Some(digest.clone()));
        // Another version of the same file (other ctime or size): unknown.
        let mut changed = settled;
        changed.ctime.1 += 1;
        assert_eq!(c.known_digest(&changed), None);
        changed = settled;
        changed.size += 1;
        assert_eq!(c.known_digest(&changed), None);
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
