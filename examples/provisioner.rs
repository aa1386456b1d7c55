//! How a provisioner uses amiset as a library: read compiled artifacts
//! (verifying every file against the manifest) and look up the launch
//! specification for a worker type, region and instance type.
//!
//! ```text
//! cargo run --example provisioner                       # compiles config-example into a temporary OUT first
//! cargo run --example provisioner -- OUT WORKER REGION INSTANCE_TYPE
//! ```

use std::path::PathBuf;

use amiset::artifacts::{Artifacts, CompileOptions, compile};
use amiset::config::load;
use amiset::resolve::Builtin;
use amiset::{Limits, check};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _tmp;
    let (out, worker, region, instance_type) = match args.as_slice() {
        [out, worker, region, instance_type] => (PathBuf::from(out), worker.clone(), region.clone(), instance_type.clone()),
        [] => {
            // Compile the example config, as `amiset compile config-example --out OUT` would.
            let limits = Limits::default();
            let inputs = load::read_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config-example"), &limits)?;
            let (config, report) = check::run(&inputs, &limits);
            if report.errors() > 0 {
                return Err("config-example has errors".into());
            }
            _tmp = tempfile::tempdir()?;
            let out = _tmp.path().join("out");
            compile(&config, &Builtin, &out, &CompileOptions::default())?;
            (out, "gecko-t-linux-mixed".into(), "us-west-2".into(), "m6g.xlarge".into())
        }
        _ => return Err("usage: provisioner [OUT WORKER REGION INSTANCE_TYPE]".into()),
    };

    let artifacts = Artifacts::open(&out)?;
    let spec = artifacts.launch_spec(&worker, &region, &instance_type)?;
    println!(
        "launch {} {} in {} from {}",
        spec.worker_type, spec.instance_type, spec.region, spec.image_id
    );
    println!("{}", serde_json::to_string_pretty(&spec.parameters)?);
    Ok(())
}
