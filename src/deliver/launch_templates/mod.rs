//! EC2 launch templates from the compiled launch specs (DESIGN §10):
//! `amiset apply launch-templates`. This module is the pure part: the
//! templates a config wants ([`desired`]), the plan that makes one region's
//! templates match ([`plan_region`]), and its rendering. The EC2 calls are
//! in `ec2::templates`.
//!
//! Per worker type and region, instance types whose resolved specs agree
//! beyond `InstanceType` share one template: the group of the first
//! instance type is named after the worker type, any other group
//! `<workerType>/<its first instance type>`. Zones of a region whose specs
//! agree beyond their `Placement.AvailabilityZone` share a template too
//! (without the zone); a group of one zone names its zone in the data and
//! is named `<workerType>/<zone>` (`<workerType>/<zone>/<first instance
//! type>` for a further group of that zone). A template amiset manages
//! carries the tag `amiset:worker-type = <name>` (and `amiset:source-commit`);
//! each version's description records the sha256 of its data, and the tag
//! `amiset:default-version = <n> <description>` repeats that of the default
//! version, so that an unchanged spec costs no writing call, no comparison of
//! EC2's echo, and no read of the versions.

pub mod data;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value as Json};

pub use data::WORKER_TYPE_TAG;

use crate::artifacts;
use crate::config::Config;
use crate::diag::{Code, Finding};
use crate::resolve::TypeCatalog;

/// Tag with the commit the templates were applied from.
pub const SOURCE_TAG: &str = "amiset:source-commit";

/// Tag with the default version and its description as amiset last set
/// them (`3 amiset sha256:<hex>`); trusted only while EC2's default version
/// is still that number.
pub const DEFAULT_VERSION_TAG: &str = "amiset:default-version";

/// Start of the version description amiset writes; the sha256 of the data follows.
pub const DIGEST_PREFIX: &str = "amiset sha256:";

/// A launch template the config wants in a region.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub region: String,
    pub name: String,
    pub worker_type: String,
    /// The instance types it serves, in the worker type's order.
    pub instance_types: Vec<String>,
    /// Launch template data (EC2's `RequestLaunchTemplateData` keys).
    pub data: Map<String, Json>,
    /// `amiset sha256:<hex>` of the canonical bytes of `data`.
    pub description: String,
}

/// The templates the config wants, and the findings that keep a worker type's
/// templates as they are (keys launch template data cannot express).
/// `skipped` names those worker types: their templates are neither changed nor pruned.
pub struct Wanted {
    pub templates: Vec<Desired>,
    pub findings: Vec<Finding>,
    pub skipped: BTreeSet<String>,
}

/// Whether EC2 accepts `name` as a launch template name: 3 to 128
/// characters from `[a-zA-Z0-9().\-/_]`.
pub fn is_valid_template_name(name: &str) -> bool {
    (3..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"().-/_".contains(&b))
}

