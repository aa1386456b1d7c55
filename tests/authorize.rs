//! `amiset authorize` against real repositories built with the `git` CLI:
//! every row of the DESIGN §4 table, and attempts to get around it.

mod common;

use std::path::Path;

use common::repo::Repo;
use common::{amiset, codes, copy_dir, git, json, manifest_dir, stderr, stdout};
use serde_json::Value as Json;

/// Runs authorize for `author` with `--format json`; returns the exit code and the document.
fn authorize(repo: &Repo, author: &str, extra: &[&str]) -> (i32, Json) {
    let (code, doc) = json(&repo.root, &[&["authorize", "--base", "main", "--author", author], extra].concat());
    assert!(code == 0 || code == 1, "exit {code}: {doc}");
    (code, doc)
}

/// `(scope, satisfied)` for every requirement.
fn required(doc: &Json) -> Vec<(String, bool)> {
    doc["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["scope"].as_str().unwrap().to_string(), !r["satisfiedBy"].is_null()))
        .collect()
}

fn req(scope: &str, ok: bool) -> (String, bool) {
    (format!("aws-provisioner:{scope}"), ok)
}

const SET: &str = "ami-sets/ubuntu-2204.toml";
const WORKER: &str = "worker-types/gecko-t-linux-large.toml";

#[test]
fn modifying_a_set_needs_manage_ami_set_and_reports_the_satisfying_line() {
    let repo = Repo::new();
    repo.edit(SET, "description", "# reviewed\ndescription").commit();
    let (code, doc) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["required"],
        serde_json::json!([{"scope": "aws-provisioner:manage-ami-set:ubuntu-2204", "because": "ami-sets/ubuntu-2204.toml modified",
            "satisfiedBy": {"file": "SCOPES", "line": 2, "pattern": "aws-provisioner:manage-ami-set:ubuntu-*"}}])
    );
    assert_eq!(doc["authorized"], Json::Bool(true));
    assert_eq!(doc["author"], "@bob");

    // @carol may deploy ubuntu sets but not manage them.
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert_eq!(required(&doc), [req("manage-ami-set:ubuntu-2204", false)]);
    let finding = &doc["findings"][0];
    assert_eq!(finding["code"], "scope::missing");
    assert_eq!(finding["file"], SET);
    assert!(
        finding["help"]
            .as_str()
            .unwrap()
            .contains("aws-provisioner:deploy-ami-set:ubuntu-*"),
        "{finding}"
    );
}

#[test]
fn adding_and_deleting_sets_need_manage_ami_set() {
    let repo = Repo::new();
    repo.write(
        "ami-sets/ubuntu-2604.toml",
        "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n",
    )
    .git(&["rm", "-q", "ami-sets/centos-6.toml"])
    .commit();
    let (code, doc) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        required(&doc),
        [req("manage-ami-set:centos-6", true), req("manage-ami-set:ubuntu-2604", true)]
    );
    let becauses: Vec<&str> = doc["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["because"].as_str().unwrap())
        .collect();
    assert_eq!(becauses, ["ami-sets/centos-6.toml deleted", "ami-sets/ubuntu-2604.toml added"]);
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        required(&doc),
        [req("manage-ami-set:centos-6", false), req("manage-ami-set:ubuntu-2604", false)]
    );
}

#[test]
fn adding_a_worker_type_needs_manage_deploy_and_every_scope_it_grants() {
    let repo = Repo::new();
    repo.write(
        "worker-types/gecko-t-new.toml",
        "amiSetId = \"ubuntu-2204\"\nmaxCapacity = 1\nscopes = [\"queue:create-task:proj-ci/new\"]\n\
         [[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
    )
    .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        required(&doc),
        [
            req("manage-worker-type:gecko-t-new", true),
            req("deploy-ami-set:ubuntu-2204", true),
            ("queue:create-task:proj-ci/new".into(), true)
        ]
    );
    // @bob manages sets but not worker types and holds no queue scopes.
    let (code, doc) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        required(&doc),
        [
            req("manage-worker-type:gecko-t-new", false),
            req("deploy-ami-set:ubuntu-2204", true),
            ("queue:create-task:proj-ci/new".into(), false)
        ]
    );
}

#[test]
fn modifying_a_worker_type_needs_deploy_only_when_its_set_changes() {
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = 300").commit();
    let (code, doc) = authorize(&repo, "dave@example.com", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-linux-large", true)]);

    // Moving the worker type to a set the author cannot deploy.
    repo.edit(WORKER, "amiSetId = \"ubuntu-2204\"", "amiSetId = \"windows-2022\"")
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        required(&doc),
        [
            req("manage-worker-type:gecko-t-linux-large", true),
            req("deploy-ami-set:windows-2022", false)
        ]
    );
    assert_eq!(
        doc["required"][1]["because"],
        "worker-types/gecko-t-linux-large.toml modified: amiSetId became `windows-2022`"
    );
    // The finding points at the amiSetId value.
    assert_eq!(
        (doc["findings"][0]["line"].as_u64(), doc["findings"][0]["column"].as_u64()),
        (Some(3), Some(12))
    );
}

