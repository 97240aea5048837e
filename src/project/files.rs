//! The project's files, read through a capability for the project root
//! (`cap_std::fs::Dir`): neither `..` nor a symlink can make kubes read a file outside the
//! project, however `.kubes/` is laid out. Callers keep working with paths under the root
//! (as they show them in messages); each is resolved relative to the root here.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The project root, opened once per run.
#[derive(Clone)]
pub struct ProjectFiles {
    root: PathBuf,
    dir: Arc<cap_std::fs::Dir>,
}

impl std::fmt::Debug for ProjectFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectFiles")
            .field("root", &self.root)
            .finish()
    }
}

/// One entry of a directory: its name and whether it is a directory (symlinks not followed).
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

impl ProjectFiles {
    pub fn open(root: &Path) -> io::Result<ProjectFiles> {
        Ok(ProjectFiles {
            root: root.to_path_buf(),
            dir: Arc::new(super::open_root(root)?),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self) -> &cap_std::fs::Dir {
        &self.dir
    }

    /// `path` relative to the root; a path not under the root is refused.
    fn rel<'a>(&self, path: &'a Path) -> io::Result<&'a Path> {
        let rel = path.strip_prefix(&self.root).map_err(|_| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not inside the project {}",
                    path.display(),
                    self.root.display()
                ),
            )
        })?;
        Ok(if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        })
    }

    pub fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.dir.read_to_string(self.rel(path)?).map_err(outside)
    }

    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.dir.read(self.rel(path)?).map_err(outside)
    }

    pub fn is_dir(&self, path: &Path) -> bool {
        self.rel(path).is_ok_and(|rel| self.dir.is_dir(rel))
    }

    /// The entries of a directory under the root, in no particular order.
    pub fn read_dir(&self, path: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in self.dir.read_dir(self.rel(path)?).map_err(outside)? {
            let entry = entry?;
            out.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                is_dir: entry.file_type()?.is_dir(),
            });
        }
        Ok(out)
    }
}

/// cap-std's refusal, said in the project's terms.
fn outside(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::PermissionDenied
        && e.to_string().contains("outside of the filesystem")
    {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "leads outside the project (a symlink or `..`); kubes reads only files inside it",
        )
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_of_the_project_are_refused() {
        let project = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
        std::fs::create_dir_all(project.path().join(".kubes")).unwrap();
        std::fs::write(project.path().join(".kubes/ok.yaml"), "a: 1").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            project.path().join(".kubes/leak.yaml"),
        )
        .unwrap();
        std::os::unix::fs::symlink("ok.yaml", project.path().join(".kubes/alias.yaml")).unwrap();
        let f = ProjectFiles::open(project.path()).unwrap();
        let k = project.path().join(".kubes");
        assert_eq!(f.read_to_string(&k.join("ok.yaml")).unwrap(), "a: 1");
        assert_eq!(f.read_to_string(&k.join("alias.yaml")).unwrap(), "a: 1");
        let e = f.read_to_string(&k.join("leak.yaml")).unwrap_err();
        assert!(e.to_string().contains("outside the project"), "{e}");
        assert!(f.read_to_string(&k.join("../../etc/passwd")).is_err());
        assert!(f
            .read_to_string(outside.path().join("secret").as_path())
            .is_err());
        let mut names: Vec<String> = f
            .read_dir(&k)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, ["alias.yaml", "leak.yaml", "ok.yaml"]);
    }
}
