//! `amiset diff`: which resolved launch specs a change alters.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{EXIT_FINDINGS, EXIT_OK, Error, LimitArgs, Result};
use crate::resolve::Builtin;
use crate::{check, diff, git};

/// How `diff` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// One line per change.
    Text,
    /// A pull-request comment: a summary line, details folded.
    Markdown,
    /// The structured diff.
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The revision the change is merged into; the diff starts at merge-base(base, head).
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The revision with the change.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub head: String,
    /// Config directory relative to the repository root.
    #[arg(long, value_name = "PATH", default_value = "")]
    pub dir: String,
    /// The Git repository (default: the one containing the current directory).
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit 1 when something changed.
    #[arg(long)]
    pub exit_code: bool,
    /// Most table rows in Markdown output; the rest are counted in an "N more" line.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_rows: usize,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: DiffArgs) -> Result<i32> {
    let git_err = |e: git::GitError| Error::Git(e.to_string());
    let repo = git::open(&args.repo).map_err(git_err)?;
    let base = git::commit_id(&repo, &args.base).map_err(git_err)?;
    let head = git::commit_id(&repo, &args.head).map_err(git_err)?;
    let (base_tree, head_tree) = (
        git::tree_at(&repo, &args.base).map_err(git_err)?,
        git::tree_at(&repo, &args.head).map_err(git_err)?,
    );
    git::check_config_dir(&[&base_tree, &head_tree], &args.dir).map_err(Error::Usage)?;
    let merge_base = repo
        .merge_base(base, head)
        .map_err(|e| Error::Git(format!("no merge base of `{}` and `{}`: {}", args.base, args.head, e.message())))?;
    let limits = args.limits.limits();
    let mut configs = Vec::new();
    for (id, side) in [(merge_base, "base"), (head, "head")] {
        let tree = repo
            .find_commit(id)
            .and_then(|c| c.tree())
            .map_err(|e| Error::Git(e.message().to_string()))?;
        let inputs = git::tree_inputs(&repo, &tree, &args.dir, &limits).map_err(git_err)?;
        let (config, report) = check::run(&inputs, &limits);
        if let Some(f) = report.findings.iter().find(|f| f.code == crate::diag::Code::TooManyLaunchSpecs) {
            return Err(Error::Other(format!("the {side} revision is not compared: {}", f.message)));
        }
        if report.errors() > 0 {
            eprintln!(
                "amiset: warning: the {side} revision has {} errors; run `amiset check`",
                report.errors()
            );
        }
        configs.push(config);
    }
    let d = diff::diff(&configs[0], &configs[1], &Builtin);
    let out = match args.format {
        // Values are printed as they are in the config: no terminal controls pass.
        DiffFormat::Text => crate::report::sanitize(&diff::text(&d)),
        DiffFormat::Markdown => diff::markdown(&d, args.max_rows),
        DiffFormat::Json => {
            let mut s = serde_json::to_string_pretty(&d).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    print!("{out}");
    Ok(if args.exit_code && !d.is_empty() { EXIT_FINDINGS } else { EXIT_OK })
}
