//! Benchmark of `amiset lsp`: time from a keystroke (`didChange`) to the
//! `publishDiagnostics` that answers it, on config-example and on the
//! generated 2,000 worker type corpus (editing one worker type; editing a
//! set that 100 worker types use), with the server's memory. The baseline,
//! measured in the same run, is a full `amiset check` of the same
//! repository: what re-checking everything on each keystroke would cost.
//!
//! Run: `cargo build --release --bin amiset && cargo run --release --example lsp_bench`
//! (`AMISET_BIN` names another binary).

#[path = "../tests/common/corpus.rs"]
mod corpus;
#[path = "../tests/common/lsp.rs"]
mod lsp;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EDITS: usize = 60;

fn bin() -> PathBuf {
    std::env::var_os("AMISET_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().and_then(|p| p.parent()).expect("target dir").join("amiset")
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p95(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 95 / 100).min(v.len() - 1)]
}

/// Median wall time of `amiset check` over the whole repository.
fn full_check(dir: &Path) -> Duration {
    let runs = (0..5)
        .map(|_| {
            let start = Instant::now();
            let out = std::process::Command::new(bin())
                .args(["check", ".", "--format", "json"])
                .current_dir(dir)
                .output()
                .expect("amiset runs");
            assert!(out.status.code().is_some_and(|c| c <= 1));
            start.elapsed()
        })
        .collect();
    median(runs)
}

/// Peak and current resident memory of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Opens `file`, then types `EDITS` changes (alternately breaking and
/// fixing it) and times each one until its diagnostics arrive.
fn keystrokes(client: &mut lsp::Client, file: &Path, edit: impl Fn(&str, usize) -> String) -> Vec<Duration> {
    let uri = lsp::uri(file);
    let text = std::fs::read_to_string(file).expect("the file");
    client.published(|c| c.open(&uri, &text));
    let mut times = Vec::new();
    for i in 0..EDITS {
        let new = edit(&text, i);
        client.pending.clear();
        let start = Instant::now();
        client.change(&uri, i as i64 + 2, &new);
        wait_for(client, &uri);
        times.push(start.elapsed());
    }
    client.published(|c| c.close(&uri));
    times
}

fn wait_for(client: &mut lsp::Client, uri: &str) {
    client.wait_for(|n| n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri);
}

fn report(name: &str, times: Vec<Duration>, baseline: Duration, target_ms: f64) {
    let (med, p) = (median(times.clone()), p95(times));
    println!(
        "{name:<44} median {:>7.2} ms  p95 {:>7.2} ms  (target {target_ms} ms)  full check {:>7.1} ms  ratio {:.3}",
        med.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        med.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("temp dir");

    // config-example: one worker type edited.
    let example = tmp.path().join("config-example");
    copy(&root.join("config-example"), &example);
    let mut client = lsp::Client::start(&bin());
    let times = keystrokes(&mut client, &example.join("worker-types/gecko-t-linux-large.toml"), |t, i| {
        if i % 2 == 0 {
            t.replacen("amiSetId = \"ubuntu-2204\"", "amiSetId = \"ubuntu-2024\"", 1)
        } else {
            t.replacen("maxCapacity = 200", &format!("maxCapacity = {}", 200 + i), 1)
        }
    });
    report("config-example: edit a worker type", times, full_check(&example), 20.0);
    let (peak, rss) = memory(client.pid());
    println!("{:<44} peak {peak:.1} MiB, now {rss:.1} MiB", "config-example: server memory");
    drop(client);

    // 2,000 worker types over 20 sets (100 worker types per set), 10 regions.
    let big = tmp.path().join("corpus");
    corpus::write(&big, 20, 2000, 10, 0);
    let baseline = full_check(&big);
    let mut client = lsp::Client::start(&bin());
    let start = Instant::now();
    client.published(|c| {
        c.open(
            &lsp::uri(&big.join("worker-types/worker-7.toml")),
            &std::fs::read_to_string(big.join("worker-types/worker-7.toml")).unwrap(),
        )
    });
    println!(
        "{:<44} {:>7.1} ms",
        "corpus: first open (reads and checks all)",
        start.elapsed().as_secs_f64() * 1e3
    );
    client.published(|c| c.close(&lsp::uri(&big.join("worker-types/worker-7.toml"))));
    let times = keystrokes(&mut client, &big.join("worker-types/worker-42.toml"), |t, i| {
        if i % 2 == 0 {
            t.replacen("amiSetId = \"set-2\"", "amiSetId = \"set-2x\"", 1)
        } else {
            t.replacen("maxCapacity = ", &format!("maxCapacity = 1{i}"), 1)
        }
    });
    report("corpus 2,000 worker types: edit a worker type", times, baseline, 50.0);
    let times = keystrokes(&mut client, &big.join("ami-sets/set-3.toml"), |t, i| {
        if i % 2 == 0 {
            // Drops an arm64 entry: the 100 worker types using the set no longer resolve m6g.large there.
            t.replacen("arch = \"arm64\"", "arch = \"x86_64\"", 1)
        } else {
            t.replacen("generated set 3", &format!("generated set 3, edit {i}"), 1)
        }
    });
    report("corpus: edit a set used by 100 worker types", times, baseline, 150.0);
    let (peak, rss) = memory(client.pid());
    println!(
        "{:<44} peak {peak:.1} MiB, now {rss:.1} MiB (target 200 MiB)",
        "corpus: server memory"
    );
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
