//! Helpers shared by the fuzz targets: the invariants every report must keep
//! whatever the input, and scratch directories on a RAM file system.

use std::path::Path;

use amiset::Report;
use amiset::report::{self, Format, Options};

/// Asserts what must hold for any report, then renders it in every format
/// (rendering is where a bad span would panic): every located finding names a
/// file whose text the report carries, and its span lies inside that text on
/// character boundaries.
pub fn check_report(report: &Report) {
    for f in &report.findings {
        assert!(!f.message.is_empty(), "finding {:?} has no message", f.code);
        let (Some(file), Some(span)) = (&f.file, &f.span) else { continue };
        let Some(text) = report.sources.get(file) else {
            panic!("finding {:?} points into `{file}`, whose text the report does not carry", f.code)
        };
        assert!(
            span.start <= span.end && span.end <= text.len(),
            "finding {:?} in `{file}` has span {span:?} outside the text ({} bytes)",
            f.code,
            text.len()
        );
        assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "finding {:?} in `{file}` has span {span:?} inside a character",
            f.code
        );
    }
    for format in [Format::Human, Format::Json, Format::Github, Format::Sarif] {
        let options = Options {
            path_prefix: "config/".into(),
            color: false,
            width: Some(100),
        };
        let out = report::render(report, format, &options);
        if format == Format::Json {
            let parsed: serde_json::Value = serde_json::from_str(&out).expect("--format json prints valid JSON");
            assert_eq!(
                parsed["findings"].as_array().map(Vec::len),
                Some(report.findings.len()),
                "--format json lists every finding"
            );
        }
    }
}

/// Nothing unverified passes: every AMI of `wanted` that `inventory` does
/// not describe as available has an error finding naming it.
pub fn assert_nothing_unverified_passes(wanted: &amiset::ec2::Wanted, inventory: &amiset::ec2::Inventory, findings: &[amiset::Finding]) {
    use amiset::ec2::Status;
    for (region, want) in &wanted.regions {
        for ami in &want.amis {
            let available = match inventory.region(region) {
                Status::Found(r) => matches!(r.image(ami), Status::Found(img) if img.state == "available"),
                _ => false,
            };
            assert!(
                available
                    || findings
                        .iter()
                        .any(|f| f.severity == amiset::Severity::Error && f.message.contains(ami.as_str())),
                "`{ami}` in {region} was not described as available, yet has no error"
            );
        }
    }
}

/// A fresh scratch directory, on `/dev/shm` when there is one (fsync there is free).
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("amiset-fuzz-").to_owned();
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return dir;
    }
    builder.tempdir().expect("a scratch directory")
}

/// The files of `config-example/`, embedded so that targets can place a
/// fuzzed file among realistic neighbours.
pub mod example {
    macro_rules! files {
        ($($path:literal),* $(,)?) => {
            /// Every file of `config-example/` that amiset reads, by relative path.
            pub const FILES: &[(&str, &str)] = &[$(($path, include_str!(concat!("../../config-example/", $path)))),*];
        };
    }
    files!(
        "amiset.toml",
        "SCOPES",
        "ami-sets/centos-6.toml",
        "ami-sets/ubuntu-2204.toml",
        "ami-sets/ubuntu-2404-arm.toml",
        "ami-sets/windows-2022.toml",
        "worker-types/centos6-builder.toml",
        "worker-types/gecko-b-arm-builder.toml",
        "worker-types/gecko-b-legacy.toml",
        "worker-types/gecko-t-linux-large.toml",
        "worker-types/gecko-t-linux-mixed.toml",
        "worker-types/gecko-t-win2022.toml",
    );

    /// The example files whose path satisfies `keep`, as inputs.
    pub fn inputs(keep: impl Fn(&str) -> bool) -> amiset::Inputs {
        amiset::Inputs {
            files: FILES
                .iter()
                .filter(|(path, _)| keep(path))
                .map(|(path, text)| super::file(path, text.as_bytes()))
                .collect(),
        }
    }
}

/// A regular file of a config repository.
pub fn file(path: &str, bytes: &[u8]) -> amiset::config::InputFile {
    amiset::config::InputFile {
        path: path.to_string(),
        content: amiset::config::Content::Bytes(bytes.to_vec()),
    }
}

/// Whether the report has an error (warnings do not stop `compile`).
pub fn has_errors(report: &Report) -> bool {
    report.findings.iter().any(|f| f.severity == amiset::Severity::Error)
}

/// What `check` promises when it reports no error: every worker type ×
/// region × instance type resolves to an AMI.
pub fn assert_resolves(config: &amiset::Config, report: &Report) {
    if has_errors(report) {
        return;
    }
    for (name, wt) in &config.worker_types {
        let set = wt.ami_set_id.as_deref().and_then(|id| config.ami_sets.get(id));
        for r in amiset::resolve::resolve_worker_type(wt, set, &amiset::resolve::Builtin) {
            if let Err(u) = r {
                panic!("check passed but worker type `{name}` does not resolve: {}", u.message);
            }
        }
    }
}
