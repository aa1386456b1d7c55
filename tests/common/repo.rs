//! A config repository under Git, built with the real `git` CLI.

#![allow(dead_code)]

use std::path::PathBuf;

use super::{copy_dir, git, git_init_commit, manifest_dir};

/// A repository holding config-example on `main`, checked out on branch `pr`.
pub struct Repo {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Repo {
    pub fn new() -> Repo {
        Repo::with_dir("")
    }

    /// The config lives in `dir` (relative to the repository root).
    pub fn with_dir(dir: &str) -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        copy_dir(&manifest_dir().join("config-example"), &root.join(dir));
        std::fs::write(root.join("README.md"), "fleet config\n").unwrap();
        git_init_commit(&root);
        git(&root, &["checkout", "-q", "-b", "pr"]);
        Repo { _tmp: tmp, root }
    }

    pub fn write(&self, path: &str, text: &str) -> &Repo {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn edit(&self, path: &str, from: &str, to: &str) -> &Repo {
        let text = std::fs::read_to_string(self.root.join(path)).unwrap();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        self.write(path, &text.replacen(from, to, 1))
    }

    pub fn git(&self, args: &[&str]) -> &Repo {
        git(&self.root, args);
        self
    }

    pub fn commit(&self) -> &Repo {
        self.git(&["add", "-A"]).git(&["commit", "-q", "-m", "change"])
    }
}
