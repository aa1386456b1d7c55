//! `amiset import taskcluster`: a config repository from running worker pools.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{Error, OutputArgs, Result};
use crate::adopt::{self, Options};
use crate::diag::Report;
use crate::resolve::Builtin;

/// `amiset import`.
#[derive(Debug, Args)]
pub struct ImportCommand {
    #[command(subcommand)]
    pub source: ImportSource,
}

/// Where `amiset import` reads from.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Worker-manager worker pools (a JSON file per pool, a JSON list, or tc-admin's `generate --json`).
    Taskcluster(TaskclusterArgs),
}

#[derive(Debug, Args)]
pub struct TaskclusterArgs {
    /// Files of worker pool definitions, as worker-manager returns them, or directories
    /// of them (every `*.json` below, such as an `export taskcluster` OUT).
    #[arg(required = true, value_name = "POOLS")]
    pub pools: Vec<PathBuf>,
    /// Directory to write the config repository into; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Name an AMI set: `DEFAULT=NAME`, with DEFAULT the name of the first pool's worker type that uses it.
    #[arg(long = "set-name", value_name = "DEFAULT=NAME", value_parser = parse_mapping)]
    pub set_names: Vec<(String, String)>,
    /// Accept launchConfigIds other than the ones amiset computes (worker-manager then sees new launch configs).
    #[arg(long)]
    pub renumber: bool,
    /// Print what would be written and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_mapping(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => Err(format!("`{s}` is not DEFAULT=NAME")),
    }
}

/// Largest pool file read: worker-manager pools are kilobytes; tc-admin's output of a large deployment a few megabytes.
const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Deepest directory read under a directory argument.
const MAX_DEPTH: usize = 8;

/// The files an argument names: itself, or every `*.json` file under a
/// directory (an `export taskcluster` OUT, say), in path order. Links inside
/// a directory are not followed.
fn input_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<()> {
        let cannot = |e: std::io::Error| Error::Other(format!("cannot read `{}`: {e}", dir.display()));
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(cannot)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(cannot)?;
        entries.sort();
        for entry in entries {
            let Ok(meta) = std::fs::symlink_metadata(&entry) else { continue };
            if meta.is_dir() && depth < MAX_DEPTH {
                walk(&entry, depth + 1, files)?;
            } else if meta.is_file() && entry.extension().is_some_and(|e| e == "json") {
                files.push(entry);
            }
        }
        Ok(())
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        walk(path, 0, files)
    } else {
        files.push(path.to_path_buf());
        Ok(())
    }
}

pub fn run(cmd: ImportCommand) -> Result<i32> {
    let ImportSource::Taskcluster(args) = cmd.source;
    let mut report = Report::default();
    let mut pools = Vec::new();
    let mut files = Vec::new();
    for path in &args.pools {
        input_files(path, &mut files)?;
    }
    for path in &files {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::Other(format!("cannot read `{name}`: {e}")))?;
        if meta.len() > MAX_INPUT {
            return Err(Error::Other(format!("`{name}` is larger than {MAX_INPUT} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::Other(format!("cannot read `{name}`: {e}")))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Other(format!("`{name}` is not JSON: {e}")))?;
        let (mut read, findings) = adopt::pools::read(&name, &doc);
        pools.append(&mut read);
        report.findings.extend(findings);
    }
    let options = Options {
        set_names: args.set_names.iter().cloned().collect(),
        renumber: args.renumber,
    };
    let imported = if report.errors() == 0 {
        match adopt::import(&pools, &options, &Builtin) {
            Ok(imported) => Some(imported),
            Err(findings) => {
                report.findings.extend(findings);
                None
            }
        }
    } else {
        None
    };
    report.sort();
    let code = args.output.emit(&report, None);
    let Some(imported) = imported.filter(|_| code == super::EXIT_OK) else {
        eprintln!(
            "amiset: nothing imported: the pools cannot be held as they are; `{}` is unchanged",
            args.out.display()
        );
        return Ok(super::EXIT_FINDINGS);
    };
    let plan = plan(&imported);
    if args.dry_run {
        print!("{plan}");
        return Ok(code);
    }
    adopt::write(&imported, &args.out).map_err(|e| Error::Other(e.to_string()))?;
    eprint!("{plan}");
    eprintln!(
        "amiset: imported {} worker pools into `{}`; the round trip through `export taskcluster` gives them back unchanged",
        imported.worker_types.len(),
        args.out.display()
    );
    Ok(code)
}

/// What the import writes, one line per file and per set.
fn plan(imported: &adopt::Imported) -> String {
    let mut out = String::new();
    for (path, text) in &imported.files {
        out.push_str(&format!("write {path} ({} lines)\n", text.lines().count()));
    }
    for (set, pools) in &imported.sets {
        out.push_str(&format!("set {set}: {}\n", pools.join(", ")));
    }
    for (name, pool) in &imported.worker_types {
        out.push_str(&format!("worker type {name}: {pool}\n"));
    }
    if imported.renumbered > 0 {
        out.push_str(&format!("{} launchConfigIds change (--renumber)\n", imported.renumbered));
    }
    out
}
