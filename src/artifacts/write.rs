//! Writing artifacts: build every file into a temporary directory beside
//! OUT, fsync it, then swap it in with one atomic rename.
//!
//! On Linux the swap is `renameat2(RENAME_EXCHANGE)`: the new tree and the
//! old OUT trade places in one step, so a crash at any moment leaves either
//! the complete old OUT or the complete new one at OUT; the old tree is then
//! removed from the temporary name. When OUT does not exist yet a plain
//! `rename` moves the new tree in. A filesystem that cannot exchange is an
//! error, never a silent non-atomic replace.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Value as Json, json};

use super::keys::{SIGNATURE, SignError};
use super::sign::Signing;
use super::{FORMAT_VERSION, INDEX_HTML, MANIFEST, Manifest, Source, sha256_hex, to_bytes};
use crate::config::Config;
use crate::config::model::{AmiSet, WorkerType};
use crate::diag::Finding;
use crate::resolve::{Resolved, TypeCatalog, resolve_offered};

/// What a compile needs besides the config.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Whether the config was verified against EC2 before compiling.
    pub ec2_verified: bool,
    /// Where the config came from, when it is in a Git repository.
    pub source: Option<Source>,
    /// EC2's findings (`ec2::*`) on the config, marked on `index.html`.
    pub ec2_findings: Vec<Finding>,
    /// Sign the manifest: anchor it to a commit and write `manifest.sig`.
    pub signing: Option<Signing>,
}

/// What a compile wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub ami_sets: usize,
    pub worker_types: usize,
    pub launch_specs: usize,
}

/// Why a compile wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("cannot write `{}`: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not empty and is not what amiset writes (a {MANIFEST} listing every file in it): refusing to replace a directory amiset did not write", .0.display())]
    Foreign(PathBuf),
    #[error("`{}` exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("worker type `{worker}` does not resolve: {message}")]
    Unresolved { worker: String, message: String },
    #[error("cannot sign the artifacts: {0}")]
    Sign(#[from] SignError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The normalized JSON of an AMI set: entries sorted by region, then arch.
pub fn ami_set_json(set: &AmiSet) -> Json {
    let mut set = set.clone();
    set.amis
        .sort_by(|a, b| (&a.region, a.arch.as_str()).cmp(&(&b.region, b.arch.as_str())));
    serde_json::to_value(&set).unwrap_or(Json::Null)
}

/// The JSON of a worker type with `launchSpecs[region][instanceType]` resolved.
pub fn worker_type_json(config: &Config, wt: &WorkerType, catalog: &dyn TypeCatalog) -> Result<Json, CompileError> {
    Ok(worker_type_json_of(config, wt, &resolved_specs(config, wt, catalog)?))
}

/// Every launch spec of `wt` that `offerings.json` lets launch, or the
/// first one that does not resolve.
pub(crate) fn resolved_specs(config: &Config, wt: &WorkerType, catalog: &dyn TypeCatalog) -> Result<Vec<Resolved>, CompileError> {
    let set = wt.ami_set_id.as_deref().and_then(|id| config.ami_sets.get(id));
    resolve_offered(wt, set, catalog, config.offerings.as_ref())
        .into_iter()
        .map(|r| {
            r.map_err(|u| CompileError::Unresolved {
                worker: wt.name.clone(),
                message: u.message,
            })
        })
        .collect()
}

/// The worker type's JSON with `launchSpecs[region][instanceType]` for
/// regions without zones and `zoneLaunchSpecs[region][zone][instanceType]`
/// for regions with zones (the latter only when some region has zones);
/// `workerConfig` is the AMI set's `[workerConfig]` merged under `userData`
/// ([`Config::worker_config`]).
fn worker_type_json_of(config: &Config, wt: &WorkerType, resolved: &[Resolved]) -> Json {
    let mut specs: BTreeMap<&str, BTreeMap<&str, Json>> = BTreeMap::new();
    let mut zoned: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, Json>>> = BTreeMap::new();
    for r in resolved {
        let spec = Json::Object(r.launch_spec.clone());
        match &r.zone {
            None => {
                specs.entry(&r.region).or_default().insert(&r.instance_type, spec);
            }
            Some(zone) => {
                zoned
                    .entry(&r.region)
                    .or_default()
                    .entry(zone)
                    .or_default()
                    .insert(&r.instance_type, spec);
            }
        }
    }
    let mut value = serde_json::to_value(wt).unwrap_or(Json::Null);
    if let Json::Object(map) = &mut value {
        map.insert("launchSpecs".into(), json!(specs));
        if wt.regions.iter().any(|r| !r.zones.is_empty()) {
            map.insert("zoneLaunchSpecs".into(), json!(zoned));
        }
        map.insert("workerConfig".into(), Json::Object(config.worker_config(wt)));
    }
    value
}

/// Whether the config directory of `source` is in a Git work tree, and at which commit.
pub fn source_of(dir: &Path) -> Option<Source> {
    let repo = git2::Repository::discover(dir).ok()?;
    let path = crate::git::dir_in_repo(&repo, dir)?;
    let commit = repo.head().ok()?.peel_to_commit().ok()?.id().to_string();
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    if !path.is_empty() {
        options.pathspec(format!("{path}/"));
    }
    let dirty = repo.statuses(Some(&mut options)).map(|s| !s.is_empty()).unwrap_or(true);
    Some(Source { commit, dirty, path })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CompileError> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))
}

