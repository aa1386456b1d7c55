//! `check --ec2` against moto's EC2 server (started per test on a free
//! loopback port), through a fault-injecting, call-counting proxy: every
//! `ec2::*` finding, a clean pass, faults that must come out unverified,
//! calls that grow with regions, offline snapshots, and the launch-time
//! verifier of the library.

mod common;
#[path = "ec2/fleet.rs"]
mod fleet;
#[path = "ec2/moto.rs"]
mod moto;
#[path = "ec2/proxy.rs"]
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{code_and_doc, codes};
use fleet::{REGIONS20, Repo, big_fleet, entry, worker};
use moto::{Moto, Template, copy_image, deregister};
use proxy::{Fault, Proxy};
use serde_json::Value;

const T_HVM: &str = "ami-10000001";
const T_PV: &str = "ami-10000002";
const T_ARM: &str = "ami-10000003";
const T_OTHER: &str = "ami-10000004";
const T_PENDING: &str = "ami-10000005";
const OTHER_ACCOUNT: &str = "999988887777";
const REGIONS: [&str; 3] = ["us-east-1", "us-east-2", "us-west-2"];
/// Fixed "now" for deprecation checks: 2026-06-01.
const NOW: &str = "2026-06-01T00:00:00Z";

fn templates() -> Vec<Template> {
    vec![
        Template::new(T_HVM, "hvm", "x86_64"),
        Template::new(T_PV, "paravirtual", "x86_64"),
        Template::new(T_ARM, "hvm", "arm64"),
        Template::new(T_OTHER, "hvm", "x86_64").owner(OTHER_ACCOUNT),
        Template::new(T_PENDING, "hvm", "x86_64").state("pending"),
    ]
}

fn policy(extra: &str) -> String {
    format!(
        "regions = [\"us-east-1\", \"us-east-2\", \"us-west-2\"]\namiOwners = [\"{}\"]\nlegacyImageIds = \"allow\"\n{extra}",
        moto::MOTO_ACCOUNT
    )
}

/// Runs the real binary against the emulator as of [`NOW`].
fn amiset(dir: &Path, args: &[&str]) -> Output {
    common::amiset_emulated(dir, args, &[("AMISET_NOW", NOW)])
}

/// `check --ec2` through `endpoint`: (exit code, parsed JSON).
fn check(repo: &Repo, endpoint: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", ".", "--format", "json", "--ec2", "--ec2-endpoint", endpoint];
    args.extend_from_slice(extra);
    code_and_doc(&amiset(repo.path(), &args))
}

