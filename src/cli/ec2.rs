//! EC2 flags shared by `check` and `compile` ([`Ec2Args`]), and the
//! `amiset ec2 snapshot` command that records what EC2 says so a check can
//! be reproduced offline with `--ec2-inventory`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{Error, LimitArgs, OutputArgs, Result, dir_or_cwd};
use crate::config::{Config, load};
use crate::diag::{Code, Finding, Report};
use crate::ec2::{self, Inventory, Wanted};
use crate::resolve::TypeInfo;

/// How to reach EC2 (shared by `check --ec2`, `compile --ec2` and `ec2 snapshot`).
#[derive(Debug, Clone, Args)]
pub struct Ec2Connection {
    /// EC2 endpoint URL instead of AWS's (an emulator, a proxy); credentials then come from the environment or profile files only.
    #[arg(long, value_name = "URL")]
    pub ec2_endpoint: Option<String>,
    /// Most EC2 calls in flight at once, over all regions.
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub ec2_concurrency: u16,
    /// Seconds one attempt of one EC2 call may take.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub ec2_call_timeout: f64,
    /// Seconds the whole EC2 verification may take; what is left then is unverified.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub ec2_timeout: f64,
    /// Attempts per EC2 call, retries of throttling, 5xx and connection errors included.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub ec2_attempts: u32,
    /// No progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// EC2 findings, and EC2's instance type capabilities when verification ran.
pub type Verified = (Vec<Finding>, Option<BTreeMap<String, TypeInfo>>);

/// `--ec2` and friends: live or recorded EC2 verification.
#[derive(Debug, Clone, Args)]
pub struct Ec2Args {
    /// Verify every AMI and instance type against EC2.
    #[arg(long)]
    pub ec2: bool,
    /// Verify against a snapshot recorded by `amiset ec2 snapshot` instead of calling EC2 (implies `--ec2`).
    #[arg(long, value_name = "FILE", conflicts_with = "ec2_endpoint")]
    pub ec2_inventory: Option<PathBuf>,
    #[command(flatten)]
    pub connection: Ec2Connection,
}

fn seconds(flag: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::Usage(format!("`{flag}` must be a positive number of seconds, not {secs}")))
}

/// When this command first reached for EC2: `--ec2-timeout` counts from here.
#[cfg(feature = "ec2")]
static EC2_STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

impl Ec2Connection {
    #[cfg(feature = "ec2")]
    fn options(&self) -> Result<ec2::client::Options> {
        Ok(ec2::client::Options {
            endpoint: self.ec2_endpoint.clone(),
            concurrency: usize::from(self.ec2_concurrency),
            call_timeout: seconds("--ec2-call-timeout", self.ec2_call_timeout)?,
            timeout: seconds("--ec2-timeout", self.ec2_timeout)?,
            max_attempts: self.ec2_attempts,
            // One bound for the whole command, however many clients it makes
            // (`check --ec2` asks about images, then about zones).
            since: Some(*EC2_STARTED.get_or_init(std::time::Instant::now)),
            ..ec2::client::Options::default()
        })
    }

    /// Connects to EC2 with these flags and runs `work` on a runtime of its own.
    #[cfg(feature = "ec2")]
    pub(super) fn run<F, T>(&self, work: impl FnOnce(ec2::client::Ec2) -> F) -> Result<T>
    where
        F: std::future::Future<Output = T>,
    {
        let options = self.options()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
        Ok(runtime.block_on(async { work(ec2::client::Ec2::connect(options).await).await }))
    }