/// Makes everything written under `root` durable. On Linux one `syncfs(2)`
/// flushes the whole filesystem, far cheaper than an fsync per file.
#[cfg(target_os = "linux")]
fn sync_tree(root: &Path, _files: &[PathBuf]) -> Result<(), CompileError> {
    let dir = File::open(root).map_err(io(root))?;
    rustix::fs::syncfs(&dir).map_err(|e| io(root)(e.into()))
}

#[cfg(not(target_os = "linux"))]
fn sync_tree(root: &Path, files: &[PathBuf]) -> Result<(), CompileError> {
    for file in files {
        File::open(file).and_then(|f| f.sync_all()).map_err(io(file))?;
    }
    for dir in [root.join("ami-sets"), root.join("worker-types"), root.to_path_buf()] {
        if !dir.is_dir() {
            continue;
        }
        sync_dir(&dir)?;
    }
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), CompileError> {
    File::open(path).and_then(|d| d.sync_all()).map_err(io(path))
}

/// Writes every artifact of a checked `config` to `out`, atomically.
///
/// The caller must have checked `config` without errors; a worker type that
/// still fails to resolve aborts the compile and leaves `out` untouched.
pub fn compile(config: &Config, catalog: &dyn TypeCatalog, out: &Path, options: &CompileOptions) -> Result<Summary, CompileError> {
    replace_dir(out, |root| build(config, catalog, root, options))
}