/// (code, file, line, column) of every finding.
fn findings(json: &Value) -> Vec<(String, String, u64, u64)> {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_string(),
                f["file"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["column"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// A valid fleet: per region an x86_64 entry (hvm + pv) and an arm64 entry,
/// all copied into the region; a worker type on the set, one on a legacy ImageId.
struct Fleet {
    repo: Repo,
    amis: BTreeMap<(&'static str, &'static str), String>,
}

/// moto with [`templates`], the fault proxy in front of it, and
/// [`valid_fleet`] on it.
fn live_fleet() -> (Moto, Proxy, Fleet) {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let fleet = valid_fleet(&moto);
    (moto, proxy, fleet)
}

fn valid_fleet(moto: &Moto) -> Fleet {
    let repo = Repo::new(&policy(""));
    let mut set = String::from("description = \"linux\"\n\n");
    let mut amis = BTreeMap::new();
    for r in REGIONS {
        let (h, p, a) = (copy_image(moto, T_HVM, r), copy_image(moto, T_PV, r), copy_image(moto, T_ARM, r));
        set += &entry(r, "x86_64", Some(&h), Some(&p));
        set += &entry(r, "arm64", Some(&a), None);
        amis.insert((r, "hvm"), h);
        amis.insert((r, "pv"), p);
        amis.insert((r, "arm"), a);
    }
    repo.write("ami-sets/linux.toml", &set);
    repo.write(
        "worker-types/builder.toml",
        &worker(Some("linux"), &["m5.large", "m6g.large"], &REGIONS.map(|r| (r, None))),
    );
    repo.write(
        "worker-types/old.toml",
        &worker(
            None,
            &["m3.medium"],
            &[
                ("us-east-1", Some(&amis[&("us-east-1", "hvm")])),
                ("us-west-2", Some(&amis[&("us-west-2", "pv")])),
            ],
        ),
    );
    Fleet { repo, amis }
}

#[test]
fn valid_fleet_passes_without_a_finding() {
    let (_moto, proxy, fleet) = live_fleet();
    let (code, json) = check(&fleet.repo, &proxy.url, &[]);
    assert_eq!(findings(&json), vec![], "{json:#}");
    assert_eq!(code, 0);
    // It really asked: three calls in each region.
    assert_eq!(proxy.total_calls(), 3 * REGIONS.len(), "{:?}", proxy.calls());
}

#[test]
fn every_broken_ami_and_instance_type_gets_its_finding_at_its_value() {
    let moto = Moto::start(&templates());
    let repo = Repo::new(&policy(""));
    let dead = "ami-0000000000000dead";
    let hvm_as_pv = copy_image(&moto, T_HVM, "us-east-1");
    let x86_as_arm = copy_image(&moto, T_HVM, "us-east-1");
    let gone = copy_image(&moto, T_HVM, "us-west-2");
    deregister(&moto, &gone, "us-west-2");
    let arm = copy_image(&moto, T_ARM, "us-east-1");
    let good_west = copy_image(&moto, T_HVM, "us-west-2");
    repo.write(
        "ami-sets/broken.toml",
        &[
            entry("us-east-1", "x86_64", Some(dead), Some(&hvm_as_pv)),
            entry("us-east-1", "arm64", Some(&x86_as_arm), None),
            entry("us-east-2", "x86_64", Some(T_OTHER), None),
            entry("us-west-2", "x86_64", Some(&gone), None),
        ]
        .concat(),
    );
    repo.write("ami-sets/waiting.toml", &entry("us-west-2", "x86_64", Some(T_PENDING), None));
    repo.write(
        "worker-types/broken-user.toml",
        &worker(
            Some("broken"),
            &["m5.large", "m3.medium"],
            &[("us-east-1", None), ("us-east-2", None)],
        ),
    );
    repo.write(
        "worker-types/waiting-user.toml",
        &worker(Some("waiting"), &["m5.large"], &[("us-west-2", None)]),
    );
    repo.write(
        "worker-types/legacy-arm.toml",
        &worker(None, &["m5.large"], &[("us-east-1", Some(&arm)), ("us-west-2", Some(&good_west))]),
    );

    let (code, json) = check(&repo, &moto.url, &[]);
    let set = "ami-sets/broken.toml";
    let at = |file: &str, value: &str, code: &str| {
        let (l, c) = repo.position(file, value);
        (code.to_string(), file.to_string(), l, c)
    };
    let m3 = {
        // the second `instanceType` value, m3.medium
        let (l, c) = repo.position("worker-types/broken-user.toml", "m3.medium");
        (
            "ec2::instance-type-not-offered".to_string(),
            "worker-types/broken-user.toml".to_string(),
            l,
            c,
        )
    };
    let mut expected = vec![
        at(set, dead, "ec2::ami-not-found"),
        at(set, &hvm_as_pv, "ec2::virtualization-mismatch"),
        at(set, &x86_as_arm, "ec2::architecture-mismatch"),
        at(set, T_OTHER, "ec2::owner-not-allowed"),
        at(set, &gone, "ec2::ami-not-found"),
        at("ami-sets/waiting.toml", T_PENDING, "ec2::ami-not-available"),
        m3,
        at("worker-types/legacy-arm.toml", "m5.large", "ec2::instance-type-unsupported"),
    ];
    expected.sort();
    let mut got = findings(&json);
    got.sort();
    assert_eq!(got, expected, "{json:#}");
    assert_eq!(code, 1);
    let unsupported = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "ec2::instance-type-unsupported")
        .unwrap();
    assert!(unsupported["message"].as_str().unwrap().contains(&arm), "{unsupported}");
    assert!(unsupported["message"].as_str().unwrap().contains("us-east-1"), "{unsupported}");

    // The same check, reproduced offline from a recorded snapshot, says exactly the same.
    let snap = repo.path().join("snapshot.json");
    let out = amiset(
        repo.path(),
        &[
            "ec2",
            "snapshot",
            ".",
            "--out",
            "snapshot.json",
            "--ec2-endpoint",
            &moto.url,
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    drop(moto);
    let offline = amiset(
        repo.path(),
        &["check", ".", "--format", "json", "--ec2-inventory", snap.to_str().unwrap()],
    );
    let (offline_code, offline_json) = code_and_doc(&offline);
    assert_eq!((offline_code, offline_json), (code, json));
}

#[test]
fn deprecation_is_an_error_after_and_a_warning_within_the_window() {
    let (moto, proxy, fleet) = live_fleet();
    let past = &fleet.amis[&("us-east-1", "hvm")];
    let soon = &fleet.amis[&("us-east-2", "hvm")];
    let later = &fleet.amis[&("us-west-2", "hvm")];
    proxy.deprecate(past, "2026-05-01T00:00:00.000Z");
    proxy.deprecate(soon, "2026-06-11T00:00:00.000Z");
    proxy.deprecate(later, "2026-12-01T00:00:00.000Z");
    let set = "ami-sets/linux.toml";
    let at = |value: &str, code: &str| {
        let (l, c) = fleet.repo.position(set, value);
        (code.to_string(), set.to_string(), l, c)
    };
    // Live, through the proxy that stamps DeprecationTime.
    let (code, json) = check(&fleet.repo, &proxy.url, &[]);
    let mut expected = vec![at(past, "ec2::ami-deprecated"), at(soon, "ec2::ami-deprecation-soon")];
    // `old` launches the deprecated us-east-1 AMI too, as a legacy ImageId.
    let (l, c) = fleet.repo.position("worker-types/old.toml", past);
    expected.push(("ec2::ami-deprecated".into(), "worker-types/old.toml".into(), l, c));
    expected.sort();
    let mut got = findings(&json);
    got.sort();
    assert_eq!(got, expected, "{json:#}");
    assert_eq!(code, 1);
    assert_eq!(json["summary"]["warnings"], 1);

    // Offline, from a snapshot, at a later "now": the second AMI is past its date too.
    let out = amiset(
        fleet.repo.path(),
        &[
            "ec2",
            "snapshot",
            "--out",
            "snap.json",
            "--ec2-endpoint",
            &proxy.url,
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    drop(proxy);
    drop(moto);
    let later_now = common::amiset_with(
        fleet.repo.path(),
        &["check", ".", "--format", "json", "--ec2-inventory", "snap.json"],
        &[("AMISET_NOW", "2026-06-20T00:00:00Z")],
    );
    let (code, json) = code_and_doc(&later_now);
    let deprecated: BTreeSet<(String, u64)> = findings(&json).into_iter().filter(|f| f.1 == set).map(|f| (f.0, f.2)).collect();
    let expected: BTreeSet<(String, u64)> = [
        ("ec2::ami-deprecated".to_string(), fleet.repo.position(set, past).0),
        ("ec2::ami-deprecated".to_string(), fleet.repo.position(set, soon).0),
    ]
    .into();
    assert_eq!(deprecated, expected, "{json:#}");
    assert_eq!(code, 1);
}

/// Runs the valid fleet (plus a missing AMI in us-east-2) with `fault` in us-west-2.
/// Returns the messages of the `ec2::unverified` findings.
fn fault_in_one_region(fault: Fault, flags: &[&str]) -> Vec<String> {
    let retried = matches!(fault, Fault::Throttle | Fault::Reset);
    let (messages, proxy) = unverified_west(|p| p.fault("us-west-2", fault), flags);
    let west = calls_in(&proxy, "us-west-2");
    if retried {
        assert!(west > 3, "transient faults are retried: {:?}", proxy.calls());
    }
    messages
}

/// EC2 calls made for `region`, all actions and pages.
fn calls_in(proxy: &Proxy, region: &str) -> usize {
    proxy.calls().iter().filter(|((r, _), _)| r == region).map(|(_, n)| n).sum()
}

/// Adds to `fleet` a set `extra` whose us-east-2 AMI does not exist, and a
/// worker type on it.
fn add_missing_ami(fleet: &Fleet) {
    fleet.repo.write(
        "ami-sets/extra.toml",
        &entry("us-east-2", "x86_64", Some("ami-0000000000000beef"), None),
    );
    fleet.repo.write(
        "worker-types/extra-user.toml",
        &worker(Some("extra"), &["m5.large"], &[("us-east-2", None)]),
    );
}

/// The valid fleet plus a missing AMI in us-east-2, checked through a proxy
/// that `setup` makes fail in us-west-2: everything us-west-2 covers, and
/// nothing else, is `ec2::unverified`. Returns those findings' messages and the proxy.
fn unverified_west(setup: impl FnOnce(&Proxy), flags: &[&str]) -> (Vec<String>, Proxy) {
    let (_moto, proxy, fleet) = live_fleet();
    add_missing_ami(&fleet);
    setup(&proxy);
    let started = Instant::now();
    let (code, json) = check(&fleet.repo, &proxy.url, flags);
    let elapsed = started.elapsed();
    assert_eq!(code, 1, "{json:#}");
    let all = json["findings"].as_array().unwrap();
    let unverified: Vec<&Value> = all.iter().filter(|f| f["code"] == "ec2::unverified").collect();
    // Every AMI of us-west-2 (hvm, pv, arm64 in the set, the legacy pv ImageId)
    // and every instance type there (m5.large, m6g.large of builder; m3.medium of old).
    let mut expected: Vec<(String, u64)> = ["hvm", "pv", "arm"]
        .iter()
        .map(|k| {
            (
                "ami-sets/linux.toml".to_string(),
                fleet.repo.position("ami-sets/linux.toml", &fleet.amis[&("us-west-2", *k)]).0,
            )
        })
        .collect();
    expected.push((
        "worker-types/old.toml".into(),
        fleet.repo.position("worker-types/old.toml", &fleet.amis[&("us-west-2", "pv")]).0,
    ));
    for (file, t) in [("builder", "m5.large"), ("builder", "m6g.large"), ("old", "m3.medium")] {
        let file = format!("worker-types/{file}.toml");
        let line = fleet.repo.position(&file, t).0;
        expected.push((file, line));
    }
    expected.sort();
    let mut got: Vec<(String, u64)> = unverified
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, expected, "{json:#}");
    for f in &unverified {
        let m = f["message"].as_str().unwrap();
        assert!(m.contains("us-west-2"), "{m}");
        assert_eq!(f["severity"], "error");
    }
    // The other regions were verified: the missing AMI in us-east-2 is found missing, nothing else is wrong.
    let others: Vec<String> = all
        .iter()
        .filter(|f| f["code"] != "ec2::unverified")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(others, vec!["ec2::ami-not-found".to_string()], "{json:#}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let messages = unverified
        .iter()
        .map(|f| f["message"].as_str().unwrap_or_default().to_string())
        .collect();
    (messages, proxy)
}

/// Short timeouts and three attempts per call.
const IMPATIENT: [&str; 6] = ["--ec2-call-timeout", "1", "--ec2-attempts", "3", "--ec2-timeout", "30"];

#[test]
fn throttling_in_one_region_leaves_only_that_region_unverified() {
    let messages = fault_in_one_region(Fault::Throttle, &IMPATIENT);
    assert!(messages.iter().all(|m| m.contains("RequestLimitExceeded")), "{messages:#?}");
}

#[test]
fn slow_answers_in_one_region_time_out_as_unverified() {
    let messages = fault_in_one_region(Fault::Slow(Duration::from_secs(4)), &IMPATIENT);
    assert!(messages.iter().all(|m| m.contains("timeout")), "{messages:#?}");
}

#[test]
fn connection_resets_in_one_region_leave_it_unverified() {
    fault_in_one_region(Fault::Reset, &IMPATIENT);
}

#[test]
fn malformed_answers_in_one_region_leave_it_unverified() {
    let messages = fault_in_one_region(Fault::Malformed, &IMPATIENT);
    assert!(messages.iter().all(|m| m.contains("malformed answer")), "{messages:#?}");
}

/// EC2 refusing the credentials (HTTP 401 `AuthFailure`) is a client error:
/// not retried, and what it covered is unverified, never a pass.
#[test]
fn auth_failure_in_one_region_is_unverified_without_retries() {
    let (messages, proxy) = unverified_west(|p| p.fault("us-west-2", Fault::AuthFailure), &IMPATIENT);
    assert!(messages.iter().all(|m| m.contains("AuthFailure")), "{messages:#?}");
    // DescribeImages, DescribeInstanceTypeOfferings, DescribeInstanceTypes: once each.
    assert_eq!(calls_in(&proxy, "us-west-2"), 3, "a 4xx is not retried: {:?}", proxy.calls());
}

/// The first page of every call in us-west-2 is answered, every later page
/// is throttled: the whole call is unverified, the items of page 1 included.
#[test]
fn a_fault_on_page_two_only_leaves_the_whole_call_unverified() {
    let (messages, proxy) = unverified_west(
        |p| {
            p.page_size(1);
            p.fault_after_first_page("us-west-2", Fault::Throttle);
        },
        &IMPATIENT,
    );
    assert!(messages.iter().all(|m| m.contains("RequestLimitExceeded")), "{messages:#?}");
    let later = proxy.later_page_calls();
    for action in ["DescribeImages", "DescribeInstanceTypeOfferings", "DescribeInstanceTypes"] {
        let key = ("us-west-2".to_string(), action.to_string());
        // Page 1 was answered (else no page 2 was asked for); page 2 was retried, then given up.
        assert!(later.get(&key).copied().unwrap_or(0) > 1, "{action}: {later:?}");
        // The other regions read all their pages.
        let east = ("us-east-1".to_string(), action.to_string());
        assert!(later.get(&east).copied().unwrap_or(0) >= 1, "{action}: {later:?}");
    }
}

/// Throttling that clears within the attempts is retried and then passes:
/// no finding is left from the throttled attempts.
#[test]
fn throttling_that_clears_after_a_retry_passes() {
    let (_moto, proxy, fleet) = live_fleet();
    // Two of the three calls in us-west-2 are throttled once each (or one twice).
    proxy.fault("us-west-2", Fault::ThrottleFirst(2));
    let (code, json) = check(&fleet.repo, &proxy.url, &IMPATIENT);
    assert_eq!(findings(&json), vec![], "{json:#}");
    assert_eq!(code, 0);
    assert_eq!(calls_in(&proxy, "us-west-2"), 3 + 2, "two retries: {:?}", proxy.calls());
    assert_eq!(calls_in(&proxy, "us-east-1"), 3, "{:?}", proxy.calls());
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// `compile --ec2`, as the publish workflow runs it: a verified config is
/// compiled with `ec2Verified: true` and the AMIs EC2 confirmed; when
/// verification finds a problem or cannot be done, OUT stays byte for byte
/// what it was, and a new OUT is never created.
#[test]
fn compile_ec2_writes_only_what_ec2_verified() {
    let (moto, proxy, fleet) = live_fleet();
    let compile = |out: &str, flags: &[&str]| {
        let mut args = vec![
            "compile",
            ".",
            "--out",
            out,
            "--format",
            "json",
            "--ec2",
            "--ec2-endpoint",
            &proxy.url,
        ];
        args.extend_from_slice(flags);
        code_and_doc(&amiset(fleet.repo.path(), &args))
    };
    let out = fleet.repo.path().join("out");
    let (code, json) = compile("out", &[]);
    assert_eq!((code, findings(&json)), (0, vec![]), "{json:#}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["ec2Verified"], true);
    let builder: Value = serde_json::from_slice(&std::fs::read(out.join("worker-types/builder.json")).unwrap()).unwrap();
    for r in REGIONS {
        let specs = &builder["launchSpecs"][r];
        assert_eq!(specs["m5.large"]["ImageId"], fleet.amis[&(r, "hvm")].as_str(), "{r}");
        assert_eq!(specs["m6g.large"]["ImageId"], fleet.amis[&(r, "arm")].as_str(), "{r}");
    }
    let before = tree(&out);

    // EC2 cannot be asked in one region: unverified, and nothing is written.
    proxy.fault("us-west-2", Fault::Throttle);
    let (code, json) = compile("out", &IMPATIENT);
    assert_eq!(code, 1, "{json:#}");
    assert!(codes(&json).iter().any(|c| c == "ec2::unverified"), "{json:#}");
    assert!(tree(&out) == before, "OUT changed although verification failed");
    let (code, _) = compile("fresh", &IMPATIENT);
    assert_eq!(code, 1);
    assert!(
        !fleet.repo.path().join("fresh").exists(),
        "a new OUT was created although verification failed"
    );
    proxy.clear_faults("us-west-2");

    // An AMI deregistered after it was merged: found, and nothing is written.
    deregister(&moto, &fleet.amis[&("us-east-2", "hvm")], "us-east-2");
    let (code, json) = compile("out", &[]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(codes(&json), vec!["ec2::ami-not-found"], "{json:#}");
    assert!(tree(&out) == before, "OUT changed although an AMI is gone");
}

/// A snapshot taken while a region failed records the failure: checked
/// offline, what that region covers stays `ec2::unverified` (never a pass),
/// exactly as the live check says, and the other regions are verified.
#[test]
fn a_snapshot_with_failed_calls_stays_unverified_offline() {
    let (moto, proxy, fleet) = live_fleet();
    add_missing_ami(&fleet);
    proxy.fault("us-west-2", Fault::AuthFailure);
    let (live_code, live) = check(&fleet.repo, &proxy.url, &IMPATIENT);
    assert_eq!(live_code, 1);
    let snapshot = amiset(
        fleet.repo.path(),
        &[
            &[
                "ec2",
                "snapshot",
                ".",
                "--out",
                "snap.json",
                "--format",
                "json",
                "--ec2-endpoint",
                &proxy.url,
            ][..],
            &IMPATIENT,
        ]
        .concat(),
    );
    let (snap_code, snap_json) = code_and_doc(&snapshot);
    assert_eq!(snap_code, 1, "failed calls are reported: {snap_json:#}");
    assert!(
        codes(&snap_json).iter().all(|c| c == "ec2::unverified") && !codes(&snap_json).is_empty(),
        "{snap_json:#}"
    );
    drop(proxy);
    drop(moto);

    let (code, offline) = code_and_doc(&amiset(
        fleet.repo.path(),
        &["check", ".", "--format", "json", "--ec2-inventory", "snap.json"],
    ));
    assert_eq!(code, 1, "{offline:#}");
    // Same findings at the same places as the live check: us-west-2's three
    // AMIs of the set, the legacy ImageId there, and three instance types.
    assert_eq!(findings(&offline), findings(&live), "{offline:#}\nlive: {live:#}");
    let unverified: Vec<&Value> = offline["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "ec2::unverified")
        .collect();
    assert_eq!(unverified.len(), 7, "{offline:#}");
    assert!(
        unverified.iter().all(|f| f["message"].as_str().unwrap().contains("us-west-2")),
        "{offline:#}"
    );
    let others: Vec<String> = codes(&offline).into_iter().filter(|c| c != "ec2::unverified").collect();
    assert_eq!(others, vec!["ec2::ami-not-found"], "{offline:#}");
}

#[test]
fn the_overall_timeout_leaves_what_is_still_running_unverified() {
    let flags = ["--ec2-call-timeout", "60", "--ec2-timeout", "3"];
    let messages = fault_in_one_region(Fault::Slow(Duration::from_secs(30)), &flags);
    assert!(messages.iter().all(|m| m.contains("--ec2-timeout")), "{messages:#?}");
}

#[test]
fn calls_grow_with_regions_not_amis() {
    let (repo, templates) = big_fleet(&REGIONS20, 500);
    let moto = Moto::start(&templates);
    let proxy = Proxy::start(&moto.url);
    let (code, json) = check(&repo, &proxy.url, &["--ec2-timeout", "300", "--ec2-call-timeout", "60"]);
    assert_eq!(code, 0, "{json:#}");
    assert!(codes(&json).iter().all(|c| c == "ami-set::unused"), "{json:#}");
    let calls = proxy.calls();
    assert!(proxy.total_calls() <= 20 * (3 + 2), "{calls:?}");
    for r in REGIONS20 {
        let n = |a: &str| calls.get(&(r.to_string(), a.to_string())).copied().unwrap_or(0);
        assert_eq!(n("DescribeImages"), 3, "{r}: 500 AMIs in chunks of 200");
        assert_eq!(n("DescribeInstanceTypeOfferings"), 1, "{r}");
        assert_eq!(n("DescribeInstanceTypes"), 1, "{r}");
    }
}

#[test]
fn an_unreachable_endpoint_is_unverified_quickly_never_a_pass() {
    let repo = Repo::new(&policy(""));
    repo.write("ami-sets/s.toml", &entry("us-east-1", "x86_64", Some("ami-12345678"), None));
    repo.write("worker-types/w.toml", &worker(Some("s"), &["m5.large"], &[("us-east-1", None)]));
    let port = moto::free_port();
    let started = Instant::now();
    let (code, json) = check(
        &repo,
        &format!("http://127.0.0.1:{port}"),
        &["--ec2-attempts", "2", "--ec2-call-timeout", "2"],
    );
    assert_eq!(code, 1);
    assert_eq!(codes(&json), vec!["ec2::unverified", "ec2::unverified"], "{json:#}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[test]
fn a_malformed_clock_or_snapshot_is_a_tool_error() {
    let repo = Repo::new(&policy(""));
    repo.write("snap.json", "{\"format\": 7, \"regions\": {}}");
    let out = amiset(repo.path(), &["check", ".", "--ec2-inventory", "snap.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("format 7"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.write("snap.json", "{\"format\": 1, \"regions\": {}}");
    let out = common::amiset_with(
        repo.path(),
        &["check", ".", "--ec2-inventory", "snap.json"],
        &[("AMISET_NOW", "yesterday")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AMISET_NOW"));
}

#[test]
fn launch_verifier_asks_once_per_region_per_burst() {
    use amiset::ec2::client::{Ec2, Options};
    use amiset::ec2::launch::LaunchVerifier;

    let (moto, proxy, fleet) = live_fleet();
    let (config, specs) = builder_specs(&fleet);
    let now = amiset::ec2::inventory::parse_rfc3339(NOW).unwrap();
    moto::block_on(async {
        let ec2 = Ec2::connect(Options {
            endpoint: Some(proxy.url.clone()),
            ..Options::default()
        })
        .await;
        let verifier = LaunchVerifier::new(ec2, &config, Duration::from_millis(500));
        // A burst: 10 launches of every spec at once.
        let burst = specs.iter().cycle().take(60).map(|s| verifier.verify(s, now));
        let results = futures_join_all(burst).await;
        assert!(results.iter().all(Vec::is_empty), "{results:?}");
        assert_eq!(describe_images(&proxy), 3, "one DescribeImages per region: {:?}", proxy.calls());

        // Deregistered while cached: still the cached answer; after the TTL it is gone.
        deregister_async(&moto, &fleet.amis[&("us-east-1", "hvm")], "us-east-1").await;
        let east = specs
            .iter()
            .find(|s| s.region == "us-east-1" && s.instance_type == "m5.large")
            .unwrap();
        assert!(verifier.verify(east, now).await.is_empty());
        tokio::time::sleep(Duration::from_millis(600)).await;
        let found = verifier.verify(east, now).await;
        assert_eq!(
            found.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(),
            vec!["ec2::ami-not-found"]
        );
        assert_eq!(describe_images(&proxy), 4);

        // An outage is never a pass.
        proxy.fault("us-east-2", Fault::Malformed);
        let e2 = specs.iter().find(|s| s.region == "us-east-2").unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let found = verifier.verify(e2, now).await;
        assert_eq!(found.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), vec!["ec2::unverified"]);
    });
}

/// The valid fleet's config and the six launch specs of `builder` (two
/// instance types in three regions), with dummy credentials in the environment.
fn builder_specs(fleet: &Fleet) -> (amiset::Config, Vec<amiset::resolve::Resolved>) {
    let limits = amiset::Limits::default();
    let inputs = amiset::config::load::read_dir(fleet.repo.path(), &limits).expect("read config");
    let (config, report) = amiset::check::run(&inputs, &limits);
    assert_eq!(report.errors(), 0);
    let wt = &config.worker_types["builder"];
    let specs: Vec<_> = amiset::resolve::resolve_worker_type(wt, config.ami_sets.get("linux"), &amiset::resolve::Builtin)
        .into_iter()
        .map(|r| r.expect("resolves"))
        .collect();
    assert_eq!(specs.len(), 6);
    // SAFETY: nextest runs each test in its own process, and no other thread reads the environment yet.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    }
    (config, specs)
}

/// A failed DescribeImages is kept like an answer for the TTL: a burst of
/// launches during an outage asks EC2 once and is refused every time
/// (`ec2::unverified`, never a pass), the refusal outlives the outage until
/// the TTL ends, and then one new call lets the launches through.
#[test]
fn launch_verifier_caches_a_failure_as_unverified_for_the_ttl() {
    use amiset::ec2::client::{Ec2, Options};
    use amiset::ec2::launch::LaunchVerifier;

    let (_moto, proxy, fleet) = live_fleet();
    let (config, specs) = builder_specs(&fleet);
    let now = amiset::ec2::inventory::parse_rfc3339(NOW).unwrap();
    // AuthFailure is not retried, so one fetch is one call.
    proxy.fault("us-east-2", Fault::AuthFailure);
    let ttl = Duration::from_millis(1500);
    let images_in = |region: &str| {
        proxy
            .calls()
            .get(&(region.to_string(), "DescribeImages".to_string()))
            .copied()
            .unwrap_or(0)
    };
    let east2: Vec<_> = specs.iter().filter(|s| s.region == "us-east-2").collect();
    assert_eq!(east2.len(), 2);
    moto::block_on(async {
        let ec2 = Ec2::connect(Options {
            endpoint: Some(proxy.url.clone()),
            ..Options::default()
        })
        .await;
        let verifier = LaunchVerifier::new(ec2, &config, ttl);
        let unverified = |found: &Vec<amiset::Finding>| found.iter().map(|f| f.code.as_str()).collect::<Vec<_>>() == ["ec2::unverified"];
        let burst = east2.iter().cycle().take(10).map(|s| verifier.verify(s, now));
        let results = futures_join_all(burst).await;
        assert!(results.iter().all(unverified), "{results:?}");
        assert!(results[0][0].message.contains("AuthFailure"), "{:?}", results[0]);
        assert_eq!(images_in("us-east-2"), 1, "one call for the burst: {:?}", proxy.calls());

        // EC2 recovers, but the failure is still cached: refused, no new call.
        proxy.clear_faults("us-east-2");
        let found = verifier.verify(east2[0], now).await;
        assert!(unverified(&found), "a cached failure passed: {found:?}");
        assert_eq!(images_in("us-east-2"), 1, "{:?}", proxy.calls());
        // Another region is not held back by it.
        let east1 = specs.iter().find(|s| s.region == "us-east-1").unwrap();
        assert_eq!(verifier.verify(east1, now).await, vec![]);

        // After the TTL: asked again, and fit to launch.
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        let found = verifier.verify(east2[1], now).await;
        assert_eq!(found, vec![], "after the TTL");
        assert_eq!(images_in("us-east-2"), 2, "{:?}", proxy.calls());
    });
}

fn describe_images(proxy: &Proxy) -> usize {
    proxy
        .calls()
        .iter()
        .filter(|((_, a), _)| a == "DescribeImages")
        .map(|(_, n)| n)
        .sum()
}

async fn deregister_async(moto: &Moto, ami: &str, region: &str) {
    moto.client(region)
        .deregister_image()
        .image_id(ami)
        .send()
        .await
        .expect("DeregisterImage");
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = set.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("every future finished")));
    out
}

#[test]
fn progress_shows_on_a_terminal_after_a_second_and_never_otherwise() {
    let (_moto, proxy, fleet) = live_fleet();
    proxy.latency(Duration::from_millis(1200));
    let run_on_tty = |extra: &str| {
        // `script` gives the command a pseudo-terminal; its output is stdout and stderr together.
        let cmd = format!(
            "'{}' check . --format json --ec2 --ec2-endpoint {} {extra}",
            common::bin().display(),
            proxy.url
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(fleet.repo.path())
            .envs(common::EMULATOR_ENV)
            .output()
            .expect("`script` (util-linux) runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = run_on_tty("");
    assert!(shown.contains("verifying against EC2: 3/3 regions"), "{shown}");
    let quiet = run_on_tty("--quiet");
    assert!(!quiet.contains("verifying against EC2"), "{quiet}");
    assert!(quiet.contains("\"findings\""), "{quiet}");
    let piped = amiset(
        fleet.repo.path(),
        &["check", ".", "--format", "json", "--ec2", "--ec2-endpoint", &proxy.url],
    );
    assert_eq!(String::from_utf8_lossy(&piped.stderr), "");
    assert_eq!(piped.status.code(), Some(0));
}

#[test]
fn every_page_of_every_call_is_read() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    proxy.page_size(1);
    let fleet = valid_fleet(&moto);
    let (code, json) = check(&fleet.repo, &proxy.url, &[]);
    // A client that stopped after the first page would report the rest missing.
    assert_eq!(findings(&json), vec![], "{json:#}");
    assert_eq!(code, 0);
    // One call per item: 3 AMIs per region; 3 instance types in us-east-1 and
    // us-west-2 (m5.large, m6g.large, and m3.medium of `old`), 2 in us-east-2.
    let calls = proxy.calls();
    for (region, types) in [("us-east-1", 3), ("us-east-2", 2), ("us-west-2", 3)] {
        let n = |a: &str| calls.get(&(region.to_string(), a.to_string())).copied().unwrap_or(0);
        assert_eq!(n("DescribeImages"), 3, "{region}: {calls:?}");
        assert_eq!(n("DescribeInstanceTypeOfferings"), types, "{region}: {calls:?}");
        assert_eq!(n("DescribeInstanceTypes"), types, "{region}: {calls:?}");
    }
}

#[test]
fn missing_credentials_are_unverified_without_waiting_for_instance_metadata() {
    let repo = Repo::new(&policy(""));
    repo.write("ami-sets/s.toml", &entry("us-east-1", "x86_64", Some("ami-12345678"), None));
    repo.write("worker-types/w.toml", &worker(Some("s"), &["m5.large"], &[("us-east-1", None)]));
    let home = tempfile::tempdir().expect("temp home");
    let port = moto::free_port();
    let started = Instant::now();
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args([
        "check",
        ".",
        "--format",
        "json",
        "--ec2",
        "--ec2-endpoint",
        &format!("http://127.0.0.1:{port}"),
    ])
    .current_dir(repo.path())
    .env("HOME", home.path());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let (code, json) = code_and_doc(&cmd.output().expect("amiset runs"));
    assert_eq!(code, 1);
    assert_eq!(codes(&json), vec!["ec2::unverified", "ec2::unverified"], "{json:#}");
    let message = json["findings"][0]["message"].as_str().unwrap().to_lowercase();
    assert!(message.contains("credentials"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}
