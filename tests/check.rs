//! `amiset check` end to end: every fixture directory under
//! `tests/fixtures/check/` is a whole config repository. `bad/<code>[-variant]`
//! cases are wrong in exactly one way and must report that code (and no
//! other error); `good/` cases must pass without a single finding. Output in
//! both `json` and `human` formats is snapshotted.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{amiset, codes, json, manifest_dir, stderr, stdout};
use serde_json::Value;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = manifest_dir().join("tests/fixtures/check").join(kind);
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir).expect("fixture dir").map(|e| e.expect("entry").path()).collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {}", dir.display());
    cases
}

fn extra_args(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("args"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Runs check on a fixture in `format`; returns (exit code, stdout).
fn run(case: &Path, format: &str) -> (i32, String) {
    let mut args: Vec<String> = vec!["check".into(), ".".into(), "--format".into(), format.into()];
    args.extend(extra_args(case));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = amiset(case, &args);
    assert!(stderr(&out).is_empty(), "stderr for {}: {}", case.display(), stderr(&out));
    (out.status.code().expect("exit code"), stdout(&out))
}

fn expected_code(case: &Path) -> String {
    let name = case.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
    let code = name.replacen("__", "::", 1);
    // Strip a variant suffix: the longest prefix that is a real code.
    let mut candidate = code.as_str();
    loop {
        if amiset::Code::from_name(candidate).is_some() {
            return candidate.to_string();
        }
        match candidate.rfind('-') {
            Some(i) => candidate = &candidate[..i],
            None => panic!("fixture `{name}` does not name a finding code"),
        }
    }
}

#[test]
fn every_bad_fixture_reports_exactly_its_code() {
    let mut failures = Vec::new();
    for case in fixtures("bad") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let code = expected_code(&case);
        let (exit, json) = run(&case, "json");
        let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: invalid json ({e}): {json}"));
        let findings = doc["findings"].as_array().expect("findings array");
        let codes: Vec<&str> = findings.iter().map(|f| f["code"].as_str().unwrap()).collect();
        let errors: Vec<&str> = findings
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        let expected_severity = findings.iter().find(|f| f["code"] == code.as_str()).map(|f| f["severity"].clone());
        let ok = codes.contains(&code.as_str())
            && errors.iter().all(|c| *c == code)
            && exit == if errors.is_empty() { 0 } else { 1 }
            && expected_severity.is_some();
        if !ok {
            failures.push(format!("{name}: expected `{code}`, got exit {exit} with {codes:?}"));
        }
        // Every finding is located in a file, 1-based.
        for f in findings {
            assert!(
                f["line"].as_u64().unwrap() >= 1 && f["column"].as_u64().unwrap() >= 1,
                "{name}: {f}"
            );
        }
        let (_, human) = run(&case, "human");
        insta::with_settings!({snapshot_path => "snapshots/check", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("bad-{name}"), format!("exit: {exit}\n--- json\n{json}--- human\n{human}"));
        });
    }
    assert!(
        failures.is_empty(),
        "fixtures that do not report exactly their code:\n{}",
        failures.join("\n")
    );
}

#[test]
fn there_are_at_least_forty_bad_fixtures_covering_most_codes() {
    let cases = fixtures("bad");
    assert!(cases.len() >= 40, "only {} bad fixtures", cases.len());
    let covered: std::collections::BTreeSet<String> = cases.iter().map(|c| expected_code(c)).collect();
    let offline: Vec<&amiset::Code> = amiset::Code::ALL
        .iter()
        // `migrate::` codes come from `amiset migrate`, never from `check` (tests/migrate.rs covers them);
        // `taskcluster::`, `launch-template::` and `drift::` from the delivery commands (tests/export.rs, tests/delivery_ec2.rs),
        // `update::` and `promote::` from the intake commands (tests/intake.rs), `authorize::` from
        // `amiset authorize` (tests/authorize.rs), `import::` from `amiset import` (tests/import.rs),
        // `artifacts::` from `verify-artifacts` and `open_trusted` (tests/signed.rs).
        .filter(|c| {
            ![
                "ec2::",
                "scope::",
                "migrate::",
                "taskcluster::",
                "launch-template::",
                "drift::",
                "update::",
                "promote::",
                "unreferenced::",
                "authorize::",
                "import::",
                "artifacts::",
            ]
            .iter()
            .any(|p| c.as_str().starts_with(p))
                && **c != amiset::Code::TooManyLaunchSpecs
        })
        .collect();
    let missing: Vec<&str> = offline.iter().map(|c| c.as_str()).filter(|c| !covered.contains(*c)).collect();
    assert!(missing.is_empty(), "offline codes without a fixture: {missing:?}");
}

