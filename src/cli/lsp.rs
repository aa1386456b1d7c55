//! `amiset lsp`: the language server over stdio (docs/editors.md).

use clap::Args;

use super::{EXIT_FINDINGS, EXIT_OK, Error, LimitArgs, Result};

#[derive(Debug, Args)]
pub struct LspArgs {
    /// Accepted for clients that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: LspArgs) -> Result<i32> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let clean = crate::lsp::serve(&mut stdin.lock(), &mut stdout.lock(), args.limits.limits())
        .map_err(|e| Error::Other(format!("language server I/O: {e}")))?;
    // LSP: exit 0 after `shutdown`, 1 when the client went away without it.
    Ok(if clean { EXIT_OK } else { EXIT_FINDINGS })
}
