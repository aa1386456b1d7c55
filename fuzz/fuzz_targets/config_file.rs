//! One config file through parse, schema and every offline check. The first
//! byte picks the file's role (amiset.toml, an AMI set, a worker type); the
//! rest is its content, placed among `config-example/` files so that
//! references and policy have something to act on.
#![no_main]

use amiset::Limits;
use amiset_fuzz::{assert_resolves, check_report, example, file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&role, content)) = data.split_first() else { return };
    let (path, keep): (&str, fn(&str) -> bool) = match role % 3 {
        0 => ("amiset.toml", |p| {
            p == "SCOPES" || p == "ami-sets/ubuntu-2204.toml" || p == "worker-types/gecko-t-linux-large.toml"
        }),
        1 => ("ami-sets/ubuntu-2204.toml", |p| {
            p == "amiset.toml" || p == "worker-types/gecko-t-linux-large.toml"
        }),
        _ => ("worker-types/gecko-t-linux-large.toml", |p| {
            p == "amiset.toml" || p.starts_with("ami-sets/")
        }),
    };
    let mut inputs = example::inputs(keep);
    inputs.files.push(file(path, content));
    let (config, report) = amiset::check::run(&inputs, &Limits::default());
    check_report(&report);
    assert_resolves(&config, &report);
});
