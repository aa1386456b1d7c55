//! Reading signed artifacts as a provisioner must (DESIGN §6): only what a
//! trusted key signed, never older than what was accepted before, never
//! after it expires.
//!
//! [`Artifacts::open_trusted`] checks, in this order: `manifest.sig` exists;
//! its key is trusted and the signature verifies over the exact bytes of
//! `manifest.json` (which is then parsed from those same bytes); `expires`
//! is in the future; `sequence` is not below the one the state file
//! records; every file matches its hash. Only then is the state file
//! advanced. The state file is read, checked and replaced under an exclusive
//! lock (`<state>.lock`), written to a temporary file beside it, fsynced and
//! renamed over it, so a crash at any moment leaves the old or the new
//! record, never a lower sequence or a torn file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keys::{ManifestSignature, PublicKey, SIGNATURE};
use super::reader::{Artifacts, read};
use super::{ArtifactError, MANIFEST};
use crate::diag::Code;

/// What a provisioner accepts.
#[derive(Clone, Debug)]
pub struct Trust {
    /// Public keys whose signatures are accepted (several during a key rotation).
    pub keys: Vec<PublicKey>,
    /// The state file recording the highest `sequence` accepted; without
    /// one, rollback is not checked.
    pub state: Option<PathBuf>,
    /// The current time, seconds since the epoch.
    pub now: i64,
}

impl Trust {
    /// Trusts `keys` at time `now`, with no state file yet.
    pub fn new(keys: Vec<PublicKey>, now: i64) -> Trust {
        Trust { keys, state: None, now }
    }

    /// Records accepted sequences in `path`.
    pub fn with_state(mut self, path: impl Into<PathBuf>) -> Trust {
        self.state = Some(path.into());
        self
    }
}

/// The state file: the highest `sequence` accepted and its commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    pub sequence: u64,
    pub source_commit: String,
}

/// Why signed artifacts were refused (each refusal has its own code) or could
/// not be checked.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("`{}` holds no {SIGNATURE}: the artifacts are not signed", dir.display())]
    Unsigned { dir: PathBuf },
    #[error("`{}` is signed by key `{key_id}`, which is not among the trusted keys", path.display())]
    UntrustedKey { path: PathBuf, key_id: String },
    #[error("the signature in `{}` does not verify: {message}", path.display())]
    BadSignature { path: PathBuf, message: String },
    #[error("`{}` does not match the signed manifest: {message}", path.display())]
    HashMismatch { path: PathBuf, message: String },
    #[error(
        "rollback: the artifacts are of sequence {sequence} (commit {source_commit}), older than sequence {recorded} (commit {recorded_commit}) recorded in `{}`",
        state.display()
    )]
    Rollback {
        sequence: u64,
        source_commit: String,
        recorded: u64,
        recorded_commit: String,
        state: PathBuf,
    },
    #[error("the artifacts expired at {expires} (commit {source_commit}); a newer signed compile is needed")]
    Expired { expires: String, source_commit: String },
    #[error("state file `{}`: {message}", path.display())]
    State { path: PathBuf, message: String },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

impl TrustError {
    /// The code of a refusal; `None` for errors of the tool (unreadable
    /// files, a broken state file).
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            TrustError::Unsigned { .. } => Code::ArtifactsUnsigned,
            TrustError::UntrustedKey { .. } => Code::ArtifactsUntrustedKey,
            TrustError::BadSignature { .. } => Code::ArtifactsBadSignature,
            TrustError::HashMismatch { .. } => Code::ArtifactsHashMismatch,
            TrustError::Rollback { .. } => Code::ArtifactsRollback,
            TrustError::Expired { .. } => Code::ArtifactsExpired,
            TrustError::State { .. } | TrustError::Artifact(_) => return None,
        })
    }
}

