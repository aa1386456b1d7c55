//! Checks beyond the schema (DESIGN §1–§2): regions, duplicates, references
//! between files, placement rules, policy, revoked AMIs and whether every
//! worker type × region × instance type resolves to an AMI.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::config::doc::Doc;
use crate::config::{self, AmiSet, Config, Inputs, LegacyPolicy, Limits, Policy, UnknownTypePolicy, WorkerType};
use crate::diag::{Code, Finding, Report, Severity, closest};
use crate::regions;
use crate::resolve::{self, TypeCatalog};

pub mod incremental;
pub mod pools;
mod source;
mod zones;

/// Loads and checks a config repository: everything `amiset check` does offline.
pub fn run(inputs: &Inputs, limits: &Limits) -> (Config, Report) {
    let (config, mut report) = config::load(inputs, limits);
    report.findings.extend(check_with_limits(&config, &resolve::Builtin, limits));
    report.sort();
    (config, report)
}

/// Cross-file checks over a loaded config, with instance type capabilities
/// from `catalog`, under the default [`Limits`].
pub fn check(config: &Config, catalog: &dyn TypeCatalog) -> Vec<Finding> {
    check_with_limits(config, catalog, &Limits::default())
}

/// The launch specifications a worker type resolves to, as resolution
/// enumerates them: entries of `regions` (each region's `zones`, or the
/// region itself) times entries of `instanceTypes`. Without duplicates
/// (which are errors) and pairs left out by offerings, this is the number
/// compile writes.
pub fn launch_spec_count(wt: &WorkerType) -> usize {
    let places = wt.regions.iter().fold(0usize, |n, r| n.saturating_add(r.zones.len().max(1)));
    places.saturating_mul(wt.instance_types.len())
}

/// `limits::too-many-launch-specs` when the worker types together resolve to
/// more than `limits.max_launch_specs` launch specifications, located at the
/// worker type (in name order) where the running total crosses the limit.
pub fn launch_spec_limit(config: &Config, limits: &Limits) -> Option<Finding> {
    let mut total = 0usize;
    let mut crossing = None;
    for (name, wt) in &config.worker_types {
        total = total.saturating_add(launch_spec_count(wt));
        if crossing.is_none() && total > limits.max_launch_specs {
            crossing = Some(name.as_str());
        }
    }
    let name = crossing?;
    let path = format!("worker-types/{name}.toml");
    let f = Finding::new(
        Code::TooManyLaunchSpecs,
        format!(
            "the worker types resolve to {total} launch specs, over the limit of {}; the total crosses it at worker type `{name}`",
            limits.max_launch_specs
        ),
    )
    .label("the limit is crossed here")
    .help("each worker type resolves to its regions times its instance types; raise `--max-launch-specs` if this is intended");
    Some(match config.worker_doc(name) {
        Some(doc) => f.at(&path, doc.span_of_key("/instanceTypes")),
        None => f.in_file(path),
    })
}

/// [`check`] under `limits`: over `max_launch_specs`, nothing is resolved
/// (the limit bounds the work a hostile repository can cause) and the only
/// resolution finding is `limits::too-many-launch-specs`.
pub fn check_with_limits(config: &Config, catalog: &dyn TypeCatalog, limits: &Limits) -> Vec<Finding> {
    let mut findings = Vec::new();
    let over_limit = launch_spec_limit(config, limits);
    let feasibility = over_limit.is_none();
    findings.extend(check_global(config, over_limit));
    let sets: Vec<Finding> = config
        .ami_sets
        .par_iter()
        .flat_map_iter(|(id, set)| check_set(config, id, set))
        .collect();
    findings.extend(sets);
    let workers: Vec<Finding> = config
        .worker_types
        .par_iter()
        .flat_map_iter(|(_, wt)| check_worker_type(config, wt, catalog, feasibility))
        .collect();
    findings.extend(workers);
    // Worker type files that failed their schema have no model.
    for name in config.worker_names.iter().filter(|n| !config.worker_types.contains_key(*n)) {
        findings.extend(check_worker_file(config, name, catalog, feasibility));
    }
    findings
}

