//! `amiset apply launch-templates` and `amiset drift` against moto's EC2
//! server, through the call-counting, fault-injecting proxy: creation, no
//! writing call when nothing changed, new versions only where a set changed,
//! untagged templates left alone, `--prune`, a failing region and the rerun
//! that converges, and drift after instances were launched from an old version.

mod common;
#[path = "ec2/fleet.rs"]
mod fleet;
#[path = "ec2/moto.rs"]
mod moto;
#[path = "ec2/proxy.rs"]
mod proxy;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ec2::types::{LaunchTemplateSpecification, ResourceType, Tag, TagSpecification};
use common::codes;
use fleet::Repo;
use moto::{Moto, Template, block_on};
use proxy::{Fault, Proxy};
use serde_json::Value;

const OLD: &str = "ami-10000001";
const NEW: &str = "ami-10000002";
const OTHER: &str = "ami-10000003";
const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];
/// The calls that change EC2.
const WRITES: [&str; 5] = [
    "CreateLaunchTemplate",
    "CreateLaunchTemplateVersion",
    "ModifyLaunchTemplate",
    "DeleteLaunchTemplate",
    "CreateTags",
];

fn templates() -> Vec<Template> {
    [OLD, NEW, OTHER].iter().map(|id| Template::new(*id, "hvm", "x86_64")).collect()
}

/// Runs the real binary against the emulator with `--format json`, one
/// attempt a call: the exit code and the document.
fn run(dir: &Path, args: &[&str]) -> (i32, Value) {
    let fixed = ["--format", "json", "--ec2-attempts", "1", "--ec2-call-timeout", "20"];
    common::code_and_doc(&common::amiset_emulated(dir, &[args, &fixed].concat(), &[]))
}

fn apply(repo: &Repo, endpoint: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["apply", "launch-templates", ".", "--ec2-endpoint", endpoint];
    args.extend_from_slice(extra);
    run(repo.path(), &args)
}

