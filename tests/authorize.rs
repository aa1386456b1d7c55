//! `amiset authorize` against real repositories built with the `git` CLI:
//! every row of the DESIGN §4 table, and attempts to get around it.

mod common;

use std::path::Path;

use common::repo::Repo;
use common::{amiset, codes, copy_dir, error_codes, git, json, manifest_dir, stderr, stdout};
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
    // From outside the repository: only --repo and --dir say where the config is.
    let authorize = |format: &str| {
        let args = [
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
            format,
        ];
        amiset(Path::new("/"), &args)
    };
    let out = authorize("json");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(required(&doc), [req("manage-ami-set:ubuntu-2204", false)]);
    // github annotations carry the path from the repository root.
    let out = authorize("github");
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

// ---------------------------------------------------------------------------
// The merge result, several authors, and what hands out power (DESIGN §4).

/// Runs the real `git` CLI in the repository with both dates set to `date`.
fn git_dated(repo: &Repo, date: &str, args: &[&str]) {
    common::git_at(&repo.root, date, args);
}

/// Builds a criss-cross history. On `main`, an admin's branch `fix` applies
/// `harden` (made on the initial commit); main also has `M1`, a commit dated
/// 2030 so that a single-merge-base diff picks it. Branch `atk` merges both
/// of main's merge parents itself (the same tree as main) and then applies
/// `attack`. `git merge-base --all main atk` names two commits.
fn criss_cross(repo: &Repo, harden: impl Fn(&Repo), attack: impl Fn(&Repo)) {
    repo.git(&["checkout", "-q", "main"]);
    let initial = common::git(&repo.root, &["rev-parse", "HEAD"]);
    repo.git(&["checkout", "-q", "-b", "fix", &initial]);
    harden(repo);
    repo.git(&["add", "-A"]);
    git_dated(repo, "2026-02-01T00:00:00Z", &["commit", "-q", "-m", "harden"]);
    repo.git(&["checkout", "-q", "main"]).edit("README.md", "\n", "\nmore\n");
    repo.git(&["add", "-A"]);
    git_dated(repo, "2030-01-01T00:00:00Z", &["commit", "-q", "-m", "readme"]);
    let m1 = common::git(&repo.root, &["rev-parse", "HEAD"]);
    git_dated(repo, "2026-02-02T00:00:00Z", &["merge", "-q", "--no-ff", "--no-edit", "fix"]);
    repo.git(&["checkout", "-q", "-b", "atk", &m1]);
    git_dated(repo, "2026-02-03T00:00:00Z", &["merge", "-q", "--no-ff", "--no-edit", "fix"]);
    attack(repo);
    repo.git(&["add", "-A"]);
    git_dated(repo, "2026-02-04T00:00:00Z", &["commit", "-q", "-m", "attack"]);
    let bases = common::git(&repo.root, &["merge-base", "--all", "main", "atk"]);
    assert_eq!(bases.lines().count(), 2, "the history must be criss-cross: {bases}");
}

/// [`criss_cross`] in a new repository whose `main` first commits `weak`
/// to `path`: the admin's hardening writes `hardened` there, and `attack`
/// runs on `atk`.
fn criss_cross_hardening(path: &str, weak: &str, hardened: &str, attack: impl Fn(&Repo)) -> Repo {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"]);
    repo.write(path, weak).commit();
    criss_cross(
        &repo,
        |r| {
            r.write(path, hardened);
        },
        attack,
    );
    repo
}

const MALLORY: &str = "aws-provisioner:admin                             @mallory\n";

/// SCOPES of config-example, the file every [`Repo`] starts with.
fn example_scopes() -> String {
    std::fs::read_to_string(manifest_dir().join("config-example/SCOPES")).unwrap()
}

#[test]
fn a_criss_cross_merge_cannot_revert_a_scopes_change_of_the_base() {
    let scopes = example_scopes();
    let weak = format!("{scopes}{MALLORY}");
    let repo = criss_cross_hardening("SCOPES", &weak, &scopes, |r| {
        r.write("SCOPES", &weak);
    });
    // What merging really does: the merge result grants @mallory the admin again.
    let merged = common::git(&repo.root, &["merge-tree", "--write-tree", "main", "atk"]);
    let merged_scopes = common::git(&repo.root, &["show", &format!("{}:SCOPES", merged.lines().next().unwrap())]);
    assert!(merged_scopes.contains("@mallory"), "{merged_scopes}");

    let (code, doc) = json(
        &repo.root,
        &["authorize", "--base", "main", "--head", "atk", "--author", "@mallory"],
    );
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(required(&doc), [req("admin", false)]);
    assert_eq!(doc["required"][0]["because"], "SCOPES modified");
}

