//! `amiset check`: parse, schema, cross-references and policy.

use std::path::PathBuf;

use clap::Args;

use super::ec2::Ec2Args;
use super::{LimitArgs, OutputArgs, Result, Source, dir_or_cwd};
use std::collections::BTreeMap;

use crate::config::{Config, Inputs, Limits, Revoked};
use crate::diag::Report;
use crate::resolve::TypeInfo;
use crate::{check, config, resolve};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Check the files staged in the Git index (what is about to be committed), not the work tree.
    #[arg(long)]
    pub staged: bool,
    /// Check the config as committed in revision REV, read from Git objects without checking anything out
    /// (a pull request's head, read as data by a gate that runs the base branch's workflow).
    #[arg(long, value_name = "REV", conflicts_with = "staged")]
    pub rev: Option<String>,
    /// Also refuse every AMI that revision REV (the base branch) revokes: revoked AMIs are the union of
    /// REV's and the checked config's `[[revoked]]`, so a head that branched off before a revocation fails.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub ec2: Ec2Args,
}

pub fn run(args: CheckArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let source = match (&args.rev, args.staged) {
        (Some(rev), _) => Source::Revision(rev),
        (None, true) => Source::Index,
        (None, false) => Source::WorkTree,
    };
    let inputs = super::read_inputs(&dir, source, &limits)?;
    let revoked = match &args.base {
        Some(base) => {
            let base_inputs = super::read_inputs(&dir, Source::Revision(base), &limits)?;
            config::load(&base_inputs, &limits).0.policy.revoked
        }
        None => Vec::new(),
    };
    let (config, report, _) = checked_with(&inputs, &limits, &args.ec2, &revoked)?;
    let code = args.output.emit(&report, Some(&dir));
    // The process exits next: freeing the config of a large repository one
    // allocation at a time would only delay the exit.
    std::mem::forget((config, inputs));
    Ok(code)
}

/// EC2's answers about instance types, which override the built-in table.
pub type Catalog = BTreeMap<String, TypeInfo>;

/// Loads and checks `inputs`, with EC2 verification when `ec2` asks for it.
/// Returns the config, the sorted report, and EC2's instance type catalog
/// when it was consulted (it overrides the built-in table in resolution).
pub fn checked(inputs: &Inputs, limits: &Limits, ec2: &Ec2Args) -> Result<(Config, Report, Option<Catalog>)> {
    checked_with(inputs, limits, ec2, &[])
}

/// [`checked`], with `revoked` added to the config's own `[[revoked]]`.
fn checked_with(inputs: &Inputs, limits: &Limits, ec2: &Ec2Args, revoked: &[Revoked]) -> Result<(Config, Report, Option<Catalog>)> {
    let (mut config, mut report) = config::load(inputs, limits);
    for r in revoked {
        if config.policy.revoked_reason(&r.ami).is_none() {
            config.policy.revoked.push(r.clone());
        }
    }
    // Over the launch spec limit nothing is resolved, not even for EC2: the check fails on the limit alone.
    let (mut ec2_findings, catalog) = if ec2.enabled() && check::launch_spec_limit(&config, limits).is_some() {
        (Vec::new(), None)
    } else {
        ec2.verify(&config)?
    };
    // Live zone offerings replace offerings.json's (DESIGN §10: "or live with --ec2").
    let (live, offering_findings) = ec2.live_offerings(&config)?;
    ec2_findings.extend(offering_findings);
    if let Some(live) = live {
        config.offerings = Some(live);
        config.offerings_present = true;
    }
    match &catalog {
        Some(catalog) => report.findings.extend(check::check_with_limits(&config, catalog, limits)),
        None => report.findings.extend(check::check_with_limits(&config, &resolve::Builtin, limits)),
    }
    report.findings.extend(ec2_findings);
    report.sort();
    Ok((config, report, catalog))
}
