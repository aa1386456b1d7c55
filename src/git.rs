//! Reading a config repository straight from Git objects (a commit's tree or
//! the index), never from the work tree: what `authorize`, `diff` and
//! `check --staged` see. Links are reported, not followed; blobs over the
//! size limit are not loaded.

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};

use crate::config::{CONFIG_DIRS, Content, InputFile, Inputs, Limits, TOP_LEVEL_FILES};

/// Errors while reading Git (the tool could not do its job: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot open a Git repository at `{}`: {}", path.display(), source.message())]
    Open { path: PathBuf, source: git2::Error },
    #[error("cannot resolve revision `{rev}`: {}", source.message())]
    Revision { rev: String, source: git2::Error },
    #[error("`{rev}` is not a merge of the change into the base: {reason}")]
    NotAMerge { rev: String, reason: String },
    #[error("Git error: {}", .0.message())]
    Other(#[from] git2::Error),
}

const MODE_TREE: i32 = 0o040000;
const MODE_LINK: i32 = 0o120000;
const MODE_COMMIT: i32 = 0o160000;

/// Opens the repository that contains `path`.
pub fn open(path: &Path) -> Result<Repository, GitError> {
    Repository::discover(path).map_err(|source| GitError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// The tree of the commit that `rev` names.
pub fn tree_at<'r>(repo: &'r Repository, rev: &str) -> Result<Tree<'r>, GitError> {
    let revision = |source| GitError::Revision {
        rev: rev.to_string(),
        source,
    };
    let commit = repo.revparse_single(rev).and_then(|o| o.peel_to_commit()).map_err(revision)?;
    Ok(commit.tree()?)
}

/// The commit id `rev` names.
pub fn commit_id(repo: &Repository, rev: &str) -> Result<Oid, GitError> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
        .map_err(|source| GitError::Revision {
            rev: rev.to_string(),
            source,
        })
}

/// Normalizes a config directory relative to the repository root: `""` for the root.
pub fn normalize_dir(dir: &str) -> String {
    dir.split('/').filter(|s| !s.is_empty() && *s != ".").collect::<Vec<_>>().join("/")
}

