//! Command-line interface: argument definitions (clap derive) and one entry
//! function per command. `main.rs` only parses and calls [`run`].

mod apply;
mod authorize;
mod check;
mod codeowners;
mod compile;
mod completions;
mod diff;
mod drift;
mod ec2;
mod export;
mod import;
mod init;
mod lsp;
mod migrate;
mod plan;
mod promote;
mod resolve;
mod unreferenced;
mod update;
mod verify_artifacts;
mod who_can;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Limits;
use crate::diag::Report;
use crate::report::{self, Format};

/// Exit code: no errors.
pub const EXIT_OK: i32 = 0;
/// Exit code: the config has errors, or the change is not authorized.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: the tool could not do its job.
pub const EXIT_ERROR: i32 = 2;

/// Errors of the tool itself (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Load(#[from] crate::config::load::LoadError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Git(String),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Keep AMI sets and worker types in Git: check, authorize, verify against EC2, compile.
#[derive(Debug, Parser)]
#[command(name = "amiset", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a config repository: schema, cross-references, policy.
    Check(check::CheckArgs),
    /// Check, then write resolved launch specifications as artifacts.
    Compile(compile::CompileArgs),
    /// Decide whether an author holds every scope a change needs.
    Authorize(authorize::AuthorizeArgs),
    /// Show which resolved launch specifications a change alters.
    Diff(diff::DiffArgs),
    /// Print one resolved launch specification.
    Resolve(resolve::ResolveArgs),
    /// Check signed artifacts: signature, hashes, rollback and expiry.
    VerifyArtifacts(verify_artifacts::VerifyArtifactsArgs),
    /// Move raw ImageIds of worker types into AMI sets.
    Migrate(migrate::MigrateArgs),
    /// Take the newest build complete in every region into each AMI set with a `[source]`.
    Update(update::UpdateArgs),
    /// Copy the AMIs of one AMI set into another, key by key.
    Promote(promote::PromoteArgs),
    /// List images of the allowed owners that nothing references, now or in recent history.
    Unreferenced(unreferenced::UnreferencedArgs),
    /// Scaffold a new config repository.
    Init(init::InitArgs),
    /// Record what EC2 says about the referenced AMIs and instance types.
    Ec2(ec2::Ec2Command),
    /// Write the checked config in a provisioner's own format (Taskcluster worker-manager).
    Export(export::ExportCommand),
    /// Write a config repository that holds running deployments (Taskcluster worker-manager pools).
    Import(import::ImportCommand),
    /// Make EC2 resources match the compiled launch specs (needs the `ec2` feature).
    Apply(apply::ApplyCommand),
    /// Compare running instances with the compiled launch specs (needs the `ec2` feature).
    Drift(drift::DriftArgs),
    /// List who holds a scope.
    WhoCan(who_can::WhoCanArgs),
    /// Write a CODEOWNERS file derived from SCOPES.
    Codeowners(codeowners::CodeownersArgs),
    /// Serve the Language Server Protocol over stdio, for editors.
    Lsp(lsp::LspArgs),
    /// Print shell completions or the man page.
    Completions(completions::CompletionsArgs),
}

/// Options shared by every command that reports findings.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Prefix for file paths in github and sarif output (the config directory relative to the repository root).
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,
}

/// Limits for untrusted repositories.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest config file read, in bytes.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Most files in `ami-sets/` and `worker-types/`.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_files: usize,
    /// Most launch specifications (worker types × regions × instance types) resolved in one run.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_launch_specs: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_size: self.max_file_size,
            max_files: self.max_files,
            max_launch_specs: self.max_launch_specs,
        }
    }
}

impl OutputArgs {
    /// Prints `report` to stdout in the chosen format and returns the exit code it implies.
    pub fn emit(&self, report: &Report, dir: Option<&std::path::Path>) -> i32 {
        let prefix = self.path_prefix.clone().unwrap_or_else(|| match dir {
            Some(d) if d != std::path::Path::new(".") => format!("{}/", d.display().to_string().trim_end_matches('/')),
            _ => String::new(),
        });
        let stdout = std::io::stdout();
        let options = report::Options {
            path_prefix: prefix,
            color: stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            width: None,
        };
        let text = report::render(report, self.format, &options);
        let mut lock = stdout.lock();
        let _ = lock.write_all(text.as_bytes());
        let _ = lock.flush();
        self.exit_code(report)
    }

    pub fn exit_code(&self, report: &Report) -> i32 {
        if report.errors() > 0 || (self.deny_warnings && report.warnings() > 0) {
            EXIT_FINDINGS
        } else {
            EXIT_OK
        }
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Authorize(args) => authorize::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Resolve(args) => resolve::run(args),
        Command::VerifyArtifacts(args) => verify_artifacts::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Update(args) => update::run(args),
        Command::Promote(args) => promote::run(args),
        Command::Unreferenced(args) => unreferenced::run(args),
        Command::Init(args) => init::run(args),
        Command::Ec2(args) => ec2::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Drift(args) => drift::run(args),
        Command::WhoCan(args) => who_can::run(args),
        Command::Codeowners(args) => codeowners::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Lsp(args) => lsp::run(args),
    }
}

/// The config directory argument, defaulting to the current directory.
pub fn dir_or_cwd(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("."))
}

/// Where a command reads the config files from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// The files on disk.
    WorkTree,
    /// The Git index (what is about to be committed).
    Index,
    /// A revision's tree, read as Git objects: nothing is checked out.
    Revision(&'a str),
}

/// The config files of `dir` from `source`; for the index and revisions,
/// of the Git repository that contains `dir`.
pub fn read_inputs(dir: &std::path::Path, source: Source<'_>, limits: &Limits) -> Result<crate::config::Inputs> {
    if let Source::WorkTree = source {
        return Ok(crate::config::load::read_dir(dir, limits)?);
    }
    let git = |e: crate::git::GitError| Error::Git(e.to_string());
    let repo = crate::git::open(dir).map_err(git)?;
    let rel = crate::git::dir_in_repo(&repo, dir)
        .ok_or_else(|| Error::Git(format!("`{}` is not inside the work tree of a Git repository", dir.display())))?;
    match source {
        Source::Revision(rev) => {
            let tree = crate::git::tree_at(&repo, rev).map_err(git)?;
            // A directory the revision lacks would read as an empty config that passes.
            crate::git::check_config_dir(&[&tree], &rel)
                .map_err(|_| Error::Usage(format!("`{}` is not a directory in revision `{rev}`", dir.display())))?;
            crate::git::tree_inputs(&repo, &tree, &rel, limits).map_err(git)
        }
        _ => crate::git::index_inputs(&repo, &rel, limits).map_err(git),
    }
}
