//! Benchmark of `amiset update` for 200 AMI sets × 20 regions through the
//! loopback proxy adding latency to every EC2 call, against the latency of
//! one call and against one DescribeImages per set per region (what
//! per-image updaters do), measured in the same run. moto answers once; the
//! proxy replays recorded answers so that moto's own speed does not count.
//!
//! Run: `cargo build --features ec2 --bin amiset && cargo run --features ec2 --example update_bench [LATENCY_MS]`
//! (`AMISET_TEST_VENV` names the venv with moto; `AMISET_BIN` the binary).

#[path = "../tests/ec2/fleet.rs"]
mod fleet;
#[path = "../tests/ec2/moto.rs"]
mod moto;
#[path = "../tests/ec2/proxy.rs"]
mod proxy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SETS: usize = 200;

fn bin() -> PathBuf {
    std::env::var_os("AMISET_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().and_then(|p| p.parent()).expect("target dir").join("amiset")
    })
}

fn update(dir: &Path, endpoint: &str) -> Duration {
    let start = Instant::now();
    let out = std::process::Command::new(bin())
        .args(["update", "--dry-run", "--format", "json", "--ec2-endpoint", endpoint])
        .args(["--ec2-timeout", "600", "--ec2-call-timeout", "120"])
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("amiset runs");
    let elapsed = start.elapsed();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(json["summary"]["errors"], 0, "{json:#}");
    assert_eq!(json["files"].as_array().map(Vec::len), Some(SETS), "every set takes its new build");
    elapsed
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
    let regions = &fleet::REGIONS20;
    // Two builds per set, in every region (moto templates).
    let mut templates = Vec::new();
    for i in 0..SETS {
        for (b, date) in [(1, "2026-10-01T00:00:00Z"), (2, "2026-11-01T00:00:00Z")] {
            templates.push(
                moto::Template::new(format!("ami-{b}{i:07x}"), "hvm", "x86_64")
                    .named(&format!("bench/s{i}-b{b}"))
                    .created(date),
            );
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("ami-sets")).expect("mkdir");
    let list: Vec<String> = regions.iter().map(|r| format!("\"{r}\"")).collect();
    std::fs::write(
        root.join("amiset.toml"),
        format!("regions = [{}]\namiOwners = [\"{}\"]\n", list.join(", "), moto::MOTO_ACCOUNT),
    )
    .expect("write");
    for i in 0..SETS {
        let mut text = format!("[source]\nname = \"bench/s{i}-*\"\n");
        for r in regions {
            text.push_str(&format!("\n[[amis]]\nregion = \"{r}\"\nhvm = \"ami-1{i:07x}\"\n"));
        }
        std::fs::write(root.join(format!("ami-sets/s{i}.toml")), text).expect("write");
    }

    let moto = moto::Moto::start(&templates);
    let proxy = proxy::Proxy::start(&moto.url);
    proxy.enable_cache();
    let warm = update(root, &proxy.url);
    // The same run with answers replayed at no added latency: the work that is not waiting.
    let floor = median((0..3).map(|_| update(root, &proxy.url)).collect());
    proxy.latency(latency);
    proxy.reset_counts();

    let one = |region: &str, names: Vec<String>| {
        let client = moto::client(&proxy.url, region);
        moto::block_on(async move {
            let start = Instant::now();
            let f = aws_sdk_ec2::types::Filter::builder().name("name").set_values(Some(names)).build();
            client
                .describe_images()
                .owners(moto::MOTO_ACCOUNT)
                .filters(f)
                .include_deprecated(true)
                .send()
                .await
                .expect("DescribeImages");
            start.elapsed()
        })
    };
    // One call (recorded first, then replayed).
    one("eu-west-1", vec!["bench/s0-*".into()]);
    let one_call = median((0..5).map(|_| one("eu-west-1", vec!["bench/s0-*".into()])).collect());

    proxy.reset_counts();
    let runs: Vec<Duration> = (0..3).map(|_| update(root, &proxy.url)).collect();
    let calls = proxy.total_calls() / 3;
    let t = median(runs.clone());

    // Per set per region, one after another: timed on a sample, extrapolated to 200 × 20.
    let sample = 20;
    for i in 0..sample {
        one(regions[i % regions.len()], vec![format!("bench/s{i}-*")]);
    }
    let start = Instant::now();
    for i in 0..sample {
        one(regions[i % regions.len()], vec![format!("bench/s{i}-*")]);
    }
    let per_call = start.elapsed() / sample as u32;
    let per_set_total = per_call * (SETS * regions.len()) as u32;

    println!(
        "latency added per call: {} ms (warm-up run without latency: {:.0} ms)",
        latency.as_millis(),
        ms(warm)
    );
    println!("one DescribeImages call through the proxy: {:.0} ms", ms(one_call));
    println!("`amiset update` with replayed answers and no added latency: {:.0} ms", ms(floor));
    println!(
        "`amiset update` of {SETS} sets × {} regions: {} calls, median {:.0} ms (runs: {}), {:.2}× one call",
        regions.len(),
        calls,
        ms(t),
        runs.iter().map(|d| format!("{:.0}", ms(*d))).collect::<Vec<_>>().join(", "),
        t.as_secs_f64() / one_call.as_secs_f64()
    );
    println!(
        "one call per set per region, sequential: {:.0} ms per call, {:.1} s for {} calls ({:.0}× `update`)",
        ms(per_call),
        per_set_total.as_secs_f64(),
        SETS * regions.len(),
        per_set_total.as_secs_f64() / t.as_secs_f64()
    );
}
