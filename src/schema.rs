//! The JSON Schemas (draft 2020-12) for `amiset.toml`, AMI sets and worker
//! types, embedded in the binary. Validation errors are mapped from their
//! JSON pointer back to the exact TOML span.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, Validator};
use serde_json::Value as Json;

use crate::config::doc::{Doc, escape};
use crate::diag::{Code, Finding, closest};

/// Which kind of file a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Policy,
    AmiSet,
    WorkerType,
}

/// Every published schema: file name and text.
pub const SCHEMAS: &[(&str, &str)] = &[
    ("amiset.schema.json", include_str!("../schemas/amiset.schema.json")),
    ("ami-set.schema.json", include_str!("../schemas/ami-set.schema.json")),
    ("worker-type.schema.json", include_str!("../schemas/worker-type.schema.json")),
];

impl Kind {
    fn index(self) -> usize {
        match self {
            Kind::Policy => 0,
            Kind::AmiSet => 1,
            Kind::WorkerType => 2,
        }
    }

    /// The parsed schema document.
    pub fn schema(self) -> &'static Json {
        static PARSED: OnceLock<Vec<Json>> = OnceLock::new();
        &PARSED.get_or_init(|| {
            SCHEMAS
                .iter()
                .map(|(name, text)| serde_json::from_str(text).unwrap_or_else(|e| panic!("embedded schema {name} is invalid JSON: {e}")))
                .collect()
        })[self.index()]
    }

    fn validator(self) -> &'static Validator {
        static VALIDATORS: OnceLock<Vec<Validator>> = OnceLock::new();
        &VALIDATORS.get_or_init(|| {
            [Kind::Policy, Kind::AmiSet, Kind::WorkerType]
                .iter()
                .map(|k| {
                    jsonschema::options()
                        .with_draft(Draft::Draft202012)
                        .build(k.schema())
                        .unwrap_or_else(|e| panic!("embedded schema for {k:?} does not compile: {e}"))
                })
                .collect()
        })[self.index()]
    }
}

/// Validates a parsed document; every violation becomes a finding on its span.
pub fn validate(kind: Kind, doc: &Doc, instance: &Json) -> Vec<Finding> {
    let validator = kind.validator();
    let mut findings = Vec::new();
    // The common case is a valid document: `is_valid` builds no errors.
    if validator.is_valid(instance) {
        return findings;
    }
    for error in validator.iter_errors(instance) {
        let pointer = error.instance_path().as_str().to_string();
        findings.extend(map_error(kind, doc, &pointer, error.kind(), error.instance(), &error.to_string()));
    }
    findings
}

