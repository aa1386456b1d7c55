//! What a signed manifest is anchored to (DESIGN §6): the source commit, its
//! place on the first-parent history (`sequence`) and an expiry computed from
//! the commit's own time, never the clock, so signed output stays
//! byte-deterministic.

use std::path::Path;
use std::sync::Arc;

use super::keys::{FileSigner, SignError, Signer};

/// Default of `--valid-for`.
pub const DEFAULT_VALID_FOR: &str = "30d";

/// The signing part of a compile: the anchor written into the manifest and
/// the key that signs it.
#[derive(Clone, Debug)]
pub struct Signing {
    pub anchor: Anchor,
    pub signer: Arc<dyn Signer>,
}

/// The fields a signed manifest adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// Full id of the source commit.
    pub source_commit: String,
    /// `git rev-list --first-parent --count <source_commit>`.
    pub sequence: u64,
    /// The source commit's committer time plus the validity, RFC 3339 UTC.
    pub expires: String,
}

/// The signer `compile --sign KEY` names: `file:PATH` (an Ed25519 private
/// key in PKCS#8 PEM) or `awskms:KEY-ID` (an AWS KMS key; feature `kms`).
pub fn signer(key: &str) -> Result<Arc<dyn Signer>, SignError> {
    if let Some(path) = key.strip_prefix("file:") {
        return Ok(Arc::new(FileSigner::from_pem_file(Path::new(path))?));
    }
    if let Some(id) = key.strip_prefix("awskms:") {
        #[cfg(feature = "kms")]
        return Ok(Arc::new(super::kms::KmsSigner::connect(id)?));
        #[cfg(not(feature = "kms"))]
        return Err(SignError::Other(format!(
            "`--sign awskms:{id}` needs AWS KMS, which this build of amiset lacks: install it with `--features kms` (or `ec2`)"
        )));
    }
    Err(SignError::Other(format!(
        "`--sign {key}` names no key: use `file:PATH` (an Ed25519 private key in PKCS#8 PEM) or `awskms:KEY-ID`"
    )))
}

/// `--valid-for` in seconds: a whole number of hours (`12h`) or days (`30d`),
/// as `minAge` takes them; at least one hour.
pub fn valid_for_seconds(text: &str) -> Option<i64> {
    crate::config::source::min_age_seconds(text).filter(|s| *s > 0)
}

/// The anchor of the config directory `dir`: its repository's `HEAD`, which
/// must be a full (not shallow) history and must match the work tree under
/// `dir`, since compile reads the work tree and the signature vouches for
/// the commit.
pub fn anchor(dir: &Path, valid_for: i64) -> Result<Anchor, String> {
    let repo = git2::Repository::discover(dir).map_err(|e| {
        format!(
            "signing needs the config in a Git repository (the signature vouches for a commit), and `{}` is not in one: {}",
            dir.display(),
            e.message()
        )
    })?;
    let source = super::source_of(dir).ok_or_else(|| {
        format!(
            "signing needs a commit to anchor to, and the repository of `{}` has none (no commit on HEAD)",
            dir.display()
        )
    })?;
    if source.dirty {
        return Err(format!(
            "signing needs the config to match its commit, and `{}` has modified, staged or untracked files: commit them or compile a clean checkout",
            dir.display()
        ));
    }
    if repo.is_shallow() {
        return Err(
            "signing needs the whole first-parent history to count `sequence`, and the repository is a shallow clone: fetch it in full (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
                .into(),
        );
    }
    let oid = git2::Oid::from_str(&source.commit).map_err(|e| e.message().to_string())?;
    let commit = repo.find_commit(oid).map_err(|e| e.message().to_string())?;
    let sequence = first_parent_count(&repo, oid).map_err(|e| format!("cannot count the history of {oid}: {}", e.message()))?;
    let time = commit.committer().when().seconds();
    let expires = time
        .checked_add(valid_for)
        .map(format_rfc3339)
        .ok_or_else(|| "`--valid-for` is too large".to_string())?;
    Ok(Anchor {
        source_commit: source.commit,
        sequence,
        expires,
    })
}

/// The number of commits on the first-parent chain from `oid`, itself included.
fn first_parent_count(repo: &git2::Repository, oid: git2::Oid) -> Result<u64, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.simplify_first_parent()?;
    walk.push(oid)?;
    let mut count = 0u64;
    for id in walk {
        id?;
        count += 1;
    }
    Ok(count)
}

/// `2026-12-31T00:00:00Z` for seconds since the epoch.
pub fn format_rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::inventory::parse_rfc3339;

    #[test]
    fn rfc3339_formatting_matches_known_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1798675200`
        assert_eq!(format_rfc3339(1_798_675_200), "2026-12-31T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400 + 86_399), "2000-02-29T23:59:59Z");
        for t in [0, 1, 59, 86_399, 951_782_400, 1_767_225_600, 4_102_444_800, 253_402_300_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn valid_for_takes_hours_and_days() {
        assert_eq!(valid_for_seconds("30d"), Some(30 * 86_400));
        assert_eq!(valid_for_seconds("12h"), Some(12 * 3600));
        assert_eq!(valid_for_seconds("0d"), None);
        assert_eq!(valid_for_seconds("30m"), None);
        assert_eq!(valid_for_seconds("-1d"), None);
    }
}
