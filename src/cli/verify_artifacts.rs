//! `amiset verify-artifacts`: what a provisioner's `Artifacts::open_trusted`
//! checks, from the shell. Exit 0 verified, 1 refused (with the refusal's
//! code), 2 a tool error such as an unreadable key file.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FINDINGS, EXIT_OK, Error, Result};
use crate::artifacts::{Artifacts, PublicKey, Trust, TrustError};

#[derive(Debug, Args)]
pub struct VerifyArtifactsArgs {
    /// The compiled artifacts (the OUT of `compile --sign`).
    pub dir: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// The keys and state file that signed artifacts are checked with.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// A trusted public key, PEM (Ed25519 or NIST P-256); repeat it to trust several (key rotation).
    #[arg(long = "trust-key", value_name = "PEM", required = true)]
    pub keys: Vec<PathBuf>,
    /// State file recording the highest `sequence` accepted (created on first use); refuses older artifacts.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl TrustArgs {
    /// The trust these flags describe, at the current time (`AMISET_NOW` when set).
    pub fn trust(&self) -> Result<Trust> {
        let keys = self
            .keys
            .iter()
            .map(|path| PublicKey::from_pem_file(path).map_err(|e| Error::Usage(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let now = crate::ec2::now().map_err(Error::Usage)?;
        let mut trust = Trust::new(keys, now);
        trust.state = self.state.clone();
        Ok(trust)
    }

    /// Opens `dir` with [`Artifacts::open_trusted`]: `Ok(Err(code))` when
    /// the artifacts are refused (the refusal is printed), `Err` for a tool error.
    pub fn open(&self, dir: &std::path::Path) -> Result<std::result::Result<Artifacts, i32>> {
        match Artifacts::open_trusted(dir, &self.trust()?) {
            Ok(artifacts) => Ok(Ok(artifacts)),
            Err(e) => match refusal(&e) {
                Some(code) => {
                    eprintln!("amiset: refused: {code}: {e}");
                    Ok(Err(EXIT_FINDINGS))
                }
                None => Err(Error::Other(e.to_string())),
            },
        }
    }
}

fn refusal(e: &TrustError) -> Option<&'static str> {
    e.code().map(|c| c.as_str())
}

pub fn run(args: VerifyArtifactsArgs) -> Result<i32> {
    let artifacts = match args.trust.open(&args.dir)? {
        Ok(artifacts) => artifacts,
        Err(code) => return Ok(code),
    };
    let m = artifacts.manifest();
    println!(
        "verified `{}`: sequence {}, commit {}, expires {}",
        args.dir.display(),
        m.sequence.unwrap_or_default(),
        m.source_commit.as_deref().unwrap_or_default(),
        m.expires.as_deref().unwrap_or_default()
    );
    Ok(EXIT_OK)
}
