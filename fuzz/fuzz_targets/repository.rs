//! A whole generated repository through `check`, resolution and `compile`,
//! then `Artifacts::open` of what was written. A few files with arbitrary
//! names and contents built from fragments of valid-looking TOML, so that
//! most inputs get past the parser and reach the checks and the compiler.
//!
//! Inputs that start with `#repo` are whole files instead (see [`archive`]),
//! so that real repositories are seeds.
//!
//! Invariants: no panic; when `check` reports no error, every launch spec
//! resolves, `compile` succeeds, writes the same bytes twice, and the reader
//! accepts the result and finds every launch spec in it.
#![no_main]

use amiset::artifacts::{self, Artifacts, CompileOptions};
use amiset::config::{Content, InputFile, Inputs};
use amiset::resolve::{self, Builtin};
use amiset::{Limits, Report};
use amiset_fuzz::{assert_resolves, check_report, has_errors, scratch_dir};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Place {
    Policy,
    Scopes,
    AmiSet(Name),
    WorkerType(Name),
    /// Anywhere: `dir/name`, verbatim.
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Raw(String),
}

const NAMES: &[&str] = &["ubuntu", "linux", "Ubuntu", "win", "x", "a-b_c", "ubuntu.toml", "-bad", ".hidden"];

impl Name {
    fn file(&self) -> String {
        match self {
            Name::Known(i) => {
                let n = NAMES[*i as usize % NAMES.len()];
                if n.ends_with(".toml") { n.to_string() } else { format!("{n}.toml") }
            }
            Name::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Piece {
    Line(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Pieces(Vec<Piece>),
    Bytes(Vec<u8>),
    Symlink,
    TooLarge(u64),
}

#[derive(Arbitrary, Debug)]
struct File {
    place: Place,
    body: Body,
}

#[derive(Arbitrary, Debug)]
struct Repo {
    files: Vec<File>,
}

/// Lines of every kind of file: top-level keys, tables, array tables, values
/// valid and subtly invalid.
const LINES: &[&str] = &[
    "description = \"fuzz\"",
    "[[amis]]",
    "region = \"us-east-1\"",
    "region = \"eu-central-1\"",
    "region = \"mars-1\"",
    "hvm = \"ami-0123456789abcdef0\"",
    "hvm = \"ami-0fedcba9876543210\"",
    "pv = \"ami-0a1b2c3d\"",
    "hvm = \"ami-0bad0bad0bad0bad0\"",
    "arch = \"arm64\"",
    "arch = \"x86_64\"",
    "amiSetId = \"ubuntu\"",
    "amiSetId = \"linux\"",
    "maxCapacity = 5",
    "minCapacity = 7",
    "maxPrice = 0.5",
    "minPrice = 1e308",
    "scalingRatio = -1.0",
    "canUseSpot = true",
    "owner = \"relops@example.com\"",
    "scopes = [\"queue:create-task:proj/*\"]",
    "[[instanceTypes]]",
    "instanceType = \"m5.large\"",
    "instanceType = \"m6g.large\"",
    "instanceType = \"c3.large\"",
    "instanceType = \"m1.small\"",
    "instanceType = \"zz9.huge\"",
    "capacity = 2",
    "utility = 1.5",
    "[[regions]]",
    "launchSpec = { SubnetId = \"subnet-0abc\" }",
    "launchSpec = { ImageId = \"ami-0123456789abcdef0\" }",
    "launchSpec = { ImageId = \"ami-0bad0bad0bad0bad0\" }",
    "launchSpec = { EbsOptimized = true, Placement = { AvailabilityZone = \"us-east-1a\" } }",
    "launchSpec = { SecurityGroups = [\"default\"] }",
    "[launchSpec]",
    "SecurityGroupIds = [\"sg-0abc\"]",
    "BlockDeviceMappings = [{ DeviceName = \"/dev/sda1\", Ebs = { VolumeSize = 50 } }]",
    "InstanceType = \"m5.large\"",
    "[userData]",
    "capacity = 1",
    "secrets = { token = \"x\" }",
    "scopePrefix = \"aws-provisioner\"",
    "adminScope = \"aws-provisioner:admin\"",
    "regions = [\"us-east-1\", \"us-west-2\", \"eu-central-1\"]",
    "regions = []",
    "amiOwners = [\"123456789012\"]",
    "legacyImageIds = \"deny\"",
    "legacyImageIds = \"allow\"",
    "deprecationWarningDays = 30",
    "[teams]",
    "\"@example/relops\" = [\"@alice\", \"@bob\"]",
    "[[revoked]]",
    "ami = \"ami-0bad0bad0bad0bad0\"",
    "reason = \"CVE-2026-1234\"",
    "aws-provisioner:manage-ami-set:ubuntu-* @example/relops",
    "aws-provisioner:admin @alice",
    "# comment",
    "a = [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
    "x = { y = { z = { w = 1 } } }",
    "unknownKey = 1",
    "",
    "\r",
    "=",
    "[",
    "\"",
    "'''",
];

fn render(body: &Body) -> Content {
    match body {
        Body::Pieces(pieces) => {
            let mut text = String::new();
            for p in pieces {
                match p {
                    Piece::Line(i) => text.push_str(LINES[*i as usize % LINES.len()]),
                    Piece::Raw(s) => text.push_str(s),
                }
                text.push('\n');
            }
            Content::Bytes(text.into_bytes())
        }
        Body::Bytes(b) => Content::Bytes(b.clone()),
        Body::Symlink => Content::Symlink,
        Body::TooLarge(n) => Content::TooLarge(*n),
    }
}

fn inputs(repo: &Repo) -> Inputs {
    Inputs {
        files: repo
            .files
            .iter()
            .take(12)
            .map(|f| InputFile {
                path: match &f.place {
                    Place::Policy => "amiset.toml".into(),
                    Place::Scopes => "SCOPES".into(),
                    Place::AmiSet(n) => format!("ami-sets/{}", n.file()),
                    Place::WorkerType(n) => format!("worker-types/{}", n.file()),
                    Place::Other(p) => p.clone(),
                },
                content: render(&f.body),
            })
            .collect(),
    }
}

fn compile_and_read(config: &amiset::Config, report: &Report) {
    let scratch = scratch_dir();
    let out = scratch.path().join("out");
    let options = CompileOptions::default();
    let summary = match artifacts::compile(config, &Builtin, &out, &options) {
        Ok(s) => s,
        Err(e) => panic!("check passed but compile failed: {e}\nfindings: {:?}", report.findings),
    };
    let read = match Artifacts::open(&out) {
        Ok(a) => a,
        Err(e) => panic!("compile succeeded but its artifacts do not open: {e}"),
    };
    let mut found = 0;
    for (name, wt) in &config.worker_types {
        let set = wt.ami_set_id.as_deref().and_then(|id| config.ami_sets.get(id));
        for r in resolve::resolve_worker_type(wt, set, &Builtin).into_iter().flatten() {
            let spec = match read.launch_spec(name, &r.region, &r.instance_type) {
                Ok(s) => s,
                Err(e) => panic!("compiled launch spec is missing: {e}"),
            };
            assert_eq!(Some(spec.image_id.as_str()), r.launch_spec.get("ImageId").and_then(|v| v.as_str()));
            found += 1;
        }
    }
    assert_eq!(found, summary.launch_specs, "every compiled launch spec is found by the reader");
    // Deterministic: a second compile writes the same manifest (which hashes every file).
    let again = scratch.path().join("again");
    if artifacts::compile(config, &Builtin, &again, &options).is_ok() {
        let a = std::fs::read(out.join(artifacts::MANIFEST)).unwrap_or_default();
        let b = std::fs::read(again.join(artifacts::MANIFEST)).unwrap_or_default();
        assert_eq!(a, b, "compile is deterministic");
    }
}

/// A repository written out as `#repo\n` then files separated by `\n\0`,
/// each `path\ncontent`: the form of the committed seeds.
fn archive(data: &[u8]) -> Inputs {
    let mut files = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (chunk, next) = match rest.windows(2).position(|w| w == b"\n\0") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &b""[..]),
        };
        rest = next;
        let (path, content) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], &chunk[i + 1..]),
            None => (chunk, &b""[..]),
        };
        files.push(InputFile {
            path: String::from_utf8_lossy(path).into_owned(),
            content: Content::Bytes(content.to_vec()),
        });
    }
    Inputs { files }
}

fuzz_target!(|data: &[u8]| {
    let inputs = match data.strip_prefix(b"#repo\n") {
        Some(rest) => archive(rest),
        None => match Repo::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(repo) => inputs(&repo),
            Err(_) => return,
        },
    };
    let (config, report) = amiset::check::run(&inputs, &Limits::default());
    check_report(&report);
    assert_resolves(&config, &report);
    if !has_errors(&report) {
        compile_and_read(&config, &report);
    }
});
