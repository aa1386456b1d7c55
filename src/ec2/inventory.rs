//! What EC2 said, as plain data: which AMIs and instance types a config
//! needs per region ([`Wanted`]), the answers ([`Inventory`], also the
//! snapshot file format of `amiset ec2 snapshot` / `--ec2-inventory`), and
//! the lookups that tell "found", "not there" and "could not ask" apart.
//! Nothing here talks to the network.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::regions;

/// Version of the snapshot file format.
pub const FORMAT: u32 = 1;

/// Most ids in one `image-id` / `instance-type` filter (EC2's limit per filter).
pub const CHUNK: usize = 200;

/// What a config refers to in one region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionWanted {
    pub amis: BTreeSet<String>,
    pub instance_types: BTreeSet<String>,
}

/// Every AMI and instance type a config refers to, by region. Regions that
/// are not known AWS regions are left out: the offline check reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub regions: BTreeMap<String, RegionWanted>,
}

impl Wanted {
    /// Collects the AMIs of every AMI set entry and legacy `ImageId`, and the
    /// instance types of every worker type in each of its regions.
    pub fn of(config: &Config) -> Wanted {
        let mut w = Wanted::default();
        for set in config.ami_sets.values() {
            for e in &set.amis {
                if regions::is_known(&e.region) {
                    let r = w.regions.entry(e.region.clone()).or_default();
                    r.amis.extend(e.hvm.iter().chain(e.pv.iter()).cloned());
                }
            }
        }
        for wt in config.worker_types.values() {
            for region in &wt.regions {
                if !regions::is_known(&region.region) {
                    continue;
                }
                let r = w.regions.entry(region.region.clone()).or_default();
                if let (Some(ami), None) = (region.image_id(), &wt.ami_set_id) {
                    r.amis.insert(ami.to_string());
                }
                r.instance_types.extend(wt.instance_types.iter().map(|t| t.instance_type.clone()));
            }
        }
        w
    }
}

/// One AMI as DescribeImages describes it (EC2's own vocabulary).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub owner_id: String,
    /// `available`, `pending`, `failed`, `deregistered`, ...
    pub state: String,
    /// `hvm` or `paravirtual`.
    pub virtualization_type: String,
    /// `x86_64`, `arm64`, `i386`, ...
    pub architecture: String,
    /// RFC 3339 time from which the AMI is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What DescribeInstanceTypes says an instance type can run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeInfo {
    /// `SupportedArchitectures` (`x86_64`, `arm64`, `i386`, ...).
    pub architectures: Vec<String>,
    /// `SupportedVirtualizationTypes` (`hvm`, `paravirtual`).
    pub virtualization_types: Vec<String>,
}

/// The three EC2 calls amiset makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Call {
    DescribeImages,
    DescribeInstanceTypeOfferings,
    DescribeInstanceTypes,
}

impl Call {
    pub fn as_str(self) -> &'static str {
        match self {
            Call::DescribeImages => "DescribeImages",
            Call::DescribeInstanceTypeOfferings => "DescribeInstanceTypeOfferings",
            Call::DescribeInstanceTypes => "DescribeInstanceTypes",
        }
    }
}

/// A call that failed after its retries, and the ids it covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub call: Call,
    pub ids: BTreeSet<String>,
    pub error: String,
}

/// Everything EC2 answered for one region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionInventory {
    /// AMI ids that were asked for; those asked and absent from `images` do not exist.
    #[serde(default)]
    pub images_asked: BTreeSet<String>,
    #[serde(default)]
    pub images: BTreeMap<String, Image>,
    /// Instance types that were asked for (offerings and capabilities).
    #[serde(default)]
    pub instance_types_asked: BTreeSet<String>,
    /// Instance types offered in the region (of those asked).
    #[serde(default)]
    pub offered: BTreeSet<String>,
    #[serde(default)]
    pub instance_types: BTreeMap<String, InstanceTypeInfo>,
    /// Calls that failed; their ids are unverified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
}

/// The answer to one question about one id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status<T> {
    Found(T),
    /// EC2 answered and the thing is not there.
    Missing,
    /// Nobody could ask EC2, with the reason: never a pass.
    Unverified(String),
}

impl RegionInventory {
    fn failed(&self, call: Call, id: &str) -> Option<String> {
        self.failures
            .iter()
            .find(|f| f.call == call && f.ids.contains(id))
            .map(|f| format!("{} failed: {}", call.as_str(), f.error))
    }

    fn lookup<T>(&self, call: Call, asked: &BTreeSet<String>, id: &str, found: Option<T>) -> Status<T> {
        if let Some(reason) = self.failed(call, id) {
            return Status::Unverified(reason);
        }
        if !asked.contains(id) {
            return Status::Unverified(format!("{} was not asked about `{id}`", call.as_str()));
        }
        match found {
            Some(t) => Status::Found(t),
            None => Status::Missing,
        }
    }

