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
    #[cfg(unix)]
    return at::read_dir(dir, limits);
    #[cfg(not(unix))]
    read_dir_by_path(dir, limits)
}

/// Reads one file of the config directory `dir` (`rel` is `/`-separated,
/// e.g. `worker-types/x.toml`) under the same rules as [`read_dir`]; `None`
/// when it does not exist or its directory is not a real directory.
pub fn read_file(dir: &Path, rel: &str, limits: &Limits) -> Result<Option<Content>, LoadError> {
    if rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") || rel.matches('/').count() > 1 {
        return Ok(None);
    }
    #[cfg(unix)]
    return at::read_file(dir, rel, limits);
    #[cfg(not(unix))]
    {
        if let Some((sub, _)) = rel.split_once('/')
            && !fs::symlink_metadata(dir.join(sub)).is_ok_and(|m| m.is_dir())
        {
            return Ok(None);
        }
        read_entry(&dir.join(rel), limits)
    }
}

/// Opens one file of the config directory `dir` for reading, whatever its
/// size, under the same rules as [`read_file`] (no link followed, no FIFO or
/// device opened); `None` when it does not exist or is not a regular file.
/// For callers that stream a file too large to hold (`unreferenced`).
pub fn open_file(dir: &Path, rel: &str) -> Result<Option<fs::File>, LoadError> {
    if rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") || rel.matches('/').count() > 1 {
        return Ok(None);
    }
    #[cfg(unix)]
    return at::open_file(dir, rel);
    #[cfg(not(unix))]
    {
        if let Some((sub, _)) = rel.split_once('/')
            && !fs::symlink_metadata(dir.join(sub)).is_ok_and(|m| m.is_dir())
        {
            return Ok(None);
        }
        let path = dir.join(rel);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        match fs::File::open(&path) {
            Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => Ok(Some(file)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

/// [`read_dir`] by path names, where there are no directory handles to
/// read relative to (Windows): a directory swapped for a link between two
/// calls could be followed. Unix (Linux, macOS, the BSDs) uses
/// [`at::read_dir`] instead.
#[cfg(not(unix))]
fn read_dir_by_path(dir: &Path, limits: &Limits) -> Result<Inputs, LoadError> {
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
    let names: Vec<String> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .take(limits.max_files.saturating_add(1))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    files.extend(crate::config::case_variant_inputs(names));
    Ok(Inputs { files })
}

/// Reads one entry without following a link it finds; `None` when it does not exist.
#[cfg(not(unix))]
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
    match fs::File::open(path) {
        Ok(file) => read_open(file, path, limits),
        // Removed since: as if it had never been there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads an opened entry up to the size limit. The entry may have been
/// replaced since its metadata was read: the open handle is checked again.
fn read_open(file: fs::File, path: &Path, limits: &Limits) -> Result<Option<Content>, LoadError> {
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

/// Reading relative to open directory handles (`openat`, `fstatat` through
/// `rustix`, on every unix): each component is resolved once, without
/// following links, so that nothing swapped in while amiset reads (a link
/// where `worker-types/` or a file was) can lead it outside the config
/// directory.
#[cfg(unix)]
mod at {
    use std::ffi::{OsStr, OsString};
    use std::fs;
    use std::io;
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStringExt;
    use std::path::Path;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;

    use super::{CONFIG_DIRS, Content, InputFile, Inputs, Limits, LoadError, TOP_LEVEL_FILES, io_err};

    /// What an entry is, without following it.
    enum Kind {
        Missing,
        Link,
        Dir,
        File(u64),
        Special(&'static str),
    }

    fn kind(dir: &OwnedFd, name: &OsStr) -> io::Result<Kind> {
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(Kind::Missing),
            Err(e) => return Err(e.into()),
        };
        Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => Kind::Link,
            FileType::Directory => Kind::Dir,
            FileType::RegularFile => Kind::File(u64::try_from(st.st_size).unwrap_or(0)),
            FileType::Fifo => Kind::Special("a FIFO"),
            FileType::Socket => Kind::Special("a socket"),
            FileType::BlockDevice | FileType::CharacterDevice => Kind::Special("a device"),
            _ => Kind::Special("not a regular file"),
        })
    }

    /// `openat` that never follows a link in the last component (and there is
    /// no other): a link there fails with `ELOOP`, on Linux and macOS alike.
    fn open(dir: &OwnedFd, name: &OsStr, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
    }

    /// The names in an open directory, at most `max` of them.
    fn list(dir: &OwnedFd, max: usize) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            names.push(OsString::from_vec(name.to_vec()));
            if names.len() >= max {
                break;
            }
        }
        Ok(names)
    }

    /// One entry of the directory `dir`; `path` names it in errors.
    fn read_entry(dir: &OwnedFd, name: &OsStr, path: &Path, limits: &Limits) -> Result<Option<Content>, LoadError> {
        let size = match kind(dir, name).map_err(io_err(path))? {
            Kind::Missing => return Ok(None),
            Kind::Link => return Ok(Some(Content::Symlink)),
            Kind::Dir => return Ok(Some(Content::NotAFile("a directory"))),
            Kind::Special(what) => return Ok(Some(Content::NotAFile(what))),
            Kind::File(size) => size,
        };
        if size > limits.max_file_size {
            return Ok(Some(Content::TooLarge(size)));
        }
        // O_NONBLOCK: a FIFO swapped in since must not block the open.
        match open(dir, name, OFlags::RDONLY | OFlags::NONBLOCK) {
            Ok(fd) => super::read_open(fs::File::from(fd), path, limits),
            // Replaced by a link since: O_NOFOLLOW refused it.
            Err(Errno::LOOP) => Ok(Some(Content::Symlink)),
            // Removed since: as if it had never been there.
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(path)(e.into())),
        }
    }

    pub(super) fn read_file(dir: &Path, rel: &str, limits: &Limits) -> Result<Option<Content>, LoadError> {
        let root: OwnedFd = fs::File::open(dir).map_err(io_err(dir))?.into();
        let path = dir.join(rel);
        let Some((sub, name)) = rel.split_once('/') else {
            return read_entry(&root, OsStr::new(rel), &path, limits);
        };
        let handle = match open(&root, OsStr::new(sub), OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io_err(&path)(e.into())),
        };
        read_entry(&handle, OsStr::new(name), &path, limits)
    }

    pub(super) fn open_file(dir: &Path, rel: &str) -> Result<Option<fs::File>, LoadError> {
        let root: OwnedFd = fs::File::open(dir).map_err(io_err(dir))?.into();
        let path = dir.join(rel);
        let (handle, name) = match rel.split_once('/') {
            None => (root, rel),
            Some((sub, name)) => match open(&root, OsStr::new(sub), OFlags::RDONLY | OFlags::DIRECTORY) {
                Ok(fd) => (fd, name),
                Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT) => return Ok(None),
                Err(e) => return Err(io_err(&path)(e.into())),
            },
        };
        if !matches!(kind(&handle, OsStr::new(name)).map_err(io_err(&path))?, Kind::File(_)) {
            return Ok(None);
        }
        // O_NONBLOCK: a FIFO swapped in since must not block the open.
        let file = match open(&handle, OsStr::new(name), OFlags::RDONLY | OFlags::NONBLOCK) {
            Ok(fd) => fs::File::from(fd),
            Err(Errno::LOOP | Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io_err(&path)(e.into())),
        };
        Ok(file.metadata().is_ok_and(|m| m.is_file()).then_some(file))
    }

    pub(super) fn read_dir(dir: &Path, limits: &Limits) -> Result<Inputs, LoadError> {
        // The config directory itself is the user's choice, and may be reached through links.
        let root: OwnedFd = fs::File::open(dir).map_err(io_err(dir))?.into();
        let mut files = Vec::new();
        for name in TOP_LEVEL_FILES {
            if let Some(content) = read_entry(&root, OsStr::new(name), &dir.join(name), limits)? {
                files.push(InputFile {
                    path: name.to_string(),
                    content,
                });
            }
        }
        for sub in CONFIG_DIRS {
            let path = dir.join(sub);
            let mut push = |content| {
                files.push(InputFile {
                    path: sub.to_string(),
                    content,
                })
            };
            match kind(&root, OsStr::new(sub)).map_err(io_err(&path))? {
                Kind::Missing => continue,
                Kind::Link => {
                    push(Content::Symlink);
                    continue;
                }
                Kind::Dir => {}
                _ => {
                    push(Content::NotAFile("not a directory"));
                    continue;
                }
            }
            let handle = match open(&root, OsStr::new(sub), OFlags::RDONLY | OFlags::DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::LOOP) => {
                    push(Content::Symlink);
                    continue;
                }
                Err(Errno::NOTDIR) => {
                    push(Content::NotAFile("not a directory"));
                    continue;
                }
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err(&path)(e.into())),
            };
            // One more than the limit, so that load can tell it was exceeded.
            let mut names = list(&handle, limits.max_files.saturating_add(1)).map_err(io_err(&path))?;
            names.sort();
            for name in names {
                let rel = format!("{sub}/{}", name.to_string_lossy());
                if let Some(content) = read_entry(&handle, &name, &path.join(&name), limits)? {
                    files.push(InputFile { path: rel, content });
                }
            }
        }
        let names = list(&root, limits.max_files.saturating_add(1)).map_err(io_err(dir))?;
        files.extend(crate::config::case_variant_inputs(
            names.into_iter().map(|n| n.to_string_lossy().into_owned()),
        ));
        Ok(Inputs { files })
    }
}
