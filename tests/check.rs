//! `amiset check` end to end: every fixture directory under
//! `tests/fixtures/check/` is a whole config repository. `bad/<code>[-variant]`
//! cases are wrong in exactly one way and must report that code (and no
//! other error); `good/` cases must pass without a single finding. Output in
//! both `json` and `human` formats is snapshotted.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{amiset, manifest_dir, stderr, stdout};
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
        .filter(|c| !c.as_str().starts_with("ec2::") && !c.as_str().starts_with("scope::") && **c != amiset::Code::TooManyLaunchSpecs)
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
    let codes: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["policy::legacy-image-id", "policy::legacy-image-id"]);
    let denied = amiset(manifest_dir(), &["check", "config-example", "--deny-warnings", "--format", "json"]);
    assert_eq!(denied.status.code(), Some(1));
}
