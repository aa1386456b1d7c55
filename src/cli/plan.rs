//! What `apply` and `drift` share: their output format, the offline check
//! that comes first, and printing a plan with its findings.

use clap::ValueEnum;

use super::{EXIT_FINDINGS, EXIT_OK, LimitArgs, Result};
use crate::check;
use crate::config::load;
use crate::diag::Report;

/// Output of `apply` and `drift`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// One line per change, then the findings.
    #[default]
    Human,
    /// One JSON object (docs/delivery.md).
    Json,
}

/// Prints `report` (the findings) in `format` after `text` for human output,
/// or `object` with the findings added for JSON; returns the exit code.
pub(super) fn emit(format: PlanFormat, text: &str, mut object: serde_json::Value, report: &mut Report) -> i32 {
    report.sort();
    match format {
        PlanFormat::Human => {
            print!("{text}");
            if !report.findings.is_empty() {
                let options = crate::report::Options {
                    color: std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none(),
                    ..Default::default()
                };
                print!("{}", crate::report::render(report, crate::report::Format::Human, &options));
            }
        }
        PlanFormat::Json => {
            object["findings"] = serde_json::to_value(report.located()).unwrap_or_default();
            object["summary"]["errors"] = report.errors().into();
            object["summary"]["warnings"] = report.warnings().into();
            println!("{}", serde_json::to_string_pretty(&object).unwrap_or_default());
        }
    }
    if report.errors() > 0 { EXIT_FINDINGS } else { EXIT_OK }
}

/// Loads and checks the config offline; `Err(code)` after printing the findings when it has errors.
pub(super) fn checked_config(
    dir: &std::path::Path,
    limits: &LimitArgs,
    format: PlanFormat,
    what: &str,
) -> Result<std::result::Result<(crate::config::Config, Report), i32>> {
    let limits = limits.limits();
    let inputs = load::read_dir(dir, &limits)?;
    let (config, mut report) = check::run(&inputs, &limits);
    if report.errors() > 0 {
        eprintln!("amiset: the config has errors; {what}");
        return Ok(Err(emit(format, "", serde_json::json!({"summary": {}}), &mut report)));
    }
    Ok(Ok((config, report)))
}
