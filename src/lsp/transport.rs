//! The JSON-RPC framing of LSP over a byte stream (`Content-Length`
//! headers, then a JSON body). Unlike `lsp_server`'s reader, which ends the
//! session on the first malformed message, a body that is not JSON or not a
//! JSON-RPC message is handed back as an error so the server can answer it
//! and go on; only the end of the stream or a broken header ends a session.

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

/// Reads the next message; `Ok(None)` at the end of the stream.
pub fn read(r: &mut impl BufRead) -> io::Result<Option<Incoming>> {
    let mut length: Option<usize> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if length.is_some() {
                break;
            }
            // Blank lines between messages are tolerated.
            continue;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed header line `{text}`"),
            ));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad Content-Length `{}`", value.trim())))?,
            );
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
}
