//! `amiset migrate`: moving the raw `ImageId`s of worker types into AMI sets.
//!
//! [`plan`] is pure: from the raw files of a config repository it derives one
//! AMI set entry per region of each worker type that still carries raw
//! `ImageId`s (architecture and virtualization type from its instance types,
//! or from EC2's answers when given), groups worker types with identical
//! entries into one set, names the sets, prepares every new file text, and
//! proves on the result that every worker type × region × instance type
//! resolves to exactly the same launch specification as before. Worker types
//! that cannot be migrated faithfully are refused with a finding and left
//! alone. [`write`] then puts the prepared texts on disk, each file atomically.

mod derive;
pub(crate) mod write;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::check;
use crate::config::model::{AmiEntry, Arch, WorkerType};
use crate::config::{Config, Content, InputFile, Inputs, Limits, edit};
use crate::diag::{Code, Finding, Report, did_you_mean};
use crate::resolve::{self, TypeCatalog};

pub use derive::{ImageFact, ImageFacts, NoImageFacts};
use derive::{base_id, derive_entries, unique_id};
pub use write::{WriteError, write};

/// Which worker types to migrate.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only these worker types; every worker type when empty.
    pub worker_types: Vec<String>,
}

/// A new AMI set the migration creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSet {
    pub id: String,
    /// The worker types switched to it, sorted.
    pub workers: Vec<String>,
    pub entries: Vec<AmiEntry>,
}

/// One file the migration writes: `before` is `None` for a new file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// Path relative to the config directory.
    pub path: String,
    pub before: Option<String>,
    pub after: String,
}

/// Everything a migration would do, prepared and verified but not yet written.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub sets: Vec<NewSet>,
    /// New AMI set files first, then the worker types they are deployed to.
    pub changes: Vec<FileChange>,
    /// Why worker types were refused (errors), with the sources they point into.
    pub report: Report,
}

impl Plan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// A unified diff of every change, `a/` and `b/` prefixed like `git diff`.
    pub fn unified_diff(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            let before = change.before.as_deref().unwrap_or("");
            let old = if change.before.is_some() {
                format!("a/{}", change.path)
            } else {
                "/dev/null".to_string()
            };
            let diff = similar::TextDiff::from_lines(before, change.after.as_str());
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&old, &format!("b/{}", change.path))
                    .to_string(),
            );
        }
        out
    }

    /// The config's inputs with every change applied.
    pub fn apply(&self, inputs: &Inputs) -> Inputs {
        let mut files: BTreeMap<String, InputFile> = inputs.files.iter().map(|f| (f.path.clone(), f.clone())).collect();
        for change in &self.changes {
            files.insert(
                change.path.clone(),
                InputFile {
                    path: change.path.clone(),
                    content: Content::Bytes(change.after.clone().into_bytes()),
                },
            );
        }
        Inputs {
            files: files.into_values().collect(),
        }
    }
}

/// Errors of the tool itself: a bad `--worker-type`, or a migration that
/// would not be faithful (a bug: nothing is written then).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("there is no worker type `{name}`{}", .help.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    UnknownWorkerType { name: String, help: Option<String> },
    #[error("internal error: the migration would change what is launched, so nothing was written: {0}")]
    NotFaithful(String),
}

/// Every resolved launch specification of a config, keyed by (worker type,
/// region, instance type), as canonical JSON with sorted keys (what `compile`
/// writes), or the reason it does not resolve.
pub fn launch_specs(config: &Config, catalog: &dyn TypeCatalog) -> BTreeMap<(String, String, String), Result<String, String>> {
    let mut out = BTreeMap::new();
    for wt in config.worker_types.values() {
        let set = wt.ami_set_id.as_deref().and_then(|id| config.ami_sets.get(id));
        for (i, result) in resolve::resolve_worker_type(wt, set, catalog).into_iter().enumerate() {
            let (ri, ti) = (i / wt.instance_types.len().max(1), i % wt.instance_types.len().max(1));
            let key = (
                wt.name.clone(),
                wt.regions.get(ri).map(|r| r.region.clone()).unwrap_or_default(),
                wt.instance_types.get(ti).map(|t| t.instance_type.clone()).unwrap_or_default(),
            );
            out.insert(
                key,
                result
                    .map(|r| canonical(&Json::Object(r.launch_spec)).to_string())
                    .map_err(|u| u.message),
            );
        }
    }
    out
}

