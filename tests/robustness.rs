//! Hostile input against the real binary: limits just under and just over,
//! paths that try to lead outside the config and output directories, files
//! swapped while they are read, hostile Git objects, and escape sequences in
//! every output format. docs/robustness.md tables which test proves what.

mod common;

use std::fs;
use std::path::Path;

use common::repo::Repo;
use common::{amiset, codes, git, git_init_commit, json, stderr, stdout};
use serde_json::Value;

/// A config repository in a temporary directory, from (path, bytes) pairs.
fn repo(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_all(dir.path(), files);
    dir
}

fn write_all(root: &Path, files: &[(&str, &[u8])]) {
    for (path, bytes) in files {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, bytes).unwrap();
    }
}

const SET: &[u8] = b"[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-0123456789abcdef1\"\n";

/// A worker type on set `s` with `regions` × `types` launch specs.
fn worker(regions: &[&str], types: &[&str]) -> Vec<u8> {
    let mut s = String::from("amiSetId = \"s\"\nmaxCapacity = 1\n");
    for t in types {
        s.push_str(&format!("\n[[instanceTypes]]\ninstanceType = \"{t}\"\n"));
    }
    for r in regions {
        s.push_str(&format!("\n[[regions]]\nregion = \"{r}\"\n"));
    }
    s.into_bytes()
}

/// Worker type `a` resolves to 2 × 2 launch specs, `b` to 1 × 2: 6 in all.
fn six_launch_specs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ami-sets/s.toml", SET.to_vec()),
        (
            "worker-types/a.toml",
            worker(&["us-east-1", "us-west-2"], &["m5.large", "c5.large"]),
        ),
        ("worker-types/b.toml", worker(&["us-east-1"], &["m5.large", "t3.small"])),
    ]
}

fn borrowed<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files.iter().map(|(p, b)| (*p, b.as_slice())).collect()
}

// ---------------------------------------------------------------- limits

#[test]
fn launch_spec_limit_is_exact_and_points_at_the_worker_type_that_crosses_it() {
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    let (exit, at) = json(dir.path(), &["check", ".", "--max-launch-specs", "6"]);
    assert_eq!((exit, codes(&at)), (0, vec![]), "{at:#}");
    let (exit, over) = json(dir.path(), &["check", ".", "--max-launch-specs", "5"]);
    assert_eq!(
        (exit, codes(&over)),
        (1, vec!["limits::too-many-launch-specs".to_string()]),
        "{over:#}"
    );
    let f = &over["findings"][0];
    // `a` brings the total to 4, `b` to 6: the limit of 5 is crossed at `b`, on its `instanceTypes`.
    assert_eq!(f["file"], "worker-types/b.toml");
    assert_eq!((f["line"].as_u64(), f["column"].as_u64()), (Some(4), Some(3)));
    assert!(
        f["message"].as_str().unwrap().contains("6 launch specs, over the limit of 5"),
        "{f}"
    );
    // Crossed by the first worker type: located there.
    let (_, low) = json(dir.path(), &["check", ".", "--max-launch-specs", "3"]);
    assert_eq!(low["findings"][0]["file"], "worker-types/a.toml");
}

#[test]
fn compile_over_the_launch_spec_limit_writes_nothing() {
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    let out = amiset(dir.path(), &["compile", ".", "--out", "out", "--max-launch-specs", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("limits::too-many-launch-specs"));
    assert!(!dir.path().join("out").exists(), "compile wrote output over the limit");
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("amiset"))
        .collect();
    assert!(leftovers.is_empty(), "temporary output left behind: {leftovers:?}");
    let out = amiset(dir.path(), &["compile", ".", "--out", "out", "--max-launch-specs", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("out/worker-types/b.json").is_file());
}

#[test]
fn diff_refuses_a_revision_over_the_launch_spec_limit() {
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    git_init_commit(dir.path());
    git(dir.path(), &["checkout", "-q", "-b", "pr"]);
    write_all(dir.path(), &[("worker-types/c.toml", &worker(&["us-west-2"], &["m5.large"]))]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "add c"]);
    let at = amiset(dir.path(), &["diff", "--base", "main", "--max-launch-specs", "7"]);
    assert_eq!(at.status.code(), Some(0), "{}", stderr(&at));
    assert!(stdout(&at).contains("+ worker type c"), "{}", stdout(&at));
    let over = amiset(dir.path(), &["diff", "--base", "main", "--max-launch-specs", "6"]);
    assert_eq!(over.status.code(), Some(2), "{}", stdout(&over));
    assert!(stdout(&over).is_empty(), "partial diff: {}", stdout(&over));
    assert!(
        stderr(&over).contains("head revision") && stderr(&over).contains("over the limit of 6"),
        "{}",
        stderr(&over)
    );
}

