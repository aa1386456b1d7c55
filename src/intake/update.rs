//! `amiset update` (DESIGN §9), pure: which regions to ask for which names
//! ([`queries`]), then, from EC2's answers, the decision for every set with
//! a `[source]`, the edited set files, and the findings that explain what
//! was left alone ([`plan`]). Nothing is planned over a repository whose
//! files do not load cleanly or whose `[source]` tables have errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::select::{self, Decision, Outcome};
use crate::check;
use crate::config::edit::set_ami_ids;
use crate::config::source::{kinds, owners};
use crate::config::{self, AmiSet, Config, Content, InputFile, Inputs, Limits};
use crate::diag::{Code, Finding, Report};
use crate::ec2::images::{Found, Query};
use crate::migrate::FileChange;

/// Why `update` cannot run at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no AMI set `{0}`{1}")]
    UnknownSet(String, String),
    #[error("AMI set `{0}` has no `[source]` table; `update` does not know where its images come from")]
    NoSource(String),
}

/// The sets to update: those named (each must exist and have a `[source]`),
/// else every set with a `[source]`.
pub fn selected<'a>(config: &'a Config, only: &[String]) -> Result<Vec<&'a AmiSet>, UpdateError> {
    if only.is_empty() {
        return Ok(config.ami_sets.values().filter(|s| s.source.is_some()).collect());
    }
    let mut out = Vec::new();
    for id in only {
        let Some(set) = config.ami_sets.get(id) else {
            let hint = crate::diag::did_you_mean(id, config.set_ids.iter().map(String::as_str))
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return Err(UpdateError::UnknownSet(id.clone(), hint));
        };
        if set.source.is_none() {
            return Err(UpdateError::NoSource(id.clone()));
        }
        if !out.iter().any(|s: &&AmiSet| s.id == set.id) {
            out.push(set);
        }
    }
    Ok(out)
}

/// One DescribeImages query per region: the union of the owners and name
/// patterns of every selected set that has an entry there.
pub fn queries(config: &Config, sets: &[&AmiSet]) -> BTreeMap<String, Query> {
    let mut acc: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for set in sets {
        let Some(source) = &set.source else { continue };
        let who = owners(source, &config.policy).unwrap_or_default();
        let names: Vec<&str> = kinds(set).into_iter().filter_map(|(a, v)| source.name.pattern(a, v)).collect();
        for entry in &set.amis {
            let (o, n) = acc.entry(entry.region.clone()).or_default();
            o.extend(who.iter().cloned());
            n.extend(names.iter().map(|s| s.to_string()));
        }
    }
    acc.into_iter()
        .filter(|(_, (o, _))| !o.is_empty())
        .map(|(r, (o, n))| {
            (
                r,
                Query {
                    owners: o.into_iter().collect(),
                    names: n.into_iter().collect(),
                },
            )
        })
        .collect()
}

/// The decision for one set.
#[derive(Clone, Debug, Serialize)]
pub struct SetPlan {
    pub id: String,
    #[serde(flatten)]
    pub decision: Decision,
}

/// Everything `update` would do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub sets: Vec<SetPlan>,
    /// Edited set files, in id order.
    pub changes: Vec<FileChange>,
    /// The config before and after, for the diff of resolved launch specs.
    pub before: Config,
    pub after: Config,
    /// The findings of `check` on the result, and `update::*` findings.
    pub report: Report,
    /// Whether the repository was refused before any decision (load or `[source]` errors).
    pub refused: bool,
}

/// Whether a finding comes from loading a file or from a `[source]` table:
/// with any of these, `update` edits nothing.
pub fn blocks(f: &Finding) -> bool {
    let concern = f.code.as_str().split("::").next().unwrap_or_default();
    f.is_error() && matches!(concern, "limits" | "file" | "parse" | "schema" | "source")
}

