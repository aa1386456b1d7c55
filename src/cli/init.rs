//! `amiset init DIR`: scaffold a new config repository.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_OK, Error, Result};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the repository in (created if missing).
    pub dir: PathBuf,
}

pub fn run(args: InitArgs) -> Result<i32> {
    let written = crate::init::init(&args.dir).map_err(|e| Error::Other(e.to_string()))?;
    for path in written {
        println!("created {}", args.dir.join(path).display());
    }
    println!(
        "next: edit the AMI set and worker type, then run `amiset check {}`",
        args.dir.display()
    );
    Ok(EXIT_OK)
}
