//! Availability zones and what they offer (DESIGN §10): how a zone's name
//! ties it to its region, and `offerings.json`, the committed record of
//! which instance types each zone offers (written by `amiset ec2
//! offerings`, read untrusted by `check`, `compile` and `export`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde_json::Value as Json;

/// The file at the config repository root.
pub const FILE: &str = "offerings.json";

/// Whether `zone` is a zone of `region`: the region's name followed by one
/// lower-case letter (an availability zone, `us-east-1a`), or by `-` and a
/// local or Wavelength zone name of lower-case letters, digits and dashes
/// (`us-west-2-lax-1a`, `us-east-1-wl1-bos-wlz-1`).
pub fn is_zone_of(zone: &str, region: &str) -> bool {
    let Some(rest) = zone.strip_prefix(region) else {
        return false;
    };
    let b = rest.as_bytes();
    match b {
        [c] => c.is_ascii_lowercase(),
        [b'-', tail @ ..] => {
            !tail.is_empty()
                && tail.first().is_some_and(u8::is_ascii_lowercase)
                && tail.last().is_some_and(u8::is_ascii_alphanumeric)
                && tail.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && !rest.contains("--")
        }
        _ => false,
    }
}

/// The known region that `zone` belongs to, by its name.
pub fn region_of(zone: &str) -> Option<&'static str> {
    crate::regions::KNOWN.iter().copied().find(|r| is_zone_of(zone, r))
}

/// `offerings.json`: for each zone, the instance types EC2 offers there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offerings {
    pub zones: BTreeMap<String, BTreeSet<String>>,
}

/// Why `offerings.json` was refused: a message and the byte span it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub span: Range<usize>,
}

/// Longest instance type name accepted (EC2's longest is under 30).
const MAX_TYPE_LEN: usize = 64;

impl Offerings {
    /// Parses the text of `offerings.json`. The file is data from the
    /// repository, so every shape is checked: an object with exactly the key
    /// `zones`, an object of zone names (each a zone of a known region) to
    /// lists of instance type names.
    pub fn parse(text: &str) -> Result<Offerings, Invalid> {
        let invalid = |e: serde_json::Error| {
            let at = offset_of(text, e.line(), e.column());
            Invalid {
                message: format!("`{FILE}` is not valid JSON: {e}"),
                span: at..(at + 1).min(text.len()).max(at),
            }
        };
        // A key given twice would be read as its last copy, whatever a
        // reviewer read in the first: refused.
        serde_json::from_str::<NoDuplicateKeys>(text).map_err(invalid)?;
        let value: Json = serde_json::from_str(text).map_err(invalid)?;
        let whole = 0..text.len().min(1);
        let top = value.as_object().ok_or_else(|| Invalid {
            message: format!("`{FILE}` must be an object with the key `zones`"),
            span: whole.clone(),
        })?;
        if let Some(key) = top.keys().find(|k| *k != "zones") {
            return Err(Invalid {
                message: format!("`{FILE}` has the unknown key `{key}`; only `zones` is allowed"),
                span: span_of_string(text, key),
            });
        }
        let zones = top.get("zones").and_then(Json::as_object).ok_or_else(|| Invalid {
            message: format!("`{FILE}` must hold `zones`, an object of zone names to lists of instance types"),
            span: span_of_string(text, "zones"),
        })?;
        let mut out = Offerings::default();
        for (zone, types) in zones {
            if region_of(zone).is_none() {
                return Err(Invalid {
                    message: format!("`{}` is not a zone of a known AWS region", zone.escape_debug()),
                    span: span_of_string(text, zone),
                });
            }
            let list = types.as_array().ok_or_else(|| Invalid {
                message: format!("the offerings of `{zone}` must be a list of instance type names"),
                span: span_of_string(text, zone),
            })?;
            let mut set = BTreeSet::new();
            for t in list {
                match t.as_str() {
                    Some(s) if !s.is_empty() && s.len() <= MAX_TYPE_LEN && s.bytes().all(|b| b.is_ascii_graphic()) => {
                        if !set.insert(s.to_string()) {
                            return Err(Invalid {
                                message: format!("the offerings of `{zone}` list `{s}` twice"),
                                span: span_of_string(text, zone),
                            });
                        }
                    }
                    _ => {
                        return Err(Invalid {
                            message: format!("the offerings of `{zone}` hold `{t}`, which is not an instance type name"),
                            span: span_of_string(text, zone),
                        });
                    }
                }
            }
            out.zones.insert(zone.clone(), set);
        }
        Ok(out)
    }

    /// The file's bytes: sorted zones, sorted types, two-space indent, final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::json!({ "zones": self.zones });
        let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Whether `zone` offers `instance_type`; `None` when the file does not know the zone.
    pub fn in_zone(&self, zone: &str, instance_type: &str) -> Option<bool> {
        self.zones.get(zone).map(|types| types.contains(instance_type))
    }

    /// Whether some zone of `region` offers `instance_type`; `None` when the
    /// file knows no zone of the region.
    pub fn in_region(&self, region: &str, instance_type: &str) -> Option<bool> {
        let mut known = false;
        for (zone, types) in self.zones.range(region.to_string()..) {
            if !zone.starts_with(region) {
                break;
            }
            if is_zone_of(zone, region) {
                known = true;
                if types.contains(instance_type) {
                    return Some(true);
                }
            }
        }
        known.then_some(false)
    }
}

