//! `amiset completions`.

use clap::Args;

use super::{Error, Result};

#[derive(Debug, Args)]
pub struct CompletionsArgs {}

pub fn run(_args: CompletionsArgs) -> Result<i32> {
    Err(Error::Other("`amiset completions` is not available yet".into()))
}