/// The checks of [`check_with_limits`] that look at the repository as a
/// whole: the launch spec limit (`over_limit`, what [`launch_spec_limit`]
/// found: the caller needs it too, to know whether to resolve), the policy,
/// SCOPES and unused AMI sets. The rest is [`check_set`] per set and
/// [`check_worker_type`] per worker type, so that an editor can re-check
/// only what an edit affects.
pub fn check_global(config: &Config, over_limit: Option<Finding>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(over_limit);
    findings.extend(check_policy(config));
    if let Some(text) = &config.scopes_source {
        let scopes = crate::scopes::parse("SCOPES", text, &config.policy).1;
        // While amiset.toml does not load its teams are unknown: no team is
        // called undefined on their account (the policy's own errors say why).
        findings.extend(
            scopes
                .into_iter()
                .filter(|f| !(config.policy_broken && f.code == Code::UnknownTeam)),
        );
    }
    findings.extend(unused_sets(config));
    findings.extend(zones::unfiltered(config));
    findings.extend(pools::duplicate_pools(config, &pools::by_pool(config)));
    findings
}

/// Where to point: the key or value at a pointer of a file's document.
struct At<'a> {
    doc: Option<&'a Doc>,
    path: String,
}

impl At<'_> {
    fn value(&self, f: Finding, pointer: &str) -> Finding {
        match self.doc {
            Some(doc) => f.at(&self.path, doc.span_of_value(pointer)),
            None => f.in_file(&self.path),
        }
    }

    fn key(&self, f: Finding, pointer: &str) -> Finding {
        match self.doc {
            Some(doc) => f.at(&self.path, doc.span_of_key(pointer)),
            None => f.in_file(&self.path),
        }
    }
}

fn region_findings(policy: &Policy, region: &str, at: &At<'_>, pointer: &str) -> Option<Finding> {
    if !regions::is_known(region) {
        let f = Finding::new(Code::UnknownRegion, format!("`{region}` is not a known AWS region"))
            .label("unknown region")
            .suggest(closest(region, regions::KNOWN.iter().copied()));
        return Some(at.value(f, pointer));
    }
    if !policy.allows_region(region) {
        let allowed = policy.regions.as_deref().unwrap_or_default();
        let f = Finding::new(Code::RegionNotAllowed, format!("region `{region}` is not allowed by `amiset.toml`"))
            .label("not in `regions`")
            .help(format!(
                "allowed regions: {}; add `{region}` to `regions` in `amiset.toml` to use it",
                allowed.join(", ")
            ));
        return Some(at.value(f, pointer));
    }
    None
}

fn check_policy(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let at = At {
        doc: config.policy_doc.as_ref(),
        path: "amiset.toml".into(),
    };
    if let Some(list) = &config.policy.regions {
        for (i, region) in list.iter().enumerate() {
            if !regions::is_known(region) {
                let f = Finding::new(Code::UnknownRegion, format!("`{region}` is not a known AWS region"))
                    .label("unknown region")
                    .suggest(closest(region, regions::KNOWN.iter().copied()));
                out.push(at.value(f, &format!("/regions/{i}")));
            }
        }
    }
    if let Err(invalid) = crate::authorize::ProtectedPaths::new(&config.policy.protected_paths()) {
        out.push(crate::authorize::invalid_protected_path(config, &invalid, false));
    }
    out.extend(crate::authorize::check_privileged_table(config));
    out
}

