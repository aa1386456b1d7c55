//! `amiset init`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct InitArgs {}

pub fn run(_args: InitArgs) -> Result<i32> {
    Err(Error::Other("`amiset init` is not available yet".into()))
}
