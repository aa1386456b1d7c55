//! The floor for `amiset check`: read every config file of a directory and
//! parse it as TOML (in parallel, as check does), nothing else.
//!
//! ```text
//! cargo run --release --example parse_floor -- DIR
//! ```

use rayon::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: parse_floor DIR")?);
    let mut files = Vec::new();
    for sub in ["ami-sets", "worker-types"] {
        for entry in std::fs::read_dir(dir.join(sub))? {
            files.push(entry?.path());
        }
    }
    files.push(dir.join("amiset.toml"));
    let keys: usize = files
        .par_iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.parse::<toml::Table>().map(|t| t.len()).unwrap_or(0)
        })
        .sum();
    println!("{} files, {keys} top-level keys", files.len());
    Ok(())
}