/// Every template a checked config wants, over all regions.
pub fn desired(config: &Config, catalog: &dyn TypeCatalog) -> Wanted {
    let mut wanted = Wanted {
        templates: Vec::new(),
        findings: Vec::new(),
        skipped: BTreeSet::new(),
    };
    for (name, wt) in &config.worker_types {
        let resolved = match artifacts::resolved_specs(config, wt, catalog) {
            Ok(r) => r,
            Err(e) => {
                wanted
                    .findings
                    .push(Finding::new(Code::NoUsableAmi, e.to_string()).in_file(format!("worker-types/{name}.toml")));
                wanted.skipped.insert(name.clone());
                continue;
            }
        };
        let mut mine = Vec::new();
        let mut unsupported = BTreeSet::new();
        for region in &wt.regions {
            // Groups of (zone, instance type) with the same spec beyond
            // InstanceType and the zone's AvailabilityZone, in order: zones
            // whose specs differ only by their zone share a template.
            let mut groups: Vec<Group> = Vec::new();
            for r in resolved.iter().filter(|r| r.region == region.region) {
                let mut rest = r.launch_spec.clone();
                rest.remove("InstanceType");
                without_zone(&mut rest);
                let zone = r.zone.clone().unwrap_or_default();
                match groups.iter_mut().find(|(spec, _, _)| *spec == rest) {
                    Some((_, types, zones)) => {
                        if !types.contains(&r.instance_type) {
                            types.push(r.instance_type.clone());
                        }
                        if !zones.contains(&zone) {
                            zones.push(zone);
                        }
                    }
                    None => groups.push((rest, vec![r.instance_type.clone()], vec![zone])),
                }
            }
            let mut names: BTreeSet<String> = BTreeSet::new();
            for (i, (spec, types, zones)) in groups.into_iter().enumerate() {
                let mut full = spec;
                if types.len() == 1 {
                    full.insert("InstanceType".into(), Json::String(types[0].clone()));
                }
                // A template of one zone names it; one of several zones leaves it to the launch.
                let one_zone = match zones.as_slice() {
                    [z] if !z.is_empty() => Some(z.as_str()),
                    _ => None,
                };
                if let Some(z) = one_zone {
                    let placement = full.entry("Placement").or_insert_with(|| Json::Object(Map::new()));
                    if let Json::Object(p) = placement {
                        p.insert("AvailabilityZone".into(), Json::String(z.to_string()));
                    }
                }
                let preferred = match (i, one_zone) {
                    (0, _) => name.clone(),
                    (_, Some(z)) if !names.contains(&format!("{name}/{z}")) => format!("{name}/{z}"),
                    (_, Some(z)) => format!("{name}/{z}/{}", types[0]),
                    (_, None) => format!("{name}/{}", types[0]),
                };
                // Groups of several zones may share their first instance type:
                // the later ones are numbered, so no two groups share a template.
                let mut template_name = preferred.clone();
                let mut n = 1;
                while names.contains(&template_name) {
                    n += 1;
                    template_name = format!("{preferred}-{n}");
                }
                names.insert(template_name.clone());
                let data = data::template_data(&full, name, types.len() == 1);
                unsupported.extend(data::unsupported(&data));
                let digest = artifacts::sha256_hex(&artifacts::to_bytes(Json::Object(data.clone())));
                mine.push(Desired {
                    region: region.region.clone(),
                    name: template_name,
                    worker_type: name.clone(),
                    instance_types: types,
                    data,
                    description: format!("{DIGEST_PREFIX}{digest}"),
                });
            }
        }
        if let Some(bad) = mine.iter().find(|d| !is_valid_template_name(&d.name)) {
            wanted.findings.push(
                Finding::new(
                    Code::LaunchTemplateInvalidName,
                    format!("worker type `{name}`: `{}` is not a launch template name EC2 accepts", bad.name),
                )
                .in_file(format!("worker-types/{name}.toml"))
                .help(
                    "EC2 launch template names are 3 to 128 characters of letters, digits and `( ) . - / _`; rename the worker type file",
                ),
            );
            wanted.skipped.insert(name.clone());
            continue;
        }
        if unsupported.is_empty() {
            wanted.templates.extend(mine);
            continue;
        }
        wanted.skipped.insert(name.clone());
        let file = format!("worker-types/{name}.toml");
        for path in unsupported {
            let top = path.split(['.', '[']).next().unwrap_or(&path).to_string();
            let f = Finding::new(
                Code::LaunchTemplateUnsupportedKey,
                format!(
                    "worker type `{name}`: `{path}` cannot be expressed in EC2 launch template data; its templates are left as they are"
                ),
            )
            .label("not supported in a launch template")
            .help("remove the key, or launch this worker type without launch templates");
            let doc = config.worker_doc(name);
            let pointer = wt
                .launch_spec_layers()
                .map(|(p, _)| format!("{p}/{top}"))
                .find(|p| doc.is_some_and(|d| d.root().pointer(p).is_some()));
            wanted.findings.push(match (doc, pointer) {
                (Some(d), Some(p)) => f.at(&file, d.span_of_key(&p)),
                _ => f.in_file(&file),
            });
        }
    }
    wanted
}

/// A spec (without `InstanceType` and the zone), its instance types and its zones (`""` for none).
type Group = (Map<String, Json>, Vec<String>, Vec<String>);

/// Removes `Placement.AvailabilityZone` (and `Placement` when that leaves it empty).
fn without_zone(spec: &mut Map<String, Json>) {
    if let Some(Json::Object(p)) = spec.get_mut("Placement") {
        p.remove("AvailabilityZone");
        if p.is_empty() {
            spec.remove("Placement");
        }
    }
}

/// A launch template as EC2 describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    pub name: String,
    /// The value of its `amiset:worker-type` tag.
    pub worker_type: Option<String>,
    pub default_version: i64,
    pub latest_version: i64,
    pub default_description: Option<String>,
    pub latest_description: Option<String>,
}

