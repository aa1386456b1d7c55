//! `amiset compile`: check, then write resolved launch specifications.

use std::path::PathBuf;

use clap::Args;

use super::ec2::Ec2Args;
use super::{Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::artifacts::{self, CompileOptions};
use crate::config::load;
use crate::resolve::Builtin;

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Output directory; replaced atomically, and only when the config has no errors.
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub ec2: Ec2Args,
}

pub fn run(args: CompileArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, report, catalog) = super::check::checked(&inputs, &limits, &args.ec2)?;
    let code = args.output.emit(&report, Some(&dir));
    if code != super::EXIT_OK {
        eprintln!("amiset: not compiled: the config has errors; `{}` is unchanged", args.out.display());
        return Ok(code);
    }
    let options = CompileOptions {
        ec2_verified: catalog.is_some(),
        source: artifacts::source_of(&dir),
        ec2_findings: report
            .findings
            .iter()
            .filter(|f| f.code.as_str().starts_with("ec2::"))
            .cloned()
            .collect(),
    };
    let compiled = match &catalog {
        Some(catalog) => artifacts::compile(&config, catalog, &args.out, &options),
        None => artifacts::compile(&config, &Builtin, &args.out, &options),
    };
    let summary = compiled.map_err(|e| Error::Other(e.to_string()))?;
    eprintln!(
        "amiset: compiled {} worker types ({} launch specs) and {} AMI sets into `{}`",
        summary.worker_types,
        summary.launch_specs,
        summary.ami_sets,
        args.out.display()
    );
    Ok(code)
}
