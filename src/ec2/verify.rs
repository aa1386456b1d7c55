//! The comparison of a config against an [`Inventory`] (DESIGN §5): every
//! AMI of a set or legacy `ImageId` exists, is available, has the
//! virtualization type and architecture of its key, an allowed owner and no
//! deprecation; every instance type is offered in its regions and can run
//! the AMI it resolves to. Pure: the clock comes in as `now`.

use std::collections::BTreeMap;

use super::inventory::{Image, InstanceTypeInfo, Inventory, RegionInventory, Status, parse_rfc3339};
use crate::config::{Arch, Config, Policy, Virt};
use crate::diag::{Code, Finding};
use crate::regions;
use crate::resolve::{self, TypeInfo};

const DAY: i64 = 86_400;

/// What a reference to an AMI promises: the key it sits under in a set
/// (`None` for a legacy `ImageId`, which promises nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    pub virt: Option<Virt>,
    pub arch: Option<Arch>,
}

/// The result of verification: findings, and instance type capabilities from
/// EC2 that override the built-in table when resolving.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub findings: Vec<Finding>,
    pub catalog: BTreeMap<String, TypeInfo>,
}

fn virt_of(ec2: &str) -> Option<Virt> {
    match ec2 {
        "hvm" => Some(Virt::Hvm),
        "paravirtual" => Some(Virt::Pv),
        _ => None,
    }
}

fn unverified(what: &str, reason: &str) -> Finding {
    Finding::new(Code::Unverified, format!("could not verify {what}: {reason}"))
        .label("unverified")
        .help("nothing unverified passes: check credentials, network and `--ec2-endpoint`, then run again")
}

/// Problems with one AMI, without a location. `now` is seconds since the epoch.
pub fn image_findings(ami: &str, region: &str, status: Status<&Image>, expect: Expect, policy: &Policy, now: i64) -> Vec<Finding> {
    let img = match status {
        Status::Found(img) => img,
        Status::Missing => {
            return vec![
                Finding::new(Code::AmiNotFound, format!("`{ami}` does not exist in {region}"))
                    .label("no such AMI")
                    .help(format!(
                        "AMIs are regional: copy the AMI to {region} (or fix the id); a deregistered AMI is gone for good"
                    )),
            ];
        }
        Status::Unverified(reason) => return vec![unverified(&format!("`{ami}` in {region}"), &reason)],
    };
    let mut out = Vec::new();
    if img.state != "available" {
        out.push(
            Finding::new(
                Code::AmiNotAvailable,
                format!("`{ami}` in {region} is `{}`, not `available`", img.state),
            )
            .label(format!("state `{}`", img.state))
            .help("wait until the AMI is available, or use another one"),
        );
    }
    if let Some(want) = expect.virt
        && virt_of(&img.virtualization_type) != Some(want)
    {
        out.push(
            Finding::new(
                Code::VirtualizationMismatch,
                format!(
                    "`{ami}` in {region} is `{}`, but it is listed as `{}`",
                    img.virtualization_type,
                    want.as_str()
                ),
            )
            .label(format!("a `{}` AMI", img.virtualization_type))
            .help(match virt_of(&img.virtualization_type) {
                Some(v) => format!("move it to `{}`", v.as_str()),
                None => "use an hvm or paravirtual AMI".to_string(),
            }),
        );
    }
    if let Some(want) = expect.arch
        && img.architecture != want.as_str()
    {
        out.push(
            Finding::new(
                Code::ArchitectureMismatch,
                format!(
                    "`{ami}` in {region} is `{}`, but its entry has arch `{}`",
                    img.architecture,
                    want.as_str()
                ),
            )
            .label(format!("an `{}` AMI", img.architecture))
            .help(format!(
                "put it in an entry with `arch = \"{}\"`, or use an `{}` AMI here",
                img.architecture,
                want.as_str()
            )),
        );
    }
    if let Some(owners) = &policy.ami_owners
        && !owners.contains(&img.owner_id)
    {
        out.push(
            Finding::new(
                Code::OwnerNotAllowed,
                format!(
                    "`{ami}` in {region} is owned by account `{}`, which `amiOwners` does not allow",
                    img.owner_id
                ),
            )
            .label("owner not allowed")
            .help(format!(
                "allowed owners: {}; an AMI from another account may be an impostor with a familiar name",
                owners.join(", ")
            )),
        );
    }
    if let Some(when) = &img.deprecation_time {
        match parse_rfc3339(when) {
            None => out.push(unverified(
                &format!("the deprecation of `{ami}` in {region}"),
                &format!("EC2 returned the unreadable DeprecationTime `{when}`"),
            )),
            Some(t) if t <= now => out.push(
                Finding::new(Code::AmiDeprecated, format!("`{ami}` in {region} is deprecated since {when}"))
                    .label("deprecated")
                    .help("replace it with a current AMI"),
            ),
            Some(t) if t - now <= i64::from(policy.deprecation_warning_days) * DAY => out.push(
                Finding::new(
                    Code::AmiDeprecationSoon,
                    format!(
                        "`{ami}` in {region} will be deprecated on {when} (in {} days)",
                        (t - now).div_euclid(DAY)
                    ),
                )
                .label("deprecated soon")
                .help(format!(
                    "replace it before then (`deprecationWarningDays` is {})",
                    policy.deprecation_warning_days
                )),
            ),
            Some(_) => {}
        }
    }
    out
}

