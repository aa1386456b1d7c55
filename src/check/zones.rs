//! Checks of availability zones and offerings (DESIGN §10): zones named
//! after their region, no duplicate zone, no `Placement.AvailabilityZone`
//! in a layer, and, with `offerings.json`, which (zone, instance type)
//! pairs EC2 offers.

use std::collections::BTreeMap;

use super::At;
use crate::config::{Config, WorkerType};
use crate::diag::{Code, Finding};
use crate::offerings::{self, is_zone_of};

/// Zone names, duplicates and `Placement.AvailabilityZone` in any layer.
pub(super) fn check_zones(wt: &WorkerType, at: &At<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (ri, region) in wt.regions.iter().enumerate() {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (zi, z) in region.zones.iter().enumerate() {
            let pointer = format!("/regions/{ri}/zones/{zi}/zone");
            if !is_zone_of(&z.zone, &region.region) {
                let elsewhere = offerings::region_of(&z.zone)
                    .map(|r| format!("; `{}` is a zone of {r}: move it to the `[[regions]]` entry of {r}", z.zone))
                    .unwrap_or_default();
                let mut f = Finding::new(
                    Code::ZoneOutsideRegion,
                    format!("zone `{}` is not a zone of region {}", z.zone, region.region),
                )
                .label("not in this region")
                .help(format!(
                    "zones of {r} are named after it: `{r}a`, `{r}b`, ... (local zones `{r}-<name>`){elsewhere}",
                    r = region.region
                ));
                f = at.value(f, &pointer);
                if let Some(doc) = at.doc {
                    f = f.secondary(&at.path, doc.span_of_value(&format!("/regions/{ri}/region")), "the region");
                }
                out.push(f);
            }
            if let Some(first) = seen.insert(&z.zone, zi) {
                let mut f = Finding::new(
                    Code::DuplicateZone,
                    format!("worker type `{}` lists zone `{}` twice in {}", wt.name, z.zone, region.region),
                )
                .label("duplicate zone")
                .help("merge the two entries of `zones`");
                f = at.value(f, &pointer);
                if let Some(doc) = at.doc {
                    f = f.secondary(
                        &at.path,
                        doc.span_of_value(&format!("/regions/{ri}/zones/{first}/zone")),
                        "first here",
                    );
                }
                out.push(f);
            }
        }
    }
    for (pointer, spec) in wt.launch_spec_layers() {
        if spec.get("Placement").and_then(|p| p.get("AvailabilityZone")).is_some() {
            let f = Finding::new(
                Code::AvailabilityZoneInLaunchSpec,
                format!("worker type `{}` sets `Placement.AvailabilityZone` in a launchSpec", wt.name),
            )
            .label("set by `zones`")
            .help("list the zone in `zones` of its `[[regions]]` entry instead: each zone gets its own launch spec with `Placement.AvailabilityZone` set");
            out.push(at.key(f, &format!("{pointer}/Placement/AvailabilityZone")));
        }
    }
    out
}

