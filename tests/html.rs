//! `OUT/index.html` in a real browser: the binary compiles a config, Debian's
//! chromium (headless, driven by playwright-core from `tests/html/drive.js`)
//! opens the page from `file://`, and the tests assert on the rendered DOM.
//! Screenshots land in `target/html-screenshots/`.

#[path = "html/browser.rs"]
mod browser;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use amiset::config::model::Virt;
use amiset::ec2::inventory::{Image, InstanceTypeInfo, Inventory};
use browser::{drive, ids};
use common::{amiset, copy_dir, manifest_dir, stderr};
use serde_json::Value as Json;

const EVIL: &str = r#"Ubuntu <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> & co"#;

/// config-example with a set description that tries to run script.
fn example(dir: &Path) {
    copy_dir(&manifest_dir().join("config-example"), dir);
    let path = dir.join("ami-sets/ubuntu-2204.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().find(|l| l.starts_with("description")).unwrap().to_string();
    let evil = format!("description = {}", toml_string(EVIL));
    std::fs::write(&path, text.replace(&line, &evil)).unwrap();
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn compile(dir: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amiset"));
    cmd.arg("compile").arg(dir).arg("--out").arg(out).args(extra).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = cmd.output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
}

fn strings(v: &Json) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

fn rows(prefix: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{prefix}-{n}")).collect()
}

/// Nothing ran that should not have, nothing was fetched, nothing complained.
fn assert_quiet(seen: &Json, page: &Path) {
    assert_eq!(strings(&seen["console"]), Vec::<&str>::new(), "console errors or warnings");
    assert_eq!(strings(&seen["pageErrors"]), Vec::<&str>::new(), "uncaught exceptions");
    assert_eq!(strings(&seen["dialogs"]), Vec::<&str>::new(), "dialogs");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    assert_eq!(strings(&seen["requests"]), vec![url.as_str()], "the page loads nothing but itself");
}

#[test]
fn the_page_shows_markup_as_text_filters_as_you_type_and_links_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("config"), tmp.path().join("out"));
    example(&dir);
    compile(&dir, &out, &[], &[]);
    let page = out.join("index.html");
    let seen = drive(
        &page,
        "example",
        &["gecko-t", "us-west-2 arm64", "AMI-0FEDCBA9876543210", "no-such-thing"],
        Some("gecko-t-linux-large"),
        None,
    );
    assert_quiet(&seen, &page);

    // The description is shown as text; its script and handler never ran.
    assert_eq!(seen["page"]["pwned"], Json::Null, "injected script ran");
    assert_eq!(seen["page"]["scripts"], 1, "only the page's own script element");
    assert!(
        strings(&seen["page"]["descriptions"]).contains(&EVIL),
        "{:#}",
        seen["page"]["descriptions"]
    );

    let all_sets = rows("set", &["centos-6", "ubuntu-2204", "ubuntu-2404-arm", "windows-2022"]);
    let all_workers = rows(
        "wt",
        &[
            "centos6-builder",
            "gecko-b-arm-builder",
            "gecko-b-legacy",
            "gecko-t-linux-large",
            "gecko-t-linux-mixed",
            "gecko-t-linux-zoned",
            "gecko-t-win2022",
        ],
    );
    assert_eq!(ids(&seen["initial"]["sets"]), all_sets);
    assert_eq!(ids(&seen["initial"]["workers"]), all_workers);
    assert_eq!(seen["initial"]["setsCount"], "4 in all");
    assert_eq!(seen["initial"]["workersCount"], "7 in all");

    // Typing narrows both tables: a worker type prefix also shows the sets it uses.
    let q = &seen["queries"];
    assert_eq!(
        ids(&q[0]["workers"]),
        rows(
            "wt",
            &[
                "gecko-t-linux-large",
                "gecko-t-linux-mixed",
                "gecko-t-linux-zoned",
                "gecko-t-win2022"
            ]
        )
    );
    assert_eq!(ids(&q[0]["sets"]), rows("set", &["ubuntu-2204", "windows-2022"]));
    assert_eq!(q[0]["workersCount"], "4 of 7 shown");
    // Every word must match, anywhere in the row: sets with arm64 AMIs in us-west-2.
    assert_eq!(ids(&q[1]["sets"]), rows("set", &["ubuntu-2204", "ubuntu-2404-arm"]));
    assert_eq!(ids(&q[1]["workers"]), rows("wt", &["gecko-b-arm-builder", "gecko-t-linux-mixed"]));
    // An AMI id, in any case: its set and the worker type whose Graviton instances launch it.
    assert_eq!(ids(&q[2]["sets"]), rows("set", &["ubuntu-2204"]));
    assert_eq!(ids(&q[2]["workers"]), rows("wt", &["gecko-t-linux-mixed"]));
    assert_eq!(ids(&q[3]["sets"]), Vec::<String>::new());
    assert_eq!(ids(&q[3]["workers"]), Vec::<String>::new());
    assert_eq!((&q[3]["setsEmpty"], &q[3]["workersEmpty"]), (&Json::Bool(true), &Json::Bool(true)));
    assert_eq!(
        (&q[2]["setsEmpty"], &q[2]["workersEmpty"]),
        (&Json::Bool(false), &Json::Bool(false))
    );
    // Escape clears the filter.
    assert_eq!(ids(&seen["afterEscape"]["workers"]), all_workers);

    // Keyboard: the first Tab reaches the filter, and it shows focus; "/" focuses it too.
    assert_eq!(seen["firstTab"], "filter");
    assert_ne!(seen["focusOutline"], "none");
    assert_eq!(seen["slashFocus"], "filter");

    // Links: every worker type with a set links to it, every set to its users, none dangles.
    assert_eq!(strings(&seen["page"]["brokenLinks"]), Vec::<&str>::new());
    let mut set_links = strings(&seen["page"]["setLinks"]);
    set_links.sort();
    assert_eq!(
        set_links,
        [
            "#set-centos-6",
            "#set-ubuntu-2204",
            "#set-ubuntu-2204",
            "#set-ubuntu-2204",
            "#set-ubuntu-2404-arm",
            "#set-windows-2022"
        ]
    );
    assert_eq!(strings(&seen["page"]["workerLinks"]).len(), 6, "the legacy worker type uses no set");
    assert_eq!(seen["followSet"]["hash"], "#set-ubuntu-2204");
    assert_eq!(seen["followSet"]["target"], "set-ubuntu-2204");
    assert_eq!(seen["followSet"]["visible"], true);
    assert_eq!(seen["backLink"], true);
    assert_eq!(seen["followBack"], "#wt-gecko-t-linux-large");
    // Following a link to a row the filter hides clears the filter.
    assert_eq!(seen["revealed"]["filter"], "");
    assert_eq!(ids(&seen["revealed"]["sets"]), all_sets);

    // Phone width: nothing wider than the screen.
    let phone = &seen["phone"];
    // Every measure must be there: a missing one (None) never passes.
    let px = |key: &str| phone[key].as_f64().unwrap_or_else(|| panic!("no {key} measured: {phone}"));
    assert!(
        (350.0..=390.0).contains(&px("clientWidth")),
        "the viewport is 390 px wide, less a scroll bar: {phone}"
    );
    assert!(
        px("scrollWidth") <= px("clientWidth"),
        "the page scrolls sideways at 390 px: {phone}"
    );
    assert!(px("filterWidth") >= 150.0, "{phone}");
}

