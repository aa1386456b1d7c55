//! The files of an imported repository, written as a person would write
//! them: top-level keys first, `[launchSpec]` and `[userData]` as tables,
//! each instance type, region and zone with inline tables.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::Shaped;
use crate::config::Arch;

use super::Images;

/// Path → text of every file: amiset.toml, the sets, the worker types, and
/// offerings.json when any pool has zones.
pub(super) fn files(shaped: &[Shaped], sets: &BTreeMap<String, (Images, Vec<String>)>) -> Vec<(String, String)> {
    let mut out = vec![("amiset.toml".to_string(), policy(shaped))];
    for (id, (images, pools)) in sets {
        out.push((format!("ami-sets/{id}.toml"), set(images, pools)));
    }
    for s in shaped {
        out.push((format!("worker-types/{}.toml", s.name), worker_type(s, &common(shaped))));
    }
    if let Some(offerings) = offerings(shaped) {
        out.push(("offerings.json".to_string(), offerings));
    }
    out
}

/// The `[taskcluster]` values every pool shares, which amiset.toml holds.
#[derive(Default)]
struct Common {
    provisioner_id: Option<String>,
    email_on_error: Option<bool>,
    lifecycle: Option<Json>,
}

fn common(shaped: &[Shaped]) -> Common {
    fn one<T: Ord + Clone>(values: impl Iterator<Item = T>) -> Option<T> {
        let all: BTreeSet<T> = values.collect();
        (all.len() == 1).then(|| all.into_iter().next()).flatten()
    }
    Common {
        provisioner_id: one(shaped.iter().map(|s| s.pool.id_parts().0.to_string())),
        email_on_error: one(shaped.iter().map(|s| s.pool.email_on_error)),
        lifecycle: one(shaped.iter().map(|s| s.pool.config.get("lifecycle").map(Json::to_string)))
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok()),
    }
}

fn policy(shaped: &[Shaped]) -> String {
    let c = common(shaped);
    let mut doc = DocumentMut::new();
    let regions: BTreeSet<&str> = shaped.iter().flat_map(|s| s.lcs.iter().map(|lc| lc.region.as_str())).collect();
    doc["regions"] = Item::Value(Value::Array(regions.into_iter().collect()));
    let mut tc = Table::new();
    if let Some(provider) = shaped.first().map(|s| s.pool.provider_id.as_str()) {
        tc["providerId"] = toml_edit::value(provider);
    }
    if let Some(p) = &c.provisioner_id {
        tc["provisionerId"] = toml_edit::value(p.as_str());
    }
    if let Some(e) = c.email_on_error {
        tc["emailOnError"] = toml_edit::value(e);
    }
    if let Some(l) = &c.lifecycle {
        tc["lifecycle"] = Item::Value(value(l));
    }
    doc["taskcluster"] = Item::Table(tc);
    format!(
        "# Imported from running worker pools by `amiset import taskcluster`.\n# Add `amiOwners`, `[teams]` and SCOPES before the first pull request (docs/adopting.md).\n{doc}"
    )
}

fn set(images: &Images, pools: &[String]) -> String {
    let mut doc = DocumentMut::new();
    doc["description"] = toml_edit::value(format!("Imported from {}", pools.join(", ")));
    let mut amis = ArrayOfTables::new();
    for ((region, arch), (hvm, pv)) in images {
        let mut t = Table::new();
        t["region"] = toml_edit::value(region.as_str());
        if *arch != Arch::X86_64 {
            t["arch"] = toml_edit::value(arch.as_str());
        }
        if let Some(ami) = hvm {
            t["hvm"] = toml_edit::value(ami.as_str());
        }
        if let Some(ami) = pv {
            t["pv"] = toml_edit::value(ami.as_str());
        }
        amis.push(t);
    }
    doc["amis"] = Item::ArrayOfTables(amis);
    doc.to_string()
}