/// Plans an update of `only` (or every set with a `[source]`) from `found`,
/// at `now`. `checked` is `check::run` of `inputs` (the caller has it
/// already, to decide whether EC2 is worth asking); the edited files are
/// checked once more, and only when something changes.
pub fn plan(
    inputs: &Inputs,
    checked: (Config, Report),
    limits: &Limits,
    only: &[String],
    found: &Found,
    now: i64,
) -> Result<Plan, UpdateError> {
    let (before, report) = checked;
    let sets = selected(&before, only)?;
    if report.findings.iter().any(blocks) {
        return Ok(Plan {
            before: before.clone(),
            after: before,
            report,
            refused: true,
            ..Plan::default()
        });
    }
    let index = select::Index::new(found);
    let mut findings = Vec::new();
    let mut plans = Vec::new();
    let mut changes = Vec::new();
    for set in sets {
        let Some(source) = &set.source else { continue };
        let decision = select::decide(set, source, &before.policy, &index, now);
        let path = format!("ami-sets/{}.toml", set.id);
        let doc = before.set_doc(&set.id);
        let at = |f: Finding, pointer: &str| match doc {
            Some(doc) => f.at(&path, doc.span_of_key(pointer)),
            None => f.in_file(&path),
        };
        let on = match &decision.outcome {
            Outcome::Update { to, .. } => format!("takes build `{to}`: newer build"),
            Outcome::Current { build } | Outcome::Newer { build, .. } => format!("stays on build `{build}`: newer build"),
            _ => "keeps its AMIs: build".to_string(),
        };
        for inc in &decision.incomplete {
            let f = Finding::new(
                Code::IncompleteBuild,
                format!(
                    "AMI set `{}` {on} `{}` is missing in {}",
                    set.id,
                    inc.build,
                    inc.regions().join(", ")
                ),
            )
            .label("no complete build of this pattern")
            .help(format!(
                "copy the build to every region of the set; missing: {}",
                inc.missing.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ));
            findings.push(at(f, "/source/name"));
        }
        if let Outcome::Unreadable { regions } = &decision.outcome {
            let why: Vec<String> = regions
                .iter()
                .map(|r| match found.get(r) {
                    Some(Err(e)) => format!("{r}: {e}"),
                    _ => format!("{r}: not asked"),
                })
                .collect();
            let f = Finding::new(
                Code::RegionUnreadable,
                format!(
                    "AMI set `{}` is left unchanged: EC2 could not be read in {}",
                    set.id,
                    regions.join(", ")
                ),
            )
            .label("not updated")
            .help(format!("run `amiset update` again; {}", why.join("; ")));
            findings.push(at(f, "/source"));
        }
        if let Outcome::Update { picks, .. } = &decision.outcome
            && let Some(text) = text_of(inputs, &path)
        {
            let edits: Vec<(&str, config::Arch, config::Virt, &str)> = picks
                .iter()
                .map(|p| (p.key.region.as_str(), p.key.arch, p.key.virt, p.new.id.as_str()))
                .collect();
            // The file loaded and its entries are those the edit looks for; a failure here is a bug, reported as a refusal.
            match set_ami_ids(&text, &edits) {
                Ok(after) if after != text => changes.push(FileChange {
                    path: path.clone(),
                    before: Some(text),
                    after,
                }),
                Ok(_) => {}
                Err(e) => findings.push(
                    Finding::new(
                        Code::UpdateEditFailed,
                        format!("AMI set `{}` is left unchanged: cannot edit it: {e}", set.id),
                    )
                    .in_file(&path),
                ),
            }
        }
        plans.push(SetPlan {
            id: set.id.clone(),
            decision,
        });
    }
    let (after, mut report) = if changes.is_empty() {
        (before.clone(), report)
    } else {
        check::run(&apply(inputs, &changes), limits)
    };
    report.findings.extend(findings);
    report.sort();
    Ok(Plan {
        sets: plans,
        changes,
        before,
        after,
        report,
        refused: false,
    })
}

/// The text of a config file, when it is a readable UTF-8 file.
fn text_of(inputs: &Inputs, path: &str) -> Option<String> {
    inputs.files.iter().find(|f| f.path == path).and_then(|f| match &f.content {
        Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    })
}

