//! The completeness rule of DESIGN §9, pure: from the images EC2 listed per
//! region, the newest build (by creation date) that has an acceptable image
//! for every (region, arch, hvm/pv) of a set. Acceptable: available, not
//! deprecated, not revoked, of an allowed owner, of the key's architecture
//! and virtualization type, and older than `minAge`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::source::{build_id, min_age_seconds, owners};
use crate::config::{AmiSet, Arch, Policy, Source, Virt};
use crate::ec2::images::{Found, NamedImage};
use crate::ec2::inventory::parse_rfc3339;

/// One (region, arch, hvm/pv) of a set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Key {
    pub region: String,
    pub arch: Arch,
    pub virt: Virt,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.region, self.arch.as_str(), self.virt.as_str())
    }
}

/// Every key of a set with the AMI it holds now, in file order.
pub fn keys(set: &AmiSet) -> Vec<(Key, String)> {
    let mut out = Vec::new();
    for e in &set.amis {
        for virt in [Virt::Hvm, Virt::Pv] {
            if let Some(ami) = e.ami(virt) {
                let key = Key {
                    region: e.region.clone(),
                    arch: e.arch,
                    virt,
                };
                out.push((key, ami.to_string()));
            }
        }
    }
    out
}

/// The image a key moves to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pick {
    pub key: Key,
    pub old: String,
    pub new: NamedImage,
}

/// A build newer than the one taken that lacks some keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incomplete {
    pub build: String,
    /// The keys with no acceptable image of this build.
    pub missing: Vec<Key>,
}

impl Incomplete {
    /// The regions that lack the build, sorted, once each.
    pub fn regions(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.missing.iter().map(|k| k.region.as_str()).collect();
        set.into_iter().collect()
    }
}

/// What `update` does with one set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Outcome {
    /// Moves every key to `to` (only keys whose id changes are listed).
    Update {
        from: Option<String>,
        to: String,
        picks: Vec<Pick>,
    },
    /// Already on the newest complete build.
    Current { build: String },
    /// The set's current build is newer than every complete build; it is kept (update never goes back).
    Newer { build: String, newest_complete: String },
    /// No build is complete; the set is left alone.
    NoCompleteBuild,
    /// Some region the set covers could not be read; the set is left alone.
    Unreadable { regions: Vec<String> },
}

/// The decision for one set, with what explains it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub outcome: Outcome,
    /// Builds newer than the one taken (or kept) that some key lacks, newest first.
    pub incomplete: Vec<Incomplete>,
    /// Builds newer than the one taken that are complete but younger than `minAge`, newest first.
    pub too_young: Vec<String>,
}

/// What a build has for each key.
#[derive(Default)]
struct Build<'a> {
    /// When the build first appeared: the oldest creation time among its
    /// acceptable images (a copy made later, of an old build, does not make
    /// the build new).
    date: i64,
    /// Per key: the newest acceptable image, and whether it is old enough.
    per_key: BTreeMap<&'a Key, (&'a NamedImage, i64, bool)>,
}

/// An image and its creation time (seconds since the epoch).
type Dated<'a> = (&'a NamedImage, i64);

/// The images found, per region sorted by name with their creation time, so
/// that the images a pattern can match are one range (its text before `*`).
pub struct Index<'a> {
    /// `None` for a region that could not be read.
    regions: BTreeMap<&'a str, Option<Vec<Dated<'a>>>>,
}

