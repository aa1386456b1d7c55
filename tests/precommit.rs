//! The pre-commit hook, with the real `pre-commit` tool (from the venv that
//! `scripts/setup` creates) in real Git repositories.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{amiset, copy_dir, git, git_init_commit, manifest_dir, stderr, stdout};

fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("AMISET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv"));
    let path = venv.join("bin").join(tool);
    assert!(path.exists(), "{} is missing: run scripts/setup", path.display());
    path
}

fn pre_commit(repo: &Path, home: &Path, args: &[&str]) -> Output {
    in_repo(venv_bin("pre-commit").as_os_str(), args, repo, home)
}

/// Runs `program` in `repo` with pre-commit's home at `home` and a fixed Git identity.
fn in_repo(program: &std::ffi::OsStr, args: &[&str], repo: &Path, home: &Path) -> Output {
    std::process::Command::new(program)
        .args(args)
        .current_dir(repo)
        .env("PRE_COMMIT_HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("NO_COLOR", "1")
        .output()
        .expect("the command runs")
}

/// A config repository with a pre-commit config whose hook runs `entry`.
fn repo_with_hook(tmp: &Path, hook: &str) -> PathBuf {
    let repo = tmp.join("repo");
    copy_dir(&manifest_dir().join("config-example"), &repo);
    std::fs::write(repo.join(".pre-commit-config.yaml"), hook).unwrap();
    git_init_commit(&repo);
    repo
}

const BAD: &str =
    "amiSetId = \"ubuntu-2024\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n";
const GOOD: &str =
    "amiSetId = \"ubuntu-2204\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n";

fn commit(repo: &Path, home: &Path) -> Output {
    in_repo("git".as_ref(), &["commit", "-q", "-m", "change"], repo, home)
}

/// The hook's command line run against the index: refuses bad staged files,
/// passes good ones, and an unstaged fix does not hide a staged error.
#[test]
fn commits_are_checked_as_staged() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pre-commit-home");
    let bin = env!("CARGO_BIN_EXE_amiset");
    let hook = format!(
        "repos:\n  - repo: local\n    hooks:\n      - id: amiset-check\n        name: amiset check\n        entry: {bin} check --staged\n        language: system\n        pass_filenames: false\n"
    );
    let repo = repo_with_hook(tmp.path(), &hook);
    let installed = pre_commit(&repo, &home, &["install"]);
    assert!(installed.status.success(), "{}", stderr(&installed));

    std::fs::write(repo.join("worker-types/new.toml"), BAD).unwrap();
    git(&repo, &["add", "worker-types/new.toml"]);
    // Fix it in the work tree only: the index still holds the error.
    std::fs::write(repo.join("worker-types/new.toml"), GOOD).unwrap();
    let direct = amiset(&repo, &["check", "--staged", "--format", "json"]);
    assert_eq!(direct.status.code(), Some(1), "{}", stdout(&direct));
    assert!(stdout(&direct).contains("ref::unknown-ami-set"));
    assert_eq!(amiset(&repo, &["check"]).status.code(), Some(0), "the work tree itself is fine");
    let refused = commit(&repo, &home);
    assert!(!refused.status.success(), "a bad staged file was committed");
    let output = format!("{}{}", stdout(&refused), stderr(&refused));
    assert!(
        output.contains("ref::unknown-ami-set") && output.contains("worker-types/new.toml"),
        "{output}"
    );
    // The work-tree fix survives pre-commit's stash.
    assert_eq!(std::fs::read_to_string(repo.join("worker-types/new.toml")).unwrap(), GOOD);

    git(&repo, &["add", "worker-types/new.toml"]);
    let accepted = commit(&repo, &home);
    assert!(accepted.status.success(), "{}{}", stdout(&accepted), stderr(&accepted));
    assert_eq!(git(&repo, &["log", "--format=%s", "-1"]), "change");
}

/// The hook as users get it: `.pre-commit-hooks.yaml` of this repository,
/// built by pre-commit itself with `cargo install`.
#[test]
fn the_published_hook_builds_and_checks_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = pre_commit(
        tmp.path(),
        &tmp.path().join("home"),
        &["validate-manifest", manifest_dir().join(".pre-commit-hooks.yaml").to_str().unwrap()],
    );
    assert!(valid.status.success(), "{}{}", stdout(&valid), stderr(&valid));

    // This project as a hook repository: every file Git would commit (the
    // tracked ones and the new ones it does not ignore), as users clone it.
    let hook_repo = tmp.path().join("amiset");
    let listed = git(manifest_dir(), &["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
    for rel in listed.split('\0').filter(|p| !p.is_empty()) {
        let from = manifest_dir().join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let to = hook_repo.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git_init_commit(&hook_repo);
    let rev = git(&hook_repo, &["rev-parse", "HEAD"]);
    let hook = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: amiset-check\n",
        hook_repo.display()
    );
    let repo = repo_with_hook(tmp.path(), &hook);
    std::fs::write(repo.join("worker-types/new.toml"), BAD).unwrap();
    git(&repo, &["add", "worker-types/new.toml"]);

    // pre-commit runs `cargo install --path .` of the hook repository. This
    // test proves the hook builds and works, not how fast a user's cold
    // build is (docs/benchmarks.md measures that), so the release profile is
    // built unoptimized and the build directory is kept between runs.
    let target = manifest_dir().join("target").join("pre-commit-hook");
    let home = tmp.path().join("home");
    let hook_run = || {
        std::process::Command::new(venv_bin("pre-commit"))
            .args(["run", "--all-files"])
            .current_dir(&repo)
            .env("PRE_COMMIT_HOME", &home)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let started = std::time::Instant::now();
    let run = hook_run();
    eprintln!("pre-commit install and run took {:?}", started.elapsed());
    let output = format!("{}{}", stdout(&run), stderr(&run));
    assert!(!run.status.success(), "{output}");
    assert!(output.contains("ref::unknown-ami-set"), "{output}");

    git(&repo, &["rm", "-q", "--cached", "worker-types/new.toml"]);
    std::fs::remove_file(repo.join("worker-types/new.toml")).unwrap();
    let run = hook_run();
    assert!(run.status.success(), "{}{}", stdout(&run), stderr(&run));

    // The hook's build leaves out the `ec2` feature, and says so when asked for it.
    let installed = installed_binary(&home).expect("pre-commit installed the amiset binary under PRE_COMMIT_HOME");
    let live = std::process::Command::new(&installed)
        .args(["check", "--ec2"])
        .current_dir(&repo)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(live.status.code(), Some(2), "{}", stderr(&live));
    assert!(stderr(&live).contains("--features ec2"), "{}", stderr(&live));
}

/// `<PRE_COMMIT_HOME>/<repo>/rustenv-*/bin/amiset`, where pre-commit's `cargo install` put the hook.
fn installed_binary(home: &Path) -> Option<PathBuf> {
    for repo in std::fs::read_dir(home).ok()?.flatten() {
        for env in std::fs::read_dir(repo.path()).into_iter().flatten().flatten() {
            let bin = env.path().join("bin/amiset");
            if env.file_name().to_string_lossy().starts_with("rustenv") && bin.is_file() {
                return Some(bin);
            }
        }
    }
    None
}