#[test]
fn every_good_fixture_passes_without_findings() {
    for case in fixtures("good") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (exit, json) = run(&case, "json");
        let doc: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(doc["findings"], serde_json::json!([]), "{name}: {json}");
        assert_eq!(exit, 0, "{name}");
        let (exit, human) = run(&case, "human");
        assert_eq!((exit, human.as_str()), (0, ""), "{name}");
    }
}

#[test]
fn config_example_passes() {
    let out = amiset(manifest_dir(), &["check", "config-example", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["summary"]["errors"], 0);
    // The legacy worker type is reported under `legacyImageIds = "warn"`.
    let codes = codes(&doc);
    // And the zoned worker type leaves out the one pair `offerings.json` says is not offered.
    assert_eq!(
        codes,
        vec!["policy::legacy-image-id", "policy::legacy-image-id", "offerings::not-offered"]
    );
    let denied = amiset(manifest_dir(), &["check", "config-example", "--deny-warnings", "--format", "json"]);
    assert_eq!(denied.status.code(), Some(1));
}

/// A config repository in a temporary directory, from (path, bytes) pairs.
fn repo(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, bytes) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, bytes).unwrap();
    }
    dir
}

fn check_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    json(dir, &[&["check", "."], extra].concat())
}

#[test]
fn twenty_megabyte_file_is_refused_by_size_without_reading_it() {
    let big = vec![b'#'; 20 * 1024 * 1024];
    let dir = repo(&[("worker-types/big.toml", &big)]);
    let (exit, doc) = check_json(dir.path(), &[]);
    assert_eq!(exit, 1);
    assert_eq!(codes(&doc), vec!["limits::file-too-large"]);
    assert_eq!(doc["findings"][0]["file"], "worker-types/big.toml");
}

#[test]
fn size_limit_is_exact_just_under_and_just_over() {
    let text = "description = \"x\"\n"; // 18 bytes
    let dir = repo(&[("ami-sets/a.toml", text.as_bytes())]);
    let len = text.len().to_string();
    let under = (text.len() - 1).to_string();
    let (_, at_limit) = check_json(dir.path(), &["--max-file-size", &len]);
    assert!(!codes(&at_limit).contains(&"limits::file-too-large".to_string()));
    let (exit, over) = check_json(dir.path(), &["--max-file-size", &under]);
    assert_eq!((exit, codes(&over)), (1, vec!["limits::file-too-large".to_string()]));
}

#[test]
fn file_count_limit_is_exact() {
    let set = b"[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n";
    let dir = repo(&[("ami-sets/a.toml", set), ("ami-sets/b.toml", set)]);
    let (_, at) = check_json(dir.path(), &["--max-files", "2"]);
    assert!(!codes(&at).contains(&"limits::too-many-files".to_string()));
    let (exit, over) = check_json(dir.path(), &["--max-files", "1"]);
    assert_eq!(exit, 1);
    assert!(codes(&over).contains(&"limits::too-many-files".to_string()));
}

