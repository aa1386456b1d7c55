//! Authorization of a change (DESIGN §4): which scopes a change between two
//! revisions needs, and whether an author holds them.
//!
//! Everything is read from Git objects, never the work tree. `SCOPES` and
//! `amiset.toml` come from the **base** revision only, so a change can never
//! grant itself anything. The change is `merge-base(base, head)..head`:
//! commits that landed on the base branch after the branch point are not the
//! pull request's doing and need nothing from its author.

mod protected;

use std::collections::{BTreeMap, BTreeSet};

use git2::{Oid, Repository};
use serde::Serialize;

use crate::config::{self, Config, InputFile, Inputs, Limits, Policy, is_valid_id};
use crate::diag::{Code, Finding, Report, Severity};
use crate::git::{self, GitError};
use crate::scopes::{self, Scopes};

pub use protected::{InvalidPattern, ProtectedPaths};

/// Where a requirement is satisfied in `SCOPES`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SatisfiedBy {
    pub file: String,
    pub line: usize,
    pub pattern: String,
}

/// One scope the change needs, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub scope: String,
    /// The file and change that need it, e.g. `ami-sets/x.toml modified`.
    pub because: String,
    /// `None`: the author does not hold it.
    pub satisfied_by: Option<SatisfiedBy>,
    /// File (relative to the config directory) the finding for a missing scope points at.
    #[serde(skip)]
    file: String,
    #[serde(skip)]
    span: Option<std::ops::Range<usize>>,
}

/// The decision and everything that led to it.
#[derive(Clone, Debug)]
pub struct Decision {
    pub authorized: bool,
    pub author: String,
    pub required: Vec<Requirement>,
    /// Findings: malformed files on either side, and one `scope::missing` per missing scope.
    pub report: Report,
}

/// What to authorize.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub base: &'a str,
    pub head: &'a str,
    pub author: &'a str,
    /// Config directory relative to the repository root (`""` for the root).
    pub dir: &'a str,
    pub limits: Limits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    Added,
    Modified,
    Deleted,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Modified => "modified",
            Change::Deleted => "deleted",
        }
    }
}

/// Loads the given paths of one side of the change through the normal config loader.
fn load_paths(
    repo: &Repository,
    entries: &BTreeMap<String, (Oid, i32)>,
    paths: &[&String],
    limits: &Limits,
) -> Result<(Config, Report), GitError> {
    let mut files = Vec::new();
    for path in paths {
        if let Some((id, mode)) = entries.get(*path) {
            files.push(InputFile {
                path: path.to_string(),
                content: git::content_of(repo, *id, *mode, limits)?,
            });
        }
    }
    Ok(config::load(&Inputs { files }, limits))
}

