//! Image intake against moto's EC2 server and real Git repositories:
//! `update` takes only a build complete in every (region, arch, hvm/pv),
//! `promote` copies key by key or writes nothing, `unreferenced` never lists
//! what the work tree or the rollback window references.

mod common;
#[path = "ec2/moto.rs"]
mod moto;
#[path = "ec2/proxy.rs"]
mod proxy;

use std::path::Path;
use std::process::Output;

use common::{read, write};
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

/// Runs the real binary against the emulator, as of [`now`].
fn amiset(dir: &Path, args: &[&str]) -> Output {
    common::amiset_emulated(dir, args, &[("AMISET_NOW", &now())])
}

/// Asks moto once per region, so that its first, slow answer (it builds the
/// region's backend) is not the one the binary under test waits for.
fn warm(moto: &Moto) {
    for region in ["us-east-1", "us-east-2", "us-west-2"] {
        let c = moto.client(region);
        moto::block_on(async { c.describe_images().owners("self").send().await.expect("moto answers") });
    }
}

/// moto with `templates`, warmed up, behind the fault proxy.
fn emulator(templates: &[Template]) -> (Moto, Proxy) {
    let moto = Moto::start(templates);
    warm(&moto);
    let proxy = Proxy::start(&moto.url);
    (moto, proxy)
}

/// A policy for `regions` that trusts images of moto's account.
fn policy(regions: &[&str]) -> String {
    let regions: Vec<String> = regions.iter().map(|r| format!("\"{r}\"")).collect();
    format!("regions = [{}]\namiOwners = [\"{MOTO_ACCOUNT}\"]\n", regions.join(", "))
}

/// `update --format json` through `proxy`: the exit code and the document.
fn update(dir: &Path, proxy: &Proxy) -> (i32, Value) {
    common::code_and_doc(&amiset(dir, &["update", "--format", "json", "--ec2-endpoint", &proxy.url]))
}

/// `unreferenced` with `args` through `proxy`, one attempt a call: the exit
/// code and the document.
fn unreferenced(dir: &Path, proxy: &Proxy, args: &[&str]) -> (i32, Value) {
    let ep = ["--ec2-endpoint", proxy.url.as_str(), "--format", "json", "--ec2-attempts", "1"];
    common::code_and_doc(&amiset(dir, &[&["unreferenced"][..], args, &ep].concat()))
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
    let (moto, proxy) = emulator(&templates());
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
    let doc = common::doc(&out);
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

fn set(ami: &str, region2: &str) -> String {
    format!("[source]\nname = \"relops/u-*\"\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"{ami}\"\n{region2}")
}

#[test]
fn a_region_that_cannot_be_read_leaves_every_set_covering_it_unchanged() {
    let (_moto, proxy) = emulator(&templates());
    proxy.fault("us-west-2", Fault::Throttle);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", POLICY);
    let west = set("ami-20000001", "\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-20000001\"\n");
    write(dir, "ami-sets/west.toml", &west);
    write(dir, "ami-sets/east.toml", &set("ami-20000001", ""));
    let out = amiset(
        dir,
        &["update", "--format", "json", "--ec2-attempts", "1", "--ec2-endpoint", &proxy.url],
    );
    let doc = common::doc(&out);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(read(dir, "ami-sets/west.toml"), west, "a set covering the failed region changed");
    // Without a deprecation stamped, the newest acceptable build is G.
    assert_eq!(read(dir, "ami-sets/east.toml"), set("ami-20006001", ""));
    let unreadable: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "update::region-unreadable")
        .collect();
    assert_eq!(unreadable.len(), 1, "{doc:#}");
    assert_eq!(unreadable[0]["file"], "ami-sets/west.toml");
    assert!(
        unreadable[0]["message"]
            .as_str()
            .unwrap()
            .contains("could not be read in us-west-2"),
        "{doc:#}"
    );
    // One DescribeImages per region: the failed one and us-east-1.
    let calls = proxy.calls();
    assert_eq!(
        calls.get(&("us-east-1".to_string(), "DescribeImages".to_string())),
        Some(&1),
        "{calls:?}"
    );
}

