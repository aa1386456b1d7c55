//! `amiset promote FROM TO` (DESIGN §9), pure: set TO takes, for each of its
//! own (region, arch, hvm/pv), the AMI that set FROM holds there, and FROM's
//! `[workerConfig]` (worker config belongs to the images: DESIGN §10). When
//! FROM lacks any of TO's keys nothing is planned, and each gap is a
//! `promote::missing-key` finding on TO's entry.

use std::collections::BTreeMap;

use super::select::{Key, keys};
use crate::config::edit::{set_ami_ids, set_worker_config};
use crate::config::{self, Arch, Config, Content, Inputs, Limits, Virt};
use crate::diag::{Code, Finding, Report};
use crate::migrate::FileChange;

/// Why `promote` cannot run at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no AMI set `{0}`{1}")]
    UnknownSet(String, String),
    #[error("`{0}` is promoted to itself")]
    Same(String),
}

/// The edit of TO, or why there is none.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// TO's file, when it changes.
    pub change: Option<FileChange>,
    /// Keys whose AMI changes: (key, old, new).
    pub moves: Vec<(Key, String, String)>,
    /// Whether TO's `workerConfig` changes (to FROM's, or away when FROM has none).
    pub worker_config: bool,
    pub report: Report,
}

fn set_or_err<'a>(config: &'a Config, id: &str) -> Result<Option<&'a config::AmiSet>, PromoteError> {
    if !config.set_ids.contains(id) {
        let hint = crate::diag::did_you_mean(id, config.set_ids.iter().map(String::as_str))
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        return Err(PromoteError::UnknownSet(id.to_string(), hint));
    }
    Ok(config.ami_sets.get(id))
}

/// Plans copying FROM's AMIs into TO.
pub fn plan(inputs: &Inputs, limits: &Limits, from: &str, to: &str) -> Result<Plan, PromoteError> {
    let (config, mut report) = config::load(inputs, limits);
    if from == to {
        return Err(PromoteError::Same(from.to_string()));
    }
    let (src, dst) = (set_or_err(&config, from)?, set_or_err(&config, to)?);
    let (Some(src), Some(dst)) = (src, dst) else {
        // One of the files did not load: its findings say why; nothing is written.
        report.findings.retain(|f| {
            f.file
                .as_deref()
                .is_some_and(|p| p == format!("ami-sets/{from}.toml") || p == format!("ami-sets/{to}.toml"))
        });
        report.sort();
        return Ok(Plan { report, ..Plan::default() });
    };
    let source: BTreeMap<Key, String> = keys(src).into_iter().collect();
    let path = format!("ami-sets/{to}.toml");
    let doc = config.set_doc(to);
    let mut moves = Vec::new();
    let mut missing = Vec::new();
    for (i, entry) in dst.amis.iter().enumerate() {
        for virt in [Virt::Hvm, Virt::Pv] {
            let Some(old) = entry.ami(virt) else { continue };
            let key = super::select::Key {
                region: entry.region.clone(),
                arch: entry.arch,
                virt,
            };
            match source.get(&key) {
                // A revoked AMI is never promoted (check would refuse the result).
                Some(new)
                    if new != old
                        && let Some(reason) = config.policy.revoked_reason(new) =>
                {
                    let from_path = format!("ami-sets/{from}.toml");
                    let f = Finding::new(
                        Code::RevokedAmi,
                        format!("`{new}` of AMI set `{from}` ({key}) is revoked: {reason}; nothing was promoted"),
                    )
                    .label("revoked AMI")
                    .help(format!("replace it in `{from}` with a patched AMI first"));
                    let at = src.amis.iter().position(|e| e.ami(virt) == Some(new.as_str()));
                    missing.push(match (config.set_doc(from), at) {
                        (Some(d), Some(j)) => f.at(&from_path, d.span_of_value(&format!("/amis/{j}/{}", virt.as_str()))),
                        _ => f.in_file(&from_path),
                    });
                }
                Some(new) if new != old => moves.push((key, old.to_string(), new.clone())),
                Some(_) => {}
                None => {
                    let f = Finding::new(
                        Code::PromoteMissingKey,
                        format!("AMI set `{from}` has no AMI for {key}, which `{to}` holds; nothing was promoted"),
                    )
                    .label(format!("`{from}` has nothing for this"))
                    .help(format!("add {key} to `{from}` first, or remove it from `{to}`"));
                    let pointer = format!("/amis/{i}/{}", virt.as_str());
                    missing.push(match doc {
                        Some(doc) => f.at(&path, doc.span_of_value(&pointer)),
                        None => f.in_file(&path),
                    });
                }
            }
        }
    }
    let mut out = Plan::default();
    out.report.sources = report.sources;
    if !missing.is_empty() {
        out.report.findings = missing;
        out.report.sort();
        return Ok(out);
    }
    let text_of = |path: &str| {
        inputs.files.iter().find(|f| f.path == path).and_then(|f| match &f.content {
            Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        })
    };
    let worker_config = src.worker_config != dst.worker_config;
    if let (Some(text), true) = (text_of(&path), !moves.is_empty() || worker_config) {
        let edits: Vec<(&str, Arch, Virt, &str)> = moves
            .iter()
            .map(|(k, _, new)| (k.region.as_str(), k.arch, k.virt, new.as_str()))
            .collect();
        let from_text = text_of(&format!("ami-sets/{from}.toml")).unwrap_or_default();
        let edited = set_ami_ids(&text, &edits).and_then(|after| match worker_config {
            true => set_worker_config(&after, &from_text),
            false => Ok(after),
        });
        match edited {
            Ok(after) => {
                out.change = Some(FileChange {
                    path,
                    before: Some(text),
                    after,
                })
            }
            Err(e) => out
                .report
                .findings
                .push(Finding::new(Code::PromoteEditFailed, format!("AMI set `{to}` cannot be edited: {e}")).in_file(&path)),
        }
    }
    out.worker_config = worker_config;
    out.moves = moves;
    Ok(out)
}