/// Decides whether `request.author` may make the change `base..head`.
pub fn authorize(repo: &Repository, request: &Request<'_>) -> Result<Decision, GitError> {
    let base_id = git::commit_id(repo, request.base)?;
    let head_id = git::commit_id(repo, request.head)?;
    let merge_base = repo.merge_base(base_id, head_id).map_err(|source| GitError::Revision {
        rev: format!("merge-base({}, {})", request.base, request.head),
        source,
    })?;
    let tree = |id: Oid| repo.find_commit(id).and_then(|c| c.tree());
    let (base_tree, old_tree, new_tree) = (tree(base_id)?, tree(merge_base)?, tree(head_id)?);
    let limits = &request.limits;
    let mut report = Report::default();

    // Policy and grants: from the base revision only.
    let base_entries = git::config_entries(repo, &base_tree, request.dir)?;
    let policy_paths: Vec<&String> = base_entries
        .keys()
        .filter(|p| config::TOP_LEVEL_FILES.contains(&p.as_str()) && p.as_str() != crate::offerings::FILE)
        .collect();
    let (base_config, base_report) = load_paths(repo, &base_entries, &policy_paths, limits)?;
    report.extend(base_report);
    let policy = base_config.policy.clone();
    let grants = match &base_config.scopes_source {
        Some(text) => {
            let (grants, findings) = scopes::parse("SCOPES", text, &policy);
            report.findings.extend(findings);
            grants
        }
        None => Scopes::default(),
    };
    for finding in &mut report.findings {
        finding.message = format!("{} (in the base revision)", finding.message);
        // A broken policy or SCOPES on the base side makes every decision unsafe.
        finding.severity = Severity::Error;
    }

    // The change.
    let old = git::config_entries(repo, &old_tree, request.dir)?;
    let new = git::config_entries(repo, &new_tree, request.dir)?;
    let mut changes: Vec<(&String, Change)> = Vec::new();
    for (path, entry) in &new {
        match old.get(path) {
            None => changes.push((path, Change::Added)),
            Some(o) if o != entry => changes.push((path, Change::Modified)),
            _ => {}
        }
    }
    changes.extend(old.keys().filter(|p| !new.contains_key(*p)).map(|p| (p, Change::Deleted)));
    changes.sort();

    // SCOPES and amiset.toml of the head side are never read: changing them needs the admin scope.
    let changed: Vec<&String> = changes
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !config::TOP_LEVEL_FILES.contains(&p.as_str()))
        .collect();
    let (old_config, old_report) = load_paths(repo, &old, &changed, limits)?;
    let (new_config, new_report) = load_paths(repo, &new, &changed, limits)?;
    // The merge-base side only tells what a worker type had before; when it
    // cannot be read, every scope and set of the new side counts as new.
    for f in old_report.findings {
        report.findings.push(
            Finding::new(f.code, format!("{} (at the merge base)", f.message))
                .in_file(f.file.unwrap_or_default())
                .severity(Severity::Warning)
                .help("the old version cannot be read, so everything in the new one counts as added"),
        );
    }
    let new_sources = new_report.sources.clone();
    report.findings.extend(new_report.findings);
    for (path, text) in new_sources {
        report.sources.entry(path).or_insert(text);
    }
    case_collisions(&new, &changes, &mut report);

    let mut required = Vec::new();
    let mut need = |scope: String, because: String, file: &str, span: Option<std::ops::Range<usize>>| {
        required.push(Requirement {
            scope,
            because,
            satisfied_by: None,
            file: file.to_string(),
            span,
        })
    };
    for (path, change) in &changes {
        let because = format!("{path} {}", change.as_str());
        if config::TOP_LEVEL_FILES.contains(&path.as_str()) {
            need(policy.admin_scope(), because, path, None);
            continue;
        }
        let Some((dir, name)) = path.split_once('/') else {
            // `ami-sets` or `worker-types` replaced by something that is not a directory.
            need(policy.admin_scope(), because, path, None);
            continue;
        };
        let Some(stem) = name.strip_suffix(".toml").filter(|s| is_valid_id(s)) else {
            need(policy.admin_scope(), format!("{because} (not a valid {dir} file name)"), path, None);
            continue;
        };
        if dir == "ami-sets" {
            need(policy.manage_ami_set(stem), because, path, None);
            continue;
        }
        need(policy.manage_worker_type(stem), because, path, None);
        if *change == Change::Deleted {
            continue;
        }
        let before = old_config.worker_types.get(stem);
        let Some(after) = new_config.worker_types.get(stem) else {
            continue; // Unreadable: reported as an error above.
        };
        let doc = new_config.worker_doc(stem);
        if let Some(set) = &after.ami_set_id
            && before.and_then(|b| b.ami_set_id.as_ref()) != Some(set)
        {
            let why = match change {
                Change::Added => format!("{path} added with amiSetId `{set}`"),
                _ => format!("{path} modified: amiSetId became `{set}`"),
            };
            need(policy.deploy_ami_set(set), why, path, doc.map(|d| d.span_of_value("/amiSetId")));
        }
        let held_before: BTreeSet<&String> = before.map(|b| b.scopes.iter().collect()).unwrap_or_default();
        for (i, scope) in after.scopes.iter().enumerate() {
            if !held_before.contains(scope) {
                let why = format!("{path} grants `{scope}` to its workers");
                need(scope.clone(), why, path, doc.map(|d| d.span_of_value(&format!("/scopes/{i}"))));
            }
        }
    }
    match ProtectedPaths::new(&policy.protected_paths()) {
        Ok(protected) => {
            for (path, change) in protected_changes(repo, &old_tree, &new_tree, &protected)? {
                let pattern = protected.matching(&path).unwrap_or_default();
                let because = format!("{path} {} (protected path `{pattern}`)", change.as_str());
                need(policy.admin_scope(), because, &relative_to_dir(request.dir, &path), None);
            }
        }
        Err(invalid) => report.findings.push(invalid_protected_path(&base_config, &invalid, true)),
    }
    required.dedup_by(|a, b| a.scope == b.scope && a.because == b.because);

    for req in &mut required {
        req.satisfied_by = grants.satisfying(request.author, &req.scope, &policy).map(|g| SatisfiedBy {
            file: "SCOPES".into(),
            line: g.line,
            pattern: g.pattern.clone(),
        });
        if req.satisfied_by.is_none() {
            let mut finding = Finding::new(
                Code::ScopeMissing,
                format!("`{}` does not hold `{}`, needed because {}", request.author, req.scope, req.because),
            )
            .help(closest_grants(&grants, request.author, &req.scope, &policy));
            finding = match &req.span {
                Some(span) => finding.at(&req.file, span.clone()).label("needs this scope"),
                None => finding.in_file(&req.file),
            };
            report.findings.push(finding);
        }
    }
    report.sort();
    let authorized = report.errors() == 0 && required.iter().all(|r| r.satisfied_by.is_some());
    Ok(Decision {
        authorized,
        author: request.author.to_string(),
        required,
        report,
    })
}

