//! Checks of the `[source]` table of an AMI set (DESIGN §9): coded findings
//! on exact spans.

use crate::config::doc::{Doc, escape};
use crate::config::source::{kinds, min_age_seconds, owners};
use crate::config::{AmiSet, Policy, SourceName};
use crate::diag::{Code, Finding};

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
    // `amiOwners` is the allowed list (DESIGN §5): a set's own `owners` may
    // narrow it, never widen it.
    if let (Some(own), Some(allowed)) = (&source.owners, &policy.ami_owners) {
        for (i, owner) in own.iter().enumerate() {
            if !allowed.contains(owner) {
                let f = Finding::new(
                    Code::SourceOwnerNotAllowed,
                    format!("`[source]` of AMI set `{id}` takes images of `{owner}`, which `amiOwners` does not allow"),
                )
                .label("not in `amiOwners`")
                .help(format!(
                    "add `{owner}` to `amiOwners` in `amiset.toml` (a change that needs the admin scope), or take it out of `owners`"
                ));
                out.push(place(f, &format!("/source/owners/{i}"), false));
            }
        }
    }
    out
}