/// `value` with every object's keys sorted, whatever order the map keeps.
fn canonical(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let sorted: BTreeMap<&String, Json> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Json::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Findings that stop the whole migration: a broken policy or directory
/// layout means the new files could not be checked against it.
fn blocks_everything(f: &Finding) -> bool {
    f.is_error() && matches!(f.file.as_deref(), None | Some("amiset.toml" | "ami-sets" | "worker-types"))
}

/// What `check` does offline, with instance type capabilities from `catalog`.
fn load_and_check(inputs: &Inputs, limits: &Limits, catalog: &dyn TypeCatalog) -> (Config, Report) {
    let (config, mut report) = crate::config::load(inputs, limits);
    report.findings.extend(check::check(&config, catalog));
    report.sort();
    (config, report)
}

/// An AMI set entry as a sortable tuple: (region, arch, hvm, pv).
type EntryKey = (String, Arch, Option<String>, Option<String>);

/// Plans the migration of a config repository's raw `ImageId`s. Pure: reads
/// nothing but `inputs`, writes nothing.
pub fn plan(
    inputs: &Inputs,
    limits: &Limits,
    catalog: &dyn TypeCatalog,
    images: &dyn ImageFacts,
    options: &Options,
) -> Result<Plan, MigrateError> {
    let (config, report) = load_and_check(inputs, limits, catalog);
    let mut out = Plan::default();
    out.report.sources = report.sources.clone();

    for name in &options.worker_types {
        if !config.worker_names.contains(name) {
            return Err(MigrateError::UnknownWorkerType {
                name: name.clone(),
                help: did_you_mean(name, config.worker_names.iter().map(String::as_str)),
            });
        }
    }
    let selected = |name: &str| options.worker_types.is_empty() || options.worker_types.iter().any(|n| n == name);

    let blockers: Vec<Finding> = report.findings.iter().filter(|f| blocks_everything(f)).cloned().collect();
    if !blockers.is_empty() {
        out.report.findings = blockers;
        out.report.findings.push(
            Finding::new(
                Code::MigrateBlocked,
                "nothing was migrated: the config repository has errors outside its worker types",
            )
            .help("fix the errors above, then run `amiset migrate` again"),
        );
        out.report.sort();
        return Ok(out);
    }

    // Worker types that need migrating, and why others cannot be.
    let mut candidates: Vec<(&WorkerType, Vec<AmiEntry>)> = Vec::new();
    for name in config.worker_names.iter().filter(|n| selected(n)) {
        let path = format!("worker-types/{name}.toml");
        let errors: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.is_error() && f.file.as_deref() == Some(path.as_str()) && f.code != Code::LegacyImageId)
            .collect();
        let wt = config.worker_types.get(name);
        let raw = raw_image_ids(&config, name, inputs);
        if !raw {
            continue;
        }
        if !errors.is_empty() || wt.is_none() {
            out.report.findings.extend(errors.into_iter().cloned());
            out.report.findings.push(
                Finding::new(
                    Code::MigrateBlocked,
                    format!("worker type `{name}` has errors, so it was not migrated"),
                )
                .in_file(&path)
                .help("fix its errors, then run `amiset migrate` again"),
            );
            continue;
        }
        let Some(wt) = wt else { continue };
        match derive_entries(&config, wt, catalog, images) {
            Ok(entries) => candidates.push((wt, entries)),
            Err(findings) => out.report.findings.extend(findings),
        }
    }

    // Worker types with identical entries share one set.
    let mut groups: BTreeMap<Vec<EntryKey>, (Vec<String>, Vec<AmiEntry>)> = BTreeMap::new();
    for (wt, entries) in candidates {
        let mut key: Vec<EntryKey> = entries
            .iter()
            .map(|e| (e.region.clone(), e.arch, e.hvm.clone(), e.pv.clone()))
            .collect();
        key.sort();
        let group = groups.entry(key).or_insert_with(|| (Vec::new(), entries));
        group.0.push(wt.name.clone());
    }
    let mut groups: Vec<(String, Vec<String>, Vec<AmiEntry>)> = groups
        .into_values()
        .map(|(workers, entries)| (base_id(&workers), workers, entries))
        .collect();
    groups.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut taken: BTreeSet<String> = config.set_ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    for (base, workers, entries) in groups {
        let id = unique_id(&base, &taken);
        taken.insert(id.to_ascii_lowercase());
        out.sets.push(NewSet { id, workers, entries });
    }

    // Prepare every text before anything is written.
    let mut set_changes = Vec::new();
    let mut worker_changes = Vec::new();
    for set in &out.sets {
        set_changes.push(FileChange {
            path: format!("ami-sets/{}.toml", set.id),
            before: None,
            after: edit::new_set_text(&set.workers, &set.entries),
        });
        for name in &set.workers {
            let path = format!("worker-types/{name}.toml");
            let before = text_of(inputs, &path).ok_or_else(|| MigrateError::NotFaithful(format!("`{path}` has no text")))?;
            let after = edit::switch_worker_type(&before, &set.id).map_err(|e| MigrateError::NotFaithful(format!("`{path}`: {e}")))?;
            worker_changes.push(FileChange {
                path,
                before: Some(before),
                after,
            });
        }
    }
    worker_changes.sort_by(|a, b| a.path.cmp(&b.path));
    out.changes = set_changes;
    out.changes.extend(worker_changes);
    out.report.sort();
    if !out.changes.is_empty() {
        verify(&config, &report, &out, inputs, limits, catalog)?;
    }
    Ok(out)
}