/// (region, template, action) of every step.
fn steps(doc: &Value) -> Vec<(String, String, String)> {
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["region"].as_str().unwrap().to_string(),
                s["template"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Writing calls seen by the proxy, by (region, action).
fn writes(proxy: &Proxy) -> BTreeMap<(String, String), usize> {
    proxy
        .calls()
        .into_iter()
        .filter(|((_, a), _)| WRITES.contains(&a.as_str()))
        .collect()
}

fn count(proxy: &Proxy, action: &str) -> usize {
    proxy.calls().iter().filter(|((_, a), _)| a == action).map(|(_, n)| n).sum()
}

/// Worker types `web-a` (m5.large and c5.large with the same spec: one template),
/// `web-b` (its own set) and `web-c` (c5.large differs: two templates), in both regions.
fn fleet() -> Repo {
    let repo = Repo::new("regions = [\"us-east-1\", \"us-west-2\"]\nlegacyImageIds = \"allow\"\n");
    set(&repo, "set-a", OLD);
    set(&repo, "set-b", OTHER);
    let regions = "\n[[regions]]\nregion = \"us-east-1\"\n\n[[regions]]\nregion = \"us-west-2\"\n";
    repo.write(
        "worker-types/web-a.toml",
        &format!("amiSetId = \"set-a\"\nmaxCapacity = 5\n\n[launchSpec]\nKeyName = \"ci\"\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[instanceTypes]]\ninstanceType = \"c5.large\"\n{regions}"),
    );
    repo.write(
        "worker-types/web-b.toml",
        &format!("amiSetId = \"set-b\"\nmaxCapacity = 5\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n{regions}"),
    );
    repo.write(
        "worker-types/web-c.toml",
        &format!("amiSetId = \"set-b\"\nmaxCapacity = 5\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[instanceTypes]]\ninstanceType = \"c5.large\"\nlaunchSpec = {{ EbsOptimized = true }}\n{regions}"),
    );
    repo
}

fn set(repo: &Repo, id: &str, ami: &str) {
    let text: String = REGIONS.iter().map(|r| fleet::entry(r, "x86_64", Some(ami), None)).collect();
    repo.write(&format!("ami-sets/{id}.toml"), &text);
}

/// A template as moto has it: (tags, default version number, the default version's data).
struct Seen {
    id: String,
    tags: BTreeMap<String, String>,
    default_version: i64,
    image: Option<String>,
    instance_type: Option<String>,
    ebs_optimized: Option<bool>,
}

fn describe(moto: &Moto, region: &str) -> BTreeMap<String, Seen> {
    let c = moto.client(region);
    block_on(async {
        let mut out = BTreeMap::new();
        let list = c
            .describe_launch_templates()
            .max_results(200)
            .send()
            .await
            .expect("DescribeLaunchTemplates");
        for t in list.launch_templates() {
            let id = t.launch_template_id().unwrap();
            let v = c
                .describe_launch_template_versions()
                .launch_template_id(id)
                .versions("$Default")
                .send()
                .await
                .expect("DescribeLaunchTemplateVersions");
            let data = v.launch_template_versions()[0].launch_template_data().cloned();
            out.insert(
                t.launch_template_name().unwrap().to_string(),
                Seen {
                    id: id.to_string(),
                    tags: t
                        .tags()
                        .iter()
                        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                        .collect(),
                    default_version: t.default_version_number().unwrap(),
                    image: data.as_ref().and_then(|d| d.image_id().map(str::to_string)),
                    instance_type: data.as_ref().and_then(|d| d.instance_type().map(|t| t.as_str().to_string())),
                    ebs_optimized: data.as_ref().and_then(|d| d.ebs_optimized()),
                },
            );
        }
        out
    })
}

fn all_steps(action: &str, names: &[&str]) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = REGIONS
        .iter()
        .flat_map(|r| names.iter().map(move |n| (r.to_string(), n.to_string(), action.to_string())))
        .collect();
    v.sort();
    v
}

#[test]
fn apply_creates_then_writes_nothing_then_versions_only_the_changed_templates() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    let names = ["web-a", "web-b", "web-c", "web-c/c5.large"];

    // The dry run plans four creations per region and writes nothing.
    let (code, plan) = apply(&repo, &proxy.url, &["--dry-run"]);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(steps(&plan), all_steps("create", &names));
    assert!(writes(&proxy).is_empty(), "{:?}", writes(&proxy));

    // Apply does exactly what the dry run printed.
    let (code, done) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(steps(&done), steps(&plan));
    assert_eq!(count(&proxy, "CreateLaunchTemplate"), 8);
    for region in REGIONS {
        let seen = describe(&moto, region);
        assert_eq!(seen.keys().collect::<Vec<_>>(), names.iter().collect::<Vec<_>>());
        assert_eq!(seen["web-a"].tags.get("amiset:worker-type").map(String::as_str), Some("web-a"));
        assert!(seen["web-a"].tags.contains_key("amiset:source-commit"));
        assert_eq!(seen["web-a"].image.as_deref(), Some(OLD));
        // One template for both instance types of `web-a`: no InstanceType in it.
        assert_eq!(seen["web-a"].instance_type, None);
        assert_eq!(seen["web-b"].image.as_deref(), Some(OTHER));
        assert_eq!(seen["web-c"].instance_type.as_deref(), Some("m5.large"));
        assert_eq!(seen["web-c/c5.large"].instance_type.as_deref(), Some("c5.large"));
        assert_eq!(seen["web-c/c5.large"].ebs_optimized, Some(true));
        assert_eq!(
            seen["web-c/c5.large"].tags.get("amiset:worker-type").map(String::as_str),
            Some("web-c")
        );
    }

    // Nothing changed: no writing call, and reads grow with regions (3 per
    // region at most); the `amiset:default-version` tag vouches for every
    // default version, so no version is read.
    proxy.reset_counts();
    let (code, again) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(steps(&again), all_steps("unchanged", &names));
    assert!(writes(&proxy).is_empty(), "{:?}", writes(&proxy));
    assert_eq!(count(&proxy, "DescribeLaunchTemplateVersions"), 0, "{:?}", proxy.calls());
    for region in REGIONS {
        let reads: usize = proxy.calls().iter().filter(|((r, _), _)| r == region).map(|(_, n)| n).sum();
        assert!(reads <= 3, "{region}: {:?}", proxy.calls());
    }

    // Set A moves to NEW: only `web-a`'s templates get a new default version.
    set(&repo, "set-a", NEW);
    proxy.reset_counts();
    let (code, plan) = apply(&repo, &proxy.url, &["--dry-run"]);
    assert_eq!(code, 0);
    let mut expected = all_steps("unchanged", &["web-b", "web-c", "web-c/c5.large"]);
    expected.extend(all_steps("new-version", &["web-a"]));
    expected.sort();
    let mut planned = steps(&plan);
    planned.sort();
    assert_eq!(planned, expected);
    assert!(writes(&proxy).is_empty());
    let (code, done) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(steps(&done), steps(&plan));
    for region in REGIONS {
        let w = writes(&proxy);
        assert_eq!(
            w.get(&(region.to_string(), "CreateLaunchTemplateVersion".to_string())),
            Some(&1),
            "{w:?}"
        );
        assert_eq!(w.get(&(region.to_string(), "ModifyLaunchTemplate".to_string())), Some(&1), "{w:?}");
        assert_eq!(w.get(&(region.to_string(), "CreateLaunchTemplate".to_string())), None);
        let seen = describe(&moto, region);
        assert_eq!(seen["web-a"].default_version, 2);
        assert_eq!(seen["web-a"].image.as_deref(), Some(NEW));
        assert_eq!(seen["web-b"].default_version, 1);
    }

    // `web-a`'s default switched back to version 1 by hand: the tag names version
    // 2, so apply reads the versions, finds the config's data in the latest
    // one and makes it the default again, without a new version.
    for region in REGIONS {
        let id = describe(&moto, region)["web-a"].id.clone();
        block_on(async {
            moto.client(region)
                .modify_launch_template()
                .launch_template_id(id)
                .default_version("1")
                .send()
                .await
                .expect("ModifyLaunchTemplate")
        });
        assert_eq!(describe(&moto, region)["web-a"].image.as_deref(), Some(OLD));
    }
    proxy.reset_counts();
    let (code, done) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{done:#}");
    let mut expected = all_steps("unchanged", &["web-b", "web-c", "web-c/c5.large"]);
    expected.extend(all_steps("set-default", &["web-a"]));
    expected.sort();
    let mut got = steps(&done);
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(count(&proxy, "CreateLaunchTemplateVersion"), 0);
    for region in REGIONS {
        let seen = describe(&moto, region);
        assert_eq!((seen["web-a"].default_version, seen["web-a"].image.as_deref()), (2, Some(NEW)));
    }
}

#[test]
fn an_untagged_template_with_the_same_name_is_never_touched() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    let c = moto.client("us-east-1");
    block_on(async {
        c.create_launch_template()
            .launch_template_name("web-b")
            .launch_template_data(aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(OTHER).build())
            .send()
            .await
            .expect("CreateLaunchTemplate")
    });
    let (code, doc) = apply(&repo, &proxy.url, &["--prune"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["launch-template::unmanaged"], "{doc:#}");
    assert!(steps(&doc).contains(&("us-east-1".into(), "web-b".into(), "conflict".into())));
    assert!(steps(&doc).contains(&("us-west-2".into(), "web-b".into(), "create".into())));
    let seen = describe(&moto, "us-east-1");
    assert!(seen["web-b"].tags.is_empty(), "the foreign template gained tags");
    assert_eq!(seen["web-b"].default_version, 1);
    assert_eq!(count(&proxy, "CreateLaunchTemplate"), 7, "everything else was created");
    // A second run still leaves it alone, and changes nothing else.
    proxy.reset_counts();
    let (code, doc) = apply(&repo, &proxy.url, &["--prune"]);
    assert_eq!(code, 1);
    assert!(writes(&proxy).is_empty(), "{doc:#}");
}

#[test]
fn templates_of_a_removed_worker_type_are_deleted_only_with_prune() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    assert_eq!(apply(&repo, &proxy.url, &[]).0, 0);
    std::fs::remove_file(repo.path().join("worker-types/web-c.toml")).unwrap();
    proxy.reset_counts();
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let stale: Vec<_> = steps(&doc).into_iter().filter(|s| s.2 == "stale").collect();
    assert_eq!(stale, all_steps("stale", &["web-c", "web-c/c5.large"]));
    assert!(writes(&proxy).is_empty());
    assert!(describe(&moto, "us-east-1").contains_key("web-c"));

    let (code, doc) = apply(&repo, &proxy.url, &["--prune"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(count(&proxy, "DeleteLaunchTemplate"), 4);
    for region in REGIONS {
        let names: Vec<String> = describe(&moto, region).into_keys().collect();
        assert_eq!(names, ["web-a", "web-b"]);
    }
}

#[test]
fn a_failing_region_is_reported_the_others_apply_and_a_rerun_converges() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    proxy.fault("us-west-2", Fault::Throttle);
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["launch-template::failed"], "{doc:#}");
    assert_eq!(doc["failedRegions"][0]["region"], "us-west-2");
    assert_eq!(describe(&moto, "us-east-1").len(), 4);
    assert!(describe(&moto, "us-west-2").is_empty());

    proxy.clear_faults("us-west-2");
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let mut expected = all_steps("create", &["web-a", "web-b", "web-c", "web-c/c5.large"]);
    expected.retain(|s| s.0 == "us-west-2");
    let mut unchanged = all_steps("unchanged", &["web-a", "web-b", "web-c", "web-c/c5.large"]);
    unchanged.retain(|s| s.0 == "us-east-1");
    expected.extend(unchanged);
    expected.sort();
    assert_eq!(steps(&doc), expected);
    assert_eq!(describe(&moto, "us-west-2").len(), 4);
}

