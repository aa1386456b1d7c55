//! What the raw `ImageId`s of a worker type become: one AMI set entry per
//! region, keyed by architecture and virtualization type so that resolution
//! picks exactly the raw image again (from the instance types, or from what
//! EC2 says about the image), and the ids of the sets that hold them.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::config::is_valid_id;
use crate::config::model::{AmiEntry, Arch, Virt, WorkerType};
use crate::diag::{Code, Finding};
use crate::resolve::{self, TypeCatalog};

/// What EC2 says about an image: its architecture and virtualization type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFact {
    pub arch: Arch,
    pub virt: Virt,
}

/// Where facts about raw image ids come from (EC2, or a recorded inventory).
/// Without facts, the instance types decide.
pub trait ImageFacts {
    /// What is known about `ami` in `region`: `None` when nothing is,
    /// `Err` with the description when no AMI set entry can hold the image
    /// (an architecture or virtualization type amiset does not know).
    fn image(&self, region: &str, ami: &str) -> Option<Result<ImageFact, String>>;
}

/// No facts: architecture and virtualization type come from the instance types.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoImageFacts;

impl ImageFacts for NoImageFacts {
    fn image(&self, _: &str, _: &str) -> Option<Result<ImageFact, String>> {
        None
    }
}

/// Facts keyed by (region, ami).
impl ImageFacts for BTreeMap<(String, String), ImageFact> {
    fn image(&self, region: &str, ami: &str) -> Option<Result<ImageFact, String>> {
        self.get(&(region.to_string(), ami.to_string())).copied().map(Ok)
    }
}

/// What EC2 said (live or from a snapshot). An image EC2 does not know, or
/// could not be asked about, has no facts: `check --ec2` reports it, and its
/// key comes from the instance types, which keeps resolution unchanged.
impl ImageFacts for crate::ec2::Inventory {
    fn image(&self, region: &str, ami: &str) -> Option<Result<ImageFact, String>> {
        use crate::ec2::Status;
        let Status::Found(r) = self.region(region) else { return None };
        let Status::Found(image) = r.image(ami) else { return None };
        let arch = match image.architecture.as_str() {
            "x86_64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Arm64),
            _ => None,
        };
        let virt = match image.virtualization_type.as_str() {
            "hvm" => Some(Virt::Hvm),
            "paravirtual" => Some(Virt::Pv),
            _ => None,
        };
        Some(match (arch, virt) {
            (Some(arch), Some(virt)) => Ok(ImageFact { arch, virt }),
            _ => Err(format!("{}/{}", image.virtualization_type, image.architecture)),
        })
    }
}