/// Line and column of every finding with `code`.
fn at(doc: &Value, code: &str) -> Vec<(String, u64, u64)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .map(|f| {
            (
                f["file"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn malformed_sources_are_coded_findings_on_exact_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", "regions = [\"us-east-1\"]\n");
    write(
        dir,
        "ami-sets/bad.toml",
        "[source]\nname = { \"x86_64/pv\" = \"relops/u-*-*\", \"arm64/hvm\" = \"u\" }\nminAge = \"2 days\"\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-20000001\"\npv = \"ami-20000003\"\n\n[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-20000002\"\n",
    );
    write(
        dir,
        "ami-sets/keys.toml",
        "[source]\nname = { \"x86-64\" = \"v-*\" }\nowners = [\"12\"]\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-20000001\"\n",
    );
    let out = amiset(dir, &["check", "--format", "json"]);
    let doc = common::doc(&out);
    assert_eq!(out.status.code(), Some(1));
    let bad = "ami-sets/bad.toml".to_string();
    let keys = "ami-sets/keys.toml".to_string();
    assert_eq!(
        at(&doc, "source::wildcard"),
        vec![(bad.clone(), 2, 54), (bad.clone(), 2, 24)]
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
    );
    assert_eq!(at(&doc, "source::missing-pattern"), vec![(bad.clone(), 2, 1)]);
    assert_eq!(at(&doc, "source::invalid-min-age"), vec![(bad.clone(), 3, 10)]);
    assert_eq!(
        at(&doc, "source::no-owners")
            .iter()
            .map(|(f, l, _)| (f.clone(), *l))
            .collect::<Vec<_>>(),
        vec![(bad.clone(), 1)]
    );
    assert_eq!(at(&doc, "schema::unknown-key"), vec![(keys.clone(), 2, 10)]);
    assert_eq!(at(&doc, "schema::invalid-value"), vec![(keys.clone(), 3, 11)]);

    // update edits nothing in a repository like this, and needs no EC2 to
    // say so: the proxy (with nothing behind it) counts every call.
    let proxy = Proxy::start("http://127.0.0.1:9");
    let before = common::snapshot_tree(dir);
    let (code, doc) = update(dir, &proxy);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(common::snapshot_tree(dir), before);
    assert_eq!(proxy.calls(), Default::default());

    // An unknown `--set` is a usage error naming it.
    let out = amiset(dir, &["update", "--set", "bda"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no AMI set `bda`; did you mean `bad`?"), "{stderr}");
}

#[test]
fn a_set_file_that_is_not_toml_stops_update_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", POLICY);
    write(dir, "ami-sets/east.toml", &set("ami-20000001", ""));
    write(dir, "ami-sets/broken.toml", "[source\nname = \"u-*\"\n");
    let before = common::snapshot_tree(dir);
    // The endpoint is never called: the proxy counts every call.
    let proxy = Proxy::start("http://127.0.0.1:9");
    let (code, doc) = update(dir, &proxy);
    assert_eq!(proxy.calls(), Default::default());
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        at(&doc, "parse::syntax").first().map(|(f, _, _)| f.as_str()),
        Some("ami-sets/broken.toml")
    );
    assert_eq!(common::snapshot_tree(dir), before);
}

const CANARY: &str = "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-50000001\"\npv = \"ami-50000002\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-50000003\"\n\n[[amis]]\nregion = \"eu-west-1\"\nhvm = \"ami-50000009\"\n";
const PROD: &str = "# production: promoted from canary\ndescription = \"prod\"\n\n[[amis]]\nregion = \"us-west-2\" # second\nhvm = \"ami-40000003\" # keep this comment\n\n[[amis]]\nregion = \"us-east-1\"\npv = 'ami-40000002'\nhvm = \"ami-40000001\"\n";

#[test]
fn promote_copies_every_key_or_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "ami-sets/canary.toml", CANARY);
    write(dir, "ami-sets/prod.toml", PROD);
    write(
        dir,
        "ami-sets/arm.toml",
        "[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-40000009\"\n",
    );
    common::git_init_commit(dir);

    // --dry-run: the diff of the three keys prod holds, nothing written.
    let before = common::snapshot_tree(dir);
    let out = amiset(dir, &["promote", "canary", "prod", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "-hvm = \"ami-40000003\" # keep this comment\n+hvm = \"ami-50000003\" # keep this comment\n",
        "-pv = 'ami-40000002'\n-hvm = \"ami-40000001\"\n+pv = \"ami-50000002\"\n+hvm = \"ami-50000001\"\n",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("would promote 3 AMIs of `canary` into `prod`"));
    assert_eq!(common::snapshot_tree(dir), before, "--dry-run wrote something");

    let out = amiset(dir, &["promote", "canary", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let want = "# production: promoted from canary\ndescription = \"prod\"\n\n[[amis]]\nregion = \"us-west-2\" # second\nhvm = \"ami-50000003\" # keep this comment\n\n[[amis]]\nregion = \"us-east-1\"\npv = \"ami-50000002\"\nhvm = \"ami-50000001\"\n";
    assert_eq!(read(dir, "ami-sets/prod.toml"), want);
    assert_eq!(common::git(dir, &["status", "--porcelain"]), "M ami-sets/prod.toml");
    // Again: nothing to do, nothing written.
    let out = amiset(dir, &["promote", "canary", "prod"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read(dir, "ami-sets/prod.toml"), want);

    // canary has no arm64 image: nothing is written.
    let out = amiset(dir, &["promote", "canary", "arm", "--format", "json"]);
    let doc = common::doc(&out);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(at(&doc, "promote::missing-key"), vec![("ami-sets/arm.toml".to_string(), 4, 7)]);
    assert_eq!(
        read(dir, "ami-sets/arm.toml"),
        "[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-40000009\"\n"
    );

    let out = amiset(dir, &["promote", "canary", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    // A revoked AMI in canary is never promoted: refused at canary's entry, nothing written.
    write(dir, "ami-sets/prod.toml", PROD);
    write(
        dir,
        "amiset.toml",
        "[[revoked]]\nami = \"ami-50000003\"\nreason = \"CVE-2026-0001\"\n",
    );
    let out = amiset(dir, &["promote", "canary", "prod", "--format", "json"]);
    let doc = common::doc(&out);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(at(&doc, "ref::revoked-ami"), vec![("ami-sets/canary.toml".to_string(), 8, 7)]);
    assert_eq!(read(dir, "ami-sets/prod.toml"), PROD);
}

#[test]
fn promote_carries_the_worker_config_with_the_amis_and_keeps_the_rest_of_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let canary_config = "\n# pinned to the commit that built these images\n[workerConfig]\nimageBuild = \"b2\" # build id\n\n[workerConfig.bootstrap]\nscript = \"https://example.com/b2/bootstrap.sh\"\nsizes = [1, 2]\n";
    write(dir, "ami-sets/canary.toml", &format!("{CANARY}{canary_config}"));
    // prod: an older worker config between its entries, and a trailing comment.
    let prod = "# production\ndescription = \"prod\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-40000003\"\n\n[workerConfig]\nimageBuild = \"b1\"\nold = true\n\n[workerConfig.bootstrap]\nscript = \"https://example.com/b1/bootstrap.sh\"\n\n[[amis]]\nregion = \"us-east-1\"\npv = \"ami-40000002\"\nhvm = \"ami-40000001\"\n# end\n";
    write(dir, "ami-sets/prod.toml", prod);
    // none: no worker config yet.
    write(
        dir,
        "ami-sets/none.toml",
        "description = \"none\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-40000003\"\n",
    );
    common::git_init_commit(dir);

    let out = amiset(dir, &["promote", "canary", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // FROM's tables take the place of TO's, with FROM's text and comments.
    let want = "# production\ndescription = \"prod\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-50000003\"\n\n# pinned to the commit that built these images\n[workerConfig]\nimageBuild = \"b2\" # build id\n\n[workerConfig.bootstrap]\nscript = \"https://example.com/b2/bootstrap.sh\"\nsizes = [1, 2]\n\n[[amis]]\nregion = \"us-east-1\"\npv = \"ami-50000002\"\nhvm = \"ami-50000001\"\n# end\n";
    assert_eq!(read(dir, "ami-sets/prod.toml"), want);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("and the worker config"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Only the worker config differs: it is still copied; after the last table when TO had none.
    let out = amiset(dir, &["promote", "canary", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let want_none = format!("description = \"none\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-50000003\"\n{canary_config}");
    assert_eq!(read(dir, "ami-sets/none.toml"), want_none);
    // Both sets still check, and hold canary's worker config.
    let check = amiset(dir, &["check", ".", "--format", "json"]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));

    // FROM without a worker config takes TO's away.
    write(
        dir,
        "ami-sets/bare.toml",
        "[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-60000003\"\n",
    );
    let out = amiset(dir, &["promote", "bare", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        read(dir, "ami-sets/none.toml"),
        "description = \"none\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-60000003\"\n"
    );
}

fn images(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["region"].as_str().unwrap().to_string(), i["id"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

fn both(ids: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ["us-east-1", "us-west-2"]
        .iter()
        .flat_map(|r| ids.iter().map(move |i| (r.to_string(), i.to_string())))
        .collect();
    out.sort();
    out
}

#[test]
fn unreferenced_never_lists_what_the_work_tree_or_the_rollback_window_references() {
    let mut list: Vec<Template> = (1..=4).map(|i| Template::new(format!("ami-4000000{i}"), "hvm", "x86_64")).collect();
    list.push(Template::new("ami-40000005", "hvm", "x86_64").owner(OTHER));
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let set = |ami: &str| format!("[[amis]]\nregion = \"us-east-1\"\nhvm = \"{ami}\"\n");
    write(&dir, "amiset.toml", &policy(&["us-east-1", "us-west-2"]));
    write(&dir, "ami-sets/base.toml", &set("ami-40000001"));
    common::git_init_commit(&dir);
    for (ami, file) in [
        ("ami-40000002", "ami-sets/base.toml"),
        ("", "README"),
        ("ami-40000003", "ami-sets/base.toml"),
    ] {
        if ami.is_empty() {
            write(&dir, file, "not config\n");
        } else {
            write(&dir, file, &set(ami));
        }
        common::git(&dir, &["add", "-A"]);
        common::git(&dir, &["commit", "-q", "-m", "next"]);
    }
    // Not committed yet: the work tree counts too.
    write(&dir, "ami-sets/base.toml", &set("ami-40000004"));
    let run = |dir: &Path, extra: &[&str]| unreferenced(dir, &proxy, extra);
    let (code, doc) = run(&dir, &["--keep-revisions", "2"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        images(&doc),
        both(&["ami-40000001"]),
        "the README commit does not count; other owners never"
    );
    assert_eq!(images(&run(&dir, &["--keep-revisions", "3"]).1), both(&[]));
    assert_eq!(
        images(&run(&dir, &["--keep-revisions", "0"]).1),
        both(&["ami-40000001", "ami-40000002", "ami-40000003"])
    );

    // A bare repository: HEAD stands for the work tree, plus the window.
    let bare = tmp.path().join("bare.git");
    common::git(
        tmp.path(),
        &["clone", "-q", "--bare", dir.to_str().unwrap(), bare.to_str().unwrap()],
    );
    assert_eq!(
        images(&run(&bare, &["--keep-revisions", "1"]).1),
        both(&["ami-40000001", "ami-40000002", "ami-40000004"])
    );

    // --deregister goes on past a region that fails, and leaves referenced images alone.
    proxy.fault("us-west-2", Fault::Throttle);
    let (code, doc) = run(&bare, &["--keep-revisions", "1", "--deregister"]);
    assert_eq!(code, 1, "{doc:#}");
    let done: Vec<&str> = doc["deregister"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(done, vec!["deregistered"; 3], "{doc:#}");
    proxy.fault("us-west-2", Fault::Slow(std::time::Duration::ZERO));
    // With no window, what HEAD references (ami-40000003) is still never listed.
    let left = images(&run(&bare, &["--keep-revisions", "0"]).1);
    let want: Vec<(String, String)> = both(&["ami-40000001", "ami-40000002", "ami-40000004"])
        .into_iter()
        .filter(|(r, _)| r == "us-west-2")
        .collect();
    assert_eq!(left, want);
}

/// A DeregisterImage call that fails is reported on its image and in a
/// finding (exit 1), and the calls after it, in its region and the next,
/// still go ahead.
#[test]
fn deregister_goes_on_past_a_call_that_fails() {
    let list: Vec<Template> = (1..=3).map(|i| Template::new(format!("ami-5000000{i}"), "hvm", "x86_64")).collect();
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    write(&dir, "amiset.toml", &policy(&["us-east-1", "us-west-2"]));
    write(
        &dir,
        "ami-sets/base.toml",
        "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-50000001\"\n",
    );
    common::git_init_commit(&dir);
    let run = |extra: &[&str]| unreferenced(&dir, &proxy, &[&["--keep-revisions", "0"][..], extra].concat());
    assert_eq!(images(&run(&[]).1), both(&["ami-50000002", "ami-50000003"]));

    // us-east-1 comes first, and every DeregisterImage there fails.
    proxy.fault_action("us-east-1", "DeregisterImage", Fault::AuthFailure);
    let (code, doc) = run(&["--deregister"]);
    assert_eq!(code, 1, "{doc:#}");
    let outcomes: Vec<(String, String, bool)> = doc["deregister"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let result = o["result"].as_str().unwrap();
            assert!(result == "deregistered" || result.starts_with("failed: "), "{result}");
            (
                o["region"].as_str().unwrap().into(),
                o["id"].as_str().unwrap().into(),
                result == "deregistered",
            )
        })
        .collect();
    let expected: Vec<(String, String, bool)> = both(&["ami-50000002", "ami-50000003"])
        .into_iter()
        .map(|(r, id)| (r.clone(), id, r == "us-west-2"))
        .collect();
    assert_eq!(outcomes, expected);
    assert_eq!(common::codes(&doc), ["unreferenced::deregister-failed"; 2], "{doc:#}");
    let failed: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unreferenced::deregister-failed")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 2, "{doc:#}");
    assert!(
        !doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "update::region-unreadable"),
        "a failed call is not an unreadable region: {doc:#}"
    );
    assert!(failed.iter().all(|m| m.contains("us-east-1")), "{failed:?}");

    // What EC2 now holds: the failed ones are still there, the others are gone.
    proxy.clear_faults("us-east-1");
    let (code, doc) = run(&[]);
    assert_eq!(code, 0, "{doc:#}");
    let mut left = both(&["ami-50000002", "ami-50000003"]);
    left.retain(|(r, _)| r == "us-east-1");
    assert_eq!(images(&doc), left);
}

/// Runs `git` in `dir` with its dates at `secs` seconds after a fixed day,
/// so that the order of commits in time is the test's choice.
fn git_at(dir: &Path, secs: u64, args: &[&str]) {
    common::git_at(dir, &format!("@{} +0000", 1_767_225_600 + secs), args);
}

/// The rollback window is the revisions main had: first parents only. A
/// side branch whose commits are newer than main's last revision before the
/// merge must not push that revision out of the window.
#[test]
fn unreferenced_follows_first_parents_only() {
    let list: Vec<Template> = (1..=5).map(|i| Template::new(format!("ami-6000000{i}"), "hvm", "x86_64")).collect();
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let set = |ami: &str| format!("[[amis]]\nregion = \"us-east-1\"\nhvm = \"{ami}\"\n");
    let commit = |secs: u64, file: &str, ami: &str| {
        write(&dir, file, &set(ami));
        git_at(&dir, secs, &["add", "-A"]);
        git_at(&dir, secs, &["commit", "-q", "-m", ami]);
    };
    write(&dir, "amiset.toml", &policy(&["us-east-1"]));
    git_at(&dir, 0, &["init", "-q", "-b", "main"]);
    // main: base = 1, then base = 2.
    commit(10, "ami-sets/base.toml", "ami-60000001");
    commit(20, "ami-sets/base.toml", "ami-60000002");
    // A side branch from there moves base twice (a canary, say), later in
    // time than main's next revision.
    git_at(&dir, 25, &["checkout", "-q", "-b", "side"]);
    commit(40, "ami-sets/base.toml", "ami-60000004");
    commit(50, "ami-sets/base.toml", "ami-60000005");
    // main meanwhile adds another set: its revision before the merge runs base 2.
    git_at(&dir, 30, &["checkout", "-q", "main"]);
    commit(30, "ami-sets/other.toml", "ami-60000003");
    git_at(&dir, 60, &["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    // main's revisions, newest first: the merge (base 5, other 3), other 3
    // (base 2), base 2, base 1. The side's commits were never main's.
    let log = common::git(&dir, &["log", "--format=%s", "--first-parent"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["merge side", "ami-60000003", "ami-60000002", "ami-60000001"]
    );
    // In time order the side's commits come between the merge and main's last revision.
    let by_time = common::git(&dir, &["log", "--format=%s", "--date-order"]);
    assert_eq!(by_time.lines().nth(1), Some("ami-60000005"));

    let listed = |n: &str| {
        let (code, doc) = unreferenced(&dir, &proxy, &["--keep-revisions", n]);
        assert_eq!(code, 0, "{doc:#}");
        let mut ids: Vec<String> = images(&doc).into_iter().map(|(_, id)| id).collect();
        ids.sort();
        ids
    };
    let ids = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Window 2: the merge and main's revision before it, which ran base 2:
    // ami-60000002 is what main used one revision ago, and stays.
    assert_eq!(listed("2"), ids(&["ami-60000001", "ami-60000004"]));
    assert_eq!(listed("3"), ids(&["ami-60000001", "ami-60000004"]));
    assert_eq!(listed("4"), ids(&["ami-60000004"]));
    assert_eq!(listed("9"), ids(&["ami-60000004"]));
}

/// A file over the size limit still counts as a reference: it is read in
/// pieces instead of skipped.
#[test]
fn unreferenced_counts_files_over_the_size_limit() {
    let list: Vec<Template> = (1..=3).map(|i| Template::new(format!("ami-7000000{i}"), "hvm", "x86_64")).collect();
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", &policy(&["us-east-1"]));
    write(
        dir,
        "ami-sets/small.toml",
        "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-70000001\"\n",
    );
    // 200 KiB of comment, then the reference: over a 64 KiB limit, and
    // across more than one piece of the streaming read.
    let big = format!(
        "{}[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-70000002\"\n",
        "# padding padding padding padding padding padding padding padding\n".repeat(3200)
    );
    assert!(big.len() > 200_000);
    write(dir, "ami-sets/big.toml", &big);
    let out = amiset(
        dir,
        &[
            "unreferenced",
            "--keep-revisions",
            "0",
            "--max-file-size",
            "65536",
            "--ec2-endpoint",
            &proxy.url,
            "--format",
            "json",
        ],
    );
    let doc = common::doc(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(images(&doc), vec![("us-east-1".to_string(), "ami-70000003".to_string())], "{doc:#}");

    // Past the file count limit nothing is listed: an unread file may hold a reference.
    let out = amiset(
        dir,
        &[
            "unreferenced",
            "--keep-revisions",
            "0",
            "--max-files",
            "1",
            "--ec2-endpoint",
            &proxy.url,
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stdout(&out).is_empty(), "nothing listed: {}", common::stdout(&out));
    assert!(common::stderr(&out).contains("raise `--max-files`"), "{}", common::stderr(&out));
}

/// `update` asks each region once with the union of every set's owners; a
/// set takes only images of its own owners. Set `a` (owner: moto's account)
/// and set `b` (owner: OTHER) both match `relops/a-*` images, and OTHER
/// published a newer `relops/a-*` build: `a` must not take it.
#[test]
fn update_takes_only_images_of_the_sets_own_owners() {
    let list = vec![
        t("ami-80000001", "relops/a-2026.10.01", "hvm", "x86_64", "2026-10-01T00:00:00Z"),
        t("ami-80000002", "relops/a-2026.11.01", "hvm", "x86_64", "2026-11-01T00:00:00Z"),
        t("ami-80000003", "relops/a-2026.11.20", "hvm", "x86_64", "2026-11-20T00:00:00Z").owner(OTHER),
        t("ami-80000004", "relops/b-2026.10.01", "hvm", "x86_64", "2026-10-01T00:00:00Z").owner(OTHER),
    ];
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "amiset.toml",
        &format!("regions = [\"us-east-1\"]\namiOwners = [\"{MOTO_ACCOUNT}\", \"{OTHER}\"]\n"),
    );
    let a = |ami: &str| {
        format!("[source]\nname = \"relops/a-*\"\nowners = [\"{MOTO_ACCOUNT}\"]\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"{ami}\"\n")
    };
    let b = |ami: &str| {
        format!("[source]\nname = \"relops/b-*\"\nowners = [\"{OTHER}\"]\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"{ami}\"\n")
    };
    write(dir, "ami-sets/a.toml", &a("ami-80000001"));
    write(dir, "ami-sets/b.toml", &b("ami-80000004"));
    // One image per page: every page counts.
    proxy.page_size(1);
    let (code, doc) = update(dir, &proxy);
    assert_eq!(code, 0, "{doc:#}");
    // One query for the region, carrying both owners and both patterns: the
    // four images on four pages.
    let key = ("us-east-1".to_string(), "DescribeImages".to_string());
    assert_eq!(proxy.calls().get(&key), Some(&4), "{:?}", proxy.calls());
    assert_eq!(proxy.later_page_calls().get(&key), Some(&3));
    assert_eq!(read(dir, "ami-sets/a.toml"), a("ami-80000002"), "{doc:#}");
    assert_eq!(read(dir, "ami-sets/b.toml"), b("ami-80000004"));
}

/// A set file with CRLF line endings (a Windows checkout) is updated in
/// place and keeps them: only the ids change.
#[test]
fn update_keeps_crlf_line_endings() {
    let list = vec![
        t("ami-90000001", "relops/c-2026.10.01", "hvm", "x86_64", "2026-10-01T00:00:00Z"),
        t("ami-90000002", "relops/c-2026.11.01", "hvm", "x86_64", "2026-11-01T00:00:00Z"),
    ];
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", &policy(&["us-east-1"]));
    let text = |ami: &str| {
        format!(
            "# canary\r\n[source]\r\nname = \"relops/c-*\"\r\n\r\n[[amis]]\r\nregion = \"us-east-1\" # east\r\nhvm = \"{ami}\" # x86\r\n"
        )
    };
    write(dir, "ami-sets/crlf.toml", &text("ami-90000001"));
    let (code, doc) = update(dir, &proxy);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(read(dir, "ami-sets/crlf.toml"), text("ami-90000002"));
}

/// EC2 takes at most 200 values per filter: 201 name patterns in a region
/// are two DescribeImages queries, and a set whose pattern is in the second
/// is updated like the others.
#[test]
fn update_beyond_200_name_patterns_asks_in_two_queries() {
    let list = vec![
        t("ami-a0000001", "relops/p200-2026.10.01", "hvm", "x86_64", "2026-10-01T00:00:00Z"),
        t("ami-a0000002", "relops/p200-2026.11.01", "hvm", "x86_64", "2026-11-01T00:00:00Z"),
    ];
    let (_moto, proxy) = emulator(&list);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "amiset.toml", &policy(&["us-east-1"]));
    let set = |n: usize, ami: &str| format!("[source]\nname = \"relops/p{n:03}-*\"\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"{ami}\"\n");
    for n in 0..=200 {
        write(dir, &format!("ami-sets/p{n:03}.toml"), &set(n, "ami-a0000001"));
    }
    let before = common::snapshot_tree(dir);
    let (code, doc) = update(dir, &proxy);
    assert_eq!(code, 0, "{}", doc["findings"]);
    let key = ("us-east-1".to_string(), "DescribeImages".to_string());
    assert_eq!(proxy.calls().get(&key), Some(&2), "{:?}", proxy.calls());
    assert_eq!(read(dir, "ami-sets/p200.toml"), set(200, "ami-a0000002"));
    let mut after = common::snapshot_tree(dir);
    after.insert("ami-sets/p200.toml".into(), before["ami-sets/p200.toml"].clone());
    assert_eq!(after, before, "only p200 changes");
}