fn launch(moto: &Moto, region: &str, template: &str, worker_type: &str, instance_type: &str, n: i32) {
    let c = moto.client(region);
    block_on(async {
        c.run_instances()
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(template)
                    .version("$Default")
                    .build(),
            )
            .instance_type(instance_type.into())
            .min_count(n)
            .max_count(n)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(Tag::builder().key("amiset:worker-type").value(worker_type).build())
                    .build(),
            )
            .send()
            .await
            .expect("RunInstances")
    });
}

/// The drift row of (worker type, region, instance type).
fn row<'a>(doc: &'a Value, w: &str, region: &str, itype: &str) -> &'a Value {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workerType"] == w && r["region"] == region && r["instanceType"] == itype)
        .unwrap_or_else(|| panic!("no row {w} {region} {itype}: {doc:#}"))
}

#[test]
fn drift_counts_instances_from_an_old_version_and_flags_revoked_and_unknown_ones() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    assert_eq!(apply(&repo, &proxy.url, &[]).0, 0);
    launch(&moto, "us-east-1", "web-a", "web-a", "m5.large", 2);
    set(&repo, "set-a", NEW);
    assert_eq!(apply(&repo, &proxy.url, &[]).0, 0);
    launch(&moto, "us-east-1", "web-a", "web-a", "m5.large", 1);
    launch(&moto, "us-west-2", "web-b", "web-b", "m5.large", 1);
    // `web-b` does not list c5.large.
    launch(&moto, "us-west-2", "web-b", "web-b", "c5.large", 1);

    let (code, doc) = run(repo.path(), &["drift", ".", "--ec2-endpoint", &proxy.url]);
    assert_eq!(code, 0, "drift alone is not an error: {doc:#}");
    let a = row(&doc, "web-a", "us-east-1", "m5.large");
    assert_eq!(a["desiredImageId"], NEW);
    assert_eq!(a["running"], serde_json::json!({OLD: 2, NEW: 1}));
    assert_eq!(a["drifted"], true);
    let b = row(&doc, "web-b", "us-west-2", "m5.large");
    assert_eq!(b["running"], serde_json::json!({OTHER: 1}));
    assert_eq!(b["drifted"], false);
    assert_eq!(row(&doc, "web-a", "us-west-2", "c5.large")["running"], serde_json::json!({}));
    let mut found = codes(&doc);
    found.sort();
    assert_eq!(found, ["drift::image", "drift::unexpected-instance"], "{doc:#}");
    let unexpected = row(&doc, "web-b", "us-west-2", "c5.large");
    assert_eq!(unexpected["desiredImageId"], Value::Null);
    assert_eq!(unexpected["running"], serde_json::json!({OTHER: 1}));
    assert_eq!(doc["summary"]["instances"], 5);

    let (code, _) = run(repo.path(), &["drift", ".", "--ec2-endpoint", &proxy.url, "--exit-code"]);
    assert_eq!(code, 1, "--exit-code fails on drift");

    // The old AMI is revoked, and an instance carries a worker type the config lacks.
    let policy = repo.read("amiset.toml");
    repo.write(
        "amiset.toml",
        &format!("{policy}\n[[revoked]]\nami = \"{OLD}\"\nreason = \"CVE-2026-0001\"\n"),
    );
    launch(&moto, "us-east-1", "web-b", "ghost", "m5.large", 1);
    let (code, doc) = run(repo.path(), &["drift", ".", "--ec2-endpoint", &proxy.url]);
    assert_eq!(code, 1, "{doc:#}");
    let mut found = codes(&doc);
    found.sort();
    assert_eq!(
        found,
        [
            "drift::image",
            "drift::revoked-ami",
            "drift::unexpected-instance",
            "drift::unknown-worker-type"
        ],
        "{doc:#}"
    );
    let revoked = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "drift::revoked-ami")
        .unwrap();
    assert!(revoked["message"].as_str().unwrap().contains("CVE-2026-0001"));
    assert_eq!(revoked["file"], "worker-types/web-a.toml");
    assert_eq!(row(&doc, "ghost", "us-east-1", "m5.large")["desiredImageId"], Value::Null);
}

