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

/// A repository whose config is in `infra/fleet/`, with a pre-commit config at the root.
fn repo_with_config_in_subdir(tmp: &Path, hook: &str) -> PathBuf {
    let repo = tmp.join("repo");
    copy_dir(&manifest_dir().join("config-example"), &repo.join("infra/fleet"));
    std::fs::write(repo.join("README.md"), "fleet\n").unwrap();
    std::fs::write(repo.join(".pre-commit-config.yaml"), hook).unwrap();
    git_init_commit(&repo);
    repo
}

/// `check --staged DIR` with the config in a subdirectory reads that
/// directory of the index (from the root or from inside it), and the hook
/// with `args: [DIR]`, as docs/workflows.md says, refuses a bad staged file there.
#[test]
fn staged_check_and_hook_with_the_config_in_a_subdirectory() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pre-commit-home");
    let bin = env!("CARGO_BIN_EXE_amiset");
    let hook = format!(
        "repos:\n  - repo: local\n    hooks:\n      - id: amiset-check\n        name: amiset check\n        entry: {bin} check --staged\n        language: system\n        pass_filenames: false\n        files: (^|/)(amiset\\.toml|SCOPES|ami-sets/[^/]*|worker-types/[^/]*)$\n        args: [infra/fleet]\n"
    );
    let repo = repo_with_config_in_subdir(tmp.path(), &hook);
    let installed = pre_commit(&repo, &home, &["install"]);
    assert!(installed.status.success(), "{}", stderr(&installed));

    std::fs::write(repo.join("infra/fleet/worker-types/new.toml"), BAD).unwrap();
    git(&repo, &["add", "infra/fleet/worker-types/new.toml"]);
    std::fs::write(repo.join("infra/fleet/worker-types/new.toml"), GOOD).unwrap();
    for (cwd, dir) in [(repo.clone(), "infra/fleet"), (repo.join("infra/fleet"), ".")] {
        let (code, doc) = common::json(&cwd, &["check", "--staged", dir]);
        assert_eq!(code, 1, "{doc}");
        let findings: Vec<(&str, &str)> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| (f["code"].as_str().unwrap(), f["file"].as_str().unwrap()))
            .collect();
        // Paths are relative to the config directory, and only the staged error shows
        // (config-example's own findings are warnings).
        assert_eq!(findings, vec![("ref::unknown-ami-set", "worker-types/new.toml")], "{cwd:?}");
    }
    let refused = commit(&repo, &home);
    let output = format!("{}{}", stdout(&refused), stderr(&refused));
    assert!(
        !refused.status.success(),
        "a bad staged file in the subdirectory was committed: {output}"
    );
    assert!(output.contains("ref::unknown-ami-set"), "{output}");

    git(&repo, &["add", "infra/fleet/worker-types/new.toml"]);
    let accepted = commit(&repo, &home);
    assert!(accepted.status.success(), "{}{}", stdout(&accepted), stderr(&accepted));
    assert_eq!(git(&repo, &["log", "--format=%s", "-1"]), "change");
}