/// `worker-type::unknown-instance-type` when neither EC2's answer (in
/// `catalog`) nor the built-in catalogue knows `instance_type`: an error,
/// or a warning under `unknownInstanceTypes = "warn"`.
fn unknown_instance_type(policy: &Policy, instance_type: &str, catalog: &dyn TypeCatalog, at: &At<'_>, pointer: &str) -> Option<Finding> {
    if catalog.type_info(instance_type).known {
        return None;
    }
    let (severity, assumed) = match policy.unknown_instance_types {
        UnknownTypePolicy::Deny => (Severity::Error, ""),
        UnknownTypePolicy::Warn => (Severity::Warning, "; assuming HVM-only x86_64"),
    };
    let help = format!(
        "amiset knows the EC2 instance types of {}; for a newer type, set `unknownInstanceTypes = \"warn\"` in `amiset.toml` and verify with `--ec2`",
        crate::instance_types::SOURCE
    );
    let f = Finding::new(
        Code::UnknownInstanceType,
        format!("`{instance_type}` is not a known EC2 instance type{assumed}"),
    )
    .severity(severity)
    .label("unknown instance type")
    .help(help)
    .suggest(crate::instance_types::closest(instance_type));
    Some(at.value(f, pointer))
}

/// An `InstanceType` in a launchSpec is never allowed (the schema reports
/// it, and the worker type then has no model); when its value is not a known
/// instance type either, that is reported on the value too.
/// Every check of one worker type file: [`check_worker_type`] when it
/// passed its schema, otherwise the instance types its document names in
/// places the schema forbids (so that a typo there still gets its
/// did-you-mean).
pub fn check_worker_file(config: &Config, name: &str, catalog: &dyn TypeCatalog, feasible: bool) -> Vec<Finding> {
    if let Some(wt) = config.worker_types.get(name) {
        return check_worker_type(config, wt, catalog, feasible);
    }
    let Some(doc) = config.worker_doc(name) else {
        return Vec::new();
    };
    let at = At {
        doc: Some(doc),
        path: format!("worker-types/{name}.toml"),
    };
    let count = |key: &str| doc.root().get(key).and_then(|n| n.as_array()).map_or(0, <[_]>::len);
    let pointers = std::iter::once("/launchSpec/InstanceType".to_string())
        .chain((0..count("regions")).map(|i| format!("/regions/{i}/launchSpec/InstanceType")))
        .chain((0..count("instanceTypes")).map(|i| format!("/instanceTypes/{i}/launchSpec/InstanceType")));
    pointers
        .filter_map(|pointer| {
            let value = doc.root().pointer(&pointer).and_then(|n| n.as_str())?;
            unknown_instance_type(&config.policy, value, catalog, &at, &pointer)
        })
        .collect()
}

fn revoked_finding(policy: &Policy, ami: &str, at: &At<'_>, pointer: &str) -> Option<Finding> {
    policy.revoked_reason(ami).map(|reason| {
        let f = Finding::new(Code::RevokedAmi, format!("`{ami}` is revoked: {reason}"))
            .label("revoked AMI")
            .help("replace it with a patched AMI; revoked AMIs must never be launched again");
        at.value(f, pointer)
    })
}

/// The checks of one AMI set: regions, duplicate and empty entries, revoked AMIs.
/// Its findings depend on the set and the policy only.
pub fn check_set(config: &Config, id: &str, set: &AmiSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let at = At {
        doc: config.set_doc(id),
        path: format!("ami-sets/{id}.toml"),
    };
    out.extend(source::check(&config.policy, id, set, at.doc));
    let mut seen: BTreeMap<(&str, config::Arch), usize> = BTreeMap::new();
    for (i, entry) in set.amis.iter().enumerate() {
        let base = format!("/amis/{i}");
        out.extend(region_findings(&config.policy, &entry.region, &at, &format!("{base}/region")));
        if let Some(first) = seen.insert((&entry.region, entry.arch), i) {
            let mut f = Finding::new(
                Code::DuplicateAmiEntry,
                format!("AMI set `{id}` has two entries for {} {}", entry.region, entry.arch.as_str()),
            )
            .label("second entry")
            .help("merge the entries: each (region, arch) appears once, with `hvm` and/or `pv`");
            f = at.value(f, &format!("{base}/region"));
            if let Some(doc) = at.doc {
                f = f.secondary(&at.path, doc.span_of_value(&format!("/amis/{first}/region")), "first entry");
            }
            out.push(f);
        }
        if entry.hvm.is_none() && entry.pv.is_none() {
            let f = Finding::new(
                Code::EmptyAmiEntry,
                format!(
                    "AMI set entry for {} {} has neither `hvm` nor `pv`",
                    entry.region,
                    entry.arch.as_str()
                ),
            )
            .label("no AMI")
            .help("add `hvm = \"ami-...\"` (or `pv` for old instance families)");
            out.push(at.value(f, &base));
        }
        for (key, ami) in [("hvm", &entry.hvm), ("pv", &entry.pv)] {
            if let Some(ami) = ami {
                out.extend(revoked_finding(&config.policy, ami, &at, &format!("{base}/{key}")));
            }
        }
    }
    out
}