#[test]
fn a_key_launch_template_data_cannot_hold_leaves_that_worker_type_alone() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    let text = repo.read("worker-types/web-b.toml");
    repo.write(
        "worker-types/web-b.toml",
        &text.replacen("maxCapacity = 5\n", "maxCapacity = 5\n\n[launchSpec]\nAdditionalInfo = \"x\"\n", 1),
    );
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["launch-template::unsupported-key"]);
    let f = &doc["findings"][0];
    assert_eq!(
        (f["file"].as_str(), f["line"].as_u64(), f["column"].as_u64()),
        (Some("worker-types/web-b.toml"), Some(5), Some(1))
    );
    assert!(steps(&doc).iter().all(|s| s.1 != "web-b"), "{doc:#}");
    assert!(!describe(&moto, "us-east-1").contains_key("web-b"));
    assert!(describe(&moto, "us-east-1").contains_key("web-a"));
}

#[test]
fn drift_reports_a_region_it_could_not_read_as_an_error() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    proxy.fault("us-west-2", Fault::Reset);
    let (code, doc) = run(repo.path(), &["drift", ".", "--ec2-endpoint", &proxy.url]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["drift::failed"]);
    assert_eq!(doc["failedRegions"][0]["region"], "us-west-2");
}

#[test]
fn an_unreachable_endpoint_fails_every_region_and_writes_nothing() {
    let repo = fleet();
    let port = moto::free_port();
    let (code, doc) = apply(&repo, &format!("http://127.0.0.1:{port}"), &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["failedRegions"].as_array().unwrap().len(), 2);
    assert!(doc["steps"].as_array().unwrap().is_empty());
    assert_eq!(
        codes(&doc),
        ["launch-template::failed", "launch-template::failed"],
        "one per region: {doc:#}"
    );
}