/// Over the limit nothing is resolved, not even for EC2 verification: the
/// snapshot (which knows none of these AMIs) yields findings only under it.
#[test]
fn ec2_verification_is_skipped_over_the_launch_spec_limit() {
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    let snapshot = common::manifest_dir().join("tests/fixtures/migrate/ec2-inventory/inventory.json");
    let snapshot = snapshot.to_str().unwrap();
    let (exit, under) = json(dir.path(), &["check", ".", "--ec2-inventory", snapshot, "--max-launch-specs", "6"]);
    assert_eq!(exit, 1, "{under:#}");
    assert!(codes(&under).iter().any(|c| c.starts_with("ec2::")), "{under:#}");
    let (exit, over) = json(dir.path(), &["check", ".", "--ec2-inventory", snapshot, "--max-launch-specs", "5"]);
    assert_eq!(
        (exit, codes(&over)),
        (1, vec!["limits::too-many-launch-specs".to_string()]),
        "{over:#}"
    );
}

#[test]
fn a_worker_type_of_a_few_hundred_kilobytes_cannot_make_check_resolve_millions_of_specs() {
    // 2000 × 2000 entries resolve to 4 million launch specs: over the default limit, nothing is resolved.
    let mut text = String::from("amiSetId = \"s\"\nmaxCapacity = 1\n");
    for i in 0..2000 {
        text.push_str(&format!("[[instanceTypes]]\ninstanceType = \"m5.x{i}\"\n"));
    }
    for _ in 0..2000 {
        text.push_str("[[regions]]\nregion = \"us-east-1\"\n");
    }
    let dir = repo(&[("ami-sets/s.toml", SET), ("worker-types/w.toml", text.as_bytes())]);
    let started = std::time::Instant::now();
    let (exit, doc) = json(dir.path(), &["check", "."]);
    assert_eq!(exit, 1);
    let found = codes(&doc);
    assert!(found.contains(&"limits::too-many-launch-specs".to_string()), "{found:?}");
    assert!(!found.contains(&"resolve::no-usable-ami".to_string()));
    assert!(started.elapsed().as_secs() < 60, "took {:?}", started.elapsed());
}

#[test]
fn nesting_depth_32_is_allowed_and_33_is_a_finding() {
    // Depth is the number of keys and indices from the root to the deepest value:
    // `userData.x` then n arrays puts the innermost value at depth 2 + n.
    let arrays = |n: usize| format!("maxCapacity = 1\n[userData]\nx = {}1{}\n", "[".repeat(n), "]".repeat(n));
    // `userData` then k dotted keys puts the value at depth 1 + k.
    let dotted = |k: usize| format!("maxCapacity = 1\n[userData]\n{} = 1\n", vec!["a"; k].join("."));
    for (name, at_limit, over) in [("arrays", arrays(30), arrays(31)), ("dotted", dotted(31), dotted(32))] {
        let dir = repo(&[("worker-types/w.toml", at_limit.as_bytes())]);
        let (_, doc) = json(dir.path(), &["check", "."]);
        assert!(
            !codes(&doc).contains(&"limits::nesting-too-deep".to_string()),
            "{name} at 32: {doc:#}"
        );
        let dir = repo(&[("worker-types/w.toml", over.as_bytes())]);
        let (exit, doc) = json(dir.path(), &["check", "."]);
        assert_eq!(
            (exit, codes(&doc)),
            (1, vec!["limits::nesting-too-deep".to_string()]),
            "{name} at 33"
        );
        assert_eq!(doc["findings"][0]["file"], "worker-types/w.toml");
    }
}

