//! `amiset migrate` end to end. The key property: for `config-example/`, for
//! every fixture under `tests/fixtures/migrate/` and for generated configs,
//! every worker type × region × instance type resolves to exactly the same
//! launch specification after the migration as before. Also: layout
//! preservation (snapshots of the `--dry-run` diff and of the written files),
//! `amiset compile` output whose launch specs are byte-identical,
//! idempotence, refusals with their messages, and the write path.

mod common;
#[path = "migrate/gen.rs"]
mod gen_config;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use amiset::config::{Content, InputFile, Inputs, Limits, load};
use amiset::migrate::{self, ImageFact, MigrateError, NoImageFacts, Options, WriteError};
use amiset::resolve::{self, TypeCatalog};
use amiset::{Code, check};
use common::{amiset, manifest_dir, stderr, stdout};
use proptest::prelude::*;

type Specs = BTreeMap<(String, String, String), Result<String, String>>;

/// Every resolved launch spec of the config directory `dir`, with the built-in catalog.
fn specs_of_dir(dir: &Path) -> Specs {
    let limits = Limits::default();
    let inputs = load::read_dir(dir, &limits).expect("readable config");
    let (config, _) = check::run(&inputs, &limits);
    migrate::launch_specs(&config, &resolve::Builtin)
}

fn specs_of(inputs: &Inputs, catalog: &dyn TypeCatalog) -> Specs {
    let (config, _) = amiset::config::load(inputs, &Limits::default());
    migrate::launch_specs(&config, catalog)
}

/// Copies a directory tree (regular files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A scratch copy of `path` (relative to the crate) as `<tmp>/repo`.
fn copy_of(path: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    copy_tree(&manifest_dir().join(path), &dir);
    (tmp, dir)
}

fn fixture_cases() -> Vec<PathBuf> {
    let dir = manifest_dir().join("tests/fixtures/migrate");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir).expect("fixture dir").map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 5, "fixtures missing in {}", dir.display());
    cases
}

