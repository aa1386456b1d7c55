//! A generated config repository of any size, for the kill test and the
//! benchmarks: `sets` AMI sets over `regions` regions (x86_64 and arm64 HVM),
//! and `workers` worker types, each with four instance types in every region.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// Regions the corpus spreads over, in order.
pub const REGIONS: [&str; 12] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// Instance types of every generated worker type: two x86_64, one Graviton, one more x86_64.
pub const INSTANCE_TYPES: [&str; 4] = ["m5.large", "c5.xlarge", "m6g.large", "r5.2xlarge"];

/// A deterministic 17-hex-digit AMI id.
pub fn ami(n: u64) -> String {
    format!("ami-{:017x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0x0fff_ffff_ffff_ffff)
}

/// Writes the corpus into `dir`; `variant` changes every AMI id so that two
/// variants compile to different artifacts.
pub fn write(dir: &Path, sets: usize, workers: usize, regions: usize, variant: u64) {
    write_zoned(dir, sets, workers, regions, variant, 0);
}

/// [`write`] with `zones` availability zones (`<region>a`, `<region>b`, ...)
/// in every region of every worker type, each with its own subnet.
pub fn write_zoned(dir: &Path, sets: usize, workers: usize, regions: usize, variant: u64, zones: usize) {
    let regions = &REGIONS[..regions.min(REGIONS.len())];
    std::fs::create_dir_all(dir.join("ami-sets")).unwrap();
    std::fs::create_dir_all(dir.join("worker-types")).unwrap();
    std::fs::write(dir.join("amiset.toml"), "legacyImageIds = \"deny\"\n").unwrap();
    std::fs::write(dir.join("SCOPES"), "aws-provisioner:*  @admins\n").unwrap();
    for s in 0..sets {
        let mut text = format!("description = \"generated set {s}\"\n");
        for (r, region) in regions.iter().enumerate() {
            for (a, arch) in ["x86_64", "arm64"].iter().enumerate() {
                let n = variant * 1_000_000_007 + (s * 1000 + r * 2 + a) as u64;
                write!(text, "\n[[amis]]\nregion = \"{region}\"\narch = \"{arch}\"\nhvm = \"{}\"\n", ami(n)).unwrap();
            }
        }
        std::fs::write(dir.join(format!("ami-sets/set-{s}.toml")), text).unwrap();
    }
    for w in 0..workers {
        let mut text = format!(
            "description = \"generated worker type {w}\"\nowner = \"team-{}@example.com\"\namiSetId = \"set-{}\"\n\
             minCapacity = 0\nmaxCapacity = {}\nmaxPrice = 0.{:02}\ncanUseSpot = true\nscopes = [\"queue:worker-id:w{w}/*\"]\n\n\
             [launchSpec]\nSecurityGroupIds = [\"sg-{:08x}\"]\nKeyName = \"generated\"\n\n[userData]\ncapacity = 1\n",
            w % 7,
            w % sets.max(1),
            10 + w % 90,
            10 + w % 89,
            w
        );
        for (i, itype) in INSTANCE_TYPES.iter().enumerate() {
            write!(
                text,
                "\n[[instanceTypes]]\ninstanceType = \"{itype}\"\ncapacity = {}\nutility = 1.{i}\n",
                i + 1
            )
            .unwrap();
            if i == 1 {
                text.push_str("launchSpec = { EbsOptimized = true }\n");
            }
        }
        for (r, region) in regions.iter().enumerate() {
            write!(text, "\n[[regions]]\nregion = \"{region}\"\n").unwrap();
            // A subnet lies in one zone: with zones, each zone has its own
            // subnet in place of the region's.
            if zones == 0 {
                writeln!(text, "launchSpec = {{ SubnetId = \"subnet-{:08x}\" }}", w * 16 + r).unwrap();
            } else {
                let list: Vec<String> = (0..zones)
                    .map(|z| {
                        let letter = char::from(b'a' + z as u8);
                        format!(
                            "{{ zone = \"{region}{letter}\", launchSpec = {{ SubnetId = \"subnet-{:08x}\" }} }}",
                            (w * 16 + r) * 8 + z
                        )
                    })
                    .collect();
                writeln!(text, "zones = [{}]", list.join(", ")).unwrap();
            }
        }
        std::fs::write(dir.join(format!("worker-types/worker-{w}.toml")), text).unwrap();
    }
}
