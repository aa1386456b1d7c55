//! Adopting a running deployment (DESIGN §13): `amiset import taskcluster`
//! turns worker-manager worker pools into a config repository that says the
//! same thing, and proves it by exporting that repository again.
//!
//! The steps: read the pools ([`pools`]); split every launchConfig into the
//! parts the model holds apart (the image, the instance type, the zone, the
//! rest of the launch spec, worker config, worker-manager settings); group
//! the images that pools use together into AMI sets; factor every launch
//! spec key into the one layer where it is constant (the worker type, a
//! region, a zone, an instance type: the first that fits, in that order);
//! render the files ([`render`]); and run the round trip: the rendered files
//! are loaded and checked like any repository, exported with `export
//! taskcluster`, and compared with the input. Anything the model cannot hold
//! is a finding naming the pool and the field, and then nothing is written.

pub mod pools;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use crate::config::{Arch, Inputs, Limits, Virt, is_valid_id};
use crate::diag::{Code, Finding, Severity};
use crate::resolve::TypeCatalog;

pub use pools::Pool;

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Set names chosen by the user: default name → name.
    pub set_names: BTreeMap<String, String>,
    /// Accept launchConfigIds other than DESIGN §10's (worker-manager then sees new launch configs).
    pub renumber: bool,
}

/// A config repository that holds the pools, proven by the round trip.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    /// Path (relative to the repository root) → text.
    pub files: Vec<(String, String)>,
    /// Per AMI set, the pools that use it.
    pub sets: Vec<(String, Vec<String>)>,
    /// Per worker type file stem, its workerPoolId.
    pub worker_types: Vec<(String, String)>,
    /// Launch configs whose id changed (only with `renumber`).
    pub renumbered: usize,
}

/// One launchConfig, taken apart.
#[derive(Clone, Debug)]
struct Lc {
    region: String,
    zone: Option<String>,
    instance_type: String,
    ami: String,
    /// The launch spec without `ImageId`, `InstanceType` and `Placement.AvailabilityZone`.
    spec: Map<String, Json>,
    worker_config: Json,
    capacity: Json,
    /// `initialWeight` and `maxCapacity` of `workerManager`.
    manager: Map<String, Json>,
}

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    WorkerType,
    Region,
    Zone,
    InstanceType,
}

/// The images of a pool or a set: (region, arch) → (hvm, pv).
pub(crate) type Images = BTreeMap<(String, Arch), (Option<String>, Option<String>)>;

/// Values factored into layers.
#[derive(Clone, Debug, Default, PartialEq)]
struct Layers {
    worker_type: Map<String, Json>,
    region: BTreeMap<String, Map<String, Json>>,
    zone: BTreeMap<(String, String), Map<String, Json>>,
    instance_type: BTreeMap<String, Map<String, Json>>,
}

/// A pool as the model will hold it.
#[derive(Clone, Debug)]
struct Shaped {
    pool: Pool,
    /// The worker type file stem.
    name: String,
    lcs: Vec<Lc>,
    spec: Layers,
    manager: Layers,
    images: Images,
    set: String,
}