/// The checks of one worker type, including whether it resolves (unless
/// `feasibility` is false, over the launch spec limit). Its findings depend
/// on the worker type, the policy, the names of the AMI set files and the
/// set it uses.
pub fn check_worker_type(config: &Config, wt: &WorkerType, catalog: &dyn TypeCatalog, feasibility: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = wt.name.as_str();
    let at = At {
        doc: config.worker_doc(name),
        path: format!("worker-types/{name}.toml"),
    };
    let policy = &config.policy;

    let set = match &wt.ami_set_id {
        Some(id) if !config.set_ids.contains(id) => {
            let f = Finding::new(
                Code::UnknownAmiSet,
                format!("worker type `{name}` refers to unknown AMI set `{id}`"),
            )
            .label("no such AMI set")
            .help(format!("create `ami-sets/{id}.toml`"))
            .suggest(closest(id, config.set_ids.iter().map(String::as_str)));
            out.push(at.value(f, "/amiSetId"));
            None
        }
        Some(id) => config.ami_sets.get(id),
        None => None,
    };

    let mut seen_regions: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, region) in wt.regions.iter().enumerate() {
        let base = format!("/regions/{i}");
        out.extend(region_findings(policy, &region.region, &at, &format!("{base}/region")));
        if seen_regions.insert(&region.region, i).is_some() {
            let f = Finding::new(
                Code::DuplicateRegion,
                format!("worker type `{name}` lists region {} twice", region.region),
            )
            .label("duplicate region")
            .help("merge the two `[[regions]]` entries");
            out.push(at.value(f, &format!("{base}/region")));
        }
        let image_pointer = format!("{base}/launchSpec/ImageId");
        match (region.image_id(), &wt.ami_set_id) {
            (Some(_), Some(id)) => {
                let f = Finding::new(
                    Code::AmiSetAndImageId,
                    format!("worker type `{name}` has both `amiSetId` and a raw `ImageId` in {}", region.region),
                )
                .label("raw ImageId")
                .help(format!("remove the `ImageId`: AMI set `{id}` supplies the image"));
                out.push(at.key(f, &image_pointer));
            }
            (Some(ami), None) => {
                if policy.legacy_image_ids != LegacyPolicy::Allow {
                    let severity = if policy.legacy_image_ids == LegacyPolicy::Deny {
                        Severity::Error
                    } else {
                        Severity::Warning
                    };
                    let f = Finding::new(
                        Code::LegacyImageId,
                        format!("worker type `{name}` uses a raw `ImageId` in {}", region.region),
                    )
                    .severity(severity)
                    .label("raw ImageId")
                    .help("move the image into an AMI set and use `amiSetId` (`amiset migrate` does this)");
                    out.push(at.key(f, &image_pointer));
                }
                out.extend(revoked_finding(policy, ami, &at, &image_pointer));
            }
            (None, None) => {
                let f = Finding::new(Code::NoImage, format!("worker type `{name}` has no image for {}", region.region))
                    .label("no `ImageId` here")
                    .help("set `amiSetId` at the top of the file");
                out.push(at.value(f, &format!("{base}/region")));
            }
            (None, Some(_)) => {}
        }
    }

    let mut seen_types: BTreeSet<&str> = BTreeSet::new();
    for (i, it) in wt.instance_types.iter().enumerate() {
        let pointer = format!("/instanceTypes/{i}/instanceType");
        if !seen_types.insert(&it.instance_type) {
            let f = Finding::new(
                Code::DuplicateInstanceType,
                format!("worker type `{name}` lists instance type `{}` twice", it.instance_type),
            )
            .label("duplicate instance type")
            .help("merge the two `[[instanceTypes]]` entries");
            out.push(at.value(f, &pointer));
        }
        out.extend(unknown_instance_type(policy, &it.instance_type, catalog, &at, &pointer));
    }

    if wt.min_capacity > wt.max_capacity {
        let f = Finding::new(
            Code::InvalidRange,
            format!(
                "`minCapacity` ({}) is greater than `maxCapacity` ({})",
                wt.min_capacity, wt.max_capacity
            ),
        )
        .label("greater than maxCapacity")
        .help("lower `minCapacity` or raise `maxCapacity`");
        out.push(at.value(f, "/minCapacity"));
    }
    if let (Some(min), Some(max)) = (wt.min_price, wt.max_price)
        && min > max
    {
        let f = Finding::new(Code::InvalidRange, format!("`minPrice` ({min}) is greater than `maxPrice` ({max})"))
            .label("greater than maxPrice")
            .help("lower `minPrice` or raise `maxPrice`");
        out.push(at.value(f, "/minPrice"));
    }

    out.extend(security_groups_with_subnet(wt, &at));
    out.extend(zones::check_zones(wt, &at));
    out.extend(zones::check_offerings(config, wt, &at));

    // Feasibility is only meaningful once the references are sound.
    let resolvable = feasibility
        && match &wt.ami_set_id {
            Some(_) => set.is_some(),
            None => wt.regions.iter().all(|r| r.image_id().is_some()),
        };
    if resolvable {
        let bad_region = |i: usize| wt.regions.get(i).is_none_or(|r| !policy.allows_region(&r.region));
        // A region that is unknown or not allowed is already reported; its resolution would only repeat that.
        // Whether an AMI fits depends on the region and instance type only: zones are not expanded.
        for unresolved in resolve::resolve_with(wt, set, catalog, None, false)
            .into_iter()
            .filter_map(Result::err)
            .filter(|u| !bad_region(u.region_index))
        {
            let mut f = Finding::new(Code::NoUsableAmi, unresolved.message)
                .label("no usable AMI")
                .help(unresolved.help);
            f = at.value(f, &format!("/instanceTypes/{}/instanceType", unresolved.instance_type_index));
            if let Some(doc) = at.doc {
                f = f.secondary(
                    &at.path,
                    doc.span_of_value(&format!("/regions/{}/region", unresolved.region_index)),
                    "in this region",
                );
            }
            out.push(f);
        }
    }
    out
}

