//! Resolution (DESIGN §2, §10): the deep merge of worker type, region, zone
//! and instance type `launchSpec`s, the zone's `Placement.AvailabilityZone`,
//! and the choice of `ImageId` from the AMI set by the instance type's
//! architecture and virtualization support. Pairs that `offerings.json`
//! says EC2 does not offer are left out.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::config::Config;
use crate::config::model::{AmiSet, Arch, InstanceTypeSpec, LaunchSpec, Layer, RegionSpec, Virt, WorkerType, ZoneSpec};
use crate::offerings::Offerings;

/// What an instance type can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    pub arch: Arch,
    pub hvm: bool,
    pub pv: bool,
    /// Whether the type is in the built-in catalogue (or came from EC2).
    pub known: bool,
}

/// The family of an instance type (`m5` for `m5.large`).
pub fn family(instance_type: &str) -> &str {
    crate::instance_types::family(instance_type)
}

/// Capabilities of an instance type from the built-in catalogue
/// ([`crate::instance_types`]). An unknown type is reported by `check` (an
/// error, or a warning under `unknownInstanceTypes = "warn"`); resolution
/// then assumes HVM-only x86_64 and marks it not `known`.
pub fn builtin_type_info(instance_type: &str) -> TypeInfo {
    match crate::instance_types::lookup(instance_type) {
        Some(t) => TypeInfo {
            arch: t.arch(),
            hvm: t.hvm(),
            pv: t.pv(),
            known: true,
        },
        None => TypeInfo {
            arch: Arch::X86_64,
            hvm: true,
            pv: false,
            known: false,
        },
    }
}

/// Where instance type capabilities come from: the built-in table, or EC2's
/// DescribeInstanceTypes when verification is on.
pub trait TypeCatalog: Sync {
    fn type_info(&self, instance_type: &str) -> TypeInfo;
}

/// The built-in instance type catalogue.
#[derive(Clone, Copy, Debug, Default)]
pub struct Builtin;

impl TypeCatalog for Builtin {
    fn type_info(&self, instance_type: &str) -> TypeInfo {
        builtin_type_info(instance_type)
    }
}

/// EC2's answers for some instance types, the built-in catalogue for the rest.
impl TypeCatalog for BTreeMap<String, TypeInfo> {
    fn type_info(&self, instance_type: &str) -> TypeInfo {
        self.get(instance_type).copied().unwrap_or_else(|| builtin_type_info(instance_type))
    }
}

/// Deep merge: tables merge key by key, arrays and scalars are replaced by
/// `over` (a [`LaunchSpec`], or the entries of a zone's).
pub fn merge<'a>(base: &mut LaunchSpec, over: impl IntoIterator<Item = (&'a String, &'a Json)>) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Json::Object(b)), Json::Object(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// One resolved launch specification.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub region: String,
    /// The availability zone, for a region with `zones`.
    pub zone: Option<String>,
    pub instance_type: String,
    /// The merged launchSpec with `ImageId` and `InstanceType` set.
    pub launch_spec: LaunchSpec,
    /// The set entry's virtualization type chosen, `None` for a legacy `ImageId`.
    pub virt: Option<Virt>,
    pub arch: Arch,
}

/// Why a (region, instance type) of a worker type could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub region_index: usize,
    /// Index into the region's `zones`, for a region with zones.
    pub zone_index: Option<usize>,
    pub instance_type_index: usize,
    pub message: String,
    pub help: String,
}

/// The AMI to launch for an instance type in a region, from a set.
pub fn choose_ami<'a>(set: &'a AmiSet, region: &str, info: TypeInfo) -> Result<(&'a str, Virt), String> {
    let order = [(Virt::Hvm, info.hvm), (Virt::Pv, info.pv)];
    if let Some(entry) = set.entry(region, info.arch) {
        for (virt, supported) in order {
            if let (true, Some(ami)) = (supported, entry.ami(virt)) {
                return Ok((ami, virt));
            }
        }
    }
    let needed: Vec<&str> = order.iter().filter(|(_, s)| *s).map(|(v, _)| v.as_str()).collect();
    let have: Vec<String> = set
        .amis
        .iter()
        .filter(|e| e.region == region)
        .flat_map(|e| {
            [Virt::Hvm, Virt::Pv]
                .into_iter()
                .filter(|v| e.ami(*v).is_some())
                .map(|v| format!("{}/{}", v.as_str(), e.arch.as_str()))
        })
        .collect();
    let has = if have.is_empty() {
        "no AMIs there".to_string()
    } else {
        format!("only {} there", have.join(", "))
    };
    Err(format!(
        "needs {}/{} in {region}; set `{}` has {has}",
        needed.join(" or "),
        info.arch.as_str(),
        set.id
    ))
}