/// With `offerings.json`: zones (and regions without zones) the file does
/// not know, instance types offered nowhere the worker type launches in a
/// region, and the (zone, instance type) pairs left out.
pub(super) fn check_offerings(config: &Config, wt: &WorkerType, at: &At<'_>) -> Vec<Finding> {
    let Some(o) = &config.offerings else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let file = offerings::FILE;
    for (ri, region) in wt.regions.iter().enumerate() {
        let r = region.region.as_str();
        if !config.policy.allows_region(r) {
            continue; // reported as a region finding
        }
        let region_ptr = format!("/regions/{ri}/region");
        let secondary = |f: Finding, pointer: &str, text: &str| match at.doc {
            Some(doc) => f.secondary(&at.path, doc.span_of_value(pointer), text),
            None => f,
        };
        // The zones that are known, by index; an unknown one is an error.
        let mut known: Vec<(usize, &str)> = Vec::new();
        if region.zones.is_empty() {
            if wt
                .instance_types
                .first()
                .is_some_and(|t| o.in_region(r, &t.instance_type).is_none())
            {
                // A region without zones names no zone the file could lack: as
                // resolution does, nothing is filtered there, and check says so.
                let f = Finding::new(
                    Code::OfferingsUnfiltered,
                    format!(
                        "`{file}` has no zone of region {r}: the instance types of worker type `{}` are not filtered there",
                        wt.name
                    ),
                )
                .label("no offerings for this region")
                .help(format!("run `amiset ec2 offerings` to add the zones of {r} to `{file}`"));
                out.push(at.value(f, &region_ptr));
                continue;
            }
        } else {
            for (zi, z) in region.zones.iter().enumerate() {
                if !is_zone_of(&z.zone, r) {
                    continue; // zone::outside-region
                }
                if o.zones.contains_key(&z.zone) {
                    known.push((zi, &z.zone));
                } else {
                    let f = Finding::new(Code::OfferingsUnknownZone, format!("`{file}` has no zone `{}`", z.zone))
                        .label("not in offerings.json")
                        .help(format!(
                            "run `amiset ec2 offerings` to add the zones of {r} to `{file}`, or check the zone's name"
                        ));
                    out.push(at.value(f, &format!("/regions/{ri}/zones/{zi}/zone")));
                }
            }
            if known.is_empty() {
                continue;
            }
        }
        for (ti, t) in wt.instance_types.iter().enumerate() {
            let t_ptr = format!("/instanceTypes/{ti}/instanceType");
            let it = t.instance_type.as_str();
            if region.zones.is_empty() {
                if o.in_region(r, it) == Some(false) {
                    let f = Finding::new(Code::OfferingsNowhere, format!("`{it}` is not offered in {r}, per `{file}`"))
                        .label("not offered in this region")
                        .help(format!("remove `{it}` from worker type `{}`, or its region {r}", wt.name));
                    out.push(secondary(at.value(f, &t_ptr), &region_ptr, "in this region"));
                }
                continue;
            }
            let missing: Vec<&(usize, &str)> = known.iter().filter(|(_, z)| o.in_zone(z, it) == Some(false)).collect();
            if missing.len() == known.len() {
                let zones: Vec<&str> = known.iter().map(|(_, z)| *z).collect();
                let f = Finding::new(
                    Code::OfferingsNowhere,
                    format!(
                        "`{it}` is offered in none of the zones of worker type `{}` in {r} ({}), per `{file}`",
                        wt.name,
                        zones.join(", ")
                    ),
                )
                .label("offered in none of these zones")
                .help(format!("remove `{it}`, or add a zone of {r} that offers it"));
                out.push(secondary(at.value(f, &t_ptr), &region_ptr, "in this region"));
                continue;
            }
            for (zi, z) in missing {
                let f = Finding::new(
                    Code::OfferingsNotOffered,
                    format!("`{it}` is not offered in {z}, per `{file}`: that launch spec is left out"),
                )
                .label("not offered in this zone")
                .help("nothing to do: the other zones still launch it; refresh the file with `amiset ec2 offerings` when EC2 changes");
                out.push(secondary(
                    at.value(f, &format!("/regions/{ri}/zones/{zi}/zone")),
                    &t_ptr,
                    "this instance type",
                ));
            }
        }
    }
    out
}

/// `offerings::unfiltered`, once: no `offerings.json` (and no live
/// offerings), while some worker type has zones. Located at the first such
/// worker type's first `zones`.
pub(super) fn unfiltered(config: &Config) -> Option<Finding> {
    if config.offerings_present {
        return None;
    }
    let (name, ri) = config
        .worker_types
        .iter()
        .find_map(|(name, wt)| wt.regions.iter().position(|r| !r.zones.is_empty()).map(|ri| (name, ri)))?;
    let path = format!("worker-types/{name}.toml");
    let f = Finding::new(
        Code::OfferingsUnfiltered,
        format!(
            "there is no `{}`: every instance type is launched in every zone, whether EC2 offers it there or not",
            offerings::FILE
        ),
    )
    .label("zones here")
    .help(format!(
        "run `amiset ec2 offerings` and commit `{}`, or check with `--ec2`",
        offerings::FILE
    ));
    Some(match config.worker_doc(name) {
        Some(doc) => f.at(&path, doc.span_of_key(&format!("/regions/{ri}/zones"))),
        None => f.in_file(path),
    })
}
