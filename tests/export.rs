//! `amiset export taskcluster`: worker pools that worker-manager's AWS
//! provider accepts, on config-example and on generated repositories, with
//! every ImageId the one the AMI set holds; atomic, deterministic output; and
//! coded findings (nothing written) for what worker-manager would reject.

mod common;

use std::path::Path;

use common::{amiset, codes, copy_dir, corpus, json, manifest_dir, snapshot_tree, stderr};
use serde_json::{Value as Json, json};

/// Worker-manager's constraints on a worker pool definition for its AWS
/// provider, stated here from taskcluster's published schemas
/// (`services/worker-manager/schemas/v1/config-aws.yml` with its
/// per-launchConfig `workerManager` block, `create-worker-pool-request.yml`,
/// `worker-pool-full.yml`, `worker-lifecycle.yml` and the identifier
/// constants), independently of the exporter. Deliberate tightenings, each
/// what DESIGN §10 promises: config-aws.yml's
/// `not: {required: [IamInstanceProfile, UserData, MinCount, MaxCount]}`
/// only rejects all four together, while worker-manager's documentation
/// forbids each, so here each one is forbidden; the deprecated top-level
/// `capacityPerInstance` is refused and `workerManager` with
/// `capacityPerInstance` and an `lc-` + 20 hex digit `launchConfigId` is
/// required.
fn worker_manager_schema() -> Json {
    let forbidden: Vec<Json> = ["IamInstanceProfile", "UserData", "MinCount", "MaxCount"]
        .iter()
        .map(|k| json!({"not": {"required": [k]}}))
        .collect();
    let worker_manager = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["capacityPerInstance", "launchConfigId"],
        "properties": {
            "launchConfigId": {"type": "string", "pattern": "^lc-[0-9a-f]{20}$"},
            "capacityPerInstance": {"type": "integer", "minimum": 1},
            "initialWeight": {"type": "number", "minimum": 0, "maximum": 1},
            "maxCapacity": {"type": "integer", "minimum": 0}
        }
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "required": ["workerPoolId", "providerId", "description", "config", "owner", "emailOnError"],
        "properties": {
            "workerPoolId": {"type": "string", "pattern": "^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$"},
            "providerId": {"type": "string", "minLength": 1, "maxLength": 38, "pattern": "^([a-zA-Z0-9-_]*)$"},
            "description": {"type": "string", "maxLength": 10240},
            "owner": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
            "emailOnError": {"type": "boolean"},
            "config": {
                "type": "object",
                "additionalProperties": false,
                "required": ["launchConfigs", "minCapacity", "maxCapacity"],
                "properties": {
                    "minCapacity": {"type": "integer"},
                    "maxCapacity": {"type": "integer"},
                    "scalingRatio": {"type": "number", "minimum": 0, "maximum": 1},
                    "lifecycle": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "registrationTimeout": {"type": "integer"},
                            "reregistrationTimeout": {"type": "integer", "maximum": 2678400},
                            "queueInactivityTimeout": {"type": "integer", "minimum": 1200}
                        }
                    },
                    "launchConfigs": {
                        "type": "array",
                        "uniqueItems": true,
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["region", "launchConfig", "workerManager"],
                            "properties": {
                                "region": {"type": "string"},
                                "launchConfig": {
                                    "type": "object",
                                    "required": ["ImageId"],
                                    "properties": {"ImageId": {"type": "string"}},
                                    "allOf": forbidden
                                },
                                "additionalUserData": {"type": "object"},
                                "capacityPerInstance": false,
                                "workerConfig": {"type": "object"},
                                "workerManager": worker_manager
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Every file under `out` except the manifest is a valid worker pool; returns them by path.
fn valid_pools(out: &Path) -> std::collections::BTreeMap<String, Json> {
    let validator = jsonschema::validator_for(&worker_manager_schema()).expect("schema compiles");
    let mut pools = std::collections::BTreeMap::new();
    for (path, bytes) in snapshot_tree(out) {
        if path == "manifest.json" {
            continue;
        }
        let pool: Json = serde_json::from_slice(&bytes).expect("pool is JSON");
        let errors: Vec<String> = validator
            .iter_errors(&pool)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path} is not a pool worker-manager accepts: {errors:#?}");
        pools.insert(path, pool);
    }
    pools
}

fn export(cwd: &Path, dir: &Path, out: &Path) -> (i32, Json) {
    json(
        cwd,
        &["export", "taskcluster", dir.to_str().unwrap(), "--out", out.to_str().unwrap()],
    )
}

const TASKCLUSTER: &str = "\n[taskcluster]\nprovisionerId = \"proj-gen\"\nproviderId = \"aws-prod\"\n";

#[test]
fn the_schema_of_these_tests_rejects_what_worker_manager_rejects() {
    let validator = jsonschema::validator_for(&worker_manager_schema()).unwrap();
    let good = json!({"workerPoolId": "p/w", "providerId": "aws", "description": "", "owner": "a@example.com",
        "emailOnError": false, "config": {"minCapacity": 0, "maxCapacity": 1, "launchConfigs": [
            {"region": "us-east-1", "launchConfig": {"ImageId": "ami-1"}, "workerConfig": {},
             "workerManager": {"capacityPerInstance": 1, "launchConfigId": "lc-0123456789abcdef0123"}}]}});
    assert!(validator.is_valid(&good));
    let mutations: [(&str, Json); 12] = [
        ("/config/launchConfigs/0/launchConfig/IamInstanceProfile", json!({"Name": "x"})),
        ("/config/launchConfigs/0/launchConfig/UserData", json!("eA==")),
        ("/config/launchConfigs/0/workerManager/capacityPerInstance", json!(1.5)),
        ("/config/launchConfigs/0/workerManager/capacityPerInstance", json!(0)),
        ("/config/launchConfigs/0/workerManager/launchConfigId", json!("lc-short")),
        ("/config/launchConfigs/0/workerManager/initialWeight", json!(1.5)),
        ("/config/launchConfigs/0/workerManager/other", json!(1)),
        ("/config/launchConfigs/0/capacityPerInstance", json!(1)),
        ("/config/lifecycle", json!({"queueInactivityTimeout": 60})),
        ("/config/launchConfigs/0/extra", json!(1)),
        ("/workerPoolId", json!("p/Upper_case")),
        ("/config/minPrice", json!(0.1)),
    ];
    for (pointer, value) in mutations {
        let mut bad = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        bad.pointer_mut(parent).unwrap()[key] = value;
        assert!(!validator.is_valid(&bad), "{pointer} should be rejected");
    }
    let mut no_image = good.clone();
    no_image["config"]["launchConfigs"][0]["launchConfig"] = json!({"InstanceType": "m5.large"});
    assert!(!validator.is_valid(&no_image));
}

#[test]
fn config_example_exports_one_valid_pool_per_worker_type_with_the_compiled_image_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, compiled) = (tmp.path().join("pools"), tmp.path().join("compiled"));
    let example = manifest_dir().join("config-example");
    let (code, doc) = export(tmp.path(), &example, &out);
    assert_eq!(code, 0, "{doc:#}");
    let pools = valid_pools(&out);
    let workers: Vec<String> = std::fs::read_dir(example.join("worker-types"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".toml").to_string())
        .collect();
    assert_eq!(pools.len(), workers.len());
    // The compiled artifacts are the reference for every resolved launch spec.
    let c = amiset(
        tmp.path(),
        &["compile", example.to_str().unwrap(), "--out", compiled.to_str().unwrap()],
    );
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    for w in &workers {
        let pool = &pools[&format!("proj-example/{w}.json")];
        assert_eq!(pool["workerPoolId"], format!("proj-example/{w}"));
        assert_eq!(pool["providerId"], "aws");
        assert_eq!(pool["emailOnError"], true);
        // gecko-b-arm-builder adds its own queueInactivityTimeout to amiset.toml's lifecycle.
        let mut lifecycle = json!({"registrationTimeout": 1800, "reregistrationTimeout": 345600});
        if w == "gecko-b-arm-builder" {
            lifecycle["queueInactivityTimeout"] = json!(7200);
        }
        assert_eq!(pool["config"]["lifecycle"], lifecycle, "{w}");
        let artifact: Json = serde_json::from_slice(&std::fs::read(compiled.join(format!("worker-types/{w}.json"))).unwrap()).unwrap();
        let mut expected = 0;
        // Zoned regions: one launchConfig per (zone, instance type), matched by its zone.
        for (region, zones) in artifact.get("zoneLaunchSpecs").and_then(Json::as_object).into_iter().flatten() {
            for (zone, specs) in zones.as_object().unwrap() {
                for (itype, spec) in specs.as_object().unwrap() {
                    expected += 1;
                    let lc = pool["config"]["launchConfigs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|lc| {
                            lc["region"] == region.as_str()
                                && lc["launchConfig"]["InstanceType"] == itype.as_str()
                                && lc["launchConfig"]["Placement"]["AvailabilityZone"] == zone.as_str()
                        })
                        .unwrap_or_else(|| panic!("{w}: no launchConfig for {zone} {itype}"));
                    assert_eq!(lc["launchConfig"], *spec, "{w} {zone} {itype}");
                }
            }
        }
        for (region, specs) in artifact["launchSpecs"].as_object().unwrap() {
            for (itype, spec) in specs.as_object().unwrap() {
                expected += 1;
                let lc = pool["config"]["launchConfigs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|lc| lc["region"] == region.as_str() && lc["launchConfig"]["InstanceType"] == itype.as_str())
                    .unwrap_or_else(|| panic!("{w}: no launchConfig for {region} {itype}"));
                assert_eq!(lc["launchConfig"], *spec, "{w} {region} {itype}");
                assert_eq!(lc["workerConfig"], artifact["workerConfig"], "{w} {region} {itype}");
            }
        }
        assert_eq!(pool["config"]["launchConfigs"].as_array().unwrap().len(), expected, "{w}");
    }
    // gecko-t-linux-large: c5.xlarge has capacity 2, maxCapacity 50 in the file.
    let large = &pools["proj-example/gecko-t-linux-large.json"];
    let c5 = large["config"]["launchConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|lc| lc["launchConfig"]["InstanceType"] == "c5.xlarge")
        .unwrap();
    assert_eq!(c5["workerManager"]["capacityPerInstance"], 2);
    // gecko-b-arm-builder: its set's [workerConfig] (it has no userData), and
    // `workerManager` from its [taskcluster] table under t4g.xlarge's own.
    let arm = &pools["proj-example/gecko-b-arm-builder.json"];
    for lc in arm["config"]["launchConfigs"].as_array().unwrap() {
        assert_eq!(
            lc["workerConfig"],
            json!({"imageBuild": "2026-11-10", "bootstrap": {
                "script": "https://raw.githubusercontent.com/example/images/4f2c1e9a/bootstrap/generic-worker.sh",
                "commit": "4f2c1e9a"}})
        );
        let mut manager = lc["workerManager"].clone();
        manager.as_object_mut().unwrap().remove("launchConfigId");
        let want = match lc["launchConfig"]["InstanceType"].as_str().unwrap() {
            "t4g.xlarge" => json!({"capacityPerInstance": 1, "initialWeight": 0.25, "maxCapacity": 10}),
            _ => json!({"capacityPerInstance": 1, "maxCapacity": 30}),
        };
        assert_eq!(manager, want);
    }
    // The example's worker types set keys worker-manager has no counterpart
    // for (spot prices, scopes): each is a warning, and nothing else is.
    let found = codes(&doc);
    assert!(found.iter().any(|c| c == "taskcluster::not-exported"), "{doc:#}");
    assert!(
        found
            .iter()
            .all(|c| c == "taskcluster::not-exported" || c == "policy::legacy-image-id" || c == "offerings::not-offered"),
        "{doc:#}"
    );
}

#[test]
fn generated_repositories_export_the_image_of_their_set_for_each_region_and_architecture() {
    for (sets, workers, regions, variant) in [(1, 1, 1, 0), (3, 7, 4, 1), (5, 20, 12, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        corpus::write(&repo, sets, workers, regions, variant);
        let policy = std::fs::read_to_string(repo.join("amiset.toml")).unwrap();
        std::fs::write(repo.join("amiset.toml"), policy + TASKCLUSTER).unwrap();
        let out = tmp.path().join("out");
        let (code, doc) = export(tmp.path(), &repo, &out);
        assert_eq!(code, 0, "{doc:#}");
        let pools = valid_pools(&out);
        assert_eq!(pools.len(), workers);
        for w in 0..workers {
            let pool = &pools[&format!("proj-gen/worker-{w}.json")];
            assert_eq!(pool["owner"], format!("team-{}@example.com", w % 7));
            assert_eq!(pool["config"]["maxCapacity"], 10 + w % 90);
            let lcs = pool["config"]["launchConfigs"].as_array().unwrap();
            assert_eq!(lcs.len(), regions * corpus::INSTANCE_TYPES.len());
            for (r, region) in corpus::REGIONS[..regions].iter().enumerate() {
                for (i, itype) in corpus::INSTANCE_TYPES.iter().enumerate() {
                    // The corpus's set `w % sets` holds, per region, x86_64 then arm64 (m6g is Graviton).
                    let arch = usize::from(*itype == "m6g.large");
                    let n = variant * 1_000_000_007 + ((w % sets) * 1000 + r * 2 + arch) as u64;
                    let lc = lcs
                        .iter()
                        .find(|lc| lc["region"] == *region && lc["launchConfig"]["InstanceType"] == *itype)
                        .unwrap();
                    assert_eq!(lc["launchConfig"]["ImageId"], corpus::ami(n), "worker-{w} {region} {itype}");
                    assert_eq!(lc["workerManager"]["capacityPerInstance"], i + 1);
                    assert_eq!(lc["workerConfig"], json!({"capacity": 1}));
                }
            }
        }
    }
}

#[test]
fn export_is_deterministic_and_a_failed_export_leaves_the_old_output_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&manifest_dir().join("config-example"), &repo);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_eq!(export(tmp.path(), &repo, &a).0, 0);
    assert_eq!(export(tmp.path(), &repo, &b).0, 0);
    let first = snapshot_tree(&a);
    assert_eq!(first, snapshot_tree(&b), "the same config exports the same bytes");
    // A worker type worker-manager would reject: nothing is written, OUT keeps its old bytes.
    let path = repo.join("worker-types/gecko-t-linux-large.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("[launchSpec]", "[launchSpec]\nIamInstanceProfile = { Name = \"admin\" }", 1),
    )
    .unwrap();
    let (code, doc) = export(tmp.path(), &repo, &a);
    assert_eq!(code, 1, "{doc:#}");
    assert!(codes(&doc).contains(&"taskcluster::forbidden-key".to_string()), "{doc:#}");
    assert_eq!(snapshot_tree(&a), first);
}

/// (code, file, line, column) of the error findings.
fn errors(doc: &Json) -> Vec<(String, String, u64, u64)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn repo_with(policy: &str, workers: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    for sub in ["ami-sets", "worker-types"] {
        std::fs::create_dir_all(repo.join(sub)).unwrap();
    }
    std::fs::write(repo.join("amiset.toml"), policy).unwrap();
    std::fs::write(
        repo.join("ami-sets/base.toml"),
        "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n",
    )
    .unwrap();
    for (name, text) in workers {
        std::fs::write(repo.join(format!("worker-types/{name}.toml")), text).unwrap();
    }
    tmp
}

const WORKER: &str = "owner = \"ci@example.com\"\namiSetId = \"base\"\nmaxCapacity = 5\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[regions]]\nregion = \"us-east-1\"\n";

#[test]
fn missing_taskcluster_settings_are_coded_errors_and_nothing_is_written() {
    let tmp = repo_with(
        "regions = [\"us-east-1\"]\n\n[taskcluster]\nemailOnError = true\n",
        &[("linux", WORKER)],
    );
    let out = tmp.path().join("out");
    let (code, doc) = export(tmp.path(), &tmp.path().join("repo"), &out);
    assert_eq!(code, 1, "{doc:#}");
    // Both on the `[taskcluster]` header: line 3, column 2.
    assert_eq!(
        errors(&doc),
        [
            ("taskcluster::missing-setting".into(), "amiset.toml".into(), 3, 2),
            ("taskcluster::missing-setting".into(), "amiset.toml".into(), 3, 2)
        ]
    );
    let messages: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains("`provisionerId`")) && messages.iter().any(|m| m.contains("`providerId`")));
    assert!(!out.exists(), "nothing is written");

    // No `[taskcluster]` at all, and a worker type without an owner.
    let tmp = repo_with(
        "regions = [\"us-east-1\"]\n",
        &[("linux", &WORKER.replace("owner = \"ci@example.com\"\n", ""))],
    );
    let (code, doc) = export(tmp.path(), &tmp.path().join("repo"), &out);
    assert_eq!(code, 1);
    let found = errors(&doc);
    assert_eq!(found.iter().filter(|f| f.0 == "taskcluster::missing-setting").count(), 3, "{doc:#}");
    assert!(found.contains(&("taskcluster::missing-setting".into(), "worker-types/linux.toml".into(), 1, 1)));
    assert!(!out.exists());
}