/// Resolves every region × instance type of a worker type (region × zone ×
/// instance type where a region has zones), in source order, offering or not.
/// `set` is the worker type's AMI set (`None` when it uses legacy
/// `ImageId`s or the set is unknown).
pub fn resolve_worker_type(wt: &WorkerType, set: Option<&AmiSet>, catalog: &dyn TypeCatalog) -> Vec<Result<Resolved, Unresolved>> {
    resolve_offered(wt, set, catalog, None)
}

/// [`resolve_worker_type`] without the pairs that `offerings` says EC2 does
/// not offer (a zone, or a region without zones, that the file does not
/// know is kept: `check` reports it).
pub fn resolve_offered(
    wt: &WorkerType,
    set: Option<&AmiSet>,
    catalog: &dyn TypeCatalog,
    offerings: Option<&Offerings>,
) -> Vec<Result<Resolved, Unresolved>> {
    resolve_with(wt, set, catalog, offerings, true)
}

/// Whether `offerings` lets `instance_type` launch in `zone` of `region` (in
/// the region, without a zone).
pub fn is_offered(offerings: Option<&Offerings>, region: &str, zone: Option<&str>, instance_type: &str) -> bool {
    let Some(o) = offerings else { return true };
    let answer = match zone {
        Some(zone) => o.in_zone(zone, instance_type),
        None => o.in_region(region, instance_type),
    };
    answer != Some(false)
}

/// The launch spec layers of one (region, zone, instance type) merged in
/// order (worker type → region → zone → instance type), before
/// `Placement.AvailabilityZone`, `InstanceType` and `ImageId` are set.
pub fn layered(wt: &WorkerType, region: &RegionSpec, zone: Option<&ZoneSpec>, itype: &InstanceTypeSpec) -> LaunchSpec {
    let mut spec = wt.launch_spec.clone();
    merge(&mut spec, &region.launch_spec);
    if let Some(z) = zone {
        merge(&mut spec, z.launch_spec.iter());
    }
    merge(&mut spec, &itype.launch_spec);
    spec
}

/// [`layered`] for every (region, zone, instance type) of `wt`, zones
/// expanded and nothing left out for offerings: what a worker type could
/// launch anywhere, whether or not its AMIs resolve there yet.
pub fn all_layered(wt: &WorkerType) -> Vec<(&str, Option<&str>, &str, LaunchSpec)> {
    let mut out = Vec::new();
    for region in &wt.regions {
        for zone in zones_of(region, true) {
            let zone = zone.map(|(_, z)| z);
            for itype in &wt.instance_types {
                out.push((
                    region.region.as_str(),
                    zone.map(|z| z.zone.as_str()),
                    itype.instance_type.as_str(),
                    layered(wt, region, zone, itype),
                ));
            }
        }
    }
    out
}

/// The zones to resolve in a region: each of its `zones`, or the region itself.
fn zones_of(region: &RegionSpec, expand: bool) -> Vec<Option<(usize, &ZoneSpec)>> {
    if region.zones.is_empty() || !expand {
        vec![None]
    } else {
        region.zones.iter().enumerate().map(Some).collect()
    }
}

/// Sets `Placement.AvailabilityZone`, keeping the other `Placement` keys.
fn place(spec: &mut LaunchSpec, zone: &str) {
    let placement = spec.entry("Placement").or_insert_with(|| Json::Object(LaunchSpec::new()));
    if !placement.is_object() {
        *placement = Json::Object(LaunchSpec::new());
    }
    if let Json::Object(p) = placement {
        p.insert("AvailabilityZone".into(), Json::String(zone.to_string()));
    }
}

