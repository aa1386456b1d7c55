//! `Artifacts::open_trusted` against `Artifacts::open` on the `large` corpus
//! (5,000 worker types, 200,000 launch specs): what checking the signature,
//! the expiry and the state file adds to hashing every file.
//!
//! ```text
//! cargo run --example trust_bench -- [RUNS]
//! ```
//!
//! Generates the corpus, compiles it once signed with a fixed Ed25519 key,
//! then alternates `open` and `open_trusted` (each with the files in the page
//! cache) and prints the median of each and their ratio.

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::sync::Arc;
use std::time::{Duration, Instant};

use amiset::artifacts::{Anchor, Artifacts, CompileOptions, FileSigner, PublicKey, Signing, Trust, compile};
use amiset::config::load;
use amiset::resolve::Builtin;
use amiset::{Limits, check};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map(|r| r.parse()).transpose()?.unwrap_or(9);
    let tmp = tempfile::tempdir()?;
    let config_dir = tmp.path().join("config");
    corpus::write(&config_dir, 400, 5000, 10, 0);
    let limits = Limits::default();
    let inputs = load::read_dir(&config_dir, &limits)?;
    let (config, report) = check::run(&inputs, &limits);
    if report.errors() > 0 {
        return Err("the corpus has errors".into());
    }
    let secret = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let key = PublicKey::Ed25519(secret.verifying_key());
    let out = tmp.path().join("out");
    let options = CompileOptions {
        signing: Some(Signing {
            anchor: Anchor {
                source_commit: "0".repeat(40),
                sequence: 1,
                expires: "2100-01-01T00:00:00Z".into(),
            },
            signer: Arc::new(FileSigner::new(secret)),
        }),
        ..CompileOptions::default()
    };
    let summary = compile(&config, &Builtin, &out, &options)?;
    let trust = Trust::new(vec![key], 1_800_000_000).with_state(tmp.path().join("state.json"));
    // Warm the page cache and create the state file.
    Artifacts::open(&out)?;
    Artifacts::open_trusted(&out, &trust)?;
    let (mut open, mut trusted) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        Artifacts::open(&out)?;
        open.push(start.elapsed());
        let start = Instant::now();
        Artifacts::open_trusted(&out, &trust)?;
        trusted.push(start.elapsed());
    }
    let (open, trusted) = (median(open), median(trusted));
    println!(
        "{} launch specs, {} files, {runs} runs each",
        summary.launch_specs,
        summary.worker_types + summary.ami_sets + 1
    );
    println!("open          {:>9.1} ms", open.as_secs_f64() * 1000.0);
    println!("open_trusted  {:>9.1} ms", trusted.as_secs_f64() * 1000.0);
    println!("ratio         {:>9.3}x", trusted.as_secs_f64() / open.as_secs_f64());
    Ok(())
}
