//! A parsed TOML document that keeps the source span of every key and value,
//! so that any later stage can point back at the exact text. Converting to
//! JSON feeds the schema validator; JSON pointers map back to spans.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Number, Value as Json};
use toml::de::{DeTable, DeValue};

use crate::diag::{Code, Finding};

/// Deepest nesting of tables and arrays that a config file may have.
pub const MAX_DEPTH: usize = 32;

/// A TOML value with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

/// A key with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<(Key, Node)>),
}

impl Node {
    /// The entry `key` of a table.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, n)| n)
    }

    /// The key and value of entry `key` of a table.
    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.value {
            Value::Table(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(k, n)| (k, n)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Table(entries) => Some(entries),
            _ => None,
        }
    }

    /// The node at a JSON pointer (`/regions/0/launchSpec`), `""` being this node.
    pub fn pointer(&self, pointer: &str) -> Option<&Node> {
        let mut node = self;
        for segment in segments(pointer) {
            node = match &node.value {
                Value::Table(_) => node.get(&segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span of the key that a JSON pointer ends in, or of the value when it
    /// ends in an array index (or is empty).
    pub fn key_span(&self, pointer: &str) -> Option<Range<usize>> {
        let (parent, last) = match pointer.rfind('/') {
            Some(i) => (&pointer[..i], unescape(&pointer[i + 1..])),
            None => return Some(self.span.clone()),
        };
        let parent = self.pointer(parent)?;
        match &parent.value {
            Value::Table(_) => parent.entry(&last).map(|(k, _)| k.span.clone()),
            Value::Array(items) => items.get(last.parse::<usize>().ok()?).map(|n| n.span.clone()),
            _ => None,
        }
    }

    /// The JSON form of this value, as the schema validator sees it.
    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::String(s) | Value::Datetime(s) => Json::String(s.clone()),
            Value::Integer(i) => Json::Number((*i).into()),
            Value::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Bool(b) => Json::Bool(*b),
            Value::Array(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Table(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.name.clone(), v.to_json());
                }
                Json::Object(map)
            }
        }
    }
}

fn segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer.split('/').skip(1).map(unescape)
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Escapes one JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A parsed config file. The tree of spans ([`Doc::root`]) is built on
/// first use: a file that loads without a finding never needs it, and
/// keeping one tree per file would double what a large repository holds.
#[derive(Clone, Debug)]
pub struct Doc {
    /// Path relative to the config directory.
    pub path: String,
    pub source: Arc<str>,
    root: OnceLock<Node>,
}

impl Doc {
    /// Parses `source`; a syntax error or excessive nesting is a finding.
    pub fn parse(path: &str, source: Arc<str>) -> Result<Doc, Box<Finding>> {
        let (table, span, shift) = parse_table(path, &source)?;
        let root = convert_table(table, span, shift, 0).map_err(|bad| Box::new(bad.finding(path, shift)))?;
        Ok(Doc {
            path: path.to_string(),
            source,
            root: OnceLock::from(root),
        })
    }

    /// Parses `source` into its JSON form (what [`Node::to_json`] of the
    /// root gives) without building the tree of spans, which [`Doc::root`]
    /// builds when it is first asked for.
    pub fn parse_json(path: &str, source: Arc<str>) -> Result<(Doc, Json), Box<Finding>> {
        let (table, _, shift) = parse_table(path, &source)?;
        let json = table_json(table, 0).map_err(|bad| Box::new(bad.finding(path, shift)))?;
        Ok((
            Doc {
                path: path.to_string(),
                source,
                root: OnceLock::new(),
            },
            json,
        ))
    }

    /// The tree of the whole document, with the span of every key and value.
    pub fn root(&self) -> &Node {
        self.root.get_or_init(|| {
            // The source parsed once already, so parsing it again cannot fail.
            parse_table(&self.path, &self.source)
                .ok()
                .and_then(|(table, span, shift)| convert_table(table, span, shift, 0).ok())
                .unwrap_or(Node {
                    span: 0..0,
                    value: Value::Table(Vec::new()),
                })
        })
    }

