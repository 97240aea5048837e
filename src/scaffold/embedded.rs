//! The repository files every scaffold carries, embedded in the binary when it is built: the
//! hook contract (`wit/`, the one source of truth) and the Rust guest SDK (`hooks-sdk/`). A
//! scaffold built from this binary therefore matches the host it came with. The tests below
//! check these lists against the directories, so a file added there is not silently left out.

/// `(path, contents)` pairs for files under a repository directory, read at compile time.
macro_rules! embed {
    ($dir:literal: $($path:literal),+ $(,)?) => {
        &[$(($path, include_str!(concat!("../../", $dir, "/", $path)))),+]
    };
}

/// `wit/` (without its README): path inside the scaffold, contents.
pub const WIT: &[(&str, &str)] = embed!(".":
    "wit/hook.wit",
    "wit/deps/clocks/clocks.wit",
    "wit/deps/io/io.wit",
);

/// `hooks-sdk/src`: path inside the SDK crate, contents.
pub const SDK_SOURCES: &[(&str, &str)] = embed!("hooks-sdk":
    "src/client.rs",
    "src/context.rs",
    "src/delete.rs",
    "src/duration.rs",
    "src/errors.rs",
    "src/job.rs",
    "src/k8s.rs",
    "src/lib.rs",
    "src/logging.rs",
    "src/object.rs",
    "src/progress.rs",
    "src/rollout.rs",
    "src/waiting.rs",
);

pub const SDK_MANIFEST: &str = include_str!("../../hooks-sdk/Cargo.toml");
/// The SDK's lock file: the scaffold starts from the dependency versions the SDK is tested with.
pub const SDK_LOCK: &str = include_str!("../../hooks-sdk/Cargo.lock");
pub const SDK_README: &str = include_str!("../../hooks-sdk/README.md");

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn every_wit_file_is_embedded() {
        let mut on_disk = Vec::new();
        files_under(&repo(), &repo().join("wit"), &mut on_disk);
        // `wit/v0.1` is the previous contract, kept for the host only: scaffolds build for
        // the current one.
        on_disk.retain(|f| f.ends_with(".wit") && !f.starts_with("wit/v0.1/"));
        on_disk.sort();
        let mut embedded: Vec<String> = WIT.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "update scaffold/embedded.rs WIT to match wit/"
        );
    }

    #[test]
    fn every_sdk_source_is_embedded() {
        let sdk = repo().join("hooks-sdk");
        let mut on_disk = Vec::new();
        files_under(&sdk, &sdk.join("src"), &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = SDK_SOURCES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "update scaffold/embedded.rs SDK_SOURCES to match hooks-sdk/src"
        );
    }
}
