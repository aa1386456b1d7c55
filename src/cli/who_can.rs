//! `amiset who-can`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct WhoCanArgs {}

pub fn run(_args: WhoCanArgs) -> Result<i32> {
    Err(Error::Other("`amiset who-can` is not available yet".into()))
}
