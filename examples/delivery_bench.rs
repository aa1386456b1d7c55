//! Benchmark of `amiset apply launch-templates` when nothing changed, and of
//! its `--dry-run`, for 2,000 worker types × 10 regions (20,000 templates)
//! through a loopback proxy that adds latency to every EC2 call, against the
//! latency of one call measured in the same run. moto's EC2 server holds the
//! templates; the proxy pages every DescribeLaunchTemplates and
//! DescribeLaunchTemplateVersions answer at EC2's 200 items per page (and
//! DescribeTags at its 1,000) and,
//! after a warm-up run, replays recorded answers so that moto's own speed
//! does not count.
//!
//! Run: `scripts/setup && cargo build --features ec2 --bin amiset && cargo run --features ec2 --example delivery_bench [LATENCY_MS] [WORKERS]`
//! (`AMISET_TEST_VENV` names the venv with moto; `AMISET_BIN` the binary).

#[path = "../tests/ec2/fleet.rs"]
mod fleet;
#[path = "../tests/ec2/moto.rs"]
mod moto;
#[path = "../tests/ec2/proxy.rs"]
mod proxy;

use std::path::PathBuf;
use std::time::{Duration, Instant};

const REGIONS: usize = 10;
const WRITES: [&str; 5] = [
    "CreateLaunchTemplate",
    "CreateLaunchTemplateVersion",
    "ModifyLaunchTemplate",
    "DeleteLaunchTemplate",
    "CreateTags",
];

fn bin() -> PathBuf {
    std::env::var_os("AMISET_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().and_then(|p| p.parent()).expect("target dir").join("amiset")
    })
}

fn apply(repo: &fleet::Repo, endpoint: &str, extra: &[&str]) -> (Duration, serde_json::Value) {
    let start = Instant::now();
    let out = std::process::Command::new(bin())
        .args(["apply", "launch-templates", ".", "--format", "json", "--ec2-endpoint", endpoint])
        .args(["--ec2-timeout", "1200", "--ec2-call-timeout", "300"])
        .args(extra)
        .current_dir(repo.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("amiset runs");
    let elapsed = start.elapsed();
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["summary"]["errors"], 0, "{:#}", json["findings"]);
    (elapsed, json)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let latency = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(100));
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let regions = &fleet::REGIONS20[..REGIONS];
    let ami = "ami-10000001";
    let moto = moto::Moto::start(&[moto::Template::new(ami, "hvm", "x86_64")]);
    let proxy = proxy::Proxy::start(&moto.url);
    proxy.page_size(200);
    let list = regions.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    let repo = fleet::Repo::new(&format!("regions = [{list}]\n"));
    let set: String = regions.iter().map(|r| fleet::entry(r, "x86_64", Some(ami), None)).collect();
    repo.write("ami-sets/base.toml", &set);
    let rs: Vec<(&str, Option<&str>)> = regions.iter().map(|r| (*r, None)).collect();
    for w in 0..workers {
        repo.write(&format!("worker-types/w{w}.toml"), &fleet::worker(Some("base"), &["m5.large"], &rs));
    }

    let (setup, json) = apply(&repo, &proxy.url, &[]);
    let created = json["summary"]["create"].as_u64().unwrap_or(0);
    assert_eq!(created as usize, workers * REGIONS);
    eprintln!(
        "setup: created {created} templates in {:.1} s (no added latency)",
        setup.as_secs_f64()
    );

    // Replay recorded answers from here on, so that moto's own speed on
    // 2,000 templates per region does not count; the warm-up records them.
    proxy.enable_cache();
    apply(&repo, &proxy.url, &["--dry-run"]);
    // The same apply with no added latency: the work that is not waiting.
    let (floor, _) = apply(&repo, &proxy.url, &[]);
    // One call, measured the same way, through the same proxy: recorded
    // first, so that it too is replayed and only the added latency counts.
    let client = moto::client(&proxy.url, regions[0]);
    let one_call = || moto::block_on(async { client.describe_launch_templates().max_results(5).send().await.expect("one call") });
    one_call();
    proxy.latency(latency);
    let start = Instant::now();
    one_call();
    let one = start.elapsed();

    proxy.reset_counts();
    let (dry, json) = apply(&repo, &proxy.url, &["--dry-run"]);
    assert_eq!(json["summary"]["unchanged"].as_u64(), Some((workers * REGIONS) as u64));
    let dry_calls = proxy.total_calls();
    proxy.reset_counts();
    let (unchanged, json) = apply(&repo, &proxy.url, &[]);
    assert_eq!(json["summary"]["unchanged"].as_u64(), Some((workers * REGIONS) as u64));
    let calls = proxy.calls();
    let writes: usize = calls
        .iter()
        .filter(|((_, a), _)| WRITES.contains(&a.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(writes, 0, "nothing changed, so nothing is written: {calls:?}");
    let per_region: usize = calls.iter().filter(|((r, _), _)| r == regions[0]).map(|(_, n)| n).sum();

    println!("| run | wall | × one call | EC2 calls |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| one DescribeLaunchTemplates call | {:.3} s | 1.0 | 1 |", one.as_secs_f64());
    println!(
        "| `apply --dry-run`, {workers} worker types × {REGIONS} regions | {:.3} s | {:.1} | {dry_calls} |",
        dry.as_secs_f64(),
        dry.as_secs_f64() / one.as_secs_f64()
    );
    println!(
        "| `apply`, nothing changed | {:.3} s | {:.1} | {} ({per_region} per region, 0 writing) |",
        unchanged.as_secs_f64(),
        unchanged.as_secs_f64() / one.as_secs_f64(),
        proxy.total_calls()
    );
    println!(
        "| `apply`, nothing changed, no added latency | {:.3} s | | the same |",
        floor.as_secs_f64()
    );
    println!(
        "\nwaiting (wall of `apply` − the run without added latency): {:.3} s = {:.1} × one call",
        unchanged.as_secs_f64() - floor.as_secs_f64(),
        (unchanged.as_secs_f64() - floor.as_secs_f64()) / one.as_secs_f64()
    );
}