    /// Span of the key at `pointer`, falling back to the closest enclosing node that exists.
    pub fn span_of_key(&self, pointer: &str) -> Range<usize> {
        self.root().key_span(pointer).unwrap_or_else(|| self.span_of_value(pointer))
    }

    /// Span of the value at `pointer`, falling back to the closest enclosing node that exists.
    pub fn span_of_value(&self, pointer: &str) -> Range<usize> {
        let mut p = pointer;
        loop {
            if let Some(node) = self.root().pointer(p) {
                return if p.is_empty() { 0..0 } else { node.span.clone() };
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return 0..0,
            }
        }
    }
}

fn strip_bom(source: &str) -> &str {
    source.strip_prefix('\u{feff}').unwrap_or(source)
}

/// Parses `source` (after a byte order mark, whose length is the returned
/// shift) into toml's spanned table; a syntax error or excessive nesting is
/// a finding.
fn parse_table<'a>(path: &str, source: &'a str) -> Result<(DeTable<'a>, Range<usize>, usize), Box<Finding>> {
    if let Some(offset) = too_deep_dotted_keys(source) {
        return Err(Box::new(depth_finding(path, offset..offset + 1)));
    }
    let text = strip_bom(source);
    let shift = source.len() - text.len();
    let parsed = DeTable::parse(text).map_err(|e| {
        let span = e.span().map_or(0..0, |s| s.start + shift..s.end + shift);
        if e.message().contains("recursion") {
            return Box::new(depth_finding(path, span));
        }
        Box::new(
            Finding::new(Code::TomlSyntax, format!("invalid TOML: {}", first_line(e.message())))
                .at(path, span)
                .label("here")
                .help("fix the TOML syntax at the marked position (see https://toml.io)"),
        )
    })?;
    let span = parsed.span();
    Ok((parsed.into_inner(), span, shift))
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message).trim()
}

fn depth_finding(path: &str, span: Range<usize>) -> Finding {
    Finding::new(
        Code::NestingTooDeep,
        format!("tables or arrays nested deeper than {MAX_DEPTH} levels"),
    )
    .at(path, span)
    .label("too deep")
    .help("config files never need this much nesting; flatten the structure")
}

/// Dotted keys and table headers create nesting that the parser does not
/// bound; a line with more dots in its key than the depth limit is refused
/// before parsing, so that neither parsing nor dropping the tree can
/// exhaust the stack.
fn too_deep_dotted_keys(source: &str) -> Option<usize> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let key_part = if trimmed.starts_with('[') {
            trimmed
        } else {
            trimmed.split('=').next().unwrap_or("")
        };
        if key_part.bytes().filter(|&b| b == b'.').count() > MAX_DEPTH {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

type Spanned<T> = toml::Spanned<T>;

fn shifted(span: Range<usize>, shift: usize) -> Range<usize> {
    span.start + shift..span.end + shift
}

/// Why a parsed value has no place in a config: the span (shifted for
/// the tree, unshifted for the JSON) and the reason.
#[derive(Debug)]
struct Bad {
    span: Range<usize>,
    why: Why,
}

#[derive(Debug)]
enum Why {
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An integer outside the 64-bit range, which TOML requires to be an error.
    IntegerRange,
    /// `nan` or an infinity (also a float too large, such as `1e400`): JSON,
    /// and so the schema, artifacts and EC2, have no such number.
    NotFinite,
}

impl Bad {
    fn finding(self, path: &str, shift: usize) -> Finding {
        let span = shifted(self.span, shift);
        match self.why {
            Why::TooDeep => depth_finding(path, span),
            Why::IntegerRange => Finding::new(Code::TomlSyntax, "invalid TOML: integer out of the 64-bit range")
                .at(path, span)
                .label("out of range")
                .help("TOML integers are 64-bit: -9223372036854775808 to 9223372036854775807"),
            Why::NotFinite => Finding::new(Code::InvalidValue, "`nan` and infinite numbers have no place in a config")
                .at(path, span)
                .label("not a finite number")
                .help("JSON, the artifacts and EC2 have no such number; write a finite one"),
        }
    }
}

fn integer(i: &toml::de::DeInteger<'_>, span: &Range<usize>) -> Result<i64, Bad> {
    i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| Bad {
        span: span.clone(),
        why: Why::IntegerRange,
    })
}

