//! Runs `tests/html/drive.js` (playwright-core driving Debian's chromium
//! headless) on a compiled page and returns what it saw as JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};

/// Where screenshots go: `target/html-screenshots/`, beside the binary's profile directory.
pub fn screenshot_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_amiset"));
    let target = bin.parent().and_then(Path::parent).unwrap_or(Path::new("target"));
    let dir = target.join("html-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails with a clear message when a part of the browser setup is missing.
fn require_setup(here: &Path) -> PathBuf {
    let chromium = std::env::var_os("AMISET_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "chromium is not installed at {}: run scripts/setup (it apt-installs Debian's chromium)",
        chromium.display()
    );
    assert!(
        here.join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is not installed in {}: run scripts/setup",
        here.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "node is not installed: run scripts/setup");
    chromium
}

/// Opens `page` (an `index.html`), types each of `queries`, optionally
/// follows the links of worker type `follow` and times `keystrokes`; saves
/// screenshots named after `name`.
pub fn drive(page: &Path, name: &str, queries: &[&str], follow: Option<&str>, keystrokes: Option<&str>) -> Json {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/html");
    let chromium = require_setup(&here);
    let spec = json!({
        "page": page.canonicalize().unwrap(),
        "shots": screenshot_dir(),
        "name": name,
        "queries": queries,
        "follow": follow,
        "keystrokes": keystrokes,
    });
    let out = Command::new("node")
        .arg(here.join("drive.js"))
        .arg(spec.to_string())
        .current_dir(&here)
        .env("AMISET_CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser driver failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("driver printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The ids of a JSON array of strings.
pub fn ids(value: &Json) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}
