//! Reading a config directory from the file system into [`Inputs`]. This is
//! the one place that touches the work tree: links are never followed, FIFOs
//! and devices are never opened, and no file is read past the size limit.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{CONFIG_DIRS, Content, InputFile, Inputs, Limits, TOP_LEVEL_FILES};

/// Errors of the tool itself while reading a config directory (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("config directory `{}` does not exist or is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the config files under `dir`: `amiset.toml`, `SCOPES`, and every
/// entry of `ami-sets/` and `worker-types/`. Everything else is ignored.
pub fn read_dir(dir: &Path, limits: &Limits) -> Result<Inputs, LoadError> {
    let meta = fs::metadata(dir).map_err(|_| LoadError::NotADirectory(dir.to_path_buf()))?;
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    for name in TOP_LEVEL_FILES {
        let path = dir.join(name);
        if let Some(content) = read_entry(&path, limits)? {
            files.push(InputFile {
                path: name.to_string(),
                content,
            });
        }
    }
    for sub in CONFIG_DIRS {
        let path = dir.join(sub);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        };
        if meta.file_type().is_symlink() {
            files.push(InputFile {
                path: sub.to_string(),
                content: Content::Symlink,
            });
            continue;
        }
        if !meta.is_dir() {
            files.push(InputFile {
                path: sub.to_string(),
                content: Content::NotAFile("not a directory"),
            });
            continue;
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&path).map_err(io_err(&path))? {
            let entry = entry.map_err(io_err(&path))?;
            names.push(entry.file_name());
            if names.len() > limits.max_files {
                break;
            }
        }
        names.sort();
        for name in names {
            let full = path.join(&name);
            let rel = format!("{sub}/{}", name.to_string_lossy());
            if let Some(content) = read_entry(&full, limits)? {
                files.push(InputFile { path: rel, content });
            }
        }
    }
    Ok(Inputs { files })
}

/// Reads one entry without following links; `None` when it does not exist.
fn read_entry(path: &Path, limits: &Limits) -> Result<Option<Content>, LoadError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Ok(Some(Content::Symlink));
    }
    if ft.is_dir() {
        return Ok(Some(Content::NotAFile("a directory")));
    }
    if !ft.is_file() {
        return Ok(Some(Content::NotAFile(special_kind(&ft))));
    }
    if meta.len() > limits.max_file_size {
        return Ok(Some(Content::TooLarge(meta.len())));
    }
    let file = match open_no_follow(path) {
        Ok(file) => file,
        // Replaced by a link since the metadata was read: O_NOFOLLOW refused it.
        Err(e) if e.raw_os_error() == Some(ELOOP) => return Ok(Some(Content::Symlink)),
        // Removed since: as if it had never been there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    // The entry may have been replaced since the metadata was read: check
    // again on the open handle.
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Ok(Some(Content::NotAFile(special_kind(&meta.file_type()))));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limits.max_file_size) as usize);
    file.take(limits.max_file_size + 1).read_to_end(&mut bytes).map_err(io_err(path))?;
    if bytes.len() as u64 > limits.max_file_size {
        return Ok(Some(Content::TooLarge(bytes.len() as u64)));
    }
    Ok(Some(Content::Bytes(bytes)))
}

/// What `open` with `O_NOFOLLOW` fails with on a link.
#[cfg(unix)]
const ELOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const ELOOP: i32 = -1;

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NOFOLLOW: i32 = 0o400000; // Linux value; a link swapped in after the check fails to open
    const O_NONBLOCK: i32 = 0o4000; // a FIFO swapped in after the check must not block the open
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(if cfg!(target_os = "linux") { O_NOFOLLOW | O_NONBLOCK } else { 0 })
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<fs::File> {
    fs::File::open(path)
}

#[cfg(unix)]
fn special_kind(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::FileType) -> &'static str {
    "not a regular file"
}