/// Every path of the whole repository that changed between `old` and `new`
/// (both sides of a rename, a mode change, a submodule) and is protected.
fn protected_changes(
    repo: &Repository,
    old: &git2::Tree<'_>,
    new: &git2::Tree<'_>,
    protected: &ProtectedPaths,
) -> Result<Vec<(String, Change)>, GitError> {
    let diff = repo.diff_tree_to_tree(Some(old), Some(new), None)?;
    let mut out = BTreeSet::new();
    for delta in diff.deltas() {
        let change = match delta.status() {
            git2::Delta::Added => Change::Added,
            git2::Delta::Deleted => Change::Deleted,
            _ => Change::Modified,
        };
        for file in [delta.old_file(), delta.new_file()] {
            // Git paths are bytes; a name that is not UTF-8 is matched by its lossy form.
            let Some(path) = file.path_bytes().map(|b| String::from_utf8_lossy(b).into_owned()) else {
                continue;
            };
            if protected.matching(&path).is_some() {
                out.insert((path, change));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// `path` (from the repository root) relative to the config directory `dir`.
fn relative_to_dir(dir: &str, path: &str) -> String {
    let dir = git::normalize_dir(dir);
    if dir.is_empty() {
        return path.to_string();
    }
    match path.strip_prefix(&format!("{dir}/")) {
        Some(inside) => inside.to_string(),
        None => format!("{}{path}", "../".repeat(dir.split('/').count())),
    }
}

/// The finding for a `protectedPaths` pattern that does not compile, at its
/// place in `amiset.toml`; `base` says it was read from the base revision.
pub fn invalid_protected_path(config: &Config, invalid: &InvalidPattern, base: bool) -> Finding {
    let mut f = Finding::new(
        Code::InvalidProtectedPath,
        format!(
            "protected path pattern `{}` is invalid: {}{}",
            invalid.pattern,
            invalid.reason,
            if base { " (in the base revision)" } else { "" }
        ),
    )
    .label("invalid pattern")
    .help(
        "patterns are globs from the repository root, e.g. `.github/**` or `deploy/*.yml`; fix the pattern, or nothing can be authorized",
    );
    f = match &config.policy_doc {
        Some(doc) => f.at("amiset.toml", doc.span_of_value(&format!("/protectedPaths/{}", invalid.index))),
        None => f.in_file("amiset.toml"),
    };
    f
}

/// A changed file whose name differs only by case from another file of the new side.
fn case_collisions(new: &BTreeMap<String, (Oid, i32)>, changes: &[(&String, Change)], report: &mut Report) {
    let mut by_lower: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for path in new.keys() {
        by_lower.entry(path.to_ascii_lowercase()).or_default().push(path);
    }
    for (path, change) in changes {
        if *change == Change::Deleted {
            continue;
        }
        if let Some(others) = by_lower.get(&path.to_ascii_lowercase())
            && let Some(other) = others.iter().find(|o| **o != *path)
        {
            report.findings.push(
                Finding::new(Code::CaseCollision, format!("`{path}` and `{other}` differ only by case"))
                    .in_file(path.as_str())
                    .help("they collide on case-insensitive file systems; rename one"),
            );
        }
    }
}

/// Help for a missing scope: the author's grants closest to it.
fn closest_grants(grants: &Scopes, author: &str, scope: &str, policy: &Policy) -> String {
    let mut held: Vec<(usize, String)> = grants
        .grants_of(author, policy)
        .map(|g| {
            (
                strsim::levenshtein(&g.pattern, scope),
                format!("`{}` (SCOPES:{})", g.pattern, g.line),
            )
        })
        .collect();
    held.sort();
    held.dedup();
    if held.is_empty() {
        format!("`{author}` holds no scopes in SCOPES at the base revision; ask an owner of `{scope}` to make this change or to grant it")
    } else {
        let closest: Vec<String> = held.into_iter().take(3).map(|(_, g)| g).collect();
        format!("closest grants held: {}", closest.join(", "))
    }
}

impl Decision {
    /// The `--format json` document of DESIGN §4.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "authorized": self.authorized,
            "author": self.author,
            "required": self.required,
            "findings": self.report.located(),
        })
    }

    /// A plain-text table: one line per required scope with the SCOPES line that satisfies it or `missing`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self.required.iter().map(|r| r.scope.len()).max().unwrap_or(0);
        for r in &self.required {
            let status = match &r.satisfied_by {
                Some(s) => format!("ok       {}:{} `{}`", s.file, s.line, s.pattern),
                None => "MISSING".to_string(),
            };
            out.push_str(&format!("{:width$}  {status}\n    because {}\n", r.scope, r.because));
        }
        if self.required.is_empty() {
            out.push_str("the change needs no scopes\n");
        }
        out.push_str(&format!(
            "{}: `{}` {} authorized\n",
            if self.authorized { "ok" } else { "error" },
            self.author,
            if self.authorized { "is" } else { "is not" }
        ));
        out
    }
}
