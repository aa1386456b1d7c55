//! `amiset export taskcluster`: worker pools that worker-manager's AWS
//! provider accepts, on config-example and on generated repositories, with
//! every ImageId the one the AMI set holds; atomic, deterministic output; and
//! coded findings (nothing written) for what worker-manager would reject.

mod common;

use std::path::Path;

use common::{amiset, copy_dir, corpus, json, manifest_dir, snapshot_tree, stderr};
use serde_json::{Value as Json, json};

/// Worker-manager's constraints on a worker pool definition for its AWS
/// provider, stated here from taskcluster's published schemas
/// (`services/worker-manager/schemas/v1/config-aws.yml`,
/// `create-worker-pool-request.yml`, `worker-pool-full.yml`,
/// `worker-lifecycle.yml` and the identifier constants), independently of
/// the exporter. One deliberate tightening: config-aws.yml's
/// `not: {required: [IamInstanceProfile, UserData, MinCount, MaxCount]}`
/// only rejects all four together, while worker-manager's documentation and
/// DESIGN §10 forbid each; here each one is forbidden.
fn worker_manager_schema() -> Json {
    let forbidden: Vec<Json> = ["IamInstanceProfile", "UserData", "MinCount", "MaxCount"]
        .iter()
        .map(|k| json!({"not": {"required": [k]}}))
        .collect();
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
                            "reregistrationTimeout": {"type": "integer", "maximum": 2678400}
                        }
                    },
                    "launchConfigs": {
                        "type": "array",
                        "uniqueItems": true,
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["region", "launchConfig", "capacityPerInstance"],
                            "properties": {
                                "region": {"type": "string"},
                                "launchConfig": {
                                    "type": "object",
                                    "required": ["ImageId"],
                                    "properties": {"ImageId": {"type": "string"}},
                                    "allOf": forbidden
                                },
                                "additionalUserData": {"type": "object"},
                                "capacityPerInstance": {"type": "integer", "minimum": 1},
                                "workerConfig": {"type": "object"}
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
            {"region": "us-east-1", "launchConfig": {"ImageId": "ami-1"}, "capacityPerInstance": 1, "workerConfig": {}}]}});
    assert!(validator.is_valid(&good));
    let mutations: [(&str, Json); 7] = [
        ("/config/launchConfigs/0/launchConfig/IamInstanceProfile", json!({"Name": "x"})),
        ("/config/launchConfigs/0/launchConfig/UserData", json!("eA==")),
        ("/config/launchConfigs/0/capacityPerInstance", json!(1.5)),
        ("/config/launchConfigs/0/capacityPerInstance", json!(0)),
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
        assert_eq!(
            pool["config"]["lifecycle"],
            json!({"registrationTimeout": 1800, "reregistrationTimeout": 345600})
        );
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
                assert_eq!(lc["workerConfig"], artifact.get("userData").cloned().unwrap_or(json!({})));
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
    assert_eq!(c5["capacityPerInstance"], 2);
    assert!(
        codes(&doc)
            .iter()
            .all(|c| c == "taskcluster::not-exported" || c == "policy::legacy-image-id" || c == "offerings::not-offered"),
        "{doc:#}"
    );
}

fn codes(doc: &Json) -> Vec<String> {
    common::codes(doc)
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
                    assert_eq!(lc["capacityPerInstance"], i + 1);
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
