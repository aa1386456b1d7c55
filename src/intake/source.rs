//! The `[source]` table of an AMI set (DESIGN §9): its checks (coded
//! findings on exact spans, run by `check`), and the pure helpers `update`
//! needs: the build id an image name carries, and `minAge` in seconds.

use crate::config::doc::{Doc, escape};
use crate::config::{AmiSet, Arch, Policy, Source, SourceName, Virt};
use crate::diag::{Code, Finding};

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

/// Every pattern of a source with the JSON pointer of its value.
fn patterns(name: &SourceName) -> Vec<(String, &str)> {
    match name {
        SourceName::One(p) => vec![("/source/name".to_string(), p.as_str())],
        SourceName::PerKey(map) => map
            .iter()
            .map(|(k, p)| (format!("/source/name/{}", escape(k)), p.as_str()))
            .collect(),
    }
}

/// The findings about a set's `[source]`, if it has one.
pub fn check(policy: &Policy, id: &str, set: &AmiSet, doc: Option<&Doc>) -> Vec<Finding> {
    let Some(source) = &set.source else { return Vec::new() };
    let path = format!("ami-sets/{id}.toml");
    let place = |f: Finding, pointer: &str, key: bool| match doc {
        Some(doc) if key => f.at(&path, doc.span_of_key(pointer)),
        Some(doc) => f.at(&path, doc.span_of_value(pointer)),
        None => f.in_file(&path),
    };
    let mut out = Vec::new();
    for (pointer, pattern) in patterns(&source.name) {
        let stars = pattern.matches('*').count();
        if stars != 1 {
            let f = Finding::new(
                Code::SourceWildcard,
                format!("image-name pattern `{pattern}` has {stars} `*`; it needs exactly one"),
            )
            .label(if stars == 0 { "no `*`" } else { "more than one `*`" })
            .help("the one `*` stands for the build id, e.g. `relops/ubuntu-2204-amd64-*`");
            out.push(place(f, &pointer, false));
        }
    }
    for (arch, virt) in kinds(set) {
        if source.name.pattern(arch, virt).is_none() {
            let key = format!("{}/{}", arch.as_str(), virt.as_str());
            let f = Finding::new(
                Code::SourceMissingPattern,
                format!("`[source]` of AMI set `{id}` has no image-name pattern for {key}, which the set holds"),
            )
            .label(format!("no `{}` or `{key}` key", arch.as_str()))
            .help(format!("add `\"{key}\" = \"...-*\"` (or `{} = ...`) to `name`", arch.as_str()));
            out.push(place(f, "/source/name", true));
        }
    }
    if let Some(min_age) = &source.min_age
        && min_age_seconds(min_age).is_none()
    {
        let f = Finding::new(Code::SourceMinAge, format!("`{min_age}` is not a valid `minAge`"))
            .label("invalid minAge")
            .help("write a whole number of hours or days, e.g. `12h` or `2d`");
        out.push(place(f, "/source/minAge", false));
    }
    if owners(source, policy).is_none() {
        let f = Finding::new(
            Code::SourceNoOwners,
            format!("`[source]` of AMI set `{id}` does not say whose images to take"),
        )
        .label("no `owners`")
        .help("add `owners = [\"<account id>\"]` here or `amiOwners` to `amiset.toml`: anyone can publish an image with any name");
        out.push(place(f, "/source", true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
