//! The artifact reader on hostile trees: arbitrary bytes in `manifest.json`
//! and in one artifact file. The manifest is either raw bytes or a
//! well-formed manifest whose hash for the file is right or wrong, so that
//! inputs get past the hash check and reach the JSON and launch spec lookup.
//!
//! Inputs that start with `#out` are a manifest and a file verbatim (see
//! [`archive`]), so that compiled artifacts are seeds.
//!
//! Invariants: no panic; `open` succeeds only when every listed file has its
//! listed hash and nothing unlisted is present; lookups never panic.
#![no_main]

use std::fs;

use amiset::artifacts::{Artifacts, MANIFEST};
use amiset_fuzz::scratch_dir;
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

#[derive(Arbitrary, Debug)]
enum ManifestBytes {
    Raw(Vec<u8>),
    Built {
        format_version: u32,
        /// Whether the listed hash is the file's real sha256.
        right_hash: bool,
        /// Whether the file is listed at all.
        listed: bool,
        /// More entries, with arbitrary names and hashes.
        extra: Vec<(String, String)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Picks the artifact's path, or gives one.
    path: Result<u8, String>,
    bytes: Vec<u8>,
    manifest: ManifestBytes,
    lookups: Vec<(String, String, String)>,
}

const PATHS: &[&str] = &[
    "worker-types/linux.json",
    "ami-sets/ubuntu.json",
    "index.html",
    "worker-types/.x.json",
];

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A tree written out as `#out\n`, the manifest, `\n\0`, a path, `\n` and
/// the file's bytes: the form of the committed seeds. `SHA256` in the
/// manifest stands for the file's real hash.
fn archive(data: &[u8]) -> Option<Input> {
    let i = data.windows(2).position(|w| w == b"\n\0")?;
    let (manifest, rest) = (&data[..i], &data[i + 2..]);
    let j = rest.iter().position(|b| *b == b'\n')?;
    let (path, bytes) = (String::from_utf8_lossy(&rest[..j]).into_owned(), rest[j + 1..].to_vec());
    let manifest = String::from_utf8_lossy(manifest).replace("SHA256", &sha256(&bytes)).into_bytes();
    Some(Input {
        path: Err(path),
        bytes,
        manifest: ManifestBytes::Raw(manifest),
        lookups: Vec::new(),
    })
}

fuzz_target!(|data: &[u8]| {
    let input = match data.strip_prefix(b"#out\n") {
        Some(rest) => archive(rest),
        None => Input::arbitrary_take_rest(Unstructured::new(data)).ok(),
    };
    let Some(input) = input else { return };
    let rel = match &input.path {
        Ok(i) => PATHS[*i as usize % PATHS.len()].to_string(),
        Err(s) => s.clone(),
    };
    // Only paths that stay inside the scratch directory; escaping is the
    // writer's concern, and the reader never writes.
    let safe =
        !rel.is_empty() && !rel.starts_with('/') && rel.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if !safe {
        return;
    }
    let scratch = scratch_dir();
    let root = scratch.path();
    let _ = fs::create_dir(root.join("ami-sets"));
    let _ = fs::create_dir(root.join("worker-types"));
    if let Some(parent) = root.join(&rel).parent() {
        let _ = fs::create_dir_all(parent);
    }
    if fs::write(root.join(&rel), &input.bytes).is_err() {
        return;
    }
    let manifest = match &input.manifest {
        ManifestBytes::Raw(b) => b.clone(),
        ManifestBytes::Built {
            format_version,
            right_hash,
            listed,
            extra,
        } => {
            let mut files = serde_json::Map::new();
            for (k, v) in extra.iter().take(4) {
                files.insert(k.clone(), json!(v));
            }
            if *listed {
                let hash = if *right_hash {
                    sha256(&input.bytes)
                } else {
                    sha256(b"something else")
                };
                files.insert(rel.clone(), json!(hash));
            }
            let m = json!({
                "formatVersion": format_version,
                "toolVersion": "0.1.0",
                "source": null,
                "ec2Verified": false,
                "files": files,
            });
            serde_json::to_vec(&m).unwrap_or_default()
        }
    };
    if fs::write(root.join(MANIFEST), &manifest).is_err() {
        return;
    }

    let Ok(artifacts) = Artifacts::open(root) else { return };
    // It opened: every listed file must really have its listed hash.
    for (path, hash) in &artifacts.manifest().files {
        let bytes = fs::read(root.join(path)).unwrap_or_else(|e| panic!("open accepted `{path}`, which cannot be read: {e}"));
        assert_eq!(&sha256(&bytes), hash, "open accepted `{path}` with the wrong hash");
    }
    let workers: Vec<String> = artifacts.worker_types().map(str::to_string).collect();
    let _ = artifacts.ami_sets().count();
    for w in &workers {
        if let Ok(doc) = artifacts.worker_type(w) {
            let specs = doc.get("launchSpecs").and_then(|s| s.as_object()).cloned().unwrap_or_default();
            for (region, types) in specs.iter().take(8) {
                for it in types
                    .as_object()
                    .map(|t| t.keys().take(8).cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if let Ok(spec) = artifacts.launch_spec(w, region, &it) {
                        assert_eq!(spec.parameters.get("InstanceType").and_then(|v| v.as_str()), Some(it.as_str()));
                        assert_eq!(
                            spec.parameters.get("ImageId").and_then(|v| v.as_str()),
                            Some(spec.image_id.as_str())
                        );
                    }
                }
            }
        }
    }
    for (w, region, it) in input.lookups.iter().take(8) {
        let _ = artifacts.launch_spec(w, region, it);
    }
});
