//! Benchmark of `amiset check --ec2` for 20 regions × 500 AMIs through a
//! loopback proxy that adds latency to every EC2 call, against the latency
//! of one call and against asking for one AMI per call, one after another
//! (what per-resource linters do). moto's EC2 server answers; the proxy
//! replays recorded answers so that moto's own speed does not count.
//!
//! Run: `scripts/setup && cargo build --bin amiset && cargo run --example ec2_bench [LATENCY_MS]`
//! (`AMISET_TEST_VENV` names the venv with moto; `AMISET_BIN` the binary).

#[path = "../tests/ec2/fleet.rs"]
mod fleet;
#[path = "../tests/ec2/moto.rs"]
mod moto;
#[path = "../tests/ec2/proxy.rs"]
mod proxy;

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    std::env::var_os("AMISET_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().and_then(|p| p.parent()).expect("target dir").join("amiset")
    })
}

fn check(repo: &fleet::Repo, endpoint: &str, concurrency: &str) -> Duration {
    let start = Instant::now();
    let out = std::process::Command::new(bin())
        .args([
            "check",
            ".",
            "--format",
            "json",
            "--ec2",
            "--ec2-endpoint",
            endpoint,
            "--ec2-concurrency",
            concurrency,
        ])
        .args(["--ec2-timeout", "600", "--ec2-call-timeout", "120"])
        .current_dir(repo.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("amiset runs");
    let elapsed = start.elapsed();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(json["summary"]["errors"], 0, "{json:#}");
    elapsed
}

fn offline(repo: &fleet::Repo, extra: &[&str]) -> Duration {
    let start = Instant::now();
    let out = std::process::Command::new(bin())
        .args(["check", ".", "--format", "json"])
        .args(extra)
        .current_dir(repo.path())
        .output()
        .expect("amiset runs");
    assert!(out.status.success());
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let latency = Duration::from_millis(std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100));
    let (repo, templates) = fleet::big_fleet(&fleet::REGIONS20, 500);
    let moto = moto::Moto::start(&templates);
    let proxy = proxy::Proxy::start(&moto.url);
    proxy.enable_cache();
    // Record every answer once (no latency), so moto's speed is out of the measurement.
    let warm = check(&repo, &proxy.url, "64");
    proxy.latency(latency);
    proxy.reset_counts();

    // One call: one DescribeImages of 200 ids, replayed.
    let ids: Vec<String> = templates.iter().take(200).map(|t| t.id.clone()).collect();
    let client = moto::client(&proxy.url, "eu-west-1");
    let one = |ids: Vec<String>| {
        let client = client.clone();
        moto::block_on(async move {
            let start = Instant::now();
            let f = aws_sdk_ec2::types::Filter::builder().name("image-id").set_values(Some(ids)).build();
            client
                .describe_images()
                .filters(f)
                .include_deprecated(true)
                .send()
                .await
                .expect("DescribeImages");
            start.elapsed()
        })
    };
    one(ids.clone());
    let one_call = median((0..5).map(|_| one(ids.clone())).collect());

    let offline_check = median((0..3).map(|_| offline(&repo, &[])).collect());
    let snap = repo.path().join("snapshot.json");
    let out = std::process::Command::new(bin())
        .args([
            "ec2",
            "snapshot",
            ".",
            "--out",
            snap.to_str().expect("utf-8 path"),
            "--ec2-endpoint",
            &proxy.url,
        ])
        .current_dir(repo.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("amiset runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let inventory_check = median((0..3).map(|_| offline(&repo, &["--ec2-inventory", "snapshot.json"])).collect());
    let mut rows = Vec::new();
    for concurrency in ["16", "64", "128"] {
        proxy.reset_counts();
        let t = median((0..3).map(|_| check(&repo, &proxy.url, concurrency)).collect());
        rows.push((concurrency, t, proxy.total_calls() / 3));
    }

    // One AMI per call, sequentially: measured on a sample, extrapolated to all 10,000.
    let sample = 20;
    let start = Instant::now();
    for t in templates.iter().take(sample) {
        one(vec![t.id.clone()]);
    }
    let per_ami = start.elapsed() / sample as u32;
    let total_amis = 20 * 500;

    println!(
        "latency added per call: {} ms (warm-up run without latency: {:.0} ms)",
        latency.as_millis(),
        ms(warm)
    );
    println!("one DescribeImages call through the proxy: {:.0} ms", ms(one_call));
    println!("offline `amiset check` of the same config: {:.0} ms", ms(offline_check));
    println!(
        "`amiset check --ec2-inventory` (recorded snapshot, no calls): {:.0} ms",
        ms(inventory_check)
    );
    println!("binary: {}", bin().display());
    println!("| --ec2-concurrency | calls | wall time | × one call |");
    println!("| --- | --- | --- | --- |");
    for (c, t, calls) in &rows {
        println!(
            "| {c} | {calls} | {:.0} ms | {:.2} |",
            ms(*t),
            t.as_secs_f64() / one_call.as_secs_f64()
        );
    }
    println!(
        "one AMI per call, sequential: {:.0} ms per AMI (sample of {sample}), {:.0} s for {total_amis} AMIs (extrapolated), {:.0}× the default `check --ec2`",
        ms(per_ami),
        (per_ami * total_amis).as_secs_f64(),
        (per_ami * total_amis).as_secs_f64() / rows[2].1.as_secs_f64()
    );
}
