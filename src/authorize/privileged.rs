//! Privileged launch spec keys (DESIGN §4): values that hand out power in
//! AWS (an instance profile, a key pair, a security group, a subnet, the
//! instance metadata options). Holding `manage-worker-type:W` lets an author
//! change W, not attach `OrgAdmin` to W's instances: a value under a
//! privileged key that W's launch specs did not hold before, and that no
//! pattern of `[privileged.allow]` (read from the base) matches, needs the
//! admin scope.
//!
//! Values are compared on resolved launch specs, leaf by leaf: tables by
//! dotted path, array indices dropped from the path, so each element of
//! `SecurityGroupIds` and each `NetworkInterfaces.SubnetId` is one value.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::config::{Config, LaunchSpec, Policy, WorkerType};
use crate::diag::{Code, Finding, closest};
use crate::resolve::all_layered;
use crate::schema::{self, Kind};

/// A privileged value the change introduces into a worker type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPrivilegedValue {
    /// Dotted leaf path, e.g. `IamInstanceProfile.Arn`.
    pub path: String,
    /// The value as text (a string without quotes, anything else as JSON).
    pub value: String,
    /// The first launch spec that holds it: its region, or its zone when it has one.
    pub region: String,
    pub instance_type: String,
    /// The worker type's layer that sets the privileged key, for the finding's span.
    pub pointer: Option<String>,
}

impl NewPrivilegedValue {
    /// Why the admin scope is needed, naming the worker type file, region, instance type, key and value.
    pub fn because(&self, file: &str) -> String {
        format!(
            "{file} sets privileged `{} = {}` for {} in {} (not allowed by `[privileged.allow]`)",
            self.path, self.value, self.instance_type, self.region
        )
    }
}

/// Leaves of `value` under `path`: (dotted path, value text).
fn leaves(value: &Json, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Json::Object(map) => {
            for (key, v) in map {
                leaves(v, &format!("{path}.{key}"), out);
            }
        }
        Json::Array(items) => {
            for item in items {
                leaves(item, path, out);
            }
        }
        Json::String(s) => out.push((path.to_string(), s.clone())),
        other => out.push((path.to_string(), other.to_string())),
    }
}

/// The privileged leaves of one launch spec.
fn privileged_leaves(spec: &LaunchSpec, keys: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in keys {
        if let Some(value) = spec.get(*key) {
            leaves(value, key, &mut out);
        }
    }
    out
}

/// Whether `[privileged.allow]` lets anyone use `value` at `path`: a
/// pattern equal to it, or ending in `*` with the rest a prefix of it.
fn allowed(policy: &Policy, path: &str, value: &str) -> bool {
    policy.privileged.allow.get(path).is_some_and(|patterns| {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None => p == value,
        })
    })
}

/// Privileged values of `after` that `before` (the same worker type in the
/// base, `None` when new or unreadable) held in none of its launch specs and
/// that `[privileged.allow]` does not allow. One entry per (path, value).
pub fn new_privileged_values(policy: &Policy, before: Option<&WorkerType>, after: &WorkerType) -> Vec<NewPrivilegedValue> {
    let keys = policy.privileged_keys();
    let held: BTreeSet<(String, String)> = before
        .map(|b| {
            all_layered(b)
                .iter()
                .flat_map(|(_, _, _, spec)| privileged_leaves(spec, &keys))
                .collect()
        })
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (region, zone, instance_type, spec) in all_layered(after) {
        for (path, value) in privileged_leaves(&spec, &keys) {
            if held.contains(&(path.clone(), value.clone()))
                || allowed(policy, &path, &value)
                || !seen.insert((path.clone(), value.clone()))
            {
                continue;
            }
            let key = path.split('.').next().unwrap_or_default();
            let pointer = after
                .launch_spec_layers()
                .find(|(_, layer)| layer.get(key).is_some_and(|v| holds(v, &path[key.len()..], &value)))
                .map(|(pointer, _)| format!("{pointer}/{key}"));
            out.push(NewPrivilegedValue {
                path,
                value,
                region: zone.unwrap_or(region).to_string(),
                instance_type: instance_type.to_string(),
                pointer,
            });
        }
    }
    out
}