#[test]
fn what_worker_manager_rejects_is_refused_at_its_span() {
    let policy = format!("regions = [\"us-east-1\"]\n{TASKCLUSTER}");
    let forbidden = WORKER.replace(
        "maxCapacity = 5\n",
        "maxCapacity = 5\n\n[launchSpec]\nIamInstanceProfile = { Name = \"admin\" }\n",
    );
    let fractional = WORKER.replace("instanceType = \"m5.large\"\n", "instanceType = \"m5.large\"\ncapacity = 1.5\n");
    let not_email = WORKER.replace("ci@example.com", "the CI team");
    let tmp = repo_with(
        &policy,
        &[
            ("forbidden", &forbidden),
            ("fractional", &fractional),
            ("Upper_Case", WORKER),
            ("not-email", &not_email),
        ],
    );
    let out = tmp.path().join("out");
    let (code, doc) = export(tmp.path(), &tmp.path().join("repo"), &out);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        errors(&doc),
        [
            ("taskcluster::invalid-value".into(), "worker-types/Upper_Case.toml".into(), 1, 1),
            ("taskcluster::forbidden-key".into(), "worker-types/forbidden.toml".into(), 6, 1),
            ("taskcluster::invalid-value".into(), "worker-types/fractional.toml".into(), 7, 12),
            ("taskcluster::invalid-value".into(), "worker-types/not-email.toml".into(), 1, 9),
        ]
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn taskcluster_table_is_checked_by_the_schema() {
    let tmp = repo_with(
        "regions = [\"us-east-1\"]\n\n[taskcluster]\nprovisionerId = \"has space\"\nproviderId = \"aws\"\nlifecycle = { reregistrationTimeout = 9999999 }\n",
        &[("linux", WORKER)],
    );
    let (code, doc) = json(tmp.path(), &["check", "repo"]);
    assert_eq!(code, 1);
    let found = errors(&doc);
    assert!(found.iter().any(|f| f.1 == "amiset.toml" && f.2 == 4), "{doc:#}");
    assert!(found.iter().any(|f| f.1 == "amiset.toml" && f.2 == 6), "{doc:#}");
}

/// The test venv's Python (`$AMISET_TEST_VENV`, else `<repo>/.venv`).
fn python() -> std::path::PathBuf {
    std::env::var_os("AMISET_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv"))
        .join("bin/python")
}

