//! `amiset compile`, `amiset resolve` and the artifact reader: schema-valid,
//! deterministic, atomic output, and a reader that refuses tampered files.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use amiset::artifacts::{ArtifactError, Artifacts};
use common::{amiset, copy_dir, corpus, git, git_init_commit, manifest_dir, snapshot_tree, stderr, stdout};
use serde_json::Value as Json;

fn example() -> std::path::PathBuf {
    manifest_dir().join("config-example")
}

fn compile(cwd: &Path, dir: &Path, out: &Path) -> std::process::Output {
    amiset(
        cwd,
        &["compile", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--format", "json"],
    )
}

/// A validator for one `$defs` entry of the artifact schema.
fn validator(def: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(manifest_dir().join("schemas/artifacts.schema.json")).unwrap();
    let mut schema: Json = serde_json::from_str(&text).unwrap();
    schema["$ref"] = Json::String(format!("#/$defs/{def}"));
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, path: &Path) {
    let value: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} does not match the artifact schema: {errors:#?}",
        path.display()
    );
}

#[test]
fn config_example_compiles_to_schema_valid_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = compile(tmp.path(), &example(), &out);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_valid(&validator("manifest"), &out.join("manifest.json"));
    let (sets, workers) = (validator("amiSet"), validator("workerType"));
    let artifacts = Artifacts::open(&out).unwrap();
    assert_eq!(artifacts.ami_sets().count(), 4);
    assert_eq!(artifacts.worker_types().count(), 7);
    for id in artifacts.ami_sets() {
        assert_valid(&sets, &out.join(format!("ami-sets/{id}.json")));
    }
    for name in artifacts.worker_types() {
        assert_valid(&workers, &out.join(format!("worker-types/{name}.json")));
    }
    // The schema is strict: a launch spec without ImageId is rejected.
    let mut doc: Json = serde_json::from_slice(&std::fs::read(out.join("worker-types/centos6-builder.json")).unwrap()).unwrap();
    doc["launchSpecs"]["us-east-1"]["m3.medium"]
        .as_object_mut()
        .unwrap()
        .remove("ImageId");
    assert!(!workers.is_valid(&doc));
}

#[test]
fn resolution_rules_show_in_the_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(compile(tmp.path(), &example(), &out).status.code(), Some(0));
    let artifacts = Artifacts::open(&out).unwrap();
    let image = |w: &str, r: &str, t: &str| artifacts.launch_spec(w, r, t).unwrap().image_id;
    // centos-6 has hvm and pv: m3 (both) takes hvm, c5 (hvm only) takes hvm.
    let centos = std::fs::read_to_string(example().join("ami-sets/centos-6.toml")).unwrap();
    let hvm = image("centos6-builder", "us-east-1", "m3.medium");
    assert!(centos.contains(&format!("hvm = \"{hvm}\"")), "m3.medium got {hvm}");
    // Graviton takes the arm64 entry, x86_64 the x86_64 entry.
    let ubuntu = std::fs::read_to_string(example().join("ami-sets/ubuntu-2204.toml")).unwrap();
    let (x86, arm) = (
        image("gecko-t-linux-mixed", "us-east-1", "m5.xlarge"),
        image("gecko-t-linux-mixed", "us-east-1", "m6g.xlarge"),
    );
    assert_ne!(x86, arm);
    assert!(ubuntu.contains(&x86) && ubuntu.contains(&arm));
    // A legacy worker type keeps its raw ImageId.
    assert_eq!(image("gecko-b-legacy", "us-east-1", "c5.2xlarge"), "ami-0a0b0c0d0e0f01234");
}

#[test]
fn output_is_identical_across_directories_and_records_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for name in ["a", "nested/deeper/b"] {
        let repo = tmp.path().join(name);
        copy_dir(&example(), &repo);
        git_init_commit(&repo);
        let out = tmp.path().join(format!("out-{}", name.replace('/', "-")));
        let run = compile(&repo, &repo, &out);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        trees.push(snapshot_tree(&out));
    }
    assert_eq!(trees[0], trees[1], "the same config compiled in two places differs");
    let manifest: Json = serde_json::from_slice(&trees[0]["manifest.json"]).unwrap();
    let head = git(&tmp.path().join("a"), &["rev-parse", "HEAD"]);
    assert_eq!(manifest["source"], serde_json::json!({"commit": head, "dirty": false, "path": ""}));
    assert_eq!(manifest["ec2Verified"], Json::Bool(false));

    // An uncommitted edit makes the source dirty.
    let repo = tmp.path().join("a");
    std::fs::write(repo.join("worker-types/new-worker.toml"), "amiSetId = \"ubuntu-2204\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n").unwrap();
    let out = tmp.path().join("out-dirty");
    assert_eq!(compile(&repo, &repo, &out).status.code(), Some(0));
    let manifest: Json = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["source"]["dirty"], Json::Bool(true));
}

