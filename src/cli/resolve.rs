//! `amiset resolve`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct ResolveArgs {}

pub fn run(_args: ResolveArgs) -> Result<i32> {
    Err(Error::Other("`amiset resolve` is not available yet".into()))
}
