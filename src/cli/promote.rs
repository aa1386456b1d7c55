//! `amiset promote FROM TO`: copy the AMIs of one set into another, key by key.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FINDINGS, EXIT_OK, Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::config::load;
use crate::intake::promote::{self, PromoteError};
use crate::migrate::{self, Plan as Files};

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The AMI set to copy from (e.g. a canary set).
    pub from: String,
    /// The AMI set to copy into; each of its (region, arch, hvm/pv) takes FROM's AMI.
    pub to: String,
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Print the unified diff of what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Exit 0 when TO holds FROM's AMIs (written, or already so), 1 when FROM
/// lacks a key of TO (nothing written), 2 on tool errors.
pub fn run(args: PromoteArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let plan = promote::plan(&inputs, &limits, &args.from, &args.to).map_err(|e: PromoteError| Error::Usage(e.to_string()))?;
    if plan.report.errors() > 0 {
        let code = args.output.emit(&plan.report, Some(&dir));
        return Ok(code.max(EXIT_FINDINGS));
    }
    let files = Files {
        changes: plan.change.iter().cloned().collect(),
        ..Files::default()
    };
    let mut stdout = std::io::stdout().lock();
    if args.dry_run {
        let _ = stdout.write_all(files.unified_diff().as_bytes());
    } else if !files.changes.is_empty() {
        migrate::write(&dir, &files, &mut |_| {}).map_err(|e| Error::Other(e.to_string()))?;
    }
    let verb = if args.dry_run { "would promote" } else { "promoted" };
    let line = match (plan.moves.len(), plan.worker_config) {
        (0, false) => format!("`{}` already holds the AMIs and worker config of `{}`", args.to, args.from),
        (0, true) => format!("{verb} the worker config of `{}` into `{}`", args.from, args.to),
        (n, config) => format!(
            "{verb} {n} AMI{}{} of `{}` into `{}`",
            if n == 1 { "" } else { "s" },
            if config { " and the worker config" } else { "" },
            args.from,
            args.to
        ),
    };
    let _ = writeln!(std::io::stderr(), "{line}");
    let _ = stdout.flush();
    Ok(EXIT_OK)
}
