//! `amiset codeowners`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct CodeownersArgs {}

pub fn run(_args: CodeownersArgs) -> Result<i32> {
    Err(Error::Other("`amiset codeowners` is not available yet".into()))
}
