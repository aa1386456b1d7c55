//! `amiset compile`: check, then write resolved launch specifications.

use std::path::{Path, PathBuf};

use clap::Args;

use super::ec2::Ec2Args;
use super::{Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::artifacts::{self, CompileOptions, Signing, sign};
use crate::config::load;
use crate::resolve::Builtin;

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Output directory; replaced atomically, and only when the config has no errors.
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub ec2: Ec2Args,
    /// Sign the artifacts with `file:PATH` (an Ed25519 private key, PKCS#8 PEM) or
    /// `awskms:KEY-ID` (an AWS KMS ECC_NIST_P256 key); needs a clean Git checkout.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<String>,
    /// How long signed artifacts are accepted after their commit's committer
    /// time: hours (`12h`) or days (`30d`). Default: 30d.
    #[arg(long, value_name = "DURATION", requires = "sign")]
    pub valid_for: Option<String>,
}

pub fn run(args: CompileArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    if let Some(problem) = clobbers_config(&dir, &args.out) {
        return Err(Error::Usage(problem));
    }
    let signing = args
        .sign
        .as_deref()
        .map(|key| signing(&dir, key, args.valid_for.as_deref()))
        .transpose()?;
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, report, catalog) = super::check::checked(&inputs, &limits, &args.ec2)?;
    let code = args.output.emit(&report, Some(&dir));
    if code != super::EXIT_OK {
        eprintln!("amiset: not compiled: the config has errors; `{}` is unchanged", args.out.display());
        return Ok(code);
    }
    let options = CompileOptions {
        ec2_verified: catalog.is_some(),
        source: artifacts::source_of(&dir),
        ec2_findings: report
            .findings
            .iter()
            .filter(|f| f.code.as_str().starts_with("ec2::"))
            .cloned()
            .collect(),
        signing,
    };
    let compiled = match &catalog {
        Some(catalog) => artifacts::compile(&config, catalog, &args.out, &options),
        None => artifacts::compile(&config, &Builtin, &args.out, &options),
    };
    let summary = compiled.map_err(|e| Error::Other(e.to_string()))?;
    eprintln!(
        "amiset: compiled {} worker types ({} launch specs) and {} AMI sets into `{}`",
        summary.worker_types,
        summary.launch_specs,
        summary.ami_sets,
        args.out.display()
    );
    Ok(code)
}

/// The anchor of `dir` and the signer `key` names; checked before anything is compiled.
fn signing(dir: &Path, key: &str, valid_for: Option<&str>) -> Result<Signing> {
    let text = valid_for.unwrap_or(sign::DEFAULT_VALID_FOR);
    let seconds = sign::valid_for_seconds(text).ok_or_else(|| {
        Error::Usage(format!(
            "`--valid-for {text}` is not a duration: a whole number of hours (`12h`) or days (`30d`)"
        ))
    })?;
    let anchor = sign::anchor(dir, seconds).map_err(Error::Usage)?;
    let signer = sign::signer(key).map_err(|e| Error::Other(e.to_string()))?;
    Ok(Signing { anchor, signer })
}

/// Why writing OUT would destroy the config it is compiled from: OUT is the
/// config directory, one of its ancestors, or inside `ami-sets/` or
/// `worker-types/` (OUT is replaced as a whole). `None` when OUT is elsewhere,
/// including a directory of its own inside the config directory.
/// `path` made absolute with symbolic links resolved, where parts of it may
/// not exist yet (OUT's missing parents are created): the longest existing
/// prefix is canonicalized and the rest, which cannot hold links, is
/// appended with `.` and `..` resolved lexically.
fn existing_prefix_canonical(path: &Path) -> Option<std::path::PathBuf> {
    let mut rest = Vec::new();
    let mut prefix = path;
    let mut base = loop {
        match prefix.canonicalize() {
            Ok(p) => break p,
            Err(_) if prefix == Path::new(".") || prefix.parent().is_none() => return None,
            Err(_) => {
                rest.push(prefix.file_name().map(|n| n.to_os_string()));
                prefix = match prefix.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
            }
        }
    };
    for part in rest.into_iter().rev() {
        match part {
            Some(name) => base.push(name),
            // A trailing `..` (no file name): one level up.
            None => {
                base.pop();
            }
        }
    }
    Some(base)
}

pub(super) fn clobbers_config(dir: &Path, out: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let out_abs = match (out.parent(), out.file_name()) {
        // The last component itself is not followed: a link as OUT is refused when writing.
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            existing_prefix_canonical(parent)?.join(name)
        }
        _ => out.canonicalize().ok()?,
    };
    if dir.starts_with(&out_abs) {
        return Some(format!(
            "`--out {}` is the config directory `{}` or contains it; compiling there would replace the config",
            out.display(),
            dir.display()
        ));
    }
    crate::config::CONFIG_DIRS
        .iter()
        .find(|sub| out_abs.starts_with(dir.join(sub)))
        .map(|sub| {
            format!(
                "`--out {}` is inside the config directory's `{sub}/`; choose a directory of its own",
                out.display()
            )
        })
}
