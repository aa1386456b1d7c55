//! Image intake against moto's EC2 server and real Git repositories:
//! `update` takes only a build complete in every (region, arch, hvm/pv),
//! `promote` copies key by key or writes nothing, `unreferenced` never lists
//! what the work tree or the rollback window references.

#![cfg(feature = "ec2")]

mod common;
#[path = "ec2/moto.rs"]
mod moto;
#[path = "ec2/proxy.rs"]
mod proxy;

use std::path::Path;
use std::process::Output;

use moto::{MOTO_ACCOUNT, Moto, Template, copy_named};
use proxy::{Fault, Proxy};
use serde_json::Value;

const OTHER: &str = "999988887777";

/// "Now" for the binary: one day after the real clock, so that images moto
/// copies during the test are a day old, and templates (dated 2026) older.
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn amiset(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_amiset"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AMISET_NOW", now())
        .output()
        .expect("the amiset binary runs")
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}

fn t(id: &str, name: &str, virt: &'static str, arch: &'static str, created: &str) -> Template {
    Template::new(id, virt, arch).named(name).created(created)
}

/// Builds in every region (templates): A (the set's current build), B
/// (complete, to be taken), then newer builds each unacceptable for one
/// reason: C another owner, D pending, E wrong architecture, F revoked, G
/// deprecated.
fn templates() -> Vec<Template> {
    let mut out = Vec::new();
    let builds: [(&str, &str); 7] = [
        ("2026.10.01", "2026-10-01T00:00:00Z"),
        ("2026.11.01", "2026-11-01T00:00:00Z"),
        ("2026.11.10", "2026-11-10T00:00:00Z"),
        ("2026.11.11", "2026-11-11T00:00:00Z"),
        ("2026.11.12", "2026-11-12T00:00:00Z"),
        ("2026.11.13", "2026-11-13T00:00:00Z"),
        ("2026.11.14", "2026-11-14T00:00:00Z"),
    ];
    for (i, (build, created)) in builds.iter().enumerate() {
        let id = |k: u32| format!("ami-2000{i}00{k}");
        let mut x86 = t(&id(1), &format!("relops/u-{build}"), "hvm", "x86_64", created);
        let mut arm = t(&id(2), &format!("relops/u-arm-{build}"), "hvm", "arm64", created);
        let mut pv = t(&id(3), &format!("relops/u-pv-{build}"), "paravirtual", "x86_64", created);
        match i {
            2 => {
                x86 = x86.owner(OTHER);
                arm = arm.owner(OTHER);
                pv = pv.owner(OTHER);
            }
            3 => {
                x86 = x86.state("pending");
                arm = arm.state("pending");
                pv = pv.state("pending");
            }
            4 => x86 = t(&id(1), &format!("relops/u-{build}"), "hvm", "arm64", created),
            _ => {}
        }
        out.extend([x86, arm, pv]);
    }
    out.push(t("ami-30000001", "relops/y-2026.10.01", "hvm", "x86_64", "2026-10-01T00:00:00Z"));
    out
}

const POLICY: &str = "regions = [\"us-east-1\", \"us-east-2\", \"us-west-2\"]\namiOwners = [\"123456789012\"]\n\n[[revoked]]\nami = \"ami-20005001\"\nreason = \"CVE-2026-0001\"\n";

const LINUX: &str = r#"# Ubuntu, three regions
description = "Ubuntu 22.04"

[source]
name = { x86_64 = "relops/u-*", arm64 = "relops/u-arm-*", "x86_64/pv" = "relops/u-pv-*" }

[[amis]] # the primary region
region = "us-east-1"
hvm = "ami-20000001" # x86
pv = "ami-20000003"

[[amis]]
region = "us-east-1"
arch = "arm64"
hvm = "ami-20000002"

[[amis]]
region = "us-east-2"
hvm = "ami-20000001"

[[amis]]
region = "us-west-2"
hvm = "ami-20000001"
"#;

const WORKER: &str = r#"amiSetId = "linux"
maxCapacity = 2

[[instanceTypes]]
instanceType = "m5.large"

[[regions]]
region = "us-east-1"

[[regions]]
region = "us-west-2"
"#;

fn young(min_age: &str) -> String {
    format!("[source]\nname = \"relops/y-*\"\n{min_age}\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-30000001\"\n")
}

