//! `amiset diff` on real Git histories.

mod common;

use common::repo::Repo;
use common::{amiset, stderr, stdout};
use serde_json::{Value as Json, json};

const SET: &str = "ami-sets/ubuntu-2204.toml";
const OLD_AMI: &str = "ami-0123456789abcdef0";
const NEW_AMI: &str = "ami-0aaaaaaaaaaaaaaaa";

fn diff(repo: &Repo, format: &str, extra: &[&str]) -> (i32, String) {
    let out = amiset(&repo.root, &[&["diff", "--base", "main", "--format", format], extra].concat());
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&out));
    (code, stdout(&out))
}

/// `(worker, region or region/zone, instance type, changed keys)` of every
/// changed launch spec, from the JSON's `region` and `zone`.
fn changed_specs(doc: &Json) -> Vec<(String, String, String, Vec<String>)> {
    let mut out = Vec::new();
    for wt in doc["workerTypes"]["changed"].as_array().unwrap() {
        for spec in wt["launchSpecs"].as_array().unwrap() {
            out.push((
                wt["name"].as_str().unwrap().to_string(),
                match spec.get("zone") {
                    Some(zone) => format!("{}/{}", spec["region"].as_str().unwrap(), zone.as_str().unwrap()),
                    None => spec["region"].as_str().unwrap().to_string(),
                },
                spec["instanceType"].as_str().unwrap().to_string(),
                spec["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["key"].as_str().unwrap().to_string())
                    .collect(),
            ));
        }
    }
    out
}

#[test]
fn an_ami_bumped_in_one_region_changes_exactly_the_launch_specs_it_reaches() {
    let repo = Repo::new();
    repo.edit(SET, OLD_AMI, NEW_AMI).commit();
    let (_, json) = diff(&repo, "json", &[]);
    let doc: Json = serde_json::from_str(&json).unwrap();
    let s = |v: &str| v.to_string();
    // x86_64 instance types of the three worker types on ubuntu-2204, in us-east-1 only;
    // the zoned one per zone (a, b, e), where offerings.json offers each type
    // (m5d.xlarge is not offered in us-east-1e).
    assert_eq!(
        changed_specs(&doc),
        [
            (s("gecko-t-linux-large"), s("us-east-1"), s("c5.xlarge"), vec![s("ImageId")]),
            (s("gecko-t-linux-large"), s("us-east-1"), s("m5.large"), vec![s("ImageId")]),
            (s("gecko-t-linux-mixed"), s("us-east-1"), s("m5.xlarge"), vec![s("ImageId")]),
            (
                s("gecko-t-linux-zoned"),
                s("us-east-1/us-east-1a"),
                s("c5.xlarge"),
                vec![s("ImageId")]
            ),
            (
                s("gecko-t-linux-zoned"),
                s("us-east-1/us-east-1a"),
                s("m5d.xlarge"),
                vec![s("ImageId")]
            ),
            (
                s("gecko-t-linux-zoned"),
                s("us-east-1/us-east-1b"),
                s("c5.xlarge"),
                vec![s("ImageId")]
            ),
            (
                s("gecko-t-linux-zoned"),
                s("us-east-1/us-east-1b"),
                s("m5d.xlarge"),
                vec![s("ImageId")]
            ),
            (
                s("gecko-t-linux-zoned"),
                s("us-east-1/us-east-1e"),
                s("c5.xlarge"),
                vec![s("ImageId")]
            ),
        ]
    );
    assert_eq!(
        doc["workerTypes"]["changed"][0]["launchSpecs"][0]["keys"][0],
        serde_json::json!({"key": "ImageId", "old": OLD_AMI, "new": NEW_AMI})
    );
    assert_eq!(
        doc["amiSets"]["changed"],
        serde_json::json!([{"id": "ubuntu-2204", "amis": [{"key": "us-east-1 x86_64 hvm", "old": OLD_AMI, "new": NEW_AMI}]}])
    );

    let (code, text) = diff(&repo, "text", &["--exit-code"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("ami_bump_text", text);
    let (code, markdown) = diff(&repo, "markdown", &[]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("ami_bump_markdown", markdown);
}

#[test]
fn a_set_swapped_on_a_worker_type_changes_its_field_and_every_image() {
    let repo = Repo::new();
    repo.edit(
        "worker-types/gecko-t-linux-large.toml",
        "amiSetId = \"ubuntu-2204\"",
        "amiSetId = \"windows-2022\"",
    )
    .commit();
    let (code, json) = diff(&repo, "json", &["--exit-code"]);
    assert_eq!(code, 1);
    let doc: Json = serde_json::from_str(&json).unwrap();
    let wt = &doc["workerTypes"]["changed"][0];
    assert_eq!(wt["name"], "gecko-t-linux-large");
    assert_eq!(
        wt["fields"],
        serde_json::json!([{"key": "amiSetId", "old": "ubuntu-2204", "new": "windows-2022"}])
    );
    let specs = changed_specs(&doc);
    assert_eq!(specs.len(), 6, "{specs:?}");
    assert!(specs.iter().all(|(_, _, _, keys)| keys == &["ImageId"]));
}

#[test]
fn after_a_merge_of_main_only_the_branchs_own_changes_show() {
    let repo = Repo::new();
    repo.edit("worker-types/gecko-t-win2022.toml", "maxCapacity", "# bigger\nmaxCapacity")
        .commit();
    repo.git(&["checkout", "-q", "main"])
        .edit(SET, OLD_AMI, NEW_AMI)
        .commit()
        .git(&["checkout", "-q", "pr"]);
    repo.git(&["merge", "-q", "--no-edit", "main"]);
    // A comment changes nothing resolved; main's AMI bump is not the branch's.
    let (code, text) = diff(&repo, "text", &["--exit-code"]);
    assert_eq!((code, text.as_str()), (0, ""));
    repo.edit(
        "worker-types/gecko-t-win2022.toml",
        "# bigger\nmaxCapacity = 150",
        "# bigger\nmaxCapacity = 160",
    )
    .commit();
    let (code, text) = diff(&repo, "text", &["--exit-code"]);
    assert_eq!(code, 1);
    assert_eq!(text, "~ worker type gecko-t-win2022\n    maxCapacity: 150 -> 160\n");
}

#[test]
fn no_changes_print_nothing_and_exit_zero() {
    let repo = Repo::new();
    repo.edit("README.md", "fleet", "our fleet").commit();
    for format in ["text", "markdown"] {
        let (code, out) = diff(&repo, format, &["--exit-code"]);
        assert_eq!((code, out.as_str()), (0, ""), "{format}");
    }
    let (code, json) = diff(&repo, "json", &["--exit-code"]);
    assert_eq!(code, 0);
    let doc: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["workerTypes"]["changed"], serde_json::json!([]));
}

#[test]
fn markdown_is_capped_with_a_count_of_the_rest() {
    let repo = Repo::new();
    repo.edit(
        "worker-types/gecko-t-linux-large.toml",
        "amiSetId = \"ubuntu-2204\"",
        "amiSetId = \"windows-2022\"",
    )
    .git(&["rm", "-q", "worker-types/gecko-b-legacy.toml"])
    .commit();
    let (_, markdown) = diff(&repo, "markdown", &["--max-rows", "2"]);
    assert!(
        markdown.starts_with("**amiset**: 6 launch specs change in 1 worker type (6 with a new ImageId); 1 worker type removed.\n"),
        "{markdown}"
    );
    assert_eq!(markdown.matches("<code>ImageId</code>").count(), 1, "{markdown}");
    assert!(markdown.contains("… and 5 more changes"), "{markdown}");
    assert!(markdown.contains("Worker types removed: <code>gecko-b-legacy</code>"), "{markdown}");
}

#[test]
fn init_scaffolds_a_repository_that_passes_check_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fleet");
    let out = amiset(tmp.path(), &["init", "fleet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let check = amiset(&dir, &["check", "--deny-warnings", "--format", "json"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(dir.join(".github/workflows/amiset.yml").is_file() && dir.join(".pre-commit-config.yaml").is_file());

    // One existing file: refuse, write nothing, change nothing.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(other.join("ami-sets")).unwrap();
    std::fs::write(other.join("SCOPES"), "mine\n").unwrap();
    let out = amiset(tmp.path(), &["init", "other"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to overwrite existing files: SCOPES"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(other.join("SCOPES")).unwrap(), "mine\n");
    assert!(!other.join("amiset.toml").exists());
}

#[test]
fn completions_and_man_page_are_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let bash = amiset(tmp.path(), &["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    assert!(stdout(&bash).contains("authorize") && stdout(&bash).contains("--deny-warnings"));
    let man = amiset(tmp.path(), &["completions", "man"]);
    assert!(stdout(&man).starts_with(".ie \\n(.g .ds Aq \\(aq"), "{}", stdout(&man));
    assert!(stdout(&man).contains(".SH NAME"));
}

/// A change to offerings.json alone changes the launch specs of every zoned
/// worker type that launches the pair: us-east-1b no longer offers
/// m5d.xlarge, so gecko-t-linux-zoned's launch spec there is removed.
#[test]
fn a_change_to_offerings_alone_is_a_change_of_launch_specs() {
    let repo = Repo::new();
    let path = repo.root.join("offerings.json");
    let mut offerings: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let zone = offerings["zones"]["us-east-1b"].as_array_mut().unwrap();
    zone.retain(|t| t != "m5d.xlarge");
    repo.write("offerings.json", &serde_json::to_string_pretty(&offerings).unwrap())
        .commit();
    let (code, json) = diff(&repo, "json", &["--exit-code"]);
    assert_eq!(code, 1, "{json}");
    let doc: Json = serde_json::from_str(&json).unwrap();
    let specs = &doc["workerTypes"]["changed"][0];
    assert_eq!(specs["name"], "gecko-t-linux-zoned");
    assert_eq!(specs["launchSpecs"].as_array().unwrap().len(), 1, "{doc:#}");
    let spec = &specs["launchSpecs"][0];
    assert_eq!(
        (&spec["region"], &spec["zone"], &spec["instanceType"], &spec["change"]),
        (&json!("us-east-1"), &json!("us-east-1b"), &json!("m5d.xlarge"), &json!("removed"))
    );
    let (_, text) = diff(&repo, "text", &[]);
    assert!(text.contains("  - us-east-1/us-east-1b m5d.xlarge\n"), "{text}");
}

/// An instance type's own settings (`capacity`, `workerManager`) change the
/// exported pool without changing a launch spec: they are fields of the
/// worker type, named by instance type.
#[test]
fn instance_type_settings_are_compared_by_instance_type() {
    let repo = Repo::new();
    let worker = "worker-types/gecko-t-linux-large.toml";
    repo.edit(
        worker,
        "capacity = 2\nutility = 1.4\n",
        "capacity = 3\nutility = 1.4\nworkerManager = { maxCapacity = 4 }\n",
    )
    .commit();
    let (code, json) = diff(&repo, "json", &["--exit-code"]);
    assert_eq!(code, 1, "{json}");
    let doc: Json = serde_json::from_str(&json).unwrap();
    let changed = &doc["workerTypes"]["changed"];
    assert_eq!(changed.as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(changed[0]["name"], "gecko-t-linux-large");
    assert_eq!(
        changed[0]["fields"],
        json!([
            {"key": "instanceTypes[c5.xlarge].capacity", "old": 2.0, "new": 3.0},
            {"key": "instanceTypes[c5.xlarge].workerManager.maxCapacity", "old": null, "new": 4},
        ])
    );
    assert_eq!(changed[0]["launchSpecs"], json!([]));
}

/// A worker type file that no longer loads is not compared: the change does
/// not remove the worker type, whatever the file now holds.
#[test]
fn a_worker_type_that_does_not_load_is_not_compared_not_removed() {
    let repo = Repo::new();
    repo.write("worker-types/gecko-t-linux-large.toml", "maxCapacity = [[[\n").commit();
    let (_, json) = diff(&repo, "json", &[]);
    let doc: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["workerTypes"]["removed"], json!([]), "{doc:#}");
    assert_eq!(doc["unresolved"], json!(["gecko-t-linux-large"]), "{doc:#}");
    let (_, markdown) = diff(&repo, "markdown", &[]);
    assert!(!markdown.contains("removed"), "{markdown}");

    // Nor is a set whose file no longer loads removed.
    let repo = Repo::new();
    repo.write("ami-sets/windows-2022.toml", "[[amis]\n").commit();
    let (_, json) = diff(&repo, "json", &[]);
    let doc: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["amiSets"]["removed"], json!([]), "{doc:#}");
    assert_eq!(doc["unresolved"], json!(["gecko-t-win2022"]), "{doc:#}");
}

/// A zone's `workerManager` is compared too, named by region and zone.
#[test]
fn zone_settings_are_compared_by_region_and_zone() {
    let repo = Repo::new();
    repo.edit(
        "worker-types/gecko-t-linux-zoned.toml",
        "{ zone = \"us-east-1a\", launchSpec = { SubnetId = \"subnet-0aaa1111\" } }",
        "{ zone = \"us-east-1a\", launchSpec = { SubnetId = \"subnet-0aaa1111\" }, workerManager = { initialWeight = 0.5 } }",
    )
    .commit();
    let (code, json) = diff(&repo, "json", &["--exit-code"]);
    assert_eq!(code, 1, "{json}");
    let doc: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["workerTypes"]["changed"][0]["fields"],
        json!([{"key": "regions[us-east-1].zones[us-east-1a].workerManager.initialWeight", "old": null, "new": 0.5}]),
        "{doc:#}"
    );
}
