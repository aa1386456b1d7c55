//! Positions and addresses as LSP has them: findings carry byte offsets,
//! LSP counts lines and UTF-16 code units within a line; files are
//! `file://` URIs, percent-encoded. Lines end at `\n`, `\r\n` or a lone
//! `\r`, as the LSP specification says; the line break is not part of the
//! line.

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
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
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

    /// The byte offset of an LSP position; past the end of a line is its end
    /// (before the line break), past the last line is the end of the text,
    /// inside a character that takes two UTF-16 units is after it.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let next = self.starts.get(pos.line as usize + 1).copied().unwrap_or(self.text.len());
        let line = &self.text[start..next];
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            if units >= pos.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        start + line.len()
    }
}

/// `text` after one `textDocument/didChange` content change: `range`
/// (UTF-16 positions in the text as it is before the change) replaced by
/// `new_text`, or the whole text when there is no range. A range whose
/// ends are swapped is taken from its smaller to its larger end.
pub fn apply_change(text: &str, range: Option<lsp_types::Range>, new_text: &str) -> String {
    let Some(range) = range else {
        return new_text.to_string();
    };
    let index = LineIndex::new(text);
    let (a, b) = (index.offset(range.start), index.offset(range.end));
    let (a, b) = (a.min(b), a.max(b));
    let mut out = String::with_capacity(text.len() - (b - a) + new_text.len());
    out.push_str(&text[..a]);
    out.push_str(new_text);
    out.push_str(&text[b..]);
    out
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

    fn range(l0: u32, c0: u32, l1: u32, c1: u32) -> Option<lsp_types::Range> {
        Some(lsp_types::Range::new(Position::new(l0, c0), Position::new(l1, c1)))
    }

    #[test]
    fn changes_after_non_ascii_text_count_utf16_units() {
        // Line 1: `#`, space, `é` (1 unit, 2 bytes), `😀` (2 units, 4 bytes), space: `x` is at unit 6, byte 9.
        let text = "a = 1\n# é😀 x = 2\n";
        assert_eq!(apply_change(text, range(1, 6, 1, 7), "yy"), "a = 1\n# é😀 yy = 2\n");
        // Inserting right after the emoji (unit 5) and right before it (unit 3).
        assert_eq!(apply_change(text, range(1, 5, 1, 5), "!"), "a = 1\n# é😀! x = 2\n");
        assert_eq!(apply_change(text, range(1, 3, 1, 3), "!"), "a = 1\n# é!😀 x = 2\n");
        // Between the emoji's two units is after it: a character is never split.
        assert_eq!(apply_change(text, range(1, 4, 1, 4), "!"), "a = 1\n# é😀! x = 2\n");
        // Deleting the emoji: its two units.
        assert_eq!(apply_change(text, range(1, 3, 1, 5), ""), "a = 1\n# é x = 2\n");
        // A range spanning lines.
        assert_eq!(apply_change(text, range(0, 4, 1, 5), "3 #"), "a = 3 # x = 2\n");
    }

    #[test]
    fn changes_in_crlf_and_cr_lines_never_split_the_line_break() {
        let text = "a = 1\r\nb = 2\r\n";
        // Past the end of line 0 is before its `\r\n`.
        assert_eq!(apply_change(text, range(0, 99, 0, 99), " # é"), "a = 1 # é\r\nb = 2\r\n");
        assert_eq!(apply_change(text, range(1, 0, 1, 1), "c"), "a = 1\r\nc = 2\r\n");
        // Joining two lines removes the whole `\r\n`.
        assert_eq!(apply_change(text, range(0, 5, 1, 0), ""), "a = 1b = 2\r\n");
        // A lone `\r` ends a line too.
        let text = "a\rb\nc";
        assert_eq!(apply_change(text, range(1, 0, 1, 1), "B"), "a\rB\nc");
        assert_eq!(LineIndex::new(text).position(text.len()), Position::new(2, 1));
    }

    #[test]
    fn changes_at_the_end_and_without_a_range() {
        let text = "a = \"😀\"\n";
        // The end of the text: the empty line after the last line break.
        assert_eq!(apply_change(text, range(1, 0, 1, 0), "b = 2\n"), "a = \"😀\"\nb = 2\n");
        // Past the end is the end.
        assert_eq!(apply_change(text, range(7, 3, 9, 0), "z"), "a = \"😀\"\nz");
        // The end of the last line when the text has no final line break.
        assert_eq!(apply_change("a = \"😀\"", range(0, 8, 0, 8), " # end"), "a = \"😀\" # end");
        assert_eq!(apply_change(text, None, "whole"), "whole");
        // Swapped ends.
        assert_eq!(apply_change(text, range(0, 8, 0, 4), "1"), "a = 1\n");
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