fn float(f: &toml::de::DeFloat<'_>, span: &Range<usize>) -> Result<f64, Bad> {
    match f.as_str().replace('_', "").parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(Bad {
            span: span.clone(),
            why: Why::NotFinite,
        }),
    }
}

fn convert_table(table: DeTable<'_>, span: Range<usize>, shift: usize, depth: usize) -> Result<Node, Bad> {
    if depth > MAX_DEPTH {
        return Err(Bad { span, why: Why::TooDeep });
    }
    let mut entries = Vec::with_capacity(table.len());
    for (k, v) in table {
        let key = Key {
            name: k.get_ref().to_string(),
            span: shifted(k.span(), shift),
        };
        entries.push((key, convert(v, shift, depth + 1)?));
    }
    Ok(Node {
        span: shifted(span, shift),
        value: Value::Table(entries),
    })
}

fn convert(v: Spanned<DeValue<'_>>, shift: usize, depth: usize) -> Result<Node, Bad> {
    let span = v.span();
    if depth > MAX_DEPTH {
        return Err(Bad { span, why: Why::TooDeep });
    }
    let value = match v.into_inner() {
        DeValue::String(s) => Value::String(s.into_owned()),
        DeValue::Integer(i) => Value::Integer(integer(&i, &span)?),
        DeValue::Float(f) => Value::Float(float(&f, &span)?),
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(convert(item, shift, depth + 1)?);
            }
            Value::Array(out)
        }
        DeValue::Table(t) => return convert_table(t, span, shift, depth),
    };
    Ok(Node {
        span: shifted(span, shift),
        value,
    })
}

/// The JSON form of a toml table, as [`Node::to_json`] gives it for the
/// [`Node`] that [`convert_table`] makes of it, refusing what it refuses.
fn table_json(table: DeTable<'_>, depth: usize) -> Result<Json, Bad> {
    let mut map = Map::new();
    for (k, v) in table {
        let key = k.into_inner().into_owned();
        map.insert(key, value_json(v, depth + 1)?);
    }
    Ok(Json::Object(map))
}

fn value_json(v: Spanned<DeValue<'_>>, depth: usize) -> Result<Json, Bad> {
    let span = v.span();
    if depth > MAX_DEPTH {
        return Err(Bad { span, why: Why::TooDeep });
    }
    Ok(match v.into_inner() {
        DeValue::String(s) => Json::String(s.into_owned()),
        DeValue::Integer(i) => Json::Number(integer(&i, &span)?.into()),
        DeValue::Float(f) => float_json(float(&f, &span)?),
        DeValue::Boolean(b) => Json::Bool(b),
        DeValue::Datetime(d) => Json::String(d.to_string()),
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(value_json(item, depth + 1)?);
            }
            Json::Array(out)
        }
        DeValue::Table(t) => table_json(t, depth)?,
    })
}