/// One AMI set entry per region of a worker type, such that resolution picks
/// exactly the raw `ImageId` for every instance type; or why no entry can.
///
/// An entry holds an image under one (arch, virtualization type). Resolution
/// takes the entry of the instance type's arch, then `hvm` if the type
/// supports HVM and the entry has it, else `pv` if the type supports PV. An
/// entry holding only `hvm` therefore serves exactly the types that support
/// HVM, and one holding only `pv` exactly those that support PV (even those
/// that also support HVM, since the entry has no `hvm`). So: one arch for all
/// types; `hvm` when all support it, else `pv` when all support it, else
/// refuse. When EC2 knows the image, its own arch and virtualization type
/// are used, and every type must support them.
pub(super) fn derive_entries(
    config: &Config,
    wt: &WorkerType,
    catalog: &dyn TypeCatalog,
    images: &dyn ImageFacts,
) -> Result<Vec<AmiEntry>, Vec<Finding>> {
    let path = format!("worker-types/{}.toml", wt.name);
    let doc = config.worker_doc(&wt.name);
    let span = |pointer: &str| doc.map(|d| d.span_of_value(pointer));
    let locate = |f: Finding, pointer: &str| match span(pointer) {
        Some(s) => f.at(&path, s),
        None => f.in_file(&path),
    };
    let types: Vec<(usize, &str, resolve::TypeInfo)> = wt
        .instance_types
        .iter()
        .enumerate()
        .map(|(i, t)| (i, t.instance_type.as_str(), catalog.type_info(&t.instance_type)))
        .collect();
    let mut entries = Vec::new();
    let mut findings = Vec::new();
    for (ri, region) in wt.regions.iter().enumerate() {
        let Some(ami) = region.image_id() else { continue };
        let pointer = format!("/regions/{ri}/launchSpec/ImageId");
        let describe = |info: &resolve::TypeInfo| {
            let virts: Vec<&str> = [(info.hvm, "hvm"), (info.pv, "pv")]
                .iter()
                .filter(|(s, _)| *s)
                .map(|(_, v)| *v)
                .collect();
            format!("{}/{}", virts.join("+"), info.arch.as_str())
        };
        let secondary = |mut f: Finding, bad: &[&(usize, &str, resolve::TypeInfo)]| {
            for (ti, name, info) in bad {
                if let Some(s) = span(&format!("/instanceTypes/{ti}/instanceType")) {
                    f = f.secondary(&path, s, format!("`{name}` runs {}", describe(info)));
                }
            }
            f
        };
        let fact = match images.image(&region.region, ami) {
            Some(Err(described)) => {
                let f = Finding::new(
                    Code::MigrateImageConflict,
                    format!(
                        "worker type `{}` cannot be migrated: EC2 says `{ami}` in {} is {described}, which no AMI set entry can hold",
                        wt.name, region.region
                    ),
                )
                .label("this image")
                .help("AMI sets hold hvm or pv images for x86_64 or arm64; replace the image first");
                findings.push(locate(f, &pointer));
                continue;
            }
            Some(Ok(fact)) => Some(fact),
            None => None,
        };
        let (arch, virt) = if let Some(fact) = fact {
            let supports = |info: &resolve::TypeInfo| match fact.virt {
                Virt::Hvm => info.hvm,
                Virt::Pv => info.pv,
            };
            let bad: Vec<_> = types
                .iter()
                .filter(|(_, _, info)| info.arch != fact.arch || !supports(info))
                .collect();
            if let Some((_, name, info)) = bad.first() {
                let f = Finding::new(
                    Code::MigrateImageConflict,
                    format!(
                        "worker type `{}` cannot be migrated: EC2 says `{ami}` in {} is {}/{}, but instance type `{name}` runs {}",
                        wt.name,
                        region.region,
                        fact.virt.as_str(),
                        fact.arch.as_str(),
                        describe(info)
                    ),
                )
                .label("this image")
                .help("an AMI set cannot launch an image on instance types that cannot run it; fix the instance types or the image first");
                findings.push(secondary(locate(f, &pointer), &bad));
                continue;
            }
            (fact.arch, fact.virt)
        } else {
            let archs: BTreeSet<Arch> = types.iter().map(|(_, _, i)| i.arch).collect();
            if archs.len() > 1 {
                let listed: Vec<String> = types.iter().map(|(_, n, i)| format!("`{n}` ({})", i.arch.as_str())).collect();
                let f = Finding::new(
                    Code::MigrateArchitectureConflict,
                    format!(
                        "worker type `{}` cannot be migrated: instance types of different architectures share `{ami}` in {}: {}",
                        wt.name,
                        region.region,
                        listed.join(", ")
                    ),
                )
                .label("one image for both architectures")
                .help("an AMI has one architecture and a set entry one arch; give the other architecture's instance types their own worker type");
                let all: Vec<_> = types.iter().collect();
                findings.push(secondary(locate(f, &pointer), &all));
                continue;
            }
            let arch = archs.into_iter().next().unwrap_or_default();
            if types.iter().all(|(_, _, i)| i.hvm) {
                (arch, Virt::Hvm)
            } else if types.iter().all(|(_, _, i)| i.pv) {
                (arch, Virt::Pv)
            } else {
                let hvm_only: Vec<_> = types.iter().filter(|(_, _, i)| !i.pv).collect();
                let pv_only: Vec<_> = types.iter().filter(|(_, _, i)| !i.hvm).collect();
                let names =
                    |v: &[&(usize, &str, resolve::TypeInfo)]| v.iter().map(|(_, n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                let f = Finding::new(
                    Code::MigrateVirtualizationConflict,
                    format!(
                        "worker type `{}` cannot be migrated: `{ami}` in {} is launched on {} (hvm only) and on {} (pv only)",
                        wt.name,
                        region.region,
                        names(&hvm_only),
                        names(&pv_only)
                    ),
                )
                .label("no single virtualization type fits")
                .help("a set entry serves an image as either hvm or pv; split the worker type by virtualization type first");
                let mut bad = hvm_only.clone();
                bad.extend(pv_only.iter().copied());
                findings.push(secondary(locate(f, &pointer), &bad));
                continue;
            }
        };
        entries.push(AmiEntry {
            region: region.region.clone(),
            arch,
            hvm: (virt == Virt::Hvm).then(|| ami.to_string()),
            pv: (virt == Virt::Pv).then(|| ami.to_string()),
        });
    }
    if findings.is_empty() { Ok(entries) } else { Err(findings) }
}

/// The set id for worker types sharing it: the name of a single one, else the
/// longest common run of `-`/`_`-separated segments of their (sorted) names,
/// else the first name.
pub(super) fn base_id(workers: &[String]) -> String {
    let first = workers.first().cloned().unwrap_or_default();
    if workers.len() < 2 {
        return first;
    }
    let mut len = first.len();
    for other in &workers[1..] {
        len = len.min(first.bytes().zip(other.bytes()).take_while(|(a, b)| a == b).count());
    }
    // Cut back to a segment boundary: the next char of every name is a separator or the end.
    let at_boundary = |n: usize| workers.iter().all(|w| matches!(w.as_bytes().get(n), None | Some(b'-' | b'_')));
    while len > 0 && !at_boundary(len) {
        len -= 1;
    }
    let prefix = first[..len].trim_end_matches(['-', '_']);
    if is_valid_id(prefix) { prefix.to_string() } else { first }
}

/// `base`, or `base-2`, `base-3`, ... (shortened to stay a valid id), whichever
/// is not taken in any case variant.
pub(super) fn unique_id(base: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(&base.to_ascii_lowercase()) {
        return base.to_string();
    }
    (2usize..)
        .map(|n| {
            let suffix = format!("-{n}");
            let stem = &base[..base.len().min(38 - suffix.len())];
            format!("{}{suffix}", stem.trim_end_matches(['-', '_']))
        })
        .find(|id| !taken.contains(&id.to_ascii_lowercase()))
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shared_set_id_is_the_common_segments() {
        assert_eq!(base_id(&names(&["gecko-t-linux-large", "gecko-t-linux-legacy"])), "gecko-t-linux");
        assert_eq!(base_id(&names(&["gecko-b", "gecko-b-arm"])), "gecko-b");
        assert_eq!(base_id(&names(&["abc", "abd"])), "abc");
        assert_eq!(base_id(&names(&["solo"])), "solo");
    }

    #[test]
    fn unique_id_avoids_case_variants_and_stays_valid() {
        let taken: BTreeSet<String> = ["linux", "linux-2"].into_iter().map(String::from).collect();
        assert_eq!(unique_id("Linux", &taken), "Linux-3");
        let long = "a".repeat(38);
        let taken: BTreeSet<String> = [long.clone()].into_iter().collect();
        let id = unique_id(&long, &taken);
        assert!(is_valid_id(&id), "{id}");
        assert_eq!(id, format!("{}-2", "a".repeat(36)));
    }
}
