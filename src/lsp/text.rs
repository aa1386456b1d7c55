//! Positions and addresses as LSP has them: findings carry byte offsets,
//! LSP counts lines and UTF-16 code units within a line; files are
//! `file://` URIs, percent-encoded.

use std::ops::Range;
use std::path::{Path, PathBuf};

use lsp_types::{Position, Uri};

/// Line starts of a text, to turn byte offsets into LSP positions and back.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The LSP position of byte `offset` (clamped to the text and to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let character = self.text[start..offset].encode_utf16().count();
        Position::new(line as u32, character as u32)
    }

    /// The LSP range of a byte span.
    pub fn range(&self, span: &Range<usize>) -> lsp_types::Range {
        lsp_types::Range::new(self.position(span.start), self.position(span.end))
    }

    /// The byte offset of an LSP position; past the end of a line is its end,
    /// past the last line is the end of the text.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self.starts.get(pos.line as usize + 1).map_or(self.text.len(), |e| e - 1);
        let mut units = 0u32;
        for (i, c) in self.text[start..end].char_indices() {
            if units >= pos.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }
}

/// The local path of a `file:` URI.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // `file:///p` (empty authority) or `file://localhost/p`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
    }
    #[cfg(not(unix))]
    Some(PathBuf::from(String::from_utf8_lossy(&out).into_owned()))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Uri {
    let mut s = String::from("file://");
    for &b in path.to_string_lossy().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.parse().unwrap_or_else(|_| "file:///".parse().expect("a constant URI parses"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_after_non_ascii_text() {
        // "é" is 2 bytes and 1 UTF-16 unit; "😀" is 4 bytes and 2 units.
        let text = "a = 1\n# é😀\nkey = \"x\"\nd = \"😀\" # z\n";
        let idx = LineIndex::new(text);
        let z = text.rfind('z').unwrap();
        // `d = "😀" # z`: d, space, =, space, ", 😀 (2), ", space, #, space → z at unit 11.
        assert_eq!(idx.position(z), Position::new(3, 11));
        assert_eq!(idx.offset(Position::new(3, 11)), z);
        let after = text.find("é").unwrap() + "é😀".len();
        assert_eq!(idx.position(after), Position::new(1, 5));
        assert_eq!(idx.offset(Position::new(1, 5)), after);
        assert_eq!(idx.offset(Position::new(1, 99)), text.find("\nkey").unwrap());
        assert_eq!(idx.offset(Position::new(99, 0)), text.len());
        // An offset inside a character is moved back to its start.
        assert_eq!(idx.position(text.find("é").unwrap() + 1), Position::new(1, 2));
    }

    #[test]
    fn file_uris_round_trip_with_percent_encoding() {
        let p = Path::new("/tmp/a b/ünï/worker-types/x.toml");
        let uri = uri_of(p);
        assert_eq!(uri.as_str(), "file:///tmp/a%20b/%C3%BCn%C3%AF/worker-types/x.toml");
        assert_eq!(path_of(&uri).as_deref(), Some(p));
        assert_eq!(path_of(&"untitled:Untitled-1".parse().unwrap()), None);
    }
}