/// `SecurityGroups` and `SubnetId` in the same merged launch spec.
fn security_groups_with_subnet(wt: &WorkerType, at: &At<'_>) -> Option<Finding> {
    let layers = wt.launch_spec_layers();
    let (mut groups, mut subnet) = (None, None);
    for (pointer, spec) in layers {
        if groups.is_none() && spec.contains_key("SecurityGroups") {
            groups = Some(format!("{pointer}/SecurityGroups"));
        }
        if subnet.is_none() && spec.contains_key("SubnetId") {
            subnet = Some(format!("{pointer}/SubnetId"));
        }
    }
    let (groups, subnet) = (groups?, subnet?);
    // Both must meet in at least one merged spec.
    let empty = config::ZoneLaunchSpec::default();
    let meets = wt.regions.iter().any(|r| {
        let zones: Vec<&config::ZoneLaunchSpec> = match r.zones.is_empty() {
            true => vec![&empty],
            false => r.zones.iter().map(|z| &z.launch_spec).collect(),
        };
        zones.iter().any(|z| {
            wt.instance_types.iter().any(|t| {
                let has = |k: &str| {
                    wt.launch_spec.contains_key(k) || r.launch_spec.contains_key(k) || z.contains_key(k) || t.launch_spec.contains_key(k)
                };
                has("SecurityGroups") && has("SubnetId")
            })
        })
    });
    if !meets {
        return None;
    }
    let mut f = Finding::new(
        Code::SecurityGroupsWithSubnet,
        format!("worker type `{}` sets `SecurityGroups` together with `SubnetId`", wt.name),
    )
    .label("SecurityGroups (names)")
    .help("in a VPC subnet, use `SecurityGroupIds` instead of `SecurityGroups`; EC2 rejects the combination");
    f = at.key(f, &groups);
    if let Some(doc) = at.doc {
        f = f.secondary(&at.path, doc.span_of_key(&subnet), "SubnetId set here");
    }
    Some(f)
}

