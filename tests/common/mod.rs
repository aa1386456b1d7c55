//! Helpers shared by the integration tests: running the real binary.

#![allow(dead_code)]

pub mod corpus;
pub mod lsp;
pub mod repo;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary under test: `$AMISET_BIN` when set (a copy that concurrent
/// builds cannot replace mid-run), else the one cargo built.
pub fn bin() -> PathBuf {
    std::env::var_os("AMISET_BIN").map_or_else(|| env!("CARGO_BIN_EXE_amiset").into(), Into::into)
}

/// Runs the `amiset` binary with `args` in `cwd`.
pub fn amiset(cwd: &Path, args: &[&str]) -> Output {
    amiset_with(cwd, args, &[])
}

/// Runs the `amiset` binary with `args` in `cwd`, with the variables of
/// `env` set on top of the inherited environment.
pub fn amiset_with(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("the amiset binary runs")
}

/// What a run against the EC2 emulator (moto, usually behind the fault
/// proxy) needs: dummy credentials, a region, and no instance metadata
/// service to ask.
pub const EMULATOR_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Runs the `amiset` binary against the EC2 emulator: [`EMULATOR_ENV`],
/// then the variables of `env` (`AMISET_NOW`, another endpoint…).
pub fn amiset_emulated(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    amiset_with(cwd, args, &[&EMULATOR_ENV[..], env].concat())
}

/// The JSON document a run printed, or a panic showing what it printed
/// instead (stdout and stderr).
pub fn doc(out: &Output) -> serde_json::Value {
    let text = stdout(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{text}\nstderr:\n{}", stderr(out)))
}

/// The exit code of a run and the JSON document it printed.
pub fn code_and_doc(out: &Output) -> (i32, serde_json::Value) {
    (out.status.code().expect("exit code"), doc(out))
}

/// Writes `text` to `path` under `dir`, making the directories it needs.
pub fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("a file under dir")).expect("mkdir -p");
    std::fs::write(path, text).expect("write file");
}

/// The text of `path` under `dir`.
pub fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).expect("read file")
}

/// Stdout of a run as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a run as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `amiset` with `args` and `--format json`: the exit code and the
/// document, or a panic showing what was printed instead of JSON.
pub fn json(cwd: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    code_and_doc(&amiset(cwd, &[args, &["--format", "json"]].concat()))
}

/// The codes of the findings of a `--format json` document, in order.
pub fn codes(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("a findings array")
        .iter()
        .map(|f| f["code"].as_str().expect("a code").to_string())
        .collect()
}

/// The codes of the findings of a `--format json` document that are
/// errors, in order.
pub fn error_codes(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("a findings array")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().expect("a code").to_string())
        .collect()
}

/// The directory of this crate.
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the real `git` CLI in `dir` with a fixed identity and fixed dates,
/// so that the same trees give the same commit ids; panics if git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, "2026-01-01T00:00:00Z", args)
}

/// [`git`] with the author and committer dates at `date` (any form git
/// takes: RFC 3339, `@<epoch> +0000`): commit dates are the author's choice.
pub fn git_at(dir: &Path, date: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs (install it with scripts/setup)");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Makes `dir` a Git repository with everything in it committed on `main`.
pub fn git_init_commit(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
}

/// Copies a directory tree (regular files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes, by relative path.
pub fn snapshot_tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &entry.path(), out);
            } else {
                let rel = entry.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
