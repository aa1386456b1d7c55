//! Criterion benches for the hot paths, so that regressions show:
//! parsing a worker type with spans and validating it against the schema,
//! resolving a worker type's launch specs, and scope matching.
//!
//! `cargo bench --bench hot_paths` (absolute numbers; `scripts/bench` gives
//! whole-command ratios).

use std::hint::black_box;
use std::path::Path;

use amiset::config::{Content, InputFile, Inputs, Limits, load};
use amiset::resolve::{Builtin, resolve_worker_type};
use amiset::scopes;
use criterion::{Criterion, criterion_group, criterion_main};

fn example() -> Inputs {
    load::read_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config-example"), &Limits::default()).expect("config-example reads")
}

fn parse_and_schema(c: &mut Criterion) {
    let inputs = example();
    let one = Inputs {
        files: inputs
            .files
            .iter()
            .filter(|f| f.path == "worker-types/gecko-t-linux-large.toml")
            .cloned()
            .collect::<Vec<InputFile>>(),
    };
    assert!(matches!(one.files.first().map(|f| &f.content), Some(Content::Bytes(_))));
    // The floor for the line below: the same bytes through the toml crate
    // alone, no spans, schema or model.
    let Some(Content::Bytes(bytes)) = one.files.first().map(|f| &f.content) else {
        unreachable!()
    };
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    c.bench_function("baseline: toml parse of one worker type", |b| {
        b.iter(|| black_box(text).parse::<toml::Table>())
    });
    c.bench_function("load one worker type (parse, spans, schema, model)", |b| {
        b.iter(|| amiset::config::load(black_box(&one), &Limits::default()))
    });
    c.bench_function("check config-example", |b| {
        b.iter(|| amiset::check::run(black_box(&inputs), &Limits::default()))
    });
}

fn resolution(c: &mut Criterion) {
    let (config, report) = amiset::check::run(&example(), &Limits::default());
    assert_eq!(report.errors(), 0);
    let wt = &config.worker_types["gecko-t-linux-mixed"];
    let set = config.ami_sets.get("ubuntu-2204");
    c.bench_function("resolve a worker type (3 regions x 2 instance types)", |b| {
        b.iter(|| resolve_worker_type(black_box(wt), set, &Builtin))
    });
}

fn scope_matching(c: &mut Criterion) {
    let (config, _) = amiset::check::run(&example(), &Limits::default());
    let text = config.scopes_source.clone().unwrap_or_default();
    c.bench_function("parse SCOPES", |b| {
        b.iter(|| scopes::parse("SCOPES", black_box(&text), &config.policy))
    });
    let (grants, _) = scopes::parse("SCOPES", &text, &config.policy);
    c.bench_function("satisfying grant through a team", |b| {
        b.iter(|| {
            grants.satisfying(
                black_box("@bob"),
                black_box("aws-provisioner:manage-ami-set:ubuntu-2204"),
                &config.policy,
            )
        })
    });
}

criterion_group!(benches, parse_and_schema, resolution, scope_matching);
criterion_main!(benches);