/// Replaces the directory `out` atomically with the tree `fill` writes into
/// a fresh temporary directory beside it (which must end up holding
/// [`MANIFEST`]). A non-empty `out` without a manifest is refused, and when
/// `fill` fails `out` is left untouched. Every writer of OUT-style trees
/// (`compile`, `export taskcluster`) goes through here.
pub(crate) fn replace_dir<T>(out: &Path, fill: impl FnOnce(&Path) -> Result<T, CompileError>) -> Result<T, CompileError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    match fs::symlink_metadata(out) {
        Ok(meta) if !meta.is_dir() => return Err(CompileError::NotADirectory(out.to_path_buf())),
        Ok(_) => {
            let empty = fs::read_dir(out).map_err(io(out))?.next().is_none();
            if !empty && !written_by_amiset(out) {
                return Err(CompileError::Foreign(out.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(out)(e)),
    }
    // `--out a/b` where `a/` does not exist yet: create it, as `mkdir -p` would.
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    remove_stale_temporaries(&parent, &name);
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.amiset-{}-", std::process::id()))
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let result = fill(tmp.path())?;
    let tmp = tmp.keep();
    let swapped = swap_in(&tmp, out, &parent);
    if swapped.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    swapped?;
    Ok(result)
}

/// Whether `out` holds only what amiset writes: a manifest whose `files`
/// list every other regular file in it (besides the manifest and its
/// signature). Anything else (a file the manifest does not list, a link,
/// a manifest that is not amiset's) and `out` is left alone.
fn written_by_amiset(out: &Path) -> bool {
    const LARGEST_MANIFEST: u64 = 256 * 1024 * 1024;
    let manifest = File::open(out.join(MANIFEST))
        .ok()
        .filter(|file| file.metadata().is_ok_and(|m| m.len() <= LARGEST_MANIFEST))
        .and_then(|file| serde_json::from_reader::<_, Manifest>(std::io::BufReader::new(file)).ok());
    let Some(manifest) = manifest else { return false };
    fn all_listed(dir: &Path, prefix: &str, listed: &BTreeMap<String, String>) -> bool {
        let Ok(entries) = fs::read_dir(dir) else { return false };
        entries.into_iter().all(|entry| {
            let Ok(entry) = entry else { return false };
            let Ok(kind) = entry.file_type() else { return false };
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if kind.is_dir() {
                all_listed(&entry.path(), &format!("{rel}/"), listed)
            } else {
                kind.is_file() && (listed.contains_key(&rel) || (prefix.is_empty() && [MANIFEST, SIGNATURE].contains(&name.as_str())))
            }
        })
    }
    all_listed(out, "", &manifest.files)
}

/// Writes `files` (path relative to `root`, bytes) and a manifest of their
/// sha256 into `root`, creating directories as needed, and makes them durable.
pub(crate) fn write_files(root: &Path, files: &[(String, Vec<u8>)], source: Option<Source>) -> Result<(), CompileError> {
    let mut hashes = BTreeMap::new();
    for (rel, bytes) in files {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_file(&path, bytes)?;
        hashes.insert(rel.clone(), sha256_hex(bytes));
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source,
        ec2_verified: false,
        files: hashes,
        source_commit: None,
        sequence: None,
        expires: None,
    };
    write_file(
        &root.join(MANIFEST),
        &to_bytes(serde_json::to_value(&manifest).unwrap_or(Json::Null)),
    )?;
    let written: Vec<PathBuf> = files.iter().map(|(rel, _)| root.join(rel)).chain([root.join(MANIFEST)]).collect();
    sync_tree(root, &written)
}

/// Writes the whole artifact tree into `root` and fsyncs it.
fn build(config: &Config, catalog: &dyn TypeCatalog, root: &Path, options: &CompileOptions) -> Result<Summary, CompileError> {
    for sub in ["ami-sets", "worker-types"] {
        let dir = root.join(sub);
        fs::create_dir(&dir).map_err(io(&dir))?;
    }
    let sets: Vec<(String, String)> = config
        .ami_sets
        .par_iter()
        .map(|(id, set)| {
            let rel = format!("ami-sets/{id}.json");
            let bytes = to_bytes(ami_set_json(set));
            write_file(&root.join(&rel), &bytes)?;
            Ok((rel, sha256_hex(&bytes)))
        })
        .collect::<Result<_, CompileError>>()?;
    // Each worker type's launch specs are written and dropped at once: only
    // their count and what the page shows are kept.
    let workers: Vec<(&String, String, String, usize, Vec<crate::html::Cell>)> = config
        .worker_types
        .par_iter()
        .map(|(name, wt)| {
            let rel = format!("worker-types/{name}.json");
            let resolved = resolved_specs(config, wt, catalog)?;
            let bytes = to_bytes(worker_type_json_of(config, wt, &resolved));
            write_file(&root.join(&rel), &bytes)?;
            Ok((name, rel, sha256_hex(&bytes), resolved.len(), crate::html::cells(&resolved)))
        })
        .collect::<Result<_, CompileError>>()?;
    let summary = Summary {
        ami_sets: sets.len(),
        worker_types: workers.len(),
        launch_specs: workers.iter().map(|w| w.3).sum(),
    };
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut cells = BTreeMap::new();
    for (rel, hash) in sets {
        files.insert(rel, hash);
    }
    for (name, rel, hash, _, page_cells) in workers {
        files.insert(rel, hash);
        cells.insert(name.clone(), page_cells);
    }
    let page = crate::html::render(config, &cells, &options.ec2_findings);
    write_file(&root.join(INDEX_HTML), page.as_bytes())?;
    files.insert(INDEX_HTML.to_string(), sha256_hex(page.as_bytes()));
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: options.source.clone(),
        ec2_verified: options.ec2_verified,
        files,
        source_commit: options.signing.as_ref().map(|s| s.anchor.source_commit.clone()),
        sequence: options.signing.as_ref().map(|s| s.anchor.sequence),
        expires: options.signing.as_ref().map(|s| s.anchor.expires.clone()),
    };
    let bytes = to_bytes(serde_json::to_value(&manifest).unwrap_or(Json::Null));
    write_file(&root.join(MANIFEST), &bytes)?;
    let mut written: Vec<PathBuf> = manifest
        .files
        .keys()
        .map(|rel| root.join(rel))
        .chain([root.join(MANIFEST)])
        .collect();
    if let Some(signing) = &options.signing {
        // Signed last, over the exact bytes just written; swapped in with the rest.
        let signature = signing.signer.sign(&bytes)?;
        let sig = to_bytes(serde_json::to_value(&signature).unwrap_or(Json::Null));
        write_file(&root.join(SIGNATURE), &sig)?;
        written.push(root.join(SIGNATURE));
    }
    sync_tree(root, &written)?;
    Ok(summary)
}

/// Temporary trees left by compiles that were killed (their process is gone).
fn remove_stale_temporaries(parent: &Path, name: &str) {
    let prefix = format!(".{name}.amiset-");
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else { continue };
        let pid = rest.split('-').next().unwrap_or("");
        let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Moves the complete tree at `tmp` to `out` in one atomic step.
fn swap_in(tmp: &Path, out: &Path, parent: &Path) -> Result<(), CompileError> {
    if fs::symlink_metadata(out).is_err() {
        fs::rename(tmp, out).map_err(io(out))?;
    } else {
        exchange(tmp, out)?;
        // `tmp` now holds the old tree.
        let _ = fs::remove_dir_all(tmp);
    }
    sync_dir(parent)
}

/// Swaps two directories in one step: `renameat2(RENAME_EXCHANGE)` on
/// Linux, `renameatx_np(RENAME_SWAP)` on macOS.
#[cfg(any(target_os = "linux", target_vendor = "apple"))]
fn exchange(a: &Path, b: &Path) -> Result<(), CompileError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| io(b)(e.into()))
}

#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
fn exchange(_a: &Path, b: &Path) -> Result<(), CompileError> {
    Err(io(b)(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "replacing an existing output directory atomically needs renameat2(RENAME_EXCHANGE) (Linux) or renameatx_np(RENAME_SWAP) (macOS)",
    )))
}

/// Writes `files` (path relative to `root`, bytes) into `root` without a
/// manifest and makes them durable: a config repository, not artifacts
/// (`amiset import`), through the same atomic [`replace_dir`].
pub(crate) fn write_plain(root: &Path, files: &[(String, Vec<u8>)]) -> Result<(), CompileError> {
    for (rel, bytes) in files {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_file(&path, bytes)?;
    }
    let written: Vec<PathBuf> = files.iter().map(|(rel, _)| root.join(rel)).collect();
    sync_tree(root, &written)
}
