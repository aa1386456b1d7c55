//! `amiset check`: parse, schema, cross-references and policy.

use std::path::PathBuf;

use clap::Args;

use super::{LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::check;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Check the files staged in the Git index (what is about to be committed), not the work tree.
    #[arg(long)]
    pub staged: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: CheckArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = super::read_inputs(&dir, args.staged, &limits)?;
    let (_, report) = check::run(&inputs, &limits);
    Ok(args.output.emit(&report, Some(&dir)))
}
