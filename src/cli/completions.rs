//! `amiset completions SHELL`: shell completions, or the man page, generated from the clap definitions.

use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, EXIT_OK, Error, Result};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The man page (roff), for `man -l -`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell, or `man` for the man page.
    #[arg(value_enum)]
    pub target: Target,
}

pub fn run(args: CompletionsArgs) -> Result<i32> {
    let mut command = Cli::command();
    // Generated into memory first: the generators panic on a closed pipe (`| head`).
    let mut out = Vec::new();
    let shell = match args.target {
        Target::Bash => clap_complete::Shell::Bash,
        Target::Zsh => clap_complete::Shell::Zsh,
        Target::Fish => clap_complete::Shell::Fish,
        Target::Elvish => clap_complete::Shell::Elvish,
        Target::Powershell => clap_complete::Shell::PowerShell,
        Target::Man => {
            clap_mangen::Man::new(command)
                .render(&mut out)
                .map_err(|e| Error::Other(e.to_string()))?;
            return print(&out);
        }
    };
    clap_complete::generate(shell, &mut command, "amiset", &mut out);
    print(&out)
}

fn print(bytes: &[u8]) -> Result<i32> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Other(format!("cannot write: {e}"))),
        _ => Ok(EXIT_OK),
    }
}
