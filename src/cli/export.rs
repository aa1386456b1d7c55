//! `amiset export taskcluster`: worker-manager worker pools from the checked config.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ec2::Ec2Args;
use super::{Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::artifacts;
use crate::config::load;
use crate::deliver::taskcluster;
use crate::resolve::Builtin;

/// `amiset export`.
#[derive(Debug, Args)]
pub struct ExportCommand {
    #[command(subcommand)]
    pub target: ExportTarget,
}

/// What `amiset export` writes.
#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// One Taskcluster worker-manager worker pool per worker type (OUT/<provisionerId>/<workerType>.json).
    Taskcluster(TaskclusterArgs),
}

#[derive(Debug, Args)]
pub struct TaskclusterArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Output directory; replaced atomically, and only when there is no error.
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub ec2: Ec2Args,
}

pub fn run(cmd: ExportCommand) -> Result<i32> {
    let ExportTarget::Taskcluster(args) = cmd.target;
    let dir = dir_or_cwd(args.dir);
    if let Some(problem) = super::compile::clobbers_config(&dir, &args.out) {
        return Err(Error::Usage(problem));
    }
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, mut report, catalog) = super::check::checked(&inputs, &limits, &args.ec2)?;
    let pools = if report.errors() == 0 {
        let (pools, findings) = match &catalog {
            Some(catalog) => taskcluster::worker_pools(&config, catalog),
            None => taskcluster::worker_pools(&config, &Builtin),
        };
        report.findings.extend(findings);
        report.sort();
        pools
    } else {
        Vec::new()
    };
    let code = args.output.emit(&report, Some(&dir));
    if code != super::EXIT_OK {
        eprintln!("amiset: not exported: there are errors; `{}` is unchanged", args.out.display());
        return Ok(code);
    }
    let written = taskcluster::write(&pools, &args.out, artifacts::source_of(&dir)).map_err(|e| Error::Other(e.to_string()))?;
    eprintln!(
        "amiset: exported {} worker pools ({} launch configs) into `{}`",
        written.worker_pools,
        written.launch_configs,
        args.out.display()
    );
    Ok(code)
}
