//! `amiset apply launch-templates`: make EC2 launch templates match the compiled launch specs.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ec2::Ec2Connection;
use super::plan::{PlanFormat, checked_config};
use super::{LimitArgs, Result, dir_or_cwd};
use crate::diag::Report;

/// `amiset apply`.
#[derive(Debug, Args)]
pub struct ApplyCommand {
    #[command(subcommand)]
    pub target: ApplyTarget,
}

/// What `amiset apply` reconciles.
#[derive(Debug, Subcommand)]
pub enum ApplyTarget {
    /// EC2 launch templates, one per worker type and region (and per group of instance types whose specs differ).
    LaunchTemplates(LaunchTemplatesArgs),
}

#[derive(Debug, Args)]
pub struct LaunchTemplatesArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete templates tagged by amiset whose worker type (or group) the config no longer has.
    #[arg(long)]
    pub prune: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    #[command(flatten)]
    pub connection: Ec2Connection,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(cmd: ApplyCommand) -> Result<i32> {
    let ApplyTarget::LaunchTemplates(args) = cmd.target;
    let dir = dir_or_cwd(args.dir.clone());
    let (config, mut report) = match checked_config(&dir, &args.limits, args.format, "nothing was applied")? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    apply(&args, &dir, &config, &mut report)
}

#[cfg(feature = "ec2")]
fn apply(args: &LaunchTemplatesArgs, dir: &std::path::Path, config: &crate::config::Config, report: &mut Report) -> Result<i32> {
    use super::plan::emit;
    use crate::deliver::launch_templates;
    use crate::ec2::templates::ApplyOptions;
    let wanted = launch_templates::desired(config, &crate::resolve::Builtin);
    let regions = launch_templates::regions(config);
    let source = match crate::artifacts::source_of(dir) {
        Some(s) if s.dirty => format!("{}-dirty", s.commit),
        Some(s) => s.commit,
        None => "none".to_string(),
    };
    let options = ApplyOptions {
        prune: args.prune,
        dry_run: args.dry_run,
        source,
    };
    report.findings.extend(wanted.findings.iter().cloned());
    let outcome = args
        .connection
        .run(|ec2| async move { ec2.apply_launch_templates(&wanted, &regions, &options).await })?;
    report.findings.extend(outcome.findings.iter().cloned());
    let text = launch_templates::render_human(&outcome.steps, args.dry_run, &outcome.failed_regions);
    let object = serde_json::json!({
        "dryRun": args.dry_run,
        "steps": outcome.steps,
        "failedRegions": outcome.failed_regions.iter().map(|(r, e)| serde_json::json!({"region": r, "error": e})).collect::<Vec<_>>(),
        "summary": launch_templates::counts(&outcome.steps),
    });
    Ok(emit(args.format, &text, object, report))
}

#[cfg(not(feature = "ec2"))]
fn apply(_: &LaunchTemplatesArgs, _: &std::path::Path, _: &crate::config::Config, _: &mut Report) -> Result<i32> {
    Err(super::Error::Usage(
        "`amiset apply launch-templates` talks to EC2: install amiset with `cargo install amiset --features ec2`".into(),
    ))
}