fn float_json(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Doc, Box<Finding>> {
        Doc::parse("x.toml", Arc::from(text))
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "a = 1\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = { SubnetId = \"s\" }\n";
        let doc = parse(text).unwrap();
        let v = doc.root().pointer("/regions/0/region").unwrap();
        assert_eq!(&text[v.span.clone()], "\"us-east-1\"");
        let k = doc.span_of_key("/regions/0/launchSpec/SubnetId");
        assert_eq!(&text[k], "SubnetId");
        assert_eq!(doc.root().to_json()["regions"][0]["launchSpec"]["SubnetId"], "s");
    }

    #[test]
    fn syntax_errors_are_findings_with_spans() {
        let f = parse("a = \n").unwrap_err();
        assert_eq!(f.code, Code::TomlSyntax);
        assert!(f.span.is_some());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let dotted = format!("{} = 1\n", vec!["a"; 5000].join("."));
        assert_eq!(parse(&dotted).unwrap_err().code, Code::NestingTooDeep);
        let header = format!("[{}]\n", vec!["a"; 40].join("."));
        assert_eq!(parse(&header).unwrap_err().code, Code::NestingTooDeep);
        let inline = format!("a = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(parse(&inline).unwrap_err().code, Code::NestingTooDeep);
        let shallow = format!("a = {}1{}\n", "[".repeat(10), "]".repeat(10));
        assert!(parse(&shallow).is_ok());
    }

    /// The JSON that loading validates is the JSON of the tree that spans
    /// are looked up in, and the tree built later equals the one built at once.
    #[test]
    fn json_without_the_tree_equals_the_json_of_the_tree() {
        let texts = [
            "a = 1\nb = 0x7f\nb2 = -17\nc = 1_000\nd = 9_223_372_036_854_775_807\n",
            "f = 1.5\nj = 3_000.25\nk = -0.0\nl = 1e300\n",
            "t = 1979-05-27T07:32:00Z\nu = 07:32:00\nv = 1979-05-27\n",
            "s = \"caf\u{e9} \\u00e9\"\nl = '''\nraw\\n'''\n[x.y]\nz = [1, [2, {w = true}]]\n",
            "\u{feff}[[regions]]\nregion = \"us-east-1\"\nzones = [{ zone = \"us-east-1a\", launchSpec = { SubnetId = \"s\" } }]\n",
        ];
        for text in texts {
            let eager = parse(text).unwrap();
            let (lazy, json) = Doc::parse_json("x.toml", Arc::from(text)).unwrap();
            assert_eq!(json, eager.root().to_json(), "{text}");
            assert!(lazy.root.get().is_none(), "the tree is built on first use");
            // Debug text, as NaN is not equal to itself.
            assert_eq!(format!("{:?}", lazy.root()), format!("{:?}", eager.root()));
        }
        // Nesting too deep is refused alike, at the same place.
        for text in [
            format!("a = {}1{}\n", "[".repeat(40), "]".repeat(40)),
            format!("a = {}1{}\n", "{b = ".repeat(40), "}".repeat(40)),
            format!("\u{feff}a = {}1{}\n", "[".repeat(40), "]".repeat(40)),
        ] {
            let eager = parse(&text).unwrap_err();
            let lazy = Doc::parse_json("x.toml", Arc::from(text.as_str())).unwrap_err();
            assert_eq!(eager.code, Code::NestingTooDeep);
            assert_eq!((lazy.code, lazy.span), (eager.code, eager.span), "{text}");
        }
    }

    /// TOML requires an integer outside 64 bits to be an error, and JSON
    /// has no `nan` or infinity: both are refused at the value, never
    /// rounded or turned into `null`, eagerly and lazily alike.
    #[test]
    fn out_of_range_integers_and_non_finite_floats_are_refused_at_the_value() {
        for (text, code, value) in [
            ("a = 1\nb = 99999999999999999999\n", Code::TomlSyntax, "99999999999999999999"),
            ("b = [-9_223_372_036_854_775_809]\n", Code::TomlSyntax, "-9_223_372_036_854_775_809"),
            ("[x]\nv = { VolumeSize = nan }\n", Code::InvalidValue, "nan"),
            ("\u{feff}c = -inf\n", Code::InvalidValue, "-inf"),
            ("d = 1e400\n", Code::InvalidValue, "1e400"),
        ] {
            let eager = parse(text).unwrap_err();
            let lazy = Doc::parse_json("x.toml", Arc::from(text)).unwrap_err();
            assert_eq!(eager.code, code, "{text}");
            assert_eq!(&text[eager.span.clone().unwrap()], value, "{text}");
            assert_eq!((lazy.code, lazy.span), (eager.code, eager.span), "{text}");
        }
        assert!(parse("max = 9_223_372_036_854_775_807\nmin = -9223372036854775808\n").is_ok());
    }

    #[test]
    fn bom_is_accepted_and_spans_stay_exact() {
        let text = "\u{feff}a = \"b\"\n";
        let doc = parse(text).unwrap();
        assert_eq!(&text[doc.root().get("a").unwrap().span.clone()], "\"b\"");
    }
}
