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
        .find("      - name: Authorize the merge for the author and the pusher")
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
             .github/CODEOWNERS, docs/CODEOWNERS, .pre-commit-config.yaml, **/.gitattributes, .gitmodules, \
             rust-toolchain, rust-toolchain.toml, .cargo/**\n"
        ),
        "{}",
        stdout(&out)
    );
    let out = amiset(&example, &["codeowners"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let tail: Vec<&str> = text.lines().rev().take(10).collect();
    // Protected paths come last (the last matching CODEOWNERS line wins), owned by the admins.
    assert_eq!(
        tail,
        [
            "/.cargo/** @alice",
            "/rust-toolchain.toml @alice",
            "/rust-toolchain @alice",
            "/.gitmodules @alice",
            "/**/.gitattributes @alice",
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
    let (code, doc) = json(&repo.root, &["check"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(common::error_codes(&doc), Vec::<String>::new());
    let (code, doc) = json(&repo.root, &["check", "--rev", "pr"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(common::error_codes(&doc), ["ref::unknown-ami-set"]);
    // A directory the revision lacks is a tool error, not an empty config that passes.
    std::fs::create_dir(repo.root.join("elsewhere")).unwrap();
    let out = amiset(&repo.root, &["check", "--rev", "pr", "elsewhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("not a directory in revision `pr`"), "{}", stderr(&out));
}

// ---- the shipped workflows ----
//
// Every workflow amiset ships (this repository's own, `config-example/`'s
// and what `init` writes) is read and held to DESIGN §4:
// - tools (amiset, cargo-nextest, Rust, Python) are installed before any
//   checkout, from `runner.temp`, at a pinned version, verified where they
//   are downloaded;
// - a job that holds anything worth stealing (a write permission, an OIDC
//   token, a secret, a deployment environment, or any job of a
//   `pull_request_target` workflow) runs nothing from a checkout after it:
//   only the pinned amiset binary and a few tools on fixed arguments. Jobs
//   with a read-only token and nothing else (this repository's CI and
//   release builds) build the tree: that is what they are for;
// - the gate authorizes GitHub's test merge for the author and the pusher.

/// Name (for messages) and text of every workflow amiset ships.
fn shipped_workflows() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut read_dir = |dir: &Path, label: &str| {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        paths.sort();
        for p in paths {
            let name = format!("{label}/{}", p.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read_to_string(&p).unwrap()));
        }
    };
    read_dir(&manifest_dir().join(".github/workflows"), ".github/workflows");
    read_dir(
        &manifest_dir().join("config-example/.github/workflows"),
        "config-example/.github/workflows",
    );
    let tmp = tempfile::tempdir().unwrap();
    let init = amiset(tmp.path(), &["init", "fleet"]);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    read_dir(&tmp.path().join("fleet/.github/workflows"), "init/.github/workflows");
    out
}

fn triggers(doc: &Json) -> Vec<String> {
    match &doc["on"] {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        Json::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Why a job holds something worth stealing, if it does.
fn privilege(doc: &Json, job: &Json) -> Option<String> {
    let triggers = triggers(doc);
    if let Some(t) = triggers.iter().find(|t| *t == "pull_request_target" || *t == "workflow_run") {
        return Some(format!("runs on `{t}` with the base repository's token and caches"));
    }
    let permissions = if job.get("permissions").is_some() {
        &job["permissions"]
    } else {
        &doc["permissions"]
    };
    match permissions {
        Json::String(s) if s != "read-all" => return Some(format!("permissions `{s}`")),
        Json::Object(m) => {
            if let Some((k, _)) = m.iter().find(|(_, v)| v.as_str() == Some("write")) {
                return Some(format!("`{k}: write`"));
            }
        }
        _ => {}
    }
    if !job["environment"].is_null() {
        return Some("a deployment environment".to_string());
    }
    if serde_json::to_string(job).unwrap().contains("secrets.") {
        return Some("secrets".to_string());
    }
    None
}

/// The commands of a `run:` script, as words, without leading variable
/// assignments, shell keywords and `sudo`/`env` (the command they run is
/// what counts).
fn commands(run: &str) -> Vec<Vec<String>> {
    // A command substitution `$(...)` is a command of its own.
    let script = run.replace("\\\n", " ").replace("$(", "\n");
    let mut out = Vec::new();
    for command in script.split(['\n', ';', '|', '&']).map(str::trim).filter(|c| !c.is_empty()) {
        let words = shell_words(command);
        let is_assignment = |w: &String| {
            w.split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        };
        let keyword = |w: &String| {
            [
                "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "(", "sudo", "env",
            ]
            .contains(&w.as_str())
        };
        let words: Vec<String> = words.into_iter().skip_while(|w| is_assignment(w) || keyword(w)).collect();
        if !words.is_empty() {
            out.push(words);
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

/// A toolchain or interpreter version: `1.95`, `3.11`, `1.95.0`.
fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a command installs a tool: `None` if it does not, else
/// `Some(None)` when pinned and `Some(Some(why))` when not. `verified`
/// says whether the step checks a sha256 of what it downloads.
fn install(words: &[String], verified: bool) -> Option<Option<String>> {
    let has = |flag: &str| words.iter().any(|w| w == flag || w.starts_with(&format!("{flag}=")));
    let program = words[0].as_str();
    // `cargo +1.95 install`: the toolchain argument is not the subcommand.
    let sub: Vec<&str> = words[1..].iter().map(String::as_str).filter(|w| !w.starts_with('+')).collect();
    let unpinned = |why: &str| Some(Some(why.to_string()));
    match program {
        "cargo" if sub.first() == Some(&"install") => {
            if sub.contains(&"amiset") {
                unpinned("amiset is installed as the release's sha256-pinned binary, not compiled")
            } else if has("--path") || has("--git") || sub.get(1) == Some(&".") {
                unpinned("cargo install from a path or a Git repository builds code that is not a pinned release")
            } else if !has("--locked") || !has("--version") {
                unpinned("cargo install without --locked and --version")
            } else {
                Some(None)
            }
        }
        "cargo" if sub.first() == Some(&"binstall") => unpinned("cargo binstall is not pinned by hash"),
        "rustup" if (sub.first() == Some(&"toolchain") && sub.get(1) == Some(&"install")) || sub.first() == Some(&"install") => {
            let toolchain = if sub.first() == Some(&"install") { sub.get(1) } else { sub.get(2) };
            if toolchain.is_some_and(|t| is_version(t)) {
                Some(None)
            } else {
                unpinned("rustup installs a channel, not a version")
            }
        }
        "pip" | "pip3" | "pipx" | "uv" => {
            if !words.iter().any(|w| w == "install") {
                None
            } else if has("--require-hashes") && !words.iter().any(|w| w == "." || w == "-e") {
                Some(None)
            } else {
                unpinned("pip install without --require-hashes")
            }
        }
        "python" | "python3" if words.get(1).map(String::as_str) == Some("-m") && words.get(2).is_some_and(|m| m == "pip") => {
            install(&words[2..], verified)
        }
        "curl" | "wget" => {
            if verified {
                Some(None)
            } else {
                unpinned("a download whose sha256 is not checked (`sha256sum --check`)")
            }
        }
        "npm" | "npx" | "yarn" | "pnpm" | "go" | "gem" | "apt-get" | "apt" | "brew" => {
            unpinned("a package manager that does not check a pinned hash")
        }
        _ => None,
    }
}

/// For a `uses:` step that installs a tool: `Some(None)` when the version is pinned.
fn install_action(uses: &str, with: &Json) -> Option<Option<String>> {
    let action = uses.split('@').next().unwrap_or("");
    let version_input = match action {
        "actions/setup-python" => "python-version",
        "actions/setup-node" => "node-version",
        "actions/setup-go" => "go-version",
        "actions/setup-java" => "java-version",
        "dtolnay/rust-toolchain" => "toolchain",
        "taiki-e/install-action" => {
            let tool = with["tool"].as_str().unwrap_or("");
            return Some(
                if tool
                    .split(',')
                    .all(|t| t.split_once('@').is_some_and(|(_, v)| is_version(v) || v.split('.').count() == 3))
                {
                    None
                } else {
                    Some(format!("`{uses}` installs `{tool}` without a version"))
                },
            );
        }
        a if a.starts_with("actions/setup-") => return Some(Some(format!("`{uses}`: an installer this check does not know"))),
        _ => return None,
    };
    let version = with[version_input].as_str().unwrap_or("");
    Some(if is_version(version) {
        None
    } else {
        Some(format!("`{uses}` without a pinned `{version_input}`"))
    })
}

/// Whether a command may run in a privileged job after a checkout: the
/// pinned amiset binary, and tools that read the tree as data.
fn allowed_after_checkout(words: &[String], working_directory: Option<&str>) -> bool {
    let has = |flag: &str| words.iter().any(|w| w == flag);
    let program = words[0].as_str();
    let sub: Vec<&str> = words[1..].iter().map(String::as_str).filter(|w| !w.starts_with('+')).collect();
    match program {
        "$RUNNER_TEMP/amiset/bin/amiset" => true,
        // Packs the tree's files and uploads them; builds nothing, and runs
        // from runner.temp, so no cargo config or toolchain file of the tree is read.
        "cargo" => {
            sub.first() == Some(&"publish") && has("--no-verify") && has("--locked") && working_directory == Some("${{ runner.temp }}")
        }
        "git" => {
            // Skip `-C DIR` and `-c KEY=VALUE`.
            let mut rest = words[1..].iter().map(String::as_str);
            let sub = loop {
                match rest.next() {
                    Some("-C" | "-c") => {
                        rest.next();
                    }
                    other => break other,
                }
            };
            sub.is_some_and(|s| ["fetch", "cat-file", "rev-parse", "clone", "rm", "add", "commit", "tag", "push"].contains(&s))
        }
        "gh" => matches!(sub.first(), Some(&"pr" | &"release")),
        // Uploads compiled files (the signed artifacts) as data: the runner
        // image's AWS CLI, reading nothing of the tree but the output.
        "aws" => sub.first() == Some(&"s3") && matches!(sub.get(1), Some(&"cp" | &"sync")),
        "xargs" => sub.first() == Some(&"sha256sum"),
        "find" => !words.iter().any(|w| w.starts_with("-exec") || w.starts_with("-ok")),
        "mkdir" | "printf" | "echo" | "base64" | "test" | "[" | "cat" | "cd" | "cp" | "mv" | "rm" | "sort" | "sha256sum" | "mktemp"
        | "umask" | "export" | "set" | "mapfile" | "true" | "false" | "exit" => true,
        _ => false,
    }
}

/// Why a shipped workflow could run something it should not, install a tool
/// unpinned or after a checkout, or authorize less than the gate must.
fn workflow_violations(text: &str) -> Vec<String> {
    let doc: Json = serde_norway::from_str(text).expect("workflow YAML");
    let mut out = Vec::new();
    let triggers = triggers(&doc);
    if doc["permissions"] != serde_json::json!({}) {
        out.push("top-level permissions must be `{}`; jobs ask for what they need".to_string());
    }
    for (job, def) in doc["jobs"].as_object().expect("jobs") {
        let privilege = privilege(&doc, def);
        let mut checked_out = false;
        let mut amiset_installed = false;
        for step in def["steps"].as_array().expect("steps") {
            let name = step["name"]
                .as_str()
                .or(step["uses"].as_str())
                .or(step["run"].as_str())
                .unwrap_or("?");
            let at = format!("{job}/{name}");
            if let Some(uses) = step["uses"].as_str() {
                if uses.starts_with("./") || uses.starts_with("docker://") {
                    out.push(format!("{at}: uses an action from the tree or an image: `{uses}`"));
                }
                let pinned = uses
                    .rsplit_once('@')
                    .is_some_and(|(_, r)| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()));
                if !pinned {
                    out.push(format!("{at}: `{uses}` is not pinned to a commit"));
                }
                let with = &step["with"];
                if uses.starts_with("actions/checkout@") {
                    checked_out = true;
                    if with["persist-credentials"] != Json::Bool(false) {
                        out.push(format!("{at}: checkout persists credentials"));
                    }
                    for key in ["ref", "repository", "path"] {
                        if !with[key].is_null() {
                            out.push(format!(
                                "{at}: checkout sets `{key}`: only the workflow's own commit is checked out"
                            ));
                        }
                    }
                }
                if uses.starts_with("PyO3/maturin-action@")
                    && !with["maturin-version"]
                        .as_str()
                        .is_some_and(|v| is_version(v.trim_start_matches('v')))
                {
                    out.push(format!("{at}: maturin-action installs the latest maturin: set `maturin-version`"));
                }
                if let Some(problem) = install_action(uses, with) {
                    if checked_out {
                        out.push(format!("{at}: installs a tool after a checkout"));
                    }
                    out.extend(problem.map(|p| format!("{at}: {p}")));
                }
            }
            let Some(run) = step["run"].as_str() else { continue };
            let working_directory = step["working-directory"].as_str();
            let verified = run.contains("sha256sum --check") || run.contains("sha256sum -c");
            let mut installs = false;
            for words in commands(run) {
                let command = words.join(" ");
                if let Some(problem) = install(&words, verified) {
                    installs = true;
                    if checked_out {
                        out.push(format!("{at}: installs a tool after a checkout: `{command}`"));
                    }
                    out.extend(problem.map(|p| format!("{at}: {p}: `{command}`")));
                } else if words[0] == "amiset" {
                    out.push(format!("{at}: runs an `amiset` from PATH, not the pinned one: `{command}`"));
                } else if words[0] == "$RUNNER_TEMP/amiset/bin/amiset" && !amiset_installed {
                    out.push(format!("{at}: runs amiset before the job installs it"));
                } else if checked_out && privilege.is_some() && !allowed_after_checkout(&words, working_directory) {
                    out.push(format!(
                        "{at}: runs `{command}` after a checkout in a job that holds {}",
                        privilege.as_deref().unwrap_or("")
                    ));
                }
                if words[0] == "$RUNNER_TEMP/amiset/bin/amiset" && words.get(1).is_some_and(|w| w == "authorize") {
                    if triggers.iter().any(|t| t == "pull_request") {
                        out.push(format!("{at}: `pull_request` runs the pull request's own copy of the gate"));
                    }
                    if !words.iter().any(|w| w == "--merged") {
                        out.push(format!("{at}: authorize judges the head, not GitHub's test merge (`--merged`)"));
                    }
                    let authors: Vec<&String> = words.windows(2).filter(|w| w[0] == "--author").map(|w| &w[1]).collect();
                    let env = &step["env"];
                    for who in ["github.event.pull_request.user.login", "github.event.sender.login"] {
                        let named = authors.iter().any(|a| {
                            a.strip_prefix("@$")
                                .is_some_and(|var| env[var].as_str() == Some(&format!("${{{{ {who} }}}}")))
                        });
                        if !named {
                            out.push(format!("{at}: authorize does not name `{who}`"));
                        }
                    }
                }
            }
            if installs {
                if working_directory != Some("${{ runner.temp }}") {
                    out.push(format!("{at}: installs must run in runner.temp, outside any checkout"));
                }
                if run.contains("amiset/bin/amiset") {
                    amiset_installed = true;
                }
            }
        }
    }
    out
}

#[test]
fn every_shipped_workflow_installs_pinned_tools_first_and_runs_nothing_from_a_checkout() {
    let workflows = shipped_workflows();
    let names: Vec<&str> = workflows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ".github/workflows/ci.yml",
            ".github/workflows/release.yml",
            "config-example/.github/workflows/amiset-daily.yml",
            "config-example/.github/workflows/amiset-publish.yml",
            "config-example/.github/workflows/amiset-update.yml",
            "config-example/.github/workflows/amiset.yml",
            "init/.github/workflows/amiset.yml",
        ]
    );
    let problems: Vec<String> = workflows
        .iter()
        .flat_map(|(name, text)| workflow_violations(text).into_iter().map(move |p| format!("{name}: {p}")))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    // What `init` writes is the gate of config-example.
    assert_eq!(workflows[6].1, workflows[5].1);
}

/// Each mutation of a shipped workflow must be caught.
fn assert_caught(name: &str, mutations: &[(&str, &str)]) {
    let text = std::fs::read_to_string(manifest_dir().join(name)).unwrap();
    assert!(workflow_violations(&text).is_empty(), "{name} itself passes");
    for (from, to) in mutations {
        assert!(text.contains(from), "{name} contains {from:?}");
        let mutated = text.replacen(from, to, 1);
        assert_ne!(mutated, text);
        assert!(!workflow_violations(&mutated).is_empty(), "{name}: not caught: {from:?} -> {to:?}");
    }
}

const INSTALL_STEP_START: &str = "      - name: Install amiset (pinned release binary, sha256-verified, outside any checkout)\n";

/// `text` with its first amiset install step moved after its first checkout step.
fn install_after_checkout(text: &str) -> String {
    let start = text.find(INSTALL_STEP_START).expect("an install step");
    let end = start + text[start + 1..].find("      - ").expect("a step after it") + 1;
    let step = &text[start..end];
    let rest = format!("{}{}", &text[..start], &text[end..]);
    let checkout = rest.find("persist-credentials: false\n").expect("a checkout") + "persist-credentials: false\n".len();
    format!("{}{step}{}", &rest[..checkout], &rest[checkout..])
}

#[test]
fn the_gate_check_catches_workflows_that_run_the_pull_request() {
    let gate = std::fs::read_to_string(manifest_dir().join("config-example").join(GATE)).unwrap();
    assert!(!workflow_violations(&install_after_checkout(&gate)).is_empty());
    assert_caught(
        "config-example/.github/workflows/amiset.yml",
        &[
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
            ("mkdir -p \"$RUNNER_TEMP/report\"", "npm ci && npm run report"),
            ("mkdir -p \"$RUNNER_TEMP/report\"", "pip install ."),
            ("mkdir -p \"$RUNNER_TEMP/report\"", "if true; then python3 report.py; fi"),
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
            // The install: unverified, or built from source, or from PATH.
            (
                "          echo \"$AMISET_SHA256  $asset.tar.gz\" | sha256sum --check --strict -\n",
                "",
            ),
            (
                "          asset=\"amiset-v$AMISET_VERSION-x86_64-unknown-linux-gnu\"\n",
                "          cargo install --locked amiset --features ec2\n",
            ),
            ("\"$RUNNER_TEMP/amiset/bin/amiset\" check --rev", "amiset check --rev"),
            // What authorize judges, and for whom.
            ("--merged refs/amiset/merge", "--head \"$HEAD_SHA\""),
            (" --author \"@$PUSHER\"", ""),
            (
                "PUSHER: ${{ github.event.sender.login }}",
                "PUSHER: ${{ github.event.pull_request.user.login }}",
            ),
        ],
    );
}

#[test]
fn the_workflow_check_catches_builds_and_late_or_unpinned_installs_in_every_workflow() {
    for name in ["amiset-update.yml", "amiset-publish.yml", "amiset-daily.yml"] {
        let text = std::fs::read_to_string(manifest_dir().join("config-example/.github/workflows").join(name)).unwrap();
        assert!(!workflow_violations(&install_after_checkout(&text)).is_empty(), "{name}");
    }
    assert_caught(
        "config-example/.github/workflows/amiset-update.yml",
        &[
            // What the update workflow did before: install unpinned after checking out.
            (
                "      - name: EC2 credentials (read-only, OIDC)\n",
                "      - run: cargo install --locked amiset --features ec2\n      - name: EC2 credentials (read-only, OIDC)\n",
            ),
            ("\"$RUNNER_TEMP/amiset/bin/amiset\" update'", "cargo run --release -- update'"),
            ("\"$RUNNER_TEMP/amiset/bin/amiset\" update'", "./scripts/update.sh'"),
            (
                "\"$RUNNER_TEMP/amiset/bin/amiset\" update'",
                "cargo install --path . && amiset update'",
            ),
            ("\"$RUNNER_TEMP/amiset/bin/amiset\" update'", "amiset update'"),
        ],
    );
    assert_caught(
        "config-example/.github/workflows/amiset-publish.yml",
        &[
            (
                "'\"$RUNNER_TEMP/amiset/bin/amiset\" apply launch-templates'",
                "cargo build --release && target/release/amiset apply launch-templates",
            ),
            ("\"$RUNNER_TEMP/amiset/bin/amiset\" compile", "sh -c amiset compile"),
        ],
    );
    assert_caught(
        ".github/workflows/ci.yml",
        &[
            (
                "cargo install --locked cargo-nextest --version \"$NEXTEST_VERSION\"",
                "cargo install --locked cargo-nextest",
            ),
            (
                "cargo install --locked cargo-nextest --version \"$NEXTEST_VERSION\"",
                "curl -LsSf https://get.nexte.st/latest/linux | tar zxf - -C ~/.cargo/bin",
            ),
            ("rustup toolchain install 1.95", "rustup toolchain install stable"),
            ("          python-version: \"3.11\"\n", ""),
            ("        working-directory: ${{ runner.temp }}\n", ""),
            // The tree is built only with a read-only token.
            (
                "      contents: read\n    # Tools first",
                "      contents: read\n      id-token: write\n    # Tools first",
            ),
        ],
    );
    // Tools installed after the tree is checked out.
    let ci = std::fs::read_to_string(manifest_dir().join(".github/workflows/ci.yml")).unwrap();
    let moved = ci.replacen(
        "      - run: sudo bash .ci/run\n",
        "      - working-directory: ${{ runner.temp }}\n        run: cargo install --locked cargo-nextest --version 0.9.143\n      - run: sudo bash .ci/run\n",
        1,
    );
    assert_ne!(moved, ci);
    assert!(!workflow_violations(&moved).is_empty());
    assert_caught(
        ".github/workflows/release.yml",
        &[
            ("cargo +1.95 publish --locked --no-verify", "cargo +1.95 publish --locked"),
            (
                "cargo +1.95 publish --locked --no-verify",
                "cargo +1.95 build --release && cargo +1.95 publish --locked --no-verify",
            ),
            (
                "          maturin-version: v1.16.0\n          command: upload\n",
                "          command: upload\n",
            ),
            (
                "          git -C mirror add -A\n",
                "          git -C mirror add -A\n          bash mirror-hooks.sh\n",
            ),
            // A publish job that checks out and runs the tree's scripts.
            (
                "        run: cargo +1.95 publish",
                "        run: scripts/publish && cargo +1.95 publish",
            ),
        ],
    );
    // Installing after the checkout in a build job is caught too.
    let release = std::fs::read_to_string(manifest_dir().join(".github/workflows/release.yml")).unwrap();
    let setup = "      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0\n        with:\n          python-version: \"3.11\"\n";
    let checkout = "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n        with:\n          persist-credentials: false\n";
    let swapped = release.replacen(&format!("{setup}{checkout}"), &format!("{checkout}{setup}"), 1);
    assert_ne!(swapped, release);
    assert!(!workflow_violations(&swapped).is_empty());
}

// ---- the install step and the release agree ----

/// `KEY=value` lines of `.github/amiset-release.env`.
fn release_pin(root: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(root.join(".github/amiset-release.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn cargo_version() -> String {
    let manifest: toml::Table = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap().parse().unwrap();
    manifest["package"]["version"].as_str().unwrap().to_string()
}

fn semver(v: &str) -> (u64, u64, u64) {
    let core = v.split(['-', '+']).next().unwrap();
    let n: Vec<u64> = core.split('.').map(|p| p.parse().expect("a version")).collect();
    (n[0], n[1], n[2])
}

/// The `run:` script of the step named `step` of job `job`, with its `env:`.
fn release_step(release: &Json, job: &str, step: &str) -> (String, Json) {
    let steps = release["jobs"][job]["steps"].as_array().expect("steps");
    let s = steps
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("{job} has a step {step:?}"));
    (s["run"].as_str().unwrap().to_string(), s["env"].clone())
}

/// Runs a workflow `run:` script the way GitHub runs a bash step.
fn run_step(script: &str, cwd: &Path, env: &[(&str, &str)], path: &Path) -> std::process::Output {
    let file = cwd.join(".step.sh");
    std::fs::write(&file, script).unwrap();
    let out = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&file)
        .current_dir(cwd)
        .env("PATH", format!("{}:{}", path.display(), std::env::var("PATH").unwrap()))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    out
}

/// The install step of every workflow that installs amiset: top-level env and `run:`.
fn amiset_installs(root: &Path) -> Vec<(String, Json, String)> {
    let mut out = Vec::new();
    for dir in [".github/workflows", "config-example/.github/workflows"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths {
            let doc: Json = serde_norway::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            for job in doc["jobs"].as_object().unwrap().values() {
                for step in job["steps"].as_array().unwrap() {
                    if step["name"].as_str().is_some_and(|n| n.starts_with("Install amiset")) {
                        let name = format!("{dir}/{}", p.file_name().unwrap().to_string_lossy());
                        out.push((name, doc["env"].clone(), step["run"].as_str().unwrap().to_string()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn workflows_install_what_the_release_publishes() {
    let version = cargo_version();
    let tag = format!("v{version}");
    let release: Json =
        serde_norway::from_str(&std::fs::read_to_string(manifest_dir().join(".github/workflows/release.yml")).unwrap()).unwrap();

    // The pin: one release, named as the release names its linux x86_64 archive.
    let pin = release_pin(manifest_dir());
    let pinned = &pin["AMISET_VERSION"];
    assert_eq!(pin["AMISET_ASSET"], format!("amiset-v{pinned}-x86_64-unknown-linux-gnu.tar.gz"));
    let sha = &pin["AMISET_SHA256"];
    // A published release (never a later one than this source), or this
    // version before it is published.
    assert!(
        semver(pinned) <= semver(&version),
        "pinned {pinned} is newer than Cargo.toml's {version}"
    );
    if sha == "unreleased" {
        assert_eq!(pinned, &version, "only the version about to be released may be unpublished");
    } else {
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{sha}"
        );
    }

    // Every workflow that installs amiset installs the pin, with the same step.
    let installs = amiset_installs(manifest_dir());
    let names: Vec<&str> = installs.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "config-example/.github/workflows/amiset-daily.yml",
            "config-example/.github/workflows/amiset-publish.yml",
            "config-example/.github/workflows/amiset-publish.yml",
            "config-example/.github/workflows/amiset-update.yml",
            "config-example/.github/workflows/amiset.yml",
        ]
    );
    for (name, env, run) in &installs {
        assert_eq!(env["AMISET_VERSION"].as_str(), Some(pinned.as_str()), "{name}");
        assert_eq!(env["AMISET_SHA256"].as_str(), Some(sha.as_str()), "{name}");
        assert_eq!(run, &installs[0].2, "{name}: the same install step everywhere");
    }

    // The release builds that archive with the `ec2` feature the workflows use.
    let platforms = release["jobs"]["wheels"]["strategy"]["matrix"]["platform"].as_array().unwrap();
    let linux = platforms
        .iter()
        .find(|p| p["name"] == "x86_64-unknown-linux-gnu")
        .expect("a linux x86_64 build");
    assert!(linux["runner"].as_str().unwrap().starts_with("ubuntu-"), "{linux}");
    assert!(
        platforms.iter().any(|p| p["name"] == "aarch64-unknown-linux-gnu"),
        "a linux aarch64 build"
    );
    let build = release["jobs"]["wheels"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Build the wheel")
        .unwrap();
    let args = shell_words(build["with"]["args"].as_str().unwrap());
    assert!(args.windows(2).any(|w| w[0] == "--features" && w[1] == "ec2"), "{args:?}");
    for (name, text) in shipped_workflows().iter().filter(|(n, _)| n.starts_with("config-example")) {
        // Every config workflow calls EC2, which needs the `ec2` feature.
        assert!(
            text.contains("--ec2") || text.contains(" update") || text.contains("apply launch-templates"),
            "{name}"
        );
    }

    // Run the release's own steps on a stand-in wheel: the binary comes out
    // as the archive the pin names, listed in SHA256SUMS.
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let python3 = which("python3");
    std::os::unix::fs::symlink(&python3, bin.join("python")).unwrap();
    let build_dir = tmp.path().join("build");
    std::fs::create_dir_all(build_dir.join("dist")).unwrap();
    std::fs::write(build_dir.join("README.md"), "amiset\n").unwrap();
    let wheel = build_dir.join(format!("dist/amiset-{version}-py3-none-manylinux_2_28_x86_64.whl"));
    let made = std::process::Command::new(&python3)
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr(sys.argv[2], '#!/bin/sh\\necho \"amiset ' + sys.argv[3] + ' (stand-in)\"\\n')\nz.close()",
        ])
        .arg(&wheel)
        .arg(format!("amiset-{version}.data/scripts/amiset"))
        .arg(&version)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (take, env) = release_step(&release, "wheels", "Take the binary out of the wheel");
    assert_eq!(env["NAME"], "${{ matrix.platform.name }}");
    assert_eq!(env["TAG"], "${{ github.ref_name }}");
    let out = run_step(
        &format!("set -euo pipefail\n{take}"),
        &build_dir,
        &[("NAME", "x86_64-unknown-linux-gnu"), ("TAG", &tag)],
        &bin,
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // download-artifact merges every job's files under release/, then Checksums.
    let gh = tmp.path().join("gh");
    std::fs::create_dir_all(gh.join("release/binaries")).unwrap();
    std::fs::create_dir_all(gh.join("release/dist")).unwrap();
    let archive = format!("amiset-{tag}-x86_64-unknown-linux-gnu.tar.gz");
    std::fs::rename(
        build_dir.join("binaries").join(&archive),
        gh.join("release/binaries").join(&archive),
    )
    .unwrap();
    std::fs::rename(&wheel, gh.join("release/dist").join(wheel.file_name().unwrap())).unwrap();
    std::fs::write(gh.join(format!("release/amiset-{version}.tar.gz")), "sdist").unwrap();
    let (checksums, _) = release_step(&release, "github-release", "Checksums");
    let out = run_step(&checksums, &gh, &[], &bin);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let sums = std::fs::read_to_string(gh.join("assets/SHA256SUMS")).unwrap();
    let expected_sha = sha256_hex(&std::fs::read(gh.join("assets").join(&archive)).unwrap());
    assert!(sums.lines().any(|l| l == format!("{expected_sha}  {archive}")), "{sums}");
    assert_eq!(sums.lines().count(), 3, "{sums}");

    // pin-release writes that hash into a copy of the tree ...
    let tree = tmp.path().join("tree");
    for dir in ["scripts", ".github/workflows", "config-example/.github/workflows"] {
        std::fs::create_dir_all(tree.join(dir)).unwrap();
    }
    std::fs::copy(manifest_dir().join("scripts/pin-release"), tree.join("scripts/pin-release")).unwrap();
    std::fs::copy(
        manifest_dir().join(".github/amiset-release.env"),
        tree.join(".github/amiset-release.env"),
    )
    .unwrap();
    for dir in [".github/workflows", "config-example/.github/workflows"] {
        for e in std::fs::read_dir(manifest_dir().join(dir)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, tree.join(dir).join(p.file_name().unwrap())).unwrap();
        }
    }
    let out = std::process::Command::new(tree.join("scripts/pin-release"))
        .arg(&version)
        .arg(gh.join("assets/SHA256SUMS"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let repinned = release_pin(&tree);
    assert_eq!(repinned["AMISET_VERSION"], version);
    assert_eq!(repinned["AMISET_ASSET"], archive);
    assert_eq!(repinned["AMISET_SHA256"], expected_sha);
    let installs = amiset_installs(&tree);
    assert_eq!(installs.len(), 5);

    // ... and each workflow's install step, given the release as GitHub
    // serves it, installs the binary the later steps run.
    let server = tmp.path().join("server");
    std::fs::create_dir_all(server.join("amiset/amiset/releases/download")).unwrap();
    std::os::unix::fs::symlink(gh.join("assets"), server.join("amiset/amiset/releases/download").join(&tag)).unwrap();
    std::fs::write(
        bin.join("curl"),
        format!(
            "#!/bin/bash\nout=; url=\nwhile [ $# -gt 0 ]; do case $1 in -o) out=$2; shift 2;; --proto) shift 2;; -*) shift;; *) url=$1; shift;; esac; done\n\
             f={}/${{url#https://github.com/}}\n[ \"${{url#https://github.com/}}\" != \"$url\" ] && [ -f \"$f\" ] || exit 22\ncp \"$f\" \"$out\"\n",
            server.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("curl"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let install = |run: &str, version: &str, sha: &str| {
        let runner = tempfile::tempdir().unwrap();
        let out = run_step(
            run,
            runner.path(),
            &[
                ("RUNNER_TEMP", runner.path().to_str().unwrap()),
                ("AMISET_VERSION", version),
                ("AMISET_SHA256", sha),
            ],
            &bin,
        );
        let installed = runner.path().join("amiset/bin/amiset");
        let runs = std::process::Command::new(&installed)
            .arg("--version")
            .output()
            .ok()
            .map(|o| stdout(&o));
        (out, runs)
    };
    for (name, env, run) in &installs {
        let (out, runs) = install(run, env["AMISET_VERSION"].as_str().unwrap(), env["AMISET_SHA256"].as_str().unwrap());
        assert!(out.status.success(), "{name}: {}{}", stdout(&out), stderr(&out));
        assert_eq!(runs.as_deref(), Some(format!("amiset {version} (stand-in)\n").as_str()), "{name}");
    }

    // Fail closed: another hash, an unpublished pin, another version.
    let run = &installs[0].2;
    let other = "0".repeat(64);
    for (v, s) in [
        (version.as_str(), other.as_str()),
        (version.as_str(), "unreleased"),
        ("9.9.9", expected_sha.as_str()),
    ] {
        let (out, runs) = install(run, v, s);
        assert!(!out.status.success(), "installed with {v} {s}");
        assert_eq!(runs, None, "nothing is installed with {v} {s}");
    }
    // A changed archive no longer matches the pinned hash.
    let served = gh.join("assets").join(&archive);
    let mut bytes = std::fs::read(&served).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&served, bytes).unwrap();
    let (out, runs) = install(run, &version, &expected_sha);
    assert!(!out.status.success(), "a changed archive was installed");
    assert!(stdout(&out).contains(": FAILED"), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(runs, None);
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
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