/// A snapshot that answers for every AMI and instance type of `dir`, with
/// `soon` deprecated within the warning window of `now`.
fn inventory(dir: &Path, soon: &str) -> Inventory {
    let limits = amiset::config::Limits::default();
    let inputs = amiset::config::load::read_dir(dir, &limits).unwrap();
    let (config, _) = amiset::config::load(&inputs, &limits);
    let mut inv = Inventory::default();
    let image = |virt: Virt, arch: &str, ami: &str| Image {
        owner_id: "123456789012".into(),
        state: "available".into(),
        virtualization_type: virt.ec2_name().into(),
        architecture: arch.into(),
        deprecation_time: (ami == soon).then(|| "2026-12-01T00:00:00Z".to_string()),
        name: None,
    };
    for set in config.ami_sets.values() {
        for e in &set.amis {
            let r = inv.regions.entry(e.region.clone()).or_default();
            for virt in [Virt::Hvm, Virt::Pv] {
                if let Some(ami) = e.ami(virt) {
                    r.images_asked.insert(ami.to_string());
                    r.images.insert(ami.to_string(), image(virt, e.arch.as_str(), ami));
                }
            }
        }
    }
    for wt in config.worker_types.values() {
        for region in &wt.regions {
            let r = inv.regions.entry(region.region.clone()).or_default();
            if let Some(ami) = region.image_id() {
                r.images_asked.insert(ami.to_string());
                r.images.insert(ami.to_string(), image(Virt::Hvm, "x86_64", ami));
            }
            for t in &wt.instance_types {
                let info = amiset::resolve::builtin_type_info(&t.instance_type);
                let mut virts = vec!["hvm".to_string()];
                if info.pv {
                    virts.push("paravirtual".into());
                }
                r.instance_types_asked.insert(t.instance_type.clone());
                r.offered.insert(t.instance_type.clone());
                r.instance_types.insert(
                    t.instance_type.clone(),
                    InstanceTypeInfo {
                        architectures: vec![info.arch.as_str().to_string()],
                        virtualization_types: virts,
                    },
                );
            }
        }
    }
    inv
}