#[test]
fn update_takes_the_newest_complete_build_only() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    // G: its x86_64 image deprecated before "now".
    proxy.deprecate("ami-20006001", "2026-12-01T00:00:00Z");
    // I: the newest build, copied to two of the three regions only.
    for region in ["us-east-1", "us-east-2"] {
        copy_named(&moto, "ami-20001001", region, "relops/u-2026.12.02");
    }
    copy_named(&moto, "ami-20001002", "us-east-1", "relops/u-arm-2026.12.02");
    copy_named(&moto, "ami-20001003", "us-east-1", "relops/u-pv-2026.12.02");
    // A build a day old: taken without `minAge`, not yet with `minAge = "2d"`.
    let fresh = copy_named(&moto, "ami-30000001", "us-east-1", "relops/y-2026.12.02");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", POLICY);
    write(dir, "ami-sets/linux.toml", LINUX);
    write(dir, "ami-sets/waiting.toml", &young("minAge = \"2d\"\n"));
    write(dir, "ami-sets/eager.toml", &young(""));
    write(dir, "worker-types/linux.toml", WORKER);
    let endpoint = ["--ec2-endpoint", proxy.url.as_str()];

    // --dry-run: a diff, nothing written.
    let before = common::snapshot_tree(dir);
    let out = amiset(dir, &[&["update", "--dry-run"][..], &endpoint].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("\n-hvm = \"ami-20000001\" # x86\n-pv = \"ami-20000003\"\n+hvm = \"ami-20001001\" # x86\n"),
        "{stdout}"
    );
    assert_eq!(common::snapshot_tree(dir), before, "--dry-run wrote something");

    // The pull-request body.
    let out = amiset(dir, &[&["update", "--dry-run", "--format", "markdown"][..], &endpoint].concat());
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("### `linux`: `2026.10.01` → `2026.11.01`"), "{md}");
    assert!(
        md.contains("| us-east-1 | arm64 | hvm | `ami-20000002` | `ami-20001002` | relops/u-arm-2026.11.01 | 2026-11-01"),
        "{md}"
    );
    assert!(md.contains("#### Worker types and launch specs that change"), "{md}");
    assert!(md.contains("missing in us-west-2"), "{md}");
    assert_eq!(common::snapshot_tree(dir), before, "--format markdown --dry-run wrote something");

    let out = amiset(dir, &[&["update", "--format", "json"][..], &endpoint].concat());
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let expected = LINUX
        .replace("hvm = \"ami-20000001\"", "hvm = \"ami-20001001\"")
        .replace("pv = \"ami-20000003\"", "pv = \"ami-20001003\"")
        .replace("hvm = \"ami-20000002\"", "hvm = \"ami-20001002\"");
    assert_eq!(read(dir, "ami-sets/linux.toml"), expected);
    assert_eq!(
        read(dir, "ami-sets/waiting.toml"),
        young("minAge = \"2d\"\n"),
        "younger than minAge"
    );
    assert_eq!(read(dir, "ami-sets/eager.toml"), young("").replace("ami-30000001", &fresh));

    // Each newer build is named with the regions that lack it: all three for
    // E (wrong arch), F (revoked), G (deprecated); only us-west-2 for I.
    let messages: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "update::incomplete-build")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    let all = "us-east-1, us-east-2, us-west-2";
    let taken = "AMI set `linux` takes build `2026.11.01`: newer build";
    let mut want = vec![format!("{taken} `2026.12.02` is missing in us-west-2")];
    for build in ["2026.11.12", "2026.11.13", "2026.11.14"] {
        want.push(format!("{taken} `{build}` is missing in {all}"));
    }
    let mut got: Vec<String> = messages.iter().map(|m| m.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let sets = doc["sets"].as_array().unwrap();
    let waiting = sets.iter().find(|s| s["id"] == "waiting").unwrap();
    assert_eq!(waiting["tooYoung"], serde_json::json!(["2026.12.02"]), "{waiting:#}");

    // The result passes check; a second run changes nothing.
    assert_eq!(amiset(dir, &["check"]).status.code(), Some(0));
    let after = common::snapshot_tree(dir);
    let out = amiset(dir, &[&["update", "--exit-code"][..], &endpoint].concat());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("`linux` is on the newest complete build `2026.11.01`"), "{stdout}");
    assert_eq!(common::snapshot_tree(dir), after, "second run changed files");
}