/// Instance type capabilities as [`TypeInfo`]; `None` when the instance
/// type runs neither x86_64 nor arm64.
pub fn type_info(info: &InstanceTypeInfo) -> Option<TypeInfo> {
    let has = |a: &str| info.architectures.iter().any(|x| x == a);
    let arch = if has("x86_64") {
        Arch::X86_64
    } else if has("arm64") {
        Arch::Arm64
    } else {
        return None;
    };
    let virt = |v: &str| info.virtualization_types.iter().any(|x| x == v);
    Some(TypeInfo {
        arch,
        hvm: virt("hvm"),
        pv: virt("paravirtual"),
        known: true,
    })
}

/// EC2's capabilities for every instance type any region described.
pub fn catalog(inventory: &Inventory) -> BTreeMap<String, TypeInfo> {
    let mut out = BTreeMap::new();
    for r in inventory.regions.values() {
        for (name, info) in &r.instance_types {
            if let Some(t) = type_info(info) {
                out.entry(name.clone()).or_insert(t);
            }
        }
    }
    out
}

/// Whether an instance type described as `info` can run `img`; the reason when not.
fn cannot_run(info: &InstanceTypeInfo, img: &Image) -> Option<String> {
    let arch_ok = info.architectures.contains(&img.architecture);
    let virt_ok = info.virtualization_types.contains(&img.virtualization_type);
    (!arch_ok || !virt_ok).then(|| {
        format!(
            "the AMI is {}/{}, the instance type runs {} on {}",
            img.virtualization_type,
            img.architecture,
            info.virtualization_types.join(" or "),
            info.architectures.join(" or ")
        )
    })
}