/// What EC2 has in one region: templates tagged `amiset:worker-type`, and
/// untagged ones that bear a name amiset wants.
#[derive(Clone, Debug, Default)]
pub struct RegionState {
    pub managed: Vec<Existing>,
    pub untagged: Vec<Existing>,
}

/// What apply does to one template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// CreateLaunchTemplate.
    Create,
    /// CreateLaunchTemplateVersion, then ModifyLaunchTemplate to make it the default.
    NewVersion,
    /// The latest version already holds the data (an earlier run stopped
    /// halfway): ModifyLaunchTemplate only.
    SetDefault,
    /// No call.
    Unchanged,
    /// DeleteLaunchTemplate (`--prune`).
    Delete,
    /// Tagged by amiset for a worker type or name the config no longer has; kept without `--prune`.
    Stale,
    /// A template of that name that amiset does not manage; never touched.
    Conflict,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::NewVersion => "new-version",
            Action::SetDefault => "set-default",
            Action::Unchanged => "unchanged",
            Action::Delete => "delete",
            Action::Stale => "stale",
            Action::Conflict => "conflict",
        }
    }

    /// Whether apply makes a writing call for it.
    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::NewVersion | Action::SetDefault | Action::Delete)
    }
}

/// One line of the plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub action: Action,
    pub region: String,
    pub template: String,
    /// The worker type the template is (or was) for.
    pub worker_type: Option<String>,
    pub instance_types: Vec<String>,
    pub template_id: Option<String>,
    /// For `set-default`: the version made the default; after apply, the new default version.
    pub version: Option<i64>,
    /// After apply: `null` when the step was done (or needed no call), else the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The plan for one region: what makes its templates match `desired` (the
/// templates wanted there). `known` are the config's worker types and
/// `skipped` those whose templates must be left alone.
pub fn plan_region<'a>(
    region: &str,
    desired: &[&Desired],
    state: &'a RegionState,
    prune: bool,
    skipped: &BTreeSet<String>,
) -> (Vec<Step>, Vec<Finding>) {
    let mut steps = Vec::new();
    let mut findings = Vec::new();
    let mut claimed: BTreeSet<&str> = BTreeSet::new();
    let step = |action, d: &Desired, e: Option<&Existing>| Step {
        action,
        region: region.to_string(),
        template: d.name.clone(),
        worker_type: Some(d.worker_type.clone()),
        instance_types: d.instance_types.clone(),
        template_id: e.map(|e| e.id.clone()),
        version: None,
        error: None,
    };
    // By name, the first of each name (EC2 names are unique per region).
    let by_name = |list: &'a [Existing]| {
        let mut map: BTreeMap<&'a str, &'a Existing> = BTreeMap::new();
        for e in list {
            map.entry(e.name.as_str()).or_insert(e);
        }
        map
    };
    let (managed_by_name, untagged_by_name) = (by_name(&state.managed), by_name(&state.untagged));
    for d in desired {
        let managed = managed_by_name.get(d.name.as_str()).copied();
        let untagged = untagged_by_name.get(d.name.as_str()).copied();
        match (managed, untagged) {
            (Some(e), _) if e.worker_type.as_deref() == Some(d.worker_type.as_str()) => {
                claimed.insert(&e.id);
                let s = if e.default_description.as_deref() == Some(d.description.as_str()) {
                    step(Action::Unchanged, d, Some(e))
                } else if e.latest_description.as_deref() == Some(d.description.as_str()) && e.latest_version != e.default_version {
                    Step {
                        version: Some(e.latest_version),
                        ..step(Action::SetDefault, d, Some(e))
                    }
                } else {
                    step(Action::NewVersion, d, Some(e))
                };
                steps.push(s);
            }
            (Some(e), _) | (None, Some(e)) => {
                claimed.insert(&e.id);
                steps.push(step(Action::Conflict, d, Some(e)));
                let whose = match &e.worker_type {
                    Some(other) => format!("is tagged `{WORKER_TYPE_TAG} = {other}`"),
                    None => format!("has no `{WORKER_TYPE_TAG}` tag"),
                };
                findings.push(
                    Finding::new(
                        Code::LaunchTemplateUnmanaged,
                        format!(
                            "launch template `{}` ({}) in {region} {whose}; amiset leaves it alone and cannot apply worker type `{}` there",
                            d.name, e.id, d.worker_type
                        ),
                    )
                    .in_file(format!("worker-types/{}.toml", d.worker_type))
                    .help(format!(
                        "rename or delete that template, or tag it `{WORKER_TYPE_TAG} = {}` to hand it to amiset",
                        d.worker_type
                    )),
                );
            }
            (None, None) => steps.push(step(Action::Create, d, None)),
        }
    }
    for e in &state.managed {
        if claimed.contains(e.id.as_str()) || e.worker_type.as_ref().is_some_and(|w| skipped.contains(w)) {
            continue;
        }
        steps.push(Step {
            action: if prune { Action::Delete } else { Action::Stale },
            region: region.to_string(),
            template: e.name.clone(),
            worker_type: e.worker_type.clone(),
            instance_types: Vec::new(),
            template_id: Some(e.id.clone()),
            version: None,
            error: None,
        });
    }
    steps.sort_by(|a, b| (&a.template, a.action).cmp(&(&b.template, b.action)));
    (steps, findings)
}