#[test]
fn deeply_nested_input_is_a_finding_not_a_stack_overflow() {
    let inline = format!("maxCapacity = 1\n[userData]\nx = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    let dotted = format!("maxCapacity = 1\n[userData]\n{} = 1\n", vec!["a"; 5000].join("."));
    let headers = format!("[{}]\n", vec!["t"; 5000].join("."));
    let inline_tables = format!("x = {}1{}\n", "{a = ".repeat(5000), "}".repeat(5000));
    for (name, text) in [
        ("inline", inline),
        ("dotted", dotted),
        ("headers", headers),
        ("inline-tables", inline_tables),
    ] {
        let dir = repo(&[("worker-types/deep.toml", text.as_bytes())]);
        let (exit, doc) = check_json(dir.path(), &[]);
        assert_eq!((exit, codes(&doc)), (1, vec!["limits::nesting-too-deep".to_string()]), "{name}");
    }
}

#[test]
fn nul_bytes_and_empty_files_are_findings() {
    let dir = repo(&[
        ("worker-types/nul.toml", b"maxCapacity = 1\0\n"),
        ("worker-types/empty.toml", b""),
        ("amiset.toml", b""),
        ("SCOPES", b""),
    ]);
    let (exit, doc) = check_json(dir.path(), &[]);
    assert_eq!(exit, 1);
    let found = codes(&doc);
    // The empty worker type lacks its required keys; the NUL byte is a syntax error. Empty policy and SCOPES are fine.
    assert!(found.iter().filter(|c| *c == "schema::missing-key").count() >= 3, "{found:?}");
    assert!(found.contains(&"parse::syntax".to_string()), "{found:?}");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["file"] != "amiset.toml" && f["file"] != "SCOPES")
    );
}

#[cfg(unix)]
#[test]
fn fifo_is_reported_without_blocking() {
    let dir = repo(&[]);
    fs::create_dir_all(dir.path().join("ami-sets")).unwrap();
    let fifo = dir.path().join("ami-sets/pipe.toml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(status.success());
    let (exit, doc) = check_json(dir.path(), &[]);
    assert_eq!((exit, codes(&doc)), (1, vec!["file::not-a-file".to_string()]));
    assert!(doc["findings"][0]["message"].as_str().unwrap().contains("FIFO"));
}

#[cfg(unix)]
#[test]
fn symlink_out_of_the_repository_is_never_followed() {
    let outside = repo(&[("secret.toml", b"maxCapacity = 1\n")]);
    let dir = repo(&[]);
    fs::create_dir_all(dir.path().join("worker-types")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.toml"), dir.path().join("worker-types/leak.toml")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("ami-sets")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.toml"), dir.path().join("amiset.toml")).unwrap();
    let (exit, doc) = check_json(dir.path(), &[]);
    assert_eq!(exit, 1);
    assert_eq!(codes(&doc), vec!["file::symlink"; 3]);
    assert!(!doc.to_string().contains("maxCapacity"), "content behind a link leaked: {doc}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_exits_2_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = repo(&[("worker-types/locked.toml", b"maxCapacity = 1\n")]);
    let file = dir.path().join("worker-types/locked.toml");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.path().join("worker-types"), fs::Permissions::from_mode(0o755)).unwrap();
    // Root reads anything: drop to an unprivileged user for the run.
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let mut cmd = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_amiset")]);
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_amiset"))
    };
    let out = cmd.args(["check", "."]).current_dir(dir.path()).output().expect("amiset runs");
    assert_eq!(out.status.code(), Some(2), "stdout: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("worker-types/locked.toml") && err.contains("ermission denied"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "no partial report on a tool error");
}

#[test]
fn missing_config_directory_exits_2() {
    let dir = repo(&[]);
    let out = amiset(dir.path(), &["check", "no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-dir"));
}

