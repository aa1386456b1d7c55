//! The pull-request gate cannot be switched off by the pull request it
//! gates (DESIGN §4): changes to protected paths need the admin scope, in
//! real repositories built with the `git` CLI; and the shipped gate
//! workflow never executes anything from the pull request's tree.

mod common;

use std::path::{Path, PathBuf};

use common::repo::Repo;
use common::{amiset, codes, json, manifest_dir, stderr, stdout};
use serde_json::Value as Json;

const ADMIN: &str = "aws-provisioner:admin";
const GATE: &str = ".github/workflows/amiset.yml";

/// `authorize --base main` for `author` (JSON): exit code and document.
fn authorize(repo: &Repo, author: &str, extra: &[&str]) -> (i32, Json) {
    let (code, doc) = json(&repo.root, &[&["authorize", "--base", "main", "--author", author], extra].concat());
    assert!(code == 0 || code == 1, "exit {code}: {doc}");
    (code, doc)
}

/// `(scope, because, satisfied)` of every requirement.
fn required(doc: &Json) -> Vec<(String, String, bool)> {
    doc["required"]
        .as_array()
        .expect("required")
        .iter()
        .map(|r| {
            (
                r["scope"].as_str().unwrap().to_string(),
                r["because"].as_str().unwrap().to_string(),
                !r["satisfiedBy"].is_null(),
            )
        })
        .collect()
}

fn admin(because: &str, ok: bool) -> (String, String, bool) {
    (ADMIN.to_string(), because.to_string(), ok)
}

/// The gate workflow with its authorize step removed.
fn without_authorize_step(text: &str) -> String {
    let start = text
        .find("      - name: Authorize the author")
        .expect("the gate has an authorize step");
    let end = text[start..]
        .find("\n  comment:")
        .map(|i| start + i)
        .expect("the comment job follows");
    format!("{}{}", &text[..start], &text[end + 1..])
}

#[test]
fn dropping_the_gate_step_needs_the_admin_scope() {
    let repo = Repo::new();
    let gate = std::fs::read_to_string(repo.root.join(GATE)).unwrap();
    let edited = without_authorize_step(&gate);
    assert!(gate.contains("amiset\" authorize"));
    assert!(!edited.contains("amiset\" authorize"), "the step is gone");
    repo.write(GATE, &edited).commit();

    // @carol holds scopes, but not the admin scope.
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["authorized"], Json::Bool(false));
    assert_eq!(
        required(&doc),
        [admin(".github/workflows/amiset.yml modified (protected path `.github/**`)", false)]
    );
    assert_eq!(codes(&doc), ["scope::missing"]);
    assert_eq!(doc["findings"][0]["file"], GATE);
    assert!(doc["findings"][0]["message"].as_str().unwrap().contains(ADMIN), "{doc:#}");

    // The admin may.
    let (code, doc) = authorize(&repo, "@alice", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["required"][0]["satisfiedBy"],
        serde_json::json!({"file": "SCOPES", "line": 11, "pattern": ADMIN})
    );
}

#[test]
fn adding_a_workflow_or_rewriting_codeowners_needs_the_admin_scope() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"])
        .write("CODEOWNERS", "* @alice\n")
        .commit()
        .git(&["checkout", "-q", "-B", "pr"])
        .write(".github/workflows/sneaky.yml", "on: push\njobs: {}\n")
        .write("CODEOWNERS", "* @carol\n")
        .write(".pre-commit-config.yaml", "repos: []\n")
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        required(&doc),
        [
            admin(".github/workflows/sneaky.yml added (protected path `.github/**`)", false),
            admin(".pre-commit-config.yaml added (protected path `.pre-commit-config.yaml`)", false),
            admin("CODEOWNERS modified (protected path `CODEOWNERS`)", false),
        ]
    );
    let (code, _) = authorize(&repo, "@alice", &[]);
    assert_eq!(code, 0);
}

#[test]
fn moving_a_workflow_away_or_deleting_it_needs_the_admin_scope() {
    let repo = Repo::new();
    repo.git(&["mv", GATE, "old-gate.yml"]).commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        required(&doc),
        [admin(".github/workflows/amiset.yml deleted (protected path `.github/**`)", false)]
    );
}

