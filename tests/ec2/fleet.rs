//! Config repositories for the EC2 tests and benchmark, written into temp dirs.

#![allow(dead_code)]

use std::path::Path;

use super::moto::{self, Template};

/// Twenty regions that moto serves and where moto offers `m5.large`.
pub const REGIONS20: [&str; 20] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
    "me-south-1",
    "af-south-1",
];

/// A config repository in a temp dir.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new(policy: &str) -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["ami-sets", "worker-types"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        let repo = Repo { dir };
        repo.write("amiset.toml", policy);
        repo
    }

    pub fn write(&self, path: &str, text: &str) {
        std::fs::write(self.dir.path().join(path), text).expect("write config file");
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(path)).expect("read config file")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// 1-based (line, column) of the first `"value"` in `file`.
    pub fn position(&self, file: &str, value: &str) -> (u64, u64) {
        let text = self.read(file);
        let at = text
            .find(&format!("\"{value}\""))
            .unwrap_or_else(|| panic!("`{value}` not in {file}"));
        let line = text[..at].matches('\n').count() as u64 + 1;
        let column = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u64 + 1;
        (line, column)
    }
}

pub fn entry(region: &str, arch: &str, hvm: Option<&str>, pv: Option<&str>) -> String {
    let mut s = format!("[[amis]]\nregion = \"{region}\"\narch = \"{arch}\"\n");
    if let Some(h) = hvm {
        s += &format!("hvm = \"{h}\"\n");
    }
    if let Some(p) = pv {
        s += &format!("pv = \"{p}\"\n");
    }
    s + "\n"
}

pub fn worker(set: Option<&str>, types: &[&str], regions: &[(&str, Option<&str>)]) -> String {
    let mut s = String::from("maxCapacity = 5\n");
    if let Some(set) = set {
        s += &format!("amiSetId = \"{set}\"\n");
    }
    for t in types {
        s += &format!("\n[[instanceTypes]]\ninstanceType = \"{t}\"\n");
    }
    for (r, image) in regions {
        s += &format!("\n[[regions]]\nregion = \"{r}\"\n");
        if let Some(i) = image {
            s += &format!("launchSpec = {{ ImageId = \"{i}\" }}\n");
        }
    }
    s
}

/// `per_region` template AMIs (half hvm, half pv), each used in every region
/// through sets of one x86_64 entry per region; one worker type on the first set.
pub fn big_fleet(regions: &[&str], per_region: usize) -> (Repo, Vec<Template>) {
    let half = per_region / 2;
    let templates: Vec<Template> = (0..per_region)
        .map(|i| {
            Template::new(
                format!("ami-{:08x}", 0x2000_0000 + i),
                if i < half { "hvm" } else { "paravirtual" },
                "x86_64",
            )
        })
        .collect();
    let list = regions.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    let repo = Repo::new(&format!("regions = [{list}]\namiOwners = [\"{}\"]\n", moto::MOTO_ACCOUNT));
    for k in 0..half {
        let set: String = regions
            .iter()
            .map(|r| entry(r, "x86_64", Some(&templates[k].id), Some(&templates[half + k].id)))
            .collect();
        repo.write(&format!("ami-sets/s{k}.toml"), &set);
    }
    let rs: Vec<(&str, Option<&str>)> = regions.iter().map(|r| (*r, None)).collect();
    repo.write("worker-types/w.toml", &worker(Some("s0"), &["m5.large"], &rs));
    (repo, templates)
}
