//! `amiset unreferenced` (DESIGN §9), pure over files and Git: every AMI id
//! a config repository references, in its work tree and in the last N
//! commits that changed the config (the rollback window), and the images EC2
//! listed that none of them names.
//!
//! References are found by scanning the raw text of every config file for
//! AMI ids, not by parsing: a file that does not parse, a revoked id in
//! `amiset.toml` or an id in a comment still counts as referenced, so an
//! image that anything mentions is never listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git2::{Repository, Sort};

use crate::config::{Content, Inputs, Limits};
use crate::ec2::images::{Found, NamedImage};
use crate::git::{self, GitError};

/// Every AMI id (`ami-` and 8 or 17 hex digits) in `bytes`.
pub fn ami_ids_in(bytes: &[u8], out: &mut BTreeSet<String>) {
    let mut i = 0;
    while let Some(pos) = find(&bytes[i..], b"ami-") {
        let start = i + pos;
        let hex_start = start + 4;
        let len = bytes[hex_start..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric());
        if before_ok && (len == 8 || len == 17) {
            let id = String::from_utf8_lossy(&bytes[start..hex_start + len]).to_ascii_lowercase();
            out.insert(id);
        }
        i = hex_start + len;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Adds the AMI ids of every readable file of `inputs`.
pub fn ids_in_inputs(inputs: &Inputs, out: &mut BTreeSet<String>) {
    for f in &inputs.files {
        if let Content::Bytes(b) = &f.content {
            ami_ids_in(b, out);
        }
    }
}

/// Where references come from.
pub struct Sources<'a> {
    /// The config directory in the work tree, if there is one.
    pub work_tree: Option<&'a Path>,
    /// The repository and the config directory relative to its root.
    pub repo: Option<(&'a Repository, &'a str)>,
    /// How many of the latest commits that changed the config count.
    pub keep_revisions: usize,
}

/// The commits (newest first, following first parents and merges alike in
/// time order) whose config differs from their first parent's, at most `n`.
pub fn config_commits(repo: &Repository, dir: &str, n: usize) -> Result<Vec<git2::Oid>, GitError> {
    let mut out = Vec::new();
    if n == 0 || repo.head().is_err() {
        return Ok(out);
    }
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push_head()?;
    for id in walk {
        let commit = repo.find_commit(id?)?;
        let mine = git::config_entries(repo, &commit.tree()?, dir)?;
        let changed = match commit.parents().next() {
            None => !mine.is_empty(),
            Some(parent) => git::config_entries(repo, &parent.tree()?, dir)? != mine,
        };
        if changed {
            out.push(commit.id());
            if out.len() == n {
                break;
            }
        }
    }
    Ok(out)
}

/// Every AMI id referenced by the work tree and the rollback window.
pub fn references(sources: &Sources<'_>, limits: &Limits) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    if let Some(dir) = sources.work_tree {
        let inputs = crate::config::load::read_dir(dir, limits).map_err(|e| e.to_string())?;
        ids_in_inputs(&inputs, &mut out);
    }
    if let Some((repo, dir)) = sources.repo {
        let git_err = |e: GitError| e.to_string();
        for id in config_commits(repo, dir, sources.keep_revisions).map_err(git_err)? {
            let tree = repo.find_commit(id).and_then(|c| c.tree()).map_err(|e| e.message().to_string())?;
            // No size limit here: a large file must still count as a reference.
            let unlimited = Limits {
                max_file_size: u64::MAX,
                ..limits.clone()
            };
            let inputs = git::tree_inputs(repo, &tree, dir, &unlimited).map_err(git_err)?;
            ids_in_inputs(&inputs, &mut out);
        }
    }
    Ok(out)
}

/// The images of `found` that `referenced` does not name, per region that
/// could be read; regions that could not are left out (the caller reports them).
pub fn unreferenced(found: &Found, referenced: &BTreeSet<String>) -> BTreeMap<String, Vec<NamedImage>> {
    found
        .iter()
        .filter_map(|(region, answer)| answer.as_ref().ok().map(|images| (region, images)))
        .map(|(region, images)| {
            let list = images
                .iter()
                .filter(|i| !referenced.contains(&i.id.to_ascii_lowercase()))
                .cloned()
                .collect();
            (region.clone(), list)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_of_both_lengths_and_nothing_else() {
        let mut out = BTreeSet::new();
        ami_ids_in(
            b"hvm = \"ami-0123456789abcdef0\" # was ami-0a1b2c3d\nx=\"ami-123\" y=\"xami-0a1b2c3e\" z=ami-0a1b2c3d4 AMI-0A1B2C3F",
            &mut out,
        );
        let want: BTreeSet<String> = ["ami-0123456789abcdef0", "ami-0a1b2c3d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(out, want);
    }
}