#[test]
fn a_criss_cross_merge_cannot_revert_the_hardening_of_a_workflow() {
    let gate = ".github/workflows/gate.yml";
    let repo = criss_cross_hardening(gate, "permissions: write-all\n", "permissions: {}\n", |r| {
        r.write(gate, "permissions: write-all\n");
    });
    let (code, doc) = json(&repo.root, &["authorize", "--base", "main", "--head", "atk", "--author", "@carol"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(required(&doc), [req("admin", false)]);
    assert_eq!(
        doc["required"][0]["because"],
        ".github/workflows/gate.yml modified (protected path `.github/**`)"
    );
}

#[test]
fn an_honest_criss_cross_history_is_judged_by_its_own_change_only() {
    let scopes = example_scopes();
    let repo = criss_cross_hardening("SCOPES", &format!("{scopes}{MALLORY}"), &scopes, |r| {
        r.edit(WORKER, "maxCapacity = 200", "maxCapacity = 220");
    });
    let (code, doc) = json(&repo.root, &["authorize", "--base", "main", "--head", "atk", "--author", "@carol"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-linux-large", true)]);
}

#[test]
fn a_conflicting_merge_is_refused_with_its_code() {
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = 300").commit();
    repo.git(&["checkout", "-q", "main"])
        .edit(WORKER, "maxCapacity = 200", "maxCapacity = 250")
        .commit()
        .git(&["checkout", "-q", "pr"]);
    let (code, doc) = authorize(&repo, "@alice", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["authorized"], false);
    assert_eq!(codes(&doc), ["authorize::merge-conflict"]);
    assert_eq!(doc["findings"][0]["file"], WORKER);
}

#[test]
fn merged_judges_an_existing_merge_commit_and_refuses_anything_else() {
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = 250").commit();
    repo.git(&["checkout", "-q", "main"])
        .edit("ami-sets/windows-2022.toml", "\n", "\n# landed on main\n")
        .commit()
        .git(&["checkout", "-q", "-b", "test-merge", "main"])
        .git(&["merge", "-q", "--no-ff", "--no-edit", "pr"]);
    let (code, doc) = authorize(&repo, "@carol", &["--merged", "test-merge"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-linux-large", true)]);
    // A merge commit can hide an edit of its own ("evil merge"): it is judged too.
    repo.edit("SCOPES", "\n", "\n# touched in the merge\n")
        .git(&["add", "-A"])
        .git(&["commit", "-q", "--amend", "--no-edit"]);
    let (code, doc) = authorize(&repo, "@carol", &["--merged", "test-merge"]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(required(&doc).contains(&req("admin", false)), "{doc:#}");
    // Not a merge, or not a merge into the base: a tool error.
    for (merged, base) in [("pr", "main"), ("test-merge", "pr")] {
        let out = amiset(&repo.root, &["authorize", "--base", base, "--merged", merged, "--author", "@alice"]);
        assert_eq!(out.status.code(), Some(2), "{merged} into {base}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("is not a merge of the change into the base"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn every_author_must_hold_every_scope() {
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = 250").commit();
    let (code, doc) = json(
        &repo.root,
        &["authorize", "--base", "main", "--author", "@carol", "--author", "@bob"],
    );
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["authors"], serde_json::json!(["@carol", "@bob"]));
    assert!(doc.get("author").is_none(), "{doc:#}");
    let satisfied = &doc["required"][0]["satisfiedBy"];
    assert_eq!(satisfied["@carol"]["pattern"], "aws-provisioner:manage-worker-type:gecko-t-*");
    assert!(satisfied["@bob"].is_null(), "{doc:#}");
    assert_eq!(codes(&doc), ["scope::missing"]);
    assert!(doc["findings"][0]["message"].as_str().unwrap().starts_with("`@bob` does not hold"));
    // Both hold it: authorized.
    let (code, doc) = json(
        &repo.root,
        &["authorize", "--base", "main", "--author", "@carol", "--author", "dave@example.com"],
    );
    assert_eq!(code, 0, "{doc:#}");
    let out = amiset(
        &repo.root,
        &["authorize", "--base", "main", "--author", "@carol", "--author", "@bob"],
    );
    let text = stdout(&out);
    assert!(text.contains("MISSING  (@bob)") && text.contains("(@carol)"), "{text}");
    assert!(text.contains("error: `@carol`, `@bob` are not all authorized"), "{text}");

    // A team is no author: it makes no change, its members do.
    for team in ["@example/ci", "example/ci", "", " @carol"] {
        let out = amiset(&repo.root, &["authorize", "--base", "main", "--author", team]);
        assert_eq!(out.status.code(), Some(2), "{team:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{team:?}");
    }
}

#[test]
fn toolchain_files_submodules_and_attributes_anywhere_need_the_admin_in_any_case() {
    for path in [
        "rust-toolchain.toml",
        "rust-toolchain",
        "Rust-Toolchain.TOML",
        ".cargo/config.toml",
        ".CARGO/config.toml",
        ".gitmodules",
        "tools/deep/.gitattributes",
        ".GitHub/workflows/x.yml",
    ] {
        let repo = Repo::new();
        repo.write(path, "[toolchain]\npath = \"/tmp/x\"\n").commit();
        let (code, doc) = authorize(&repo, "@carol", &[]);
        assert_eq!(code, 1, "{path}: {doc:#}");
        assert_eq!(required(&doc), [req("admin", false)], "{path}");
        assert!(
            doc["required"][0]["because"].as_str().unwrap().contains("(protected path"),
            "{path}: {doc:#}"
        );
        let (code, _) = authorize(&repo, "@alice", &[]);
        assert_eq!(code, 0, "{path}");
    }
}

/// Adding `path`, a case variant of the config path `real`, needs the admin
/// and nothing else, and says why.
fn only_the_admin_for_a_case_variant(repo: &Repo, path: &str, real: &str, extra: &[&str]) {
    let (code, doc) = authorize(repo, "@bob", extra);
    assert_eq!(code, 1, "{path}: {doc:#}");
    assert_eq!(required(&doc), [req("admin", false)], "{path}");
    assert_eq!(
        doc["required"][0]["because"],
        format!("{path} added (differs from the config path `{real}` only by case)")
    );
}

#[test]
fn config_paths_in_another_case_need_the_admin_and_fail_check() {
    let set = std::fs::read_to_string(manifest_dir().join("config-example").join(SET)).unwrap();
    for (path, real) in [
        ("AMISET.toml", "amiset.toml"),
        ("Scopes", "SCOPES"),
        ("Ami-Sets/ubuntu-2204.toml", "ami-sets"),
        ("WORKER-TYPES/x.toml", "worker-types"),
        ("\u{17f}COPE\u{17f}", "SCOPES"),
        ("wor\u{212a}er-types/x.toml", "worker-types"),
    ] {
        let repo = Repo::new();
        repo.write(path, &set).commit();
        only_the_admin_for_a_case_variant(&repo, path, real, &[]);
        // The same tree fails check, from Git objects and from the work tree.
        for args in [&["check", "--rev", "pr"][..], &["check"][..]] {
            let (code, doc) = json(&repo.root, args);
            assert_eq!(code, 1, "{path} {args:?}: {doc:#}");
            assert_eq!(error_codes(&doc), ["config::case-variant"], "{path} {args:?}");
        }
    }
}

/// With the config in `fleet/`, a sibling that differs from it only by case
/// is config to a case-insensitive checkout; so are names that fold to a
/// config name beyond ASCII (`ſ` upper-cases to `S`, `K` KELVIN SIGN
/// lower-cases to `k`).
#[test]
fn case_variants_of_a_config_subdirectory_and_unicode_folds_need_the_admin() {
    let set = std::fs::read_to_string(manifest_dir().join("config-example").join(SET)).unwrap();
    for (path, real) in [
        ("FLEET/SCOPES", "fleet/SCOPES"),
        ("Fleet/ami-sets/ubuntu-2204.toml", "fleet/ami-sets"),
        ("fleet/Worker-Types/x.toml", "fleet/worker-types"),
        ("fleet/\u{17f}COPE\u{17f}", "fleet/SCOPES"),
        ("fleet/ami-\u{17f}ets/x.toml", "fleet/ami-sets"),
    ] {
        let repo = Repo::with_dir("fleet");
        repo.write(path, &set).commit();
        only_the_admin_for_a_case_variant(&repo, path, real, &["--dir", "fleet"]);
    }
    // Another directory whose name only starts like the config's is not config.
    let repo = Repo::with_dir("fleet");
    repo.write("fleet-notes/SCOPES", "not config\n").commit();
    let (code, doc) = authorize(&repo, "@bob", &["--dir", "fleet"]);
    assert_eq!((code, required(&doc)), (0, vec![]), "{doc:#}");
}

#[test]
fn privileged_values_need_the_admin_unless_held_before_or_allowed() {
    const PROFILE: &str = "IamInstanceProfile = { Arn = \"arn:aws:iam::123456789012:instance-profile/OrgAdmin\" }\n";
    // Through each layer of the worker type: the worker type, a region, an instance type.
    for (from, to, path, value) in [
        (
            "[launchSpec]\n",
            &format!("[launchSpec]\n{PROFILE}") as &str,
            "IamInstanceProfile.Arn",
            "arn:aws:iam::123456789012:instance-profile/OrgAdmin",
        ),
        (
            "SubnetId = \"subnet-0abc2222\"",
            "SubnetId = \"subnet-0bad0000\"",
            "SubnetId",
            "subnet-0bad0000",
        ),
        (
            "launchSpec = { EbsOptimized = true,",
            "launchSpec = { SecurityGroupIds = [\"sg-0abc1234\", \"sg-0e0e0e0e\"], EbsOptimized = true,",
            "SecurityGroupIds",
            "sg-0e0e0e0e",
        ),
        // A launch template brings its own profile, groups and subnet.
        (
            "[launchSpec]\n",
            "[launchSpec]\nLaunchTemplate = { LaunchTemplateId = \"lt-0123456789abcdef0\" }\n",
            "LaunchTemplate.LaunchTemplateId",
            "lt-0123456789abcdef0",
        ),
    ] {
        let repo = Repo::new();
        repo.edit(WORKER, from, to).commit();
        let (code, doc) = authorize(&repo, "@carol", &[]);
        assert_eq!(code, 1, "{path}: {doc:#}");
        assert_eq!(
            required(&doc),
            [req("manage-worker-type:gecko-t-linux-large", true), req("admin", false)],
            "{path}"
        );
        let because = doc["required"][1]["because"].as_str().unwrap();
        assert!(
            because.starts_with(&format!("{WORKER} sets privileged `{path} = {value}` for ")),
            "{because}"
        );
        let finding = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["message"].as_str().unwrap().contains(path))
            .unwrap();
        assert_eq!(finding["file"], WORKER);
        assert!(finding["line"].as_u64().unwrap() > 1, "points at the layer: {finding}");
        let (code, _) = authorize(&repo, "@alice", &[]);
        assert_eq!(code, 0, "{path}");
    }
    // Allowed by the base's `[privileged.allow]`, or already held by the worker type: nothing more.
    for (from, to) in [
        ("SubnetId = \"subnet-0abc2222\"", "SubnetId = \"subnet-0abc9999\""),
        (
            "launchSpec = { EbsOptimized = true,",
            "launchSpec = { SubnetId = \"subnet-0abc1111\", EbsOptimized = true,",
        ),
    ] {
        let repo = Repo::new();
        repo.edit(WORKER, from, to).commit();
        let (code, doc) = authorize(&repo, "@carol", &[]);
        assert_eq!(code, 0, "{to}: {doc:#}");
        assert_eq!(required(&doc), [req("manage-worker-type:gecko-t-linux-large", true)]);
    }
    // An allow-list the change adds for itself does not count (and needs the admin anyway).
    let repo = Repo::new();
    repo.edit("amiset.toml", "\"subnet-0abc*\"", "\"subnet-*\"")
        .edit(WORKER, "SubnetId = \"subnet-0abc2222\"", "SubnetId = \"subnet-0bad0000\"")
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1);
    assert!(
        doc["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["because"].as_str().unwrap().contains("subnet-0bad0000")),
        "{doc:#}"
    );
}

#[test]
fn check_rev_with_base_refuses_an_ami_the_base_revoked_after_the_branch_point() {
    let repo = Repo::new();
    repo.edit(WORKER, "maxCapacity = 200", "maxCapacity = 250").commit();
    let ami = "ami-0123456789abcdef0";
    assert!(std::fs::read_to_string(repo.root.join(SET)).unwrap().contains(ami));
    repo.git(&["checkout", "-q", "main"])
        .edit(
            "amiset.toml",
            "[[revoked]]",
            &format!("[[revoked]]\nami = \"{ami}\"\nreason = \"CVE-2026-9999\"\n\n[[revoked]]"),
        )
        .commit()
        .git(&["checkout", "-q", "pr"]);
    let (code, doc) = json(&repo.root, &["check", "--rev", "pr"]);
    assert_eq!(code, 0, "the head alone does not know: {doc:#}");
    let (code, doc) = json(&repo.root, &["check", "--rev", "pr", "--base", "main"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(error_codes(&doc), ["ref::revoked-ami"], "{doc:#}");
    assert!(
        doc["findings"][0]["message"].as_str().unwrap().contains("CVE-2026-9999")
            || doc["findings"][0]["help"].as_str().unwrap_or("").contains("CVE-2026-9999"),
        "{doc:#}"
    );
}