#[test]
fn git_blob_over_the_size_limit_is_refused_in_authorize_and_diff() {
    let repo = Repo::new();
    let worker = "worker-types/gecko-t-linux-large.toml";
    let text = fs::read_to_string(repo.root.join(worker)).unwrap();
    // Just over the largest file of the example: only the grown worker type exceeds it.
    let largest = common::snapshot_tree(&repo.root)
        .into_iter()
        .filter(|(path, _)| !path.starts_with(".git/"))
        .map(|(_, bytes)| bytes.len())
        .max()
        .unwrap();
    let limit = largest + 10;
    repo.write(worker, &format!("{text}\n{}\n", "#".repeat(limit - text.len() + 20)))
        .commit();
    let limit_flag = limit.to_string();
    let (exit, doc) = json(
        &repo.root,
        &["authorize", "--base", "main", "--author", "@alice", "--max-file-size", &limit_flag],
    );
    assert_eq!(exit, 1, "{doc:#}");
    assert!(codes(&doc).contains(&"limits::file-too-large".to_string()), "{doc:#}");
    assert_eq!(doc["authorized"], false);
    // Under the limit (every file of the base, amiset.toml included): the same change is authorized.
    let bigger = (limit + 100).to_string();
    let (exit, doc) = json(
        &repo.root,
        &["authorize", "--base", "main", "--author", "@alice", "--max-file-size", &bigger],
    );
    assert_eq!((exit, &doc["authorized"]), (0, &Value::Bool(true)), "{doc:#}");
    let out = amiset(&repo.root, &["diff", "--base", "main", "--max-file-size", &limit_flag]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("head revision has 1 errors"), "{}", stderr(&out));
}

// ---------------------------------------------------------------- paths

#[test]
fn odd_file_names_are_invalid_names_never_paths() {
    use std::os::unix::ffi::OsStrExt;
    let dir = repo(&[("ami-sets/ok.toml", SET)]);
    let names: Vec<&[u8]> = vec![
        b"..toml",
        b"-rf.toml",
        b"a b.toml",
        b"caf\xc3\xa9.toml",
        b"tab\there.toml",
        b"new\nline.toml",
        b"bell\x07.toml",
        b"bad\xff\xfe.toml",
        b"..%2f..%2fetc%2fpasswd.toml",
        b"a\\..\\b.toml",
    ];
    for name in &names {
        fs::write(dir.path().join("ami-sets").join(std::ffi::OsStr::from_bytes(name)), SET).unwrap();
    }
    let (exit, doc) = json(dir.path(), &["check", "."]);
    assert_eq!(exit, 1);
    let invalid: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "file::invalid-name")
        .collect();
    assert_eq!(invalid.len(), names.len(), "{doc:#}");
    // Each finding names its own file (JSON escapes what needs escaping), never a path outside `ami-sets/`.
    let mut files: Vec<String> = invalid.iter().map(|f| f["file"].as_str().unwrap().to_string()).collect();
    let mut expected: Vec<String> = names.iter().map(|n| format!("ami-sets/{}", String::from_utf8_lossy(n))).collect();
    files.sort();
    expected.sort();
    assert_eq!(files, expected);
    // Only the valid set is loaded (it is unused).
    assert!(
        codes(&doc).iter().all(|c| c == "file::invalid-name" || c == "ami-set::unused"),
        "{doc:#}"
    );
}

#[test]
fn case_collisions_are_reported_in_both_directories() {
    let files = six_launch_specs();
    let mut files = borrowed(&files);
    let upper = worker(&["us-east-1"], &["m5.large"]);
    files.push(("worker-types/A.toml", &upper));
    files.push(("ami-sets/S.toml", SET));
    let dir = repo(&files);
    let (exit, doc) = json(dir.path(), &["check", "."]);
    assert_eq!(exit, 1);
    let collisions: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "file::case-collision")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(collisions.len(), 2, "{doc:#}");
    assert!(collisions.iter().any(|f| f.starts_with("ami-sets/")) && collisions.iter().any(|f| f.starts_with("worker-types/")));
}

/// A valid worker type whose content, if it were ever read, shows in a finding (its set is unknown).
fn secret_worker() -> String {
    String::from_utf8(worker(&["us-east-1"], &["m5.large"]))
        .unwrap()
        .replace("\"s\"", "\"TOP-SECRET-CONTENT\"")
}