    /// The AMI `id`, if EC2 was asked about it.
    pub fn image(&self, id: &str) -> Status<&Image> {
        self.lookup(Call::DescribeImages, &self.images_asked, id, self.images.get(id))
    }

    /// Whether `instance_type` is offered here.
    pub fn offering(&self, instance_type: &str) -> Status<()> {
        let found = self.offered.contains(instance_type).then_some(());
        self.lookup(
            Call::DescribeInstanceTypeOfferings,
            &self.instance_types_asked,
            instance_type,
            found,
        )
    }

    /// What `instance_type` can run, per this region's DescribeInstanceTypes.
    pub fn instance_type(&self, instance_type: &str) -> Status<&InstanceTypeInfo> {
        self.lookup(
            Call::DescribeInstanceTypes,
            &self.instance_types_asked,
            instance_type,
            self.instance_types.get(instance_type),
        )
    }

    /// Records a failed call for `ids`.
    pub fn fail(&mut self, call: Call, ids: impl IntoIterator<Item = String>, error: impl Into<String>) {
        self.failures.push(Failure {
            call,
            ids: ids.into_iter().collect(),
            error: error.into(),
        });
        self.failures.sort_by(|a, b| (a.call, &a.ids).cmp(&(b.call, &b.ids)));
    }
}

/// What EC2 said about every region asked; the snapshot file format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// [`FORMAT`].
    pub format: u32,
    pub regions: BTreeMap<String, RegionInventory>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            format: FORMAT,
            regions: BTreeMap::new(),
        }
    }
}

/// Why a snapshot file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not an amiset EC2 snapshot: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("snapshot format {0} is not supported (this amiset reads format {FORMAT})")]
    Format(u32),
}

impl Inventory {
    /// The region's answers; a region never asked is empty (everything in it unverified).
    pub fn region(&self, region: &str) -> Status<&RegionInventory> {
        match self.regions.get(region) {
            Some(r) => Status::Found(r),
            None => Status::Unverified(format!("nothing was recorded for {region}")),
        }
    }

    /// Every failed call, by region.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Failure)> {
        self.regions
            .iter()
            .flat_map(|(name, r)| r.failures.iter().map(move |f| (name.as_str(), f)))
    }

    /// The snapshot file: pretty JSON with sorted keys, byte-for-byte deterministic.
    pub fn to_snapshot(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a snapshot file.
    pub fn from_snapshot(text: &str) -> Result<Inventory, SnapshotError> {
        let inv: Inventory = serde_json::from_str(text)?;
        if inv.format != FORMAT {
            return Err(SnapshotError::Format(inv.format));
        }
        Ok(inv)
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time such as
/// `2026-11-25T09:30:00Z`, `2026-11-25T09:30:00.000+01:00`; `None` if malformed.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_to_epoch_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-25T09:30:00Z"), Some(1_795_599_000));
        assert_eq!(parse_rfc3339("2026-11-25T09:30:00.123Z"), Some(1_795_599_000));
        assert_eq!(parse_rfc3339("2026-11-25T10:30:00+01:00"), Some(1_795_599_000));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T09:30:00",
            "2026-11-25T09:30:00Zx",
            "२०२६-11-25T09:30:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn lookups_tell_found_missing_and_unverified_apart() {
        let mut r = RegionInventory::default();
        r.images_asked.extend(["ami-11111111".to_string(), "ami-22222222".to_string()]);
        r.images.insert("ami-11111111".into(), Image::default());
        assert!(matches!(r.image("ami-11111111"), Status::Found(_)));
        assert_eq!(r.image("ami-22222222"), Status::Missing);
        assert!(matches!(r.image("ami-33333333"), Status::Unverified(_)));
        r.fail(Call::DescribeImages, ["ami-22222222".to_string()], "throttled");
        assert_eq!(
            r.image("ami-22222222"),
            Status::Unverified("DescribeImages failed: throttled".into())
        );
        assert!(matches!(r.offering("m5.large"), Status::Unverified(_)));
    }

    #[test]
    fn snapshots_round_trip_and_reject_other_formats() {
        let mut inv = Inventory::default();
        let mut r = RegionInventory::default();
        r.instance_types_asked.insert("m5.large".into());
        r.offered.insert("m5.large".into());
        inv.regions.insert("us-east-1".into(), r);
        let text = inv.to_snapshot();
        assert_eq!(Inventory::from_snapshot(&text).unwrap(), inv);
        assert!(matches!(
            Inventory::from_snapshot(&text.replace("\"format\": 1", "\"format\": 9")),
            Err(SnapshotError::Format(9))
        ));
        assert!(Inventory::from_snapshot("[]").is_err());
    }
}
