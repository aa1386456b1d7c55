//! Authorization of a change (DESIGN §4): which scopes merging a change
//! needs, and whether every author holds them.
//!
//! Everything is read from Git objects, never the work tree. `SCOPES` and
//! `amiset.toml` come from the **base** revision only, so a change can never
//! grant itself anything. What is judged is the merge result: `head` merged
//! into `base` as `git merge` would (a virtual merge base when the history
//! has several, renames detected), or an existing merge commit
//! (`--merged`), diffed against `base`. Commits that landed on the base
//! branch after the branch point are in both trees and need nothing; a
//! change that reverts one of them (a criss-cross merge can hide that from
//! a diff against one merge base) shows in the merge result.

mod privileged;
mod protected;

use std::collections::{BTreeMap, BTreeSet};

use git2::{Oid, Repository};
use serde::Serialize;

use crate::config::{self, Config, InputFile, Inputs, Limits, Policy, is_valid_id};
use crate::diag::{Code, Finding, Report, Severity};
use crate::git::{self, GitError};
use crate::scopes::{self, Scopes};

pub use privileged::{NewPrivilegedValue, check_privileged_table, new_privileged_values};
pub use protected::{InvalidPattern, ProtectedPaths};

/// Where a requirement is satisfied in `SCOPES`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SatisfiedBy {
    pub file: String,
    pub line: usize,
    pub pattern: String,
}

/// One scope the change needs, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub scope: String,
    /// The file and change that need it, e.g. `ami-sets/x.toml modified`.
    pub because: String,
    /// Per author, in the order given: the grant that satisfies it, `None` when that author does not hold it.
    pub satisfied_by: Vec<(String, Option<SatisfiedBy>)>,
    /// File (relative to the config directory) the finding for a missing scope points at.
    file: String,
    span: Option<std::ops::Range<usize>>,
}

impl Requirement {
    /// Whether every author holds the scope.
    pub fn satisfied(&self) -> bool {
        self.satisfied_by.iter().all(|(_, s)| s.is_some())
    }
}

/// The decision and everything that led to it.
#[derive(Clone, Debug)]
pub struct Decision {
    pub authorized: bool,
    /// Every identity judged; each must hold every required scope.
    pub authors: Vec<String>,
    pub required: Vec<Requirement>,
    /// Findings: malformed files on either side, a merge conflict, and one `scope::missing` per author and missing scope.
    pub report: Report,
}