/// Whether a worker type file has a raw `ImageId` in some region (read from
/// the parsed document, so that worker types with schema errors count too).
fn raw_image_ids(config: &Config, name: &str, inputs: &Inputs) -> bool {
    match config.worker_doc(name) {
        Some(doc) => doc
            .root()
            .to_json()
            .get("regions")
            .and_then(Json::as_array)
            .is_some_and(|regions| regions.iter().any(|r| r.pointer("/launchSpec/ImageId").is_some())),
        // Unparsable: refuse it only if it may hold one.
        None => text_of(inputs, &format!("worker-types/{name}.toml")).is_some_and(|t| t.contains("ImageId")),
    }
}

fn text_of(inputs: &Inputs, path: &str) -> Option<String> {
    inputs.files.iter().find(|f| f.path == path).and_then(|f| match &f.content {
        Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    })
}

/// Proves a plan faithful before anything is written: every launch
/// specification resolves exactly as before, and no changed file has an error.
fn verify(
    before: &Config,
    before_report: &Report,
    plan: &Plan,
    inputs: &Inputs,
    limits: &Limits,
    catalog: &dyn TypeCatalog,
) -> Result<(), MigrateError> {
    let after_inputs = plan.apply(inputs);
    let (after, after_report) = load_and_check(&after_inputs, limits, catalog);
    let (old, new) = (launch_specs(before, catalog), launch_specs(&after, catalog));
    if let Some((key, value)) = old.iter().find(|(k, v)| new.get(*k) != Some(*v)) {
        return Err(MigrateError::NotFaithful(format!(
            "{} {} {}: {:?} would become {:?}",
            key.0,
            key.1,
            key.2,
            value,
            new.get(key)
        )));
    }
    if let Some(extra) = new.keys().find(|k| !old.contains_key(*k)) {
        return Err(MigrateError::NotFaithful(format!("{extra:?} would be new")));
    }
    let changed: BTreeSet<&str> = plan.changes.iter().map(|c| c.path.as_str()).collect();
    let before_errors = before_report.errors();
    if let Some(f) = after_report
        .findings
        .iter()
        .find(|f| f.is_error() && f.file.as_deref().is_some_and(|p| changed.contains(p)))
    {
        return Err(MigrateError::NotFaithful(format!("{}: {}", f.code.as_str(), f.message)));
    }
    // Unchanged files keep their findings; new errors elsewhere would be a bug too.
    let legacy = |r: &Report| r.findings.iter().filter(|f| f.is_error() && f.code == Code::LegacyImageId).count();
    if after_report.errors() - legacy(&after_report) > before_errors - legacy(before_report) {
        return Err(MigrateError::NotFaithful("the migrated config has new errors".into()));
    }
    Ok(())
}
