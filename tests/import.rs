//! `amiset import taskcluster` (DESIGN §13): worker pools in worker-manager's
//! documented format, built here, with launchConfigIds computed by Python's
//! `json.dumps(..., sort_keys=True)` (the rule of Taskcluster's generators),
//! imported, checked, and exported again.

mod common;

use std::path::{Path, PathBuf};

use common::{amiset, codes, copy_dir, json, manifest_dir, stderr, stdout};
use serde_json::{Value as Json, json};

/// The test venv's Python.
fn python() -> PathBuf {
    let venv = std::env::var_os("AMISET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv"));
    let python = venv.join("bin/python");
    assert!(python.is_file(), "no Python at {}: run scripts/setup", python.display());
    python
}

/// Fills `workerManager.launchConfigId` of every launchConfig of every pool
/// as community-tc-config's `generate/workers.py` does, in Python itself.
fn with_ids(pools: &Json) -> Json {
    let script = r#"
import hashlib, json, sys
pools = json.load(sys.stdin)
for pool in pools:
    for lc in pool["config"]["launchConfigs"]:
        rest = {k: v for k, v in lc.items() if k != "workerManager"}
        digest = hashlib.sha256((pool["workerPoolId"] + json.dumps(rest, sort_keys=True)).encode("utf8")).hexdigest()
        lc.setdefault("workerManager", {})["launchConfigId"] = "lc-" + digest[:20]
json.dump(pools, sys.stdout)
"#;
    let mut child = std::process::Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(pools.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

const AMI_EAST: &str = "ami-0aaaaaaaaaaaaaaa1";
const AMI_WEST: &str = "ami-0bbbbbbbbbbbbbbb2";
const ARM_EAST: &str = "ami-0ccccccccccccccc3";

/// A pool as community-tc-config's generator builds one: a launchConfig per
/// availability-zone subnet and instance type, minus pairs not offered.
fn generated_pool(id: &str, types: &[(&str, u64)], skip: &[(&str, &str)]) -> Json {
    let mut lcs = Vec::new();
    let regions = [
        (
            "us-east-1",
            AMI_EAST,
            "sg-0east",
            &[
                ("us-east-1a", "subnet-0e1a"),
                ("us-east-1b", "subnet-0e1b"),
                ("us-east-1c", "subnet-0e1c"),
            ][..],
        ),
        (
            "us-west-2",
            AMI_WEST,
            "sg-0west",
            &[("us-west-2a", "subnet-0w2a"), ("us-west-2b", "subnet-0w2b")][..],
        ),
    ];
    for (region, ami, sg, zones) in regions {
        for (az, subnet) in zones {
            for (itype, capacity) in types {
                if skip.contains(&(az, itype)) {
                    continue;
                }
                lcs.push(json!({
                    "region": region,
                    "launchConfig": {
                        "ImageId": ami,
                        "Placement": {"AvailabilityZone": az},
                        "SubnetId": subnet,
                        "SecurityGroupIds": [sg],
                        "InstanceType": itype,
                        "InstanceMarketOptions": {"MarketType": "spot"},
                    },
                    "workerConfig": {"genericWorker": {"config": {"wstAudience": "communitytc", "idleTimeoutSecs": 15.5, "note": "café ☕"}}},
                    "workerManager": {"capacityPerInstance": capacity},
                }));
            }
        }
    }
    json!({
        "workerPoolId": id,
        "providerId": "community-tc-workers-aws",
        "description": "generated",
        "owner": "relops@example.com",
        "emailOnError": false,
        "config": {"minCapacity": 0, "maxCapacity": 20, "launchConfigs": lcs,
                   "lifecycle": {"registrationTimeout": 1800, "reregistrationTimeout": 345600}},
    })
}

fn write_json(dir: &Path, name: &str, value: &Json) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

/// Every exported pool under `out`, by workerPoolId.
fn exported(out: &Path) -> std::collections::BTreeMap<String, Json> {
    let mut pools = std::collections::BTreeMap::new();
    for provisioner in std::fs::read_dir(out).unwrap() {
        let provisioner = provisioner.unwrap().path();
        if !provisioner.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&provisioner).unwrap() {
            let pool: Json = serde_json::from_slice(&std::fs::read(file.unwrap().path()).unwrap()).unwrap();
            pools.insert(pool["workerPoolId"].as_str().unwrap().to_string(), pool);
        }
    }
    pools
}

/// A pool with its launchConfigs sorted, for comparing in any order.
fn normalized(pool: &Json) -> Json {
    let mut pool = pool.clone();
    let lcs = pool["config"]["launchConfigs"].as_array_mut().unwrap();
    // A JSON number is a number: worker-manager reads an `initialWeight` of 1 and 1.0 alike.
    for lc in lcs.iter_mut() {
        if let Some(w) = lc["workerManager"]["initialWeight"].as_f64() {
            lc["workerManager"]["initialWeight"] = json!(w);
        }
    }
    lcs.sort_by_key(|lc| lc.to_string());
    pool
}

/// `pool` with one launchConfig per (region, instance type): its regions'
/// first zones only, with no `Placement`.
fn zoneless(mut pool: Json) -> Json {
    let lcs = pool["config"]["launchConfigs"].as_array_mut().unwrap();
    lcs.retain(|lc| ["us-east-1a", "us-west-2a"].contains(&lc["launchConfig"]["Placement"]["AvailabilityZone"].as_str().unwrap()));
    for lc in lcs.iter_mut() {
        lc["launchConfig"].as_object_mut().unwrap().remove("Placement");
    }
    pool
}

/// Imports `pools` into `tmp/repo`, then exports the repository to `tmp/out`
/// and asserts the export equals the input.
fn round_trip(tmp: &Path, pools: &Json) -> PathBuf {
    let input = write_json(tmp, "pools.json", pools);
    let repo = tmp.join("repo");
    let out = amiset(
        tmp,
        &["import", "taskcluster", input.to_str().unwrap(), "--out", repo.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let (code, doc) = json(&repo, &["check", "--deny-warnings"]);
    assert_eq!(code, 0, "the imported repository passes check: {doc:#}");
    let out = amiset(&repo, &["export", "taskcluster", "--out", tmp.join("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = exported(&tmp.join("out"));
    let want: std::collections::BTreeMap<String, Json> = pools
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["workerPoolId"].as_str().unwrap().to_string(), p.clone()))
        .collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (id, pool) in &want {
        assert_eq!(normalized(&got[id]), normalized(pool), "{id} round trip");
    }
    repo
}

fn toml_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::to_value(toml::from_str::<toml::Value>(&text).unwrap()).unwrap()
}

#[test]
fn a_generated_pool_with_zones_round_trips_and_reads_like_a_hand_written_worker_type() {
    let tmp = tempfile::tempdir().unwrap();
    // m5d.metal is not offered in us-east-1c, as the generator's offerings say.
    let pools = with_ids(&json!([generated_pool(
        "proj-a/ci",
        &[("m5.large", 1), ("m5d.metal", 4)],
        &[("us-east-1c", "m5d.metal")]
    )]));
    let repo = round_trip(tmp.path(), &pools);
    // Every value sits in the one layer where it is constant.
    let want = json!({
        "description": "generated",
        "owner": "relops@example.com",
        "amiSetId": "ci",
        "minCapacity": 0,
        "maxCapacity": 20,
        "launchSpec": {"InstanceMarketOptions": {"MarketType": "spot"}},
        "userData": {"genericWorker": {"config": {"wstAudience": "communitytc", "idleTimeoutSecs": 15.5, "note": "café ☕"}}},
        "instanceTypes": [{"instanceType": "m5.large", "capacity": 1}, {"instanceType": "m5d.metal", "capacity": 4}],
        "regions": [
            {"region": "us-east-1", "launchSpec": {"SecurityGroupIds": ["sg-0east"]}, "zones": [
                {"zone": "us-east-1a", "launchSpec": {"SubnetId": "subnet-0e1a"}},
                {"zone": "us-east-1b", "launchSpec": {"SubnetId": "subnet-0e1b"}},
                {"zone": "us-east-1c", "launchSpec": {"SubnetId": "subnet-0e1c"}}]},
            {"region": "us-west-2", "launchSpec": {"SecurityGroupIds": ["sg-0west"]}, "zones": [
                {"zone": "us-west-2a", "launchSpec": {"SubnetId": "subnet-0w2a"}},
                {"zone": "us-west-2b", "launchSpec": {"SubnetId": "subnet-0w2b"}}]},
        ],
    });
    assert_eq!(toml_json(&repo.join("worker-types/ci.toml")), want);
    assert_eq!(
        toml_json(&repo.join("ami-sets/ci.toml"))["amis"],
        json!([{"region": "us-east-1", "hvm": AMI_EAST}, {"region": "us-west-2", "hvm": AMI_WEST}])
    );
    // offerings.json holds exactly the pairs the input launches.
    let offerings: Json = serde_json::from_slice(&std::fs::read(repo.join("offerings.json")).unwrap()).unwrap();
    assert_eq!(offerings["zones"]["us-east-1c"], json!(["m5.large"]));
    assert_eq!(offerings["zones"]["us-east-1a"], json!(["m5.large", "m5d.metal"]));
    let policy = toml_json(&repo.join("amiset.toml"));
    assert_eq!(policy["regions"], json!(["us-east-1", "us-west-2"]));
    assert_eq!(policy["taskcluster"]["providerId"], "community-tc-workers-aws");
    assert_eq!(policy["taskcluster"]["provisionerId"], "proj-a");
}

#[test]
fn pools_of_several_projects_share_a_set_named_after_the_first_and_keep_their_own_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = generated_pool("proj-b/ci", &[("m5.large", 1)], &[]);
    b["emailOnError"] = json!(true);
    let mut arm = generated_pool("proj-a/arm", &[("m6g.large", 1)], &[]);
    for lc in arm["config"]["launchConfigs"].as_array_mut().unwrap() {
        if lc["region"] == "us-east-1" {
            lc["launchConfig"]["ImageId"] = json!(ARM_EAST);
        }
    }
    let pools = with_ids(&json!([generated_pool("proj-a/ci", &[("m5.large", 1)], &[]), b, arm]));
    let repo = round_trip(tmp.path(), &pools);
    let names: Vec<String> = std::fs::read_dir(repo.join("worker-types"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["arm.toml", "proj-a-ci.toml", "proj-b-ci.toml"]);
    let b = toml_json(&repo.join("worker-types/proj-b-ci.toml"));
    assert_eq!(
        b["taskcluster"],
        json!({"provisionerId": "proj-b", "workerType": "ci", "emailOnError": true})
    );
    // proj-a/ci and proj-b/ci use the same images: one set, named after the first in workerPoolId order.
    assert_eq!(b["amiSetId"], "proj-a-ci");
    let arm = toml_json(&repo.join("worker-types/arm.toml"));
    assert_eq!(arm["amiSetId"], "arm");
    assert_eq!(
        toml_json(&repo.join("ami-sets/arm.toml"))["amis"],
        json!([{"region": "us-east-1", "arch": "arm64", "hvm": ARM_EAST}, {"region": "us-west-2", "arch": "arm64", "hvm": AMI_WEST}])
    );

    // --set-name renames a set.
    let input = write_json(tmp.path(), "again.json", &pools);
    let out = amiset(
        tmp.path(),
        &[
            "import",
            "taskcluster",
            input.to_str().unwrap(),
            "--out",
            "renamed",
            "--set-name",
            "proj-a-ci=ubuntu-2404",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        toml_json(&tmp.path().join("renamed/worker-types/proj-b-ci.toml"))["amiSetId"],
        "ubuntu-2404"
    );
}

#[test]
fn tc_admin_output_is_read_and_what_is_not_an_aws_pool_is_skipped_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pool = with_ids(&json!([generated_pool("proj-a/ci", &[("m5.large", 1)], &[])]))[0].clone();
    pool["kind"] = json!("WorkerPool");
    let doc = json!({"managed": ["WorkerPool=proj-a/*", "Role=*"], "resources": [
        {"kind": "Role", "roleId": "worker-pool:proj-a/ci", "description": "", "scopes": ["queue:claim-work:proj-a/ci"]},
        {"kind": "WorkerPool", "workerPoolId": "proj-a/gcp", "providerId": "google", "description": "", "owner": "a@example.com",
         "emailOnError": false, "config": {"minCapacity": 0, "maxCapacity": 1, "launchConfigs": [{"region": "us-central1", "zone": "us-central1-a", "machineType": "n2"}]}},
        pool,
    ]});
    let input = write_json(tmp.path(), "tc-admin.json", &doc);
    // Notes, not warnings: `--deny-warnings` still imports.
    let (code, report) = json(
        tmp.path(),
        &["import", "taskcluster", input.to_str().unwrap(), "--out", "repo", "--deny-warnings"],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(codes(&report), ["import::skipped", "import::skipped"]);
    let severities: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["note", "note"]);
    assert!(tmp.path().join("repo/worker-types/ci.toml").is_file());
    assert!(!tmp.path().join("repo/worker-types/gcp.toml").exists());
}

/// Imports `pools` and expects a refusal with `code` naming `field`; nothing is written.
fn refused(pools: &Json, code: &str, field: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_json(tmp.path(), "pools.json", pools);
    let (exit, report) = json(tmp.path(), &["import", "taskcluster", input.to_str().unwrap(), "--out", "repo"]);
    assert_eq!(exit, 1, "expected `{code}` naming `{field}`: {report:#}");
    let found = report["findings"].as_array().unwrap();
    assert!(
        found
            .iter()
            .any(|f| f["code"] == code && f["message"].as_str().unwrap().contains(field)),
        "expected `{code}` naming `{field}`: {report:#}"
    );
    assert!(!tmp.path().join("repo").exists(), "nothing is written");
}

#[test]
fn what_the_model_cannot_hold_is_refused_naming_the_pool_and_the_field() {
    let base = || generated_pool("proj-a/ci", &[("m5.large", 1), ("c5.large", 2)], &[]);
    let lc = |p: &mut Json, i: usize| p["config"]["launchConfigs"][i].clone();

    let mut p = base();
    p["secretSauce"] = json!(1);
    refused(&with_ids(&json!([p])), "import::cannot-hold", "`secretSauce`");

    let mut p = base();
    p["config"]["scalingRatio"] = json!(1);
    refused(&with_ids(&json!([p])), "import::cannot-hold", "`config.scalingRatio`");

    // The deprecated top-level capacity next to the current one: which one counts?
    let mut p = base();
    p["config"]["launchConfigs"][0]["capacityPerInstance"] = json!(1);
    refused(&with_ids(&json!([p])), "import::cannot-hold", "capacityPerInstance");

    let mut p = base();
    p["config"]["launchConfigs"][1]["workerConfig"] = json!({"other": true});
    refused(&with_ids(&json!([p])), "import::cannot-hold", "workerConfig");

    let mut p = base();
    p["config"]["launchConfigs"][0]["workerManager"]["capacityPerInstance"] = json!(3);
    refused(&with_ids(&json!([p])), "import::cannot-hold", "capacityPerInstance");

    // One AMI launched on x86_64 and arm64 instance types.
    let mut p = base();
    let mut arm = lc(&mut p, 0);
    arm["launchConfig"]["InstanceType"] = json!("m6g.large");
    p["config"]["launchConfigs"].as_array_mut().unwrap().push(arm);
    refused(&with_ids(&json!([p])), "import::cannot-hold", "x86_64 and arm64");

    // A key that varies by region × instance type: no layer holds it.
    let mut p = base();
    for lc in p["config"]["launchConfigs"].as_array_mut().unwrap() {
        let odd = (lc["region"] == "us-east-1") == (lc["launchConfig"]["InstanceType"] == "m5.large");
        lc["launchConfig"]["EbsOptimized"] = json!(odd);
    }
    refused(&with_ids(&json!([p])), "import::cannot-hold", "EbsOptimized");

    // An instance type left out of a zone where another pool launches it: not an offering.
    let a = generated_pool("proj-a/ci", &[("m5.large", 1), ("c5.large", 1)], &[("us-east-1b", "m5.large")]);
    let b = generated_pool("proj-b/other", &[("m5.large", 1)], &[]);
    refused(&with_ids(&json!([a, b])), "import::cannot-hold", "us-east-1b");

    // A null value has no TOML form.
    let mut p = base();
    p["config"]["launchConfigs"][0]["launchConfig"]["KeyName"] = Json::Null;
    refused(&with_ids(&json!([p])), "import::cannot-hold", "KeyName");
}

#[test]
fn launch_config_ids_off_the_rule_are_refused_unless_renumbered() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pools = with_ids(&json!([generated_pool("proj-a/ci", &[("m5.large", 1)], &[])]));
    pools[0]["config"]["launchConfigs"][0]["workerManager"]["launchConfigId"] = json!("lc-handmade");
    refused(&pools, "import::launch-config-id", "launchConfigId");
    let input = write_json(tmp.path(), "pools.json", &pools);
    let out = amiset(
        tmp.path(),
        &["import", "taskcluster", input.to_str().unwrap(), "--out", "repo", "--renumber"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 launchConfigIds change (--renumber)"), "{}", stderr(&out));
}

#[test]
fn a_pool_in_worker_managers_older_format_is_imported_with_new_ids_only_when_renumbered() {
    // No `workerManager` (capacity 1 by default), or the deprecated top-level capacity.
    let mut pool = generated_pool("proj-a/ci", &[("m5.large", 1), ("c5.large", 2)], &[]);
    for lc in pool["config"]["launchConfigs"].as_array_mut().unwrap() {
        let capacity = lc.as_object_mut().unwrap().remove("workerManager").unwrap()["capacityPerInstance"].clone();
        if capacity != 1 {
            lc["capacityPerInstance"] = capacity;
        }
    }
    let pools = json!([pool]);
    refused(&pools, "import::launch-config-id", "launchConfigId");

    let tmp = tempfile::tempdir().unwrap();
    let input = write_json(tmp.path(), "pools.json", &pools);
    let out = amiset(
        tmp.path(),
        &["import", "taskcluster", input.to_str().unwrap(), "--out", "repo", "--renumber"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let wt = toml_json(&tmp.path().join("repo/worker-types/ci.toml"));
    let capacities: Vec<(&str, i64)> = wt["instanceTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["instanceType"].as_str().unwrap(), t["capacity"].as_i64().unwrap_or(1)))
        .collect();
    assert_eq!(capacities, [("m5.large", 1), ("c5.large", 2)]);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pools = with_ids(&json!([generated_pool("proj-a/ci", &[("m5.large", 1)], &[])]));
    let input = write_json(tmp.path(), "pools.json", &pools);
    let out = amiset(
        tmp.path(),
        &["import", "taskcluster", input.to_str().unwrap(), "--out", "repo", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    for line in [
        "write amiset.toml",
        "write ami-sets/ci.toml",
        "write worker-types/ci.toml",
        "write offerings.json",
        "set ci: proj-a/ci",
    ] {
        assert!(plan.contains(line), "{line}: {plan}");
    }
    assert!(!tmp.path().join("repo").exists());
}

#[test]
fn config_example_round_trips_through_export_import_export() {
    let tmp = tempfile::tempdir().unwrap();
    let example = tmp.path().join("example");
    copy_dir(&manifest_dir().join("config-example"), &example);
    let out = amiset(
        &example,
        &["export", "taskcluster", "--out", tmp.path().join("first").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = exported(&tmp.path().join("first"));
    assert!(!first.is_empty());
    let pools = Json::Array(first.values().cloned().collect());
    round_trip(tmp.path(), &pools);

    // The export's directory itself: every pool file below it is read, its
    // manifest.json is skipped with a note, and a link is not followed.
    let outside = write_json(tmp.path(), "not-a-pool.json", &json!({"hello": "world"}));
    std::os::unix::fs::symlink(&outside, tmp.path().join("first/link.json")).unwrap();
    let (code, report) = json(tmp.path(), &["import", "taskcluster", "first", "--out", "from-dir"]);
    assert_eq!(code, 0, "{report:#}");
    let notes: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(notes, [("import::skipped", "note")]);
    let worker_types = std::fs::read_dir(tmp.path().join("from-dir/worker-types")).unwrap().count();
    assert_eq!(worker_types, first.len());
}

#[test]
fn a_generated_corpus_round_trips_through_export_import_export() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    common::corpus::write(&corpus, 5, 30, 4, 0);
    let policy = std::fs::read_to_string(corpus.join("amiset.toml")).unwrap();
    std::fs::write(
        corpus.join("amiset.toml"),
        format!("{policy}\n[taskcluster]\nprovisionerId = \"gen\"\nproviderId = \"aws\"\n"),
    )
    .unwrap();
    let out = amiset(
        &corpus,
        &["export", "taskcluster", "--out", tmp.path().join("first").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = exported(&tmp.path().join("first"));
    assert_eq!(first.len(), 30);
    let repo = round_trip(tmp.path(), &Json::Array(first.values().cloned().collect()));
    // Worker types that used one set still share one.
    let sets = std::fs::read_dir(repo.join("ami-sets")).unwrap().count();
    assert_eq!(sets, 5);
}

#[test]
fn worker_manager_settings_per_zone_and_per_instance_type_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pool = generated_pool("proj-a/ci", &[("m5.large", 1), ("c5.large", 2)], &[]);
    for lc in pool["config"]["launchConfigs"].as_array_mut().unwrap() {
        let zone = lc["launchConfig"]["Placement"]["AvailabilityZone"].as_str().unwrap().to_string();
        let itype = lc["launchConfig"]["InstanceType"].as_str().unwrap().to_string();
        lc["workerManager"]["initialWeight"] = json!(if zone == "us-east-1a" { 0.25 } else { 1.0 });
        lc["workerManager"]["maxCapacity"] = json!(if itype == "c5.large" { 4 } else { 10 });
    }
    let repo = round_trip(tmp.path(), &with_ids(&json!([pool])));
    let wt = toml_json(&repo.join("worker-types/ci.toml"));
    assert_eq!(wt["regions"][0]["zones"][0]["workerManager"], json!({"initialWeight": 0.25}));
    assert_eq!(wt["regions"][0]["zones"][1]["workerManager"], json!({"initialWeight": 1.0}));
    assert_eq!(wt["instanceTypes"][1]["workerManager"], json!({"maxCapacity": 4}));
}

#[test]
fn a_whole_number_initial_weight_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pool = generated_pool("proj-a/ci", &[("m5.large", 1)], &[]);
    for lc in pool["config"]["launchConfigs"].as_array_mut().unwrap() {
        let first = lc["launchConfig"]["Placement"]["AvailabilityZone"] == "us-east-1a";
        lc["workerManager"]["initialWeight"] = json!(if first { 1 } else { 0 });
    }
    let repo = round_trip(tmp.path(), &with_ids(&json!([pool])));
    let wt = toml_json(&repo.join("worker-types/ci.toml"));
    assert_eq!(wt["regions"][0]["zones"][0]["workerManager"]["initialWeight"].as_f64(), Some(1.0));
    assert_eq!(wt["regions"][0]["zones"][1]["workerManager"]["initialWeight"].as_f64(), Some(0.0));
}

#[test]
fn a_worker_manager_setting_per_region_without_zones_is_refused_naming_it() {
    // Both regions launch m5.large, with a weight per region: a region
    // without zones has no `workerManager`, so nothing holds it (per zone or per
    // instance type it is held, as `worker_manager_settings_per_zone_and_per_instance_type_round_trip` shows).
    let mut pool = zoneless(generated_pool("proj-a/ci", &[("m5.large", 1)], &[]));
    for lc in pool["config"]["launchConfigs"].as_array_mut().unwrap() {
        lc["workerManager"]["initialWeight"] = json!(if lc["region"] == "us-east-1" { 0.5 } else { 0.9 });
    }
    refused(&with_ids(&json!([pool])), "import::cannot-hold", "workerManager.initialWeight");
}

#[test]
fn an_aws_pool_without_launch_configs_is_refused() {
    let mut empty = generated_pool("proj-a/empty", &[("m5.large", 1)], &[]);
    empty["config"]["launchConfigs"] = json!([]);
    let pools = with_ids(&json!([generated_pool("proj-a/ci", &[("m5.large", 1)], &[]), empty]));
    refused(&pools, "import::cannot-hold", "`proj-a/empty`, `config.launchConfigs`");
}
