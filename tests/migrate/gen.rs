//! Generated config repositories for the migration property: worker types
//! with raw `ImageId`s written in every TOML form, or with an AMI set; shared
//! and distinct images; instance types of both architectures and of every
//! virtualization support (some overridden as EC2 would); existing sets
//! whose ids collide with derived ones; and, sometimes, EC2's word on images.

use std::collections::BTreeMap;

use amiset::config::{Arch, Content, InputFile, Inputs, Virt};
use amiset::migrate::ImageFact;
use amiset::resolve::{self, TypeInfo};
use proptest::prelude::*;

const NAMES: [&str; 6] = ["linux", "linux-large", "linux-small", "b", "B-arm", "win_2022"];
const TYPES: [&str; 9] = [
    "m5.large",
    "c5.xlarge",
    "t3.micro",
    "m3.medium",
    "m1.small",
    "t1.micro",
    "m6g.large",
    "c7g.xlarge",
    "zz9.large",
];
/// x86_64 HVM-only types that no override touches.
const PLAIN: [&str; 3] = ["m5.large", "c5.xlarge", "t3.micro"];
/// Old x86_64 families whose capabilities the catalog may override.
const OLD: [&str; 3] = ["m3.medium", "m1.small", "t1.micro"];
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-central-1"];
/// Existing set ids, some of which collide (in some case) with derived ids.
const TAKEN: [&str; 4] = ["Linux", "linux-2", "B", "other"];

pub fn ami(i: usize) -> String {
    format!("ami-{:017x}", 0xabc0 + i)
}

#[derive(Clone, Debug)]
pub struct GenRegion {
    pub region: &'static str,
    pub ami: usize,
    /// How the launchSpec is written (0..=5).
    pub style: u8,
}

#[derive(Clone, Debug)]
pub struct GenWorker {
    pub name: &'static str,
    pub types: Vec<&'static str>,
    pub regions: Vec<GenRegion>,
    pub uses_set: bool,
    pub top_spec: bool,
    pub type_spec: bool,
    pub header: bool,
}

impl GenWorker {
    /// Whether it carries raw `ImageId`s.
    pub fn raw(&self) -> bool {
        !self.uses_set
    }

    /// Whether every instance type is a plain x86_64 HVM type.
    pub fn plain(&self) -> bool {
        self.types.iter().all(|t| PLAIN.contains(t))
    }

    fn text(&self) -> String {
        let mut s = String::new();
        if self.header {
            s.push_str("# generated worker type\ndescription = \"gen\"  # note\n");
        }
        if self.uses_set {
            s.push_str("amiSetId = \"base\"\n");
        }
        s.push_str("maxCapacity = 3\n");
        if self.top_spec {
            s.push_str("\n[launchSpec]\n# everywhere\nSecurityGroupIds = [\"sg-0abc\"]\n");
        }
        for t in &self.types {
            s.push_str(&format!("\n[[instanceTypes]]\ninstanceType = \"{t}\"\n"));
            if self.type_spec {
                s.push_str("launchSpec = { EbsOptimized = true }\n");
            }
        }
        for r in &self.regions {
            s.push_str(&format!("\n# region {}\n[[regions]]\nregion = \"{}\"\n", r.region, r.region));
            let id = ami(r.ami);
            if self.uses_set {
                if r.style % 2 == 1 {
                    s.push_str("launchSpec = { SubnetId = \"subnet-1\" }\n");
                }
                continue;
            }
            s.push_str(&match r.style {
                0 => format!("launchSpec = {{ ImageId = \"{id}\" }}\n"),
                1 => format!("launchSpec = {{ SubnetId = \"subnet-1\", ImageId = \"{id}\" }}\n"),
                2 => format!("launchSpec = {{ ImageId = \"{id}\", KeyName = \"k\" }}   # trailing\n"),
                3 => format!("\n[regions.launchSpec]\n# the image\nImageId = \"{id}\"\nSubnetId = \"subnet-2\"\n"),
                4 => format!("launchSpec.ImageId = \"{id}\"\n"),
                _ => format!("\n[regions.launchSpec]\nImageId = \"{id}\"\n"),
            });
        }
        s
    }
}