/// Checks a `--dir` flag before use: a path inside the repository, without
/// `..`, that is a directory in at least one of `trees` (a mistyped
/// `--dir` must not read as a repository without config, where every
/// change is allowed).
pub fn check_config_dir(trees: &[&Tree<'_>], dir: &str) -> Result<(), String> {
    if dir.starts_with('/') || dir.split('/').any(|s| s == "..") {
        return Err(format!("`--dir {dir}` must be a relative path inside the repository, without `..`"));
    }
    let dir = normalize_dir(dir);
    if dir.is_empty() {
        return Ok(());
    }
    let found = trees
        .iter()
        .any(|t| t.get_path(Path::new(&dir)).is_ok_and(|e| e.filemode() == MODE_TREE));
    if found {
        Ok(())
    } else {
        Err(format!("`--dir {dir}` is not a directory in either revision"))
    }
}

/// The content of one tree or index entry, by object id and file mode.
pub fn content_of(repo: &Repository, id: Oid, mode: i32, limits: &Limits) -> Result<Content, GitError> {
    Ok(match mode {
        MODE_LINK => Content::Symlink,
        MODE_TREE => Content::NotAFile("a directory"),
        MODE_COMMIT => Content::NotAFile("a submodule"),
        _ => {
            let (size, kind) = repo.odb()?.read_header(id)?;
            if kind != ObjectType::Blob {
                Content::NotAFile("not a regular file")
            } else if size as u64 > limits.max_file_size {
                Content::TooLarge(size as u64)
            } else {
                Content::Bytes(repo.find_blob(id)?.content().to_vec())
            }
        }
    })
}

/// The tree of the config directory `dir` in `tree`, if it is a directory there.
fn config_tree<'r>(repo: &'r Repository, tree: &Tree<'r>, dir: &str) -> Result<Option<Tree<'r>>, GitError> {
    let dir = normalize_dir(dir);
    if dir.is_empty() {
        return Ok(Some(tree.clone()));
    }
    match tree.get_path(Path::new(&dir)) {
        Ok(entry) if entry.filemode() == MODE_TREE => Ok(Some(repo.find_tree(entry.id())?)),
        _ => Ok(None),
    }
}

/// The config files of `dir` (relative to the repository root) in `tree`.
pub fn tree_inputs(repo: &Repository, tree: &Tree<'_>, dir: &str, limits: &Limits) -> Result<Inputs, GitError> {
    let Some(base) = config_tree(repo, tree, dir)? else {
        return Ok(Inputs::default());
    };
    let mut files = Vec::new();
    for name in TOP_LEVEL_FILES {
        if let Some(entry) = base.get_name(name) {
            files.push(InputFile {
                path: name.to_string(),
                content: content_of(repo, entry.id(), entry.filemode(), limits)?,
            });
        }
    }
    for sub in CONFIG_DIRS {
        let Some(entry) = base.get_name(sub) else { continue };
        if entry.filemode() != MODE_TREE {
            files.push(InputFile {
                path: sub.to_string(),
                content: not_a_dir(entry.filemode()),
            });
            continue;
        }
        let subtree = repo.find_tree(entry.id())?;
        for (count, child) in subtree.iter().enumerate() {
            if count > limits.max_files {
                break;
            }
            let name = String::from_utf8_lossy(child.name_bytes()).into_owned();
            files.push(InputFile {
                path: format!("{sub}/{name}"),
                content: content_of(repo, child.id(), child.filemode(), limits)?,
            });
        }
    }
    files.extend(crate::config::case_variant_inputs(
        base.iter().map(|e| String::from_utf8_lossy(e.name_bytes()).into_owned()),
    ));
    Ok(Inputs { files })
}

/// What `ami-sets/` or `worker-types/` is when Git records it as something
/// other than a tree: a symlink, or a file (never followed or read).
fn not_a_dir(mode: i32) -> Content {
    if mode == MODE_LINK {
        Content::Symlink
    } else {
        Content::NotAFile("not a directory")
    }
}

/// The config files of `dir` (relative to the repository root) as staged in the index.
pub fn index_inputs(repo: &Repository, dir: &str, limits: &Limits) -> Result<Inputs, GitError> {
    let dir = normalize_dir(dir);
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let index = repo.index()?;
    let mut files: Vec<InputFile> = Vec::new();
    let mut variants = std::collections::BTreeSet::new();
    for entry in index.iter() {
        // Skip conflict stages other than 0.
        if (entry.flags >> 12) & 0x3 != 0 {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path).into_owned();
        let Some(rel) = path.strip_prefix(&prefix) else { continue };
        if let Some(first) = rel.split('/').next().filter(|f| crate::config::case_variant_of(f).is_some()) {
            variants.insert(first.to_string());
            continue;
        }
        let mode = entry.mode as i32;
        if TOP_LEVEL_FILES.contains(&rel) {
            files.push(InputFile {
                path: rel.to_string(),
                content: content_of(repo, entry.id, mode, limits)?,
            });
            continue;
        }
        let Some((sub, rest)) = rel.split_once('/') else {
            if CONFIG_DIRS.contains(&rel) {
                files.push(InputFile {
                    path: rel.to_string(),
                    content: not_a_dir(mode),
                });
            }
            continue;
        };
        if !CONFIG_DIRS.contains(&sub) {
            continue;
        }
        match rest.split_once('/') {
            // A nested path: the entry of the config directory is a directory.
            Some((child, _)) => {
                let p = format!("{sub}/{child}");
                if files.last().is_none_or(|f| f.path != p) {
                    files.push(InputFile {
                        path: p,
                        content: Content::NotAFile("a directory"),
                    });
                }
            }
            None => files.push(InputFile {
                path: rel.to_string(),
                content: content_of(repo, entry.id, mode, limits)?,
            }),
        }
    }
    files.extend(crate::config::case_variant_inputs(variants));
    Ok(Inputs { files })
}

/// The entries of a config directory in `tree`: `amiset.toml`, `SCOPES`,
/// and every entry of `ami-sets/` and `worker-types/` (or those names
/// themselves when they are not directories), by path relative to `dir`,
/// with their object id and file mode. No blob is read.
pub fn config_entries(repo: &Repository, tree: &Tree<'_>, dir: &str) -> Result<std::collections::BTreeMap<String, (Oid, i32)>, GitError> {
    let mut out = std::collections::BTreeMap::new();
    let Some(base) = config_tree(repo, tree, dir)? else {
        return Ok(out);
    };
    for name in TOP_LEVEL_FILES.iter().chain(CONFIG_DIRS.iter()) {
        let Some(entry) = base.get_name(name) else { continue };
        if entry.filemode() == MODE_TREE && CONFIG_DIRS.contains(name) {
            for child in repo.find_tree(entry.id())?.iter() {
                let child_name = String::from_utf8_lossy(child.name_bytes());
                out.insert(format!("{name}/{child_name}"), (child.id(), child.filemode()));
            }
        } else {
            out.insert(name.to_string(), (entry.id(), entry.filemode()));
        }
    }
    Ok(out)
}

/// The config directory relative to the root of the repository that holds it.
pub fn dir_in_repo(repo: &Repository, dir: &Path) -> Option<String> {
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let dir = dir.canonicalize().ok()?;
    let rel = dir.strip_prefix(&workdir).ok()?;
    Some(normalize_dir(&rel.to_string_lossy()))
}