#[test]
fn a_template_name_ec2_would_reject_is_a_finding_before_any_call_for_it() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    // A valid worker type id, but two characters: EC2 wants 3 to 128 for a template name.
    repo.write(
        "worker-types/ab.toml",
        "amiSetId = \"set-b\"\nmaxCapacity = 5\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[regions]]\nregion = \"us-east-1\"\n",
    );
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let found: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "launch-template::invalid-name")
        .collect();
    assert_eq!(found.len(), 1, "{doc:#}");
    assert_eq!(found[0]["file"], "worker-types/ab.toml");
    // Nothing was asked of EC2 for it; the other worker types went ahead.
    assert!(!steps(&doc).iter().any(|(_, t, _)| t == "ab"), "{doc:#}");
    assert!(!describe(&moto, "us-east-1").contains_key("ab"));
    assert!(describe(&moto, "us-east-1").contains_key("web-a"));
}

#[test]
fn a_write_failing_midway_is_reported_and_the_next_apply_finishes_it() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    assert_eq!(apply(&repo, &proxy.url, &[]).0, 0);
    // Set A moves to NEW; in us-east-1 the new version is created, but making it
    // the default (ModifyLaunchTemplate) fails.
    set(&repo, "set-a", NEW);
    proxy.fault_action("us-east-1", "ModifyLaunchTemplate", Fault::Throttle);
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let failed: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "launch-template::failed")
        .collect();
    assert_eq!(failed.len(), 1, "{doc:#}");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(message.contains("`web-a`") && message.contains("us-east-1"), "{message}");
    // us-west-2 went ahead; us-east-1 still launches the old image by default.
    assert_eq!(describe(&moto, "us-west-2")["web-a"].image.as_deref(), Some(NEW));
    let east = &describe(&moto, "us-east-1")["web-a"];
    assert_eq!((east.default_version, east.image.as_deref()), (1, Some(OLD)));

    // The next apply finds the version already there and only makes it the default.
    proxy.clear_faults("us-east-1");
    let (code, doc) = apply(&repo, &proxy.url, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let east_steps: Vec<(String, String, String)> = steps(&doc).into_iter().filter(|s| s.0 == "us-east-1" && s.1 == "web-a").collect();
    assert_eq!(
        east_steps,
        [("us-east-1".to_string(), "web-a".to_string(), "set-default".to_string())]
    );
    let east = &describe(&moto, "us-east-1")["web-a"];
    assert_eq!((east.default_version, east.image.as_deref()), (2, Some(NEW)));
}

