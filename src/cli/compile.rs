//! `amiset compile`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct CompileArgs {}

pub fn run(_args: CompileArgs) -> Result<i32> {
    Err(Error::Other("`amiset compile` is not available yet".into()))
}