fn map_error(kind: Kind, doc: &Doc, pointer: &str, error: &ValidationErrorKind, instance: &Json, text: &str) -> Vec<Finding> {
    let path = doc.path.as_str();
    let value_span = doc.span_of_value(pointer);
    let place = describe(pointer);
    match error {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let key_pointer = format!("{pointer}/{}", escape(key));
                let allowed = allowed_keys(kind.schema(), pointer);
                Finding::new(Code::UnknownKey, format!("unknown key `{key}` in {place}"))
                    .at(path, doc.span_of_key(&key_pointer))
                    .label("not allowed here")
                    .maybe_help((!allowed.is_empty()).then(|| format!("allowed keys: {}", allowed.join(", "))))
                    // A key the table already has is no fix: it would be there twice.
                    .suggest(closest(
                        key,
                        allowed.iter().map(String::as_str).filter(|k| instance.get(k).is_none()),
                    ))
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            vec![
                Finding::new(Code::MissingKey, format!("missing required key `{key}` in {place}"))
                    .at(path, if pointer.is_empty() { 0..0 } else { doc.span_of_key(pointer) })
                    .label(format!("`{key}` is required"))
                    .help(format!("add `{key} = ...`")),
            ]
        }
        ValidationErrorKind::FalseSchema | ValidationErrorKind::Not { .. } => vec![forbidden_key(doc, pointer)],
        ValidationErrorKind::Type { kind: expected } => {
            let expected = match expected {
                TypeKind::Single(t) => toml_type_name(&t.to_string()).to_string(),
                TypeKind::Multiple(ts) => ts.iter().map(|t| toml_type_name(&t.to_string())).collect::<Vec<_>>().join(" or "),
            };
            vec![
                Finding::new(
                    Code::WrongType,
                    format!("{place} must be {expected}, found {}", json_type_name(instance)),
                )
                .at(path, value_span)
                .label(format!("expected {expected}"))
                .help(format!("write {place} as {expected}")),
            ]
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<&str> = options
                .as_array()
                .map(|a| a.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let list = options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ");
            let value = instance.as_str().map_or_else(|| instance.to_string(), str::to_string);
            vec![
                Finding::new(Code::InvalidValue, format!("{place} must be one of {list}, found `{value}`"))
                    .at(path, value_span)
                    .label("not an allowed value")
                    .help(format!("use one of {list}"))
                    .suggest(closest(&value, options.iter().copied())),
            ]
        }
        ValidationErrorKind::Pattern { .. } => {
            let value = instance.as_str().unwrap_or_default();
            let (what, help) = pattern_help(pointer);
            // Zone names are lower-case: `US-EAST-1A` is meant as `us-east-1a`.
            let lower = value.to_ascii_lowercase();
            let candidate = (what == "zone name"
                && lower != value
                && crate::offerings::region_of(&lower).is_some_and(|r| crate::offerings::is_zone_of(&lower, r)))
            .then_some(lower);
            vec![
                Finding::new(Code::InvalidValue, format!("`{value}` is not a valid {what}"))
                    .at(path, value_span)
                    .label(format!("invalid {what}"))
                    .help(help)
                    .suggest(candidate),
            ]
        }
        ValidationErrorKind::PropertyNames { .. } => {
            let name = last_segment(pointer);
            vec![
                Finding::new(Code::InvalidValue, format!("`{name}` is not a valid team name"))
                    .at(path, doc.span_of_key(pointer))
                    .label("invalid team name")
                    .help("teams are named `@org/team`"),
            ]
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            let bound = match error {
                ValidationErrorKind::Minimum { .. } => "at least",
                ValidationErrorKind::Maximum { .. } => "at most",
                ValidationErrorKind::ExclusiveMinimum { .. } => "greater than",
                _ => "less than",
            };
            vec![
                Finding::new(Code::OutOfRange, format!("{place} must be {bound} {limit}, found {instance}"))
                    .at(path, value_span)
                    .label("out of range")
                    .help(format!("use a value {bound} {limit}")),
            ]
        }
        ValidationErrorKind::MinItems { limit } | ValidationErrorKind::MaxItems { limit } => {
            let bound = if matches!(error, ValidationErrorKind::MinItems { .. }) {
                "at least"
            } else {
                "at most"
            };
            let noun = if *limit == 1 { "entry" } else { "entries" };
            vec![
                Finding::new(Code::OutOfRange, format!("{place} needs {bound} {limit} {noun}"))
                    .at(path, value_span)
                    .label(format!("{} entries", instance.as_array().map_or(0, Vec::len)))
                    .help(format!("give {place} {bound} {limit} {noun}")),
            ]
        }
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MaxLength { .. } => {
            vec![
                Finding::new(Code::OutOfRange, format!("{place}: {}", text.replace('"', "`")))
                    .at(path, value_span)
                    .label("wrong length")
                    .help("an empty value is never meaningful here"),
            ]
        }
        ValidationErrorKind::UniqueItems => vec![
            Finding::new(Code::InvalidValue, format!("{place} has duplicate items"))
                .at(path, value_span)
                .label("duplicate items")
                .help("list each item once"),
        ],
        _ => vec![
            Finding::new(Code::InvalidValue, format!("{place}: {text}"))
                .at(path, value_span)
                .label("invalid value"),
        ],
    }
}

fn forbidden_key(doc: &Doc, pointer: &str) -> Finding {
    let key = last_segment(pointer);
    let span = doc.span_of_key(pointer);
    let path = doc.path.as_str();
    match key.as_str() {
        "secrets" => Finding::new(Code::Secrets, "worker type has a `secrets` key; secrets do not belong in Git")
            .at(path, span)
            .label("remove this")
            .help("deliver secrets to workers through a secrets service, not the worker type"),
        "ImageId" => Finding::new(
            Code::ForbiddenLaunchSpecKey,
            format!("`ImageId` is not allowed in {}", describe(parent(pointer))),
        )
        .at(path, span)
        .label("not allowed here")
        .help("use `amiSetId`; a raw `ImageId` is allowed only in `regions[].launchSpec`"),
        "InstanceType" => Finding::new(Code::ForbiddenLaunchSpecKey, "`InstanceType` is never allowed in a launchSpec")
            .at(path, span)
            .label("not allowed")
            .help("instance types come from `[[instanceTypes]]`"),
        "UserData" => Finding::new(Code::ForbiddenLaunchSpecKey, "`UserData` is never allowed in a launchSpec")
            .at(path, span)
            .label("not allowed")
            .help("put user data in the `[userData]` table"),
        _ => Finding::new(
            Code::UnknownKey,
            format!("key `{key}` is not allowed in {}", describe(parent(pointer))),
        )
        .at(path, span)
        .label("not allowed"),
    }
}

