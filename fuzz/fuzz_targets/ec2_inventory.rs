//! EC2's answers, as amiset reads them without the network: the snapshot
//! file of `--ec2-inventory` (arbitrary text through `Inventory::from_snapshot`),
//! and arbitrary inventories (built from the AMIs and instance types that
//! `config-example/` asks about, with arbitrary states, owners,
//! architectures, deprecation times and failed calls) through
//! `ec2::verify` against `config-example/`.
//!
//! Invariants: no panic; a snapshot that reads writes back to the same
//! inventory; every AMI the config refers to that EC2 did not describe as
//! available is an error (nothing unverified passes).
#![no_main]

use std::sync::OnceLock;

use amiset::ec2::inventory::{Call, Image, InstanceTypeInfo, RegionInventory, parse_rfc3339};
use amiset::ec2::{Inventory, Wanted, verify};
use amiset::{Config, Limits, Report};
use amiset_fuzz::{assert_nothing_unverified_passes, check_report, example};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    Snapshot(String),
    Built(Vec<Region>),
}

#[derive(Arbitrary, Debug)]
struct Region {
    pick: u8,
    /// AMIs asked about; the flag says whether EC2 described them.
    asked: Vec<(u8, Option<ImageAnswer>)>,
    /// Instance types asked about: whether offered, and the architectures
    /// and virtualization types DescribeInstanceTypes gave, if it did.
    types: Vec<(u8, bool, Option<TypeAnswer>)>,
    failures: Vec<(bool, Vec<u8>, String)>,
}

type TypeAnswer = (Vec<u8>, Vec<u8>);

#[derive(Arbitrary, Debug)]
struct ImageAnswer {
    owner: u8,
    state: u8,
    virt: u8,
    arch: u8,
    deprecation: Option<Result<u8, String>>,
}

const OWNERS: &[&str] = &["123456789012", "999999999999", ""];
const STATES: &[&str] = &["available", "pending", "failed", "deregistered", ""];
const VIRTS: &[&str] = &["hvm", "paravirtual", "", "HVM"];
const ARCHES: &[&str] = &["x86_64", "arm64", "i386", "x86_64_mac", ""];
const TIMES: &[&str] = &[
    "2026-11-30T00:00:00Z",
    "2020-01-01T00:00:00.000Z",
    "9999-12-31T23:59:60+23:59",
    "0000-01-01T00:00:00-23:59",
    "2026-02-31T00:00:00Z",
    "2026-11-25t09:30:00z",
];

/// 2026-11-25T09:30:00Z.
const NOW: i64 = 1_795_599_000;

fn pick<T>(items: &[T], i: u8) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(i as usize % items.len())
    }
}

fn config() -> &'static (Config, Report, Wanted) {
    static CONFIG: OnceLock<(Config, Report, Wanted)> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (config, report) = amiset::check::run(&example::inputs(|_| true), &Limits::default());
        let wanted = Wanted::of(&config);
        (config, report, wanted)
    })
}

fn build(regions: &[Region], wanted: &Wanted) -> Inventory {
    let names: Vec<&String> = wanted.regions.keys().collect();
    let mut inv = Inventory::default();
    for r in regions.iter().take(4) {
        let Some(name) = pick(&names, r.pick) else { continue };
        let Some(want) = wanted.regions.get(*name) else { continue };
        let amis: Vec<&String> = want.amis.iter().collect();
        let types: Vec<&String> = want.instance_types.iter().collect();
        let mut ri = RegionInventory::default();
        for (i, answer) in r.asked.iter().take(16) {
            let Some(ami) = pick(&amis, *i) else { continue };
            ri.images_asked.insert(ami.to_string());
            if let Some(a) = answer {
                ri.images.insert(
                    ami.to_string(),
                    Image {
                        owner_id: pick(OWNERS, a.owner).copied().unwrap_or_default().into(),
                        state: pick(STATES, a.state).copied().unwrap_or_default().into(),
                        virtualization_type: pick(VIRTS, a.virt).copied().unwrap_or_default().into(),
                        architecture: pick(ARCHES, a.arch).copied().unwrap_or_default().into(),
                        deprecation_time: a.deprecation.as_ref().map(|d| match d {
                            Ok(i) => pick(TIMES, *i).copied().unwrap_or_default().to_string(),
                            Err(s) => s.clone(),
                        }),
                        name: None,
                    },
                );
            }
        }
        for (i, offered, info) in r.types.iter().take(16) {
            let Some(t) = pick(&types, *i) else { continue };
            ri.instance_types_asked.insert(t.to_string());
            if *offered {
                ri.offered.insert(t.to_string());
            }
            if let Some((arches, virts)) = info {
                ri.instance_types.insert(
                    t.to_string(),
                    InstanceTypeInfo {
                        architectures: arches
                            .iter()
                            .take(3)
                            .filter_map(|a| pick(ARCHES, *a))
                            .map(|s| s.to_string())
                            .collect(),
                        virtualization_types: virts
                            .iter()
                            .take(3)
                            .filter_map(|v| pick(VIRTS, *v))
                            .map(|s| s.to_string())
                            .collect(),
                    },
                );
            }
        }
        for (images, ids, error) in r.failures.iter().take(3) {
            let (call, pool) = if *images {
                (Call::DescribeImages, &amis)
            } else {
                (Call::DescribeInstanceTypes, &types)
            };
            ri.fail(
                call,
                ids.iter().take(4).filter_map(|i| pick(pool, *i)).map(|s| s.to_string()),
                error.clone(),
            );
        }
        inv.regions.insert(name.to_string(), ri);
    }
    inv
}

fuzz_target!(|data: &[u8]| {
    // Snapshot files (JSON objects) are taken verbatim, so that recorded snapshots are seeds.
    let input = if data.first() == Some(&b'{') {
        match std::str::from_utf8(data) {
            Ok(text) => Input::Snapshot(text.to_string()),
            Err(_) => return,
        }
    } else {
        match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        }
    };
    let (config, loaded, wanted) = config();
    let inventory = match &input {
        Input::Snapshot(text) => {
            let _ = parse_rfc3339(text);
            match Inventory::from_snapshot(text) {
                Ok(inv) => {
                    let again = Inventory::from_snapshot(&inv.to_snapshot()).expect("a written snapshot reads back");
                    assert_eq!(again, inv, "snapshots round-trip");
                    inv
                }
                Err(_) => return,
            }
        }
        Input::Built(regions) => build(regions, wanted),
    };
    let verification = verify(config, &inventory, NOW);
    let _ = amiset::ec2::verify::catalog(&inventory);

    assert_nothing_unverified_passes(wanted, &inventory, &verification.findings);
    let report = Report {
        findings: verification.findings,
        sources: loaded.sources.clone(),
    };
    check_report(&report);
});