/// Whether `value` holds the leaf `rest` (a dotted suffix, possibly empty) with text `text`.
fn holds(value: &Json, rest: &str, text: &str) -> bool {
    let mut found = Vec::new();
    leaves(value, "", &mut found);
    found.iter().any(|(p, v)| p == rest && v == text)
}

/// Findings for a `[privileged]` table that cannot be applied: keys that
/// are not launch spec keys, `allow` paths outside the privileged keys,
/// and value patterns with a `*` that is not trailing.
pub fn check_privileged_table(config: &Config) -> Vec<Finding> {
    let policy = &config.policy;
    let mut out = Vec::new();
    let at = |f: Finding, pointer: &str, key: bool| match &config.policy_doc {
        Some(doc) => f.at(
            "amiset.toml",
            if key {
                doc.span_of_key(pointer)
            } else {
                doc.span_of_value(pointer)
            },
        ),
        None => f.in_file("amiset.toml"),
    };
    let known: Vec<&str> = schema::keys(Kind::WorkerType, "/launchSpec").into_iter().map(|(k, _)| k).collect();
    for (i, key) in policy.privileged.keys.iter().flatten().enumerate() {
        if !known.contains(&key.as_str()) {
            let f = Finding::new(
                Code::InvalidPrivileged,
                format!("`{key}` in `[privileged] keys` is not a launch spec key"),
            )
            .label("not a launch spec key")
            .suggest(closest(key, known.iter().copied()));
            out.push(at(f, &format!("/privileged/keys/{i}"), false));
        }
    }
    let keys = policy.privileged_keys();
    for (path, patterns) in &policy.privileged.allow {
        let pointer = format!("/privileged/allow/{}", path.replace('~', "~0").replace('/', "~1"));
        let top = path.split('.').next().unwrap_or_default();
        if !keys.contains(&top) || path.split('.').any(str::is_empty) {
            let f = Finding::new(
                Code::InvalidPrivileged,
                format!("`[privileged.allow]` path `{path}` is not under a privileged key"),
            )
            .label("not under a privileged key")
            .help(format!(
                "paths are dotted leaf paths under one of {}, e.g. `IamInstanceProfile.Arn`",
                keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ));
            out.push(at(f, &pointer, true));
        }
        for (i, pattern) in patterns.iter().enumerate() {
            if pattern.trim_end_matches('*').contains('*') || pattern.ends_with("**") {
                let f = Finding::new(
                    Code::InvalidPrivileged,
                    format!("value pattern `{pattern}` of `{path}` has a `*` that is not at its end"),
                )
                .label("only a trailing `*` is a wildcard")
                .help("write the value exactly, or end it in one `*` to allow every value that starts with the rest");
                out.push(at(f, &format!("{pointer}/{i}"), false));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wt(toml: &str) -> WorkerType {
        let value: toml::Value = toml::from_str(toml).unwrap();
        let json = serde_json::to_value(value).unwrap();
        serde_json::from_value(json).unwrap()
    }

    fn policy(toml: &str) -> Policy {
        toml::from_str(toml).unwrap()
    }

    const BASE: &str = r#"
        maxCapacity = 1
        amiSetId = "s"
        launchSpec = { SecurityGroupIds = ["sg-1"] }
        [[instanceTypes]]
        instanceType = "m5.large"
        [[regions]]
        region = "us-east-1"
    "#;

    #[test]
    fn a_new_instance_profile_needs_the_admin_and_names_where_it_is() {
        let after = wt(&format!(
            "{BASE}\n[[regions]]\nregion = \"us-west-2\"\nlaunchSpec = {{ IamInstanceProfile = {{ Arn = \"arn:aws:iam::1:instance-profile/OrgAdmin\" }} }}"
        ));
        let found = new_privileged_values(&Policy::default(), Some(&wt(BASE)), &after);
        assert_eq!(found.len(), 1, "{found:?}");
        let v = &found[0];
        assert_eq!(
            (v.path.as_str(), v.value.as_str(), v.region.as_str(), v.instance_type.as_str()),
            (
                "IamInstanceProfile.Arn",
                "arn:aws:iam::1:instance-profile/OrgAdmin",
                "us-west-2",
                "m5.large"
            )
        );
        assert_eq!(v.pointer.as_deref(), Some("/regions/1/launchSpec/IamInstanceProfile"));
    }

    #[test]
    fn values_held_before_or_allowed_need_nothing() {
        // A new region reusing the worker type's security group.
        let after = wt(&format!("{BASE}\n[[regions]]\nregion = \"us-west-2\""));
        assert_eq!(new_privileged_values(&Policy::default(), Some(&wt(BASE)), &after), vec![]);
        // Array elements are values of their own: a second group is new, the first is not.
        let after = wt(&BASE.replace("[\"sg-1\"]", "[\"sg-1\", \"sg-2\"]"));
        let found = new_privileged_values(&Policy::default(), Some(&wt(BASE)), &after);
        assert_eq!(found.iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), ["sg-2"]);
        // Allowed by a trailing-star pattern.
        let p = policy("[privileged.allow]\nSecurityGroupIds = [\"sg-2*\"]");
        assert_eq!(new_privileged_values(&p, Some(&wt(BASE)), &after), vec![]);
        // A pattern without `*` is exact.
        let p = policy("[privileged.allow]\nSecurityGroupIds = [\"sg-\"]");
        assert_eq!(new_privileged_values(&p, Some(&wt(BASE)), &after).len(), 1);
    }

    #[test]
    fn a_new_worker_types_values_are_all_new_and_keys_can_be_replaced() {
        let found = new_privileged_values(&Policy::default(), None, &wt(BASE));
        assert_eq!(found.iter().map(|v| v.path.as_str()).collect::<Vec<_>>(), ["SecurityGroupIds"]);
        let p = policy("[privileged]\nkeys = [\"IamInstanceProfile\"]");
        assert_eq!(new_privileged_values(&p, None, &wt(BASE)), vec![]);
    }

    #[test]
    fn a_subnet_in_a_zone_layer_is_judged_like_any_other() {
        let after = wt(&BASE.replace(
            "region = \"us-east-1\"",
            "region = \"us-east-1\"\nzones = [{ zone = \"us-east-1a\", launchSpec = { SubnetId = \"subnet-9\" } }]",
        ));
        let found = new_privileged_values(&Policy::default(), Some(&wt(BASE)), &after);
        assert_eq!(found.len(), 1, "{found:?}");
        let v = &found[0];
        assert_eq!(
            (v.path.as_str(), v.value.as_str(), v.region.as_str()),
            ("SubnetId", "subnet-9", "us-east-1a")
        );
        assert_eq!(v.pointer.as_deref(), Some("/regions/0/zones/0/launchSpec/SubnetId"));
    }

    #[test]
    fn nested_arrays_drop_their_indices_from_the_path() {
        let after = wt(&format!(
            "{BASE}\n[[instanceTypes]]\ninstanceType = \"c5.large\"\nlaunchSpec = {{ NetworkInterfaces = [{{ DeviceIndex = 0, SubnetId = \"subnet-9\" }}] }}"
        ));
        let found: Vec<(String, String)> = new_privileged_values(&Policy::default(), Some(&wt(BASE)), &after)
            .into_iter()
            .map(|v| (v.path, v.value))
            .collect();
        assert_eq!(
            found,
            [
                ("NetworkInterfaces.DeviceIndex".to_string(), "0".to_string()),
                ("NetworkInterfaces.SubnetId".to_string(), "subnet-9".to_string())
            ]
        );
    }
}