#[test]
fn a_config_with_errors_leaves_the_old_artifacts_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    copy_dir(&example(), &config);
    let out = tmp.path().join("out");
    assert_eq!(compile(tmp.path(), &config, &out).status.code(), Some(0));
    let before = snapshot_tree(&out);
    std::fs::write(config.join("worker-types/gecko-t-linux-large.toml"), "amiSetId = \"ubuntu-2024\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n").unwrap();
    let run = compile(tmp.path(), &config, &out);
    assert_eq!(run.status.code(), Some(1));
    assert!(stdout(&run).contains("ref::unknown-ami-set"), "{}", stdout(&run));
    assert!(stderr(&run).contains("is unchanged"), "{}", stderr(&run));
    assert_eq!(snapshot_tree(&out), before);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "temporary directories left behind: {leftovers:?}");
}

#[test]
fn a_directory_amiset_did_not_write_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("important");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let run = compile(tmp.path(), &example(), &out);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("is not what amiset writes"), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep me");

    // A manifest.json of someone else's (a web app's, say) does not make it ours.
    std::fs::write(out.join("manifest.json"), "{}").unwrap();
    let run = compile(tmp.path(), &example(), &out);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep me");

    // Nor does amiset's own manifest with a file beside it that it does not list.
    let ours = tmp.path().join("ours");
    assert_eq!(compile(tmp.path(), &example(), &ours).status.code(), Some(0));
    std::fs::write(ours.join("worker-types/notes.txt"), "keep me too").unwrap();
    let run = compile(tmp.path(), &example(), &ours);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(ours.join("worker-types/notes.txt")).unwrap(), "keep me too");
    // What amiset wrote alone is replaced.
    std::fs::remove_file(ours.join("worker-types/notes.txt")).unwrap();
    assert_eq!(compile(tmp.path(), &example(), &ours).status.code(), Some(0));

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let run = compile(tmp.path(), &example(), &file);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("is not a directory"), "{}", stderr(&run));
}

#[test]
fn the_reader_names_a_tampered_truncated_missing_or_extra_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    assert_eq!(compile(tmp.path(), &example(), &pristine).status.code(), Some(0));
    let fresh = |name: &str| {
        let dir = tmp.path().join(name);
        copy_dir(&pristine, &dir);
        dir
    };
    let target = "worker-types/gecko-t-linux-large.json";

    let dir = fresh("tampered");
    let text = std::fs::read_to_string(dir.join(target)).unwrap();
    std::fs::write(dir.join(target), text.replacen("ami-0", "ami-1", 1)).unwrap();
    let err = Artifacts::open(&dir).unwrap_err();
    assert!(matches!(err, ArtifactError::Tampered { .. }), "{err}");
    assert!(err.to_string().contains(target), "{err}");

    let dir = fresh("truncated");
    let bytes = std::fs::read(dir.join(target)).unwrap();
    std::fs::write(dir.join(target), &bytes[..bytes.len() / 2]).unwrap();
    let err = Artifacts::open(&dir).unwrap_err();
    assert!(err.to_string().contains(target) && err.to_string().contains("truncated"), "{err}");

    let dir = fresh("missing");
    std::fs::remove_file(dir.join(target)).unwrap();
    let err = Artifacts::open(&dir).unwrap_err();
    assert!(matches!(err, ArtifactError::Io { .. }) && err.to_string().contains(target), "{err}");

    let dir = fresh("extra");
    std::fs::write(dir.join("worker-types/smuggled.json"), "{}").unwrap();
    let err = Artifacts::open(&dir).unwrap_err();
    assert!(
        matches!(err, ArtifactError::Unlisted { .. }) && err.to_string().contains("smuggled.json"),
        "{err}"
    );

    // A file changed after open is caught at lookup.
    let dir = fresh("late");
    let artifacts = Artifacts::open(&dir).unwrap();
    std::fs::write(dir.join(target), "{}").unwrap();
    let err = artifacts.launch_spec("gecko-t-linux-large", "us-east-1", "m5.large").unwrap_err();
    assert!(matches!(err, ArtifactError::Tampered { .. }), "{err}");

    let err = Artifacts::open(tmp.path().join("nowhere")).unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

