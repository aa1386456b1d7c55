//! `amiset authorize`: does the author hold every scope the change needs?

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FINDINGS, EXIT_OK, Error, LimitArgs, Result};
use crate::authorize::{Request, Target, authorize};
use crate::git;
use crate::report::{self, Format};

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// The revision the change is merged into (e.g. the PR's base branch); SCOPES and amiset.toml are read from it.
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The revision with the change; what is judged is its merge into the base (default: HEAD).
    #[arg(long, value_name = "REV", conflicts_with = "merged")]
    pub head: Option<String>,
    /// Judge an existing merge commit instead (e.g. GitHub's `refs/pull/N/merge`): its first parent
    /// must be the base and it must have two parents.
    #[arg(long, value_name = "REV")]
    pub merged: Option<String>,
    /// Who makes the change: `@login` (or `login`), or an e-mail address. Repeat it for everyone who
    /// touched the change (the pull request's author and the pusher): each must hold every scope.
    #[arg(long = "author", value_name = "ID", required = true, value_parser = parse_author)]
    pub authors: Vec<String>,
    /// Config directory relative to the repository root.
    #[arg(long, value_name = "PATH", default_value = "")]
    pub dir: String,
    /// The Git repository (default: the one containing the current directory).
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// One person: `@login`, `login` or an e-mail address; a team (`@org/team`)
/// is refused, since a change is made by people, who hold a team's grants
/// only as its members.
fn parse_author(s: &str) -> std::result::Result<String, String> {
    let login = !s.contains('@') || s.starts_with('@');
    // A value with control characters is left to the output's escaping (it
    // holds nothing: no grantee has them); clap's error would echo it raw.
    if s.chars().any(char::is_control) {
        return Ok(s.to_string());
    }
    if s.trim().is_empty() || s.chars().any(char::is_whitespace) {
        return Err(format!("`{s}` is not an author: give `@login` or an e-mail address"));
    }
    if login && s.contains('/') {
        return Err(format!("`{s}` is a team: give one person, `@login` or an e-mail address"));
    }
    Ok(s.to_string())
}

pub fn run(args: AuthorizeArgs) -> Result<i32> {
    let repo = git::open(&args.repo).map_err(|e| Error::Git(e.to_string()))?;
    let target = match (&args.merged, &args.head) {
        (Some(merged), _) => Target::Merged(merged),
        (None, head) => Target::Head(head.as_deref().unwrap_or("HEAD")),
    };
    let changed = match target {
        Target::Head(rev) | Target::Merged(rev) => rev,
    };
    let trees = [git::tree_at(&repo, &args.base), git::tree_at(&repo, changed)];
    let [base, head] = trees.map(|t| t.map_err(|e| Error::Git(e.to_string())));
    git::check_config_dir(&[&base?, &head?], &args.dir).map_err(Error::Usage)?;
    let request = Request {
        base: &args.base,
        target,
        authors: &args.authors,
        dir: &args.dir,
        limits: args.limits.limits(),
    };
    let decision = authorize(&repo, &request).map_err(|e| Error::Git(e.to_string()))?;
    let dir = git::normalize_dir(&args.dir);
    let options = report::Options {
        path_prefix: if dir.is_empty() { String::new() } else { format!("{dir}/") },
        color: false,
        width: None,
    };
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&decision.to_json()).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Human => {
            let findings = if decision.report.findings.is_empty() {
                String::new()
            } else {
                report::render(&decision.report, Format::Human, &options)
            };
            // The table quotes file names, scopes and the author as given: no terminal controls pass.
            format!("{findings}{}", report::sanitize(&decision.table()))
        }
        other => report::render(&decision.report, other, &options),
    };
    print!("{text}");
    Ok(if decision.authorized { EXIT_OK } else { EXIT_FINDINGS })
}