fn pattern_help(pointer: &str) -> (&'static str, &'static str) {
    match last_segment(pointer).as_str() {
        "hvm" | "pv" | "ImageId" | "ami" => ("AMI id", "AMI ids are `ami-` followed by 8 or 17 lower-case hex digits"),
        "amiSetId" => ("AMI set id", "ids match `^[A-Za-z0-9][A-Za-z0-9_-]{0,37}$`"),
        "instanceType" => ("instance type", "instance types look like `m5.large`"),
        "zone" => (
            "zone name",
            "zones are named after their region: `us-east-1a`, or a local zone such as `us-west-2-lax-1a` (zone ids such as `use1-az1` are not zone names)",
        ),
        "scopePrefix" | "adminScope" => ("scope", "scopes are printable ASCII"),
        _ if pointer.starts_with("/scopes/") => ("scope", "scopes are printable ASCII (0x20-0x7E)"),
        _ if pointer.starts_with("/amiOwners/") || pointer.starts_with("/source/owners/") => {
            ("AWS account id", "account ids are 12 digits")
        }
        _ if pointer.starts_with("/teams/") => ("team member", "members are `@user` or an e-mail address"),
        _ => ("value", "see the schema for the allowed format"),
    }
}

fn last_segment(pointer: &str) -> String {
    pointer.rsplit('/').next().unwrap_or_default().replace("~1", "/").replace("~0", "~")
}

fn parent(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |i| &pointer[..i])
}

/// Human name of the place a pointer designates: "`regions[0].launchSpec`" or "the file".
pub fn describe(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the top level of the file".to_string();
    }
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    format!("`{out}`")
}

fn toml_type_name(json: &str) -> &'static str {
    match json {
        "object" => "a table",
        "array" => "an array",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        _ => "a value",
    }
}

fn json_type_name(value: &Json) -> &'static str {
    match value {
        Json::Object(_) => "a table",
        Json::Array(_) => "an array",
        Json::String(_) => "a string",
        Json::Number(n) if n.is_f64() => "a float",
        Json::Number(_) => "an integer",
        Json::Bool(_) => "a boolean",
        Json::Null => "nothing",
    }
}

/// Property names the schema allows at the object a pointer designates.
fn allowed_keys(schema: &Json, pointer: &str) -> Vec<String> {
    let mut node = schema;
    for segment in pointer.split('/').skip(1) {
        node = deref(schema, node);
        let next = if segment.bytes().all(|b| b.is_ascii_digit()) {
            node.get("items")
        } else {
            node.get("properties")
                .and_then(|p| p.get(segment))
                .or_else(|| node.get("additionalProperties"))
        };
        match next {
            Some(n) => node = n,
            None => return Vec::new(),
        }
    }
    let node = deref(schema, node);
    node.get("properties")
        .and_then(Json::as_object)
        .map(|p| p.iter().filter(|(_, v)| v.get("not").is_none()).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

/// The schema node that describes the value at `pointer` (array indices
/// step into `items`), following `$ref`s.
fn node_at<'a>(schema: &'a Json, pointer: &str) -> Option<&'a Json> {
    let mut node = schema;
    for segment in pointer.split('/').skip(1) {
        node = deref(schema, node);
        node = if segment.bytes().all(|b| b.is_ascii_digit()) {
            node.get("items")?
        } else {
            let name = segment.replace("~1", "/").replace("~0", "~");
            match node.get("properties").and_then(|p| p.get(&name)) {
                Some(n) => n,
                None => node.get("additionalProperties").filter(|n| n.is_object())?,
            }
        };
    }
    Some(deref(schema, node))
}

/// Whether the schema makes the value at `pointer` of a file of `kind` an array.
pub fn is_array(kind: Kind, pointer: &str) -> bool {
    node_at(kind.schema(), pointer).is_some_and(|n| n.get("type").and_then(Json::as_str) == Some("array"))
}

/// The schema's description of the value at `pointer` of a file of `kind`.
pub fn description(kind: Kind, pointer: &str) -> Option<&'static str> {
    node_at(kind.schema(), pointer)?.get("description")?.as_str()
}