/// Compares `config` against what EC2 said. Findings point at the AMI value
/// in the set file or worker type, or at the instance type.
pub fn verify(config: &Config, inventory: &Inventory, now: i64) -> Verification {
    let policy = &config.policy;
    let mut findings = Vec::new();
    let empty = RegionInventory::default();
    let region_of = |name: &str| -> (&RegionInventory, Option<String>) {
        match inventory.region(name) {
            Status::Found(r) => (r, None),
            Status::Missing => (&empty, None),
            Status::Unverified(reason) => (&empty, Some(reason)),
        }
    };
    let image = |region: &str, ami: &str| -> Status<&Image> {
        match region_of(region) {
            (_, Some(reason)) => Status::Unverified(reason),
            (r, None) => r.image(ami),
        }
    };
    let mut any_ami = false;

    for (id, set) in &config.ami_sets {
        let path = format!("ami-sets/{id}.toml");
        let doc = config.set_doc(id);
        for (i, e) in set.amis.iter().enumerate() {
            if !regions::is_known(&e.region) {
                continue;
            }
            for virt in [Virt::Hvm, Virt::Pv] {
                let Some(ami) = e.ami(virt) else { continue };
                any_ami = true;
                let expect = Expect {
                    virt: Some(virt),
                    arch: Some(e.arch),
                };
                let span = doc.map(|d| d.span_of_value(&format!("/amis/{i}/{}", virt.as_str())));
                for f in image_findings(ami, &e.region, image(&e.region, ami), expect, policy, now) {
                    findings.push(match &span {
                        Some(s) => f.at(&path, s.clone()),
                        None => f.in_file(&path),
                    });
                }
            }
        }
    }

    let catalog = catalog(inventory);
    for (name, wt) in &config.worker_types {
        let path = format!("worker-types/{name}.toml");
        let doc = config.worker_doc(name);
        let at = |f: Finding, pointer: &str| match doc {
            Some(d) => f.at(&path, d.span_of_value(pointer)),
            None => f.in_file(&path),
        };
        for (ri, region) in wt.regions.iter().enumerate() {
            if !regions::is_known(&region.region) {
                continue;
            }
            if let (Some(ami), None) = (region.image_id(), &wt.ami_set_id) {
                any_ami = true;
                for f in image_findings(ami, &region.region, image(&region.region, ami), Expect::default(), policy, now) {
                    findings.push(at(f, &format!("/regions/{ri}/launchSpec/ImageId")));
                }
            }
        }
        let set = wt.ami_set_id.as_ref().and_then(|id| config.ami_sets.get(id));
        let resolved = resolve::resolve_worker_type(wt, set, &catalog);
        let n = wt.instance_types.len();
        for (k, res) in resolved.iter().enumerate() {
            let (ri, ti) = (k / n.max(1), k % n.max(1));
            let (Some(region), Some(itype)) = (wt.regions.get(ri), wt.instance_types.get(ti)) else {
                continue;
            };
            if !regions::is_known(&region.region) {
                continue;
            }
            let t = itype.instance_type.as_str();
            let r = region.region.as_str();
            let pointer = format!("/instanceTypes/{ti}/instanceType");
            let (inv, region_unverified) = region_of(r);
            let offering = match region_unverified {
                Some(reason) => Status::Unverified(reason),
                None => inv.offering(t),
            };
            match offering {
                Status::Unverified(reason) => {
                    findings.push(at(unverified(&format!("that `{t}` is offered in {r}"), &reason), &pointer));
                    continue;
                }
                Status::Missing => {
                    let f = Finding::new(Code::InstanceTypeNotOffered, format!("`{t}` is not offered in {r}"))
                        .label(format!("not offered in {r}"))
                        .help(format!(
                            "remove {r} from this worker type, or use an instance type EC2 offers there"
                        ));
                    findings.push(at(f, &pointer));
                    continue;
                }
                Status::Found(()) => {}
            }
            let info = match inv.instance_type(t) {
                Status::Found(info) => info,
                Status::Missing => {
                    let reason = "DescribeInstanceTypes does not describe it, although it is offered";
                    findings.push(at(unverified(&format!("what `{t}` can run in {r}"), reason), &pointer));
                    continue;
                }
                Status::Unverified(reason) => {
                    findings.push(at(unverified(&format!("what `{t}` can run in {r}"), &reason), &pointer));
                    continue;
                }
            };
            // An unresolved launch spec is `check`'s finding; an AMI that is
            // missing, unverified or mismatching its key already has its own.
            let Ok(res) = res else { continue };
            let Some(ami) = res.launch_spec.get("ImageId").and_then(|v| v.as_str()) else {
                continue;
            };
            let Status::Found(img) = image(r, ami) else { continue };
            if let Some(v) = res.virt
                && (virt_of(&img.virtualization_type) != Some(v) || img.architecture != res.arch.as_str())
            {
                continue;
            }
            if let Some(reason) = cannot_run(info, img) {
                let f = Finding::new(Code::InstanceTypeUnsupported, format!("`{t}` cannot run `{ami}` in {r}: {reason}"))
                    .label("cannot run its AMI")
                    .help("use an instance type that supports the AMI, or an AMI built for this instance type");
                findings.push(at(f, &pointer));
            }
        }
    }

    if any_ami && policy.ami_owners.is_none() {
        let f = Finding::new(Code::OwnersUnrestricted, "`amiOwners` is not set: AMIs from any account pass")
            .help("set `amiOwners = [\"<account id>\"]` in `amiset.toml` so that look-alike AMIs from other accounts are errors");
        findings.push(match &config.policy_doc {
            Some(_) => f.in_file("amiset.toml"),
            None => f,
        });
    }
    Verification { findings, catalog }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Content, InputFile, Inputs, Limits};
    use crate::ec2::inventory::{Call, parse_rfc3339};

    fn config(policy: &str) -> Config {
        let files = [
            ("amiset.toml", policy),
            (
                "ami-sets/s.toml",
                "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-11111111\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-22222222\"\n",
            ),
            (
                "worker-types/w.toml",
                "amiSetId = \"s\"\nmaxCapacity = 1\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[regions]]\nregion = \"us-east-1\"\n\n[[regions]]\nregion = \"us-west-2\"\n",
            ),
        ];
        let inputs = Inputs {
            files: files
                .iter()
                .map(|(p, t)| InputFile {
                    path: (*p).into(),
                    content: Content::Bytes(t.as_bytes().to_vec()),
                })
                .collect(),
        };
        let (config, report) = crate::config::load(&inputs, &Limits::default());
        assert_eq!(report.errors(), 0, "{:?}", report.findings);
        config
    }

    fn image(deprecation: Option<&str>) -> Image {
        Image {
            owner_id: "111111111111".into(),
            state: "available".into(),
            virtualization_type: "hvm".into(),
            architecture: "x86_64".into(),
            deprecation_time: deprecation.map(Into::into),
            name: None,
        }
    }

    fn region(ami: &str, img: Image) -> RegionInventory {
        let mut r = RegionInventory::default();
        r.images_asked.insert(ami.into());
        r.images.insert(ami.into(), img);
        r.instance_types_asked.insert("m5.large".into());
        r.offered.insert("m5.large".into());
        r.instance_types.insert(
            "m5.large".into(),
            InstanceTypeInfo {
                architectures: vec!["x86_64".into()],
                virtualization_types: vec!["hvm".into()],
            },
        );
        r
    }

    fn codes(v: &Verification) -> Vec<&'static str> {
        let mut c: Vec<_> = v.findings.iter().map(|f| f.code.as_str()).collect();
        c.sort();
        c
    }

    #[test]
    fn a_region_nobody_answered_is_unverified_and_the_other_is_verified() {
        let config = config("amiOwners = [\"111111111111\"]\n");
        let mut inv = Inventory::default();
        inv.regions.insert("us-east-1".into(), region("ami-11111111", image(None)));
        let v = verify(&config, &inv, 0);
        // us-west-2: its AMI and its instance type.
        assert_eq!(codes(&v), vec!["ec2::unverified", "ec2::unverified"]);
        assert!(v.findings.iter().all(|f| f.message.contains("us-west-2")));
        assert_eq!(v.catalog["m5.large"].arch, Arch::X86_64);
    }

    #[test]
    fn a_failed_call_makes_exactly_its_ids_unverified() {
        let config = config("amiOwners = [\"111111111111\"]\n");
        let mut inv = Inventory::default();
        inv.regions.insert("us-east-1".into(), region("ami-11111111", image(None)));
        let mut west = region("ami-22222222", image(None));
        west.fail(Call::DescribeInstanceTypeOfferings, ["m5.large".to_string()], "throttled");
        inv.regions.insert("us-west-2".into(), west);
        let v = verify(&config, &inv, 0);
        assert_eq!(codes(&v), vec!["ec2::unverified"]);
        assert!(v.findings[0].message.contains("DescribeInstanceTypeOfferings failed: throttled"));
        assert_eq!(v.findings[0].file.as_deref(), Some("worker-types/w.toml"));
    }

    #[test]
    fn deprecation_is_an_error_from_its_time_and_a_warning_within_the_window() {
        let config = config("amiOwners = [\"111111111111\"]\ndeprecationWarningDays = 10\n");
        let now = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        let run = |east: &str| {
            let mut inv = Inventory::default();
            inv.regions.insert("us-east-1".into(), region("ami-11111111", image(Some(east))));
            inv.regions.insert("us-west-2".into(), region("ami-22222222", image(None)));
            codes(&verify(&config, &inv, now))
        };
        assert_eq!(run("2026-06-01T00:00:00Z"), vec!["ec2::ami-deprecated"]);
        assert_eq!(run("2026-05-01T00:00:00.000Z"), vec!["ec2::ami-deprecated"]);
        assert_eq!(run("2026-06-11T00:00:00Z"), vec!["ec2::ami-deprecation-soon"]);
        assert_eq!(run("2026-06-11T00:00:01Z"), Vec::<&str>::new());
        assert_eq!(run("soon"), vec!["ec2::unverified"]);
    }

    #[test]
    fn unrestricted_owners_warn_once_and_foreign_owners_are_errors() {
        let mut inv = Inventory::default();
        inv.regions.insert("us-east-1".into(), region("ami-11111111", image(None)));
        inv.regions.insert("us-west-2".into(), region("ami-22222222", image(None)));
        let v = verify(&config("regions = [\"us-east-1\", \"us-west-2\"]\n"), &inv, 0);
        assert_eq!(codes(&v), vec!["ec2::owners-unrestricted"]);
        assert_eq!(v.findings[0].file.as_deref(), Some("amiset.toml"));
        let v = verify(&config("amiOwners = [\"222222222222\"]\n"), &inv, 0);
        assert_eq!(codes(&v), vec!["ec2::owner-not-allowed", "ec2::owner-not-allowed"]);
    }

    #[test]
    fn resolution_follows_what_ec2_says_an_instance_type_runs() {
        let config = config("amiOwners = [\"111111111111\"]\n");
        let arm = InstanceTypeInfo {
            architectures: vec!["arm64".into()],
            virtualization_types: vec!["hvm".into()],
        };
        let mut inv = Inventory::default();
        for (r, ami) in [("us-east-1", "ami-11111111"), ("us-west-2", "ami-22222222")] {
            let mut region = region(ami, image(None));
            region.instance_types.insert("m5.large".into(), arm.clone());
            inv.regions.insert(r.into(), region);
        }
        let v = verify(&config, &inv, 0);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert!(crate::check::check(&config, &crate::resolve::Builtin).is_empty());
        // The set has x86_64 AMIs only; with EC2's word that m5.large is arm64, nothing fits.
        let codes: Vec<_> = crate::check::check(&config, &v.catalog).iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, vec!["resolve::no-usable-ami", "resolve::no-usable-ami"]);
    }

    #[test]
    fn ec2_capabilities_override_the_builtin_table() {
        let info = InstanceTypeInfo {
            architectures: vec!["arm64".into()],
            virtualization_types: vec!["hvm".into()],
        };
        assert_eq!(type_info(&info).map(|t| t.arch), Some(Arch::Arm64));
        let both = InstanceTypeInfo {
            architectures: vec!["i386".into(), "x86_64".into()],
            virtualization_types: vec!["hvm".into(), "paravirtual".into()],
        };
        assert_eq!(
            type_info(&both),
            Some(TypeInfo {
                arch: Arch::X86_64,
                hvm: true,
                pv: true,
                known: true
            })
        );
        let mac = InstanceTypeInfo {
            architectures: vec!["x86_64_mac".into()],
            virtualization_types: vec!["hvm".into()],
        };
        assert_eq!(type_info(&mac), None);
    }
}
