//! A minimal LSP client that drives the real `amiset lsp` binary over
//! stdio: framed JSON-RPC out, a reader thread parsing frames in.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A ranged change: start and end as (line, UTF-16 column), and the new text.
pub type RangedChange<'a> = ((u32, u32), (u32, u32), &'a str);

/// How long any answer may take before the test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    pub pending: Vec<Value>,
    /// Requests the server sent, each answered with a `null` result as
    /// received (what a client does with `client/registerCapability`).
    pub requests: Vec<Value>,
}

impl Client {
    /// Starts `binary lsp` (the `amiset` binary under test) and initializes it.
    pub fn start(binary: &Path) -> Client {
        Client::start_with(binary, json!({"processId": null, "rootUri": null, "capabilities": {}})).0
    }

    /// Starts `binary lsp` and initializes it with `params`; returns the `initialize` response too.
    pub fn start_with(binary: &Path, params: Value) -> (Client, Value) {
        let mut child = Command::new(binary)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("amiset lsp starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(body) = read_frame(&mut r) {
                let value: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("server sent invalid JSON ({e})"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            stdin: child.stdin.take(),
            child,
            incoming: rx,
            next_id: 1,
            pending: Vec::new(),
            requests: Vec::new(),
        };
        let init = client.request("initialize", params);
        assert!(init["result"]["capabilities"].is_object(), "initialize: {init}");
        client.notify("initialized", json!({}));
        (client, init)
    }

    /// Answers a request from the server with a `null` result and keeps it in `requests`.
    fn answer(&mut self, request: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": request["id"], "result": null}));
        self.requests.push(request);
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to the server");
        stdin.flush().expect("flush");
    }

    /// Sends one framed body.
    pub fn send_body(&mut self, body: &[u8]) {
        let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        framed.extend_from_slice(body);
        self.send_raw(&framed);
    }

    fn send(&mut self, value: &Value) {
        self.send_body(value.to_string().as_bytes());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(&json!(id))
    }

    /// Waits for the response with `id`, keeping notifications in `pending`.
    pub fn response(&mut self, id: &Value) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(v) if v.get("method").is_some() && v.get("id").is_some() => self.answer(v),
                Ok(v) if v.get("method").is_some() => self.pending.push(v),
                Ok(v) if v.get("id") == Some(id) => return v,
                Ok(v) => panic!("unexpected message while waiting for {id}: {v}"),
                Err(RecvTimeoutError::Timeout) => panic!("no response to {id} within {TIMEOUT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output while {id} was pending"),
            }
        }
    }

    /// Waits for a notification that `pred` accepts (perhaps already received).
    pub fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(v) if v.get("method").is_some() && v.get("id").is_some() => self.answer(v),
                Ok(v) if pred(&v) => return v,
                Ok(v) if v.get("method").is_some() => self.pending.push(v),
                Ok(v) => panic!("unexpected message: {v}"),
                Err(e) => panic!("no awaited notification: {e:?}"),
            }
        }
    }

    /// Runs `f`, then a round trip: the server handles messages in order, so
    /// every notification it sent because of `f` arrives before the answer.
    /// Returns the last diagnostics published per URI meanwhile.
    pub fn published(&mut self, f: impl FnOnce(&mut Client)) -> BTreeMap<String, Vec<Value>> {
        self.pending.clear();
        f(self);
        let pong = self.request("amiset/unknown-method", json!({}));
        assert!(pong["error"].is_object());
        let mut out = BTreeMap::new();
        for n in self.pending.drain(..) {
            if n["method"] == "textDocument/publishDiagnostics" {
                let uri = n["params"]["uri"].as_str().expect("uri").to_string();
                out.insert(uri, n["params"]["diagnostics"].as_array().expect("diagnostics").clone());
            }
        }
        out
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "toml", "version": 1, "text": text}}),
        );
    }

    pub fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// One `didChange` with several ranged changes, each `(start, end, text)` in
    /// UTF-16 positions of the text the previous change left.
    pub fn change_ranges(&mut self, uri: &str, version: i64, changes: &[RangedChange<'_>]) {
        let changes: Vec<Value> = changes
            .iter()
            .map(|(a, b, text)| json!({"range": {"start": pos(a.0, a.1), "end": pos(b.0, b.1)}, "text": text}))
            .collect();
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        );
    }

    /// `workspace/didChangeWatchedFiles` with `(uri, type)` pairs: 1 created, 2 changed, 3 deleted.
    pub fn watched(&mut self, changes: &[(&str, u32)]) {
        let changes: Vec<Value> = changes.iter().map(|(uri, t)| json!({"uri": uri, "type": t})).collect();
        self.notify("workspace/didChangeWatchedFiles", json!({"changes": changes}));
    }

    pub fn close(&mut self, uri: &str) {
        self.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    }

    /// `shutdown`, `exit`, and the exit code.
    pub fn shutdown(mut self) -> i32 {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown: {r}");
        self.notify("exit", Value::Null);
        drop(self.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().expect("exit code");
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit code, once the server has exited.
    pub fn try_exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().expect("wait").map(|s| s.code().expect("exit code"))
    }

    /// The server's process id (for memory measurements).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_frame(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            length = v.trim().parse().ok();
        }
    }
    let mut body = vec![0; length?];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// The `file:` URI of a path (percent-encoding what a URI cannot hold).
pub fn uri(path: &Path) -> String {
    let mut s = String::from("file://");
    for &b in path.to_string_lossy().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// A position in LSP terms: `line` 0-based, `character` in UTF-16 units.
pub fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

/// Where `needle` starts in `text`, as an LSP position (UTF-16 columns), computed independently of the server.
pub fn find(text: &str, needle: &str) -> (u32, u32) {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in the text"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count() as u32;
    (line, text[line_start..at].encode_utf16().count() as u32)
}

pub fn path_buf(p: &Path) -> PathBuf {
    p.to_path_buf()
}