/// `drift` reads every page of DescribeInstances (the proxy pages by
/// reservation, one per page here), and a region whose later page fails is
/// reported as unread, its instances not counted from the pages it got.
#[test]
fn drift_reads_every_page_and_a_failed_page_fails_the_region() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    assert_eq!(apply(&repo, &proxy.url, &[]).0, 0);
    // Three reservations in us-east-1: 2 + 1 instances of web-a, 1 of web-b.
    launch(&moto, "us-east-1", "web-a", "web-a", "m5.large", 2);
    launch(&moto, "us-east-1", "web-a", "web-a", "m5.large", 1);
    launch(&moto, "us-east-1", "web-b", "web-b", "m5.large", 1);
    proxy.page_size(1);

    let (code, doc) = run(repo.path(), &["drift", ".", "--ec2-endpoint", &proxy.url]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(row(&doc, "web-a", "us-east-1", "m5.large")["running"], serde_json::json!({OLD: 3}));
    assert_eq!(
        row(&doc, "web-b", "us-east-1", "m5.large")["running"],
        serde_json::json!({OTHER: 1})
    );
    assert_eq!(doc["summary"]["instances"], 4);
    let later = proxy.later_page_calls();
    assert_eq!(
        later.get(&("us-east-1".to_string(), "DescribeInstances".to_string())),
        Some(&2),
        "{later:?}"
    );

    proxy.fault_after_first_page("us-east-1", Fault::Throttle);
    let (code, doc) = run(repo.path(), &["drift", ".", "--ec2-endpoint", &proxy.url]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["drift::failed"], "{doc:#}");
    assert_eq!(doc["failedRegions"][0]["region"], "us-east-1");
    assert_eq!(doc["summary"]["instances"], 0, "nothing counted from the first page alone: {doc:#}");
    assert_eq!(row(&doc, "web-a", "us-east-1", "m5.large")["running"], serde_json::json!({}));
}