fn args_of(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("args"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn run_migrate(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["migrate", "."];
    args.extend_from_slice(extra);
    let out = amiset(dir, &args);
    (out.status.code().expect("exit code"), stdout(&out), stderr(&out))
}

/// `amiset compile` of `dir` into `out`: every `worker-types/*.json` artifact, parsed.
fn compiled(dir: &Path, out: &Path) -> BTreeMap<String, serde_json::Value> {
    let result = amiset(dir, &["compile", ".", "--out", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(
        result.status.code(),
        Some(0),
        "compile failed: {}{}",
        stdout(&result),
        stderr(&result)
    );
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(out.join("worker-types")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(name, serde_json::from_slice(&fs::read(&path).unwrap()).unwrap());
    }
    assert!(!files.is_empty());
    files
}

/// The compiled launch specs of every worker type are byte-identical; the
/// rest of each artifact differs only by `amiSetId` and the raw ImageIds.
fn assert_same_compiled_launch_specs(
    before: &BTreeMap<String, serde_json::Value>,
    after: &BTreeMap<String, serde_json::Value>,
    what: &str,
) {
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "{what}");
    for (name, old) in before {
        let new = &after[name];
        // Regions with zones compile into `zoneLaunchSpecs`, the others into `launchSpecs`.
        let specs = |v: &serde_json::Value| serde_json::to_string(&[&v["launchSpecs"], &v["zoneLaunchSpecs"]]).unwrap();
        let non_empty = |v: &serde_json::Value| v.as_object().is_some_and(|m| !m.is_empty());
        assert!(
            non_empty(&old["launchSpecs"]) || non_empty(&old["zoneLaunchSpecs"]),
            "{what}: {name} has no launch specs"
        );
        assert_eq!(specs(old), specs(new), "{what}: compiled launch specs of {name} changed");
        let rest = |v: &serde_json::Value| {
            let mut v = v.clone();
            let map = v.as_object_mut().unwrap();
            map.remove("amiSetId");
            for region in map.get_mut("regions").and_then(|r| r.as_array_mut()).into_iter().flatten() {
                let spec = region.get_mut("launchSpec").and_then(|s| s.as_object_mut());
                if let Some(spec) = spec {
                    spec.remove("ImageId");
                }
            }
            v
        };
        assert_eq!(rest(old), rest(new), "{what}: {name} changed beyond amiSetId and ImageIds");
    }
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "snapshots/migrate", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

/// For every fixture: `--dry-run` prints a diff and writes nothing; the real
/// run writes exactly the files the diff names, keeps every launch spec, and
/// a second run changes nothing.
#[test]
fn fixtures_migrate_faithfully_with_layout_kept_and_are_idempotent() {
    for case in fixture_cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        copy_tree(&case, &dir);
        let _ = fs::remove_file(dir.join("args"));
        let extra = args_of(&case);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();

        let original = tree(&dir);
        let before = specs_of_dir(&dir);
        let compiles = before.values().all(Result::is_ok) && !name.starts_with("refuse-");
        let compiled_before = compiles.then(|| compiled(&dir, &tmp.path().join("out-before")));
        let (dry_exit, diff, dry_err) = run_migrate(&dir, &[&["--dry-run"], extra.as_slice()].concat());
        assert_eq!(tree(&dir), original, "{name}: --dry-run wrote something");
        snapshot(
            &format!("dry-run-{name}"),
            format!("exit: {dry_exit}\n--- stdout\n{diff}--- stderr\n{dry_err}"),
        );

        let (exit, out, err) = run_migrate(&dir, &extra);
        assert_eq!(exit, dry_exit, "{name}: dry run and real run disagree: {err}");
        let migrated = tree(&dir);
        let changed: Vec<String> = migrated
            .iter()
            .filter(|(p, b)| original.get(*p) != Some(*b))
            .map(|(p, _)| p.clone())
            .collect();
        for path in &changed {
            assert!(
                diff.contains(&format!("+++ b/{path}\n")),
                "{name}: `{path}` written but not in the diff"
            );
        }
        assert_eq!(
            diff.matches("+++ b/").count(),
            changed.len(),
            "{name}: the diff names files that were not written"
        );
        let files: String = changed
            .iter()
            .map(|p| format!("=== {p}\n{}", String::from_utf8_lossy(&migrated[p])))
            .collect();
        snapshot(
            &format!("written-{name}"),
            format!("exit: {exit}\n--- stdout\n{out}--- stderr\n{err}{files}"),
        );

        assert_eq!(specs_of_dir(&dir), before, "{name}: resolution changed");
        if let Some(compiled_before) = &compiled_before {
            assert_same_compiled_launch_specs(compiled_before, &compiled(&dir, &tmp.path().join("out-after")), &name);
        }
        assert!(!before.is_empty() || name == "refuse-policy", "{name}: nothing resolved at all");

        let (again_exit, again_out, again_err) = run_migrate(&dir, &extra);
        assert_eq!(tree(&dir), migrated, "{name}: the second run changed files");
        assert_eq!(again_exit, exit, "{name}: the second run exits differently: {again_err}");
        if exit == 0 {
            assert!(again_err.contains("nothing to migrate"), "{name}: {again_err}");
            assert!(again_out.is_empty(), "{name}: {again_out}");
        }
    }
}

/// The acceptance test of the issue, on the example repository.
#[test]
fn config_example_resolves_identically_and_then_passes_with_legacy_ids_denied() {
    let (tmp, dir) = example_copy();
    let before = specs_of_dir(&dir);
    assert!(before.values().all(Result::is_ok), "config-example does not resolve: {before:?}");
    let legacy_before = before.keys().filter(|k| k.0 == "gecko-b-legacy").count();
    assert_eq!(legacy_before, 2, "config-example changed: expected 2 legacy launch specs");
    let untouched = dir.join("worker-types/gecko-t-linux-large.toml");
    let untouched_meta = fs::metadata(&untouched).unwrap();
    let compiled_before = compiled(&dir, &tmp.path().join("out-before"));

    let (exit, out, err) = run_migrate(&dir, &[]);
    assert_eq!(exit, 0, "{out}{err}");
    assert_eq!(specs_of_dir(&dir), before);
    let compiled_after = compiled(&dir, &tmp.path().join("out-after"));
    assert_same_compiled_launch_specs(&compiled_before, &compiled_after, "config-example");
    assert_eq!(
        compiled_before["gecko-t-linux-large.json"],
        compiled_after["gecko-t-linux-large.json"]
    );
    assert_ne!(
        compiled_before["gecko-b-legacy.json"], compiled_after["gecko-b-legacy.json"],
        "nothing was migrated"
    );
    let legacy = fs::read_to_string(dir.join("worker-types/gecko-b-legacy.toml")).unwrap();
    assert!(
        legacy.contains("amiSetId = \"gecko-b-legacy\"") && !legacy.contains("ImageId"),
        "{legacy}"
    );
    assert!(
        legacy.starts_with("# Still on raw image ids;"),
        "the leading comment was lost: {legacy}"
    );

    // Files that needed no change were not even rewritten.
    let meta = fs::metadata(&untouched).unwrap();
    assert_eq!(meta.modified().unwrap(), untouched_meta.modified().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.ino(), untouched_meta.ino());
    }

    let policy = dir.join("amiset.toml");
    let text = fs::read_to_string(&policy).unwrap();
    assert!(text.contains("legacyImageIds = \"warn\""));
    fs::write(&policy, text.replace("legacyImageIds = \"warn\"", "legacyImageIds = \"deny\"")).unwrap();
    let out = amiset(&dir, &["check", ".", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["summary"]["errors"], 0, "{json}");
    let codes = common::codes(&json);
    assert!(!codes.iter().any(|c| c == "policy::legacy-image-id"), "{codes:?}");
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A migration is an ordinary change: `authorize` asks for the new set's
/// manage scope and the worker type's manage and deploy scopes, nothing else.
#[test]
fn a_migration_commit_needs_the_new_set_and_worker_type_scopes() {
    let (_tmp, dir) = example_copy();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "before"]);
    let (exit, _, err) = run_migrate(&dir, &[]);
    assert_eq!(exit, 0, "{err}");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "migrate"]);
    let out = amiset(&dir, &["authorize", "--base", "HEAD~1", "--author", "@alice", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let mut required: Vec<&str> = json["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scope"].as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(
        required,
        [
            "aws-provisioner:deploy-ami-set:gecko-b-legacy",
            "aws-provisioner:manage-ami-set:gecko-b-legacy",
            "aws-provisioner:manage-worker-type:gecko-b-legacy"
        ]
    );
    // @alice may deploy any set and manage any worker type, but not manage this new set.
    assert_eq!(json["authorized"], false);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn refusals_in_json_name_the_code_file_and_line() {
    let (_tmp, dir) = copy_of("tests/fixtures/migrate/refuse-architecture");
    let (exit, out, _) = run_migrate(&dir, &["--format", "json"]);
    assert_eq!(exit, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = &json["findings"][0];
    assert_eq!(f["code"], "migrate::architecture-conflict");
    assert_eq!(f["file"], "worker-types/mixed.toml");
    assert_eq!((f["line"].as_u64(), f["column"].as_u64()), (Some(12), Some(26)));
    assert_eq!(json["summary"]["errors"], 1);
    // The refused file is untouched, the other one migrated.
    let mixed = fs::read_to_string(dir.join("worker-types/mixed.toml")).unwrap();
    assert!(mixed.contains("ImageId") && !mixed.contains("amiSetId"));
    assert!(dir.join("ami-sets/fine.toml").is_file());
}

#[test]
fn unknown_worker_type_is_a_tool_error_with_a_suggestion() {
    let (_tmp, dir) = example_copy();
    let original = tree(&dir);
    let (exit, _, err) = run_migrate(&dir, &["--worker-type", "gecko-b-legcy"]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains("there is no worker type `gecko-b-legcy`; did you mean `gecko-b-legacy`?"),
        "{err}"
    );
    assert_eq!(tree(&dir), original);
}

// ---- the library: choices of virtualization type and architecture -------

fn inputs(files: &[(&str, &str)]) -> Inputs {
    Inputs {
        files: files
            .iter()
            .map(|(p, t)| InputFile {
                path: p.to_string(),
                content: Content::Bytes(t.as_bytes().to_vec()),
            })
            .collect(),
    }
}

fn worker(types: &[&str], ami: &str) -> String {
    let mut text = String::from("maxCapacity = 1\n");
    for t in types {
        text.push_str(&format!("\n[[instanceTypes]]\ninstanceType = \"{t}\"\n"));
    }
    text.push_str(&format!(
        "\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = {{ ImageId = \"{ami}\" }}\n"
    ));
    text
}

fn info(arch: amiset::config::Arch, hvm: bool, pv: bool) -> resolve::TypeInfo {
    resolve::TypeInfo {
        arch,
        hvm,
        pv,
        known: true,
    }
}

const AMI: &str = "ami-0123456789abcdef0";

fn facts(virt: amiset::config::Virt, arch: amiset::config::Arch) -> BTreeMap<(String, String), ImageFact> {
    BTreeMap::from([(("us-east-1".to_string(), AMI.to_string()), ImageFact { arch, virt })])
}

/// Plans `w`, asserts it migrated and resolves exactly as before; returns the new set's text.
fn migrated_set(types: &[&str], catalog: &dyn TypeCatalog, images: &dyn migrate::ImageFacts) -> String {
    let before = inputs(&[("worker-types/w.toml", &worker(types, AMI))]);
    let plan = migrate::plan(&before, &Limits::default(), catalog, images, &Options::default()).expect("plan");
    assert!(plan.report.findings.is_empty(), "{:?}", plan.report.findings);
    let after = plan.apply(&before);
    assert_eq!(specs_of(&after, catalog), specs_of(&before, catalog));
    plan.changes[0].after.clone()
}

#[test]
fn current_families_are_stored_as_hvm_under_their_arch() {
    use amiset::config::Arch;
    assert!(migrated_set(&["m5.large", "c5.xlarge"], &resolve::Builtin, &NoImageFacts).contains("hvm = \"ami-0123456789abcdef0\""));
    let arm = migrated_set(&["m6g.large", "c7g.xlarge"], &resolve::Builtin, &NoImageFacts);
    assert!(arm.contains("arch = \"arm64\"\nhvm = "), "{arm}");
    let _ = Arch::Arm64;
}

/// An instance type that runs both (m3 per the built-in table) takes an
/// image stored as `pv` too: the entry has no `hvm`, so resolution falls
/// back to `pv` and picks the same image. This is what EC2 decides when it
/// says the image is paravirtual.
#[test]
fn both_capable_types_keep_their_image_when_ec2_says_it_is_pv() {
    use amiset::config::{Arch, Virt};
    let set = migrated_set(&["m3.medium", "m1.small"], &resolve::Builtin, &facts(Virt::Pv, Arch::X86_64));
    assert!(set.contains("pv = \"ami-0123456789abcdef0\"") && !set.contains("hvm ="), "{set}");
    // Without EC2's word, HVM is preferred, and resolution picks it as well.
    let set = migrated_set(&["m3.medium", "m1.small"], &resolve::Builtin, &NoImageFacts);
    assert!(set.contains("hvm = \"ami-0123456789abcdef0\"") && !set.contains("pv ="), "{set}");
}

#[test]
fn types_that_only_run_pv_get_a_pv_entry() {
    use amiset::config::Arch;
    let catalog: BTreeMap<String, resolve::TypeInfo> = BTreeMap::from([("t1.micro".to_string(), info(Arch::X86_64, false, true))]);
    let set = migrated_set(&["t1.micro", "m3.medium"], &catalog, &NoImageFacts);
    assert!(set.contains("pv = \"ami-0123456789abcdef0\"") && !set.contains("hvm ="), "{set}");
}

fn refusal(types: &[&str], catalog: &dyn TypeCatalog, images: &dyn migrate::ImageFacts) -> (Code, String) {
    let before = inputs(&[("worker-types/w.toml", &worker(types, AMI))]);
    let plan = migrate::plan(&before, &Limits::default(), catalog, images, &Options::default()).expect("plan");
    assert!(plan.is_empty(), "a refused worker type was written: {:?}", plan.changes);
    assert_eq!(plan.report.findings.len(), 1, "{:?}", plan.report.findings);
    let f = &plan.report.findings[0];
    assert_eq!(f.file.as_deref(), Some("worker-types/w.toml"));
    assert!(f.span.is_some());
    (f.code, f.message.clone())
}

#[test]
fn hvm_only_and_pv_only_types_sharing_an_image_are_refused() {
    use amiset::config::Arch;
    let catalog: BTreeMap<String, resolve::TypeInfo> = BTreeMap::from([("t1.micro".to_string(), info(Arch::X86_64, false, true))]);
    let (code, message) = refusal(&["m5.large", "t1.micro"], &catalog, &NoImageFacts);
    assert_eq!(code, Code::MigrateVirtualizationConflict);
    assert_eq!(
        message,
        "worker type `w` cannot be migrated: `ami-0123456789abcdef0` in us-east-1 is launched on `m5.large` (hvm only) and on `t1.micro` (pv only)"
    );
}

#[test]
fn images_ec2_describes_differently_from_the_instance_types_are_refused() {
    use amiset::config::{Arch, Virt};
    let (code, message) = refusal(&["m5.large"], &resolve::Builtin, &facts(Virt::Pv, Arch::X86_64));
    assert_eq!(code, Code::MigrateImageConflict);
    assert_eq!(
        message,
        "worker type `w` cannot be migrated: EC2 says `ami-0123456789abcdef0` in us-east-1 is pv/x86_64, but instance type `m5.large` runs hvm/x86_64"
    );
    let (code, _) = refusal(&["m5.large"], &resolve::Builtin, &facts(Virt::Hvm, Arch::Arm64));
    assert_eq!(code, Code::MigrateImageConflict);
}

#[test]
fn mixed_architectures_are_refused() {
    let (code, message) = refusal(&["m5.large", "t4g.small"], &resolve::Builtin, &NoImageFacts);
    assert_eq!(code, Code::MigrateArchitectureConflict);
    assert_eq!(
        message,
        "worker type `w` cannot be migrated: instance types of different architectures share `ami-0123456789abcdef0` in us-east-1: `m5.large` (x86_64), `t4g.small` (arm64)"
    );
}

// ---- the write path ------------------------------------------------------

fn example_copy() -> (tempfile::TempDir, PathBuf) {
    copy_of("config-example")
}

fn plan_dir(dir: &Path) -> migrate::Plan {
    let limits = Limits::default();
    let inputs = load::read_dir(dir, &limits).unwrap();
    migrate::plan(&inputs, &limits, &resolve::Builtin, &NoImageFacts, &Options::default()).unwrap()
}

#[test]
fn a_file_edited_after_planning_stops_the_write_before_anything_is_written() {
    let (_tmp, dir) = example_copy();
    let plan = plan_dir(&dir);
    assert_eq!(plan.changes.len(), 2);
    let legacy = dir.join("worker-types/gecko-b-legacy.toml");
    fs::write(&legacy, fs::read_to_string(&legacy).unwrap() + "\n# edited meanwhile\n").unwrap();
    let original = tree(&dir);
    let err = migrate::write(&dir, &plan, &mut |_| {}).unwrap_err();
    assert!(matches!(err, WriteError::Changed { .. }), "{err}");
    assert_eq!(tree(&dir), original, "something was written");
}

#[test]
fn an_existing_set_file_is_never_overwritten() {
    let (_tmp, dir) = example_copy();
    let plan = plan_dir(&dir);
    fs::write(dir.join("ami-sets/gecko-b-legacy.toml"), "# someone else's\n").unwrap();
    let original = tree(&dir);
    let err = migrate::write(&dir, &plan, &mut |_| {}).unwrap_err();
    assert!(matches!(err, WriteError::Exists { .. }), "{err}");
    assert_eq!(tree(&dir), original);
}

#[cfg(unix)]
#[test]
fn rewritten_files_keep_their_permissions_and_leave_no_temporary_files() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, dir) = example_copy();
    let legacy = dir.join("worker-types/gecko-b-legacy.toml");
    fs::set_permissions(&legacy, fs::Permissions::from_mode(0o640)).unwrap();
    let plan = plan_dir(&dir);
    let mut written = Vec::new();
    migrate::write(&dir, &plan, &mut |c| written.push(c.path.clone())).unwrap();
    assert_eq!(written, ["ami-sets/gecko-b-legacy.toml", "worker-types/gecko-b-legacy.toml"]);
    assert_eq!(fs::metadata(&legacy).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(
        fs::metadata(dir.join("ami-sets/gecko-b-legacy.toml")).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let stray: Vec<String> = tree(&dir).into_keys().filter(|p| p.contains(".amiset-migrate-")).collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn plan_errors_on_a_bad_selection_only() {
    let (_tmp, dir) = example_copy();
    let limits = Limits::default();
    let inputs = load::read_dir(&dir, &limits).unwrap();
    let options = Options {
        worker_types: vec!["nope".into()],
    };
    let err = migrate::plan(&inputs, &limits, &resolve::Builtin, &NoImageFacts, &options).unwrap_err();
    assert!(matches!(err, MigrateError::UnknownWorkerType { .. }));
    // Selecting a worker type that already uses a set is nothing to do.
    let options = Options {
        worker_types: vec!["gecko-t-win2022".into()],
    };
    let plan = migrate::plan(&inputs, &limits, &resolve::Builtin, &NoImageFacts, &options).unwrap();
    assert!(plan.is_empty() && plan.report.findings.is_empty());
}

// ---- the key property, on generated configs ------------------------------

/// The edit of a worker type touches nothing but `amiSetId`, `ImageId`s and
/// the launchSpecs that held them: every other line, comment and blank line
/// is kept, in order.
fn assert_minimal_edit(old: &str, new: &str) {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut set_ids = 0;
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end();
        match change.tag() {
            similar::ChangeTag::Equal => {}
            similar::ChangeTag::Insert if line.starts_with("amiSetId = ") => set_ids += 1,
            similar::ChangeTag::Insert => assert!(line.contains("launchSpec = {"), "inserted {line:?}\n{old}\n=>\n{new}"),
            similar::ChangeTag::Delete => assert!(
                line.contains("ImageId") || line.contains("launchSpec") || line == "# the image" || line.is_empty(),
                "deleted {line:?}\n{old}\n=>\n{new}"
            ),
        }
    }
    assert_eq!(set_ids, 1, "{new}");
    let comments = |t: &str| {
        t.lines()
            .filter_map(|l| l.find('#').map(|i| l[i..].to_string()))
            .filter(|c| c != "# the image")
            .collect::<Vec<_>>()
    };
    assert_eq!(comments(old), comments(new), "comments changed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Whatever the config, the migration either refuses a worker type
    /// (leaving its file byte for byte) or switches it to a set, and every
    /// launch spec of every worker type resolves exactly as before. A second
    /// migration changes nothing.
    #[test]
    fn generated_configs_resolve_identically_after_migration(config in gen_config::config()) {
        let before = config.inputs();
        let catalog = config.catalog();
        let images = config.images();
        let limits = Limits::default();
        let plan = migrate::plan(&before, &limits, &catalog, &images, &Options::default());
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{before:#?}"))),
        };
        let after = plan.apply(&before);
        let old = specs_of(&before, &catalog);
        prop_assert!(old.values().all(Result::is_ok), "generated config does not resolve: {old:?}");
        prop_assert_eq!(specs_of(&after, &catalog), old);

        let text = |inputs: &Inputs, path: &str| inputs.files.iter().find(|f| f.path == path).map(|f| f.content.clone());
        for w in &config.workers {
            let path = format!("worker-types/{}.toml", w.name);
            let new = match text(&after, &path) { Some(Content::Bytes(b)) => String::from_utf8(b).unwrap(), other => panic!("{other:?}") };
            let refused = plan.report.findings.iter().any(|f| f.file.as_deref() == Some(path.as_str()));
            if !w.raw() {
                prop_assert!(!refused);
                prop_assert_eq!(text(&before, &path), text(&after, &path));
            } else if refused {
                prop_assert_eq!(text(&before, &path), text(&after, &path), "refused worker type was changed");
            } else {
                prop_assert!(new.contains("amiSetId = ") && !new.contains("ImageId"), "{}", new);
                let Some(Content::Bytes(old)) = text(&before, &path) else { panic!("no {path}") };
                assert_minimal_edit(&String::from_utf8(old).unwrap(), &new);
            }
            // Plain x86_64 HVM types with nothing EC2 could contradict are always migrated.
            if w.raw() && w.plain() && !config.has_facts() {
                prop_assert!(!refused, "refused a plain worker type: {:?}", plan.report.findings);
            }
        }

        let again = migrate::plan(&after, &limits, &catalog, &images, &Options::default()).unwrap();
        prop_assert!(again.is_empty(), "second run would change: {:?}", again.changes);
    }
}
