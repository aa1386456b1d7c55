//! Taskcluster worker-manager worker pools from worker types (DESIGN §10):
//! `amiset export taskcluster`. One pool per worker type, for
//! worker-manager's AWS provider: `workerPoolId` is
//! `<provisionerId>/<workerType>` (amiset.toml's `[taskcluster]`, overridden
//! by the worker type's own), and `config` holds one launchConfig per
//! (region, instance type) with the resolved launch spec, the worker config
//! (the AMI set's `[workerConfig]` under the worker type's `userData`) and
//! worker-manager's `workerManager` block: `capacityPerInstance`, the
//! computed `launchConfigId`, and `initialWeight` / `maxCapacity` where the
//! config sets them. What worker-manager would reject is a finding here,
//! before anything is written; the files go through the artifacts writer
//! (atomic, deterministic bytes).

mod pyjson;

use std::path::Path;

use serde_json::{Map, Value as Json, json};

use crate::artifacts::{self, CompileError, Source};
use crate::check::pools;
use crate::config::{Config, Lifecycle, WorkerManagerSettings, WorkerType};
use crate::diag::{Code, Finding};
use crate::resolve::{Resolved, TypeCatalog};

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

/// The `launchConfigId` worker-manager identifies a launchConfig by: `lc-`
/// and the first 20 hex digits of the sha256 of the workerPoolId followed by
/// `entry` (the launchConfig without `workerManager`) as Python's
/// `json.dumps(entry, sort_keys=True)` writes it, UTF-8 encoded.
///
/// This is the id Taskcluster's own generators compute, so a pool amiset
/// exports and one they generate agree: taskcluster/community-tc-config,
/// `generate/workers.py` (`get_launch_config_id`: the sha256 of
/// `worker_pool_id + json.dumps(cfg_without_wm, sort_keys=True)`, where
/// `cfg_without_wm` is the launchConfig entry minus its `workerManager` key,
/// taken after `workerConfig` is merged in). taskcluster/tc-admin
/// (`tcadmin/resources/worker_pool.py`) passes the pool's `config` through
/// unchanged and computes no id of its own.
pub fn launch_config_id(worker_pool_id: &str, entry: &Map<String, Json>) -> String {
    let mut without = entry.clone();
    without.remove("workerManager");
    let text = format!("{worker_pool_id}{}", pyjson::dumps(&Json::Object(without)));
    let hex = artifacts::sha256_hex(text.as_bytes());
    format!("lc-{}", &hex[..20])
}

/// A worker type's pool settings: amiset.toml's `[taskcluster]` with the
/// worker type's own `[taskcluster]` laid over it.
struct PoolSettings {
    worker_pool_id: Option<String>,
    email_on_error: bool,
    lifecycle: Option<Lifecycle>,
}

impl PoolSettings {
    fn of(config: &Config, wt: &WorkerType) -> PoolSettings {
        let tc = &config.policy.taskcluster;
        let own = wt.taskcluster.as_ref();
        let lifecycle = match (&tc.lifecycle, own.and_then(|o| o.lifecycle.as_ref())) {
            (Some(base), Some(over)) => Some(base.overlaid(over)),
            (base, over) => over.or(base.as_ref()).cloned(),
        };
        PoolSettings {
            worker_pool_id: config.worker_pool_id(wt),
            email_on_error: own.and_then(|o| o.email_on_error).unwrap_or(tc.email_on_error),
            lifecycle,
        }
    }
}

/// The `workerManager` layers of one launchConfig, first to last (the later
/// wins): the worker type's `[taskcluster] workerManager`, the zone's, then
/// the instance type's `workerManager`.
fn worker_manager_layers<'a>(wt: &'a WorkerType, r: &Resolved) -> Vec<&'a WorkerManagerSettings> {
    let pool = wt.taskcluster.as_ref().and_then(|t| t.worker_manager.as_ref());
    let zone = r.zone.as_ref().and_then(|z| {
        wt.regions
            .iter()
            .filter(|region| region.region == r.region)
            .flat_map(|region| &region.zones)
            .find(|spec| &spec.zone == z)
            .and_then(|spec| spec.worker_manager.as_ref())
    });
    let instance_type = wt
        .instance_types
        .iter()
        .find(|t| t.instance_type == r.instance_type)
        .and_then(|t| t.worker_manager.as_ref());
    [pool, zone, instance_type].into_iter().flatten().collect()
}

/// The launchConfig entries of one pool, each with its `workerManager` block.
fn launch_configs(config: &Config, wt: &WorkerType, worker_pool_id: &str, resolved: &[Resolved]) -> Vec<Json> {
    let worker_config = Json::Object(config.worker_config(wt));
    resolved
        .iter()
        .map(|r| {
            let mut entry = Map::new();
            entry.insert("region".into(), json!(r.region));
            entry.insert("launchConfig".into(), Json::Object(r.launch_spec.clone()));
            entry.insert("workerConfig".into(), worker_config.clone());
            let settings = worker_manager_layers(wt, r)
                .into_iter()
                .fold(WorkerManagerSettings::default(), |acc, layer| acc.overlaid(layer));
            let capacity = wt
                .instance_types
                .iter()
                .find(|t| t.instance_type == r.instance_type)
                .map_or(1, |t| t.capacity as u64);
            let mut manager = Map::new();
            manager.insert("capacityPerInstance".into(), json!(capacity));
            manager.insert("launchConfigId".into(), json!(launch_config_id(worker_pool_id, &entry)));
            if let Some(weight) = settings.initial_weight {
                manager.insert("initialWeight".into(), json!(weight));
            }
            if let Some(max) = settings.max_capacity {
                manager.insert("maxCapacity".into(), json!(max));
            }
            entry.insert("workerManager".into(), Json::Object(manager));
            Json::Object(entry)
        })
        .collect()
}

