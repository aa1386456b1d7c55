//! Reading compiled artifacts: the typed API a provisioner links instead of
//! re-implementing resolution.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::{FORMAT_VERSION, MANIFEST, MIN_FORMAT_VERSION, Manifest, sha256_hex};

/// Why artifacts could not be read. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not a valid manifest: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("`{}` was written in artifact format {found}; this version reads formats {MIN_FORMAT_VERSION} to {FORMAT_VERSION}", path.display())]
    Format { path: PathBuf, found: u32 },
    #[error("`{}` does not match the manifest (sha256 {actual}, expected {expected}): it was changed or truncated after compile", path.display())]
    Tampered { path: PathBuf, expected: String, actual: String },
    #[error("`{}` is not listed in the manifest", path.display())]
    Unlisted { path: PathBuf },
    #[error("`{}` is not valid artifact JSON: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("no worker type `{0}` in the artifacts")]
    UnknownWorkerType(String),
    #[error("worker type `{worker}` has no launch spec for `{instance_type}` in {region}")]
    NoLaunchSpec {
        worker: String,
        region: String,
        instance_type: String,
    },
    #[error("region {region} of worker type `{worker}` has zones ({zones}): name one")]
    ZoneNeeded { worker: String, region: String, zones: String },
    #[error("region {region} of worker type `{worker}` has no zones (asked for `{zone}`)")]
    NoZones { worker: String, region: String, zone: String },
    #[error("worker type `{worker}` launches nothing in zone `{zone}` of {region} (its zones there: {zones})")]
    UnknownZone {
        worker: String,
        region: String,
        zone: String,
        zones: String,
    },
}

/// One resolved launch specification, ready for `RunInstances`.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchSpecification {
    pub worker_type: String,
    pub region: String,
    /// The availability zone, for a region with zones.
    pub zone: Option<String>,
    pub instance_type: String,
    /// The AMI to launch.
    pub image_id: String,
    /// Every RunInstances parameter, `ImageId` and `InstanceType` included.
    pub parameters: Map<String, Json>,
}

