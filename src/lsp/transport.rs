//! The JSON-RPC framing of LSP over a byte stream (`Content-Length`
//! headers, then a JSON body). Unlike `lsp_server`'s reader, which ends the
//! session on the first malformed message, a body that is not JSON or not a
//! JSON-RPC message is handed back as an error so the server can answer it
//! and go on; a broken header is skipped to the next message, and only the
//! end of the stream ends a session.

use std::io::{self, BufRead, Read, Write};

use lsp_server::Message;
use serde_json::{Value, json};

/// Largest message body read; a longer one is skipped, not buffered.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// One read from the stream.
pub enum Incoming {
    Message(Message),
    /// A body that could not be used, with the JSON-RPC error to answer it
    /// with (`id` is `null` when the request's id could not be read).
    Invalid {
        id: Value,
        code: i32,
        message: String,
    },
}

/// JSON-RPC: the body is not JSON.
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC: the JSON is not a request, response or notification.
pub const INVALID_REQUEST: i32 = -32600;

/// Longest header line kept; a longer one is read through and dropped.
const MAX_HEADER_LINE: u64 = 8 * 1024;

/// Reads one header line into `line`, holding at most [`MAX_HEADER_LINE`]
/// bytes of it: `None` at the end of the stream, else whether the line was
/// longer (it is then read through to its newline, and `line` holds its start).
fn header_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let n = r.by_ref().take(MAX_HEADER_LINE).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(None);
    }
    let too_long = !line.ends_with(b"\n") && n as u64 == MAX_HEADER_LINE;
    if too_long {
        // Read the rest of the line through, a piece at a time.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = r.by_ref().take(MAX_HEADER_LINE).read_until(b'\n', &mut rest)?;
            if m == 0 || rest.ends_with(b"\n") {
                break;
            }
        }
    }
    Ok(Some(too_long))
}

/// Reads the next message; `Ok(None)` at the end of the stream. A header
/// that breaks the framing (a line without `:`, a `Content-Length` that is
/// not a number, a line over [`MAX_HEADER_LINE`]) cannot be answered (no id
/// is known): it is reported on stderr, and what follows is skipped up to
/// the next line that starts a `Content-Length` header.
pub fn read(r: &mut impl BufRead) -> io::Result<Option<Incoming>> {
    let mut length: Option<usize> = None;
    let mut line = Vec::new();
    let mut skipping = false;
    loop {
        let Some(too_long) = header_line(r, &mut line)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&line);
        let mut text = text.trim_end_matches(['\r', '\n']);
        if skipping {
            // Resume at a Content-Length header, even one glued to the end of a lost body.
            let lower = text.to_ascii_lowercase();
            match lower.find("content-length:") {
                Some(i) if !too_long => {
                    text = &text[i..];
                    skipping = false;
                }
                _ => continue,
            }
        }
        if text.is_empty() {
            if length.is_some() {
                break;
            }
            // Blank lines between messages are tolerated.
            continue;
        }
        let header = if too_long { None } else { text.split_once(':') };
        let parsed = match header {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => match value.trim().parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(format!("bad Content-Length `{}`", value.trim().escape_debug())),
            },
            Some(_) => Ok(None),
            None if too_long => Err(format!("header line over {MAX_HEADER_LINE} bytes")),
            None => Err(format!("malformed header line `{}`", text.escape_debug())),
        };
        match parsed {
            Ok(Some(n)) => length = Some(n),
            Ok(None) => {}
            Err(why) => {
                eprintln!("amiset lsp: {why}; skipping to the next message");
                length = None;
                skipping = true;
            }
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        io::copy(&mut r.take(length as u64), &mut io::sink())?;
        return Ok(Some(Incoming::Invalid {
            id: Value::Null,
            code: INVALID_REQUEST,
            message: format!("message of {length} bytes is over the limit of {MAX_BODY}"),
        }));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Some(Incoming::Invalid {
                id: Value::Null,
                code: PARSE_ERROR,
                message: format!("the message is not JSON: {e}"),
            }));
        }
    };
    let id = value
        .get("id")
        .cloned()
        .filter(|id| id.is_string() || id.is_number())
        .unwrap_or(Value::Null);
    // An id of another type would make the request read as a notification, unanswered.
    if value
        .get("id")
        .is_some_and(|id| !(id.is_string() || id.is_number() || id.is_null()))
    {
        return Ok(Some(Incoming::Invalid {
            id: Value::Null,
            code: INVALID_REQUEST,
            message: "a request id must be a string or a number".into(),
        }));
    }
    match serde_json::from_value::<Message>(value) {
        Ok(m) => Ok(Some(Incoming::Message(m))),
        Err(e) => Ok(Some(Incoming::Invalid {
            id,
            code: INVALID_REQUEST,
            message: format!("not a JSON-RPC request, response or notification: {e}"),
        })),
    }
}

/// Writes one message.
pub fn write(w: &mut impl Write, message: &Message) -> io::Result<()> {
    message.write(w)
}

/// Writes an error response built by hand (its id may be `null`, which `lsp_server` cannot express).
pub fn write_error(w: &mut impl Write, id: &Value, code: i32, message: &str) -> io::Result<()> {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string();
    write!(w, "Content-Length: {}\r\n\r\n{body}", body.len())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn malformed_bodies_are_errors_and_reading_goes_on() {
        let mut input = Vec::new();
        input.extend(frame(b"{not json"));
        input.extend(frame(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":3}"));
        input.extend(frame(b"\xff\xfe"));
        input.extend(frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}"));
        let mut r = io::Cursor::new(input);
        let codes: Vec<(i32, Value)> = (0..3)
            .map(|_| match read(&mut r).unwrap().unwrap() {
                Incoming::Invalid { id, code, .. } => (code, id),
                Incoming::Message(m) => panic!("read {m:?} from a malformed body"),
            })
            .collect();
        assert_eq!(
            codes,
            [(PARSE_ERROR, Value::Null), (INVALID_REQUEST, json!(7)), (PARSE_ERROR, Value::Null)]
        );
        assert!(matches!(read(&mut r).unwrap(), Some(Incoming::Message(Message::Notification(n))) if n.method == "exit"));
        assert!(read(&mut r).unwrap().is_none());
    }

    /// Broken framing is skipped to the next message, which is read whole;
    /// an id that is neither a string nor a number is answered, not dropped.
    #[test]
    fn broken_headers_are_skipped_to_the_next_message() {
        let exit = b"{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}";
        let mut input = Vec::new();
        input.extend(b"Content-Length: -5\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"x\"}");
        input.extend(frame(exit)); // glued to the end of the lost body
        input.extend(b"no colon here\r\n\r\n");
        input.extend(frame(exit));
        input.extend(vec![b'x'; 100_000]); // one header line far over the limit
        input.extend(b"\r\n");
        input.extend(frame(exit));
        input.extend(frame(b"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"shutdown\"}"));
        let mut r = io::Cursor::new(input);
        for _ in 0..3 {
            assert!(matches!(read(&mut r).unwrap(), Some(Incoming::Message(Message::Notification(n))) if n.method == "exit"));
        }
        assert!(matches!(
            read(&mut r).unwrap(),
            Some(Incoming::Invalid {
                code: INVALID_REQUEST,
                id: Value::Null,
                ..
            })
        ));
        assert!(read(&mut r).unwrap().is_none());
    }
}
