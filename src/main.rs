//! The `amiset` command: parse arguments, run, map to an exit code.

use clap::Parser;

// Parsing builds many small trees; mimalloc is markedly faster than the
// system allocator for that (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = amiset::cli::Cli::parse();
    let code = match amiset::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            amiset::cli::EXIT_ERROR
        }
    };
    std::process::exit(code);
}