#[derive(Clone, Debug)]
pub struct GenConfig {
    pub workers: Vec<GenWorker>,
    pub taken: Vec<&'static str>,
    /// Catalog overrides of old families: (type, hvm, pv).
    pub overrides: Vec<(&'static str, bool, bool)>,
    /// EC2's word on (region, ami index).
    pub facts: Vec<(&'static str, usize, Arch, Virt)>,
    pub legacy: Option<&'static str>,
}

impl GenConfig {
    pub fn has_facts(&self) -> bool {
        !self.facts.is_empty()
    }

    pub fn catalog(&self) -> BTreeMap<String, TypeInfo> {
        self.overrides
            .iter()
            .map(|(t, hvm, pv)| {
                let arch = resolve::builtin_type_info(t).arch;
                (
                    t.to_string(),
                    TypeInfo {
                        arch,
                        hvm: *hvm,
                        pv: *pv,
                        known: true,
                    },
                )
            })
            .collect()
    }

    pub fn images(&self) -> BTreeMap<(String, String), ImageFact> {
        self.facts
            .iter()
            .map(|(r, a, arch, virt)| ((r.to_string(), ami(*a)), ImageFact { arch: *arch, virt: *virt }))
            .collect()
    }

    pub fn inputs(&self) -> Inputs {
        let mut files = Vec::new();
        let mut add = |path: String, text: String| {
            files.push(InputFile {
                path,
                content: Content::Bytes(text.into_bytes()),
            })
        };
        if let Some(mode) = self.legacy {
            add("amiset.toml".into(), format!("legacyImageIds = \"{mode}\"\n"));
        }
        let mut set = String::from("description = \"base\"\n");
        for r in REGIONS {
            set.push_str(&format!(
                "\n[[amis]]\nregion = \"{r}\"\nhvm = \"{}\"\npv = \"{}\"\n",
                ami(10),
                ami(11)
            ));
            set.push_str(&format!("\n[[amis]]\nregion = \"{r}\"\narch = \"arm64\"\nhvm = \"{}\"\n", ami(12)));
        }
        add("ami-sets/base.toml".into(), set.clone());
        for id in &self.taken {
            add(format!("ami-sets/{id}.toml"), set.clone());
        }
        for w in &self.workers {
            add(format!("worker-types/{}.toml", w.name), w.text());
        }
        Inputs { files }
    }
}

fn region() -> impl Strategy<Value = Vec<GenRegion>> {
    proptest::sample::subsequence(REGIONS.to_vec(), 1..=3).prop_flat_map(|regions| {
        let n = regions.len();
        (Just(regions), proptest::collection::vec((0usize..3, 0u8..6), n)).prop_map(|(regions, picks)| {
            regions
                .into_iter()
                .zip(picks)
                .map(|(region, (ami, style))| GenRegion { region, ami, style })
                .collect()
        })
    })
}

fn worker(name: &'static str) -> impl Strategy<Value = GenWorker> {
    // Mostly one architecture, like real worker types; sometimes both.
    let types = prop_oneof![
        3 => proptest::sample::subsequence(TYPES[..6].to_vec(), 1..=3),
        1 => proptest::sample::subsequence(TYPES[6..8].to_vec(), 1..=2),
        1 => proptest::sample::subsequence(TYPES.to_vec(), 1..=3),
    ];
    (
        types,
        region(),
        prop::bool::weighted(0.25),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(types, regions, uses_set, top_spec, type_spec, header)| GenWorker {
            name,
            types,
            regions,
            uses_set,
            top_spec,
            type_spec,
            header,
        })
}

pub fn config() -> impl Strategy<Value = GenConfig> {
    let workers =
        proptest::sample::subsequence(NAMES.to_vec(), 1..=4).prop_flat_map(|names| names.into_iter().map(worker).collect::<Vec<_>>());
    let overrides = proptest::collection::vec(
        (
            proptest::sample::select(OLD.to_vec()),
            prop_oneof![Just((true, false)), Just((false, true)), Just((true, true))],
        ),
        0..3,
    )
    .prop_map(|v| v.into_iter().map(|(t, (h, p))| (t, h, p)).collect::<Vec<_>>());
    let facts = prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::collection::vec(
            (
                proptest::sample::select(REGIONS.to_vec()),
                0usize..3,
                prop_oneof![Just(Arch::X86_64), Just(Arch::Arm64)],
                prop_oneof![Just(Virt::Hvm), Just(Virt::Pv)],
            ),
            1..4,
        ),
    ];
    let legacy = prop_oneof![Just(None), Just(Some("warn")), Just(Some("deny")), Just(Some("allow"))];
    (
        workers,
        proptest::sample::subsequence(TAKEN.to_vec(), 0..=4),
        overrides,
        facts,
        legacy,
    )
        .prop_map(|(workers, taken, overrides, facts, legacy)| GenConfig {
            workers,
            taken,
            overrides,
            facts,
            legacy,
        })
}