#[test]
fn a_worker_type_may_only_gain_scopes_its_author_holds() {
    let repo = Repo::new();
    repo.edit(
        WORKER,
        "scopes = [\"queue:create-task:proj-ci/*\"]",
        "scopes = [\"queue:create-task:proj-ci/*\", \"queue:create-task:proj-release/*\"]",
    )
    .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    // The scope it already had is not required again.
    assert_eq!(
        required(&doc),
        [
            req("manage-worker-type:gecko-t-linux-large", true),
            ("queue:create-task:proj-release/*".into(), false)
        ]
    );
}

#[test]
fn deleting_a_worker_type_needs_manage_worker_type() {
    let repo = Repo::new();
    repo.git(&["rm", "-q", "worker-types/gecko-t-win2022.toml"]).commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-win2022", true)]);
    let (code, _) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 1);
}

#[test]
fn policy_files_need_the_admin_scope() {
    for file in ["SCOPES", "amiset.toml"] {
        let repo = Repo::new();
        repo.edit(file, "\n", "\n# touched\n").commit();
        let (code, doc) = authorize(&repo, "@bob", &[]);
        assert_eq!(code, 1, "{file}");
        assert_eq!(required(&doc), [req("admin", false)]);
        let (code, _) = authorize(&repo, "@alice", &[]);
        assert_eq!(code, 0, "{file}");
    }
}

#[test]
fn a_change_cannot_grant_itself_scopes_or_team_membership() {
    let repo = Repo::new();
    repo.edit(
        "SCOPES",
        "aws-provisioner:admin",
        "aws-provisioner:*                                 @carol\naws-provisioner:admin",
    )
    .edit(
        "amiset.toml",
        "\"@example/relops\" = [\"@alice\", \"@bob\"]",
        "\"@example/relops\" = [\"@alice\", \"@bob\", \"@carol\"]",
    )
    .edit("ami-sets/windows-2022.toml", "\n", "\n# mine now\n")
    .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        required(&doc),
        // Sorted by path: SCOPES, ami-sets/…, amiset.toml.
        [req("admin", false), req("manage-ami-set:windows-2022", false), req("admin", false)]
    );
}

#[test]
fn a_rename_is_a_delete_plus_an_add() {
    let repo = Repo::new();
    repo.git(&["mv", SET, "ami-sets/carol-2204.toml"]).commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        required(&doc),
        [req("manage-ami-set:carol-2204", false), req("manage-ami-set:ubuntu-2204", false)]
    );
    // A worker type renamed into a name the author manages still needs the old name.
    let repo = Repo::new();
    repo.git(&["mv", "worker-types/gecko-b-arm-builder.toml", "worker-types/gecko-t-arm.toml"])
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert!(
        required(&doc).contains(&req("manage-worker-type:gecko-b-arm-builder", false)),
        "{doc:#}"
    );
    assert!(required(&doc).contains(&req("manage-worker-type:gecko-t-arm", true)), "{doc:#}");
}

#[test]
fn only_a_trailing_star_is_a_wildcard() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"])
        .edit(
            "SCOPES",
            "aws-provisioner:admin",
            "aws-provisioner:manage-*:windows-2022            @erin\naws-provisioner:admin",
        )
        .commit()
        .git(&["checkout", "-q", "pr"])
        .git(&["merge", "-q", "main"])
        .edit("ami-sets/windows-2022.toml", "\n", "\n# erin\n")
        .commit();
    let (code, doc) = authorize(&repo, "@erin", &[]);
    assert_eq!(code, 1);
    assert_eq!(required(&doc), [req("manage-ami-set:windows-2022", false)]);
}

#[test]
fn case_variants_and_symlinks_under_config_dirs_are_refused() {
    let repo = Repo::new();
    repo.write("ami-sets/Ubuntu-2204.toml", &std::fs::read_to_string(repo.root.join(SET)).unwrap())
        .commit();
    let (code, doc) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 1);
    assert_eq!(required(&doc), [req("manage-ami-set:Ubuntu-2204", false)]);
    assert!(codes(&doc).contains(&"file::case-collision".to_string()), "{doc:#}");

    let repo = Repo::new();
    std::os::unix::fs::symlink("../SCOPES", repo.root.join("ami-sets/ubuntu-evil.toml")).unwrap();
    repo.commit();
    let (code, doc) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-ami-set:ubuntu-evil", true)]);
    assert_eq!(codes(&doc), ["file::symlink"]);
}