/// `inputs` with `changes` applied.
pub fn apply(inputs: &Inputs, changes: &[FileChange]) -> Inputs {
    let mut out = inputs.clone();
    for change in changes {
        let content = Content::Bytes(change.after.clone().into_bytes());
        match out.files.iter_mut().find(|f| f.path == change.path) {
            Some(f) => f.content = content,
            None => out.files.push(InputFile {
                path: change.path.clone(),
                content,
            }),
        }
    }
    out
}

/// One line per set: what happened to it.
pub fn summary(plan: &Plan, dry_run: bool) -> String {
    let mut out = String::new();
    for s in &plan.sets {
        let line = match &s.decision.outcome {
            Outcome::Update { from, to, picks } => format!(
                "{} `{}`: {} → `{to}` ({} AMI{})",
                if dry_run { "would update" } else { "updated" },
                s.id,
                from.as_deref().map_or("unknown build".to_string(), |f| format!("`{f}`")),
                picks.len(),
                if picks.len() == 1 { "" } else { "s" }
            ),
            Outcome::Current { build } => format!("`{}` is on the newest complete build `{build}`", s.id),
            Outcome::Newer { build, newest_complete } => {
                format!(
                    "`{}` stays on `{build}`, newer than the newest complete build `{newest_complete}`",
                    s.id
                )
            }
            Outcome::NoCompleteBuild => format!("`{}` unchanged: no complete build", s.id),
            Outcome::Unreadable { regions } => format!("`{}` unchanged: cannot read {}", s.id, regions.join(", ")),
        };
        let _ = writeln!(out, "{}", crate::report::sanitize(&line));
        for b in &s.decision.too_young {
            let _ = writeln!(
                out,
                "  build `{}` is complete but younger than `minAge`",
                crate::report::sanitize(b)
            );
        }
    }
    out
}

fn md(s: &str) -> String {
    crate::report::sanitize(s)
        .replace('\n', " ")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
}

/// A pull-request body: per updated set, old → new build and per-key ids
/// with image names and creation dates; then the worker types and launch
/// specs that change (the `diff` of the resolved config); then what was left alone.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let updated: Vec<&SetPlan> = plan
        .sets
        .iter()
        .filter(|s| matches!(s.decision.outcome, Outcome::Update { .. }))
        .collect();
    let _ = writeln!(
        out,
        "**amiset update**: {} AMI set{} take{} a new build.\n",
        updated.len(),
        if updated.len() == 1 { "" } else { "s" },
        if updated.len() == 1 { "s" } else { "" }
    );
    for s in &updated {
        let Outcome::Update { from, to, picks } = &s.decision.outcome else {
            continue;
        };
        let from = from.as_deref().map_or("(unknown build)".to_string(), |f| format!("`{}`", md(f)));
        let _ = writeln!(out, "### `{}`: {from} → `{}`\n", md(&s.id), md(to));
        let _ = writeln!(out, "| region | arch | virt | old | new | image name | created |");
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
        for p in picks {
            let _ = writeln!(
                out,
                "| {} | {} | {} | `{}` | `{}` | {} | {} |",
                md(&p.key.region),
                p.key.arch.as_str(),
                p.key.virt.as_str(),
                md(&p.old),
                md(&p.new.id),
                md(&p.new.name),
                md(p.new.creation_date.as_deref().unwrap_or("?"))
            );
        }
        out.push('\n');
    }
    let d = crate::diff::diff(&plan.before, &plan.after, &crate::resolve::Builtin);
    let body = crate::diff::markdown(&d, 200);
    if !body.is_empty() {
        let _ = writeln!(out, "#### Worker types and launch specs that change\n\n{body}");
    }
    let kept: Vec<&Finding> = plan
        .report
        .findings
        .iter()
        .filter(|f| matches!(f.code, Code::IncompleteBuild | Code::RegionUnreadable | Code::UpdateEditFailed))
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(out, "#### Left alone\n");
        for f in kept {
            let _ = writeln!(out, "- {}", md(&f.message));
        }
    }
    out
}