/// The hook in the model of ruff's pre-commit mirror: `pre-commit-mirror/`
/// is a `language: python` hook whose package depends on the `amiset` wheel.
/// The wheel is built here with maturin, pip sees only a local wheelhouse
/// (`PIP_FIND_LINKS`, `PIP_NO_INDEX`), and pre-commit runs with no cargo or
/// rustc on PATH: it installs and runs the prebuilt binary, compiling nothing.
#[test]
fn the_wheel_hook_installs_without_compiling_and_checks_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let wheelhouse = tmp.path().join("wheelhouse");
    let wheel = build_wheel(&wheelhouse);
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("amiset-{}-", env!("CARGO_PKG_VERSION"))),
        "the wheel carries the crate's version: {name}"
    );
    // The mirror package is built with setuptools (its build backend), which
    // pip takes from the wheelhouse too: virtualenv's bundled copy, no download.
    let embedded = venv_site_packages().join("virtualenv/seed/wheels/embed");
    let setuptools = std::fs::read_dir(&embedded)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("setuptools-"))
        .max()
        .expect("virtualenv bundles a setuptools wheel");
    std::fs::copy(&setuptools, wheelhouse.join(setuptools.file_name().unwrap())).unwrap();

    // The mirror repository, as the release workflow publishes it.
    let mirror = tmp.path().join("amiset-pre-commit");
    copy_dir(&manifest_dir().join("pre-commit-mirror"), &mirror);
    git_init_commit(&mirror);
    let rev = git(&mirror, &["rev-parse", "HEAD"]);
    let hook = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: amiset-check\n        args: [infra/fleet]\n",
        mirror.display()
    );
    let repo = repo_with_config_in_subdir(tmp.path(), &hook);

    // PATH without every directory that holds a Rust toolchain or maturin:
    // nothing on it can compile the crate.
    let builders = ["cargo", "rustc", "rustup", "maturin"];
    let path = std::env::join_paths(
        std::env::split_paths(&std::env::var_os("PATH").unwrap()).filter(|d| !builders.iter().any(|b| d.join(b).exists())),
    )
    .unwrap();
    for tool in builders {
        assert_eq!(which_in(tool, &path), None, "{tool} is still on PATH");
    }
    assert!(which_in("git", &path).is_some(), "git is on PATH");
    let home = tmp.path().join("home");
    let hook_run = || {
        std::process::Command::new(venv_bin("pre-commit"))
            .args(["run", "--all-files"])
            .current_dir(&repo)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", &home)
            .env("PIP_FIND_LINKS", &wheelhouse)
            .env("PIP_NO_INDEX", "1")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("CARGO_HOME", tmp.path().join("no-cargo"))
            .env("RUSTUP_HOME", tmp.path().join("no-rustup"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };

    std::fs::write(repo.join("infra/fleet/worker-types/new.toml"), BAD).unwrap();
    git(&repo, &["add", "infra/fleet/worker-types/new.toml"]);
    let started = std::time::Instant::now();
    let run = hook_run();
    let took = started.elapsed();
    eprintln!("pre-commit installed the wheel hook and ran it in {took:?}");
    let output = format!("{}{}", stdout(&run), stderr(&run));
    assert!(!run.status.success(), "{output}");
    assert!(
        output.contains("ref::unknown-ami-set") && output.contains("worker-types/new.toml"),
        "{output}"
    );

    // What pre-commit installed is the wheel's binary, in a Python environment.
    let installed = installed_in(&home, "py_env", "bin/amiset").expect("the hook's environment holds amiset");
    let version = std::process::Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(stdout(&version).trim(), format!("amiset {}", env!("CARGO_PKG_VERSION")));

    git(&repo, &["rm", "-q", "--cached", "infra/fleet/worker-types/new.toml"]);
    std::fs::remove_file(repo.join("infra/fleet/worker-types/new.toml")).unwrap();
    let started = std::time::Instant::now();
    let run = hook_run();
    eprintln!("the installed wheel hook ran again in {:?}", started.elapsed());
    assert!(run.status.success(), "{}{}", stdout(&run), stderr(&run));
    assert!(
        stdout(&run).contains("amiset check") && stdout(&run).contains("Passed"),
        "{}",
        stdout(&run)
    );
}

/// Builds the wheel into `dir` with maturin and returns its path. The binary
/// in it needs no optimization here (this proves the packaging and the hook;
/// docs/benchmarks.md measures speed), so the release profile is built at
/// opt-level 0 into the build directory the source-built hook's test uses:
/// same profile and features, so most of the dependencies are built once
/// for both tests (and once per machine, the directory being kept).
fn build_wheel(dir: &Path) -> PathBuf {
    let built = std::process::Command::new(venv_bin("maturin"))
        .args(["build", "--release", "--locked", "--out"])
        .arg(dir)
        .current_dir(manifest_dir())
        .env("CARGO_TARGET_DIR", hook_build_dir())
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .output()
        .unwrap();
    assert!(built.status.success(), "maturin build failed:\n{}", stderr(&built));
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels.into_iter().next().unwrap()
}

/// The build directory of the hook builds (kept between runs).
fn hook_build_dir() -> PathBuf {
    manifest_dir().join("target").join("pre-commit-hook")
}

fn venv_site_packages() -> PathBuf {
    let lib = venv_bin("python").parent().unwrap().parent().unwrap().join("lib");
    std::fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .expect("the venv has site-packages")
}

fn which_in(tool: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path).map(|d| d.join(tool)).find(|p| p.is_file())
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
    let target = hook_build_dir();
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
    let installed = installed_in(&home, "rustenv", "bin/amiset").expect("pre-commit installed the amiset binary under PRE_COMMIT_HOME");
    let live = std::process::Command::new(&installed)
        .args(["check", "--ec2"])
        .current_dir(&repo)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(live.status.code(), Some(2), "{}", stderr(&live));
    assert!(stderr(&live).contains("--features ec2"), "{}", stderr(&live));
}

/// `<PRE_COMMIT_HOME>/<repo>/<env>-*/<bin>`, where pre-commit installed the hook
/// (`rustenv` for `cargo install`, `py_env` for pip).
fn installed_in(home: &Path, env: &str, bin: &str) -> Option<PathBuf> {
    for repo in std::fs::read_dir(home).ok()?.flatten() {
        for dir in std::fs::read_dir(repo.path()).into_iter().flatten().flatten() {
            let path = dir.path().join(bin);
            if dir.file_name().to_string_lossy().starts_with(env) && path.is_file() {
                return Some(path);
            }
        }
    }
    None
}

/// The hook exists twice: `.pre-commit-hooks.yaml` here (built from source,
/// `language: rust`) and in `pre-commit-mirror/` (the prebuilt wheel,
/// `language: python`). Apart from comments and `language`, they are the
/// same hook, line for line.
#[test]
fn both_hook_manifests_declare_the_same_hook() {
    let lines = |path: &str, language: &str| -> Vec<String> {
        let text = std::fs::read_to_string(manifest_dir().join(path)).unwrap();
        let want = format!("  language: {language}");
        assert!(text.lines().any(|l| l == want), "{path} lacks `{want}`");
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#') && *l != want)
            .map(str::to_string)
            .collect()
    };
    let source = lines(".pre-commit-hooks.yaml", "rust");
    let mirror = lines("pre-commit-mirror/.pre-commit-hooks.yaml", "python");
    assert!(source.iter().any(|l| l.starts_with("- id: ")), "{source:?}");
    assert_eq!(source, mirror);
}
