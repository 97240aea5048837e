//! `.kubes/hooks.lock`: every registry reference of the project's hooks pinned to the
//! manifest digest it resolved to, with the component's digest, size and hook world version
//! (and the signature found, if any). `kubes hooks lock` writes it; a deploy uses the pins;
//! `kubes deploy --locked` refuses a reference it does not pin.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::reference::{check_digest, OciRef};

/// Where the lockfile lives in a project.
pub const LOCK_FILE: &str = ".kubes/hooks.lock";
const VERSION: u32 = 1;
/// Largest lockfile read.
const MAX_LOCK: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The reference as written in hooks.yaml.
    pub reference: String,
    /// The manifest digest it resolved to.
    pub digest: String,
    /// The component layer's digest and size.
    pub component: String,
    pub size: u64,
    /// `kubes:hook` version the component imports (`0.2.0`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<String>,
    /// Digest of the signature manifest found for it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    #[serde(default)]
    pub modules: Vec<Pin>,
}

impl LockFile {
    pub fn path(project_root: &Path) -> PathBuf {
        project_root.join(LOCK_FILE)
    }

    /// The project's lockfile; `None` when it has none.
    pub fn load(project_root: &Path) -> anyhow::Result<Option<LockFile>> {
        use std::io::Read;
        let path = Self::path(project_root);
        let dir = crate::project::open_root(project_root)?;
        let mut text = String::new();
        match dir.open(LOCK_FILE) {
            Ok(f) => {
                f.into_std()
                    .take(MAX_LOCK)
                    .read_to_string(&mut text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        }
        Self::parse(&path, &text).map(Some)
    }

    pub fn parse(path: &Path, text: &str) -> anyhow::Result<LockFile> {
        let lock: LockFile = crate::yaml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{}{}: {}",
                path.display(),
                e.line.map(|l| format!(":{l}")).unwrap_or_default(),
                e.message
            )
        })?;
        if lock.version != VERSION {
            anyhow::bail!(
                "{}: version {}, this kubes reads version {VERSION}; run `kubes hooks lock` again",
                path.display(),
                lock.version
            );
        }
        for p in &lock.modules {
            OciRef::parse(&p.reference)
                .and_then(|_| check_digest(&p.digest))
                .and_then(|_| check_digest(&p.component))
                .and_then(|_| p.signature.as_deref().map_or(Ok(()), check_digest))
                .map_err(|m| anyhow::anyhow!("{}: {}: {m}", path.display(), p.reference))?;
        }
        Ok(lock)
    }

    pub fn pin(&self, reference: &str) -> Option<&Pin> {
        self.modules.iter().find(|p| p.reference == reference)
    }

    pub fn new(mut modules: Vec<Pin>) -> LockFile {
        modules.sort_by(|a, b| a.reference.cmp(&b.reference));
        modules.dedup_by(|a, b| a.reference == b.reference);
        LockFile {
            version: VERSION,
            modules,
        }
    }

    /// Write it (atomically) into the project.
    pub fn write(&self, project_root: &Path) -> anyhow::Result<PathBuf> {
        let path = Self::path(project_root);
        let text = format!(
            "# Written by `kubes hooks lock`: the registry hook modules of this project, pinned.\n{}",
            serde_yaml::to_string(self)?
        );
        let dir = path.parent().expect("the lock path has a parent");
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_its_pins() {
        let d = format!("sha256:{}", "a".repeat(64));
        let lock = LockFile::new(vec![Pin {
            reference: "oci://127.0.0.1:5000/hooks/w:v1".into(),
            digest: d.clone(),
            component: d.clone(),
            size: 10,
            world: Some("0.2.0".into()),
            signature: None,
        }]);
        let text = serde_yaml::to_string(&lock).unwrap();
        let back = LockFile::parse(Path::new("hooks.lock"), &text).unwrap();
        assert_eq!(back, lock);
        let bad = text.replace(&d, "sha256:short");
        let e = LockFile::parse(Path::new("hooks.lock"), &bad).unwrap_err();
        assert!(e.to_string().contains("not a digest"), "{e}");
    }
}
