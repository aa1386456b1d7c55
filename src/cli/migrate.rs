//! `amiset migrate`: move raw ImageIds of worker types into AMI sets.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::ec2::Ec2Args;
use super::{Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::config::{self, load};
use crate::ec2::{self, Inventory};
use crate::migrate::{self, FileChange, ImageFacts, MigrateError, NoImageFacts, Options};
use crate::report::{self, Format};

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
    /// With `--ec2` or `--ec2-inventory`, each image's own architecture and
    /// virtualization type (and EC2's instance type capabilities) decide its
    /// set entry; conflicts with the instance types are refusals.
    #[command(flatten)]
    pub ec2: Ec2Args,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// What EC2 says, when asked: live, or from a snapshot file.
fn inventory(args: &Ec2Args, inputs: &crate::Inputs, limits: &crate::Limits) -> Result<Option<Inventory>> {
    if !args.enabled() {
        if args.connection.ec2_endpoint.is_some() {
            return Err(Error::Usage("`--ec2-endpoint` needs `--ec2`".into()));
        }
        return Ok(None);
    }
    let inventory = match &args.ec2_inventory {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Other(format!("cannot read `{}`: {e}", path.display())))?;
            Inventory::from_snapshot(&text).map_err(|e| Error::Other(format!("`{}`: {e}", path.display())))?
        }
        None => args.connection.fetch(&config::load(inputs, limits).0)?,
    };
    Ok(Some(inventory))
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
    let inventory = inventory(&args.ec2, &inputs, &limits)?;
    let catalog = inventory.as_ref().map(ec2::verify::catalog).unwrap_or_default();
    let images: &dyn ImageFacts = match &inventory {
        Some(inventory) => inventory,
        None => &NoImageFacts,
    };
    // An empty catalog is the built-in table.
    let plan = migrate::plan(&inputs, &limits, &catalog, images, &options).map_err(|e| match e {
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
