//! Taskcluster worker-manager worker pools from worker types (DESIGN §10):
//! `amiset export taskcluster`. One pool per worker type, for
//! worker-manager's AWS provider: `workerPoolId` is
//! `<provisionerId>/<workerType>`, and `config` holds one `launchConfig` per
//! (region, instance type) with the resolved launch spec, the instance type's
//! `capacity` as `capacityPerInstance` and the worker type's `userData` as
//! `workerConfig`. What worker-manager would reject is a finding here, before
//! anything is written; the files go through the artifacts writer (atomic,
//! deterministic bytes).

use std::path::Path;

use serde_json::{Map, Value as Json, json};

use crate::artifacts::{self, CompileError, Source};
use crate::config::{Config, WorkerType};
use crate::diag::{Code, Finding};
use crate::resolve::TypeCatalog;

/// Launch spec keys worker-manager's AWS provider refuses in a `launchConfig`
/// (`config-aws.yml`: it sets them itself, or forbids arbitrary IAM instance profiles).
pub const FORBIDDEN_KEYS: [&str; 4] = ["IamInstanceProfile", "UserData", "MinCount", "MaxCount"];

/// Worker type keys that have no counterpart in a worker pool of the AWS provider.
const NOT_EXPORTED: [&str; 6] = ["minPrice", "maxPrice", "canUseOndemand", "canUseSpot", "scalingRatio", "scopes"];

/// Whether `name` is a worker-manager `workerType` (the part after `/` of a `workerPoolId`).
pub fn is_worker_type_id(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 38
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.ends_with('-')
}

