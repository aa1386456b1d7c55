//! `amiset authorize`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct AuthorizeArgs {}

pub fn run(_args: AuthorizeArgs) -> Result<i32> {
    Err(Error::Other("`amiset authorize` is not available yet".into()))
}