impl<'a> Index<'a> {
    pub fn new(found: &'a Found) -> Index<'a> {
        let regions = found
            .iter()
            .map(|(region, answer)| {
                let list = answer.as_ref().ok().map(|images| {
                    let mut v: Vec<(&NamedImage, i64)> = images
                        .iter()
                        .filter_map(|i| i.creation_date.as_deref().and_then(parse_rfc3339).map(|t| (i, t)))
                        .collect();
                    v.sort_by(|a, b| a.0.name.cmp(&b.0.name));
                    v
                });
                (region.as_str(), list)
            })
            .collect();
        Index { regions }
    }

    /// Whether `region` was read.
    fn readable(&self, region: &str) -> bool {
        matches!(self.regions.get(region), Some(Some(_)))
    }

    /// The images of `region` whose name starts with `prefix`.
    fn with_prefix(&self, region: &str, prefix: &str) -> &[Dated<'a>] {
        let Some(Some(list)) = self.regions.get(region) else { return &[] };
        let start = list.partition_point(|(i, _)| i.name.as_str() < prefix);
        let len = list[start..].partition_point(|(i, _)| i.name.starts_with(prefix));
        &list[start..start + len]
    }
}

/// Decides what to do with `set` given the images found in its regions, at time `now`.
pub fn decide(set: &AmiSet, source: &Source, policy: &Policy, found: &Index<'_>, now: i64) -> Decision {
    let keys = keys(set);
    let empty = |outcome| Decision {
        outcome,
        incomplete: Vec::new(),
        too_young: Vec::new(),
    };
    let unreadable: BTreeSet<&str> = keys
        .iter()
        .filter(|(k, _)| !found.readable(&k.region))
        .map(|(k, _)| k.region.as_str())
        .collect();
    if !unreadable.is_empty() {
        return empty(Outcome::Unreadable {
            regions: unreadable.into_iter().map(str::to_string).collect(),
        });
    }
    let allowed: &[String] = owners(source, policy).unwrap_or_default();
    let min_age = source.min_age.as_deref().and_then(min_age_seconds).unwrap_or(0);

    let mut builds: BTreeMap<&str, Build<'_>> = BTreeMap::new();
    // The build each current id belongs to, for "never go back".
    let mut current: BTreeMap<&Key, (&str, i64)> = BTreeMap::new();
    for (key, old) in &keys {
        let Some(pattern) = source.name.pattern(key.arch, key.virt) else {
            continue;
        };
        let prefix = pattern.split('*').next().unwrap_or_default();
        for &(img, created) in found.with_prefix(&key.region, prefix) {
            let Some(build) = build_id(pattern, &img.name) else { continue };
            if &img.id == old {
                current.insert(key, (build, created));
            }
            if !acceptable(img, key, allowed, policy, now) {
                continue;
            }
            let mature = created <= now.saturating_sub(min_age);
            let b = builds.entry(build).or_insert_with(|| Build {
                date: created,
                per_key: BTreeMap::new(),
            });
            b.date = b.date.min(created);
            let better = match b.per_key.get(key) {
                None => true,
                // Prefer an image old enough, then the newest, then the smallest id.
                Some((prev, prev_created, prev_mature)) => {
                    (mature, created, std::cmp::Reverse(&img.id)) > (*prev_mature, *prev_created, std::cmp::Reverse(&prev.id))
                }
            };
            if better {
                b.per_key.insert(key, (img, created, mature));
            }
        }
    }

    let mut order: Vec<(&str, &Build<'_>)> = builds.iter().map(|(b, info)| (*b, info)).collect();
    order.sort_by(|a, b| (b.1.date, b.0).cmp(&(a.1.date, a.0)));
    let current_build = {
        let names: BTreeSet<&str> = current.values().map(|(b, _)| *b).collect();
        match (names.len(), current.len() == keys.len()) {
            (1, true) => names.into_iter().next().map(|b| {
                let own = current.values().map(|(_, d)| *d).min().unwrap_or(0);
                (b, builds.get(b).map_or(own, |info| info.date.min(own)))
            }),
            _ => None,
        }
    };

    let mut decision = empty(Outcome::NoCompleteBuild);
    for (build, info) in order {
        // Builds older than the one the set is on are never taken, nor warned about.
        let older = current_build.is_some_and(|(cur, date)| (date, cur) > (info.date, build));
        // The set's own build losing an image is `check --ec2`'s to report, not a newer build's warning.
        let not_newer = older || current_build.is_some_and(|(cur, _)| cur == build);
        let missing: Vec<Key> = keys
            .iter()
            .filter(|(k, _)| !info.per_key.contains_key(k))
            .map(|(k, _)| k.clone())
            .collect();
        if !missing.is_empty() {
            if !not_newer {
                decision.incomplete.push(Incomplete {
                    build: build.to_string(),
                    missing,
                });
            }
            continue;
        }
        if info.per_key.values().any(|(_, _, mature)| !mature) {
            if !not_newer {
                decision.too_young.push(build.to_string());
            }
            continue;
        }
        if let (true, Some((cur, _))) = (older, current_build) {
            decision.outcome = Outcome::Newer {
                build: cur.to_string(),
                newest_complete: build.to_string(),
            };
            return decision;
        }
        let picks: Vec<Pick> = keys
            .iter()
            .filter_map(|(k, old)| {
                let (img, _, _) = info.per_key.get(k)?;
                (img.id != *old).then(|| Pick {
                    key: k.clone(),
                    old: old.clone(),
                    new: (*img).clone(),
                })
            })
            .collect();
        decision.outcome = if picks.is_empty() {
            Outcome::Current { build: build.to_string() }
        } else {
            Outcome::Update {
                from: current_build.map(|(b, _)| b.to_string()),
                to: build.to_string(),
                picks,
            }
        };
        return decision;
    }
    decision
}

fn acceptable(img: &NamedImage, key: &Key, owners: &[String], policy: &Policy, now: i64) -> bool {
    img.state == "available"
        && owners.contains(&img.owner_id)
        && img.architecture == key.arch.as_str()
        && img.virtualization_type == key.virt.ec2_name()
        && policy.revoked_reason(&img.id).is_none()
        && img
            .deprecation_time
            .as_deref()
            .is_none_or(|t| parse_rfc3339(t).is_some_and(|t| t > now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AmiEntry, SourceName};

    const OWNER: &str = "123456789012";
    const DAY: i64 = 86_400;
    /// 2026-11-25T00:00:00Z
    const NOW: i64 = 1_795_564_800;

    fn img(id: &str, name: &str, created: &str) -> NamedImage {
        NamedImage {
            id: id.into(),
            name: name.into(),
            owner_id: OWNER.into(),
            state: "available".into(),
            architecture: "x86_64".into(),
            virtualization_type: "hvm".into(),
            creation_date: Some(created.into()),
            deprecation_time: None,
        }
    }

    fn set(ids: &[(&str, &str)]) -> AmiSet {
        AmiSet {
            id: "s".into(),
            description: None,
            amis: ids
                .iter()
                .map(|(region, ami)| AmiEntry {
                    region: region.to_string(),
                    arch: Arch::X86_64,
                    hvm: Some(ami.to_string()),
                    pv: None,
                })
                .collect(),
            source: Some(source(None)),
            worker_config: None,
        }
    }

    fn source(min_age: Option<&str>) -> Source {
        Source {
            name: SourceName::One("u-*".into()),
            owners: Some(vec![OWNER.into()]),
            min_age: min_age.map(str::to_string),
        }
    }

    fn found(regions: &[(&str, Vec<NamedImage>)]) -> Found {
        regions.iter().map(|(r, v)| (r.to_string(), Ok(v.clone()))).collect()
    }

    #[test]
    fn a_set_on_a_build_newer_than_every_complete_one_keeps_it() {
        // Build 3 is the set's; it lost its us-west-2 image (say, deregistered): build 2 is the newest complete.
        let f = found(&[
            (
                "us-east-1",
                vec![
                    img("ami-00000002", "u-2", "2026-11-02T00:00:00Z"),
                    img("ami-00000003", "u-3", "2026-11-03T00:00:00Z"),
                ],
            ),
            ("us-west-2", vec![img("ami-00000012", "u-2", "2026-11-02T00:00:00Z")]),
        ]);
        let s = set(&[("us-east-1", "ami-00000003"), ("us-west-2", "ami-00000013")]);
        let d = decide(&s, s.source.as_ref().unwrap(), &Policy::default(), &Index::new(&f), NOW);
        // The current build is not known for every key (us-west-2's id is gone), so the set moves to build 2.
        assert!(matches!(&d.outcome, Outcome::Update { to, .. } if to == "2"), "{d:?}");

        let f = found(&[
            (
                "us-east-1",
                vec![
                    img("ami-00000002", "u-2", "2026-11-02T00:00:00Z"),
                    img("ami-00000003", "u-3", "2026-11-03T00:00:00Z"),
                ],
            ),
            (
                "us-west-2",
                vec![
                    img("ami-00000012", "u-2", "2026-11-02T00:00:00Z"),
                    NamedImage {
                        state: "failed".into(),
                        ..img("ami-00000013", "u-3", "2026-11-03T00:00:00Z")
                    },
                ],
            ),
        ]);
        let d = decide(&s, s.source.as_ref().unwrap(), &Policy::default(), &Index::new(&f), NOW);
        assert_eq!(
            d.outcome,
            Outcome::Newer {
                build: "3".into(),
                newest_complete: "2".into()
            }
        );
        assert!(d.incomplete.is_empty(), "the set's own build is not reported as newer: {d:?}");
    }

    /// Build 1 copied again into us-east-1 after build 2 was made: it is
    /// still the older build, and the set on build 2 stays there.
    #[test]
    fn a_late_copy_of_an_old_build_does_not_make_it_newer() {
        let f = found(&[
            (
                "us-east-1",
                vec![
                    img("ami-00000001", "u-1", "2026-11-01T00:00:00Z"),
                    img("ami-00000002", "u-2", "2026-11-02T00:00:00Z"),
                    img("ami-00000021", "u-1", "2026-11-10T00:00:00Z"),
                ],
            ),
            (
                "us-west-2",
                vec![
                    img("ami-00000011", "u-1", "2026-11-01T00:00:00Z"),
                    img("ami-00000012", "u-2", "2026-11-02T00:00:00Z"),
                ],
            ),
        ]);
        let on_2 = set(&[("us-east-1", "ami-00000002"), ("us-west-2", "ami-00000012")]);
        let d = decide(&on_2, on_2.source.as_ref().unwrap(), &Policy::default(), &Index::new(&f), NOW);
        assert_eq!(d.outcome, Outcome::Current { build: "2".into() }, "{d:?}");
        // A set still on build 1 moves to build 2, the newest.
        let on_1 = set(&[("us-east-1", "ami-00000001"), ("us-west-2", "ami-00000011")]);
        let d = decide(&on_1, on_1.source.as_ref().unwrap(), &Policy::default(), &Index::new(&f), NOW);
        assert!(matches!(&d.outcome, Outcome::Update { to, .. } if to == "2"), "{d:?}");
    }

    #[test]
    fn min_age_counts_from_the_newest_image_of_the_key() {
        let f = found(&[("us-east-1", vec![img("ami-00000002", "u-2", "2026-11-24T00:00:00Z")])]);
        let s = set(&[("us-east-1", "ami-00000001")]);
        let d = decide(&s, &source(Some("2d")), &Policy::default(), &Index::new(&f), NOW);
        assert_eq!(d.outcome, Outcome::NoCompleteBuild);
        assert_eq!(d.too_young, vec!["2".to_string()]);
        let d = decide(&s, &source(Some("1d")), &Policy::default(), &Index::new(&f), NOW);
        assert!(matches!(&d.outcome, Outcome::Update { to, .. } if to == "2"), "{d:?}");
        let _ = DAY;
    }
}