/// Resolution; with `expand` false, every region resolves as if it had no
/// zones (what `check` needs to know whether an AMI fits: that depends on
/// the region and instance type only).
pub(crate) fn resolve_with(
    wt: &WorkerType,
    set: Option<&AmiSet>,
    catalog: &dyn TypeCatalog,
    offerings: Option<&Offerings>,
    expand: bool,
) -> Vec<Result<Resolved, Unresolved>> {
    let mut out = Vec::with_capacity(wt.regions.len() * wt.instance_types.len());
    for (ri, region) in wt.regions.iter().enumerate() {
        for zone in zones_of(region, expand) {
            for (ti, itype) in wt.instance_types.iter().enumerate() {
                let zone_name = zone.map(|(_, z)| z.zone.as_str());
                if !is_offered(offerings, &region.region, zone_name, &itype.instance_type) {
                    continue;
                }
                let mut spec = layered(wt, region, zone.map(|(_, z)| z), itype);
                let info = catalog.type_info(&itype.instance_type);
                let chosen = match (wt.ami_set_id.as_deref(), set) {
                    (Some(_), Some(set)) => choose_ami(set, &region.region, info).map(|(ami, virt)| (Some(ami.to_string()), Some(virt))),
                    (Some(id), None) => Err(format!("AMI set `{id}` is not available")),
                    (None, _) => match region.image_id() {
                        Some(ami) => Ok((Some(ami.to_string()), None)),
                        None => Err(format!("no `amiSetId` and no `ImageId` in {}", region.region)),
                    },
                };
                match chosen {
                    Ok((ami, virt)) => {
                        if let Some(zone) = zone_name {
                            place(&mut spec, zone);
                        }
                        if let Some(ami) = ami {
                            spec.insert("ImageId".into(), Json::String(ami));
                        }
                        spec.insert("InstanceType".into(), Json::String(itype.instance_type.clone()));
                        out.push(Ok(Resolved {
                            region: region.region.clone(),
                            zone: zone_name.map(str::to_string),
                            instance_type: itype.instance_type.clone(),
                            launch_spec: spec,
                            virt,
                            arch: info.arch,
                        }));
                    }
                    Err(reason) => out.push(Err(Unresolved {
                        region_index: ri,
                        zone_index: zone.map(|(zi, _)| zi),
                        instance_type_index: ti,
                        message: format!(
                            "worker type `{}` cannot launch `{}` in {}: {reason}",
                            wt.name,
                            itype.instance_type,
                            zone_name.unwrap_or(&region.region)
                        ),
                        help: format!(
                            "add a {} AMI for {} to the set, or remove `{}` from this worker type",
                            if info.hvm { "hvm" } else { "pv" },
                            region.region,
                            itype.instance_type
                        ),
                    })),
                }
            }
        }
    }
    out
}

/// One resolved launch spec with, for every leaf key, where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Explained {
    pub launch_spec: LaunchSpec,
    /// One line per leaf key, sorted by key: `Key.Sub = value  # file:line layer`.
    pub origins: Vec<String>,
}