/// A verified artifact directory.
///
/// [`Artifacts::open`] checks every file against the manifest's sha256; each
/// lookup reads its file again and checks it again, so a file changed after
/// `open` is caught too.
#[derive(Clone, Debug)]
pub struct Artifacts {
    root: PathBuf,
    manifest: Manifest,
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    fs::read(path).map_err(|source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Artifacts {
    /// Opens `dir` and verifies every file the manifest lists; a missing,
    /// changed, truncated or unlisted file is an error that names it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, ArtifactError> {
        let root = dir.as_ref().to_path_buf();
        let bytes = read(&root.join(MANIFEST))?;
        let artifacts = Artifacts::parse(root, &bytes)?;
        artifacts.verify_files()?;
        Ok(artifacts)
    }

    /// The artifacts of `root` whose manifest is `bytes`; no file is read yet.
    pub(super) fn parse(root: PathBuf, bytes: &[u8]) -> Result<Self, ArtifactError> {
        let path = root.join(MANIFEST);
        let head: Json = serde_json::from_slice(bytes).map_err(|e| ArtifactError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if let Some(found) = head.get("formatVersion").and_then(Json::as_u64)
            && !(u64::from(MIN_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&found)
        {
            return Err(ArtifactError::Format {
                path,
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        let manifest: Manifest = serde_json::from_value(head).map_err(|e| ArtifactError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        for rel in manifest.files.keys() {
            if !is_artifact_path(rel) {
                return Err(ArtifactError::Manifest {
                    path,
                    message: format!("unexpected file name `{rel}`"),
                });
            }
        }
        Ok(Artifacts { root, manifest })
    }

    /// Checks every file the manifest lists against its sha256, and that
    /// `ami-sets/` and `worker-types/` hold nothing else.
    pub(super) fn verify_files(&self) -> Result<(), ArtifactError> {
        for rel in self.manifest.files.keys() {
            self.read_verified(rel)?;
        }
        for sub in ["ami-sets", "worker-types"] {
            let dir = self.root.join(sub);
            let entries = fs::read_dir(&dir).map_err(|source| ArtifactError::Io { path: dir.clone(), source })?;
            for entry in entries {
                let entry = entry.map_err(|source| ArtifactError::Io { path: dir.clone(), source })?;
                let rel = format!("{sub}/{}", entry.file_name().to_string_lossy());
                if !self.manifest.files.contains_key(&rel) {
                    return Err(ArtifactError::Unlisted { path: entry.path() });
                }
            }
        }
        Ok(())
    }

    /// The manifest: format and tool version, source commit, EC2 verification.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Names of the compiled worker types, sorted.
    pub fn worker_types(&self) -> impl Iterator<Item = &str> {
        self.names("worker-types/")
    }

    /// Ids of the compiled AMI sets, sorted.
    pub fn ami_sets(&self) -> impl Iterator<Item = &str> {
        self.names("ami-sets/")
    }

    fn names<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> {
        self.manifest
            .files
            .keys()
            .filter_map(move |p| p.strip_prefix(prefix).and_then(|n| n.strip_suffix(".json")))
    }

    fn read_verified(&self, rel: &str) -> Result<Vec<u8>, ArtifactError> {
        let path = self.root.join(rel);
        let Some(expected) = self.manifest.files.get(rel) else {
            return Err(ArtifactError::Unlisted { path });
        };
        let bytes = read(&path)?;
        let actual = sha256_hex(&bytes);
        if &actual != expected {
            return Err(ArtifactError::Tampered {
                path,
                expected: expected.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    fn read_json(&self, rel: &str) -> Result<Json, ArtifactError> {
        let bytes = self.read_verified(rel)?;
        serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Invalid {
            path: self.root.join(rel),
            message: e.to_string(),
        })
    }

    /// The compiled worker type as JSON (its fields and `launchSpecs`).
    pub fn worker_type(&self, name: &str) -> Result<Json, ArtifactError> {
        let rel = format!("worker-types/{name}.json");
        if !self.manifest.files.contains_key(&rel) {
            return Err(ArtifactError::UnknownWorkerType(name.to_string()));
        }
        self.read_json(&rel)
    }

    /// The resolved launch specification of `worker` for `instance_type` in
    /// `region` (a region without zones).
    pub fn launch_spec(&self, worker: &str, region: &str, instance_type: &str) -> Result<LaunchSpecification, ArtifactError> {
        self.launch_spec_in(worker, region, None, instance_type)
    }

    /// The zones of `region` that `worker` has launch specs for, sorted
    /// (empty for a region without zones, and in format 1 artifacts).
    pub fn zones(&self, worker: &str, region: &str) -> Result<Vec<String>, ArtifactError> {
        let doc = self.worker_type(worker)?;
        Ok(doc
            .get("zoneLaunchSpecs")
            .and_then(|s| s.get(region))
            .and_then(Json::as_object)
            .map(|z| z.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// The resolved launch specification of `worker` for `instance_type` in
    /// `zone` of `region` (`zone` is `None` for a region without zones).
    pub fn launch_spec_in(
        &self,
        worker: &str,
        region: &str,
        zone: Option<&str>,
        instance_type: &str,
    ) -> Result<LaunchSpecification, ArtifactError> {
        let doc = self.worker_type(worker)?;
        let missing = || ArtifactError::NoLaunchSpec {
            worker: worker.to_string(),
            region: zone.map_or_else(|| region.to_string(), |z| format!("{z} ({region})")),
            instance_type: instance_type.to_string(),
        };
        let zones = doc.get("zoneLaunchSpecs").and_then(|s| s.get(region)).and_then(Json::as_object);
        let (spec, at) = match (zone, zones) {
            (None, Some(zones)) if doc.get("launchSpecs").and_then(|s| s.get(region)).is_none() => {
                return Err(ArtifactError::ZoneNeeded {
                    worker: worker.to_string(),
                    region: region.to_string(),
                    zones: zones.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            (None, _) => (
                doc.get("launchSpecs")
                    .and_then(|s| s.get(region))
                    .and_then(|r| r.get(instance_type)),
                format!("launchSpecs.{region}.{instance_type}"),
            ),
            (Some(z), None) if doc.get("launchSpecs").and_then(|s| s.get(region)).is_some() => {
                return Err(ArtifactError::NoZones {
                    worker: worker.to_string(),
                    region: region.to_string(),
                    zone: z.to_string(),
                });
            }
            (Some(z), Some(zones)) if !zones.contains_key(z) => {
                return Err(ArtifactError::UnknownZone {
                    worker: worker.to_string(),
                    region: region.to_string(),
                    zone: z.to_string(),
                    zones: zones.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            (Some(z), zones) => (
                zones.and_then(|zs| zs.get(z)).and_then(|r| r.get(instance_type)),
                format!("zoneLaunchSpecs.{region}.{z}.{instance_type}"),
            ),
        };
        let spec = spec.and_then(Json::as_object).ok_or_else(missing)?;
        let invalid = |message: &str| ArtifactError::Invalid {
            path: self.root.join(format!("worker-types/{worker}.json")),
            message: format!("{at}: {message}"),
        };
        let image_id = spec.get("ImageId").and_then(Json::as_str).ok_or_else(|| invalid("no ImageId"))?;
        if spec.get("InstanceType").and_then(Json::as_str) != Some(instance_type) {
            return Err(invalid("InstanceType does not match"));
        }
        if let Some(z) = zone
            && spec.get("Placement").and_then(|p| p.get("AvailabilityZone")).and_then(Json::as_str) != Some(z)
        {
            return Err(invalid("Placement.AvailabilityZone does not match"));
        }
        Ok(LaunchSpecification {
            worker_type: worker.to_string(),
            region: region.to_string(),
            zone: zone.map(str::to_string),
            instance_type: instance_type.to_string(),
            image_id: image_id.to_string(),
            parameters: spec.clone(),
        })
    }
}

/// `index.html`, or `ami-sets/<id>.json` or `worker-types/<name>.json` with a plain file name.
fn is_artifact_path(rel: &str) -> bool {
    if rel == super::INDEX_HTML {
        return true;
    }
    let Some((dir, file)) = rel.split_once('/') else { return false };
    (dir == "ami-sets" || dir == "worker-types")
        && file.ends_with(".json")
        && !file.contains('/')
        && !file.starts_with('.')
        && crate::config::is_valid_id(file.trim_end_matches(".json"))
}
