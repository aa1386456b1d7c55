//! JSON text exactly as Python's `json.dumps(value, sort_keys=True)` writes
//! it, with the default separators (`", "` and `": "`) and `ensure_ascii`:
//! the bytes worker-manager's `launchConfigId` is the hash of (DESIGN §10).
//!
//! Python's rules, reproduced here: object keys in code-point order (the
//! byte order of UTF-8, which is how Rust compares `str`); every character
//! outside printable ASCII written as `\uXXXX` in lower-case hex, astral
//! characters as a UTF-16 surrogate pair; `"`, `\`, and `\n \r \t \b \f` with
//! their short escapes; integers as written; floats as Python's `repr`
//! (`1.0`, `0.1`, `1e+16`, `1e-05`).

use serde_json::Value as Json;

/// `json.dumps(value, sort_keys=True)`.
pub fn dumps(value: &Json) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&float_repr(f)),
            (None, None, None) => out.push_str(&n.to_string()),
        },
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that read back as the same
/// number, in positional notation when the decimal exponent is in
/// `-4 ..= 15` (with `.0` when there is no fraction), else as
/// `d[.ddd]e±XX` with at least two exponent digits.
fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    // Rust's `{:e}` is the shortest round-trip form too: `-1.2345e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // The value is 0.DIGITS × 10^point.
    let point = exp + 1;
    if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exp.abs());
    }
    let n = digits.len() as i32;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= n {
        format!("{digits}{}.0", "0".repeat((point - n) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Expected texts are what CPython 3 prints for the same values
    /// (`json.dumps(v, sort_keys=True)`, `repr(f)`), written out by hand.
    #[test]
    fn floats_print_as_python_repr() {
        for (f, text) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.23e-5, "1.23e-05"),
            (1e-100, "1e-100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.30000000000000004, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (-1e22, "-1e+22"),
            (9999999999999998.0, "9999999999999998.0"),
        ] {
            assert_eq!(float_repr(f), text, "{f:?}");
        }
    }

    #[test]
    fn objects_sort_keys_and_use_pythons_separators() {
        let value = json!({"b": [1, 2.0, {}], "a": {"z": null, "y": true}, "": [], "B": false});
        assert_eq!(
            dumps(&value),
            r#"{"": [], "B": false, "a": {"y": true, "z": null}, "b": [1, 2.0, {}]}"#
        );
        assert_eq!(dumps(&json!(-7)), "-7");
        assert_eq!(dumps(&json!(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        let value = json!("é \"q\" \\ / \n\r\t\u{8}\u{c} \u{1} \u{7f} 😀 \u{2028} ~");
        assert_eq!(
            dumps(&value),
            r#""\u00e9 \"q\" \\ / \n\r\t\b\f \u0001 \u007f \ud83d\ude00 \u2028 ~""#
        );
        // Keys sort by code point: "é" (U+00E9) after "z", the emoji after both.
        let keys = json!({"😀": 1, "é": 2, "z": 3, "Z": 4});
        assert_eq!(dumps(&keys), r#"{"Z": 4, "z": 3, "\u00e9": 2, "\ud83d\ude00": 1}"#);
    }
}
