//! Signed artifacts (DESIGN §6): `compile --sign`, `verify-artifacts`,
//! `resolve --trust-key` and `Artifacts::open_trusted`, with keys made by
//! `openssl`, history made by the `git` CLI, and AWS KMS served by moto.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use amiset::artifacts::{Artifacts, PublicKey, Trust, TrustError};
use common::{amiset, amiset_with, copy_dir, git_at, manifest_dir, snapshot_tree, stderr, stdout};
use serde_json::Value as Json;

fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// An Ed25519 key pair made by openssl: (private PKCS#8 PEM, public PEM).
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (private, public) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.pub.pem")));
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", private.to_str().unwrap()]);
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    );
    (private, public)
}

/// Hex sha256 of the DER SubjectPublicKeyInfo of `public`, as openssl and sha256sum compute it.
fn key_id_by_openssl(dir: &Path, public: &Path) -> String {
    let der = openssl(dir, &["pkey", "-pubin", "-in", public.to_str().unwrap(), "-outform", "DER"]).stdout;
    let path = dir.join("spki.der");
    std::fs::write(&path, der).unwrap();
    let out = Command::new("sha256sum").arg(&path).output().expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// config-example in a Git repository on `main`: one commit on 2026-01-01.
struct History {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
}

impl History {
    fn new() -> History {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        copy_dir(&manifest_dir().join("config-example"), &root);
        git_at(&root, "2026-01-01T00:00:00Z", &["init", "-q", "-b", "main"]);
        git_at(&root, "2026-01-01T00:00:00Z", &["add", "-A"]);
        git_at(&root, "2026-01-01T00:00:00Z", &["commit", "-q", "-m", "initial"]);
        History {
            dir: tmp.path().to_path_buf(),
            _tmp: tmp,
            root,
        }
    }

    /// Replaces `from` with `to` in `path` and commits as of `date`.
    fn change(&self, path: &str, from: &str, to: &str, date: &str) -> &History {
        let file = self.root.join(path);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(from), "{path} lacks {from}");
        std::fs::write(&file, text.replacen(from, to, 1)).unwrap();
        git_at(&self.root, date, &["commit", "-q", "-am", "change"]);
        self
    }

    /// An empty commit as of `date`.
    fn commit(&self, date: &str) -> &History {
        git_at(&self.root, date, &["commit", "-q", "--allow-empty", "-m", "empty"]);
        self
    }

    fn compile_signed(&self, out: &Path, key: &Path, extra: &[&str]) -> Output {
        let sign = format!("file:{}", key.display());
        let args = [&["compile", ".", "--out", out.to_str().unwrap(), "--sign", &sign][..], extra].concat();
        amiset(&self.root, &args)
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn manifest(out: &Path) -> Json {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

fn verify(cwd: &Path, out: &Path, keys: &[&Path], state: Option<&Path>, now: Option<&str>) -> Output {
    let mut args = vec!["verify-artifacts", out.to_str().unwrap()];
    for key in keys {
        args.extend(["--trust-key", key.to_str().unwrap()]);
    }
    if let Some(state) = state {
        args.extend(["--state", state.to_str().unwrap()]);
    }
    amiset_with(cwd, &args, &[("AMISET_NOW", now.unwrap_or("2026-01-15T00:00:00Z"))])
}

/// Runs `amiset` with `args` in `cwd` as of 2026-01-15.
fn amiset_at(cwd: &Path, args: &[&str]) -> Output {
    amiset_with(cwd, args, &[("AMISET_NOW", "2026-01-15T00:00:00Z")])
}

/// `resolve gecko-t-linux-large` in us-east-1 on m5.large from `out`, trusting `public`.
fn resolve_trusted(cwd: &Path, out: &Path, public: &Path, extra: &[&str]) -> Output {
    let (out, public) = (out.to_str().unwrap(), public.to_str().unwrap());
    let args = [
        "resolve",
        "gecko-t-linux-large",
        "--region",
        "us-east-1",
        "--instance-type",
        "m5.large",
        "--artifacts",
        out,
        "--trust-key",
        public,
    ];
    amiset_at(cwd, &[&args[..], extra].concat())
}

fn assert_refused(out: &Output, code: &str) {
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    assert!(
        stderr(out).contains(&format!("refused: {code}: ")),
        "expected {code}, got: {}",
        stderr(out)
    );
}

/// `value` against `$defs/<def>` of the published artifact schema.
fn schema_errors(def: &str, value: &Json) -> Vec<String> {
    let text = std::fs::read_to_string(manifest_dir().join("schemas/artifacts.schema.json")).unwrap();
    let mut schema: Json = serde_json::from_str(&text).unwrap();
    schema["$ref"] = Json::String(format!("#/$defs/{def}"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn trust(keys: &[&Path], now: &str) -> Trust {
    let keys = keys.iter().map(|k| PublicKey::from_pem_file(k).unwrap()).collect();
    Trust::new(keys, amiset::ec2::inventory::parse_rfc3339(now).unwrap())
}

#[test]
fn a_signed_manifest_holds_commit_first_parent_sequence_and_expiry_and_openssl_verifies_it() {
    let h = History::new();
    // main: initial, a; a side branch of two commits merged with --no-ff: first-parent count 3, all commits 5.
    h.change(
        "ami-sets/centos-6.toml",
        "description = ",
        "description = \"a\" # ",
        "2026-01-02T00:00:00Z",
    );
    git_at(&h.root, "2026-01-03T00:00:00Z", &["checkout", "-q", "-b", "side"]);
    h.commit("2026-01-03T00:00:00Z");
    h.commit("2026-01-04T00:00:00Z");
    git_at(&h.root, "2026-01-05T00:00:00Z", &["checkout", "-q", "main"]);
    git_at(
        &h.root,
        "2026-03-01T12:00:00Z",
        &["merge", "-q", "--no-ff", "-m", "merge side", "side"],
    );
    assert_eq!(git_at(&h.root, "2026-01-01T00:00:00Z", &["rev-list", "--count", "HEAD"]), "5");
    assert_eq!(
        git_at(&h.root, "2026-01-01T00:00:00Z", &["rev-list", "--first-parent", "--count", "HEAD"]),
        "3"
    );
    let head = git_at(&h.root, "2026-01-01T00:00:00Z", &["rev-parse", "HEAD"]);
    let (key, public) = keypair(&h.dir, "publish");

    let out = h.out("out");
    let run = h.compile_signed(&out, &key, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let m = manifest(&out);
    assert_eq!(m["sourceCommit"], head);
    assert_eq!(m["sequence"], 3);
    // Committer time of the merge plus 30 days.
    assert_eq!(m["expires"], "2026-03-31T12:00:00Z");
    let sig: Json = serde_json::from_slice(&std::fs::read(out.join("manifest.sig")).unwrap()).unwrap();
    assert_eq!(sig["algorithm"], "ed25519");
    assert_eq!(sig["keyId"], key_id_by_openssl(&h.dir, &public));
    let keys: Vec<&str> = sig.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["algorithm", "keyId", "signature"]);
    assert_eq!(schema_errors("manifest", &m), Vec::<String>::new());
    assert_eq!(schema_errors("manifestSig", &sig), Vec::<String>::new());
    let mut half = m.clone();
    half.as_object_mut().unwrap().remove("expires");
    assert!(
        !schema_errors("manifest", &half).is_empty(),
        "the schema requires the three anchor fields together"
    );

    // openssl verifies the signature over the exact bytes of manifest.json.
    let raw = base64_decode(sig["signature"].as_str().unwrap());
    std::fs::write(h.dir.join("sig.bin"), raw).unwrap();
    let check = |manifest: &Path| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(&public)
            .arg("-in")
            .arg(manifest)
            .arg("-sigfile")
            .arg(h.dir.join("sig.bin"))
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(check(&out.join("manifest.json")));
    let mut altered = std::fs::read(out.join("manifest.json")).unwrap();
    altered.insert(1, b' ');
    std::fs::write(h.dir.join("altered.json"), altered).unwrap();
    assert!(!check(&h.dir.join("altered.json")), "openssl must reject a changed manifest");

    // --valid-for in hours.
    let run = h.compile_signed(&h.out("short"), &key, &["--valid-for", "12h"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(manifest(&h.out("short"))["expires"], "2026-03-02T00:00:00Z");
}

/// Standard base64, decoded by hand (no shared code with amiset).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("standard base64") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn two_signed_compiles_of_one_commit_are_byte_identical_signature_included() {
    let h = History::new();
    let (key, _) = keypair(&h.dir, "publish");
    let (a, b) = (h.out("a"), h.out("b"));
    assert_eq!(h.compile_signed(&a, &key, &[]).status.code(), Some(0));
    // A second clone of the same commit, in another directory.
    let clone = h.dir.join("clone");
    git_at(
        &h.dir,
        "2026-01-01T00:00:00Z",
        &["clone", "-q", h.root.to_str().unwrap(), clone.to_str().unwrap()],
    );
    let sign = format!("file:{}", key.display());
    let run = amiset(&clone, &["compile", ".", "--out", b.to_str().unwrap(), "--sign", &sign]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let (ta, tb) = (snapshot_tree(&a), snapshot_tree(&b));
    assert!(ta.contains_key("manifest.sig"));
    assert_eq!(ta, tb);
}

#[test]
fn verify_artifacts_accepts_signed_artifacts_and_records_the_sequence() {
    let h = History::new();
    h.commit("2026-01-02T00:00:00Z");
    let (key, public) = keypair(&h.dir, "publish");
    let out = h.out("out");
    assert_eq!(h.compile_signed(&out, &key, &[]).status.code(), Some(0));
    let state = h.dir.join("state.json");
    let run = verify(&h.dir, &out, &[&public], Some(&state), None);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let head = git_at(&h.root, "2026-01-01T00:00:00Z", &["rev-parse", "HEAD"]);
    let recorded: Json = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(recorded, serde_json::json!({"sequence": 2, "sourceCommit": head}));
    // resolve reads through the same checks.
    let resolved = resolve_trusted(&h.dir, &out, &public, &["--state", state.to_str().unwrap()]);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    assert!(
        stdout(&resolved).contains("\"ImageId\": \"ami-0123456789abcdef0\""),
        "{}",
        stdout(&resolved)
    );
}

/// Rewrites the ImageId of one launch spec, recomputes its sha256 in
/// manifest.json and claims EC2 verification: the attack on unsigned manifests.
fn forge(out: &Path) {
    let rel = "worker-types/gecko-t-linux-large.json";
    let path = out.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("ami-0123456789abcdef0"));
    let forged = text.replace("ami-0123456789abcdef0", "ami-0badc0ffee0000666");
    std::fs::write(&path, &forged).unwrap();
    let sha = Command::new("sha256sum").arg(&path).output().unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout).split_whitespace().next().unwrap().to_string();
    let mut m = manifest(out);
    m["files"][rel] = Json::String(sha);
    m["ec2Verified"] = Json::Bool(true);
    std::fs::write(out.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn every_refusal_has_its_own_error_and_code() {
    let h = History::new();
    let (key, public) = keypair(&h.dir, "publish");
    let (_, stranger) = keypair(&h.dir, "stranger");
    let now = "2026-01-15T00:00:00Z";

    // Unsigned.
    let unsigned = h.out("unsigned");
    assert_eq!(
        amiset(&h.root, &["compile", ".", "--out", unsigned.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_refused(&verify(&h.dir, &unsigned, &[&public], None, None), "artifacts::unsigned");
    assert!(matches!(
        Artifacts::open_trusted(&unsigned, &trust(&[&public], now)),
        Err(TrustError::Unsigned { .. })
    ));

    // Signed by a key nobody trusts.
    let signed = h.out("signed");
    assert_eq!(h.compile_signed(&signed, &key, &[]).status.code(), Some(0));
    assert_refused(&verify(&h.dir, &signed, &[&stranger], None, None), "artifacts::untrusted-key");
    assert!(matches!(
        Artifacts::open_trusted(&signed, &trust(&[&stranger], now)),
        Err(TrustError::UntrustedKey { .. })
    ));

    // The forged launch spec with recomputed hashes: the unsigned reader returns the attacker's AMI...
    let forged = h.out("forged");
    copy_dir(&signed, &forged);
    forge(&forged);
    let spec = Artifacts::open(&forged)
        .unwrap()
        .launch_spec("gecko-t-linux-large", "us-east-1", "m5.large")
        .unwrap();
    assert_eq!(spec.image_id, "ami-0badc0ffee0000666");
    // ...the trusted reader and both commands refuse it.
    assert!(matches!(
        Artifacts::open_trusted(&forged, &trust(&[&public], now)),
        Err(TrustError::BadSignature { .. })
    ));
    assert_refused(&verify(&h.dir, &forged, &[&public], None, None), "artifacts::bad-signature");
    let resolved = resolve_trusted(&h.dir, &forged, &public, &[]);
    assert_refused(&resolved, "artifacts::bad-signature");
    assert!(!stdout(&resolved).contains("ami-0badc0ffee0000666"));

    // A file changed, the signed manifest left alone.
    let changed = h.out("changed");
    copy_dir(&signed, &changed);
    let wt = changed.join("worker-types/gecko-t-linux-large.json");
    let text = std::fs::read_to_string(&wt)
        .unwrap()
        .replace("ami-0123456789abcdef0", "ami-0badc0ffee0000666");
    std::fs::write(&wt, text).unwrap();
    assert_refused(&verify(&h.dir, &changed, &[&public], None, None), "artifacts::hash-mismatch");
    assert!(matches!(
        Artifacts::open_trusted(&changed, &trust(&[&public], now)),
        Err(TrustError::HashMismatch { .. })
    ));

    // Expired: the commit is from 2026-01-01, valid 30 days; the boundary is exclusive.
    assert_eq!(manifest(&signed)["expires"], "2026-01-31T00:00:00Z");
    let last = verify(&h.dir, &signed, &[&public], None, Some("2026-01-30T23:59:59Z"));
    assert_eq!(last.status.code(), Some(0), "{}", stderr(&last));
    assert_refused(
        &verify(&h.dir, &signed, &[&public], None, Some("2026-01-31T00:00:00Z")),
        "artifacts::expired",
    );
    assert!(matches!(
        Artifacts::open_trusted(&signed, &trust(&[&public], "2026-02-01T00:00:00Z")),
        Err(TrustError::Expired { .. })
    ));
}

#[test]
fn an_older_compile_after_a_newer_one_is_a_rollback_and_the_same_one_is_not() {
    let h = History::new();
    let (key, public) = keypair(&h.dir, "publish");
    let old = h.out("old");
    assert_eq!(h.compile_signed(&old, &key, &[]).status.code(), Some(0));
    // The revoked AMI is replaced in the next commit.
    h.change(
        "ami-sets/ubuntu-2204.toml",
        "ami-0123456789abcdef0",
        "ami-0aaaaaaaaaaaaaaa1",
        "2026-01-02T00:00:00Z",
    );
    let new = h.out("new");
    assert_eq!(h.compile_signed(&new, &key, &[]).status.code(), Some(0));
    assert_eq!(manifest(&old)["sequence"], 1);
    assert_eq!(manifest(&new)["sequence"], 2);

    let state = h.dir.join("state.json");
    assert_eq!(verify(&h.dir, &new, &[&public], Some(&state), None).status.code(), Some(0));
    // The store writer puts last month's artifacts back.
    let rolled = verify(&h.dir, &old, &[&public], Some(&state), None);
    assert_refused(&rolled, "artifacts::rollback");
    let t = trust(&[&public], "2026-01-15T00:00:00Z").with_state(&state);
    assert!(matches!(
        Artifacts::open_trusted(&old, &t),
        Err(TrustError::Rollback {
            sequence: 1,
            recorded: 2,
            ..
        })
    ));
    // The same sequence again is fine, and the record never went down.
    assert_eq!(verify(&h.dir, &new, &[&public], Some(&state), None).status.code(), Some(0));
    let recorded: Json = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(recorded["sequence"], 2);
    // Without a state file there is nothing to roll back from.
    assert_eq!(verify(&h.dir, &old, &[&public], None, None).status.code(), Some(0));
}

#[test]
fn either_of_several_trusted_keys_is_accepted_during_a_rotation() {
    let h = History::new();
    let (old_key, old_pub) = keypair(&h.dir, "old");
    let (new_key, new_pub) = keypair(&h.dir, "new");
    let (a, b) = (h.out("a"), h.out("b"));
    assert_eq!(h.compile_signed(&a, &old_key, &[]).status.code(), Some(0));
    assert_eq!(h.compile_signed(&b, &new_key, &[]).status.code(), Some(0));
    assert_ne!(
        std::fs::read(a.join("manifest.sig")).unwrap(),
        std::fs::read(b.join("manifest.sig")).unwrap()
    );
    for out in [&a, &b] {
        let run = verify(&h.dir, out, &[&old_pub, &new_pub], None, None);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    }
    // The old key retired: its artifacts are refused.
    assert_refused(&verify(&h.dir, &a, &[&new_pub], None, None), "artifacts::untrusted-key");
}

#[test]
fn signing_without_a_clean_full_git_history_is_a_tool_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keypair(tmp.path(), "publish");
    let sign = format!("file:{}", key.display());
    // Not in a repository.
    let plain = tmp.path().join("plain");
    copy_dir(&manifest_dir().join("config-example"), &plain);
    let run = amiset(&plain, &["compile", ".", "--out", "../out", "--sign", &sign]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("signing needs the config in a Git repository"),
        "{}",
        stderr(&run)
    );
    assert!(!tmp.path().join("out").exists());

    let h = History::new();
    // Modified files: the artifacts would not match the commit.
    std::fs::write(h.root.join("notes.txt"), "not committed\n").unwrap();
    let run = h.compile_signed(&h.out("dirty"), &key, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("modified, staged or untracked"), "{}", stderr(&run));
    std::fs::remove_file(h.root.join("notes.txt")).unwrap();

    // A shallow clone cannot count the history.
    h.commit("2026-01-02T00:00:00Z");
    let shallow = h.dir.join("shallow");
    let url = format!("file://{}", h.root.display());
    git_at(
        &h.dir,
        "2026-01-01T00:00:00Z",
        &["clone", "-q", "--depth", "1", &url, shallow.to_str().unwrap()],
    );
    let run = amiset(&shallow, &["compile", ".", "--out", "../shallow-out", "--sign", &sign]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("shallow clone"), "{}", stderr(&run));

    // A bad key and a bad duration.
    let run = amiset(&h.root, &["compile", ".", "--out", "../x", "--sign", "file:missing.pem"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let run = h.compile_signed(&h.out("x"), &key, &["--valid-for", "30m"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    // An unreadable trusted key is a tool error, not a refusal.
    let run = verify(&h.dir, &h.out("x"), &[Path::new("missing.pem")], None, None);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}

#[test]
fn the_state_file_never_goes_down_and_stays_valid_when_updates_are_killed() {
    let h = History::new();
    let (key, public) = keypair(&h.dir, "publish");
    let old = h.out("old");
    assert_eq!(h.compile_signed(&old, &key, &[]).status.code(), Some(0));
    h.commit("2026-01-02T00:00:00Z");
    let new = h.out("new");
    assert_eq!(h.compile_signed(&new, &key, &[]).status.code(), Some(0));
    let state_dir = h.dir.join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let state = state_dir.join("state.json");
    assert_eq!(verify(&h.dir, &old, &[&public], Some(&state), None).status.code(), Some(0));
    // A writer killed after writing half a temporary file, with a lower number.
    std::fs::write(state_dir.join(".state.json.tmp-dead"), "{\"sequence\": 0, \"sourc").unwrap();

    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut recorded = 1;
    for round in 0..30 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let out = if round % 3 == 2 { &old } else { &new };
        let mut child = Command::new(common::bin())
            .arg("verify-artifacts")
            .arg(out)
            .arg("--trust-key")
            .arg(&public)
            .arg("--state")
            .arg(&state)
            .env("AMISET_NOW", "2026-01-15T00:00:00Z")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let delay = Duration::from_micros(seed % 20_000);
        while start.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&state).unwrap();
        let now: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: invalid state {text:?}: {e}"));
        let sequence = now["sequence"].as_u64().unwrap();
        assert!(
            sequence >= recorded,
            "round {round}: the sequence went down from {recorded} to {sequence}"
        );
        recorded = sequence;
    }
    // Once the newer artifacts were accepted, the older are refused.
    assert_eq!(verify(&h.dir, &new, &[&public], Some(&state), None).status.code(), Some(0));
    assert_refused(&verify(&h.dir, &old, &[&public], Some(&state), None), "artifacts::rollback");
    let leftovers: Vec<String> = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "stale temporaries: {leftovers:?}");
    // A state file that does not parse is never taken as a fresh start.
    std::fs::write(&state, "{\"sequence\": ").unwrap();
    let run = verify(&h.dir, &old, &[&public], Some(&state), None);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}

#[cfg(feature = "ec2")]
#[path = "ec2/moto.rs"]
mod moto;

/// `compile --sign awskms:KEY-ID` against moto's KMS: an ECC_NIST_P256 key
/// made with CreateKey, the manifest signed with Sign (ECDSA_SHA_256), the
/// signature checked by openssl and by `verify-artifacts` with the public
/// key GetPublicKey returns.
#[cfg(feature = "ec2")]
#[test]
fn compile_signs_with_a_kms_key_and_its_public_key_verifies_the_artifacts() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};

    let server = moto::Moto::start(&[]);
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(&server.url)
        .credentials_provider(aws_sdk_kms::config::Credentials::new("test", "test", None, None, "test"))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(conf);
    let (key_id, der) = moto::block_on(async {
        let created = kms
            .create_key()
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .expect("CreateKey");
        let id = created.key_metadata().expect("metadata").key_id().to_string();
        let public = kms.get_public_key().key_id(&id).send().await.expect("GetPublicKey");
        (id, public.public_key().expect("a public key").as_ref().to_vec())
    });

    let h = History::new();
    std::fs::write(h.dir.join("kms.der"), &der).unwrap();
    openssl(
        &h.dir,
        &["pkey", "-pubin", "-inform", "DER", "-in", "kms.der", "-out", "kms.pub.pem"],
    );
    let public = h.dir.join("kms.pub.pem");
    let out = h.out("out");
    let run = common::amiset_emulated(
        &h.root,
        &[
            "compile",
            ".",
            "--out",
            out.to_str().unwrap(),
            "--sign",
            &format!("awskms:{key_id}"),
        ],
        &[
            ("AWS_ENDPOINT_URL_KMS", &server.url),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let sig: Json = serde_json::from_slice(&std::fs::read(out.join("manifest.sig")).unwrap()).unwrap();
    assert_eq!(sig["algorithm"], "ECDSA_SHA_256");
    assert_eq!(sig["keyId"], key_id_by_openssl(&h.dir, &public));
    std::fs::write(h.dir.join("sig.der"), base64_decode(sig["signature"].as_str().unwrap())).unwrap();
    let openssl_verifies = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "kms.pub.pem", "-signature", "sig.der"])
        .arg(out.join("manifest.json"))
        .current_dir(&h.dir)
        .output()
        .unwrap();
    assert!(
        openssl_verifies.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl_verifies.stdout)
    );

    let run = verify(&h.dir, &out, &[&public], None, None);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    forge(&out);
    assert_refused(&verify(&h.dir, &out, &[&public], None, None), "artifacts::bad-signature");
}