/// Byte offset of a 1-based line and column (as serde_json reports them).
/// A JSON document read only to fail on the first object key given twice.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> serde::de::Visitor<'de> for Walk {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format_args!(
                            "the key `{}` is given twice",
                            key.escape_debug()
                        )));
                    }
                    map.next_value::<NoDuplicateKeys>()?;
                }
                Ok(NoDuplicateKeys)
            }
        }
        d.deserialize_any(Walk)
    }
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (start + column.saturating_sub(1)).min(text.len())
}

/// The span of the first occurrence of `s` as a JSON string (with its quotes), or the start of the file.
fn span_of_string(text: &str, s: &str) -> Range<usize> {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    match text.find(&quoted) {
        Some(at) => at..at + quoted.len(),
        None => 0..text.len().min(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_belong_to_the_region_they_are_named_after() {
        assert!(is_zone_of("us-east-1a", "us-east-1"));
        assert!(is_zone_of("us-west-2-lax-1a", "us-west-2"));
        assert!(is_zone_of("us-east-1-wl1-bos-wlz-1", "us-east-1"));
        assert!(!is_zone_of("us-west-2a", "us-east-1"));
        assert!(!is_zone_of("us-east-1", "us-east-1"));
        assert!(!is_zone_of("us-east-1ab", "us-east-1"));
        assert!(!is_zone_of("us-east-1A", "us-east-1"));
        assert!(!is_zone_of("us-east-1-", "us-east-1"));
        assert!(!is_zone_of("us-east-1--x1", "us-east-1"));
        assert!(!is_zone_of("us-east-10a", "us-east-1"));
        assert_eq!(region_of("eu-central-1b"), Some("eu-central-1"));
        assert_eq!(region_of("xx-east-1a"), None);
    }

    #[test]
    fn parse_points_at_what_is_wrong() {
        let bad = "{\"zones\": {\"us-east-1a\": [\"m5.large\",]}}";
        let e = Offerings::parse(bad).unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{e:?}");
        // serde_json reports the `]` after the trailing comma.
        assert_eq!(&bad[e.span.clone()], "]");

        let text = "{\"zones\": {\"mars-1a\": []}}";
        let e = Offerings::parse(text).unwrap_err();
        assert_eq!(&text[e.span], "\"mars-1a\"");

        let text = "{\"zones\": {\"us-east-1a\": \"m5.large\"}}";
        let e = Offerings::parse(text).unwrap_err();
        assert_eq!(&text[e.span], "\"us-east-1a\"");

        let text = "{\"zone\": {}}";
        let e = Offerings::parse(text).unwrap_err();
        assert_eq!(&text[e.span], "\"zone\"");

        // A zone given twice (JSON readers keep one copy or the other), and
        // a type listed twice, are refused; the span is where the second starts.
        let text = "{\"zones\": {\"us-east-1a\": [\"c5.xlarge\"],\n \"us-east-1a\": []}}";
        let e = Offerings::parse(text).unwrap_err();
        assert!(e.message.contains("the key `us-east-1a` is given twice"), "{e:?}");
        assert_eq!(text[..e.span.start].matches('\n').count(), 1, "on the second line: {e:?}");
        let text = "{\"zones\": {\"us-east-1a\": [\"c5.xlarge\", \"m5.large\", \"c5.xlarge\"]}}";
        let e = Offerings::parse(text).unwrap_err();
        assert_eq!(e.message, "the offerings of `us-east-1a` list `c5.xlarge` twice");
        // Order is free: amiset writes the file sorted, and reads any order.
        let text = "{\"zones\": {\"us-east-1b\": [\"m5.large\", \"c5.xlarge\"], \"us-east-1a\": []}}";
        assert_eq!(Offerings::parse(text).unwrap().in_zone("us-east-1b", "c5.xlarge"), Some(true));
    }

    #[test]
    fn region_lookup_covers_every_zone_of_the_region_and_only_those() {
        let o = Offerings::parse(
            r#"{"zones": {"us-east-1a": ["c5.large"], "us-east-1b": ["m5.large"], "us-east-10a": ["x1.large"], "us-east-2a": ["z.large"]}}"#,
        );
        // `us-east-10a` is not a zone of any known region.
        assert!(o.is_err());
        let o =
            Offerings::parse(r#"{"zones": {"us-east-1a": ["c5.large"], "us-east-1b": ["m5.large"], "us-east-2a": ["r5.large"]}}"#).unwrap();
        assert_eq!(o.in_region("us-east-1", "m5.large"), Some(true));
        assert_eq!(o.in_region("us-east-1", "r5.large"), Some(false));
        assert_eq!(o.in_region("us-west-2", "m5.large"), None);
        assert_eq!(o.in_zone("us-east-1a", "m5.large"), Some(false));
        assert_eq!(o.in_zone("us-east-1c", "m5.large"), None);
        assert_eq!(
            String::from_utf8(o.to_bytes()).unwrap(),
            "{\n  \"zones\": {\n    \"us-east-1a\": [\n      \"c5.large\"\n    ],\n    \"us-east-1b\": [\n      \"m5.large\"\n    ],\n    \"us-east-2a\": [\n      \"r5.large\"\n    ]\n  }\n}\n"
        );
    }
}
