//! What a change does to the resolved launch specs (`amiset diff`).
//!
//! Both sides are read from Git objects and resolved exactly as `compile`
//! would; the comparison is between resolved launch specs, so an AMI bump in
//! a set shows on every worker type and instance type it reaches.

mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::artifacts::{ami_set_json, worker_type_json};
use crate::config::{Config, WorkerManagerSettings};
use crate::resolve::TypeCatalog;

pub use render::{markdown, summary, text};

/// One changed leaf key: `None` when absent on that side.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// A launch spec (worker type × region × instance type, and zone where the
/// region has zones) that changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecChange {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    pub instance_type: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// Changed keys, `ImageId` first, then by key.
    pub keys: Vec<KeyChange>,
}

impl SpecChange {
    /// The region, with the zone where there is one: `us-east-1/us-east-1a`.
    pub fn place(&self) -> String {
        match &self.zone {
            Some(zone) => format!("{}/{zone}", self.region),
            None => self.region.clone(),
        }
    }
}

/// A worker type present on both sides that changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerChange {
    pub name: String,
    /// Changed fields outside the launch specs (`maxCapacity`, `amiSetId`, …).
    pub fields: Vec<KeyChange>,
    pub launch_specs: Vec<SpecChange>,
}

/// An AMI set present on both sides that changed: one entry per (region, arch, virtualization).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetChange {
    pub id: String,
    pub amis: Vec<KeyChange>,
}

/// Added, removed and changed items of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Changes<T> {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<T>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Changes {
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        }
    }
}

impl<T> Changes<T> {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The whole difference between two configs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub ami_sets: Changes<SetChange>,
    pub worker_types: Changes<WorkerChange>,
    /// Worker types that do not resolve on one side and are left out of the comparison.
    pub unresolved: Vec<String>,
}

impl Diff {
    /// Whether nothing changed (unresolved worker types are not a change).
    pub fn is_empty(&self) -> bool {
        self.ami_sets.is_empty() && self.worker_types.is_empty()
    }

    /// Number of launch specs added, removed or changed, including those of added and removed worker types.
    pub fn launch_specs_changed(&self) -> usize {
        self.worker_types.changed.iter().map(|w| w.launch_specs.len()).sum()
    }
}

/// Leaf values of a JSON object by dotted key (non-empty objects are descended into).
fn leaves(value: &Map<String, Json>, prefix: &str, out: &mut BTreeMap<String, Json>) {
    for (key, v) in value {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match v {
            Json::Object(sub) if !sub.is_empty() => leaves(sub, &path, out),
            other => {
                out.insert(path, other.clone());
            }
        }
    }
}

/// Changed leaves between two objects; `ImageId` sorts first.
fn key_changes(old: &Map<String, Json>, new: &Map<String, Json>) -> Vec<KeyChange> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    leaves(old, "", &mut a);
    leaves(new, "", &mut b);
    let mut out = changed(&a, &b);
    out.sort_by_key(|c| (c.key != "ImageId", c.key.clone()));
    out
}

/// The keys whose values differ between `a` and `b`, in key order.
fn changed(a: &BTreeMap<String, Json>, b: &BTreeMap<String, Json>) -> Vec<KeyChange> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| KeyChange {
            key: k.clone(),
            old: a.get(k).cloned(),
            new: b.get(k).cloned(),
        })
        .collect()
}

fn object(v: Option<&Json>) -> Map<String, Json> {
    v.and_then(Json::as_object).cloned().unwrap_or_default()
}

fn set_entries(set: &Json) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for entry in set.get("amis").and_then(Json::as_array).into_iter().flatten() {
        let region = entry.get("region").and_then(Json::as_str).unwrap_or("");
        let arch = entry.get("arch").and_then(Json::as_str).unwrap_or("");
        for virt in ["hvm", "pv"] {
            if let Some(ami) = entry.get(virt) {
                out.insert(format!("{region} {arch} {virt}"), ami.clone());
            }
        }
    }
    out
}

/// A worker type's artifact without its launch specs (compared on their
/// own), with its instance types and regions keyed by name so that their
/// other settings (`capacity`, `utility`, `workerManager`) are compared
/// per name: `instanceTypes[m5.large].capacity`.
fn fields_of(wt: &Map<String, Json>, model: &crate::config::WorkerType) -> Map<String, Json> {
    fn value(v: &impl Serialize) -> Json {
        serde_json::to_value(v).unwrap_or(Json::Null)
    }
    let mut out = wt.clone();
    for key in ["launchSpecs", "zoneLaunchSpecs", "launchSpec", "regions", "instanceTypes"] {
        out.remove(key);
    }
    // What only the worker pool carries comes from the model (the artifact
    // has no place for it): `[taskcluster]` and the `workerManager` of
    // instance types and zones.
    if let Some(tc) = &model.taskcluster {
        out.insert("taskcluster".into(), value(tc));
    }
    let mut keyed = |name: String, entry: &Json, drop: &[&str], manager: Option<&WorkerManagerSettings>| {
        let mut rest = object(Some(entry));
        for key in drop {
            rest.remove(*key);
        }
        if let Some(manager) = manager {
            rest.insert("workerManager".into(), value(manager));
        }
        if !rest.is_empty() {
            out.insert(name, Json::Object(rest));
        }
    };
    let name_of = |entry: &Json, key: &str| entry.get(key).and_then(Json::as_str).unwrap_or_default().to_string();
    for t in wt.get("instanceTypes").and_then(Json::as_array).into_iter().flatten() {
        let name = name_of(t, "instanceType");
        let spec = model.instance_types.iter().find(|s| s.instance_type == name);
        let manager = spec.and_then(|s| s.worker_manager.as_ref());
        keyed(format!("instanceTypes[{name}]"), t, &["instanceType", "launchSpec"], manager);
    }
    for r in wt.get("regions").and_then(Json::as_array).into_iter().flatten() {
        let region = name_of(r, "region");
        keyed(format!("regions[{region}]"), r, &["region", "launchSpec", "zones"], None);
        let zones = model.regions.iter().filter(|m| m.region == region).flat_map(|m| &m.zones);
        for z in r.get("zones").and_then(Json::as_array).into_iter().flatten() {
            let zone = name_of(z, "zone");
            let manager = zones.clone().find(|s| s.zone == zone).and_then(|s| s.worker_manager.as_ref());
            keyed(format!("regions[{region}].zones[{zone}]"), z, &["zone", "launchSpec"], manager);
        }
    }
    out
}

