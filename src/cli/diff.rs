//! `amiset diff`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct DiffArgs {}

pub fn run(_args: DiffArgs) -> Result<i32> {
    Err(Error::Other("`amiset diff` is not available yet".into()))
}
