//! The content-addressed store of pulled registry blobs (manifests, configs, components,
//! signatures): `<cache>/oci/blobs/sha256/<hex>`, the blob layout of an OCI image layout.
//! Every read hashes the file again and refuses (and removes) one that no longer matches its
//! name, so a warm store needs no registry and a changed file is never run. It is separate
//! from the compiled-module cache (`hooks::cache`), and held to the same rule: a directory
//! another user owns or can write is not used.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::reference::check_digest;

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    /// `<root>/oci/blobs/sha256`.
    dir: PathBuf,
}

/// A stored blob that failed its check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cached blob {digest} does not match its digest (changed on disk; removed)")]
    Mismatch { digest: String },
    #[error("cached blob {digest} is larger than {max} bytes")]
    TooLarge { digest: String, max: u64 },
    #[error("{0}")]
    Io(String),
}

impl BlobStore {
    /// The store under the kubes cache root (`$KUBES_CACHE_DIR`, else `~/.cache/kubes/hooks`).
    pub fn open_default() -> Result<BlobStore, String> {
        let root = crate::hooks::cache::default_root()
            .ok_or("no cache directory for pulled hooks (set KUBES_CACHE_DIR)")?;
        BlobStore::open(&root)
    }

    /// The store under `root`, created private (0700) if missing; refused when another user
    /// owns it or others can write it.
    pub fn open(root: &Path) -> Result<BlobStore, String> {
        let oci = root.join("oci");
        let dir = oci.join("blobs").join("sha256");
        for d in [root, &oci, &oci.join("blobs"), &dir] {
            crate::hooks::cache::private_dir(d)
                .map_err(|why| format!("the pulled-hook store is not used: {why}"))?;
        }
        Ok(BlobStore { dir })
    }

    /// `<root>/oci`: an OCI image layout's blob directory lives here.
    pub fn layout_dir(&self) -> &Path {
        self.dir
            .parent()
            .and_then(Path::parent)
            .expect("the store dir is <root>/oci/blobs/sha256")
    }

    fn path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        check_digest(digest).map_err(StoreError::Io)?;
        Ok(self.dir.join(&digest["sha256:".len()..]))
    }

    /// Whether a blob is stored (not verified: [`BlobStore::get`] does that).
    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// The blob named `digest`, read and verified, at most `max` bytes; `None` when absent.
    pub fn get(&self, digest: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(digest)?;
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
        };
        let mut bytes = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        if bytes.len() as u64 > max {
            return Err(StoreError::TooLarge {
                digest: digest.to_string(),
                max,
            });
        }
        if sha256_digest(&bytes) != digest {
            let _ = fs::remove_file(&path);
            return Err(StoreError::Mismatch {
                digest: digest.to_string(),
            });
        }
        Ok(Some(bytes))
    }

    /// Store `bytes` under `digest` after checking they hash to it (atomic: temp + rename).
    pub fn put(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(digest)?;
        let actual = sha256_digest(bytes);
        if actual != digest {
            return Err(StoreError::Io(format!(
                "refusing to store a blob as {digest}: its digest is {actual}"
            )));
        }
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Store `bytes`, returning their digest.
    pub fn put_new(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let d = sha256_digest(bytes);
        self.put(&d, bytes)?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_verifies_and_refuses_changed_blobs() {
        let tmp = tempfile::tempdir().unwrap();
        let s = BlobStore::open(tmp.path()).unwrap();
        let d = s.put_new(b"component").unwrap();
        assert_eq!(s.get(&d, 100).unwrap().unwrap(), b"component");
        assert!(matches!(s.get(&d, 3), Err(StoreError::TooLarge { .. })));
        fs::write(s.path(&d).unwrap(), b"c0mponent").unwrap();
        assert_eq!(
            s.get(&d, 100),
            Err(StoreError::Mismatch { digest: d.clone() })
        );
        // Removed, so the next read is a miss (and a pull replaces it).
        assert_eq!(s.get(&d, 100), Ok(None));
        assert!(s.put(&d, b"other bytes").is_err());
    }

    #[test]
    fn a_store_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("oci")).unwrap();
        fs::set_permissions(tmp.path().join("oci"), fs::Permissions::from_mode(0o777)).unwrap();
        let e = BlobStore::open(tmp.path()).unwrap_err();
        assert!(e.contains("written by others"), "{e}");
    }
}