/// Where a launch spec launches: region, zone (for regions with zones), instance type.
type Place = (String, Option<String>, String);

/// The launch specs of a worker type's artifact, by place: `launchSpecs`
/// (region → instance type) and `zoneLaunchSpecs` (region → zone → instance type).
fn by_place(wt: &Map<String, Json>) -> BTreeMap<Place, Map<String, Json>> {
    let mut out = BTreeMap::new();
    let mut add = |region: &str, zone: Option<&str>, types: &Json| {
        for (instance_type, spec) in object(Some(types)) {
            if let Json::Object(spec) = spec {
                out.insert((region.to_string(), zone.map(str::to_string), instance_type), spec);
            }
        }
    };
    for (region, types) in object(wt.get("launchSpecs")) {
        add(&region, None, &types);
    }
    for (region, zones) in object(wt.get("zoneLaunchSpecs")) {
        for (zone, types) in object(Some(&zones)) {
            add(&region, Some(&zone), &types);
        }
    }
    out
}

/// Compares two configs' resolved launch specs and AMI sets.
pub fn diff(old: &Config, new: &Config, catalog: &dyn TypeCatalog) -> Diff {
    let mut out = Diff::default();

    // A set file that is there but does not load is neither added nor
    // removed (`check` says what is wrong with it).
    for id in old
        .ami_sets
        .keys()
        .filter(|id| !new.ami_sets.contains_key(*id) && !new.set_ids.contains(*id))
    {
        out.ami_sets.removed.push(id.clone());
    }
    for (id, set) in &new.ami_sets {
        let Some(before) = old.ami_sets.get(id) else {
            if !old.set_ids.contains(id) {
                out.ami_sets.added.push(id.clone());
            }
            continue;
        };
        let amis = changed(&set_entries(&ami_set_json(before)), &set_entries(&ami_set_json(set)));
        if !amis.is_empty() {
            out.ami_sets.changed.push(SetChange { id: id.clone(), amis });
        }
    }

    // Only worker types whose own file or AMI set changed can resolve
    // differently, unless what every worker type resolves through changed:
    // the offerings (a left-out pair) or the policy.
    let shared_same = old.offerings == new.offerings && old.policy == new.policy;
    let resolve = |config: &Config, name: &str| -> Option<Map<String, Json>> {
        let wt = config.worker_types.get(name)?;
        match worker_type_json(config, wt, catalog) {
            Ok(Json::Object(map)) => Some(map),
            _ => None,
        }
    };
    fn set_of<'c>(config: &'c Config, name: &str) -> Option<&'c crate::config::AmiSet> {
        let id = config.worker_types.get(name).and_then(|w| w.ami_set_id.as_deref())?;
        config.ami_sets.get(id)
    }
    // A file that is there but does not load is not compared; only a file
    // that is gone is a removal (and one that is new an addition).
    for name in old.worker_types.keys().filter(|n| !new.worker_types.contains_key(*n)) {
        if new.worker_names.contains(name) {
            out.unresolved.push(name.clone());
        } else {
            out.worker_types.removed.push(name.clone());
        }
    }
    for (name, wt) in &new.worker_types {
        let Some(before) = old.worker_types.get(name) else {
            match resolve(new, name) {
                Some(_) if !old.worker_names.contains(name) => out.worker_types.added.push(name.clone()),
                _ => out.unresolved.push(name.clone()),
            }
            continue;
        };
        if shared_same && before == wt && set_of(old, name) == set_of(new, name) {
            continue;
        }
        let (Some(prev_json), Some(wt_json)) = (resolve(old, name), resolve(new, name)) else {
            out.unresolved.push(name.clone());
            continue;
        };
        let fields = key_changes(&fields_of(&prev_json, before), &fields_of(&wt_json, wt));
        let (prev, wt) = (&prev_json, &wt_json);
        let (old_specs, new_specs) = (by_place(prev), by_place(wt));
        let places: BTreeSet<&Place> = old_specs.keys().chain(new_specs.keys()).collect();
        let mut launch_specs = Vec::new();
        for place in places {
            let (a, b) = (old_specs.get(place), new_specs.get(place));
            let change = match (a, b) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ => "changed",
            };
            let keys = key_changes(&a.cloned().unwrap_or_default(), &b.cloned().unwrap_or_default());
            if !keys.is_empty() {
                let (region, zone, instance_type) = place.clone();
                launch_specs.push(SpecChange {
                    region,
                    zone,
                    instance_type,
                    change,
                    keys,
                });
            }
        }
        if !fields.is_empty() || !launch_specs.is_empty() {
            out.worker_types.changed.push(WorkerChange {
                name: name.clone(),
                fields,
                launch_specs,
            });
        }
    }
    out
}