#[test]
fn control_characters_and_odd_names_are_escaped_in_human_output() {
    let set =
        "description = \"evil \\u001b[31mred\"\n[[amis]]\nregion = \"us-east-1\\u001b]0;pwned\\u0007\"\nhvm = \"ami-0123456789abcdef0\"\n";
    let dir = repo(&[("ami-sets/ok.toml", set.as_bytes()), ("ami-sets/bad\x1b[2Jname.toml", b"")]);
    let out = amiset(dir.path(), &["check", "."]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(!text.contains('\x1b'), "raw escape sequence in output: {text:?}");
    assert!(text.contains("file::invalid-name") && text.contains("region::unknown"), "{text}");
}

/// SARIF output of every bad fixture validates against the official SARIF
/// 2.1.0 schema (vendored from OASIS under `tests/schemas/`), and its results
/// match the JSON findings.
#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let text = fs::read_to_string(manifest_dir().join("tests/schemas/sarif-schema-2.1.0.json")).unwrap();
    // The official file's pattern for `language` has a stray `]` that is not a
    // valid regex; it is replaced here with the pattern the spec describes.
    let stray = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert_eq!(text.matches(stray).count(), 2);
    let schema: Value = serde_json::from_str(&text.replace(stray, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    for case in fixtures("bad").into_iter().chain([manifest_dir().join("config-example")]) {
        let (_, sarif) = run(&case, "sarif");
        let doc: Value = serde_json::from_str(&sarif).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", case.display());
        let (_, json) = run(&case, "json");
        let json: Value = serde_json::from_str(&json).unwrap();
        let findings = json["findings"].as_array().unwrap();
        let results = doc["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), findings.len(), "{}", case.display());
        for (r, f) in results.iter().zip(findings) {
            assert_eq!(r["ruleId"], f["code"], "{}", case.display());
            // A finding with a file has exactly one location there; one without has none.
            if f["file"].is_null() {
                assert!(r.get("locations").is_none(), "{}: {r:#}", case.display());
                continue;
            }
            let locations = r["locations"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no location: {r:#}", case.display()));
            assert_eq!(locations.len(), 1, "{}: {r:#}", case.display());
            let location = &locations[0]["physicalLocation"];
            assert_eq!(location["artifactLocation"]["uri"], f["file"], "{}", case.display());
            assert_eq!(location["region"]["startLine"], f["line"], "{}: {r:#}", case.display());
            assert_eq!(location["region"]["startColumn"], f["column"], "{}: {r:#}", case.display());
        }
        let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), amiset::Code::ALL.len());
    }
    // The schema is strict enough to notice a broken document.
    assert!(!validator.is_valid(&serde_json::json!({"version": "2.1.0", "runs": [{"results": []}]})));
}

/// `--format github` prints exactly one well-formed workflow command per finding.
#[test]
fn github_annotations_are_one_well_formed_line_per_finding() {
    for case in fixtures("bad").into_iter().chain([manifest_dir().join("config-example")]) {
        let (_, text) = run(&case, "github");
        let (_, json) = run(&case, "json");
        let json: Value = serde_json::from_str(&json).unwrap();
        let findings = json["findings"].as_array().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), findings.len(), "{}:\n{text}", case.display());
        for (line, f) in lines.iter().zip(findings) {
            let (command, message) = line.split_once("::").map(|(_, rest)| rest.split_once("::").unwrap()).unwrap();
            let (level, props) = command.split_once(' ').unwrap();
            // GitHub calls a note `notice`.
            let severity = match f["severity"].as_str().unwrap() {
                "note" => "notice",
                s => s,
            };
            assert_eq!(level, severity);
            let mut expected = Vec::new();
            if let Some(file) = f["file"].as_str() {
                expected.push(format!("file={}", file.replace('%', "%25").replace(':', "%3A").replace(',', "%2C")));
                expected.push(format!("line={}", f["line"]));
                expected.push(format!("col={}", f["column"]));
            }
            expected.push(format!("title={}", f["code"].as_str().unwrap().replace(':', "%3A")));
            assert_eq!(props, expected.join(","), "{}", case.display());
            assert!(!message.is_empty() && !message.contains('\n') && !message.contains('\r'), "{line}");
        }
    }
}

/// Unknown instance types are reported at the value wherever they appear:
/// `[[instanceTypes]]` and an `InstanceType` in a launchSpec (itself never
/// allowed), each with the exact line and column.
#[test]
fn unknown_instance_types_are_reported_at_their_value_in_every_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir_all(dir.join("ami-sets")).unwrap();
    fs::create_dir_all(dir.join("worker-types")).unwrap();
    fs::write(
        dir.join("ami-sets/base.toml"),
        "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n",
    )
    .unwrap();
    // Line 5 column 16: the value `"c5.2xlargee"`.
    fs::write(
        dir.join("worker-types/typo.toml"),
        "amiSetId = \"base\"\nmaxCapacity = 1\n\n[[instanceTypes]]\ninstanceType = \"c5.2xlargee\"\n\n[[regions]]\nregion = \"us-east-1\"\n",
    )
    .unwrap();
    // Line 6 column 31: the value `"m5.larrge"` of the forbidden key.
    fs::write(
        dir.join("worker-types/override.toml"),
        "amiSetId = \"base\"\nmaxCapacity = 1\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\nlaunchSpec = { InstanceType = \"m5.larrge\" }\n\n[[regions]]\nregion = \"us-east-1\"\n",
    )
    .unwrap();
    let (exit, doc) = json(dir, &["check", "."]);
    assert_eq!(exit, 1, "{doc:#}");
    let got: Vec<(String, String, u64, u64, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["help"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let forbidden_help = "instance types come from `[[instanceTypes]]`".to_string();
    assert_eq!(
        got,
        vec![
            (
                "launch-spec::forbidden-key".into(),
                "worker-types/override.toml".into(),
                6,
                16,
                forbidden_help
            ),
            (
                "worker-type::unknown-instance-type".into(),
                "worker-types/override.toml".into(),
                6,
                31,
                "did you mean `m5.large`?".into()
            ),
            (
                "worker-type::unknown-instance-type".into(),
                "worker-types/typo.toml".into(),
                5,
                16,
                "did you mean `c5.2xlarge`?".into()
            ),
        ],
        "{doc:#}"
    );
}

/// Byte offset of a 1-based (line, column in characters) position in `text`.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
    start + text[start..].chars().take(column - 1).map(char::len_utf8).sum::<usize>()
}

#[test]
fn applying_a_findings_fix_makes_it_go_away() {
    let mut fixed = Vec::new();
    for case in fixtures("bad") {
        let (_, out) = run(&case, "json");
        let doc: Value = serde_json::from_str(&out).unwrap();
        for f in doc["findings"].as_array().unwrap() {
            let Some(fix) = f.get("fix") else { continue };
            let file = f["file"].as_str().unwrap();
            let tmp = tempfile::tempdir().unwrap();
            common::copy_dir(&case, tmp.path());
            let path = tmp.path().join(file);
            let text = fs::read_to_string(&path).unwrap();
            let at = |l: &str, c: &str| offset_of(&text, fix[l].as_u64().unwrap() as usize, fix[c].as_u64().unwrap() as usize);
            let (start, end) = (at("line", "column"), at("endLine", "endColumn"));
            let replacement = fix["replacement"].as_str().unwrap();
            assert!(
                f["help"].as_str().unwrap().contains(&format!("`{replacement}`")),
                "the help names the fix: {f}"
            );
            let edited = format!("{}{replacement}{}", &text[..start], &text[end..]);
            fs::write(&path, &edited).unwrap();
            let (_, after) = run(tmp.path(), "json");
            let after: Value = serde_json::from_str(&after).unwrap();
            let still = after["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["code"] == f["code"] && g["file"] == f["file"] && g["line"] == f["line"]);
            assert!(!still, "{}: the fix of {f} leaves it:\n{edited}", case.display());
            fixed.push(f["code"].as_str().unwrap().to_string());
        }
    }
    // Suggestions exist for misspelled keys, regions, set ids, instance types and enum values.
    for code in [
        "schema::unknown-key",
        "region::unknown",
        "ref::unknown-ami-set",
        "worker-type::unknown-instance-type",
    ] {
        assert!(fixed.iter().any(|c| c == code), "no fixture exercises a fix for {code}: {fixed:?}");
    }
}
