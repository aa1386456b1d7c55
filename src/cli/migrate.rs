//! `amiset migrate`: move raw ImageIds of worker types into AMI sets.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::{Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::config::load;
use crate::migrate::{self, FileChange, MigrateError, NoImageFacts, Options};
use crate::report::{self, Format};
use crate::resolve;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Print a unified diff of what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Migrate only this worker type (repeatable; default: every worker type with raw ImageIds).
    #[arg(long = "worker-type", value_name = "NAME")]
    pub worker_types: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Plans the migration, proves it faithful, then writes it (or, with
/// `--dry-run`, prints it as a diff). Refused worker types are findings on
/// stdout (stderr with `--dry-run`, whose stdout is the diff); progress goes
/// to stderr. Exit 0 when everything needing migration was migrated (or
/// nothing needed it), 1 when some worker type was refused, 2 on tool errors.
pub fn run(args: MigrateArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let options = Options {
        worker_types: args.worker_types,
    };
    let plan = migrate::plan(&inputs, &limits, &resolve::Builtin, &NoImageFacts, &options).map_err(|e| match e {
        MigrateError::UnknownWorkerType { .. } => Error::Usage(e.to_string()),
        MigrateError::NotFaithful(_) => Error::Other(e.to_string()),
    })?;

    let mut stderr = std::io::stderr().lock();
    let verb = |change: &FileChange, dry: bool| match (change.before.is_some(), dry) {
        (false, false) => "created",
        (true, false) => "updated",
        (false, true) => "would create",
        (true, true) => "would update",
    };
    if args.dry_run {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(plan.unified_diff().as_bytes());
        let _ = stdout.flush();
        for change in &plan.changes {
            let _ = writeln!(stderr, "{} {}", verb(change, true), change.path);
        }
    } else {
        let result = migrate::write(&dir, &plan, &mut |change| {
            let _ = writeln!(stderr, "{} {}", verb(change, false), change.path);
        });
        result.map_err(|e| Error::Other(e.to_string()))?;
    }
    let migrated: usize = plan.sets.iter().map(|s| s.workers.len()).sum();
    let summary = match (migrated, args.dry_run) {
        (0, _) => "nothing to migrate".to_string(),
        (n, dry) => format!(
            "{} {n} worker type{} into {} new AMI set{}",
            if dry { "would migrate" } else { "migrated" },
            if n == 1 { "" } else { "s" },
            plan.sets.len(),
            if plan.sets.len() == 1 { "" } else { "s" },
        ),
    };
    let _ = writeln!(stderr, "{summary}");
    drop(stderr);

    if plan.report.findings.is_empty() && args.output.format == Format::Human {
        return Ok(super::EXIT_OK);
    }
    if args.dry_run {
        let options = report::Options {
            // The same prefix `OutputArgs::emit` derives from the directory.
            path_prefix: args.output.path_prefix.clone().unwrap_or_else(|| match dir.to_str() {
                Some(".") | None => String::new(),
                Some(d) => format!("{}/", d.trim_end_matches('/')),
            }),
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            width: None,
        };
        let text = report::render(&plan.report, args.output.format, &options);
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        return Ok(args.output.exit_code(&plan.report));
    }
    Ok(args.output.emit(&plan.report, Some(&dir)))
}
