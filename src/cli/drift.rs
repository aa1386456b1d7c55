//! `amiset drift`: running instances against the compiled launch specs.

use std::path::PathBuf;

use clap::Args;

use super::ec2::Ec2Connection;
use super::plan::{PlanFormat, checked_config};
use super::{LimitArgs, Result, dir_or_cwd};
use crate::diag::Report;

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    /// Exit 1 when anything drifted (not only on errors).
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub connection: Ec2Connection,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: DriftArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir.clone());
    let (config, mut report) = match checked_config(&dir, &args.limits, args.format, "nothing was compared")? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    drift(&args, &config, &mut report)
}

#[cfg(feature = "ec2")]
fn drift(args: &DriftArgs, config: &crate::config::Config, report: &mut Report) -> Result<i32> {
    use super::plan::emit;
    use super::{EXIT_FINDINGS, EXIT_OK};
    use crate::diag::{Code, Finding};
    let regions = crate::deliver::launch_templates::regions(config);
    let (instances, failed) = args.connection.run(|ec2| async move { ec2.tagged_instances(&regions).await })?;
    let drift = crate::deliver::drift::compare(config, &crate::resolve::Builtin, &instances);
    report.findings.extend(drift.findings.iter().cloned());
    for (region, error) in &failed {
        report.findings.push(
            Finding::new(Code::DriftFailed, format!("cannot list the instances of {region}: {error}"))
                .help("that region's instances were not compared; run drift again when EC2 answers"),
        );
    }
    let object = serde_json::json!({
        "rows": drift.rows,
        "failedRegions": failed.iter().map(|(r, e)| serde_json::json!({"region": r, "error": e})).collect::<Vec<_>>(),
        "summary": {"drifted": drift.rows.iter().filter(|r| r.drifted).count(), "instances": instances.len()},
    });
    let code = emit(args.format, &crate::deliver::drift::render_human(&drift), object, report);
    Ok(if code == EXIT_OK && args.exit_code && drift.drifted() {
        EXIT_FINDINGS
    } else {
        code
    })
}

#[cfg(not(feature = "ec2"))]
fn drift(_: &DriftArgs, _: &crate::config::Config, _: &mut Report) -> Result<i32> {
    Err(super::Error::Usage(
        "`amiset drift` talks to EC2: install amiset with `cargo install amiset --features ec2`".into(),
    ))
}
