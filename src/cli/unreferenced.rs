//! `amiset unreferenced`: images of the allowed owners that nothing in the
//! config references, now or in the rollback window; optionally deregistered.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::ec2::Ec2Connection;
use super::{EXIT_FINDINGS, EXIT_OK, Error, LimitArgs, Result, dir_or_cwd};
use crate::diag::{Code, Finding, Report};
use crate::ec2::images::Query;
use crate::intake::unreferenced::{self, Sources};
use crate::{config, git, regions};

/// How `unreferenced` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// One line per image: region, id, name, creation date.
    Human,
    /// `{"images": [...], "failedRegions": {...}, "deregistered": [...]}`.
    Json,
}

#[derive(Debug, Args)]
pub struct UnreferencedArgs {
    /// Config directory, or a bare Git repository (default: the current directory).
    pub dir: Option<PathBuf>,
    /// How many of the latest commits that changed the config still count as references (the rollback window).
    #[arg(long, value_name = "N")]
    pub keep_revisions: usize,
    /// In a bare repository, the config directory relative to its root.
    #[arg(long, value_name = "PATH", default_value = "")]
    pub config_dir: String,
    /// Deregister every image listed, re-checking references right before each call.
    #[arg(long)]
    pub deregister: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Human)]
    pub format: ListFormat,
    #[command(flatten)]
    pub connection: Ec2Connection,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Exit 0 when every region was read (and every deregistration succeeded),
/// 1 otherwise, 2 on tool errors.
pub fn run(args: UnreferencedArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let git_err = |e: git::GitError| Error::Git(e.to_string());
    let repo = match git::open(&dir) {
        Ok(repo) => Some(repo),
        Err(_) if args.keep_revisions == 0 => None,
        Err(e) => return Err(Error::Git(format!("{e}; `--keep-revisions` needs the config's Git history"))),
    };
    let bare = repo.as_ref().is_some_and(|r| r.is_bare());
    let rel = match &repo {
        Some(r) if bare => git::normalize_dir(&args.config_dir),
        Some(r) => git::dir_in_repo(r, &dir)
            .ok_or_else(|| Error::Git(format!("`{}` is not inside the work tree of its repository", dir.display())))?,
        None => String::new(),
    };
    let inputs = match &repo {
        Some(r) if bare => {
            let tree = git::tree_at(r, "HEAD").map_err(git_err)?;
            git::tree_inputs(r, &tree, &rel, &limits).map_err(git_err)?
        }
        _ => config::load::read_dir(&dir, &limits)?,
    };
    let (config, _) = config::load(&inputs, &limits);
    let Some(owners) = config.policy.ami_owners.clone() else {
        return Err(Error::Usage(
            "`amiOwners` is not set in `amiset.toml`: `unreferenced` lists only images of accounts you name".into(),
        ));
    };
    let region_list: Vec<String> = match &config.policy.regions {
        Some(list) => list.iter().filter(|r| regions::is_known(r)).cloned().collect(),
        None => regions::KNOWN.iter().map(|r| r.to_string()).collect(),
    };
    let queries: BTreeMap<String, Query> = region_list
        .into_iter()
        .map(|r| {
            (
                r,
                Query {
                    owners: owners.clone(),
                    names: Vec::new(),
                },
            )
        })
        .collect();
    let sources = Sources {
        work_tree: (!bare).then_some(dir.as_path()),
        repo: repo.as_ref().map(|r| (r, rel.as_str())),
        keep_revisions: args.keep_revisions,
    };
    let referenced = unreferenced::references(&sources, &limits).map_err(Error::Other)?;
    let found = args.connection.images_by_name(&queries)?;
    let listed = unreferenced::unreferenced(&found, &referenced);
    let mut report = Report::default();
    let failed: BTreeMap<&String, &String> = found.iter().filter_map(|(r, a)| a.as_ref().err().map(|e| (r, e))).collect();
    for (region, error) in &failed {
        report.findings.push(
            Finding::new(Code::RegionUnreadable, format!("images in {region} could not be listed: {error}"))
                .help("nothing in this region is listed or deregistered; run again"),
        );
    }

    let outcomes: std::cell::RefCell<Vec<serde_json::Value>> = std::cell::RefCell::new(Vec::new());
    if args.deregister {
        let todo: Vec<(String, String)> = listed
            .iter()
            .flat_map(|(r, imgs)| imgs.iter().map(move |i| (r.clone(), i.id.clone())))
            .collect();
        let record = |region: &str, id: &str, result: String| {
            outcomes
                .borrow_mut()
                .push(serde_json::json!({"region": region, "id": id, "result": result}));
        };
        let mut go_ahead = |region: &str, id: &str| {
            // Re-read every reference right before the call: a commit may have landed meanwhile.
            match unreferenced::references(&sources, &limits) {
                Ok(now) if now.contains(id) => {
                    record(region, id, "kept: referenced now".into());
                    false
                }
                Ok(_) => true,
                Err(e) => {
                    record(region, id, format!("kept: cannot re-check references: {e}"));
                    false
                }
            }
        };
        let mut errors = Vec::new();
        // A failed call is recorded and the rest go ahead, in this region and the others.
        let mut done = |region: &str, id: &str, result: std::result::Result<(), String>| match result {
            Ok(()) => record(region, id, "deregistered".into()),
            Err(e) => {
                record(region, id, format!("failed: {e}"));
                errors.push((region.to_string(), id.to_string(), e));
            }
        };
        args.connection.deregister(&todo, &mut go_ahead, &mut done)?;
        for (region, id, e) in errors {
            report.findings.push(
                Finding::new(Code::DeregisterFailed, format!("`{id}` in {region} was not deregistered: {e}"))
                    .help("the other images went ahead; run again"),
            );
        }
    }
    let outcomes = outcomes.into_inner();

    let mut stdout = std::io::stdout().lock();
    match args.format {
        ListFormat::Json => {
            let images: Vec<serde_json::Value> = listed
                .iter()
                .flat_map(|(r, imgs)| {
                    imgs.iter().map(move |i| {
                        serde_json::json!({"region": r, "id": i.id, "name": i.name, "ownerId": i.owner_id, "creationDate": i.creation_date})
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "images": images,
                "failedRegions": failed,
                "deregister": outcomes,
                "findings": report.located(),
            });
            let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        ListFormat::Human => {
            for (region, imgs) in &listed {
                for i in imgs {
                    let line = format!("{region}\t{}\t{}\t{}", i.id, i.name, i.creation_date.as_deref().unwrap_or("?"));
                    let _ = writeln!(stdout, "{}", crate::report::sanitize(&line));
                }
            }
            for o in &outcomes {
                let _ = writeln!(
                    stdout,
                    "{} {}: {}",
                    o["region"].as_str().unwrap_or(""),
                    o["id"].as_str().unwrap_or(""),
                    o["result"].as_str().unwrap_or("")
                );
            }
            for f in &report.findings {
                let _ = writeln!(
                    std::io::stderr(),
                    "error[{}]: {}",
                    f.code.as_str(),
                    crate::report::sanitize(&f.message)
                );
            }
        }
    }
    let _ = stdout.flush();
    Ok(if report.errors() > 0 { EXIT_FINDINGS } else { EXIT_OK })
}