#[test]
fn only_the_pull_requests_own_changes_count_when_base_moved_ahead_or_was_merged_in() {
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = 250").commit();
    repo.git(&["checkout", "-q", "main"])
        .edit("ami-sets/windows-2022.toml", "\n", "\n# landed on main\n")
        .commit()
        .git(&["checkout", "-q", "pr"]);
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-linux-large", true)]);
    // Merging main into the branch does not make main's changes the author's.
    repo.git(&["merge", "-q", "--no-edit", "main"]);
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-linux-large", true)]);
}

#[test]
fn malformed_files_are_reported_on_either_side() {
    // Head side: the change cannot be understood, so it is not authorized.
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = = 200").commit();
    let (code, doc) = authorize(&repo, "@alice", &[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&doc), ["parse::syntax"]);
    assert_eq!(doc["findings"][0]["file"], WORKER);

    // Merge-base side: reported; everything on the new side counts as added.
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"])
        .edit(WORKER, "maxCapacity = 200", "maxCapacity = = 200")
        .commit()
        .git(&["checkout", "-q", "-B", "pr"])
        .edit(WORKER, "maxCapacity = = 200", "maxCapacity = 200")
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(codes(&doc), ["parse::syntax"]);
    assert_eq!(doc["findings"][0]["severity"], "warning");
    assert_eq!(
        required(&doc),
        [
            req("manage-worker-type:gecko-t-linux-large", true),
            req("deploy-ami-set:ubuntu-2204", true),
            ("queue:create-task:proj-ci/*".into(), true)
        ]
    );

    // A broken SCOPES on the base side fails every decision closed.
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"])
        .edit("SCOPES", "aws-provisioner:admin", "aws-provisioner:admin  not-a-grantee")
        .commit()
        .git(&["checkout", "-q", "-B", "pr"])
        .edit(SET, "description", "# x\ndescription")
        .commit();
    let (code, doc) = authorize(&repo, "@bob", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(codes(&doc).iter().all(|c| c.starts_with("scopes::")), "{doc:#}");
}

#[test]
fn works_in_a_bare_clone_with_a_config_subdirectory() {
    let repo = Repo::with_dir("fleet");
    repo.edit("README.md", "fleet", "the fleet")
        .edit(&format!("fleet/{SET}"), "description", "# y\ndescription")
        .commit();
    let bare = repo.root.parent().unwrap().join("bare.git");
    git(
        repo.root.parent().unwrap(),
        &["clone", "-q", "--bare", repo.root.to_str().unwrap(), bare.to_str().unwrap()],
    );
    let out = amiset(
        Path::new("/"),
        &[
            "authorize",
            "--repo",
            bare.to_str().unwrap(),
            "--dir",
            "fleet",
            "--base",
            "main",
            "--head",
            "pr",
            "--author",
            "@carol",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(required(&doc), [req("manage-ami-set:ubuntu-2204", false)]);
    // github annotations carry the path from the repository root.
    let out = amiset(
        Path::new("/"),
        &[
            "authorize",
            "--repo",
            bare.to_str().unwrap(),
            "--dir",
            "fleet",
            "--base",
            "main",
            "--head",
            "pr",
            "--author",
            "@carol",
            "--format",
            "github",
        ],
    );
    assert!(
        stdout(&out).starts_with("::error file=fleet/ami-sets/ubuntu-2204.toml,line=1,col=1,title=scope%3A%3Amissing::"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn human_output_lists_each_scope_with_its_line_or_missing() {
    let repo = Repo::new();
    repo.edit(WORKER, "amiSetId = \"ubuntu-2204\"", "amiSetId = \"windows-2022\"")
        .commit();
    let out = amiset(&repo.root, &["authorize", "--base", "main", "--author", "@carol"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn an_unknown_revision_is_a_tool_error() {
    let repo = Repo::new();
    let out = amiset(&repo.root, &["authorize", "--base", "no-such-branch", "--author", "@bob"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-branch"), "{}", stderr(&out));
}

#[test]
fn who_can_lists_holders_through_teams() {
    let example = manifest_dir().join("config-example");
    let out = amiset(&example, &["who-can", "aws-provisioner:deploy-ami-set:ubuntu-2204"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "SCOPES:3 aws-provisioner:deploy-ami-set:ubuntu-*  @example/relops (@alice, @bob) @carol\n\
         SCOPES:7 aws-provisioner:deploy-ami-set:*  @alice\n\
         holders: @alice, @bob, @carol\n"
    );
    let out = amiset(&example, &["who-can", "aws-provisioner:manage-*"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "nobody holds `aws-provisioner:manage-*`\n");
}

#[test]
fn codeowners_follows_the_manage_scopes() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&manifest_dir().join("config-example"), tmp.path());
    let out = amiset(tmp.path(), &["codeowners", "--out", ".github/CODEOWNERS"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(std::fs::read_to_string(tmp.path().join(".github/CODEOWNERS")).unwrap());
}