impl Artifacts {
    /// Opens signed artifacts as a provisioner must: see the module
    /// documentation for what is checked, in which order. On success the
    /// state file (if any) records this `sequence` when it is higher.
    pub fn open_trusted(dir: impl AsRef<Path>, trust: &Trust) -> Result<Artifacts, TrustError> {
        let root = dir.as_ref().to_path_buf();
        let bytes = read(&root.join(MANIFEST))?;
        let sig_path = root.join(SIGNATURE);
        let sig_bytes = match fs::read(&sig_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(TrustError::Unsigned { dir: root }),
            Err(source) => return Err(ArtifactError::Io { path: sig_path, source }.into()),
        };
        let bad = |message: String| TrustError::BadSignature {
            path: sig_path.clone(),
            message,
        };
        let sig: ManifestSignature = serde_json::from_slice(&sig_bytes).map_err(|e| bad(format!("not a signature file: {e}")))?;
        let key = trust
            .keys
            .iter()
            .find(|k| k.key_id() == sig.key_id)
            .ok_or_else(|| TrustError::UntrustedKey {
                path: sig_path.clone(),
                key_id: sig.key_id.clone(),
            })?;
        if !key.verifies(&sig.algorithm, &bytes, &sig.signature) {
            return Err(bad(format!(
                "it is not a valid `{}` signature of `{MANIFEST}` by key `{}` (the key signs with `{}`)",
                sig.algorithm,
                sig.key_id,
                key.algorithm()
            )));
        }
        let artifacts = Artifacts::parse(root.clone(), &bytes)?;
        let manifest = artifacts.manifest();
        let unanchored = |field: &str| ArtifactError::Manifest {
            path: root.join(MANIFEST),
            message: format!("a signed manifest must hold `{field}`"),
        };
        let source_commit = manifest.source_commit.clone().ok_or_else(|| unanchored("sourceCommit"))?;
        let sequence = manifest.sequence.ok_or_else(|| unanchored("sequence"))?;
        let expires = manifest.expires.clone().ok_or_else(|| unanchored("expires"))?;
        let expiry = crate::ec2::inventory::parse_rfc3339(&expires).ok_or_else(|| ArtifactError::Manifest {
            path: root.join(MANIFEST),
            message: format!("`expires` is `{expires}`, not an RFC 3339 time"),
        })?;
        if trust.now >= expiry {
            return Err(TrustError::Expired { expires, source_commit });
        }
        let verify = || {
            artifacts.verify_files().map_err(|e| match e {
                ArtifactError::Tampered { path, expected, actual } => TrustError::HashMismatch {
                    path,
                    message: format!("sha256 {actual}, signed {expected}"),
                },
                ArtifactError::Unlisted { path } => TrustError::HashMismatch {
                    path,
                    message: "the file is not listed".into(),
                },
                ArtifactError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => TrustError::HashMismatch {
                    path,
                    message: "the file is missing".into(),
                },
                other => other.into(),
            })
        };
        match &trust.state {
            None => verify()?,
            Some(path) => {
                let _lock = lock(path)?;
                let recorded = read_state(path)?;
                if let Some(recorded) = &recorded
                    && sequence < recorded.sequence
                {
                    return Err(TrustError::Rollback {
                        sequence,
                        source_commit,
                        recorded: recorded.sequence,
                        recorded_commit: recorded.source_commit.clone(),
                        state: path.clone(),
                    });
                }
                verify()?;
                if recorded.is_none_or(|r| sequence > r.sequence) {
                    write_state(path, &State { sequence, source_commit })?;
                }
            }
        }
        Ok(artifacts)
    }
}

fn state_error(path: &Path) -> impl Fn(String) -> TrustError + '_ {
    move |message| TrustError::State {
        path: path.to_path_buf(),
        message,
    }
}

/// The recorded state; `None` when the file does not exist yet (first use).
/// A file that exists but does not parse is an error, never a fresh start.
pub fn read_state(path: &Path) -> Result<Option<State>, TrustError> {
    let err = state_error(path);
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            err(format!(
                "not a valid state file ({e}); it records the highest sequence accepted, so it is never reset silently"
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(format!("cannot read it: {e}"))),
    }
}

/// The directory and file name of `path`.
fn parent_and_name(path: &Path) -> (PathBuf, String) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    (parent, name)
}

/// Replaces the state file atomically: a temporary file in the same
/// directory, fsynced, renamed over it, and the directory fsynced. The
/// caller holds the lock, so temporaries left by killed writers are removed.
fn write_state(path: &Path, state: &State) -> Result<(), TrustError> {
    let err = state_error(path);
    let (parent, name) = parent_and_name(path);
    let prefix = format!(".{name}.tmp-");
    if let Ok(entries) = fs::read_dir(&parent) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(&parent)
        .map_err(|e| err(format!("cannot create a temporary file in `{}`: {e}", parent.display())))?;
    let mut text = serde_json::to_vec(state).map_err(|e| err(e.to_string()))?;
    text.push(b'\n');
    tmp.write_all(&text)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| err(format!("cannot write it: {e}")))?;
    tmp.persist(path).map_err(|e| err(format!("cannot replace it: {}", e.error)))?;
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(format!("cannot sync `{}`: {e}", parent.display())))
}

/// An exclusive lock on `<state>.lock`, held until dropped.
#[cfg(unix)]
fn lock(path: &Path) -> Result<File, TrustError> {
    let (parent, name) = parent_and_name(path);
    let lock_path = parent.join(format!("{name}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| state_error(path)(format!("cannot open the lock `{}`: {e}", lock_path.display())))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| state_error(path)(format!("cannot lock `{}`: {e}", lock_path.display())))?;
    Ok(file)
}

#[cfg(not(unix))]
fn lock(_path: &Path) -> Result<(), TrustError> {
    Ok(())
}
