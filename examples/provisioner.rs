//! How a provisioner uses amiset as a library: read signed artifacts with
//! [`Artifacts::open_trusted`] (a trusted key's signature, every file's hash,
//! no rollback below the state file, not expired) and look up the launch
//! specification for a worker type, region and instance type.
//!
//! ```text
//! cargo run --example provisioner                       # signs config-example with a demo key into a temporary OUT first
//! cargo run --example provisioner -- OUT WORKER REGION INSTANCE_TYPE PUBLIC_KEY.pem STATE.json
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use amiset::artifacts::sign::format_rfc3339;
use amiset::artifacts::{Anchor, Artifacts, CompileOptions, FileSigner, PublicKey, Signing, Trust, compile};
use amiset::config::load;
use amiset::resolve::Builtin;
use amiset::{Limits, check};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let now = i64::try_from(now)?;
    let _tmp;
    let (out, worker, region, instance_type, trust) = match args.as_slice() {
        [out, worker, region, instance_type, key, state] => {
            // The public key is pinned out of band, never read from the artifact store.
            let key = PublicKey::from_pem(&std::fs::read_to_string(key)?)?;
            let trust = Trust::new(vec![key], now).with_state(state);
            (PathBuf::from(out), worker.clone(), region.clone(), instance_type.clone(), trust)
        }
        [] => {
            // What `amiset compile config-example --out OUT --sign file:KEY` writes, with a
            // demo key and a demo anchor (a real compile takes them from Git).
            let limits = Limits::default();
            let inputs = load::read_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config-example"), &limits)?;
            let (config, report) = check::run(&inputs, &limits);
            if report.errors() > 0 {
                return Err("config-example has errors".into());
            }
            _tmp = tempfile::tempdir()?;
            let out = _tmp.path().join("out");
            let signer = FileSigner::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
            let key = PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key());
            let options = CompileOptions {
                signing: Some(Signing {
                    anchor: Anchor {
                        source_commit: "0".repeat(40),
                        sequence: 1,
                        expires: format_rfc3339(now + 86_400),
                    },
                    signer: Arc::new(signer),
                }),
                ..CompileOptions::default()
            };
            compile(&config, &Builtin, &out, &options)?;
            let trust = Trust::new(vec![key], now).with_state(_tmp.path().join("state.json"));
            (out, "gecko-t-linux-mixed".into(), "us-west-2".into(), "m6g.xlarge".into(), trust)
        }
        _ => return Err("usage: provisioner [OUT WORKER REGION INSTANCE_TYPE PUBLIC_KEY.pem STATE.json]".into()),
    };

    let artifacts = Artifacts::open_trusted(&out, &trust)?;
    let manifest = artifacts.manifest();
    println!(
        "artifacts of commit {} (sequence {}), valid until {}",
        manifest.source_commit.as_deref().unwrap_or_default(),
        manifest.sequence.unwrap_or_default(),
        manifest.expires.as_deref().unwrap_or_default()
    );
    let spec = artifacts.launch_spec(&worker, &region, &instance_type)?;
    println!(
        "launch {} {} in {} from {}",
        spec.worker_type, spec.instance_type, spec.region, spec.image_id
    );
    println!("{}", serde_json::to_string_pretty(&spec.parameters)?);
    Ok(())
}
