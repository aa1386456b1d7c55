//! `amiset update`: take the newest complete build into every AMI set with a `[source]`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::ec2::Ec2Connection;
use super::{EXIT_FINDINGS, Error, LimitArgs, Result, dir_or_cwd};
use crate::config::load;
use crate::intake::update::{self, UpdateError};
use crate::migrate::{self, Plan as Files};
use crate::report;

/// How `update` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UpdateFormat {
    /// A line per set, then the findings.
    Human,
    /// `{"sets": [...], "files": [...], "findings": [...], "summary": {...}}`.
    Json,
    /// A pull-request body.
    Markdown,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Update only this AMI set (repeatable; default: every set with a `[source]`).
    #[arg(long = "set", value_name = "ID")]
    pub sets: Vec<String>,
    /// Print the unified diff of what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Exit 1 when something would change.
    #[arg(long)]
    pub exit_code: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = UpdateFormat::Human)]
    pub format: UpdateFormat,
    #[command(flatten)]
    pub connection: Ec2Connection,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Lists the images of every set's `[source]` (one DescribeImages per region),
/// decides per set, and writes the edited set files (each atomically, all
/// checked against what was read before the first is written). Exit 0 when
/// it ran, 1 on errors (a region that could not be read included) or, with
/// `--exit-code`, when something changed; 2 on tool errors.
pub fn run(args: UpdateArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let now = crate::ec2::now().map_err(Error::Usage)?;
    let (config, checked) = crate::check::run(&inputs, &limits);
    let usage = |e: UpdateError| Error::Usage(e.to_string());
    let sets = update::selected(&config, &args.sets).map_err(usage)?;
    let queries = update::queries(&config, &sets);
    // A repository that `update` refuses to edit is not worth a call to EC2.
    let found = if queries.is_empty() || checked.findings.iter().any(update::blocks) {
        Default::default()
    } else {
        args.connection.images_by_name(&queries)?
    };
    let plan = update::plan(&inputs, &limits, (config, checked), &args.sets, &found, now).map_err(usage)?;

    if !args.dry_run && !plan.changes.is_empty() {
        let files = Files {
            changes: plan.changes.clone(),
            ..Files::default()
        };
        migrate::write(&dir, &files, &mut |_| {}).map_err(|e| Error::Other(e.to_string()))?;
    }

    let mut stdout = std::io::stdout().lock();
    match args.format {
        UpdateFormat::Markdown => {
            let _ = stdout.write_all(update::markdown(&plan).as_bytes());
        }
        UpdateFormat::Json => {
            let doc = serde_json::json!({
                "sets": plan.sets,
                "files": plan.changes.iter().map(|c| &c.path).collect::<Vec<_>>(),
                "written": !args.dry_run && !plan.changes.is_empty(),
                "findings": plan.report.located(),
                "summary": {"errors": plan.report.errors(), "warnings": plan.report.warnings()},
            });
            let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        UpdateFormat::Human => {
            if args.dry_run {
                let files = Files {
                    changes: plan.changes.clone(),
                    ..Files::default()
                };
                let _ = stdout.write_all(files.unified_diff().as_bytes());
            }
            let _ = stdout.write_all(update::summary(&plan, args.dry_run).as_bytes());
            if !plan.report.findings.is_empty() {
                let options = report::Options {
                    path_prefix: match dir.to_str() {
                        Some(".") | None => String::new(),
                        Some(d) => format!("{}/", d.trim_end_matches('/')),
                    },
                    color: false,
                    width: None,
                };
                let _ = stdout.write_all(report::render(&plan.report, report::Format::Human, &options).as_bytes());
            }
        }
    }
    let _ = stdout.flush();
    if plan.report.errors() > 0 || (args.exit_code && !plan.changes.is_empty()) {
        return Ok(EXIT_FINDINGS);
    }
    Ok(super::EXIT_OK)
}