/// Imports `pools`: the files of a config repository that holds them, or
/// every finding that stops it (notes for skipped input come with the
/// result, as warnings).
pub fn import(pools: &[Pool], options: &Options, catalog: &dyn TypeCatalog) -> Result<Imported, Vec<Finding>> {
    let mut findings = Vec::new();
    let mut ids = BTreeSet::new();
    for p in pools {
        if !ids.insert(p.worker_pool_id.as_str()) {
            findings.push(p.finding(Code::ImportInvalidInput, "workerPoolId", "the same pool is given twice"));
        }
    }
    let mut sorted: Vec<&Pool> = pools.iter().collect();
    sorted.sort_by(|a, b| a.worker_pool_id.cmp(&b.worker_pool_id));
    let names = file_names(&sorted, &mut findings);
    let mut shaped = Vec::new();
    for (pool, name) in sorted.iter().zip(names) {
        match shape(pool, name, catalog) {
            Ok(s) => shaped.push(s),
            Err(mut f) => findings.append(&mut f),
        }
    }
    if pools.is_empty() {
        findings.push(Finding::new(Code::ImportInvalidInput, "no AWS worker pool in the input"));
    }
    let provider: BTreeSet<&str> = shaped.iter().map(|s| s.pool.provider_id.as_str()).collect();
    if provider.len() > 1 {
        for s in &shaped {
            findings.push(s.pool.finding(
                Code::ImportCannotHold,
                "providerId",
                format!(
                    "one repository exports to one worker-manager provider, and the pools use {}",
                    provider.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let sets = name_sets(&mut shaped, options, &mut findings);
    offerings_findings(&shaped, &mut findings);
    if findings.iter().any(Finding::is_error) {
        return Err(findings);
    }
    let files = render::files(&shaped, &sets);
    let renumbered = round_trip(&files, &shaped, options, catalog)?;
    Ok(Imported {
        files,
        sets: sets.into_iter().map(|(id, (_, pools))| (id, pools)).collect(),
        worker_types: shaped.iter().map(|s| (s.name.clone(), s.pool.worker_pool_id.clone())).collect(),
        renumbered,
    })
}

/// Worker type file stems: the pool's workerType, or `<provisionerId>-<workerType>` where two pools share one.
fn file_names(pools: &[&Pool], findings: &mut Vec<Finding>) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pools {
        *count.entry(p.id_parts().1).or_default() += 1;
    }
    let mut seen = BTreeSet::new();
    pools
        .iter()
        .map(|p| {
            let (provisioner, worker_type) = p.id_parts();
            let name = if count[worker_type] > 1 {
                format!("{provisioner}-{worker_type}")
            } else {
                worker_type.to_string()
            };
            let name: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            if !is_valid_id(&name) || !seen.insert(name.to_ascii_lowercase()) {
                findings.push(p.finding(
                    Code::ImportCannotHold,
                    "workerPoolId",
                    format!("no worker type file name can hold it (`{name}` is not a valid, unique name of at most 38 characters)"),
                ));
            }
            name
        })
        .collect()
}

/// Takes a pool's launchConfigs apart and factors them into layers.
fn shape(pool: &Pool, name: String, catalog: &dyn TypeCatalog) -> Result<Shaped, Vec<Finding>> {
    let mut findings = Vec::new();
    let cannot = |field: &str, message: String| pool.finding(Code::ImportCannotHold, field, message);
    for key in pool.config.keys() {
        if !["minCapacity", "maxCapacity", "launchConfigs", "lifecycle"].contains(&key.as_str()) {
            findings.push(cannot(&format!("config.{key}"), "a pool setting amiset does not hold".into()));
        }
    }
    for key in ["minCapacity", "maxCapacity"] {
        if pool.config.get(key).is_none_or(|v| v.as_u64().is_none()) {
            findings.push(cannot(
                &format!("config.{key}"),
                "must be a whole number (worker-manager requires it)".into(),
            ));
        }
    }
    let lifecycle_keys = ["registrationTimeout", "reregistrationTimeout", "queueInactivityTimeout"];
    if let Some(lifecycle) = pool.config.get("lifecycle") {
        let ok = lifecycle
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| lifecycle_keys.contains(&k.as_str()) && v.as_u64().is_some()));
        if !ok {
            findings.push(cannot(
                "config.lifecycle",
                format!(
                    "amiset holds only {} as whole seconds",
                    lifecycle_keys.map(|k| format!("`{k}`")).join(", ")
                ),
            ));
        }
    }
    let entries = pool
        .config
        .get("launchConfigs")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let mut lcs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = |f: &str| format!("config.launchConfigs[{i}].{f}");
        match take_apart(entry) {
            Ok(lc) => {
                if !seen.insert((lc.region.clone(), lc.zone.clone(), lc.instance_type.clone())) {
                    findings.push(cannot(
                        &field("launchConfig"),
                        format!(
                            "a second launchConfig for `{}` in {}{}: amiset holds one per (region, zone, instance type)",
                            lc.instance_type,
                            lc.region,
                            lc.zone.as_deref().map(|z| format!(" ({z})")).unwrap_or_default()
                        ),
                    ));
                }
                lcs.push(lc);
            }
            Err((f, message)) => findings.push(cannot(&field(&f), message)),
        }
    }
    if !findings.is_empty() {
        return Err(findings);
    }

    // Zones: a region either has them in every launchConfig or in none.
    let mut zoned: BTreeMap<&str, BTreeSet<bool>> = BTreeMap::new();
    for lc in &lcs {
        zoned.entry(&lc.region).or_default().insert(lc.zone.is_some());
    }
    for (region, kinds) in &zoned {
        if kinds.len() > 1 {
            findings.push(cannot(
                "launchConfig.Placement.AvailabilityZone",
                format!("some launchConfigs of {region} name a zone and some do not"),
            ));
        }
    }
    let worker_configs: BTreeSet<String> = lcs.iter().map(|lc| lc.worker_config.to_string()).collect();
    if worker_configs.len() > 1 {
        findings.push(cannot(
            "launchConfigs[].workerConfig",
            "differs between launchConfigs; amiset gives one worker config to the whole pool".into(),
        ));
    }
    let mut capacity: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for lc in &lcs {
        capacity.entry(&lc.instance_type).or_default().insert(lc.capacity.to_string());
    }
    for (itype, values) in &capacity {
        if values.len() > 1 {
            findings.push(cannot(
                "launchConfigs[].workerManager.capacityPerInstance",
                format!("differs between launchConfigs of `{itype}`; amiset holds one capacity per instance type"),
            ));
        }
    }

    // Images: one per (region, arch, virtualization).
    let mut images: Images = BTreeMap::new();
    let mut arch_of: BTreeMap<&str, BTreeSet<Arch>> = BTreeMap::new();
    for lc in &lcs {
        let info = catalog.type_info(&lc.instance_type);
        if !info.known {
            findings.push(cannot(
                "launchConfig.InstanceType",
                format!(
                    "`{}` is not an instance type amiset knows, so its architecture is unknown",
                    lc.instance_type
                ),
            ));
            continue;
        }
        arch_of.entry(&lc.ami).or_default().insert(info.arch);
        let virt = if info.hvm { Virt::Hvm } else { Virt::Pv };
        let slot = images.entry((lc.region.clone(), info.arch)).or_default();
        let cell = if virt == Virt::Hvm { &mut slot.0 } else { &mut slot.1 };
        match cell {
            Some(other) if *other != lc.ami => findings.push(cannot(
                "launchConfig.ImageId",
                format!(
                    "{} uses both `{other}` and `{}` for {} {} instance types; an AMI set holds one",
                    lc.region,
                    lc.ami,
                    virt.as_str(),
                    info.arch.as_str()
                ),
            )),
            _ => *cell = Some(lc.ami.clone()),
        }
    }
    for (ami, arches) in &arch_of {
        if arches.len() > 1 {
            findings.push(cannot(
                "launchConfig.ImageId",
                format!("`{ami}` is launched on both x86_64 and arm64 instance types; an image has one architecture"),
            ));
        }
    }

    let spec = factor(
        &lcs,
        |lc| &lc.spec,
        &[Level::WorkerType, Level::Region, Level::Zone, Level::InstanceType],
    );
    let manager = factor(&lcs, |lc| &lc.manager, &[Level::WorkerType, Level::Zone, Level::InstanceType]);
    for (what, result, layers) in [
        ("launchConfig", &spec, "the pool, a region, a zone nor an instance type"),
        (
            "workerManager",
            &manager,
            "the pool, a zone nor an instance type (a region without zones has no `workerManager`)",
        ),
    ] {
        if let Err(keys) = result {
            for key in keys {
                findings.push(cannot(
                    &format!("launchConfigs[].{what}.{key}"),
                    format!("varies in a way no layer holds: it is constant within neither {layers}"),
                ));
            }
        }
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(Shaped {
        pool: pool.clone(),
        name,
        lcs,
        spec: spec.unwrap_or_default(),
        manager: manager.unwrap_or_default(),
        images,
        set: String::new(),
    })
}

/// One launchConfig entry taken apart; the error names the field.
fn take_apart(entry: &Json) -> Result<Lc, (String, String)> {
    let err = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
    let Some(entry) = entry.as_object() else {
        return err("", "must be an object");
    };
    for key in entry.keys() {
        if !["region", "launchConfig", "workerConfig", "workerManager", "capacityPerInstance"].contains(&key.as_str()) {
            return err(key, "a launchConfig field amiset does not hold");
        }
    }
    let Some(region) = entry.get("region").and_then(Json::as_str) else {
        return err("region", "must be a string");
    };
    let Some(mut spec) = entry.get("launchConfig").and_then(Json::as_object).cloned() else {
        return err("launchConfig", "must be an object");
    };
    let Some(Json::String(ami)) = spec.remove("ImageId") else {
        return err("launchConfig.ImageId", "is required and must be a string");
    };
    let Some(Json::String(instance_type)) = spec.remove("InstanceType") else {
        return err("launchConfig.InstanceType", "is required and must be a string");
    };
    let mut zone = None;
    if let Some(Json::Object(placement)) = spec.get_mut("Placement") {
        match placement.remove("AvailabilityZone") {
            Some(Json::String(z)) => zone = Some(z),
            Some(_) => return err("launchConfig.Placement.AvailabilityZone", "must be a string"),
            None => {}
        }
        if placement.is_empty() {
            spec.remove("Placement");
        }
    }
    if let Some(path) = null_in(&Json::Object(spec.clone()), "launchConfig") {
        return err(&path, "is null; TOML has no null");
    }
    let worker_config = entry.get("workerConfig").cloned().unwrap_or_else(|| Json::Object(Map::new()));
    if !worker_config.is_object() {
        return err("workerConfig", "must be an object");
    }
    if let Some(path) = null_in(&worker_config, "workerConfig") {
        return err(&path, "is null; TOML has no null");
    }
    let mut manager = match entry.get("workerManager") {
        None => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return err("workerManager", "must be an object"),
    };
    manager.remove("launchConfigId");
    // The deprecated top-level capacity is read as worker-manager reads it,
    // and written in the current format (so the launchConfigId changes).
    let capacity = match (manager.remove("capacityPerInstance"), entry.get("capacityPerInstance").cloned()) {
        (Some(_), Some(_)) => {
            return err(
                "capacityPerInstance",
                "is set both here (deprecated) and in `workerManager`; keep only `workerManager.capacityPerInstance`",
            );
        }
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => Json::from(1),
    };
    if capacity.as_u64().is_none_or(|c| c < 1) {
        return err("workerManager.capacityPerInstance", "must be a whole number of at least 1");
    }
    for (key, value) in &manager {
        if key == "maxCapacity" && value.as_u64().is_none() {
            return err("workerManager.maxCapacity", "must be a whole number");
        }
        if !["initialWeight", "maxCapacity"].contains(&key.as_str()) || !value.is_number() {
            return err(
                &format!("workerManager.{key}"),
                "amiset holds `initialWeight` and `maxCapacity` (numbers) here",
            );
        }
    }
    Ok(Lc {
        region: region.to_string(),
        zone,
        instance_type,
        ami,
        spec,
        worker_config,
        capacity,
        manager,
    })
}

/// The dotted path of the first `null` inside `value`.
fn null_in(value: &Json, path: &str) -> Option<String> {
    match value {
        Json::Null => Some(path.to_string()),
        Json::Object(m) => m.iter().find_map(|(k, v)| null_in(v, &format!("{path}.{k}"))),
        Json::Array(a) => a.iter().enumerate().find_map(|(i, v)| null_in(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Puts every key of `values(lc)` into the first of `levels` where it is
/// constant within each group; `Err` lists the keys no level holds.
fn factor(lcs: &[Lc], values: impl Fn(&Lc) -> &Map<String, Json>, levels: &[Level]) -> Result<Layers, Vec<String>> {
    let keys: BTreeSet<&String> = lcs.iter().flat_map(|lc| values(lc).keys()).collect();
    // Without a region level, a region without zones has no layer of its own.
    let region_layer = levels.contains(&Level::Region);
    let mut layers = Layers::default();
    let mut unheld = Vec::new();
    for key in keys {
        let group_of = |level: Level, lc: &Lc| -> (String, String) {
            match level {
                Level::WorkerType => (String::new(), String::new()),
                Level::Region => (lc.region.clone(), String::new()),
                // A region without zones is one group, held by the region's layer.
                Level::Zone => (lc.region.clone(), lc.zone.clone().unwrap_or_default()),
                Level::InstanceType => (lc.instance_type.clone(), String::new()),
            }
        };
        let fits = |level: Level| -> Option<BTreeMap<(String, String), Option<&Json>>> {
            let mut groups: BTreeMap<(String, String), Option<&Json>> = BTreeMap::new();
            for lc in lcs {
                let v = values(lc).get(key);
                if level == Level::WorkerType && v.is_none() {
                    return None;
                }
                if level == Level::Zone && !region_layer && lc.zone.is_none() && v.is_some() {
                    return None;
                }
                match groups.entry(group_of(level, lc)) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(v);
                    }
                    std::collections::btree_map::Entry::Occupied(e) if *e.get() != v => return None,
                    _ => {}
                }
            }
            Some(groups)
        };
        let Some((level, groups)) = levels.iter().find_map(|l| fits(*l).map(|g| (*l, g))) else {
            unheld.push(key.clone());
            continue;
        };
        for ((a, b), v) in groups {
            let Some(v) = v else { continue };
            let map = match level {
                Level::WorkerType => &mut layers.worker_type,
                Level::Region => layers.region.entry(a).or_default(),
                Level::Zone if b.is_empty() => layers.region.entry(a).or_default(),
                Level::Zone => layers.zone.entry((a, b)).or_default(),
                Level::InstanceType => layers.instance_type.entry(a).or_default(),
            };
            map.insert(key.clone(), v.clone());
        }
    }
    if unheld.is_empty() { Ok(layers) } else { Err(unheld) }
}

/// Groups pools with the same images into one AMI set each, named after the
/// first pool (in workerPoolId order) unless `--set-name` maps the name.
fn name_sets(shaped: &mut [Shaped], options: &Options, findings: &mut Vec<Finding>) -> BTreeMap<String, (Images, Vec<String>)> {
    let mut by_images: Vec<(Images, String, Vec<String>)> = Vec::new();
    for s in shaped.iter() {
        match by_images.iter_mut().find(|(images, _, _)| *images == s.images) {
            Some((_, _, pools)) => pools.push(s.pool.worker_pool_id.clone()),
            None => by_images.push((s.images.clone(), s.name.clone(), vec![s.pool.worker_pool_id.clone()])),
        }
    }
    let mut sets = BTreeMap::new();
    for (images, default, pools) in by_images {
        let id = options.set_names.get(&default).cloned().unwrap_or(default.clone());
        if !is_valid_id(&id) || sets.contains_key(&id) {
            findings.push(
                Finding::new(
                    Code::ImportInvalidInput,
                    format!("AMI set name `{id}` (for `{default}`) is not a valid, unique set id"),
                )
                .help("set ids match `^[A-Za-z0-9][A-Za-z0-9_-]{0,37}$`; choose another with `--set-name DEFAULT=NAME`"),
            );
        }
        for s in shaped.iter_mut().filter(|s| pools.contains(&s.pool.worker_pool_id)) {
            s.set = id.clone();
        }
        sets.insert(id, (images, pools));
    }
    for from in options.set_names.keys() {
        if !shaped.iter().any(|s| &s.name == from) {
            findings.push(
                Finding::new(Code::ImportInvalidInput, format!("`--set-name {from}=...` names no set"))
                    .help("a set's default name is the worker type name of the first pool that uses it"),
            );
        }
    }
    sets
}

/// What offerings.json (the union of the pairs the input launches) cannot
/// explain: a pool that leaves out an instance type in one of its zones
/// although another pool launches it there, or in a region without zones.
fn offerings_findings(shaped: &[Shaped], findings: &mut Vec<Finding>) {
    let offered_by_zone = offered(shaped);
    let offered: BTreeSet<(&str, &str)> = offered_by_zone
        .iter()
        .flat_map(|(z, types)| types.iter().map(move |t| (z.as_str(), t.as_str())))
        .collect();
    for s in shaped {
        let types: BTreeSet<&str> = s.lcs.iter().map(|lc| lc.instance_type.as_str()).collect();
        let present: BTreeSet<(&str, Option<&str>, &str)> = s
            .lcs
            .iter()
            .map(|lc| (lc.region.as_str(), lc.zone.as_deref(), lc.instance_type.as_str()))
            .collect();
        let places: BTreeSet<(&str, Option<&str>)> = present.iter().map(|(r, z, _)| (*r, *z)).collect();
        for (region, zone) in places {
            for t in &types {
                if present.contains(&(region, zone, t)) {
                    continue;
                }
                let explained = zone.is_some_and(|z| !offered.contains(&(z, *t)));
                if !explained {
                    let place = zone.map_or(region.to_string(), |z| format!("{z} ({region})"));
                    findings.push(s.pool.finding(
                        Code::ImportCannotHold,
                        "config.launchConfigs",
                        format!(
                            "`{t}` is launched elsewhere in the pool but not in {place}, where {}; amiset launches every instance type of a worker type wherever it is offered",
                            if zone.is_some() { "another pool launches it" } else { "offerings cannot say so (no zones)" }
                        ),
                    ));
                }
            }
        }
    }
}

/// offerings.json of the import: every (zone, instance type) pair a pool
/// launches. A pool without zones proves only that its region offers its
/// instance types; where the file knows zones of that region but none
/// offers the type, the type is recorded in the first zone (by name) that
/// no zoned pool leaves it out of, so that the region offers it as the
/// input shows. `amiset ec2 offerings` later replaces the file with EC2's
/// own answer.
fn offered(shaped: &[Shaped]) -> BTreeMap<String, BTreeSet<String>> {
    let mut zones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in shaped {
        for lc in &s.lcs {
            if let Some(zone) = &lc.zone {
                zones.entry(zone.clone()).or_default().insert(lc.instance_type.clone());
            }
        }
    }
    let left_out = |zone: &str, itype: &str| {
        shaped.iter().any(|s| {
            s.lcs.iter().any(|lc| lc.zone.as_deref() == Some(zone))
                && s.lcs.iter().any(|lc| lc.instance_type == itype)
                && !s.lcs.iter().any(|lc| lc.zone.as_deref() == Some(zone) && lc.instance_type == itype)
        })
    };
    for s in shaped {
        for lc in s.lcs.iter().filter(|lc| lc.zone.is_none()) {
            let region_zones: Vec<String> = zones
                .keys()
                .filter(|z| crate::offerings::is_zone_of(z, &lc.region))
                .cloned()
                .collect();
            if region_zones.is_empty() || region_zones.iter().any(|z| zones[z].contains(&lc.instance_type)) {
                continue;
            }
            if let Some(z) = region_zones.iter().find(|z| !left_out(z, &lc.instance_type)) {
                zones.entry(z.clone()).or_default().insert(lc.instance_type.clone());
            }
        }
    }
    zones
}

/// The proof: the rendered repository is loaded, checked and exported
/// exactly as `export taskcluster` would, and must give the input pools.
/// Returns how many launchConfigIds changed (only accepted with `renumber`).
fn round_trip(files: &[(String, String)], shaped: &[Shaped], options: &Options, catalog: &dyn TypeCatalog) -> Result<usize, Vec<Finding>> {
    let inputs = Inputs {
        files: files
            .iter()
            .filter(|(path, _)| crate::config::role_of(path).is_some())
            .map(|(path, text)| crate::config::InputFile {
                path: path.clone(),
                content: crate::config::Content::Bytes(text.clone().into_bytes()),
            })
            .collect(),
    };
    let limits = Limits::default();
    let (config, mut report) = crate::config::load(&inputs, &limits);
    report.findings.extend(crate::check::check(&config, catalog));
    let errors: Vec<Finding> = report.findings.into_iter().filter(Finding::is_error).collect();
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|f| {
                Finding::new(
                    Code::ImportRoundTrip,
                    format!("the imported repository does not pass `check`: {} ({})", f.message, f.code.as_str()),
                )
                .in_file(f.file.unwrap_or_default())
            })
            .collect());
    }
    let (exported, export_findings) = crate::deliver::taskcluster::worker_pools(&config, catalog);
    let export_errors: Vec<Finding> = export_findings.into_iter().filter(Finding::is_error).collect();
    if !export_errors.is_empty() {
        return Err(export_errors
            .into_iter()
            .map(|f| {
                Finding::new(
                    Code::ImportRoundTrip,
                    format!("the imported repository does not export: {}", f.message),
                )
            })
            .collect());
    }
    let by_id: BTreeMap<&str, &Json> = exported
        .iter()
        .filter_map(|(_, pool)| Some((pool.get("workerPoolId")?.as_str()?, pool)))
        .collect();
    let mut findings = Vec::new();
    let mut renumbered = 0;
    for s in shaped {
        let Some(out) = by_id.get(s.pool.worker_pool_id.as_str()) else {
            findings.push(s.pool.finding(
                Code::ImportRoundTrip,
                "workerPoolId",
                "the imported repository does not export this pool",
            ));
            continue;
        };
        match compare(&s.pool, out, options.renumber) {
            Ok(n) => renumbered += n,
            Err(f) => findings.push(f),
        }
    }
    if findings.is_empty() { Ok(renumbered) } else { Err(findings) }
}

/// Compares one exported pool with its input: the pool's fields, and its
/// launchConfigs in any order (launchConfigIds included unless `renumber`).
// The error is the finding itself, made at most once per pool.
#[allow(clippy::result_large_err)]
fn compare(input: &Pool, out: &Json, renumber: bool) -> Result<usize, Finding> {
    for (field, want) in [
        ("providerId", Json::from(input.provider_id.clone())),
        ("description", Json::from(input.description.clone())),
        ("owner", Json::from(input.owner.clone())),
        ("emailOnError", Json::from(input.email_on_error)),
    ] {
        if out.get(field) != Some(&want) {
            return Err(input.finding(
                Code::ImportRoundTrip,
                field,
                format!("exports as {} instead of {want}", out.get(field).unwrap_or(&Json::Null)),
            ));
        }
    }
    let mut want = input.config.clone();
    let got = out.get("config").and_then(Json::as_object).cloned().unwrap_or_default();
    let mut lcs_want = want.remove("launchConfigs").and_then(|v| v.as_array().cloned()).unwrap_or_default();
    let mut got_rest = got.clone();
    let lcs_got = got_rest
        .remove("launchConfigs")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if Json::Object(want) != Json::Object(got_rest.clone()) {
        return Err(input.finding(
            Code::ImportRoundTrip,
            "config",
            "exports with other pool settings (capacity or lifecycle)",
        ));
    }
    // The entry as worker-manager reads it, in its current format: a missing
    // workerConfig is {}, the capacity (1 when unset, deprecated at the top
    // level) is `workerManager.capacityPerInstance`.
    for lc in &mut lcs_want {
        if let Some(m) = lc.as_object_mut() {
            m.entry("workerConfig").or_insert_with(|| Json::Object(Map::new()));
            let top = m.remove("capacityPerInstance");
            if let Some(wm) = m.entry("workerManager").or_insert_with(|| Json::Object(Map::new())).as_object_mut() {
                wm.entry("capacityPerInstance").or_insert_with(|| top.unwrap_or(Json::from(1)));
            }
        }
    }
    // Without its id, and with `initialWeight` as the number it is: worker-manager
    // reads `1` and `1.0` alike (and the id does not cover `workerManager`).
    let strip_id = |lc: &Json| {
        let mut lc = lc.clone();
        if let Some(wm) = lc.get_mut("workerManager").and_then(Json::as_object_mut) {
            wm.remove("launchConfigId");
            if let Some(weight) = wm.get("initialWeight").and_then(Json::as_f64) {
                wm.insert("initialWeight".into(), Json::from(weight));
            }
        }
        lc
    };
    let key = |lc: &Json| crate::adopt::canonical(lc);
    let want_set: BTreeMap<String, &Json> = lcs_want.iter().map(|lc| (key(&strip_id(lc)), lc)).collect();
    let got_set: BTreeMap<String, &Json> = lcs_got.iter().map(|lc| (key(&strip_id(lc)), lc)).collect();
    if want_set.len() != lcs_want.len() || got_set.len() != lcs_got.len() || want_set.keys().ne(got_set.keys()) {
        let missing = want_set.keys().find(|k| !got_set.contains_key(*k));
        let extra = got_set.keys().find(|k| !want_set.contains_key(*k));
        let what = match (missing, extra) {
            (Some(m), _) => format!("exports without the launchConfig {}", want_set[m]),
            (None, Some(e)) => format!("exports an extra launchConfig {}", got_set[e]),
            _ => "exports other launchConfigs".to_string(),
        };
        return Err(input.finding(Code::ImportRoundTrip, "config.launchConfigs", what));
    }
    let mut renumbered = 0;
    for (k, want_lc) in &want_set {
        let id = |lc: &Json| lc.pointer("/workerManager/launchConfigId").cloned();
        let (want_id, got_id) = (id(want_lc), id(got_set[k]));
        if want_id != got_id {
            if !renumber {
                return Err(input
                    .finding(
                        Code::ImportLaunchConfigId,
                        "workerManager.launchConfigId",
                        format!(
                            "{} is not the id DESIGN §10's rule gives ({}); worker-manager would see a new launch config",
                            want_id.map_or("no id".to_string(), |v| v.to_string()),
                            got_id.unwrap_or(Json::Null)
                        ),
                    )
                    .help("pass `--renumber` to accept the computed ids"));
            }
            renumbered += 1;
        }
    }
    Ok(renumbered)
}

/// A JSON value as text with sorted keys, for comparing values as sets.
pub(crate) fn canonical(value: &Json) -> String {
    crate::artifacts::sorted(value.clone()).to_string()
}

/// Whether a finding stops the import.
pub fn is_error(f: &Finding) -> bool {
    f.severity == Severity::Error
}

/// Writes an import into `out` atomically; `out` must not exist or be empty.
pub fn write(imported: &Imported, out: &std::path::Path) -> Result<(), crate::artifacts::CompileError> {
    let files: Vec<(String, Vec<u8>)> = imported.files.iter().map(|(p, t)| (p.clone(), t.clone().into_bytes())).collect();
    crate::artifacts::replace_dir(out, |root| crate::artifacts::write_plain(root, &files))
}
