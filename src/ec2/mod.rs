//! EC2 verification (DESIGN §5). The pure parts need no AWS SDK:
//! [`inventory`] (what a config needs from EC2 and what EC2 answered, also
//! the snapshot file format) and [`verify`] (the comparison that yields
//! `ec2::*` findings and EC2's instance type capabilities). With the `ec2`
//! feature, [`client`] asks EC2 and [`launch`] re-verifies one AMI right
//! before a provisioner launches it; [`templates`] reconciles launch
//! templates and [`instances`] lists running instances for `drift` (§10).

#[cfg(feature = "ec2")]
pub mod client;
pub mod images;
#[cfg(feature = "ec2")]
pub mod instances;
pub mod inventory;
#[cfg(feature = "ec2")]
pub mod launch;
#[cfg(feature = "ec2")]
pub mod templates;
pub mod verify;
#[cfg(feature = "ec2")]
pub mod zone_offerings;

pub use inventory::{Inventory, Status, Wanted};

/// Per region: zone → instance types offered there, or why the region could
/// not be read (`amiset ec2 offerings`, [`zone_offerings`]).
pub type ZoneOfferings =
    std::collections::BTreeMap<String, Result<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>, String>>;
pub use verify::{Expect, Verification, verify};

/// Environment variable that fixes "now" (RFC 3339) for deprecation checks, for reproducible runs.
pub const NOW_ENV: &str = "AMISET_NOW";

/// The current time in seconds since the epoch, or `AMISET_NOW` when set.
pub fn now() -> Result<i64, String> {
    match std::env::var(NOW_ENV) {
        Ok(text) => inventory::parse_rfc3339(&text).ok_or_else(|| format!("`{NOW_ENV}` is `{text}`, not an RFC 3339 time")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .map_err(|e| format!("the system clock is before 1970: {e}")),
    }
}