    /// Asks EC2 about everything `config` refers to, with progress on stderr
    /// when it takes over a second and stderr is a terminal.
    #[cfg(feature = "ec2")]
    pub fn fetch(&self, config: &Config) -> Result<Inventory> {
        let options = self.options()?;
        let wanted = Wanted::of(config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
        let show = !self.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let start = std::time::Instant::now();
        let shown = std::sync::atomic::AtomicBool::new(false);
        let progress = |done: usize, total: usize| {
            if show && total > 0 && start.elapsed() >= Duration::from_secs(1) {
                shown.store(true, std::sync::atomic::Ordering::Relaxed);
                eprint!("\rverifying against EC2: {done}/{total} regions");
                let _ = std::io::stderr().flush();
            }
        };
        let inventory = runtime.block_on(async {
            let client = ec2::client::Ec2::connect(options).await;
            client.fetch(&wanted, &progress).await
        });
        if shown.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!();
        }
        Ok(inventory)
    }

    #[cfg(not(feature = "ec2"))]
    pub fn fetch(&self, _config: &Config) -> Result<Inventory> {
        let _ = (seconds, Wanted::default);
        Err(Error::Usage(
            "this amiset was built without the `ec2` feature: install it with `cargo install amiset --features ec2`, \
             or verify against a snapshot with `--ec2-inventory FILE`"
                .into(),
        ))
    }
}

/// Told how each deregistration went: region, image id, result.
pub type Done<'a> = dyn FnMut(&str, &str, std::result::Result<(), String>) + 'a;

impl Ec2Connection {
    #[cfg(feature = "ec2")]
    fn runtime() -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))
    }

    /// Lists images by owner and name pattern in every region of `queries` at once.
    #[cfg(feature = "ec2")]
    pub fn images_by_name(&self, queries: &BTreeMap<String, ec2::images::Query>) -> Result<ec2::images::Found> {
        let options = self.options()?;
        Ok(Self::runtime()?.block_on(async { ec2::client::Ec2::connect(options).await.images_by_name(queries).await }))
    }

    /// Deregisters images one by one; `each(region, id)` is asked right
    /// before each call whether to go ahead, and told how it went.
    #[cfg(feature = "ec2")]
    pub fn deregister(&self, images: &[(String, String)], go_ahead: &mut dyn FnMut(&str, &str) -> bool, done: &mut Done<'_>) -> Result<()> {
        let options = self.options()?;
        let runtime = Self::runtime()?;
        let client = runtime.block_on(ec2::client::Ec2::connect(options));
        for (region, id) in images {
            if go_ahead(region, id) {
                done(region, id, runtime.block_on(client.deregister_image(region, id)));
            }
        }
        Ok(())
    }

    #[cfg(not(feature = "ec2"))]
    pub fn images_by_name(&self, _queries: &BTreeMap<String, ec2::images::Query>) -> Result<ec2::images::Found> {
        Err(no_ec2())
    }

    #[cfg(not(feature = "ec2"))]
    pub fn deregister(
        &self,
        _images: &[(String, String)],
        _go_ahead: &mut dyn FnMut(&str, &str) -> bool,
        _done: &mut Done<'_>,
    ) -> Result<()> {
        Err(no_ec2())
    }
}

/// The error of a command that needs EC2 in a build without the `ec2` feature.
#[cfg(not(feature = "ec2"))]
fn no_ec2() -> Error {
    Error::Usage("this amiset was built without the `ec2` feature: install it with `cargo install amiset --features ec2`".into())
}

fn read_snapshot(path: &Path) -> Result<Inventory> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Other(format!("cannot read `{}`: {e}", path.display())))?;
    Inventory::from_snapshot(&text).map_err(|e| Error::Other(format!("`{}`: {e}", path.display())))
}

impl Ec2Args {
    /// Whether EC2 verification is on.
    pub fn enabled(&self) -> bool {
        self.ec2 || self.ec2_inventory.is_some()
    }

