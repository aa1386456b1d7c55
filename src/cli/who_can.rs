//! `amiset who-can SCOPE`: who holds a scope, and through which SCOPES line.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FINDINGS, EXIT_OK, LimitArgs, Result, dir_or_cwd};
use crate::config::{self, load};
use crate::scopes::{self, satisfies};

#[derive(Debug, Args)]
pub struct WhoCanArgs {
    /// The scope, e.g. `aws-provisioner:manage-ami-set:ubuntu-2204`.
    pub scope: String,
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: WhoCanArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, _) = config::load(&inputs, &limits);
    let text = config.scopes_source.as_deref().unwrap_or("");
    let (grants, findings) = scopes::parse("SCOPES", text, &config.policy);
    for f in &findings {
        eprintln!("warning: SCOPES: {} (that line is ignored)", f.message);
    }
    let mut holders = BTreeSet::new();
    for grant in grants.grants.iter().filter(|g| satisfies(&g.pattern, &args.scope)) {
        let mut names = Vec::new();
        for grantee in &grant.grantees {
            let team = config.policy.teams.iter().find(|(t, _)| t.eq_ignore_ascii_case(grantee));
            match team {
                Some((_, members)) => {
                    names.push(format!("{grantee} ({})", members.join(", ")));
                    holders.extend(members.iter().map(|m| scopes::normalize_identity(m)));
                }
                None => {
                    names.push(grantee.clone());
                    if !grantee.contains('/') {
                        holders.insert(scopes::normalize_identity(grantee));
                    } else {
                        holders.insert(grantee.to_ascii_lowercase());
                    }
                }
            }
        }
        println!("SCOPES:{} {}  {}", grant.line, grant.pattern, names.join(" "));
    }
    if holders.is_empty() {
        println!("nobody holds `{}`", args.scope);
        return Ok(EXIT_FINDINGS);
    }
    println!("holders: {}", holders.into_iter().collect::<Vec<_>>().join(", "));
    if args.scope == config.policy.admin_scope() {
        println!(
            "needed to change: SCOPES, amiset.toml and the protected paths {}",
            config.policy.protected_paths().join(", ")
        );
    }
    Ok(EXIT_OK)
}