/// `launchConfigId` of every launchConfig of the pool file at `path`, as
/// Python computes it from the file: Taskcluster's generators' rule, with
/// Python's own `json.dumps(..., sort_keys=True)`.
fn python_launch_config_ids(path: &Path) -> Vec<String> {
    const SCRIPT: &str = r#"
import hashlib, json, sys
pool = json.load(open(sys.argv[1], encoding="utf-8"))
for lc in pool["config"]["launchConfigs"]:
    entry = {k: v for k, v in lc.items() if k != "workerManager"}
    text = pool["workerPoolId"] + json.dumps(entry, sort_keys=True)
    print("lc-" + hashlib.sha256(text.encode("utf8")).hexdigest()[:20])
"#;
    let out = std::process::Command::new(python())
        .args(["-c", SCRIPT, path.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e} (set AMISET_TEST_VENV)", python().display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn launch_config_ids_are_the_ones_python_computes_with_non_ascii_text_and_floats() {
    let policy = format!("regions = [\"us-east-1\", \"eu-central-1\"]\n{TASKCLUSTER}");
    let worker = "owner = \"ci@example.com\"\namiSetId = \"base\"\nmaxCapacity = 5\n\n\
        [launchSpec]\nTagSpecifications = [{ ResourceType = \"instance\", Tags = [{ Key = \"équipe\", Value = \"café 🚀 \\\"q\\\" \\\\ \\n\" }] }]\n\n\
        [userData]\nratio = 0.1\none = 1.0\nbig = 1e16\ntiny = 1.5e-7\nneg = -2.5\ncount = 3\nname = \"Zoë ☃ 😀\"\n\n\
        [[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[instanceTypes]]\ninstanceType = \"c5.xlarge\"\ncapacity = 2\n\n\
        [[regions]]\nregion = \"us-east-1\"\n\n[[regions]]\nregion = \"eu-central-1\"\n";
    let tmp = repo_with(&policy, &[("linux", worker)]);
    std::fs::write(
        tmp.path().join("repo/ami-sets/base.toml"),
        "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n\n[[amis]]\nregion = \"eu-central-1\"\nhvm = \"ami-0fedcba9876543210\"\n\n\
         [workerConfig]\nbootstrap = { url = \"https://example.com/ß\", weight = 0.5 }\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let (code, doc) = export(tmp.path(), &tmp.path().join("repo"), &out);
    assert_eq!(code, 0, "{doc:#}");
    let pools = valid_pools(&out);
    let pool = &pools["proj-gen/linux.json"];
    let lcs = pool["config"]["launchConfigs"].as_array().unwrap();
    assert_eq!(lcs.len(), 4);
    // What is hashed really holds the non-ASCII strings and the floats.
    assert_eq!(lcs[0]["workerConfig"]["name"], "Zoë ☃ 😀");
    assert_eq!(lcs[0]["workerConfig"]["big"], 1e16);
    assert_eq!(lcs[0]["workerConfig"]["bootstrap"]["url"], "https://example.com/ß");
    let ours: Vec<String> = lcs
        .iter()
        .map(|lc| lc["workerManager"]["launchConfigId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ours, python_launch_config_ids(&out.join("proj-gen/linux.json")));
    let distinct: std::collections::BTreeSet<&String> = ours.iter().collect();
    assert_eq!(distinct.len(), 4, "each launchConfig has its own id: {ours:?}");
    for lc in lcs {
        assert!(
            lc.get("capacityPerInstance").is_none(),
            "no deprecated top-level capacityPerInstance"
        );
        let want = if lc["launchConfig"]["InstanceType"] == "c5.xlarge" { 2 } else { 1 };
        assert_eq!(lc["workerManager"]["capacityPerInstance"], want);
    }
}

#[test]
fn config_example_launch_config_ids_are_the_ones_python_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pools");
    let (code, doc) = export(tmp.path(), &manifest_dir().join("config-example"), &out);
    assert_eq!(code, 0, "{doc:#}");
    for (path, pool) in valid_pools(&out) {
        let ours: Vec<String> = pool["config"]["launchConfigs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|lc| lc["workerManager"]["launchConfigId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ours, python_launch_config_ids(&out.join(&path)), "{path}");
    }
}

#[test]
fn a_worker_types_taskcluster_table_overrides_amiset_toml_per_pool() {
    let policy = "regions = [\"us-east-1\"]\n\n[taskcluster]\nprovisionerId = \"proj-a\"\nproviderId = \"aws\"\nemailOnError = true\n\
        lifecycle = { registrationTimeout = 1800, reregistrationTimeout = 345600 }\n";
    let plain = WORKER.to_string();
    let own = format!(
        "{}\n[[instanceTypes]]\ninstanceType = \"c5.xlarge\"\nworkerManager = {{ maxCapacity = 3 }}\n\n\
         [taskcluster]\nprovisionerId = \"proj-b\"\nworkerType = \"ci\"\nemailOnError = false\n\
         lifecycle = {{ reregistrationTimeout = 86400, queueInactivityTimeout = 7200 }}\n\
         workerManager = {{ initialWeight = 0.5, maxCapacity = 10 }}\n",
        WORKER
    );
    let tmp = repo_with(policy, &[("ci", &plain), ("proj-b-ci", &own)]);
    let out = tmp.path().join("out");
    let (code, doc) = export(tmp.path(), &tmp.path().join("repo"), &out);
    assert_eq!(code, 0, "{doc:#}");
    let pools = valid_pools(&out);
    assert_eq!(pools.keys().collect::<Vec<_>>(), ["proj-a/ci.json", "proj-b/ci.json"]);
    let a = &pools["proj-a/ci.json"];
    assert_eq!(a["workerPoolId"], "proj-a/ci");
    assert_eq!(a["emailOnError"], true);
    assert_eq!(
        a["config"]["lifecycle"],
        json!({"registrationTimeout": 1800, "reregistrationTimeout": 345600})
    );
    assert_eq!(
        a["config"]["launchConfigs"][0]["workerManager"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["capacityPerInstance", "launchConfigId"],
        "nothing set, nothing written"
    );
    let b = &pools["proj-b/ci.json"];
    assert_eq!(b["workerPoolId"], "proj-b/ci");
    assert_eq!(b["emailOnError"], false);
    // Merged key by key: registrationTimeout from amiset.toml, the rest from the worker type.
    assert_eq!(
        b["config"]["lifecycle"],
        json!({"registrationTimeout": 1800, "reregistrationTimeout": 86400, "queueInactivityTimeout": 7200})
    );
    let manager = |itype: &str| {
        let lc = b["config"]["launchConfigs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|lc| lc["launchConfig"]["InstanceType"] == itype)
            .unwrap()
            .clone();
        let mut wm = lc["workerManager"].clone();
        wm.as_object_mut().unwrap().remove("launchConfigId");
        wm
    };
    // The worker type's layer, then the instance type's (the later wins).
    assert_eq!(
        manager("m5.large"),
        json!({"capacityPerInstance": 1, "initialWeight": 0.5, "maxCapacity": 10})
    );
    assert_eq!(
        manager("c5.xlarge"),
        json!({"capacityPerInstance": 1, "initialWeight": 0.5, "maxCapacity": 3})
    );
    // The same launch spec in two pools: different ids (the workerPoolId is hashed too).
    assert_ne!(
        a["config"]["launchConfigs"][0]["workerManager"]["launchConfigId"],
        b["config"]["launchConfigs"][0]["workerManager"]["launchConfigId"]
    );
}

#[test]
fn two_worker_types_that_export_the_same_worker_pool_are_refused_at_both_places() {
    let policy = format!("regions = [\"us-east-1\"]\n{TASKCLUSTER}");
    // `ci` exports proj-gen/ci by its stem; `other` says workerType = "ci" on line 12.
    let other = format!("{WORKER}\n[taskcluster]\nworkerType = \"ci\"\n");
    let tmp = repo_with(&policy, &[("ci", WORKER), ("other", &other)]);
    let out = tmp.path().join("out");
    let (code, doc) = export(tmp.path(), &tmp.path().join("repo"), &out);
    assert_eq!(code, 1, "{doc:#}");
    // One finding in each file: `ci` on its whole file (its stem says the
    // name), `other` on its `workerType` value.
    assert_eq!(
        errors(&doc),
        [
            ("taskcluster::duplicate-worker-pool".into(), "worker-types/ci.toml".into(), 1, 1),
            (
                "taskcluster::duplicate-worker-pool".into(),
                "worker-types/other.toml".into(),
                12,
                14
            ),
        ]
    );
    for f in doc["findings"].as_array().unwrap() {
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("`ci`, `other` all export the worker pool `proj-gen/ci`"),
            "{f:#}"
        );
    }
    assert!(!out.exists(), "nothing is written");
    // `check` finds the same two, so the hook and the editor see them before export.
    let repo = tmp.path().join("repo");
    let (code, checked) = json(tmp.path(), &["check", repo.to_str().unwrap()]);
    assert_eq!(code, 1, "{checked:#}");
    assert_eq!(errors(&checked), errors(&doc));
}

#[test]
fn the_sets_worker_config_is_merged_under_user_data_in_pools_and_artifacts() {
    let policy = format!("regions = [\"us-east-1\"]\n{TASKCLUSTER}");
    let set = "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n\n\
        [workerConfig]\nlist = [1, 2]\nimageBuild = \"abc123\"\n\n\
        [workerConfig.bootstrap]\nscript = \"https://example.com/bootstrap.sh\"\nref = \"abc123\"\n\n\
        [workerConfig.shutdown]\nenabled = true\nafterIdleSeconds = 15\n";
    let worker = format!(
        "{WORKER}\n[userData]\ncapacity = 1\nlist = [3]\nshutdown = {{ afterIdleSeconds = 60 }}\nbootstrap = {{ extra = {{ a = 1 }} }}\n"
    );
    let tmp = repo_with(&policy, &[("linux", &worker)]);
    let repo = tmp.path().join("repo");
    std::fs::write(repo.join("ami-sets/base.toml"), set).unwrap();
    // Written out by hand: tables merge key by key, the worker type's arrays and scalars win.
    let expected = json!({
        "capacity": 1,
        "list": [3],
        "imageBuild": "abc123",
        "bootstrap": {"script": "https://example.com/bootstrap.sh", "ref": "abc123", "extra": {"a": 1}},
        "shutdown": {"enabled": true, "afterIdleSeconds": 60}
    });
    let out = tmp.path().join("out");
    let (code, doc) = export(tmp.path(), &repo, &out);
    assert_eq!(code, 0, "{doc:#}");
    let pools = valid_pools(&out);
    assert_eq!(pools["proj-gen/linux.json"]["config"]["launchConfigs"][0]["workerConfig"], expected);

    let compiled = tmp.path().join("compiled");
    let c = amiset(
        tmp.path(),
        &["compile", repo.to_str().unwrap(), "--out", compiled.to_str().unwrap()],
    );
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    let artifact = |rel: &str| -> Json { serde_json::from_slice(&std::fs::read(compiled.join(rel)).unwrap()).unwrap() };
    let wt = artifact("worker-types/linux.json");
    assert_eq!(wt["workerConfig"], expected);
    assert_eq!(
        wt["userData"],
        json!({"capacity": 1, "list": [3], "shutdown": {"afterIdleSeconds": 60}, "bootstrap": {"extra": {"a": 1}}})
    );
    assert_eq!(
        artifact("ami-sets/base.json")["workerConfig"],
        json!({"list": [1, 2], "imageBuild": "abc123",
               "bootstrap": {"script": "https://example.com/bootstrap.sh", "ref": "abc123"},
               "shutdown": {"enabled": true, "afterIdleSeconds": 15}})
    );
}

#[test]
fn taskcluster_tables_of_worker_types_are_checked_by_the_schema() {
    let policy = format!("regions = [\"us-east-1\"]\n{TASKCLUSTER}");
    let bad = format!(
        "{WORKER}\n[taskcluster]\nworkerType = \"Not_Valid\"\nlifecycle = {{ queueInactivityTimeout = 60 }}\nworkerManager = {{ initialWeight = 2 }}\nproviderId = \"x\"\n"
    );
    let bad_type = WORKER.replace(
        "instanceType = \"m5.large\"\n",
        "instanceType = \"m5.large\"\nworkerManager = { maxCapacity = -1 }\n",
    );
    let tmp = repo_with(&policy, &[("bad", &bad), ("badtype", &bad_type)]);
    let (code, doc) = json(tmp.path(), &["check", "repo"]);
    assert_eq!(code, 1, "{doc:#}");
    let mut found: Vec<(String, u64)> = errors(&doc)
        .into_iter()
        .filter(|f| f.0.starts_with("schema::"))
        .map(|f| (f.1, f.2))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("worker-types/bad.toml".to_string(), 12),
            ("worker-types/bad.toml".to_string(), 13),
            ("worker-types/bad.toml".to_string(), 14),
            ("worker-types/bad.toml".to_string(), 15),
            ("worker-types/badtype.toml".to_string(), 7),
        ],
        "{doc:#}"
    );
}

#[test]
fn export_and_compile_create_the_missing_parents_of_out() {
    let tmp = tempfile::tempdir().unwrap();
    let example = manifest_dir().join("config-example");
    let pools = tmp.path().join("a/b/pools");
    let (code, doc) = export(tmp.path(), &example, &pools);
    assert_eq!(code, 0, "{doc:#}");
    assert!(pools.join("manifest.json").is_file());
    let compiled = tmp.path().join("c/d/compiled");
    let c = amiset(
        tmp.path(),
        &["compile", example.to_str().unwrap(), "--out", compiled.to_str().unwrap()],
    );
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    assert!(compiled.join("manifest.json").is_file());
    // Relative to the working directory, too.
    let c = amiset(tmp.path(), &["compile", example.to_str().unwrap(), "--out", "e/f"]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    assert!(tmp.path().join("e/f/manifest.json").is_file());
}

#[test]
fn missing_parents_of_out_inside_the_config_are_still_refused_and_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&manifest_dir().join("config-example"), &repo);
    for out in ["repo/worker-types/x/y", "repo/ami-sets/new/../x/y"] {
        let c = amiset(tmp.path(), &["compile", "repo", "--out", out]);
        assert_eq!(c.status.code(), Some(2), "{out}: {}", stderr(&c));
        assert!(stderr(&c).contains("inside the config directory"), "{}", stderr(&c));
    }
    assert!(!repo.join("worker-types/x").exists() && !repo.join("ami-sets/new").exists() && !repo.join("ami-sets/x").exists());
    // A missing parent whose `..` leads back out of the config is fine.
    let c = amiset(tmp.path(), &["export", "taskcluster", "repo", "--out", "repo/../made/../pools"]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    assert!(tmp.path().join("pools/manifest.json").is_file());
}