/// Resolves one (region, instance type) of `wt`, or (region, zone, instance
/// type) when the region has zones, and explains every key's origin.
pub fn explain(
    config: &Config,
    wt: &WorkerType,
    region: &str,
    zone: Option<&str>,
    instance_type: &str,
    catalog: &dyn TypeCatalog,
) -> Result<Explained, String> {
    let list = |items: Vec<&str>| items.join(", ");
    let ri = wt.regions.iter().position(|r| r.region == region).ok_or_else(|| {
        format!(
            "worker type `{}` has no region `{region}` (it has {})",
            wt.name,
            list(wt.regions.iter().map(|r| r.region.as_str()).collect())
        )
    })?;
    let ti = wt
        .instance_types
        .iter()
        .position(|t| t.instance_type == instance_type)
        .ok_or_else(|| {
            format!(
                "worker type `{}` has no instance type `{instance_type}` (it has {})",
                wt.name,
                list(wt.instance_types.iter().map(|t| t.instance_type.as_str()).collect())
            )
        })?;
    let zones = &wt.regions[ri].zones;
    let zi = match (zone, zones.is_empty()) {
        (None, true) => None,
        (Some(z), true) => {
            return Err(format!(
                "region {region} of worker type `{}` has no zones (asked for `{z}`)",
                wt.name
            ));
        }
        (None, false) => {
            return Err(format!(
                "region {region} of worker type `{}` has zones: name one with `--zone` ({})",
                wt.name,
                list(zones.iter().map(|z| z.zone.as_str()).collect())
            ));
        }
        (Some(z), false) => Some(zones.iter().position(|s| s.zone == z).ok_or_else(|| {
            format!(
                "region {region} of worker type `{}` has no zone `{z}` (it has {})",
                wt.name,
                list(zones.iter().map(|z| z.zone.as_str()).collect())
            )
        })?),
    };
    let set = wt.ami_set_id.as_deref().and_then(|id| config.ami_sets.get(id));
    let n = wt.instance_types.len();
    let before: usize = wt.regions[..ri].iter().map(|r| r.zones.len().max(1) * n).sum();
    let resolved = resolve_worker_type(wt, set, catalog)
        .into_iter()
        .nth(before + zi.unwrap_or(0) * n + ti)
        .ok_or_else(|| "no such launch spec".to_string())?
        .map_err(|u| u.message)?;
    if !is_offered(config.offerings.as_ref(), region, zone, instance_type) {
        return Err(format!(
            "`{offerings}` says EC2 does not offer `{instance_type}` in {}: the launch spec is left out",
            zone.unwrap_or(region),
            offerings = crate::offerings::FILE
        ));
    }
    let wt_file = format!("worker-types/{}.toml", wt.name);
    let mut layers = vec![
        ("launchSpec".to_string(), Layer::Map(&wt.launch_spec)),
        (format!("regions[{ri}].launchSpec"), Layer::Map(&wt.regions[ri].launch_spec)),
    ];
    let mut pointers = vec!["/launchSpec".to_string(), format!("/regions/{ri}/launchSpec")];
    if let Some(zi) = zi {
        layers.push((format!("regions[{ri}].zones[{zi}].launchSpec"), Layer::Zone(&zones[zi].launch_spec)));
        pointers.push(format!("/regions/{ri}/zones/{zi}/launchSpec"));
    }
    layers.push((
        format!("instanceTypes[{ti}].launchSpec"),
        Layer::Map(&wt.instance_types[ti].launch_spec),
    ));
    pointers.push(format!("/instanceTypes/{ti}/launchSpec"));
    let locate = |file: &str, pointer: &str| -> String {
        match config.docs.get(file) {
            Some(doc) => {
                let (line, _) = crate::diag::line_col(&doc.source, doc.span_of_value(pointer).start);
                format!("{file}:{line}")
            }
            None => file.to_string(),
        }
    };
    let mut leaves = Vec::new();
    leaf_paths(&resolved.launch_spec, &mut Vec::new(), &mut leaves);
    let mut origins = Vec::new();
    for (path, value) in leaves {
        let key = path.join(".");
        let origin = match key.as_str() {
            "InstanceType" => format!(
                "{} instanceTypes[{ti}].instanceType",
                locate(&wt_file, &format!("/instanceTypes/{ti}/instanceType"))
            ),
            "Placement.AvailabilityZone" if zi.is_some() => {
                let zi = zi.unwrap_or(0);
                format!(
                    "{} regions[{ri}].zones[{zi}].zone",
                    locate(&wt_file, &format!("/regions/{ri}/zones/{zi}/zone"))
                )
            }
            "ImageId" => match (set, resolved.virt) {
                (Some(set), Some(virt)) => {
                    let i = set
                        .amis
                        .iter()
                        .position(|e| e.region == region && e.arch == resolved.arch)
                        .unwrap_or(0);
                    let file = format!("ami-sets/{}.toml", set.id);
                    format!(
                        "{} amis[{i}].{} ({}/{})",
                        locate(&file, &format!("/amis/{i}/{}", virt.as_str())),
                        virt.as_str(),
                        virt.as_str(),
                        resolved.arch.as_str()
                    )
                }
                _ => format!(
                    "{} regions[{ri}].launchSpec (legacy ImageId)",
                    locate(&wt_file, &format!("/regions/{ri}/launchSpec/ImageId"))
                ),
            },
            _ => {
                let layer = (0..layers.len())
                    .rev()
                    .find(|&l| get_path(layers[l].1, &path) == Some(&value))
                    .unwrap_or(0);
                let pointer = format!(
                    "{}/{}",
                    pointers[layer],
                    path.iter().map(|s| crate::config::doc::escape(s)).collect::<Vec<_>>().join("/")
                );
                format!("{} {}", locate(&wt_file, &pointer), layers[layer].0)
            }
        };
        origins.push(format!("{key} = {value}  # {origin}"));
    }
    Ok(Explained {
        launch_spec: resolved.launch_spec,
        origins,
    })
}

/// Leaf values of a launch spec (non-tables and empty tables) with their key paths, sorted.
fn leaf_paths(map: &LaunchSpec, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, Json)>) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        prefix.push(key.clone());
        match &map[key] {
            Json::Object(sub) if !sub.is_empty() => leaf_paths(sub, prefix, out),
            value => out.push((prefix.clone(), value.clone())),
        }
        prefix.pop();
    }
}

