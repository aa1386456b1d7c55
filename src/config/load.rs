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
    #[cfg(target_os = "linux")]
    return at::read_dir(dir, limits);
    #[cfg(not(target_os = "linux"))]
    read_dir_by_path(dir, limits)
}

/// Reads one file of the config directory `dir` (`rel` is `/`-separated,
/// e.g. `worker-types/x.toml`) under the same rules as [`read_dir`]; `None`
/// when it does not exist or its directory is not a real directory.
pub fn read_file(dir: &Path, rel: &str, limits: &Limits) -> Result<Option<Content>, LoadError> {
    if rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") || rel.matches('/').count() > 1 {
        return Ok(None);
    }
    #[cfg(target_os = "linux")]
    return at::read_file(dir, rel, limits);
    #[cfg(not(target_os = "linux"))]
    {
        if let Some((sub, _)) = rel.split_once('/')
            && !fs::symlink_metadata(dir.join(sub)).is_ok_and(|m| m.is_dir())
        {
            return Ok(None);
        }
        read_entry(&dir.join(rel), limits)
    }
}

/// [`read_dir`] by path names: a directory swapped for a link between two
/// calls could be followed. Linux uses [`at::read_dir`] instead.
#[cfg(not(target_os = "linux"))]
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
    Ok(Inputs { files })
}

/// Reads one entry without following links; `None` when it does not exist.
#[cfg(not(target_os = "linux"))]
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
    match open_no_follow(path) {
        Ok(file) => read_open(file, path, limits),
        // Replaced by a link since the metadata was read: O_NOFOLLOW refused it.
        Err(e) if e.raw_os_error() == Some(ELOOP) => Ok(Some(Content::Symlink)),
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

/// What `open` with `O_NOFOLLOW` fails with on a link.
#[cfg(all(unix, not(target_os = "linux")))]
const ELOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const ELOOP: i32 = -1;

#[cfg(all(unix, not(target_os = "linux")))]
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

/// Reading relative to open directory handles (`openat`, `fstatat`): each
/// component is resolved once, without following links, so that nothing
/// swapped in while amiset reads (a link where `worker-types/` or a file
/// was) can lead it outside the config directory.
#[cfg(target_os = "linux")]
mod at {
    use std::ffi::{CStr, CString, OsStr, OsString};
    use std::fs;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::Path;

    use super::{CONFIG_DIRS, Content, InputFile, Inputs, Limits, LoadError, TOP_LEVEL_FILES, io_err};

    /// What an entry is, without following it.
    enum Kind {
        Missing,
        Link,
        Dir,
        File(u64),
        Special(&'static str),
    }

    fn c_name(name: &OsStr) -> io::Result<CString> {
        CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    }

    fn kind(dir: RawFd, name: &OsStr) -> io::Result<Kind> {
        let c = c_name(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `c` is NUL-terminated and `st` is a valid out-pointer for one `stat`.
        if unsafe { libc::fstatat(dir, c.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) } != 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::NotFound {
                Ok(Kind::Missing)
            } else {
                Err(e)
            };
        }
        // SAFETY: fstatat succeeded, so it filled `st`.
        let st = unsafe { st.assume_init() };
        Ok(match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => Kind::Link,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFREG => Kind::File(st.st_size.max(0) as u64),
            libc::S_IFIFO => Kind::Special("a FIFO"),
            libc::S_IFSOCK => Kind::Special("a socket"),
            libc::S_IFBLK | libc::S_IFCHR => Kind::Special("a device"),
            _ => Kind::Special("not a regular file"),
        })
    }

    /// `openat` that never follows a link in the last component (and there is no other).
    fn open(dir: RawFd, name: &OsStr, flags: i32) -> io::Result<OwnedFd> {
        let c = c_name(name)?;
        // SAFETY: `c` is NUL-terminated; the returned descriptor is owned below.
        let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The names in an open directory, at most `max` of them.
    fn list(dir: &OwnedFd, max: usize) -> io::Result<Vec<OsString>> {
        // SAFETY: duplicating a valid descriptor; the copy is owned by the stream below.
        let fd = unsafe { libc::dup(dir.as_raw_fd()) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is valid; on success the stream owns it, on failure it is closed here.
        let stream = unsafe { libc::fdopendir(fd) };
        if stream.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: `fd` is still ours when fdopendir failed.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        let mut names = Vec::new();
        let result = loop {
            // SAFETY: errno is thread-local; clearing it tells the end of the stream from an error.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: `stream` is a valid open directory stream.
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                let e = io::Error::last_os_error();
                break if e.raw_os_error().unwrap_or(0) == 0 { Ok(()) } else { Err(e) };
            }
            // SAFETY: `d_name` of a returned entry is a NUL-terminated name valid until the next readdir.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            names.push(OsString::from_vec(name.to_vec()));
            if names.len() >= max {
                break Ok(());
            }
        };
        // SAFETY: closes the stream (and its descriptor) exactly once.
        unsafe { libc::closedir(stream) };
        result.map(|()| names)
    }

    /// One entry of the directory `dir`; `path` names it in errors.
    fn read_entry(dir: &OwnedFd, name: &OsStr, path: &Path, limits: &Limits) -> Result<Option<Content>, LoadError> {
        let size = match kind(dir.as_raw_fd(), name).map_err(io_err(path))? {
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
        match open(dir.as_raw_fd(), name, libc::O_RDONLY | libc::O_NONBLOCK) {
            Ok(fd) => super::read_open(fs::File::from(fd), path, limits),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Ok(Some(Content::Symlink)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    pub(super) fn read_file(dir: &Path, rel: &str, limits: &Limits) -> Result<Option<Content>, LoadError> {
        let root: OwnedFd = fs::File::open(dir).map_err(io_err(dir))?.into();
        let path = dir.join(rel);
        let Some((sub, name)) = rel.split_once('/') else {
            return read_entry(&root, OsStr::new(rel), &path, limits);
        };
        let handle = match open(root.as_raw_fd(), OsStr::new(sub), libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR | libc::ENOENT)) => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        read_entry(&handle, OsStr::new(name), &path, limits)
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
            match kind(root.as_raw_fd(), OsStr::new(sub)).map_err(io_err(&path))? {
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
            let handle = match open(root.as_raw_fd(), OsStr::new(sub), libc::O_RDONLY | libc::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    push(Content::Symlink);
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    push(Content::NotAFile("not a directory"));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
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
        Ok(Inputs { files })
    }
}