/// The regions apply looks at: `amiset.toml` `regions` when set, else every
/// region a worker type uses.
pub fn regions(config: &Config) -> Vec<String> {
    match &config.policy.regions {
        Some(list) => {
            let mut r = list.clone();
            r.sort();
            r.dedup();
            r
        }
        None => config
            .worker_types
            .values()
            .flat_map(|wt| wt.regions.iter().map(|r| r.region.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// Counts of the steps by action.
pub fn counts(steps: &[Step]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for s in steps {
        *out.entry(s.action.as_str()).or_default() += 1;
    }
    out
}

/// The plan (or what was done) as text, one line per step that is not `unchanged`, by region.
pub fn render_human(steps: &[Step], dry_run: bool, failed_regions: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut by_region: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
    for s in steps {
        by_region.entry(&s.region).or_default().push(s);
    }
    for (region, list) in &by_region {
        let changes: Vec<&&Step> = list.iter().filter(|s| s.action != Action::Unchanged).collect();
        let unchanged = list.len() - changes.len();
        let _ = writeln!(
            out,
            "{region}: {} to change, {unchanged} unchanged",
            changes.iter().filter(|s| s.action.writes()).count()
        );
        for s in changes {
            let mark = match s.action {
                Action::Create => "+",
                Action::NewVersion | Action::SetDefault => "~",
                Action::Delete => "-",
                _ => "!",
            };
            let mut line = format!("  {mark} {:<12} {}", s.action.as_str(), s.template);
            if !s.instance_types.is_empty() {
                let _ = write!(line, " ({})", s.instance_types.join(", "));
            }
            if let Some(v) = s.version.filter(|_| !dry_run) {
                let _ = write!(line, " → version {v}");
            }
            if s.action == Action::Stale {
                line.push_str(" (kept; `--prune` deletes it)");
            }
            if let Some(e) = &s.error {
                let _ = write!(line, "  FAILED: {e}");
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    for (region, error) in failed_regions {
        let _ = writeln!(out, "{region}: FAILED: {error}");
    }
    let c = counts(steps);
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "{}{} create, {} new version, {} set default, {} delete, {} unchanged, {} stale, {} conflict",
        if dry_run { "plan: " } else { "applied: " },
        n("create"),
        n("new-version"),
        n("set-default"),
        n("delete"),
        n("unchanged"),
        n("stale"),
        n("conflict")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_follow_ec2s_rule() {
        for ok in ["abc", "web-a", "web-c/c5.large", "a_(b).c", &"x".repeat(128)] {
            assert!(is_valid_template_name(ok), "{ok}");
        }
        for bad in ["", "a", "ab", &"x".repeat(129), "web a", "wéb", "a:b", "a,b"] {
            assert!(!is_valid_template_name(bad), "{bad}");
        }
    }

    fn want(name: &str, wt: &str, description: &str) -> Desired {
        Desired {
            region: "us-east-1".into(),
            name: name.into(),
            worker_type: wt.into(),
            instance_types: vec!["m5.large".into()],
            data: Map::new(),
            description: description.into(),
        }
    }

    fn existing(id: &str, name: &str, wt: Option<&str>, default: (i64, &str), latest: (i64, &str)) -> Existing {
        Existing {
            id: id.into(),
            name: name.into(),
            worker_type: wt.map(str::to_string),
            default_version: default.0,
            latest_version: latest.0,
            default_description: Some(default.1.into()),
            latest_description: Some(latest.1.into()),
        }
    }

    fn actions(steps: &[Step]) -> Vec<(&str, Action)> {
        steps.iter().map(|s| (s.template.as_str(), s.action)).collect()
    }

    #[test]
    fn each_kind_of_step_follows_from_what_ec2_has() {
        let (a, b, c, d, e) = (
            want("a", "a", "h1"),
            want("b", "b", "h2"),
            want("c", "c", "h3"),
            want("d", "d", "h4"),
            want("e", "e", "h5"),
        );
        let state = RegionState {
            managed: vec![
                existing("lt-a", "a", Some("a"), (1, "h1"), (1, "h1")),
                existing("lt-b", "b", Some("b"), (1, "old"), (1, "old")),
                existing("lt-c", "c", Some("c"), (1, "old"), (2, "h3")),
                existing("lt-x", "x", Some("gone"), (1, "h"), (1, "h")),
                existing("lt-k", "k", Some("kept"), (1, "h"), (1, "h")),
            ],
            untagged: vec![existing("lt-d", "d", None, (1, ""), (1, ""))],
        };
        let skipped: BTreeSet<String> = ["kept".to_string()].into();
        let all = [&a, &b, &c, &d, &e];
        let (steps, findings) = plan_region("us-east-1", &all, &state, false, &skipped);
        assert_eq!(
            actions(&steps),
            [
                ("a", Action::Unchanged),
                ("b", Action::NewVersion),
                ("c", Action::SetDefault),
                ("d", Action::Conflict),
                ("e", Action::Create),
                ("x", Action::Stale)
            ]
        );
        assert_eq!(steps[2].version, Some(2));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, Code::LaunchTemplateUnmanaged);
        let (pruned, _) = plan_region("us-east-1", &all, &state, true, &skipped);
        assert_eq!(pruned.last().map(|s| (s.template.as_str(), s.action)), Some(("x", Action::Delete)));
    }

    /// Three pairs of zones, each pair with its own spec and the same one
    /// instance type: three templates, three names.
    #[test]
    fn groups_of_zones_with_the_same_instance_type_get_templates_of_their_own() {
        use crate::config::{Content, InputFile, Inputs, Limits};
        let file = |path: &str, text: &str| InputFile {
            path: path.into(),
            content: Content::Bytes(text.as_bytes().to_vec()),
        };
        let worker = r#"
amiSetId = "base"
minCapacity = 0
maxCapacity = 1
[[instanceTypes]]
instanceType = "c5.xlarge"
[[regions]]
region = "us-east-1"
zones = [
  { zone = "us-east-1a" }, { zone = "us-east-1b" },
  { zone = "us-east-1c", launchSpec = { EbsOptimized = true } },
  { zone = "us-east-1d", launchSpec = { EbsOptimized = true } },
  { zone = "us-east-1e", launchSpec = { EbsOptimized = false } },
  { zone = "us-east-1f", launchSpec = { EbsOptimized = false } },
]
"#;
        let inputs = Inputs {
            files: vec![
                file("amiset.toml", "regions = [\"us-east-1\"]\n"),
                file(
                    "ami-sets/base.toml",
                    "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n",
                ),
                file("worker-types/zz-web.toml", worker),
            ],
        };
        let (config, report) = crate::config::load(&inputs, &Limits::default());
        assert_eq!(report.errors(), 0, "{:?}", report.findings);
        let wanted = desired(&config, &crate::resolve::Builtin);
        assert!(wanted.findings.is_empty(), "{:?}", wanted.findings);
        let names: Vec<(&str, Option<bool>)> = wanted
            .templates
            .iter()
            .map(|d| (d.name.as_str(), d.data.get("EbsOptimized").and_then(Json::as_bool)))
            .collect();
        assert_eq!(
            names,
            [
                ("zz-web", None),
                ("zz-web/c5.xlarge", Some(true)),
                ("zz-web/c5.xlarge-2", Some(false))
            ]
        );
    }

    #[test]
    fn a_template_tagged_for_another_worker_type_is_a_conflict_not_an_update() {
        let a = want("a", "a", "h1");
        let state = RegionState {
            managed: vec![existing("lt-a", "a", Some("b"), (1, "old"), (1, "old"))],
            untagged: vec![],
        };
        let (steps, findings) = plan_region("us-east-1", &[&a], &state, true, &BTreeSet::new());
        assert_eq!(actions(&steps), [("a", Action::Conflict)]);
        assert_eq!(findings.len(), 1);
    }
}