fn get_path<'a>(layer: Layer<'a>, path: &[String]) -> Option<&'a Json> {
    let (first, rest) = path.split_first()?;
    let value = layer.get(first)?;
    match (rest.is_empty(), value) {
        (true, v) => Some(v),
        (false, Json::Object(sub)) => get_path(Layer::Map(sub), rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::AmiEntry;
    use serde_json::json;

    fn spec(v: Json) -> LaunchSpec {
        v.as_object().cloned().unwrap()
    }

    fn set(entries: Vec<AmiEntry>) -> AmiSet {
        AmiSet {
            id: "s".into(),
            description: None,
            amis: entries,
            source: None,
            worker_config: None,
        }
    }

    fn entry(region: &str, arch: Arch, hvm: Option<&str>, pv: Option<&str>) -> AmiEntry {
        AmiEntry {
            region: region.into(),
            arch,
            hvm: hvm.map(Into::into),
            pv: pv.map(Into::into),
        }
    }

    #[test]
    fn builtin_capabilities_come_from_the_catalogue() {
        assert_eq!(builtin_type_info("m6g.large").arch, Arch::Arm64);
        assert_eq!(builtin_type_info("t4g.micro").arch, Arch::Arm64);
        assert_eq!(
            builtin_type_info("m5.large"),
            TypeInfo {
                arch: Arch::X86_64,
                hvm: true,
                pv: false,
                known: true
            }
        );
        assert!(builtin_type_info("m3.medium").pv);
        assert!(!builtin_type_info("zz9.large").known);
        // A known family with an unknown size is unknown too.
        assert!(!builtin_type_info("m5.huge").known);
    }

    #[test]
    fn merge_tables_deeply_and_replaces_arrays_and_scalars() {
        let mut base =
            spec(json!({"Placement": {"Tenancy": "default", "GroupName": "a"}, "SecurityGroupIds": ["a", "b"], "EbsOptimized": false}));
        merge(
            &mut base,
            &spec(json!({"Placement": {"GroupName": "b"}, "SecurityGroupIds": ["c"], "EbsOptimized": true})),
        );
        assert_eq!(
            Json::Object(base),
            json!({"Placement": {"Tenancy": "default", "GroupName": "b"}, "SecurityGroupIds": ["c"], "EbsOptimized": true})
        );
    }

    #[test]
    fn old_family_prefers_hvm_and_falls_back_to_pv() {
        let info = builtin_type_info("m3.medium");
        let both = set(vec![entry("us-east-1", Arch::X86_64, Some("ami-11111111"), Some("ami-22222222"))]);
        assert_eq!(choose_ami(&both, "us-east-1", info), Ok(("ami-11111111", Virt::Hvm)));
        let pv_only = set(vec![entry("us-east-1", Arch::X86_64, None, Some("ami-22222222"))]);
        assert_eq!(choose_ami(&pv_only, "us-east-1", info), Ok(("ami-22222222", Virt::Pv)));
        let current = builtin_type_info("m5.large");
        let err = choose_ami(&pv_only, "us-east-1", current).unwrap_err();
        assert_eq!(err, "needs hvm/x86_64 in us-east-1; set `s` has only pv/x86_64 there");
    }

    #[test]
    fn arm_instance_types_choose_arm_entries() {
        let s = set(vec![
            entry("us-east-1", Arch::X86_64, Some("ami-11111111"), None),
            entry("us-east-1", Arch::Arm64, Some("ami-33333333"), None),
        ]);
        assert_eq!(
            choose_ami(&s, "us-east-1", builtin_type_info("c7g.large")).unwrap().0,
            "ami-33333333"
        );
        let x86_only = set(vec![entry("eu-west-1", Arch::X86_64, Some("ami-11111111"), None)]);
        let err = choose_ami(&x86_only, "eu-west-1", builtin_type_info("c7g.large")).unwrap_err();
        assert_eq!(err, "needs hvm/arm64 in eu-west-1; set `s` has only hvm/x86_64 there");
    }

    fn worker(text: &str) -> WorkerType {
        let mut wt: WorkerType = toml::from_str(text).unwrap();
        wt.name = "w".into();
        wt
    }

    #[test]
    fn later_layers_win_and_image_and_instance_type_are_set_last() {
        let wt = worker(
            r#"
            amiSetId = "s"
            maxCapacity = 1
            launchSpec = { KeyName = "wt", EbsOptimized = false, Placement = { Tenancy = "default", GroupName = "wt" } }
            [[instanceTypes]]
            instanceType = "m5.large"
            launchSpec = { EbsOptimized = true }
            [[regions]]
            region = "us-east-1"
            launchSpec = { KeyName = "region", EbsOptimized = false, Placement = { GroupName = "region" } }
            "#,
        );
        let s = set(vec![entry("us-east-1", Arch::X86_64, Some("ami-11111111"), None)]);
        let resolved = resolve_worker_type(&wt, Some(&s), &Builtin).remove(0).unwrap();
        assert_eq!(
            Json::Object(resolved.launch_spec),
            json!({"KeyName": "region", "EbsOptimized": true, "Placement": {"Tenancy": "default", "GroupName": "region"},
                   "ImageId": "ami-11111111", "InstanceType": "m5.large"})
        );
    }

    #[test]
    fn legacy_image_ids_resolve_per_region_and_missing_ones_name_the_region() {
        let wt = worker(
            r#"
            maxCapacity = 1
            [[instanceTypes]]
            instanceType = "m5.large"
            [[regions]]
            region = "us-east-1"
            launchSpec = { ImageId = "ami-22222222" }
            [[regions]]
            region = "us-west-2"
            "#,
        );
        let results = resolve_worker_type(&wt, None, &Builtin);
        assert_eq!(results[0].as_ref().unwrap().launch_spec["ImageId"], json!("ami-22222222"));
        assert_eq!(results[0].as_ref().unwrap().virt, None);
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(
            err.message,
            "worker type `w` cannot launch `m5.large` in us-west-2: no `amiSetId` and no `ImageId` in us-west-2"
        );
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;
    use crate::config::model::AmiEntry;
    use proptest::prelude::*;
    use serde_json::json;

    fn worker(text: &str) -> WorkerType {
        let mut wt: WorkerType = toml::from_str(text).unwrap();
        wt.name = "w".into();
        wt
    }

    fn two_region_set() -> AmiSet {
        AmiSet {
            id: "s".into(),
            description: None,
            amis: vec![
                AmiEntry {
                    region: "us-east-1".into(),
                    arch: Arch::X86_64,
                    hvm: Some("ami-eeeeeeee".into()),
                    pv: None,
                },
                AmiEntry {
                    region: "us-west-2".into(),
                    arch: Arch::X86_64,
                    hvm: Some("ami-wwwwwwww".into()),
                    pv: None,
                },
            ],
            source: None,
            worker_config: None,
        }
    }

    const ZONED: &str = r#"
        amiSetId = "s"
        maxCapacity = 1
        launchSpec = { KeyName = "wt", Placement = { Tenancy = "dedicated" } }
        [[instanceTypes]]
        instanceType = "m5.large"
        launchSpec = { EbsOptimized = true }
        [[instanceTypes]]
        instanceType = "c5.large"
        launchSpec = { Placement = { GroupName = "pg-type" } }
        [[regions]]
        region = "us-east-1"
        launchSpec = { SecurityGroupIds = ["sg-1"], SubnetId = "subnet-region" }
        zones = [
          { zone = "us-east-1a", launchSpec = { SubnetId = "subnet-a" } },
          { zone = "us-east-1b", launchSpec = { SubnetId = "subnet-b", Placement = { GroupName = "pg-b" } } },
        ]
        [[regions]]
        region = "us-west-2"
    "#;

    /// The launch specs of [`ZONED`], written out by hand, in resolution order.
    fn expected() -> Vec<(&'static str, Option<&'static str>, &'static str, Json)> {
        vec![
            (
                "us-east-1",
                Some("us-east-1a"),
                "m5.large",
                json!({
                "KeyName": "wt", "Placement": {"Tenancy": "dedicated", "AvailabilityZone": "us-east-1a"},
                "SecurityGroupIds": ["sg-1"], "SubnetId": "subnet-a", "EbsOptimized": true,
                "ImageId": "ami-eeeeeeee", "InstanceType": "m5.large"}),
            ),
            (
                "us-east-1",
                Some("us-east-1a"),
                "c5.large",
                json!({
                "KeyName": "wt", "Placement": {"Tenancy": "dedicated", "GroupName": "pg-type", "AvailabilityZone": "us-east-1a"},
                "SecurityGroupIds": ["sg-1"], "SubnetId": "subnet-a",
                "ImageId": "ami-eeeeeeee", "InstanceType": "c5.large"}),
            ),
            (
                "us-east-1",
                Some("us-east-1b"),
                "m5.large",
                json!({
                "KeyName": "wt", "Placement": {"Tenancy": "dedicated", "GroupName": "pg-b", "AvailabilityZone": "us-east-1b"},
                "SecurityGroupIds": ["sg-1"], "SubnetId": "subnet-b", "EbsOptimized": true,
                "ImageId": "ami-eeeeeeee", "InstanceType": "m5.large"}),
            ),
            (
                "us-east-1",
                Some("us-east-1b"),
                "c5.large",
                json!({
                "KeyName": "wt", "Placement": {"Tenancy": "dedicated", "GroupName": "pg-type", "AvailabilityZone": "us-east-1b"},
                "SecurityGroupIds": ["sg-1"], "SubnetId": "subnet-b",
                "ImageId": "ami-eeeeeeee", "InstanceType": "c5.large"}),
            ),
            (
                "us-west-2",
                None,
                "m5.large",
                json!({
                "KeyName": "wt", "Placement": {"Tenancy": "dedicated"}, "EbsOptimized": true,
                "ImageId": "ami-wwwwwwww", "InstanceType": "m5.large"}),
            ),
            (
                "us-west-2",
                None,
                "c5.large",
                json!({
                "KeyName": "wt", "Placement": {"Tenancy": "dedicated", "GroupName": "pg-type"},
                "ImageId": "ami-wwwwwwww", "InstanceType": "c5.large"}),
            ),
        ]
    }

    fn triples(results: Vec<Result<Resolved, Unresolved>>) -> Vec<(String, Option<String>, String, Json)> {
        results
            .into_iter()
            .map(|r| {
                let r = r.unwrap();
                (r.region, r.zone, r.instance_type, Json::Object(r.launch_spec))
            })
            .collect()
    }

    fn owned(v: Vec<(&str, Option<&str>, &str, Json)>) -> Vec<(String, Option<String>, String, Json)> {
        v.into_iter()
            .map(|(r, z, t, j)| (r.to_string(), z.map(str::to_string), t.to_string(), j))
            .collect()
    }

    #[test]
    fn zones_resolve_worker_type_region_zone_instance_type_then_the_zone_placement() {
        let set = two_region_set();
        let got = triples(resolve_worker_type(&worker(ZONED), Some(&set), &Builtin));
        assert_eq!(got, owned(expected()));
    }

    #[test]
    fn offerings_leave_out_exactly_the_pairs_not_offered() {
        let set = two_region_set();
        let offerings = Offerings::parse(
            r#"{"zones": {"us-east-1a": ["c5.large", "m5.large"], "us-east-1b": ["c5.large"], "us-west-2a": ["m5.large"]}}"#,
        )
        .unwrap();
        let got = triples(resolve_offered(&worker(ZONED), Some(&set), &Builtin, Some(&offerings)));
        // Not offered: m5.large in us-east-1b; c5.large anywhere in us-west-2.
        let want: Vec<_> = expected()
            .into_iter()
            .filter(|(r, z, t, _)| {
                !matches!(
                    (*r, *z, *t),
                    ("us-east-1", Some("us-east-1b"), "m5.large") | ("us-west-2", None, "c5.large")
                )
            })
            .collect();
        assert_eq!(got, owned(want));
    }

    /// Resolution as it was before zones (the previous `resolve_worker_type`, verbatim).
    fn resolve_before_zones(wt: &WorkerType, set: Option<&AmiSet>, catalog: &dyn TypeCatalog) -> Vec<Result<Resolved, Unresolved>> {
        let mut out = Vec::with_capacity(wt.regions.len() * wt.instance_types.len());
        for (ri, region) in wt.regions.iter().enumerate() {
            for (ti, itype) in wt.instance_types.iter().enumerate() {
                let mut spec = wt.launch_spec.clone();
                merge(&mut spec, &region.launch_spec);
                merge(&mut spec, &itype.launch_spec);
                let info = catalog.type_info(&itype.instance_type);
                let chosen = match (wt.ami_set_id.as_deref(), set) {
                    (Some(_), Some(set)) => choose_ami(set, &region.region, info).map(|(ami, virt)| (Some(ami.to_string()), Some(virt))),
                    (Some(id), None) => Err(format!("AMI set `{id}` is not available")),
                    (None, _) => match region.image_id() {
                        Some(ami) => Ok((Some(ami.to_string()), None)),
                        None => Err(format!("no `amiSetId` and no `ImageId` in {}", region.region)),
                    },
                };
                match chosen {
                    Ok((ami, virt)) => {
                        if let Some(ami) = ami {
                            spec.insert("ImageId".into(), Json::String(ami));
                        }
                        spec.insert("InstanceType".into(), Json::String(itype.instance_type.clone()));
                        out.push(Ok(Resolved {
                            region: region.region.clone(),
                            zone: None,
                            instance_type: itype.instance_type.clone(),
                            launch_spec: spec,
                            virt,
                            arch: info.arch,
                        }));
                    }
                    Err(reason) => out.push(Err(Unresolved {
                        region_index: ri,
                        zone_index: None,
                        instance_type_index: ti,
                        message: format!(
                            "worker type `{}` cannot launch `{}` in {}: {reason}",
                            wt.name, itype.instance_type, region.region
                        ),
                        help: format!(
                            "add a {} AMI for {} to the set, or remove `{}` from this worker type",
                            if info.hvm { "hvm" } else { "pv" },
                            region.region,
                            itype.instance_type
                        ),
                    })),
                }
            }
        }
        out
    }

    fn leaf() -> impl Strategy<Value = Json> {
        prop_oneof![
            any::<bool>().prop_map(Json::Bool),
            "[a-z0-9-]{1,6}".prop_map(Json::String),
            proptest::collection::vec("[a-z]{1,3}".prop_map(Json::String), 0..3).prop_map(Json::Array),
        ]
    }

    fn spec() -> impl Strategy<Value = LaunchSpec> {
        let value = leaf().prop_recursive(2, 8, 3, |inner| {
            proptest::collection::btree_map(
                prop_oneof![Just("Tenancy"), Just("GroupName"), Just("AvailabilityZone")],
                inner,
                0..3,
            )
            .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
        });
        proptest::collection::btree_map(
            prop_oneof![
                Just("KeyName"),
                Just("Placement"),
                Just("SubnetId"),
                Just("EbsOptimized"),
                Just("SecurityGroupIds")
            ],
            value,
            0..4,
        )
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn zoneless_worker() -> impl Strategy<Value = (WorkerType, bool)> {
        let types = proptest::collection::vec(
            (
                prop_oneof![Just("m5.large"), Just("m3.medium"), Just("c7g.large"), Just("t1.micro")],
                spec(),
            ),
            1..4,
        );
        let regions = proptest::collection::vec(
            (
                prop_oneof![Just("us-east-1"), Just("us-west-2"), Just("eu-west-1")],
                spec(),
                proptest::option::of(Just("ami-99999999")),
            ),
            1..4,
        );
        (spec(), types, regions, any::<bool>()).prop_map(|(top, types, regions, uses_set)| {
            let wt = WorkerType {
                name: "w".into(),
                description: None,
                owner: None,
                ami_set_id: uses_set.then(|| "s".to_string()),
                min_capacity: 0,
                max_capacity: 1,
                scaling_ratio: 0.0,
                min_price: None,
                max_price: None,
                can_use_ondemand: None,
                can_use_spot: None,
                scopes: Vec::new(),
                launch_spec: top,
                user_data: Default::default(),
                taskcluster: None,
                instance_types: types
                    .into_iter()
                    .map(|(t, s)| crate::config::model::InstanceTypeSpec {
                        instance_type: t.into(),
                        capacity: 1.0,
                        utility: 1.0,
                        launch_spec: s,
                        worker_manager: None,
                    })
                    .collect(),
                regions: regions
                    .into_iter()
                    .map(|(r, mut s, image)| {
                        if let Some(image) = image {
                            s.insert("ImageId".into(), json!(image));
                        }
                        RegionSpec {
                            region: r.into(),
                            launch_spec: s,
                            zones: Vec::new(),
                        }
                    })
                    .collect(),
            };
            (wt, uses_set)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Without zones, resolution (with or without an offerings file that
        /// offers everything) is exactly what it was before zones existed.
        #[test]
        fn without_zones_resolution_is_unchanged((wt, _) in zoneless_worker(), pv in any::<bool>()) {
            let mut set = two_region_set();
            if pv {
                set.amis[0].pv = Some("ami-00000001".into());
            }
            let before = resolve_before_zones(&wt, wt.ami_set_id.as_ref().map(|_| &set), &Builtin);
            prop_assert_eq!(&resolve_worker_type(&wt, wt.ami_set_id.as_ref().map(|_| &set), &Builtin), &before);
            let everything = Offerings {
                zones: ["us-east-1a", "us-west-2a", "eu-west-1a"]
                    .iter()
                    .map(|z| (z.to_string(), ["m5.large", "m3.medium", "c7g.large", "t1.micro"].iter().map(|t| t.to_string()).collect()))
                    .collect(),
            };
            prop_assert_eq!(&resolve_offered(&wt, wt.ami_set_id.as_ref().map(|_| &set), &Builtin, Some(&everything)), &before);
            prop_assert_eq!(&resolve_with(&wt, wt.ami_set_id.as_ref().map(|_| &set), &Builtin, None, false), &before);
        }
    }
}