/// The worker pools of a checked config, by path relative to OUT
/// (`<provisionerId>/<workerType>.json`), or the findings that stop the
/// export (warnings come with the pools).
pub fn worker_pools(config: &Config, catalog: &dyn TypeCatalog) -> (Vec<(String, Json)>, Vec<Finding>) {
    let mut findings = settings_findings(config);
    let tc = &config.policy.taskcluster;
    let mut pools = Vec::new();
    let by_pool = pools::by_pool(config);
    findings.extend(pools::duplicate_pools(config, &by_pool));
    for (name, wt) in &config.worker_types {
        let before = findings.len();
        findings.extend(worker_type_findings(config, wt));
        let settings = PoolSettings::of(config, wt);
        let Some(pool_id) = settings.worker_pool_id.clone() else { continue };
        if by_pool.get(&pool_id).is_some_and(|wts| wts.len() > 1) {
            continue;
        }
        if findings[before..].iter().any(Finding::is_error) {
            continue;
        }
        let Some(provider) = &tc.provider_id else { continue };
        let resolved = match artifacts::resolved_specs(config, wt, catalog) {
            Ok(r) => r,
            Err(e) => {
                findings.push(Finding::new(Code::NoUsableAmi, e.to_string()).in_file(format!("worker-types/{name}.toml")));
                continue;
            }
        };
        let mut pool_config = json!({
            "minCapacity": wt.min_capacity,
            "maxCapacity": wt.max_capacity,
            "launchConfigs": launch_configs(config, wt, &pool_id, &resolved),
        });
        if let Some(lifecycle) = &settings.lifecycle {
            pool_config["lifecycle"] = serde_json::to_value(lifecycle).unwrap_or(Json::Null);
        }
        let owner = wt.owner.clone().or_else(|| tc.owner.clone()).unwrap_or_default();
        pools.push((
            format!("{pool_id}.json"),
            json!({
                "workerPoolId": pool_id,
                "providerId": provider,
                "description": wt.description.clone().unwrap_or_default(),
                "owner": owner,
                "emailOnError": settings.email_on_error,
                "config": pool_config,
            }),
        ));
    }
    (pools, findings)
}

/// `providerId` must be set in `[taskcluster]`, and `provisionerId` too
/// unless every worker type sets its own.
fn settings_findings(config: &Config) -> Vec<Finding> {
    let tc = &config.policy.taskcluster;
    let all_own = !config.worker_types.is_empty()
        && config
            .worker_types
            .values()
            .all(|wt| wt.taskcluster.as_ref().is_some_and(|t| t.provisioner_id.is_some()));
    let missing: Vec<&str> = [
        ("provisionerId", tc.provisioner_id.is_none() && !all_own),
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
                Some(doc) if doc.root().get("taskcluster").is_some() => {
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
    let own_worker_type = wt.taskcluster.as_ref().is_some_and(|t| t.worker_type.is_some());
    if !own_worker_type && !is_worker_type_id(&wt.name) {
        out.push(
            Finding::new(
                Code::TaskclusterInvalidValue,
                format!("worker type `{}` is not a valid worker-manager workerType", wt.name),
            )
            .in_file(&file)
            .help("worker-manager's workerType is 1 to 38 lower-case letters, digits and `-`, starting with a letter and not ending in `-`; rename the file, or set `workerType` in its `[taskcluster]` table"),
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
        for key in FORBIDDEN_KEYS.iter().filter(|k| spec.contains_key(k)) {
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
        .filter(|k| doc.is_some_and(|d| d.root().get(k).is_some()))
        .map(|k| format!("`{k}`"))
        .collect();
    if doc.is_some_and(|d| (0..wt.instance_types.len()).any(|i| d.root().pointer(&format!("/instanceTypes/{i}/utility")).is_some())) {
        dropped.push("`instanceTypes[].utility`".into());
    }
    if !dropped.is_empty() {
        let first = NOT_EXPORTED
            .iter()
            .find(|k| doc.is_some_and(|d| d.root().get(k).is_some()))
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

    /// Ids computed by CPython for the same entries:
    /// `"lc-" + hashlib.sha256((pool + json.dumps(entry, sort_keys=True)).encode("utf8")).hexdigest()[:20]`.
    #[test]
    fn launch_config_ids_are_the_ids_python_computes() {
        let plain = json!({"region": "us-east-1", "workerConfig": {},
            "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}});
        let rich = json!({"region": "eu-central-1",
            "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.xlarge",
                "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "équipe 🚀"}]}]},
            "workerConfig": {"capacity": 2, "ratio": 0.1, "big": 1e16, "one": 1.0, "tiny": 1.5e-7, "quote": "a\"b\\c\n"}});
        let map = |v: &Json| v.as_object().cloned().unwrap();
        assert_eq!(launch_config_id("proj-example/linux", &map(&plain)), "lc-bcedaef197c2f93b42ea");
        assert_eq!(launch_config_id("proj-example/linux", &map(&rich)), "lc-09e817d816f98222e60a");
        assert_eq!(launch_config_id("proj-b/ci", &map(&plain)), "lc-c991f9b2017bece578fe");
        // `workerManager` is not part of what is hashed.
        let mut managed = map(&plain);
        managed.insert("workerManager".into(), json!({"capacityPerInstance": 4}));
        assert_eq!(launch_config_id("proj-example/linux", &managed), "lc-bcedaef197c2f93b42ea");
    }

    #[test]
    fn owners_must_be_email_addresses() {
        assert!(is_email("relops@example.com"));
        for bad in ["relops", "@example.com", "a@b", "a b@example.com", "a@@example.com", "a@example."] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