#[test]
fn ec2_findings_mark_the_set_cell_and_every_launch_spec_on_that_ami() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("config"), tmp.path().join("out"));
    example(&dir);
    let soon = "ami-0123456789abcdef0"; // ubuntu-2204, us-east-1, x86_64 hvm
    let snap = tmp.path().join("snapshot.json");
    std::fs::write(&snap, serde_json::to_vec_pretty(&inventory(&dir, soon)).unwrap()).unwrap();
    compile(
        &dir,
        &out,
        &["--ec2-inventory", snap.to_str().unwrap()],
        &[("AMISET_NOW", "2026-11-20T00:00:00Z")],
    );
    let manifest: Json = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["ec2Verified"], true);
    let page = out.join("index.html");
    let seen = drive(&page, "ec2", &[], None, None);
    assert_quiet(&seen, &page);

    let marked = seen["page"]["marked"].as_array().unwrap();
    let mut by_row: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in marked {
        assert!(m["class"].as_str().unwrap().contains("warn"), "only a warning: {m}");
        assert!(m["text"].as_str().unwrap().contains(soon), "{m}");
        assert!(m["text"].as_str().unwrap().contains("will be deprecated on 2026-12-01"), "{m}");
        by_row
            .entry(m["row"].as_str().unwrap())
            .or_default()
            .push(m["text"].as_str().unwrap());
    }
    // The set's cell, and each launch spec that resolves to that AMI: two
    // instance types of gecko-t-linux-large and the x86_64 one of gecko-t-linux-mixed, in us-east-1,
    // and both instance types of gecko-t-linux-zoned there (one cell per region and instance type:
    // the image does not depend on the zone).
    let counts: BTreeMap<&str, usize> = by_row.iter().map(|(k, v)| (*k, v.len())).collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("set-ubuntu-2204", 1),
            ("wt-gecko-t-linux-large", 2),
            ("wt-gecko-t-linux-mixed", 1),
            ("wt-gecko-t-linux-zoned", 2)
        ]),
        "{marked:#?}"
    );
}

#[test]
fn the_page_is_deterministic_and_verified_by_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("config");
    example(&dir);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("nested/b"));
    compile(&dir, &a, &[], &[]);
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    let run = amiset(tmp.path(), &["compile", "config", "--out", "nested/b"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let page = std::fs::read(a.join("index.html")).unwrap();
    assert_eq!(page, std::fs::read(b.join("index.html")).unwrap());
    let artifacts = amiset::artifacts::Artifacts::open(&a).unwrap();
    assert!(artifacts.manifest().files.contains_key("index.html"));

    // A changed byte in the page is caught like any other artifact.
    let mut tampered = page.clone();
    let at = tampered.iter().position(|&c| c == b'<').unwrap();
    tampered[at] = b'(';
    std::fs::write(a.join("index.html"), tampered).unwrap();
    let Err(err) = amiset::artifacts::Artifacts::open(&a) else {
        panic!("a tampered page is refused")
    };
    assert!(err.to_string().contains("index.html"), "{err}");
}

#[test]
fn two_thousand_worker_types_render_and_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("corpus"), tmp.path().join("out"));
    common::corpus::write(&dir, 400, 2000, 10, 0);
    compile(&dir, &out, &[], &[]);
    let page = out.join("index.html");
    let seen = drive(&page, "medium", &["set-17"], None, Some("set-123"));
    assert_quiet(&seen, &page);
    assert_eq!(seen["initial"]["workersCount"], "2000 in all");
    assert_eq!(seen["initial"]["setsCount"], "400 in all");
    // Words match anywhere: set-17 and set-170 to set-179, five worker types each.
    assert_eq!(seen["queries"][0]["setsCount"], "11 of 400 shown");
    assert_eq!(seen["queries"][0]["workersCount"], "55 of 2000 shown");
    assert_eq!(seen["afterKeystrokes"]["workersCount"], "5 of 2000 shown");

    // Timing is printed, not asserted (docs/benchmarks.md records it): the
    // baseline is an idle round trip to the next frame in the same browser.
    let timing = &seen["timing"];
    let median = |key: &str| {
        let mut v: Vec<f64> = seen[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (keys, idle) = (median("keystrokes"), median("idleFrames"));
    eprintln!(
        "2,000 worker types, {} bytes: first contentful paint {:.0} ms, DOMContentLoaded {:.0} ms; \
         keystroke to next frame: median {keys:.1} ms ({:.1}x an idle frame of {idle:.1} ms), all {}",
        timing["bytes"],
        timing["firstContentfulPaint"],
        timing["domContentLoaded"],
        keys / idle.max(0.1),
        seen["keystrokes"]
    );
}
