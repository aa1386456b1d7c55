//! `amiset migrate`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct MigrateArgs {}

pub fn run(_args: MigrateArgs) -> Result<i32> {
    Err(Error::Other("`amiset migrate` is not available yet".into()))
}