#[test]
fn replacing_the_github_directory_by_a_link_needs_the_admin_scope() {
    let repo = Repo::new();
    repo.git(&["rm", "-r", "-q", ".github"]);
    std::os::unix::fs::symlink("elsewhere", repo.root.join(".github")).unwrap();
    repo.commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1, "{doc:#}");
    let becauses: Vec<String> = required(&doc).into_iter().map(|r| r.1).collect();
    assert!(
        becauses.contains(&".github added (protected path `.github/**`)".to_string()),
        "{becauses:?}"
    );
}

#[test]
fn a_readme_change_needs_nothing() {
    let repo = Repo::new();
    repo.edit("README.md", "fleet", "the fleet").commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["required"], serde_json::json!([]));
}

#[test]
fn protected_paths_from_the_base_replace_the_defaults() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"])
        .edit(
            "amiset.toml",
            "deprecationWarningDays = 30",
            "deprecationWarningDays = 30\nprotectedPaths = [\"deploy/\"]",
        )
        .write("deploy/pipeline.yml", "steps: []\n")
        .commit()
        .git(&["checkout", "-q", "-B", "pr"])
        .write("deploy/pipeline.yml", "steps: [rm]\n")
        .write(".github/workflows/other.yml", "on: push\n")
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        required(&doc),
        [admin("deploy/pipeline.yml modified (protected path `deploy/`)", false)],
        "the list from the base replaces the default list, so .github/ is not protected here"
    );
}

#[test]
fn a_pull_request_cannot_unprotect_paths_for_itself() {
    let repo = Repo::new();
    repo.edit(
        "amiset.toml",
        "deprecationWarningDays = 30",
        "deprecationWarningDays = 30\nprotectedPaths = []",
    )
    .write(GATE, "on: push\njobs: {}\n")
    .commit();
    let (code, doc) = authorize(&repo, "@carol", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        required(&doc),
        [
            admin("amiset.toml modified", false),
            admin(".github/workflows/amiset.yml modified (protected path `.github/**`)", false),
        ]
    );
}

#[test]
fn a_config_in_a_subdirectory_still_protects_the_root_github_directory() {
    let repo = Repo::with_dir("fleet");
    repo.git(&["checkout", "-q", "main"])
        .write(GATE, "on: pull_request_target\n")
        .commit()
        .git(&["checkout", "-q", "-B", "pr"])
        .write(GATE, "on: push\n")
        .write("fleet/.github/workflows/amiset.yml", "# not a workflow GitHub runs\n")
        .commit();
    let (code, doc) = authorize(&repo, "@carol", &["--dir", "fleet"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        required(&doc),
        [admin(".github/workflows/amiset.yml modified (protected path `.github/**`)", false)],
        "paths are from the repository root: fleet/.github is not protected"
    );
    // The finding's file is relative to the config directory ...
    assert_eq!(doc["findings"][0]["file"], "../.github/workflows/amiset.yml");
    // ... and annotations carry the path from the repository root.
    let out = amiset(
        &repo.root,
        &[
            "authorize",
            "--base",
            "main",
            "--author",
            "@carol",
            "--dir",
            "fleet",
            "--format",
            "github",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("::error file=.github/workflows/amiset.yml,line=1,col=1,title=scope%3A%3Amissing::"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_invalid_protected_path_at_the_base_authorizes_nothing() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "main"])
        .edit(
            "amiset.toml",
            "deprecationWarningDays = 30",
            "deprecationWarningDays = 30\nprotectedPaths = [\"ok/\", \"a/[b\"]",
        )
        .commit()
        .git(&["checkout", "-q", "-B", "pr"])
        .edit("README.md", "fleet", "the fleet")
        .commit();
    let (code, doc) = authorize(&repo, "@alice", &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(codes(&doc), ["policy::invalid-protected-path"]);
    let finding = &doc["findings"][0];
    assert_eq!(finding["file"], "amiset.toml");
    let line = std::fs::read_to_string(repo.root.join("amiset.toml"))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("protectedPaths"))
        .unwrap()
        + 1;
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(line as u64), Some(26))
    );

    // check reports it too, at the same place.
    let (code, doc) = json(&repo.root, &["check"]);
    assert_eq!(code, 1);
    assert!(codes(&doc).contains(&"policy::invalid-protected-path".to_string()), "{doc:#}");
}