fn worker_type(s: &Shaped, common: &Common) -> String {
    let pool = &s.pool;
    let mut doc = DocumentMut::new();
    if !pool.description.is_empty() {
        doc["description"] = toml_edit::value(pool.description.as_str());
    }
    if !pool.owner.is_empty() {
        doc["owner"] = toml_edit::value(pool.owner.as_str());
    }
    doc["amiSetId"] = toml_edit::value(s.set.as_str());
    for key in ["minCapacity", "maxCapacity"] {
        if let Some(v) = pool.config.get(key) {
            doc[key] = Item::Value(value(v));
        }
    }

    let mut tc = Table::new();
    let (provisioner, worker_type) = pool.id_parts();
    if common.provisioner_id.is_none() {
        tc["provisionerId"] = toml_edit::value(provisioner);
    }
    if worker_type != s.name {
        tc["workerType"] = toml_edit::value(worker_type);
    }
    if common.email_on_error.is_none() {
        tc["emailOnError"] = toml_edit::value(pool.email_on_error);
    }
    if common.lifecycle.is_none()
        && let Some(l) = pool.config.get("lifecycle")
    {
        tc["lifecycle"] = Item::Value(value(l));
    }
    if !s.manager.worker_type.is_empty() {
        tc["workerManager"] = Item::Value(Value::InlineTable(inline(&s.manager.worker_type)));
    }
    if !tc.is_empty() {
        doc["taskcluster"] = Item::Table(tc);
    }
    if !s.spec.worker_type.is_empty() {
        doc["launchSpec"] = Item::Table(table(&s.spec.worker_type));
    }
    if let Some(user_data) = s.lcs.first().and_then(|lc| lc.worker_config.as_object()).filter(|m| !m.is_empty()) {
        doc["userData"] = Item::Table(table(user_data));
    }

    let mut types = ArrayOfTables::new();
    let mut seen = BTreeSet::new();
    for lc in &s.lcs {
        if !seen.insert(lc.instance_type.as_str()) {
            continue;
        }
        let mut t = Table::new();
        t["instanceType"] = toml_edit::value(lc.instance_type.as_str());
        t["capacity"] = Item::Value(value(&lc.capacity));
        if let Some(spec) = s.spec.instance_type.get(&lc.instance_type) {
            t["launchSpec"] = Item::Value(Value::InlineTable(inline(spec)));
        }
        if let Some(m) = s.manager.instance_type.get(&lc.instance_type) {
            t["workerManager"] = Item::Value(Value::InlineTable(inline(m)));
        }
        types.push(t);
    }
    doc["instanceTypes"] = Item::ArrayOfTables(types);

    let mut regions = ArrayOfTables::new();
    let region_names: Vec<&str> = {
        let mut seen = BTreeSet::new();
        s.lcs.iter().map(|lc| lc.region.as_str()).filter(|r| seen.insert(*r)).collect()
    };
    for region in region_names {
        let mut t = Table::new();
        t["region"] = toml_edit::value(region);
        if let Some(spec) = s.spec.region.get(region) {
            t["launchSpec"] = Item::Value(Value::InlineTable(inline(spec)));
        }
        let zones: Vec<&str> = {
            let mut seen = BTreeSet::new();
            s.lcs
                .iter()
                .filter(|lc| lc.region == region)
                .filter_map(|lc| lc.zone.as_deref())
                .filter(|z| seen.insert(*z))
                .collect()
        };
        if !zones.is_empty() {
            let mut list = Array::new();
            for zone in zones {
                let mut z = InlineTable::new();
                z.insert("zone", zone.into());
                let key = (region.to_string(), zone.to_string());
                if let Some(spec) = s.spec.zone.get(&key) {
                    z.insert("launchSpec", Value::InlineTable(inline(spec)));
                }
                if let Some(m) = s.manager.zone.get(&key) {
                    z.insert("workerManager", Value::InlineTable(inline(m)));
                }
                let mut v = Value::InlineTable(z);
                v.decor_mut().set_prefix("\n  ");
                list.push_formatted(v);
            }
            list.set_trailing("\n");
            list.set_trailing_comma(true);
            t["zones"] = Item::Value(Value::Array(list));
        }
        regions.push(t);
    }
    doc["regions"] = Item::ArrayOfTables(regions);
    format!("# Imported from worker pool `{}`.\n{doc}", pool.worker_pool_id)
}

/// offerings.json ([`super::offered`]), when any pool has zones.
fn offerings(shaped: &[Shaped]) -> Option<String> {
    let zones = super::offered(shaped);
    if zones.is_empty() {
        return None;
    }
    let doc = serde_json::json!({ "zones": zones });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    Some(text)
}

/// A JSON object as a TOML table: nested objects become sub-tables.
fn table(map: &Map<String, Json>) -> Table {
    let mut t = Table::new();
    for (k, v) in map {
        match v {
            Json::Object(sub) if !sub.is_empty() => {
                let mut sub = table(sub);
                sub.set_implicit(true);
                t[k.as_str()] = Item::Table(sub);
            }
            other => t[k.as_str()] = Item::Value(value(other)),
        }
    }
    t
}

fn inline(map: &Map<String, Json>) -> InlineTable {
    map.iter().map(|(k, v)| (k.as_str(), value(v))).collect()
}

/// A JSON value (never null: the import refuses those first) as a TOML value.
fn value(v: &Json) -> Value {
    match v {
        Json::Bool(b) => (*b).into(),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) => f.into(),
            _ => n.to_string().into(),
        },
        Json::String(s) => s.as_str().into(),
        Json::Array(items) => Value::Array(items.iter().map(value).collect()),
        Json::Object(map) => Value::InlineTable(inline(map)),
        Json::Null => "".into(),
    }
}