/// The change to judge.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// Merge this revision into the base, as `git merge` would, and judge the result.
    Head(&'a str),
    /// Judge this existing merge commit: its first parent must be the base, and it must have exactly two parents.
    Merged(&'a str),
}

/// What to authorize.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub base: &'a str,
    pub target: Target<'a>,
    /// Everyone who touched the change (the pull request's author, the pusher); each must hold every scope.
    pub authors: &'a [String],
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

/// The tree the change would produce, or the paths where merging conflicts.
enum Merged {
    Tree(Oid),
    Conflicts(Vec<String>),
}

/// Merges `target` into `base_id` as `git merge` does (libgit2 builds a
/// virtual merge base when there are several, and detects renames), or
/// takes the tree of an existing merge commit whose first parent is the base.
fn merge_result(repo: &Repository, base_id: Oid, base: &str, target: Target<'_>) -> Result<Merged, GitError> {
    match target {
        Target::Head(head) => {
            let head_id = git::commit_id(repo, head)?;
            let (ours, theirs) = (repo.find_commit(base_id)?, repo.find_commit(head_id)?);
            let mut options = git2::MergeOptions::new();
            options.find_renames(true);
            let index = repo
                .merge_commits(&ours, &theirs, Some(&options))
                .map_err(|source| GitError::Revision {
                    rev: format!("merge of `{head}` into `{base}`"),
                    source,
                })?;
            if index.has_conflicts() {
                let mut paths = BTreeSet::new();
                for conflict in index.conflicts()? {
                    let conflict = conflict?;
                    for entry in [conflict.ancestor, conflict.our, conflict.their].into_iter().flatten() {
                        paths.insert(String::from_utf8_lossy(&entry.path).into_owned());
                    }
                }
                return Ok(Merged::Conflicts(paths.into_iter().collect()));
            }
            let mut index = index;
            Ok(Merged::Tree(index.write_tree_to(repo)?))
        }
        Target::Merged(rev) => {
            let commit = repo.find_commit(git::commit_id(repo, rev)?)?;
            let parents: Vec<Oid> = commit.parent_ids().collect();
            if parents.len() != 2 || parents[0] != base_id {
                return Err(GitError::NotAMerge {
                    rev: rev.to_string(),
                    reason: if parents.len() != 2 {
                        format!("it has {} parents, not 2", parents.len())
                    } else {
                        format!("its first parent is not the base `{base}`")
                    },
                });
            }
            Ok(Merged::Tree(commit.tree_id()))
        }
    }
}

/// Decides whether every author in `request.authors` may make the change:
/// the merge result against `request.base`.
pub fn authorize(repo: &Repository, request: &Request<'_>) -> Result<Decision, GitError> {
    let base_id = git::commit_id(repo, request.base)?;
    let base_tree = repo.find_commit(base_id)?.tree()?;
    let limits = &request.limits;
    let mut report = Report::default();

    // Policy and grants: from the base revision only.
    let base_entries = git::config_entries(repo, &base_tree, request.dir)?;
    let policy_paths: Vec<&String> = base_entries
        .keys()
        .filter(|p| config::TOP_LEVEL_FILES.contains(&p.as_str()) && p.as_str() != crate::offerings::FILE)
        .collect();
    let (base_policy, base_report) = load_paths(repo, &base_entries, &policy_paths, limits)?;
    report.extend(base_report);
    let policy = base_policy.policy.clone();
    let grants = match &base_policy.scopes_source {
        Some(text) => {
            let (grants, findings) = scopes::parse("SCOPES", text, &policy);
            report.findings.extend(findings);
            grants
        }
        None => Scopes::default(),
    };
    report.findings.extend(check_privileged_table(&base_policy));
    for finding in &mut report.findings {
        finding.message = format!("{} (in the base revision)", finding.message);
        // A broken policy or SCOPES on the base side makes every decision unsafe.
        finding.severity = Severity::Error;
    }

    let merged_tree = match merge_result(repo, base_id, request.base, request.target)? {
        Merged::Tree(id) => repo.find_tree(id)?,
        Merged::Conflicts(paths) => {
            for path in paths {
                report.findings.push(
                    Finding::new(
                        Code::MergeConflict,
                        format!(
                            "merging the change into `{}` conflicts in {}",
                            request.base,
                            config::quote_name(&path)
                        ),
                    )
                    .in_file(relative_to_dir(request.dir, &path))
                    .help("there is no merge result to judge; merge the base branch into the change and resolve the conflict"),
                );
            }
            report.sort();
            return Ok(Decision {
                authorized: false,
                authors: request.authors.to_vec(),
                required: Vec::new(),
                report,
            });
        }
    };

    // The change: the base against the merge result.
    let old = base_entries;
    let new = git::config_entries(repo, &merged_tree, request.dir)?;
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

    // SCOPES and amiset.toml of the merge result are never read: changing them needs the admin scope.
    let changed: Vec<&String> = changes
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !config::TOP_LEVEL_FILES.contains(&p.as_str()))
        .collect();
    let (old_config, old_report) = load_paths(repo, &old, &changed, limits)?;
    let (new_config, new_report) = load_paths(repo, &new, &changed, limits)?;
    // The base side only tells what a worker type had before; when it
    // cannot be read, every scope and set of the new side counts as new.
    for f in old_report.findings {
        report.findings.push(
            Finding::new(f.code, format!("{} (in the base revision)", f.message))
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
            satisfied_by: Vec::new(),
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
        for value in new_privileged_values(&policy, before, after) {
            let at = doc.and_then(|d| value.pointer.as_deref().map(|p| d.span_of_value(p)));
            need(policy.admin_scope(), value.because(path), path, at);
        }
    }

    // Outside the config files: what enforces the gate, and names a
    // case-insensitive checkout would read as config.
    let protected = ProtectedPaths::new(&policy.protected_paths());
    if let Err(invalid) = &protected {
        report.findings.push(invalid_protected_path(&base_policy, invalid, true));
    }
    let config_dir = git::normalize_dir(request.dir);
    for (path, change) in repository_changes(repo, &base_tree, &merged_tree)? {
        let rel = relative_to_dir(request.dir, &path);
        if let Ok(protected) = &protected
            && let Some(pattern) = protected.matching(&path)
        {
            let because = format!("{path} {} (protected path `{pattern}`)", change.as_str());
            need(policy.admin_scope(), because, &rel, None);
        }
        if let Some(real) = config::case_variant_in(&config_dir, &path) {
            let because = format!("{path} {} (differs from the config path `{real}` only by case)", change.as_str());
            need(policy.admin_scope(), because, &rel, None);
        }
    }
    required.dedup_by(|a, b| a.scope == b.scope && a.because == b.because);

    for req in &mut required {
        for author in request.authors {
            let held = grants.satisfying(author, &req.scope, &policy).map(|g| SatisfiedBy {
                file: "SCOPES".into(),
                line: g.line,
                pattern: g.pattern.clone(),
            });
            if held.is_none() {
                let mut finding = Finding::new(
                    Code::ScopeMissing,
                    format!("`{author}` does not hold `{}`, needed because {}", req.scope, req.because),
                )
                .help(closest_grants(&grants, author, &req.scope, &policy));
                finding = match &req.span {
                    Some(span) => finding.at(&req.file, span.clone()).label("needs this scope"),
                    None => finding.in_file(&req.file),
                };
                report.findings.push(finding);
            }
            req.satisfied_by.push((author.clone(), held));
        }
    }
    report.sort();
    let authorized = !request.authors.is_empty() && report.errors() == 0 && required.iter().all(Requirement::satisfied);
    Ok(Decision {
        authorized,
        authors: request.authors.to_vec(),
        required,
        report,
    })
}

/// Every path of the whole repository that changed between `old` and `new`
/// (both sides of a rename, a mode change, a submodule).
fn repository_changes(repo: &Repository, old: &git2::Tree<'_>, new: &git2::Tree<'_>) -> Result<BTreeSet<(String, Change)>, GitError> {
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
            if let Some(path) = file.path_bytes().map(|b| String::from_utf8_lossy(b).into_owned()) {
                out.insert((path, change));
            }
        }
    }
    Ok(out)
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
    /// The `--format json` document of DESIGN §4: `author` and a plain
    /// `satisfiedBy` with one author, `satisfiedBy` per author with several.
    pub fn to_json(&self) -> serde_json::Value {
        let single = self.authors.len() == 1;
        let required: Vec<serde_json::Value> = self
            .required
            .iter()
            .map(|r| {
                let satisfied_by = if single {
                    serde_json::json!(r.satisfied_by[0].1)
                } else {
                    serde_json::Value::Object(
                        r.satisfied_by
                            .iter()
                            .map(|(author, s)| (author.clone(), serde_json::json!(s)))
                            .collect(),
                    )
                };
                serde_json::json!({"scope": r.scope, "because": r.because, "satisfiedBy": satisfied_by})
            })
            .collect();
        let mut doc = serde_json::json!({
            "authorized": self.authorized,
            "authors": self.authors,
            "required": required,
            "findings": self.report.located(),
        });
        if single {
            doc["author"] = serde_json::json!(self.authors[0]);
        }
        doc
    }

    /// A plain-text table: one line per required scope and author with the
    /// SCOPES line that satisfies it or `MISSING`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self.required.iter().map(|r| r.scope.len()).max().unwrap_or(0);
        let single = self.authors.len() == 1;
        for r in &self.required {
            for (i, (author, held)) in r.satisfied_by.iter().enumerate() {
                let status = match held {
                    Some(s) => format!("ok       {}:{} `{}`", s.file, s.line, s.pattern),
                    None => "MISSING".to_string(),
                };
                let who = if single { String::new() } else { format!("  ({author})") };
                let scope = if i == 0 { r.scope.as_str() } else { "" };
                out.push_str(&format!("{scope:width$}  {status}{who}\n"));
            }
            out.push_str(&format!("    because {}\n", r.because));
        }
        if self.required.is_empty() {
            out.push_str("the change needs no scopes\n");
        }
        let names: Vec<String> = self.authors.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!(
            "{}: {} {} authorized\n",
            if self.authorized { "ok" } else { "error" },
            names.join(", "),
            match (self.authorized, single) {
                (true, true) => "is",
                (false, true) => "is not",
                (true, false) => "are",
                (false, false) => "are not all",
            }
        ));
        out
    }
}