/// Swaps `path` between a regular file, a symlink to `target` and a FIFO until `stop`.
fn swap_loop(path: &Path, target: &Path, regular: &[u8], stop: &std::sync::atomic::AtomicBool) -> usize {
    use std::sync::atomic::Ordering;
    let dir = path.parent().unwrap();
    let (tmp_file, tmp_link, tmp_fifo) = (dir.join(".tmp-file"), dir.join(".tmp-link"), dir.join(".tmp-fifo"));
    let mut swaps = 0;
    while !stop.load(Ordering::Relaxed) {
        fs::write(&tmp_file, regular).unwrap();
        fs::rename(&tmp_file, path).unwrap();
        let _ = fs::remove_file(&tmp_link);
        std::os::unix::fs::symlink(target, &tmp_link).unwrap();
        fs::rename(&tmp_link, path).unwrap();
        let _ = fs::remove_file(&tmp_fifo);
        let c = std::ffi::CString::new(tmp_fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        fs::rename(&tmp_fifo, path).unwrap();
        swaps += 3;
    }
    swaps
}

/// Sets the flag when dropped, so that a failing assertion stops the swapping thread instead of hanging the scope.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn files_swapped_for_links_while_check_runs_never_leak_the_target() {
    use std::sync::atomic::AtomicBool;
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret.toml");
    fs::write(&secret, secret_worker()).unwrap();
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    // The entry itself is swapped, and so is the directory that holds it.
    let file = dir.path().join("worker-types/a.toml");
    let regular = fs::read(&file).unwrap();
    let stop = AtomicBool::new(false);
    let (swaps, runs) = std::thread::scope(|s| {
        let swapper = s.spawn(|| swap_loop(&file, &secret, &regular, &stop));
        let guard = StopOnDrop(&stop);
        let mut runs = 0;
        for _ in 0..40 {
            for format in ["json", "human"] {
                let out = amiset(dir.path(), &["check", ".", "--format", format]);
                let code = out.status.code();
                assert!(matches!(code, Some(0) | Some(1)), "exit {code:?}: {}", stderr(&out));
                let all = format!("{}{}", stdout(&out), stderr(&out));
                assert!(!all.contains("TOP-SECRET"), "the link target was read: {all}");
                runs += 1;
            }
        }
        drop(guard);
        (swapper.join().unwrap(), runs)
    });
    assert!(swaps > runs, "the file was not swapped while check ran ({swaps} swaps)");
}

#[test]
fn config_directory_swapped_for_a_link_while_check_runs_never_leaks_the_target() {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Many entries make the window between listing `worker-types/` and reading its files wide.
    let secret_dir = tempfile::tempdir().unwrap();
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    for i in 0..300 {
        let name = format!("w{i}.toml");
        // Read through the link, this content would show: the unknown set is named in a finding.
        fs::write(secret_dir.path().join(&name), secret_worker()).unwrap();
        fs::write(dir.path().join("worker-types").join(&name), worker(&["us-east-1"], &["m5.large"])).unwrap();
    }
    let (real, parked, link) = (
        dir.path().join("worker-types"),
        dir.path().join(".parked"),
        dir.path().join(".link"),
    );
    std::os::unix::fs::symlink(secret_dir.path(), &link).unwrap();
    let stop = AtomicBool::new(false);
    let (swaps, runs, saw_link) = std::thread::scope(|s| {
        let swapper = s.spawn(|| {
            let mut swaps = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // worker-types/ becomes a link to a directory outside, then becomes itself again.
                fs::rename(&real, &parked).unwrap();
                fs::rename(&link, &real).unwrap();
                fs::rename(&real, &link).unwrap();
                fs::rename(&parked, &real).unwrap();
                swaps += 1;
            }
            swaps
        });
        let guard = StopOnDrop(&stop);
        let (mut runs, mut saw_link) = (0usize, 0usize);
        for _ in 0..60 {
            let out = amiset(dir.path(), &["check", ".", "--format", "json"]);
            let code = out.status.code();
            assert!(matches!(code, Some(0) | Some(1) | Some(2)), "exit {code:?}: {}", stderr(&out));
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!all.contains("TOP-SECRET"), "the link target was read: {all}");
            runs += 1;
            // The run met `worker-types` while it was the link, and refused it.
            if all.contains("file::symlink") {
                saw_link += 1;
            }
        }
        drop(guard);
        (swapper.join().unwrap(), runs, saw_link)
    });
    // Each run overlapped swaps (else the test proves nothing), and some run
    // met the link itself rather than only a directory before or after.
    assert!(
        swaps > runs,
        "worker-types/ was not swapped while check ran ({swaps} swaps, {runs} runs)"
    );
    assert!(saw_link > 0, "no run met worker-types/ as a link ({swaps} swaps, {runs} runs)");
}

