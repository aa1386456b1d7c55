//! Compiled artifacts (DESIGN §6): what `amiset compile` writes and what a
//! provisioner reads.
//!
//! `OUT/manifest.json` names every other file with its sha256;
//! `OUT/ami-sets/<id>.json` holds the normalized sets and
//! `OUT/worker-types/<name>.json` each worker type with its fully resolved
//! `launchSpecs[region][instanceType]` (and, for regions with zones,
//! `zoneLaunchSpecs[region][zone][instanceType]`); `OUT/index.html` is a static page to
//! browse them ([`crate::html`]). Bytes are deterministic: keys are
//! sorted, floats use the shortest round-trip form, and nothing depends on the
//! clock or the machine. [`compile()`] writes them atomically, [`Artifacts`]
//! reads them back and refuses a tree whose hashes do not match.
//!
//! Signed artifacts ([`sign`], [`keys`], [`trust`]) add `OUT/manifest.sig`
//! and tie the manifest to a commit, its place in history and an expiry;
//! [`Artifacts::open_trusted`] is what a provisioner uses to read them.

pub mod keys;
#[cfg(feature = "kms")]
pub mod kms;
mod reader;
pub mod sign;
pub mod trust;
mod write;

pub use keys::{FileSigner, ManifestSignature, PublicKey, SIGNATURE, SignError, Signer};
pub use reader::{ArtifactError, Artifacts, LaunchSpecification};
pub use sign::{Anchor, Signing};
pub use trust::{State, Trust, TrustError};
pub use write::{CompileError, CompileOptions, Summary, ami_set_json, compile, source_of, worker_type_json};
pub(crate) use write::{replace_dir, resolved_specs, write_files, write_plain};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// The artifact format this version writes. Format 2 added zones
/// (`zoneLaunchSpecs`); format 1 has none.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest artifact format this version still reads.
pub const MIN_FORMAT_VERSION: u32 = 1;

/// Name of the manifest file inside OUT.
pub const MANIFEST: &str = "manifest.json";

/// Name of the static page inside OUT (see `crate::html`).
pub const INDEX_HTML: &str = "index.html";

/// The Git commit a compile read its config from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Full commit id of `HEAD`.
    pub commit: String,
    /// Whether the config directory differed from `HEAD` (modified, staged or untracked files).
    pub dirty: bool,
    /// The config directory relative to the repository root (`""` for the root).
    pub path: String,
}

/// `OUT/manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// `amiset` version that wrote the artifacts.
    pub tool_version: String,
    /// `null` when the config directory is not inside a Git work tree.
    pub source: Option<Source>,
    /// Whether every AMI and instance type was verified against EC2.
    pub ec2_verified: bool,
    /// Every other file of OUT, by path relative to OUT, with its sha256 (hex).
    pub files: std::collections::BTreeMap<String, String>,
    /// Signed artifacts only: the commit compiled (see [`Anchor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// Signed artifacts only: the commit's first-parent count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Signed artifacts only: when they stop being accepted, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Returns `value` with every object's keys in sorted order, whatever map
/// order serde_json was built with.
pub fn sorted(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect::<Map<_, _>>())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The canonical bytes of an artifact: sorted keys, two-space indentation, a final newline.
pub(crate) fn to_bytes(value: Json) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&sorted(value)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