    /// With live `--ec2` and zones in use: what each zone of the used
    /// regions offers, straight from EC2 (DescribeInstanceTypeOfferings per
    /// availability zone), to filter instead of `offerings.json`. A region
    /// that cannot be read is `ec2::unverified` and nothing live is used.
    pub fn live_offerings(&self, config: &Config) -> Result<(Option<crate::offerings::Offerings>, Vec<Finding>)> {
        let zoned = config.worker_types.values().any(|w| w.regions.iter().any(|r| !r.zones.is_empty()));
        if !self.ec2 || self.ec2_inventory.is_some() || !zoned {
            return Ok((None, Vec::new()));
        }
        let regions: Vec<String> = config
            .worker_types
            .values()
            .flat_map(|w| w.regions.iter().map(|r| r.region.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut zones = BTreeMap::new();
        let mut findings = Vec::new();
        for (region, answer) in fetch_zone_offerings(&self.connection, &regions)? {
            match answer {
                Ok(found) => zones.extend(found),
                Err(e) => {
                    let f = Finding::new(
                        Code::Unverified,
                        format!("what the zones of {region} offer could not be read from EC2: {e}"),
                    )
                    .help("nothing is filtered by live offerings; run again when EC2 answers");
                    // At the first worker type with zones in the region (their offerings went unread).
                    let place = config.worker_types.iter().find_map(|(name, wt)| {
                        let ri = wt.regions.iter().position(|r| r.region == region && !r.zones.is_empty())?;
                        let file = format!("worker-types/{name}.toml");
                        let span = config.worker_doc(name).map(|d| d.span_of_key(&format!("/regions/{ri}/zones")));
                        Some((file, span))
                    });
                    findings.push(match place {
                        Some((file, Some(span))) => f.at(file, span),
                        Some((file, None)) => f.in_file(file),
                        None => f.in_file("amiset.toml"),
                    });
                }
            }
        }
        let live = findings.is_empty().then_some(crate::offerings::Offerings { zones });
        Ok((live, findings))
    }

    /// Verifies `config` against EC2 or the snapshot. Returns the `ec2::*`
    /// findings and EC2's instance type capabilities (which override the
    /// built-in table when resolving: pass them to `check::check`); nothing
    /// when verification is off. Tool errors (unreadable snapshot, bad
    /// flags, bad `AMISET_NOW`) are errors; failed EC2 calls are findings.
    pub fn verify(&self, config: &Config) -> Result<Verified> {
        if !self.enabled() {
            if self.connection.ec2_endpoint.is_some() {
                return Err(Error::Usage("`--ec2-endpoint` needs `--ec2`".into()));
            }
            return Ok((Vec::new(), None));
        }
        let now = ec2::now().map_err(Error::Usage)?;
        let inventory = match &self.ec2_inventory {
            Some(path) => read_snapshot(path)?,
            None => self.connection.fetch(config)?,
        };
        let v = ec2::verify(config, &inventory, now);
        Ok((v.findings, Some(v.catalog)))
    }
}

/// `amiset ec2`.
#[derive(Debug, Args)]
pub struct Ec2Command {
    #[command(subcommand)]
    pub action: Ec2Action,
}

/// What `amiset ec2` does.
#[derive(Debug, Subcommand)]
pub enum Ec2Action {
    /// Record what EC2 says about every referenced AMI and instance type, for `--ec2-inventory`.
    Snapshot(SnapshotArgs),
    /// Write `offerings.json`: the instance types each availability zone of every region the worker types use offers.
    Offerings(OfferingsArgs),
}

/// `amiset ec2 offerings [DIR]`.
#[derive(Debug, Args)]
pub struct OfferingsArgs {
    /// Config directory (default: the current directory); `offerings.json` is written at its root.
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub connection: Ec2Connection,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `amiset ec2 snapshot [DIR] --out FILE`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Config directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Where to write the snapshot (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub connection: Ec2Connection,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Writes `text` to `path` atomically (a temporary file beside it, renamed over it).
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    // The file's own permissions, or an editor's `rw-r--r--` for a new one
    // (not the temporary file's `rw-------`).
    let kept = std::fs::metadata(path).ok().map(|m| m.permissions());
    if let Some(permissions) = kept.or_else(crate::migrate::write::default_permissions) {
        std::fs::set_permissions(tmp.path(), permissions).map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Runs `amiset ec2 ...`. The snapshot is written even when calls failed
/// (they are recorded, and stay unverified when the snapshot is used); the
/// failures are reported as `ec2::unverified` and exit 1.
pub fn run(cmd: Ec2Command) -> Result<i32> {
    let args = match cmd.action {
        Ec2Action::Snapshot(args) => args,
        Ec2Action::Offerings(args) => return offerings(args),
    };
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, _) = crate::config::load(&inputs, &limits);
    let inventory = args.connection.fetch(&config)?;
    write_atomic(&args.out, &inventory.to_snapshot())?;
    let mut report = Report::default();
    for (region, failure) in inventory.failures() {
        report.findings.push(
            Finding::new(
                Code::Unverified,
                format!(
                    "{} in {region} failed for {}: {}",
                    failure.call.as_str(),
                    failure.ids.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
                    failure.error
                ),
            )
            .help("the snapshot records the failure; those items stay unverified until a snapshot succeeds"),
        );
    }
    Ok(args.output.emit(&report, Some(&dir)))
}

/// The regions the worker types of `config` use, sorted.
fn worker_regions(config: &Config) -> Vec<String> {
    let regions: std::collections::BTreeSet<&str> = config
        .worker_types
        .values()
        .flat_map(|wt| wt.regions.iter().map(|r| r.region.as_str()))
        .collect();
    regions.into_iter().map(str::to_string).collect()
}

/// `amiset ec2 offerings`: asks every region at once and writes
/// `offerings.json` atomically, only when every region answered; a region
/// that could not be read is `ec2::unverified` (exit 1) and nothing is written.
fn offerings(args: OfferingsArgs) -> Result<i32> {
    let dir = dir_or_cwd(args.dir);
    let limits = args.limits.limits();
    let inputs = load::read_dir(&dir, &limits)?;
    let (config, _) = crate::config::load(&inputs, &limits);
    let regions = worker_regions(&config);
    let answers = fetch_zone_offerings(&args.connection, &regions)?;
    let mut report = Report::default();
    let mut file = crate::offerings::Offerings::default();
    for (region, answer) in answers {
        match answer {
            Ok(zones) => file.zones.extend(zones),
            Err(e) => report.findings.push(
                Finding::new(Code::Unverified, format!("DescribeInstanceTypeOfferings in {region} failed: {e}"))
                    .in_file(crate::offerings::FILE)
                    .help(format!("`{}` was not written; run the command again", crate::offerings::FILE)),
            ),
        }
    }
    if report.findings.is_empty() {
        let text = String::from_utf8_lossy(&file.to_bytes()).into_owned();
        write_atomic(&dir.join(crate::offerings::FILE), &text)?;
    }
    Ok(args.output.emit(&report, Some(&dir)))
}

#[cfg(feature = "ec2")]
fn fetch_zone_offerings(connection: &Ec2Connection, regions: &[String]) -> Result<ec2::ZoneOfferings> {
    connection.run(|client| async move { client.zone_offerings(regions).await })
}

#[cfg(not(feature = "ec2"))]
fn fetch_zone_offerings(_connection: &Ec2Connection, _regions: &[String]) -> Result<ec2::ZoneOfferings> {
    Err(no_ec2())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::cli::{Cli, Command};

    #[test]
    fn ec2_flags_do_not_clash_with_any_command_they_are_flattened_into() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["amiset", "check", "--ec2-inventory", "snap.json", "--quiet"]).unwrap();
        let Command::Check(args) = cli.command else { panic!("not check") };
        assert!(args.ec2.enabled());
        assert!(Cli::try_parse_from(["amiset", "check", "--ec2-inventory", "s.json", "--ec2-endpoint", "http://x"]).is_err());
        assert!(Cli::try_parse_from(["amiset", "check", "--ec2", "--ec2-concurrency", "0"]).is_err());
        assert!(Cli::try_parse_from(["amiset", "ec2", "snapshot"]).is_err(), "--out is required");
    }

    #[test]
    fn timeouts_must_be_positive_seconds() {
        assert!(super::seconds("--ec2-timeout", 0.5).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(super::seconds("--ec2-timeout", bad).is_err(), "{bad}");
        }
    }
}
