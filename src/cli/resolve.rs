//! `amiset resolve`: one resolved launch specification, from a config
//! directory or from compiled artifacts.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value as Json;

use super::verify_artifacts::TrustArgs;
use super::{EXIT_FINDINGS, EXIT_OK, Error, LimitArgs, Result};
use crate::artifacts::{Artifacts, sorted};
use crate::check;
use crate::config::load;
use crate::diag::did_you_mean;
use crate::report::{self, Format};
use crate::resolve::{Builtin, explain};

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Worker type name.
    pub worker: String,
    /// AWS region.
    #[arg(long)]
    pub region: String,
    /// EC2 instance type.
    #[arg(long)]
    pub instance_type: String,
    /// Availability zone, for a region with `zones`.
    #[arg(long)]
    pub zone: Option<String>,
    /// Config directory to resolve from (default: the current directory).
    #[arg(long, value_name = "DIR", conflicts_with = "artifacts")]
    pub from: Option<PathBuf>,
    /// Compiled artifacts to read instead of a config directory.
    #[arg(long, value_name = "OUT")]
    pub artifacts: Option<PathBuf>,
    /// Show, for every key, the file, line and layer it came from.
    #[arg(long, conflicts_with = "artifacts")]
    pub explain: bool,
    /// With `--artifacts`: accept only artifacts signed by this public key (PEM); repeatable.
    #[arg(long = "trust-key", value_name = "PEM", requires = "artifacts")]
    pub trust_keys: Vec<PathBuf>,
    /// With `--trust-key`: state file recording the highest `sequence` accepted.
    #[arg(long, value_name = "FILE", requires = "trust_keys")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: ResolveArgs) -> Result<i32> {
    if let Some(out) = &args.artifacts {
        unknown_instance_type(&args.instance_type, &[])?;
        let artifacts = if args.trust_keys.is_empty() {
            Artifacts::open(out).map_err(|e| Error::Other(e.to_string()))?
        } else {
            let trust = TrustArgs {
                keys: args.trust_keys.clone(),
                state: args.state.clone(),
            };
            match trust.open(out)? {
                Ok(artifacts) => artifacts,
                Err(code) => return Ok(code),
            }
        };
        let spec = artifacts
            .launch_spec_in(&args.worker, &args.region, args.zone.as_deref(), &args.instance_type)
            .map_err(|e| Error::Other(e.to_string()))?;
        print_json(Json::Object(spec.parameters));
        return Ok(EXIT_OK);
    }
    let dir = args.from.clone().unwrap_or_else(|| PathBuf::from("."));
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, report) = check::run(&inputs, &limits);
    if report.errors() > 0 {
        let options = report::Options {
            path_prefix: String::new(),
            color: false,
            width: None,
        };
        eprint!("{}", report::render(&report, Format::Human, &options));
        eprintln!("amiset: cannot resolve: the config has errors");
        return Ok(EXIT_FINDINGS);
    }
    let Some(wt) = config.worker_types.get(&args.worker) else {
        let help = did_you_mean(&args.worker, config.worker_types.keys().map(String::as_str))
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        return Err(Error::Usage(format!("no worker type `{}`{help}", args.worker)));
    };
    let listed: Vec<&str> = wt.instance_types.iter().map(|t| t.instance_type.as_str()).collect();
    unknown_instance_type(&args.instance_type, &listed)?;
    let explained = explain(&config, wt, &args.region, args.zone.as_deref(), &args.instance_type, &Builtin).map_err(Error::Usage)?;
    if args.explain {
        for line in &explained.origins {
            println!("{line}");
        }
    } else {
        print_json(Json::Object(explained.launch_spec));
    }
    Ok(EXIT_OK)
}

/// `--instance-type` names no EC2 instance type and none the worker type
/// lists (an unknown type a worker type lists under `unknownInstanceTypes =
/// "warn"` still resolves): a bad flag, with the finding code and a
/// suggestion from the worker type's types, else from the catalogue.
fn unknown_instance_type(instance_type: &str, listed: &[&str]) -> Result<()> {
    if listed.contains(&instance_type) || crate::instance_types::lookup(instance_type).is_some() {
        return Ok(());
    }
    let help = did_you_mean(instance_type, listed.iter().copied())
        .or_else(|| crate::instance_types::suggest(instance_type))
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    Err(Error::Usage(format!(
        "{}: `--instance-type {instance_type}` is not a known EC2 instance type{help}",
        crate::diag::Code::UnknownInstanceType.as_str()
    )))
}

fn print_json(value: Json) {
    println!("{}", serde_json::to_string_pretty(&sorted(value)).unwrap_or_default());
}