/// Whether `owner` looks like an e-mail address (worker-manager's `owner` has `format: email`).
fn is_email(owner: &str) -> bool {
    match owner.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !owner.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The worker pools of a checked config, by path relative to OUT
/// (`<provisionerId>/<workerType>.json`), or the findings that stop the
/// export (warnings come with the pools).
pub fn worker_pools(config: &Config, catalog: &dyn TypeCatalog) -> (Vec<(String, Json)>, Vec<Finding>) {
    let mut findings = settings_findings(config);
    let tc = &config.policy.taskcluster;
    let mut pools = Vec::new();
    for (name, wt) in &config.worker_types {
        let before = findings.len();
        findings.extend(worker_type_findings(config, wt));
        if findings[before..].iter().any(Finding::is_error) {
            continue;
        }
        let (Some(provisioner), Some(provider)) = (&tc.provisioner_id, &tc.provider_id) else {
            continue;
        };
        let resolved = match artifacts::resolved_specs(config, wt, catalog) {
            Ok(r) => r,
            Err(e) => {
                findings.push(Finding::new(Code::NoUsableAmi, e.to_string()).in_file(format!("worker-types/{name}.toml")));
                continue;
            }
        };
        let capacity: Map<String, Json> = wt
            .instance_types
            .iter()
            .map(|t| (t.instance_type.clone(), json!(t.capacity as u64)))
            .collect();
        let launch_configs: Vec<Json> = resolved
            .iter()
            .map(|r| {
                json!({
                    "region": r.region,
                    "launchConfig": Json::Object(r.launch_spec.clone()),
                    "capacityPerInstance": capacity.get(&r.instance_type).cloned().unwrap_or(json!(1)),
                    "workerConfig": Json::Object(wt.user_data.clone()),
                })
            })
            .collect();
        let mut pool_config = json!({
            "minCapacity": wt.min_capacity,
            "maxCapacity": wt.max_capacity,
            "launchConfigs": launch_configs,
        });
        if let Some(lifecycle) = &tc.lifecycle {
            pool_config["lifecycle"] = serde_json::to_value(lifecycle).unwrap_or(Json::Null);
        }
        let owner = wt.owner.clone().or_else(|| tc.owner.clone()).unwrap_or_default();
        pools.push((
            format!("{provisioner}/{name}.json"),
            json!({
                "workerPoolId": format!("{provisioner}/{name}"),
                "providerId": provider,
                "description": wt.description.clone().unwrap_or_default(),
                "owner": owner,
                "emailOnError": tc.email_on_error,
                "config": pool_config,
            }),
        ));
    }
    (pools, findings)
}

/// `provisionerId` and `providerId` must be set in `[taskcluster]`.
fn settings_findings(config: &Config) -> Vec<Finding> {
    let tc = &config.policy.taskcluster;
    let missing: Vec<&str> = [
        ("provisionerId", tc.provisioner_id.is_none()),
        ("providerId", tc.provider_id.is_none()),
    ]
    .into_iter()
    .filter_map(|(k, m)| m.then_some(k))
    .collect();
    missing
        .into_iter()
        .map(|key| {
            let f = Finding::new(
                Code::TaskclusterMissingSetting,
                format!("`amiset export taskcluster` needs `{key}` in the `[taskcluster]` table of `amiset.toml`"),
            )
            .help(format!(
                "add `[taskcluster]` with `{key} = \"...\"` to `amiset.toml` (see docs/delivery.md)"
            ));
            match &config.policy_doc {
                Some(doc) if doc.root.get("taskcluster").is_some() => {
                    f.at("amiset.toml", doc.span_of_key("/taskcluster")).label("this table lacks it")
                }
                Some(_) => f.in_file("amiset.toml"),
                None => f,
            }
        })
        .collect()
}

fn worker_type_findings(config: &Config, wt: &WorkerType) -> Vec<Finding> {
    let file = format!("worker-types/{}.toml", wt.name);
    let doc = config.worker_doc(&wt.name);
    let at = |f: Finding, pointer: &str, key: bool| match doc {
        Some(d) => f.at(&file, if key { d.span_of_key(pointer) } else { d.span_of_value(pointer) }),
        None => f.in_file(&file),
    };
    let mut out = Vec::new();
    if !is_worker_type_id(&wt.name) {
        out.push(
            Finding::new(
                Code::TaskclusterInvalidValue,
                format!("worker type `{}` is not a valid worker-manager workerType", wt.name),
            )
            .in_file(&file)
            .help("worker-manager's workerType is 1 to 38 lower-case letters, digits and `-`, starting with a letter and not ending in `-`; rename the file"),
        );
    }
    match wt.owner.as_deref().or(config.policy.taskcluster.owner.as_deref()) {
        None => out.push(
            Finding::new(
                Code::TaskclusterMissingSetting,
                format!(
                    "worker type `{}` has no `owner`, and `[taskcluster]` in `amiset.toml` has no default `owner`",
                    wt.name
                ),
            )
            .in_file(&file)
            .help("worker-manager needs an owner e-mail for every worker pool: set `owner` here or in `[taskcluster]`"),
        ),
        Some(owner) if !is_email(owner) => {
            let f = Finding::new(
                Code::TaskclusterInvalidValue,
                format!("owner `{owner}` of worker type `{}` is not an e-mail address", wt.name),
            )
            .label("worker-manager needs an e-mail address")
            .help("worker-manager e-mails a pool's owner about provisioning errors; use an address such as `relops@example.com`");
            out.push(match wt.owner {
                Some(_) => at(f, "/owner", false),
                None => match &config.policy_doc {
                    Some(d) => f.at("amiset.toml", d.span_of_value("/taskcluster/owner")),
                    None => f,
                },
            });
        }
        Some(_) => {}
    }
    for (i, t) in wt.instance_types.iter().enumerate() {
        if t.capacity < 1.0 || t.capacity.fract() != 0.0 || t.capacity > u32::MAX as f64 {
            out.push(at(
                Finding::new(
                    Code::TaskclusterInvalidValue,
                    format!(
                        "capacity {} of `{}` in worker type `{}` is not a whole number of at least 1",
                        t.capacity, t.instance_type, wt.name
                    ),
                )
                .label("worker-manager's capacityPerInstance is an integer ≥ 1")
                .help("worker-manager counts capacity in whole tasks: use 1, 2, ..."),
                &format!("/instanceTypes/{i}/capacity"),
                false,
            ));
        }
    }
    let layers = wt.launch_spec_layers();
    for (pointer, spec) in layers {
        for key in FORBIDDEN_KEYS.iter().filter(|k| spec.contains_key(**k)) {
            out.push(at(
                Finding::new(
                    Code::TaskclusterForbiddenKey,
                    format!("worker-manager's AWS provider refuses `{key}` in a launchConfig (worker type `{}`)", wt.name),
                )
                .label("not allowed by worker-manager")
                .help(match *key {
                    "IamInstanceProfile" => "worker-manager does not pass arbitrary IAM instance profiles; remove it, or keep this worker type out of Taskcluster",
                    _ => "worker-manager sets this itself; remove it",
                }),
                &format!("{pointer}/{key}"),
                true,
            ));
        }
    }
    let mut dropped: Vec<String> = NOT_EXPORTED
        .iter()
        .filter(|k| doc.is_some_and(|d| d.root.get(k).is_some()))
        .map(|k| format!("`{k}`"))
        .collect();
    if doc.is_some_and(|d| (0..wt.instance_types.len()).any(|i| d.root.pointer(&format!("/instanceTypes/{i}/utility")).is_some())) {
        dropped.push("`instanceTypes[].utility`".into());
    }
    if !dropped.is_empty() {
        let first = NOT_EXPORTED
            .iter()
            .find(|k| doc.is_some_and(|d| d.root.get(k).is_some()))
            .map_or("/instanceTypes".to_string(), |k| format!("/{k}"));
        out.push(at(
            Finding::new(
                Code::TaskclusterNotExported,
                format!(
                    "worker type `{}`: {} have no counterpart in a worker-manager AWS worker pool and are not exported",
                    wt.name,
                    dropped.join(", ")
                ),
            )
            .label("not exported")
            .help("worker-manager launches on-demand instances as each launchConfig says; put spot settings in `launchSpec.InstanceMarketOptions` and grant worker scopes through the `worker-pool:<workerPoolId>` role"),
            &first,
            true,
        ));
    }
    out
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    pub worker_pools: usize,
    pub launch_configs: usize,
}

/// Writes `pools` (from [`worker_pools`], with no error findings) to `out`,
/// atomically: `out` is replaced as a whole, or left untouched on failure.
pub fn write(pools: &[(String, Json)], out: &Path, source: Option<Source>) -> Result<Exported, CompileError> {
    let files: Vec<(String, Vec<u8>)> = pools
        .iter()
        .map(|(rel, pool)| (rel.clone(), artifacts::to_bytes(pool.clone())))
        .collect();
    artifacts::replace_dir(out, |root| artifacts::write_files(root, &files, source))?;
    Ok(Exported {
        worker_pools: pools.len(),
        launch_configs: pools
            .iter()
            .map(|(_, p)| p["config"]["launchConfigs"].as_array().map_or(0, Vec::len))
            .sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_type_ids_follow_worker_managers_pattern() {
        for ok in ["a", "gecko-t-linux", "b1", &format!("a{}", "b".repeat(37))] {
            assert!(is_worker_type_id(ok), "{ok}");
        }
        for bad in ["", "1abc", "Gecko", "gecko_t", "gecko-", "-a", &format!("a{}", "b".repeat(38))] {
            assert!(!is_worker_type_id(bad), "{bad}");
        }
    }

    #[test]
    fn owners_must_be_email_addresses() {
        assert!(is_email("relops@example.com"));
        for bad in ["relops", "@example.com", "a@b", "a b@example.com", "a@@example.com", "a@example."] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