/// The keys the schema allows in the table at `pointer` of a file of
/// `kind`, each with its description (forbidden keys left out).
pub fn keys(kind: Kind, pointer: &str) -> Vec<(&'static str, Option<&'static str>)> {
    let schema = kind.schema();
    let Some(node) = node_at(schema, pointer) else { return Vec::new() };
    node.get("properties")
        .and_then(Json::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, v)| v.get("not").is_none() && **v != Json::Bool(false))
                .map(|(k, v)| (k.as_str(), deref(schema, v).get("description").and_then(Json::as_str)))
                .collect()
        })
        .unwrap_or_default()
}

fn deref<'a>(root: &'a Json, node: &'a Json) -> &'a Json {
    match node.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).unwrap_or(node),
        None => node,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn check(kind: Kind, text: &str) -> Vec<Finding> {
        let doc = Doc::parse("f.toml", Arc::from(text)).unwrap();
        validate(kind, &doc, &doc.root().to_json())
    }

    #[test]
    fn schemas_compile() {
        for k in [Kind::Policy, Kind::AmiSet, Kind::WorkerType] {
            let _ = k.validator();
        }
    }

    #[test]
    fn unknown_key_points_at_key_with_suggestion() {
        let text = "[[amis]]\nregion = \"us-east-1\"\nhmv = \"ami-0123abcd\"\n";
        let f = check(Kind::AmiSet, text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::UnknownKey);
        assert_eq!(&text[f[0].span.clone().unwrap()], "hmv");
        assert_eq!(f[0].help.as_deref(), Some("did you mean `hvm`?"));
    }

    #[test]
    fn no_key_the_table_already_has_is_suggested() {
        let text = "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123abcd\"\nhmv = \"ami-0123abce\"\n";
        let f = check(Kind::AmiSet, text);
        assert_eq!(f.len(), 1);
        assert_eq!(&text[f[0].span.clone().unwrap()], "hmv");
        assert_eq!(f[0].fix, None, "renaming `hmv` to `hvm` would write `hvm` twice");
        assert!(
            !f[0].help.as_deref().unwrap_or_default().contains("did you mean"),
            "{:?}",
            f[0].help
        );
    }

    #[test]
    fn a_malformed_zone_name_says_what_zone_names_look_like_and_fixes_its_case() {
        let text = |zone: &str| {
            format!(
                "maxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\nzones = [{{ zone = \"{zone}\" }}]\n"
            )
        };
        let f = check(Kind::WorkerType, &text("US-EAST-1B"));
        let f: Vec<_> = f.into_iter().filter(|f| f.code == Code::InvalidValue).collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].message, "`US-EAST-1B` is not a valid zone name");
        assert_eq!(f[0].fix.as_ref().map(|x| x.replacement.as_str()), Some("us-east-1b"));

        let f = check(Kind::WorkerType, &text("use1-az1"));
        let f: Vec<_> = f.into_iter().filter(|f| f.code == Code::InvalidValue).collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].fix, None);
        assert!(
            f[0].help.as_deref().unwrap().contains("zone ids such as `use1-az1`"),
            "{:?}",
            f[0].help
        );
    }

    #[test]
    fn forbidden_keys_get_their_own_codes() {
        let text = "maxCapacity = 1\nsecrets = {}\n[launchSpec]\nInstanceType = \"m5.large\"\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n";
        let codes: Vec<_> = check(Kind::WorkerType, text).into_iter().map(|f| f.code).collect();
        assert!(codes.contains(&Code::Secrets), "{codes:?}");
        assert!(codes.contains(&Code::ForbiddenLaunchSpecKey), "{codes:?}");
    }

    #[test]
    fn keys_and_descriptions_follow_refs_and_items() {
        let keys = keys(Kind::WorkerType, "/regions/0/launchSpec");
        assert!(keys.iter().any(|(k, _)| *k == "SubnetId"));
        assert!(!keys.iter().any(|(k, _)| *k == "UserData"));
        let top = super::keys(Kind::WorkerType, "");
        assert!(top.iter().any(|(k, d)| *k == "amiSetId" && d.is_some()), "{top:?}");
        assert!(description(Kind::AmiSet, "/amis/0/hvm").is_some());
        assert_eq!(description(Kind::AmiSet, "/nope"), None);
    }

    #[test]
    fn allowed_keys_follow_refs() {
        let keys = allowed_keys(Kind::WorkerType.schema(), "/regions/0/launchSpec");
        assert!(keys.contains(&"SubnetId".to_string()));
        assert!(keys.contains(&"ImageId".to_string()));
        assert!(!keys.contains(&"UserData".to_string()));
    }
}