fn unused_sets(config: &Config) -> Vec<Finding> {
    // A worker type that did not even parse may name any set: nothing can be called unused then.
    if config.worker_names.iter().any(|n| config.worker_doc(n).is_none()) {
        return Vec::new();
    }
    let used: BTreeSet<&str> = config.worker_types.values().filter_map(|w| w.ami_set_id.as_deref()).collect();
    // A worker type that failed its schema may still name a set: do not call that set unused.
    let named_by_broken: BTreeSet<&str> = config
        .worker_names
        .iter()
        .filter(|n| !config.worker_types.contains_key(*n))
        .filter_map(|n| config.worker_doc(n))
        .filter_map(|d| d.root().get("amiSetId").and_then(|n| n.as_str()))
        .collect();
    config
        .ami_sets
        .keys()
        .filter(|id| !used.contains(id.as_str()) && !named_by_broken.contains(id.as_str()))
        .map(|id| {
            Finding::new(Code::UnusedAmiSet, format!("AMI set `{id}` is not used by any worker type"))
                .in_file(format!("ami-sets/{id}.toml"))
                .help("delete it, or point a worker type at it with `amiSetId`")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Content, InputFile};
    use proptest::prelude::*;

    fn inputs(files: Vec<(&str, Vec<u8>)>) -> Inputs {
        Inputs {
            files: files
                .into_iter()
                .map(|(p, b)| InputFile {
                    path: p.to_string(),
                    content: Content::Bytes(b),
                })
                .collect(),
        }
    }

    /// Fragments of plausible config text, so that generated files get past the parser often.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("maxCapacity = 5\n".to_string()),
            Just("amiSetId = \"s\"\n".to_string()),
            Just("[[instanceTypes]]\ninstanceType = \"m5.large\"\n".to_string()),
            Just("[[instanceTypes]]\ninstanceType = \"m1.small\"\n".to_string()),
            Just("[[regions]]\nregion = \"us-east-1\"\n".to_string()),
            Just("launchSpec = { ImageId = \"ami-0123abcd\", SubnetId = \"x\" }\n".to_string()),
            Just("[launchSpec]\nSecurityGroups = [\"a\"]\n".to_string()),
            Just("[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123abcd\"\n".to_string()),
            Just("pv = \"ami-0123abcd\"\narch = \"arm64\"\n".to_string()),
            "[ -~\n]{0,40}",
        ]
    }

    fn unknown_type_findings(policy: &str, catalog: &dyn TypeCatalog) -> Vec<(Code, Severity, String)> {
        let files = vec![
            ("amiset.toml", policy.as_bytes().to_vec()),
            ("ami-sets/s.toml", b"[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-0123abcd\"\n".to_vec()),
            (
                "worker-types/w.toml",
                b"amiSetId = \"s\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"zz9.large\"\n[[regions]]\nregion = \"us-east-1\"\n".to_vec(),
            ),
        ];
        let (config, report) = config::load(&inputs(files), &Limits::default());
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        check(&config, catalog)
            .into_iter()
            .map(|f| (f.code, f.severity, f.message))
            .collect()
    }

    /// While amiset.toml does not load, its teams are unknown: SCOPES lines
    /// that name them are not errors on that account; once it loads, an
    /// undefined team is.
    #[test]
    fn teams_are_not_called_undefined_while_the_policy_does_not_load() {
        let scopes = b"aws-provisioner:admin @example/relops\n".to_vec();
        let codes = |policy: &str| -> Vec<Code> {
            let (config, mut report) = config::load(
                &inputs(vec![("amiset.toml", policy.as_bytes().to_vec()), ("SCOPES", scopes.clone())]),
                &Limits::default(),
            );
            report.findings.extend(check(&config, &resolve::Builtin));
            report.findings.into_iter().map(|f| f.code).collect()
        };
        let teams = "[teams]\n\"@example/relops\" = [\"@alice\"]\n";
        assert!(!codes(&format!("deprecationWarningDays = 1.5\n{teams}")).contains(&Code::UnknownTeam));
        assert!(
            !codes(&format!("deprecationWarningDays = 1.5\n{teams}")).is_empty(),
            "the policy's own error"
        );
        assert!(codes(&format!("deprecationWarningDays = 1\n{teams}")).is_empty());
        assert_eq!(codes("deprecationWarningDays = 1\n"), [Code::UnknownTeam]);
    }

    #[test]
    fn unknown_instance_type_is_an_error_a_warning_by_policy_and_nothing_when_ec2_knows_it() {
        let unknown = (
            Code::UnknownInstanceType,
            Severity::Error,
            "`zz9.large` is not a known EC2 instance type".to_string(),
        );
        let no_arm = |f: &(Code, Severity, String)| f.0 == Code::NoUsableAmi && f.2.contains("needs hvm/x86_64");
        let denied = unknown_type_findings("", &resolve::Builtin);
        assert_eq!(denied[0], unknown, "{denied:?}");
        // Unknown, it is assumed x86_64: the arm64-only set cannot serve it.
        assert!(denied.iter().any(no_arm), "{denied:?}");

        let warned = unknown_type_findings("unknownInstanceTypes = \"warn\"\n", &resolve::Builtin);
        assert_eq!(
            warned[0],
            (
                Code::UnknownInstanceType,
                Severity::Warning,
                "`zz9.large` is not a known EC2 instance type; assuming HVM-only x86_64".to_string()
            )
        );

        // EC2 described it (arm64): EC2's answer wins over the catalogue.
        let ec2: BTreeMap<String, resolve::TypeInfo> = BTreeMap::from([(
            "zz9.large".to_string(),
            resolve::TypeInfo {
                arch: config::Arch::Arm64,
                hvm: true,
                pv: false,
                known: true,
            },
        )]);
        assert_eq!(unknown_type_findings("", &ec2), vec![]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for path in ["amiset.toml", "SCOPES", "ami-sets/s.toml", "worker-types/w.toml"] {
                let (_, report) = run(&inputs(vec![(path, bytes.clone())]), &Limits::default());
                for f in &report.findings {
                    prop_assert!(f.file.is_some());
                }
            }
        }

        #[test]
        fn plausible_configs_never_panic_and_findings_are_sorted(
            set in proptest::collection::vec(fragment(), 0..6),
            wt in proptest::collection::vec(fragment(), 0..8),
        ) {
            let files = vec![("ami-sets/s.toml", set.concat().into_bytes()), ("worker-types/w.toml", wt.concat().into_bytes())];
            let (_, report) = run(&inputs(files), &Limits::default());
            let positions: Vec<_> = report.findings.iter().map(|f| (f.file.clone(), report.position(f))).collect();
            let mut sorted = positions.clone();
            sorted.sort();
            prop_assert_eq!(positions, sorted);
        }
    }
}
