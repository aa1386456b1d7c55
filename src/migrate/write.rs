//! Putting a prepared [`Plan`] on disk. Each file is written to a temporary
//! file beside it and renamed over it (new files are linked into place only
//! if nothing is there yet), so a reader never sees half a file. Before the
//! first write, every file is checked to still hold the text the plan was
//! made from, so nothing is written over a concurrent edit. New AMI sets are
//! written before the worker types that use them: a failure midway leaves at
//! worst an unused set, never a worker type pointing at a missing one.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{FileChange, Plan};

/// Why a plan could not be written (exit 2); `written` lists the files
/// already in place when it happened.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` changed since it was read; run the command again", path.display())]
    Changed { path: PathBuf },
    #[error("`{}` already exists; run the command again", path.display())]
    Exists { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `change` can be applied: a new file does not exist yet, a
/// changed one is still a regular file holding exactly the text planned from.
fn precheck(dir: &Path, change: &FileChange) -> Result<Option<fs::Permissions>, WriteError> {
    let path = dir.join(&change.path);
    match (&change.before, fs::symlink_metadata(&path)) {
        (None, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        (None, _) => Err(WriteError::Exists { path }),
        (Some(before), Ok(meta)) if meta.file_type().is_file() => {
            let now = fs::read(&path).map_err(io(&path))?;
            if now != before.as_bytes() {
                return Err(WriteError::Changed { path });
            }
            Ok(Some(meta.permissions()))
        }
        (Some(_), _) => Err(WriteError::Changed { path }),
    }
}

/// Writes every change of `plan` under `dir`, calling `written` after each file is in place.
pub fn write(dir: &Path, plan: &Plan, written: &mut dyn FnMut(&FileChange)) -> Result<(), WriteError> {
    for change in &plan.changes {
        precheck(dir, change)?;
    }
    for change in &plan.changes {
        let path = dir.join(&change.path);
        let permissions = precheck(dir, change)?;
        let parent = path.parent().unwrap_or(dir);
        fs::create_dir_all(parent).map_err(io(parent))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".amiset-migrate-")
            .suffix(".tmp")
            .tempfile_in(parent)
            .map_err(io(parent))?;
        tmp.write_all(change.after.as_bytes()).map_err(io(&path))?;
        tmp.as_file().sync_all().map_err(io(&path))?;
        if let Some(permissions) = permissions.or_else(default_permissions) {
            fs::set_permissions(tmp.path(), permissions).map_err(io(&path))?;
        }
        let result = if change.before.is_some() {
            tmp.persist(&path).map(drop)
        } else {
            tmp.persist_noclobber(&path).map(drop)
        };
        result.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => WriteError::Exists { path: path.clone() },
            _ => WriteError::Io {
                path: path.clone(),
                source: e.error,
            },
        })?;
        written(change);
    }
    Ok(())
}

/// Permissions of a new file: `rw-r--r--`, like a file an editor creates.
#[cfg(unix)]
pub(crate) fn default_permissions() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
pub(crate) fn default_permissions() -> Option<fs::Permissions> {
    None
}
