//! Writes a synthetic config repository for benchmarks and stress tests.
//!
//! ```text
//! cargo run --release --example corpus -- OUT [--preset small|medium|large] [--seed N] [--defects FRACTION]
//! ```
//!
//! Presets: `small` (config-example scale: 4 sets, 6 worker types, 3 regions),
//! `medium` (400 sets, 2,000 worker types, 10 regions), `large` (400 sets,
//! 5,000 worker types × 10 regions × 4 instance types = 200,000 launch specs).
//! The output is a deterministic function of the preset and seed; with
//! `--defects F`, about a fraction F of worker types name an AMI set that
//! does not exist (`ref::unknown-ami-set`).

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let (mut preset, mut seed, mut defects) = ("medium".to_string(), 0u64, 0.0f64);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--preset" => preset = args.next().ok_or("--preset needs a value")?,
            "--seed" => seed = args.next().ok_or("--seed needs a value")?.parse()?,
            "--defects" => defects = args.next().ok_or("--defects needs a value")?.parse()?,
            _ if out.is_none() && !arg.starts_with('-') => out = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument `{arg}`").into()),
        }
    }
    let out = out.ok_or("usage: corpus OUT [--preset small|medium|large] [--seed N] [--defects FRACTION]")?;
    let (sets, workers, regions) = match preset.as_str() {
        "small" => (4, 6, 3),
        "medium" => (400, 2000, 10),
        "large" => (400, 5000, 10),
        other => return Err(format!("unknown preset `{other}`").into()),
    };
    if out.exists() {
        return Err(format!("`{}` exists; give a new directory", out.display()).into());
    }
    corpus::write(&out, sets, workers, regions, seed);
    let mut broken = 0;
    if defects > 0.0 {
        for w in 0..workers {
            // A fixed hash of (seed, w) decides, so the defects are reproducible.
            let h = (seed ^ (w as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 11;
            if (h as f64) / ((1u64 << 53) as f64) < defects {
                let path = out.join(format!("worker-types/worker-{w}.toml"));
                let text = std::fs::read_to_string(&path)?;
                let text = text.replacen(&format!("amiSetId = \"set-{}\"", w % sets), "amiSetId = \"missing-set\"", 1);
                std::fs::write(&path, text)?;
                broken += 1;
            }
        }
    }
    println!(
        "wrote {} ({preset}, seed {seed}): {sets} AMI sets, {workers} worker types, {} launch specs, {broken} defects",
        out.display(),
        workers * regions * corpus::INSTANCE_TYPES.len()
    );
    Ok(())
}
