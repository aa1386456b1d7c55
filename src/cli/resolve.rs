//! `amiset resolve`: one resolved launch specification, from a config
//! directory or from compiled artifacts.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value as Json;

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
    /// Config directory to resolve from (default: the current directory).
    #[arg(long, value_name = "DIR", conflicts_with = "artifacts")]
    pub from: Option<PathBuf>,
    /// Compiled artifacts to read instead of a config directory.
    #[arg(long, value_name = "OUT")]
    pub artifacts: Option<PathBuf>,
    /// Show, for every key, the file, line and layer it came from.
    #[arg(long, conflicts_with = "artifacts")]
    pub explain: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: ResolveArgs) -> Result<i32> {
    if let Some(out) = &args.artifacts {
        let artifacts = Artifacts::open(out).map_err(|e| Error::Other(e.to_string()))?;
        let spec = artifacts
            .launch_spec(&args.worker, &args.region, &args.instance_type)
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
    let explained = explain(&config, wt, &args.region, &args.instance_type, &Builtin).map_err(Error::Usage)?;
    if args.explain {
        for line in &explained.origins {
            println!("{line}");
        }
    } else {
        print_json(Json::Object(explained.launch_spec));
    }
    Ok(EXIT_OK)
}

fn print_json(value: Json) {
    println!("{}", serde_json::to_string_pretty(&sorted(value)).unwrap_or_default());
}