/// Throttled writes that clear within the attempts are retried and the apply
/// goes through: every template is created, with two more calls than
/// templates in the throttled region, and no finding is left.
#[test]
fn throttled_writes_that_clear_on_retry_apply_everything() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    proxy.fault_action("us-west-2", "CreateLaunchTemplate", Fault::ThrottleFirst(2));
    // Three attempts a call, where `run` makes one.
    let args = [
        "apply",
        "launch-templates",
        ".",
        "--ec2-endpoint",
        &proxy.url,
        "--format",
        "json",
        "--ec2-attempts",
        "3",
    ];
    let (code, doc) = common::code_and_doc(&common::amiset_emulated(repo.path(), &args, &[]));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(codes(&doc), Vec::<String>::new(), "{doc:#}");
    let names = ["web-a", "web-b", "web-c", "web-c/c5.large"];
    assert_eq!(steps(&doc), all_steps("create", &names));
    for region in ["us-east-1", "us-west-2"] {
        assert_eq!(describe(&moto, region).len(), names.len(), "{region}");
    }
    let creates = writes(&proxy);
    assert_eq!(
        creates.get(&("us-west-2".to_string(), "CreateLaunchTemplate".to_string())),
        Some(&(names.len() + 2))
    );
    assert_eq!(
        creates.get(&("us-east-1".to_string(), "CreateLaunchTemplate".to_string())),
        Some(&names.len())
    );
}

/// The overall timeout running out while a region writes is reported as a
/// write failure that may have left writes done, not as a region that could
/// not be read; the other region's plan is applied and listed.
#[test]
fn a_timeout_during_the_writes_is_not_reported_as_nothing_changed() {
    let moto = Moto::start(&templates());
    let proxy = Proxy::start(&moto.url);
    let repo = fleet();
    // Reads answer at once; us-west-2's first create outlasts the timeout.
    proxy.fault_action("us-west-2", "CreateLaunchTemplate", Fault::Slow(std::time::Duration::from_secs(6)));
    let (code, doc) = apply(&repo, &proxy.url, &["--ec2-timeout", "3"]);
    assert_eq!(code, 1, "{doc:#}");
    let west: Vec<(&str, &str)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains("us-west-2"))
        .map(|f| (f["code"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        west,
        [(
            "launch-template::failed",
            "the launch templates of us-west-2 were not all written: the overall EC2 timeout (`--ec2-timeout`) ran out"
        )],
        "{doc:#}"
    );
    assert_eq!(doc["failedRegions"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(doc["failedRegions"][0]["region"], "us-west-2");
    // us-east-1 went ahead: every template created and listed.
    let names = ["web-a", "web-b", "web-c", "web-c/c5.large"];
    let east: Vec<_> = all_steps("create", &names)
        .into_iter()
        .filter(|(r, _, _)| r == "us-east-1")
        .collect();
    assert_eq!(steps(&doc), east, "{doc:#}");
    assert_eq!(describe(&moto, "us-east-1").len(), names.len());
}