#[test]
fn resolve_from_config_and_from_artifacts_agree_on_every_launch_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(compile(tmp.path(), &example(), &out).status.code(), Some(0));
    let artifacts = Artifacts::open(&out).unwrap();
    let mut checked = 0;
    for worker in artifacts.worker_types() {
        let doc = artifacts.worker_type(worker).unwrap();
        for (region, types) in doc["launchSpecs"].as_object().unwrap() {
            for instance_type in types.as_object().unwrap().keys() {
                let args = ["resolve", worker, "--region", region, "--instance-type", instance_type];
                let from_dir = amiset(&example(), &args);
                assert_eq!(from_dir.status.code(), Some(0), "{}", stderr(&from_dir));
                let out_arg = out.to_str().unwrap();
                let from_out = amiset(tmp.path(), &[&args[..], &["--artifacts", out_arg]].concat());
                assert_eq!(stdout(&from_dir), stdout(&from_out));
                let spec: Json = serde_json::from_str(&stdout(&from_dir)).unwrap();
                assert_eq!(
                    Json::Object(artifacts.launch_spec(worker, region, instance_type).unwrap().parameters),
                    spec
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 28);
}

/// `--from DIR` resolves from DIR wherever the command runs, even inside
/// another config; the spec is the hand-merged layers of config-example.
#[test]
fn resolve_from_reads_the_named_directory_not_the_current_one() {
    let tmp = tempfile::tempdir().unwrap();
    // The current directory is another config, whose set has a different us-east-1 AMI.
    let other = tmp.path().join("other");
    copy_dir(&example(), &other);
    let set = other.join("ami-sets/ubuntu-2204.toml");
    let text = std::fs::read_to_string(&set).unwrap();
    std::fs::write(&set, text.replacen("ami-0123456789abcdef0", "ami-0999999999999999a", 1)).unwrap();
    let args = [
        "resolve",
        "gecko-t-linux-large",
        "--region",
        "us-east-1",
        "--instance-type",
        "c5.xlarge",
    ];
    let from = example();
    let run = amiset(&other, &[&args[..], &["--from", from.to_str().unwrap()]].concat());
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let spec: Json = serde_json::from_str(&stdout(&run)).unwrap();
    // Worker type layer, region layer, instance type layer (KeyName replaced), then ImageId and InstanceType.
    let expected = serde_json::json!({
        "SecurityGroupIds": ["sg-0abc1234"],
        "KeyName": "relops-2026-c5",
        "MetadataOptions": {"HttpTokens": "required"},
        "SubnetId": "subnet-0abc1111",
        "EbsOptimized": true,
        "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "c5.xlarge",
    });
    assert_eq!(spec, expected);
    // Without --from, the current directory is what resolves.
    let here = amiset(&other, &args);
    assert_eq!(here.status.code(), Some(0), "{}", stderr(&here));
    let spec: Json = serde_json::from_str(&stdout(&here)).unwrap();
    assert_eq!(spec["ImageId"], "ami-0999999999999999a");
    // A --from that does not exist is a tool error naming it.
    let missing = tmp.path().join("no-such-config");
    let run = amiset(&other, &[&args[..], &["--from", missing.to_str().unwrap()]].concat());
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("no-such-config"), "{}", stderr(&run));
}

#[test]
fn resolve_explain_names_file_line_and_layer() {
    let run = amiset(
        &example(),
        &[
            "resolve",
            "gecko-t-linux-large",
            "--region",
            "eu-central-1",
            "--instance-type",
            "c5.xlarge",
            "--explain",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    insta::assert_snapshot!(stdout(&run));
}

#[test]
fn resolve_reports_unknown_names_with_suggestions() {
    let run = amiset(
        &example(),
        &[
            "resolve",
            "gecko-t-linux-larg",
            "--region",
            "us-east-1",
            "--instance-type",
            "m5.large",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("did you mean `gecko-t-linux-large`?"), "{}", stderr(&run));
    let run = amiset(
        &example(),
        &[
            "resolve",
            "gecko-t-linux-large",
            "--region",
            "ap-south-1",
            "--instance-type",
            "m5.large",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("has no region `ap-south-1`"), "{}", stderr(&run));
}

/// A tiny deterministic generator for kill moments; the seed is printed so a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn sigkill_at_any_moment_leaves_the_old_or_the_new_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let configs = [tmp.path().join("a"), tmp.path().join("b")];
    for (i, dir) in configs.iter().enumerate() {
        corpus::write(dir, 8, 150, 8, i as u64);
    }
    let out = tmp.path().join("out");
    // Reference manifests of both versions, and the time one compile takes.
    let mut manifests = Vec::new();
    let mut longest = Duration::ZERO;
    for dir in &configs {
        let reference = tmp.path().join("reference");
        let start = Instant::now();
        let run = compile(tmp.path(), dir, &reference);
        longest = longest.max(start.elapsed());
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        manifests.push(Artifacts::open(&reference).unwrap().manifest().clone());
        std::fs::remove_dir_all(&reference).unwrap();
    }
    assert_ne!(manifests[0], manifests[1]);
    assert_eq!(compile(tmp.path(), &configs[0], &out).status.code(), Some(0));

    // A fixed seed (AMISET_KILL_SEED replays another one).
    let seed: u64 = std::env::var("AMISET_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_203);
    eprintln!("kill test seed {seed}, one compile takes {longest:?}");
    let mut rng = Lcg(seed);
    let temporary_of = |pid: u32| -> Option<std::path::PathBuf> {
        let prefix = format!(".out.amiset-{pid}-");
        std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
    };
    // OUT holds configs[0]'s compile; each round compiles the other one.
    let mut current = 0;
    let (mut mid_write, mut completed) = (0, 0);
    for round in 0..30 {
        let target = 1 - current;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_amiset"))
            .args([
                "compile",
                configs[target].to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--format",
                "json",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the compile has started writing its temporary tree,
        // then kill it at a random moment of what a whole compile takes.
        let started = Instant::now();
        while temporary_of(child.id()).is_none() && child.try_wait().unwrap().is_none() && started.elapsed() < longest * 4 {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.below(longest.as_micros() as u64 * 5 / 4)));
        let _ = child.kill();
        let _ = child.wait();
        let artifacts = Artifacts::open(&out).unwrap_or_else(|e| panic!("round {round} (seed {seed}): OUT is broken: {e}"));
        let which = manifests.iter().position(|m| m == artifacts.manifest());
        let which = which.unwrap_or_else(|| panic!("round {round} (seed {seed}): OUT is neither the old nor the new compile"));
        // The killed run's temporary tree still holding files, with OUT
        // unchanged, is a kill that landed while the new tree was written.
        let files_left = temporary_of(child.id()).map_or(0, |t| snapshot_tree(&t).len());
        if which == current && files_left > 0 {
            mid_write += 1;
        }
        if which == target {
            completed += 1;
        }
        current = which;
    }
    eprintln!("after 30 kills: {mid_write} landed mid-write (OUT kept the old compile), {completed} after the swap");
    assert!(
        mid_write >= 4,
        "too few kills landed mid-write to prove anything: {mid_write} (seed {seed})"
    );
    // A clean compile afterwards removes the temporaries killed runs left.
    assert_eq!(compile(tmp.path(), &configs[1], &out).status.code(), Some(0));
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".amiset-")), "temporaries left: {names:?}");
}

#[test]
fn resolve_rejects_an_unknown_instance_type_with_its_code_and_a_suggestion() {
    for extra in [&[][..], &["--artifacts", "does-not-matter"][..]] {
        let mut args = vec![
            "resolve",
            "gecko-t-linux-large",
            "--region",
            "us-east-1",
            "--instance-type",
            "m5.larg",
        ];
        args.extend_from_slice(extra);
        let run = amiset(&example(), &args);
        assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
        assert!(
            stderr(&run).contains(
                "worker-type::unknown-instance-type: `--instance-type m5.larg` is not a known EC2 instance type (did you mean `m5.large`?)"
            ),
            "{}",
            stderr(&run)
        );
    }
    // Known to EC2 but not listed by the worker type: the worker type's own message.
    let run = amiset(
        &example(),
        &[
            "resolve",
            "gecko-t-linux-large",
            "--region",
            "us-east-1",
            "--instance-type",
            "r5.large",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("has no instance type `r5.large`"), "{}", stderr(&run));
}
