//! What the `[source]` table of an AMI set means (DESIGN §9), as `update`,
//! `promote` and its checks read it: the kinds of image a set holds, the
//! build id an image name carries, `minAge` in seconds, and whose images a
//! set takes. Its checks are in `check::source`.

use super::{AmiSet, Arch, Policy, Source, Virt};

/// The (arch, virtualization) pairs an AMI set holds, sorted, once each.
pub fn kinds(set: &AmiSet) -> Vec<(Arch, Virt)> {
    let mut out: Vec<(Arch, Virt)> = set
        .amis
        .iter()
        .flat_map(|e| {
            [(e.hvm.is_some(), Virt::Hvm), (e.pv.is_some(), Virt::Pv)]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(move |(_, v)| (e.arch, v))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The build id `name` carries under `pattern` (the text its one `*`
/// matches), or `None` when the name does not match.
pub fn build_id<'a>(pattern: &str, name: &'a str) -> Option<&'a str> {
    let (prefix, suffix) = pattern.split_once('*')?;
    if suffix.contains('*') || name.len() < prefix.len() + suffix.len() {
        return None;
    }
    name.strip_prefix(prefix)?.strip_suffix(suffix)
}

/// `minAge` in seconds: a whole number of hours (`12h`) or days (`2d`).
pub fn min_age_seconds(text: &str) -> Option<i64> {
    let unit = match text.as_bytes().last()? {
        b'h' => 3600,
        b'd' => 86_400,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(|n| n * unit)
}

/// The accounts whose images a set takes: its own `owners`, else `amiOwners`.
pub fn owners<'a>(source: &'a Source, policy: &'a Policy) -> Option<&'a [String]> {
    source.owners.as_deref().or(policy.ami_owners.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceName;

    #[test]
    fn build_id_is_the_text_of_the_star() {
        assert_eq!(build_id("relops/u-*-amd64", "relops/u-2026.11.02-amd64"), Some("2026.11.02"));
        assert_eq!(build_id("relops/u-*", "relops/u-"), Some(""));
        assert_eq!(build_id("relops/u-*", "relops/v-1"), None);
        assert_eq!(build_id("a*a", "a"), None, "prefix and suffix may not overlap");
        assert_eq!(build_id("a*a", "aa"), Some(""));
        assert_eq!(build_id("no-star", "no-star"), None);
    }

    #[test]
    fn min_age_takes_hours_and_days_only() {
        assert_eq!(min_age_seconds("2d"), Some(172_800));
        assert_eq!(min_age_seconds("12h"), Some(43_200));
        assert_eq!(min_age_seconds("0h"), Some(0));
        for bad in ["", "d", "2", "2m", "-1d", "1.5d", "2 d", "9999999d"] {
            assert_eq!(min_age_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn arch_virt_key_wins_over_arch_key() {
        let name = SourceName::PerKey(
            [
                ("x86_64".to_string(), "a-*".to_string()),
                ("x86_64/pv".to_string(), "p-*".to_string()),
            ]
            .into(),
        );
        assert_eq!(name.pattern(Arch::X86_64, Virt::Hvm), Some("a-*"));
        assert_eq!(name.pattern(Arch::X86_64, Virt::Pv), Some("p-*"));
        assert_eq!(name.pattern(Arch::Arm64, Virt::Hvm), None);
    }
}
