//! `amiset ec2`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct Ec2Args {}

pub fn run(_args: Ec2Args) -> Result<i32> {
    Err(Error::Other("`amiset ec2` is not available yet".into()))
}