#[test]
fn out_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let files = six_launch_specs();
    let dir = repo(&borrowed(&files));
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("keep.txt"), "keep").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("out")).unwrap();
    let out = amiset(dir.path(), &["compile", ".", "--out", "out"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("out"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(elsewhere.path().join("keep.txt")).unwrap(), "keep");
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 1);
    assert!(fs::symlink_metadata(dir.path().join("out")).unwrap().file_type().is_symlink());
}

#[test]
fn compile_never_replaces_the_config_directory_or_its_parts() {
    let files = six_launch_specs();
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("cfg");
    write_all(&cfg, &borrowed(&files));
    // A `manifest.json` at the top is ignored by check, and would make the config directory look like an old OUT.
    fs::write(cfg.join("manifest.json"), "{}").unwrap();
    fs::write(cfg.join("worker-types/manifest.json"), "{}").unwrap();
    let before = common::snapshot_tree(&cfg);
    for out_dir in [".", "cfg", "cfg/", "cfg/.", "cfg/worker-types", "cfg/ami-sets", "cfg/../cfg"] {
        let out = amiset(root.path(), &["compile", "cfg", "--out", out_dir]);
        let code = out.status.code();
        assert!(
            matches!(code, Some(1) | Some(2)),
            "--out {out_dir}: exit {code:?}: {}",
            stderr(&out)
        );
        assert_eq!(common::snapshot_tree(&cfg), before, "--out {out_dir} changed the config directory");
    }
    let out = amiset(&cfg, &["compile", ".", "--out", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("config directory"), "{}", stderr(&out));
    assert_eq!(common::snapshot_tree(&cfg), before);
    // A directory of its own inside the config directory is fine: check ignores it.
    fs::remove_file(cfg.join("worker-types/manifest.json")).unwrap();
    let out = amiset(root.path(), &["compile", "cfg", "--out", "cfg/build"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(cfg.join("build/manifest.json").is_file());
}

#[test]
fn dir_flags_outside_the_repository_or_mistyped_are_tool_errors_never_an_empty_pass() {
    let repo = Repo::with_dir("config");
    repo.edit("config/ami-sets/ubuntu-2204.toml", "description", "# changed\ndescription")
        .commit();
    for dir in ["..", "../..", "/etc", "config/../..", "conifg", "config/ami-sets/ubuntu-2204.toml"] {
        for args in [
            vec!["authorize", "--base", "main", "--author", "@nobody", "--dir", dir],
            vec!["diff", "--base", "main", "--dir", dir],
        ] {
            let out = amiset(&repo.root, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}{}", stdout(&out), stderr(&out));
            assert!(stdout(&out).is_empty(), "{args:?}: partial output {}", stdout(&out));
            assert!(stderr(&out).contains("--dir"), "{args:?}: {}", stderr(&out));
        }
    }
    // The right directory still works, written either way.
    for dir in ["config", "./config/", "config/."] {
        let out = amiset(&repo.root, &["authorize", "--base", "main", "--author", "@nobody", "--dir", dir]);
        assert_eq!(out.status.code(), Some(1), "--dir {dir}: {}", stderr(&out));
        assert!(stdout(&out).contains("manage-ami-set:ubuntu-2204"), "{}", stdout(&out));
    }
}

#[test]
fn sockets_in_the_config_directory_are_not_files() {
    let dir = repo(&[("ami-sets/ok.toml", SET)]);
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("ami-sets/sock.toml")).unwrap();
    let (exit, doc) = json(dir.path(), &["check", "."]);
    assert_eq!(exit, 1);
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "file::not-a-file")
        .expect("a not-a-file finding");
    assert_eq!(f["file"], "ami-sets/sock.toml");
    assert!(f["message"].as_str().unwrap().contains("a socket"), "{f}");
}

/// Replaces `path` in the index of `repo` with an entry of `mode` and object `id`, and commits.
fn commit_index_entry(repo: &Repo, path: &str, mode: &str, id: &str) {
    repo.git(&["rm", "-q", "--cached", path]);
    repo.git(&["update-index", "--add", "--cacheinfo", &format!("{mode},{id},{path}")]);
    repo.git(&["commit", "-q", "-m", "hostile"]);
}

/// Authorize (as `@alice`, who holds the scopes these files need) and diff
/// on the head of `repo`: a finding with `code`, never a pass, never a panic,
/// and nothing of `/etc/passwd`.
fn assert_hostile_head_is_refused(repo: &Repo, code: &str) {
    let (exit, doc) = json(&repo.root, &["authorize", "--base", "main", "--author", "@alice"]);
    assert_eq!(exit, 1, "{doc:#}");
    assert_eq!(doc["authorized"], false, "{doc:#}");
    assert!(codes(&doc).contains(&code.to_string()), "{doc:#}");
    for args in [
        vec!["diff", "--base", "main"],
        vec!["diff", "--base", "main", "--format", "json"],
        vec!["check", "--staged", "."],
    ] {
        let out = amiset(&repo.root, &args);
        let exit = out.status.code();
        assert!(matches!(exit, Some(0) | Some(1)), "{args:?}: exit {exit:?}: {}", stderr(&out));
        assert!(!stdout(&out).contains("root:"), "{args:?} read /etc/passwd");
    }
    let staged = amiset(&repo.root, &["check", "--staged", ".", "--format", "json"]);
    assert_eq!(staged.status.code(), Some(1), "check --staged passed: {}", stdout(&staged));
}

#[test]
fn symlink_blob_committed_in_ami_sets_is_a_finding() {
    let repo = Repo::new();
    fs::remove_file(repo.root.join("ami-sets/ubuntu-2204.toml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.root.join("ami-sets/ubuntu-2204.toml")).unwrap();
    repo.commit();
    assert_hostile_head_is_refused(&repo, "file::symlink");
}

#[test]
fn submodule_entry_in_worker_types_is_a_finding() {
    let repo = Repo::new();
    let commit = git(&repo.root, &["rev-parse", "HEAD"]);
    commit_index_entry(&repo, "worker-types/gecko-t-linux-large.toml", "160000", &commit);
    assert_hostile_head_is_refused(&repo, "file::not-a-file");
}

#[test]
fn huge_blob_in_git_is_a_finding_without_being_loaded() {
    let repo = Repo::new();
    let big = vec![b'#'; 3 * 1024 * 1024];
    fs::write(repo.root.join("worker-types/gecko-t-linux-large.toml"), big).unwrap();
    repo.commit();
    assert_hostile_head_is_refused(&repo, "limits::file-too-large");
}

#[test]
fn invalid_utf8_blob_in_git_is_a_finding() {
    let repo = Repo::new();
    fs::write(
        repo.root.join("worker-types/gecko-t-linux-large.toml"),
        b"maxCapacity = 1\n# \xff\xfe\n",
    )
    .unwrap();
    repo.commit();
    assert_hostile_head_is_refused(&repo, "file::invalid-utf8");
}

#[test]
fn tree_entry_replacing_the_worker_types_directory_is_a_finding() {
    let repo = Repo::new();
    let blob = git(&repo.root, &["hash-object", "-w", "--stdin"]);
    // `git hash-object --stdin` read nothing: the empty blob. worker-types/ becomes a file.
    repo.git(&["rm", "-q", "-r", "--cached", "worker-types"]);
    repo.git(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},worker-types")]);
    repo.git(&["commit", "-q", "-m", "hostile"]);
    let (exit, doc) = json(&repo.root, &["authorize", "--base", "main", "--author", "@alice"]);
    assert_eq!(exit, 1, "{doc:#}");
    assert_eq!(doc["authorized"], false);
    assert!(codes(&doc).contains(&"file::not-a-file".to_string()), "{doc:#}");
}

// ---------------------------------------------------------------- output

/// Every terminal control a value or file name could carry.
const HOSTILE: &str = "\u{1b}[31mred\u{1b}]8;;https://evil.example/\u{7}link\u{1b}]8;;\u{7}\u{9b}2J\r\u{7}";

fn assert_no_terminal_controls(what: &str, text: &str) {
    let bad: Vec<char> = text.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\t')).collect();
    assert!(bad.is_empty(), "{what}: raw control characters {bad:?} in {text:?}");
}

#[test]
fn escape_sequences_never_reach_the_terminal_in_check_authorize_and_diff() {
    let repo = Repo::new();
    let escaped: String = HOSTILE.chars().map(|c| format!("\\u{:04X}", c as u32)).collect();
    // A description (diff prints it), a scope (authorize requires it), and an odd file name (every command names it).
    repo.edit(
        "worker-types/gecko-t-linux-large.toml",
        "description = \"Linux test workers for Gecko\"",
        &format!("description = \"{escaped}\""),
    );
    repo.write("worker-types/x\u{1b}[2J\r.toml", "maxCapacity = 1\n");
    repo.write("worker-types/bad.toml", &format!("maxCapacity = 1\nx = 1 # {}\n", "\r\u{1b}[2K"));
    repo.commit();
    let check = amiset(&repo.root, &["check", "."]);
    assert_eq!(check.status.code(), Some(1));
    assert_no_terminal_controls("check", &stdout(&check));
    assert!(stdout(&check).contains("file::invalid-name"), "{}", stdout(&check));
    let authorize = amiset(&repo.root, &["authorize", "--base", "main", "--author", "@alice\u{1b}[8m"]);
    assert_eq!(authorize.status.code(), Some(1));
    assert_no_terminal_controls("authorize", &stdout(&authorize));
    assert!(stdout(&authorize).contains("MISSING"), "{}", stdout(&authorize));
    let diff = amiset(&repo.root, &["diff", "--base", "main"]);
    assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
    assert_no_terminal_controls("diff", &stdout(&diff));
    assert!(stdout(&diff).contains("description"), "{}", stdout(&diff));
    assert_no_terminal_controls("diff stderr", &stderr(&diff));
}

#[test]
fn markdown_cells_cannot_break_the_table_or_inject_html() {
    let repo = Repo::new();
    let hostile = r#"a | b `c` <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) &amp;\n| --- |"#;
    let literal = hostile.replace('\\', "\\\\").replace('"', "\\\"").replace("\\\\n", "\\n");
    repo.edit(
        "worker-types/gecko-t-linux-large.toml",
        "KeyName = \"relops-2026\"",
        &format!("KeyName = \"{literal}\""),
    )
    .commit();
    let out = amiset(&repo.root, &["diff", "--base", "main", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(!md.contains("<script") && !md.contains("<img"), "{md}");
    assert!(md.contains("&lt;script&gt;"), "{md}");
    // Every table row has exactly the five cells of its header: no `|` or newline from a value splits it.
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(rows.len() >= 5, "{md}");
    for row in rows {
        assert_eq!(row.matches('|').count(), 6, "row split by a value: {row}");
    }
    assert!(!md.contains("`c`") && md.contains("&#96;c&#96;"), "{md}");
}

#[test]
fn github_annotations_encode_hostile_file_names_and_values() {
    let dir = repo(&[
        ("ami-sets/a,b::c%0A.toml", SET),
        (
            "ami-sets/ok.toml",
            b"[[amis]]\nregion = \"us-east-1\\n::error::forged,x=1%0A\"\nhvm = \"ami-0123456789abcdef0\"\n",
        ),
    ]);
    let out = amiset(dir.path(), &["check", ".", "--format", "github"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with("::error ") || l.starts_with("::warning ")),
        "{text}"
    );
    assert!(!text.contains("\n::error::forged"), "a value forged its own annotation: {text}");
    let name = lines
        .iter()
        .find(|l| l.contains("invalid-name"))
        .expect("an invalid-name annotation");
    let props = name.split_once(' ').unwrap().1.split_once("::").unwrap().0;
    assert!(props.starts_with("file=ami-sets/a%2Cb%3A%3Ac%250A.toml,line="), "{props}");
    let region = lines
        .iter()
        .find(|l| l.contains("region%3A%3Aunknown"))
        .expect("a region annotation");
    // The first `::` after the properties ends them (they encode `:`); the rest is the message.
    let message = region[2..].split_once("::").unwrap().1;
    assert!(message.contains("%0A::error::forged,x=1%250A"), "{message}");
}