#[test]
fn who_can_and_codeowners_know_the_protected_paths() {
    let example = manifest_dir().join("config-example");
    let out = amiset(&example, &["who-can", ADMIN]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).ends_with(
            "needed to change: SCOPES, amiset.toml and the protected paths .github/**, CODEOWNERS, \
             .github/CODEOWNERS, docs/CODEOWNERS, .pre-commit-config.yaml, .gitattributes\n"
        ),
        "{}",
        stdout(&out)
    );
    let out = amiset(&example, &["codeowners"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let tail: Vec<&str> = text.lines().rev().take(6).collect();
    // Protected paths come last (the last matching CODEOWNERS line wins), owned by the admins.
    assert_eq!(
        tail,
        [
            "/.gitattributes @alice",
            "/.pre-commit-config.yaml @alice",
            "/docs/CODEOWNERS @alice",
            "/.github/CODEOWNERS @alice",
            "/CODEOWNERS @alice",
            "/.github/** @alice",
        ]
    );
}

#[test]
fn check_rev_reads_a_revision_without_checking_it_out() {
    let repo = Repo::new();
    repo.edit(
        "worker-types/gecko-t-linux-large.toml",
        "amiSetId = \"ubuntu-2204\"",
        "amiSetId = \"ubuntu-2024\"",
    )
    .commit()
    .git(&["checkout", "-q", "main"]);
    // The work tree is main (valid); the revision `pr` has the broken reference.
    let errors = |doc: &Json| -> Vec<String> {
        let findings = doc["findings"].as_array().unwrap().iter();
        findings
            .filter(|f| f["severity"] == "error")
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    let (code, doc) = json(&repo.root, &["check"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(errors(&doc), Vec::<String>::new());
    let (code, doc) = json(&repo.root, &["check", "--rev", "pr"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(errors(&doc), ["ref::unknown-ami-set"]);
    // A directory the revision lacks is a tool error, not an empty config that passes.
    std::fs::create_dir(repo.root.join("elsewhere")).unwrap();
    let out = amiset(&repo.root, &["check", "--rev", "pr", "elsewhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("not a directory in revision `pr`"), "{}", stderr(&out));
}

// ---- the shipped workflows ----

/// Why a workflow triggered by a pull request could run something the pull request controls.
fn gate_violations(text: &str) -> Vec<String> {
    let doc: Json = serde_norway::from_str(text).expect("workflow YAML");
    let mut out = Vec::new();
    let on = &doc["on"];
    let triggers: Vec<String> = match on {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        Json::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    if triggers.iter().any(|t| t == "pull_request") {
        out.push("`pull_request` runs the pull request's own copy of the workflow".to_string());
    }
    if doc["permissions"] != serde_json::json!({}) {
        out.push("top-level permissions must be `{}`; jobs ask for what they need".to_string());
    }
    for (job, def) in doc["jobs"].as_object().expect("jobs") {
        let mut checked_out = false;
        for step in def["steps"].as_array().expect("steps") {
            let name = step["name"]
                .as_str()
                .or(step["uses"].as_str())
                .or(step["run"].as_str())
                .unwrap_or("?");
            if let Some(uses) = step["uses"].as_str() {
                if uses.starts_with("./") || uses.starts_with("docker://") {
                    out.push(format!("{job}/{name}: uses an action from the tree or an image: `{uses}`"));
                }
                let pinned = uses
                    .rsplit_once('@')
                    .is_some_and(|(_, r)| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()));
                if !pinned {
                    out.push(format!("{job}/{name}: `{uses}` is not pinned to a commit"));
                }
                if uses.starts_with("actions/checkout@") {
                    checked_out = true;
                    let with = &step["with"];
                    if with["persist-credentials"] != Json::Bool(false) {
                        out.push(format!("{job}/{name}: checkout persists credentials"));
                    }
                    for key in ["ref", "repository", "path"] {
                        if !with[key].is_null() {
                            out.push(format!("{job}/{name}: checkout sets `{key}`: only the base branch is checked out"));
                        }
                    }
                }
            }
            if let Some(run) = step["run"].as_str() {
                for problem in run_violations(run) {
                    out.push(format!("{job}/{name}: {problem}"));
                }
                if run.contains("cargo install") {
                    if checked_out {
                        out.push(format!(
                            "{job}/{name}: cargo install after a checkout reads the tree's cargo config"
                        ));
                    }
                    if step["working-directory"].as_str() != Some("${{ runner.temp }}") {
                        out.push(format!("{job}/{name}: cargo install must run in runner.temp"));
                    }
                }
            }
        }
    }
    out
}

/// Commands a gate step may run: the pinned amiset binary outside the
/// checkout, and a few tools on fixed arguments. Anything else (a script,
/// make, a build, an interpreter) could run the pull request's files.
fn run_violations(run: &str) -> Vec<String> {
    let mut out = Vec::new();
    // A command substitution `$(...)` is a command of its own.
    let script = run.replace("\\\n", " ").replace("$(", "\n");
    for command in script.split(['\n', ';', '|', '&']).map(str::trim).filter(|c| !c.is_empty()) {
        let words = shell_words(command);
        // Leading `NAME=value` assignments are not the program.
        let mut rest = words.iter().skip_while(|w| {
            w.split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        });
        let Some(program) = rest.next() else { continue };
        let next = rest.next().map(String::as_str).unwrap_or("");
        let ok = match program.as_str() {
            "$RUNNER_TEMP/amiset/bin/amiset" => true,
            "cargo" => next == "install" && words.iter().any(|w| w == "--locked") && words.iter().any(|w| w == "--version"),
            "git" => ["fetch", "cat-file", "rev-parse"].contains(&next),
            "gh" => next == "pr",
            "mkdir" | "printf" | "base64" | "if" | "then" | "fi" | "else" | "true" | "[" => true,
            _ => false,
        };
        if !ok {
            out.push(format!("runs `{command}`"));
        }
    }
    out
}

/// Splits a command into words the way the shell quotes them (no expansion).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, ')') => {}
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

fn gate_workflows(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("pull_request"))
        .collect();
    out.sort();
    out
}

#[test]
fn the_shipped_gate_never_runs_the_pull_requests_files() {
    let example = manifest_dir().join("config-example");
    let gates = gate_workflows(&example);
    assert_eq!(gates, [example.join(GATE)]);
    for path in &gates {
        let problems = gate_violations(&std::fs::read_to_string(path).unwrap());
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
    }
    // What `init` writes is the same gate.
    let tmp = tempfile::tempdir().unwrap();
    let out = amiset(tmp.path(), &["init", "fleet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(tmp.path().join("fleet").join(GATE)).unwrap();
    assert_eq!(written, std::fs::read_to_string(example.join(GATE)).unwrap());
}

#[test]
fn the_gate_check_catches_workflows_that_run_the_pull_request() {
    let gate = std::fs::read_to_string(manifest_dir().join("config-example").join(GATE)).unwrap();
    let mutations = [
        ("pull_request_target:", "pull_request:"),
        (
            "          fetch-depth: 0\n",
            "          fetch-depth: 0\n          ref: ${{ github.event.pull_request.head.sha }}\n",
        ),
        ("          persist-credentials: false\n", ""),
        ("mkdir -p \"$RUNNER_TEMP/report\"", "bash scripts/report.sh"),
        ("mkdir -p \"$RUNNER_TEMP/report\"", "make report"),
        (
            "mkdir -p \"$RUNNER_TEMP/report\"",
            "git worktree add pr refs/amiset/head && ./pr/run.sh",
        ),
        (
            "uses: actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093",
            "uses: ./.github/actions/report",
        ),
        (
            "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02",
            "actions/upload-artifact@v4",
        ),
        ("        working-directory: ${{ runner.temp }}\n", ""),
        ("permissions: {}", "permissions: write-all"),
    ];
    for (from, to) in mutations {
        assert!(gate.contains(from), "the gate contains {from:?}");
        let mutated = gate.replacen(from, to, 1);
        assert!(!gate_violations(&mutated).is_empty(), "not caught: {from:?} -> {to:?}");
    }
}

#[test]
fn zizmor_finds_nothing_of_medium_or_high_severity() {
    let venv = std::env::var_os("AMISET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv"));
    let zizmor = venv.join("bin/zizmor");
    assert!(
        zizmor.is_file(),
        "zizmor is not installed at {}: run scripts/setup",
        zizmor.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = amiset(tmp.path(), &["init", "fleet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let targets = [
        manifest_dir().join(".github/workflows"),
        manifest_dir().join("config-example/.github/workflows"),
        tmp.path().join("fleet/.github/workflows"),
    ];
    let out = std::process::Command::new(&zizmor)
        .args(["--offline", "--strict-collection", "--min-severity", "medium", "--format", "json"])
        .args(&targets)
        .output()
        .expect("zizmor runs");
    let findings: Json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("zizmor printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(findings, serde_json::json!([]), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
