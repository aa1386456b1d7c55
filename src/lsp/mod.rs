//! `amiset lsp`: a Language Server Protocol server (DESIGN §11), one more
//! front end over [`crate::check`]. It finds the config repository around
//! each opened file (the nearest ancestor with `amiset.toml`), keeps one
//! [`Analysis`] per repository with the unsaved buffers laid over the disk,
//! and publishes every offline finding of `check` for every file it
//! affects. Definitions, references, completion, hover and code actions
//! ([`features`]) read the same loaded config.
//!
//! The server is synchronous, as rust-analyzer's `lsp-server` transport is:
//! each message is handled to the end before the next is read, so
//! diagnostics always describe the latest edit. Nothing a client sends can
//! end the session except `exit` or the end of the stream: malformed
//! messages get a JSON-RPC error, failing handlers an error response.

mod features;
pub mod text;
pub mod transport;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_server::{ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, PublishDiagnosticsParams, Uri, notification,
    request,
};
use serde_json::{Value, json};

use crate::check::incremental::Analysis;
use crate::config::{self, Content, Limits};
use crate::diag::{Finding, Severity};
use text::{LineIndex, path_of, uri_of};
use transport::Incoming;

/// Runs a session over `input` and `output` until `exit` or the end of
/// the input. Returns whether the client asked for `shutdown` first (the
/// process then exits 0, else 1, as LSP specifies).
pub fn serve(input: &mut impl BufRead, output: &mut impl Write, limits: Limits) -> io::Result<bool> {
    let mut server = Server::new(limits);
    loop {
        let message = match transport::read(input)? {
            None => return Ok(false),
            Some(Incoming::Invalid { id, code, message }) => {
                transport::write_error(output, &id, code, &message)?;
                continue;
            }
            Some(Incoming::Message(m)) => m,
        };
        match message {
            Message::Request(req) => {
                let response = server.request(req);
                transport::write(output, &Message::Response(response))?;
            }
            Message::Notification(n) if n.method == notification::Exit::METHOD => return Ok(server.shut_down),
            Message::Notification(n) => {
                let method = n.method.clone();
                // A handler that fails must not take the session with it.
                server.guarded(&method, |s| s.notification(n));
            }
            Message::Response(r) => server.response(r),
        }
        for m in server.outbox.drain(..) {
            transport::write(output, &m)?;
        }
        output.flush()?;
    }
}

/// A config repository with its analysis and what was last published for it.
struct Workspace {
    analysis: Analysis,
    /// Per file: the findings and the text they were published for.
    published: BTreeMap<String, (Vec<Finding>, Option<Arc<str>>)>,
}

/// An open buffer.
struct Open {
    text: String,
    /// Its config repository and its path there, when it is in one.
    place: Option<(PathBuf, String)>,
}

/// How the client lets the server watch files: `None` when it cannot
/// register watchers dynamically.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Watching {
    /// Glob patterns relative to a base URI (LSP 3.17 `RelativePattern`).
    Relative,
    /// Glob patterns as absolute paths.
    Absolute,
}

/// What the server watches in each config repository: the files the loader
/// reads, and the two directories themselves (a branch switch can add or
/// remove one as a whole). Every entry of the directories counts, not only
/// `*.toml`: a stray file there is a finding too. `offerings.json` is the
/// zone offerings file of the repository (DESIGN §10).
pub const WATCHED: [&str; 7] = [
    "amiset.toml",
    "SCOPES",
    "offerings.json",
    "ami-sets",
    "ami-sets/*",
    "worker-types",
    "worker-types/*",
];

pub(crate) struct Server {
    limits: Limits,
    workspaces: BTreeMap<PathBuf, Workspace>,
    open: HashMap<String, Open>,
    initialized: bool,
    shut_down: bool,
    /// The client sent `initialized`: requests to it may be sent.
    ready: bool,
    watching: Option<Watching>,
    /// The client applies workspace edits that create files
    /// (`workspaceEdit.documentChanges` and the `create` resource operation).
    creates_files: bool,
    /// The workspace folders the client named in `initialize`.
    folders: Vec<PathBuf>,
    /// Config repositories whose files are watched.
    watched: BTreeSet<PathBuf>,
    /// Requests sent to the client and not answered yet: id → method.
    sent: BTreeMap<String, String>,
    next_request: u64,
    /// Messages to write after the current one is handled.
    outbox: Vec<Message>,
}

/// The error a handler returns: a JSON-RPC code and message.
type Failure = (i32, String);

fn invalid_params(e: impl std::fmt::Display) -> Failure {
    (ErrorCode::InvalidParams as i32, format!("invalid params: {e}"))
}

impl Server {
    fn new(limits: Limits) -> Self {
        Server {
            limits,
            workspaces: BTreeMap::new(),
            open: HashMap::new(),
            initialized: false,
            shut_down: false,
            ready: false,
            watching: None,
            creates_files: false,
            folders: Vec::new(),
            watched: BTreeSet::new(),
            sent: BTreeMap::new(),
            next_request: 1,
            outbox: Vec::new(),
        }
    }

    /// Runs `f`; when it panics, the state it may have left half-updated is
    /// rebuilt ([`Server::recover`]) before anything else is handled, and
    /// the result is `None`.
    fn guarded<T>(&mut self, what: &str, f: impl FnOnce(&mut Server) -> T) -> Option<T> {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(v) => Some(v),
            Err(_) => {
                eprintln!("amiset lsp: internal error while handling `{what}`; re-reading the repositories from disk");
                self.recover();
                None
            }
        }
    }

    /// Rebuilds every analysis from disk with the open buffers laid over it
    /// and publishes every file's diagnostics again (what was published
    /// before may be half-updated too). When even that fails, the analyses
    /// are dropped; they are read again when a file of theirs is next opened
    /// or edited.
    fn recover(&mut self) {
        let roots: Vec<PathBuf> = self.workspaces.keys().cloned().collect();
        let rebuilt = catch_unwind(AssertUnwindSafe(|| {
            let mut out = Vec::new();
            for root in &roots {
                let before: Vec<String> = self
                    .workspaces
                    .get(root)
                    .map(|w| w.published.keys().cloned().collect())
                    .unwrap_or_default();
                self.workspaces.remove(root);
                let loaded = self.load(root).is_some();
                if loaded {
                    out.extend(self.publish(root));
                }
                let now = self.workspaces.get(root);
                for file in before {
                    if !now.is_some_and(|w| w.published.contains_key(&file)) {
                        out.push(cleared(root, &file));
                    }
                }
            }
            out
        }));
        match rebuilt {
            Ok(published) => self.queue(published),
            Err(_) => {
                eprintln!("amiset lsp: re-reading the repositories failed too; they are read again on the next edit");
                self.workspaces.clear();
            }
        }
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let method = req.method.clone();
        let result = self
            .guarded(&method, |s| s.dispatch(req))
            .unwrap_or_else(|| Err((ErrorCode::InternalError as i32, format!("internal error while handling `{method}`"))));
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code, message),
        }
    }

    /// A response from the client to a request of the server's.
    fn response(&mut self, r: Response) {
        let id = match serde_json::to_value(&r.id) {
            Ok(Value::String(s)) => s,
            Ok(v) => v.to_string(),
            Err(_) => return,
        };
        let Some(method) = self.sent.remove(&id) else {
            eprintln!("amiset lsp: a response to `{id}`, which the server did not send");
            return;
        };
        if let Err(e) = r.response_result {
            eprintln!("amiset lsp: the client refused `{method}`: {} ({})", e.message, e.code);
            if method == request::RegisterCapability::METHOD {
                // Nothing is watched after all; stop asking.
                self.watching = None;
            }
        }
    }

    /// Sends a request to the client.
    fn send_request(&mut self, method: &str, params: Value) {
        let id = format!("amiset/{}", self.next_request);
        self.next_request += 1;
        self.sent.insert(id.clone(), method.to_string());
        self.outbox
            .push(Message::Request(Request::new(id.into(), method.to_string(), params)));
    }

    fn queue(&mut self, published: Vec<PublishDiagnosticsParams>) {
        for p in published {
            let n = Notification::new(notification::PublishDiagnostics::METHOD.to_string(), p);
            self.outbox.push(Message::Notification(n));
        }
    }

    fn dispatch(&mut self, req: Request) -> Result<Value, Failure> {
        let Request { method, params, .. } = req;
        if method == request::Initialize::METHOD {
            self.initialized = true;
            self.client_said(&params);
            return Ok(capabilities());
        }
        if !self.initialized {
            return Err((ErrorCode::ServerNotInitialized as i32, "the server is not initialized".into()));
        }
        if self.shut_down {
            return Err((ErrorCode::InvalidRequest as i32, "the server is shut down".into()));
        }
        match method.as_str() {
            request::Shutdown::METHOD => {
                self.shut_down = true;
                Ok(Value::Null)
            }
            request::GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = serde_json::from_value(params).map_err(invalid_params)?;
                let at = &p.text_document_position_params;
                Ok(json!(self.view(&at.text_document.uri).and_then(|v| v.definition(at.position))))
            }
            request::References::METHOD => {
                let p: lsp_types::ReferenceParams = serde_json::from_value(params).map_err(invalid_params)?;
                let at = &p.text_document_position;
                let found = self
                    .view(&at.text_document.uri)
                    .and_then(|v| v.references(at.position, p.context.include_declaration));
                Ok(json!(found))
            }
            request::HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = serde_json::from_value(params).map_err(invalid_params)?;
                let at = &p.text_document_position_params;
                Ok(json!(self.view(&at.text_document.uri).and_then(|v| v.hover(at.position))))
            }
            request::Completion::METHOD => {
                let p: lsp_types::CompletionParams = serde_json::from_value(params).map_err(invalid_params)?;
                let at = &p.text_document_position;
                Ok(json!(self.view(&at.text_document.uri).map(|v| v.completion(at.position))))
            }
            request::CodeActionRequest::METHOD => {
                let p: lsp_types::CodeActionParams = serde_json::from_value(params).map_err(invalid_params)?;
                Ok(json!(self.view(&p.text_document.uri).map(|v| v.code_actions(
                    p.range,
                    &self.limits,
                    self.creates_files
                ))))
            }
            _ => Err((ErrorCode::MethodNotFound as i32, format!("unknown method `{method}`"))),
        }
    }

    /// Reads what the server needs from `initialize`'s params: whether the
    /// client can register file watchers, and its workspace folders
    /// (`rootUri` when it names none). Read leniently: a client that leaves
    /// something out gets the behaviour without it.
    fn client_said(&mut self, params: &Value) {
        let watched = params.pointer("/capabilities/workspace/didChangeWatchedFiles");
        let flag = |name: &str| watched.and_then(|w| w.get(name)).and_then(Value::as_bool) == Some(true);
        self.watching = match (flag("dynamicRegistration"), flag("relativePatternSupport")) {
            (false, _) => None,
            (true, true) => Some(Watching::Relative),
            (true, false) => Some(Watching::Absolute),
        };
        let edit = params.pointer("/capabilities/workspace/workspaceEdit");
        self.creates_files = edit.and_then(|e| e.get("documentChanges")).and_then(Value::as_bool) == Some(true)
            && edit
                .and_then(|e| e.get("resourceOperations"))
                .and_then(Value::as_array)
                .is_some_and(|ops| ops.iter().any(|o| o == "create"));
        let uris: Vec<&str> = match params.get("workspaceFolders").and_then(Value::as_array) {
            Some(folders) => folders.iter().filter_map(|f| f.get("uri").and_then(Value::as_str)).collect(),
            None => params.get("rootUri").and_then(Value::as_str).into_iter().collect(),
        };
        self.folders = uris
            .into_iter()
            .filter_map(|u| u.parse::<Uri>().ok())
            .filter_map(|u| path_of(&u))
            .collect();
    }

    /// After `initialized`: the config repository of each workspace folder
    /// is read and diagnosed before any file is opened, and watched.
    fn start(&mut self) {
        self.ready = true;
        let roots: BTreeSet<PathBuf> = self.folders.iter().filter_map(|f| root_of(f)).collect();
        for root in roots {
            if !self.workspaces.contains_key(&root) {
                self.load(&root);
            }
            let published = self.publish(&root);
            self.queue(published);
        }
        let loaded: Vec<PathBuf> = self.workspaces.keys().cloned().collect();
        for root in loaded {
            self.watch(&root);
        }
    }

    /// Registers the watchers of the config repository at `root` once, when
    /// the client can register them.
    fn watch(&mut self, root: &Path) {
        let Some(watching) = self.watching else { return };
        if !self.ready || self.watched.contains(root) {
            return;
        }
        self.watched.insert(root.to_path_buf());
        let base = uri_of(root);
        let watchers: Vec<Value> = WATCHED
            .iter()
            .map(|pattern| match watching {
                Watching::Relative => json!({"globPattern": {"baseUri": base.as_str(), "pattern": pattern}}),
                Watching::Absolute => json!({"globPattern": format!("{}/{pattern}", root.to_string_lossy().trim_end_matches('/'))}),
            })
            .collect();
        let id = format!("amiset-watch-{}", self.watched.len());
        self.send_request(
            request::RegisterCapability::METHOD,
            json!({"registrations": [{
                "id": id,
                "method": notification::DidChangeWatchedFiles::METHOD,
                "registerOptions": {"watchers": watchers},
            }]}),
        );
    }

    /// Handles a notification; queues the diagnostics to publish.
    fn notification(&mut self, n: Notification) {
        if !self.initialized || self.shut_down {
            return;
        }
        let root = match n.method.as_str() {
            notification::Initialized::METHOD => {
                self.start();
                None
            }
            notification::DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                self.open(&p.text_document.uri, p.text_document.text)
            }
            notification::DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(open) = self.open.get_mut(p.text_document.uri.as_str()) else {
                    return;
                };
                // Every change applies to the text the previous one left;
                // the buffer is replaced only once all are applied.
                let mut text = std::mem::take(&mut open.text);
                for change in p.content_changes {
                    text = text::apply_change(&text, change.range, &change.text);
                }
                open.text = text.clone();
                let place = open.place.clone();
                place.and_then(|(root, rel)| {
                    if !self.workspaces.contains_key(&root) {
                        // Dropped by a failed recovery: read it again (with the buffer).
                        self.load(&root)?;
                        return Some(root);
                    }
                    let content = self.buffer_content(&root, &rel, &text);
                    let ws = self.workspaces.get_mut(&root)?;
                    ws.analysis.update(&rel, Some(content));
                    Some(root)
                })
            }
            notification::DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(open) = self.open.remove(p.text_document.uri.as_str()) else {
                    return;
                };
                // Back to what the disk holds.
                open.place.and_then(|(root, rel)| self.reload(&root, &rel).then_some(root))
            }
            notification::DidChangeWatchedFiles::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidChangeWatchedFilesParams>(n.params) else {
                    return;
                };
                let mut roots = BTreeSet::new();
                for change in p.changes {
                    if let Some(root) = path_of(&change.uri).and_then(|path| self.disk_changed(&path)) {
                        roots.insert(root);
                    }
                }
                for root in roots {
                    let published = self.publish(&root);
                    self.queue(published);
                }
                None
            }
            _ => None,
        };
        if let Some(root) = root {
            let published = self.publish(&root);
            self.queue(published);
        }
    }

    /// A file or directory changed on disk (created, changed or deleted:
    /// the disk is read again either way). Returns the repository whose
    /// analysis changed. An open buffer keeps precedence over the disk.
    fn disk_changed(&mut self, path: &Path) -> Option<PathBuf> {
        // The innermost loaded repository that holds the path: found by
        // name, since `amiset.toml` itself may be what was deleted.
        let (root, rel) = self
            .workspaces
            .keys()
            .rev()
            .filter_map(|root| Some((root.clone(), relative(root, path)?)))
            .max_by_key(|(root, _)| root.components().count())?;
        if config::CONFIG_DIRS.contains(&rel.as_str()) {
            // A whole directory came or went: read the repository again.
            self.load(&root)?;
            return Some(root);
        }
        if !is_config_file(&rel) {
            return None;
        }
        let open = self
            .open
            .values()
            .any(|o| o.place.as_ref().is_some_and(|(r, p)| *r == root && *p == rel));
        if open {
            return None;
        }
        self.reload(&root, &rel).then_some(root)
    }

    /// What a buffer of `root`/`rel` is to the loader: its bytes, or over
    /// the size limit. A path that is on disk but not a regular file (a
    /// link, a directory) stays what the disk says: `check` reads the disk,
    /// and no buffer makes a link a config file.
    fn buffer_content(&self, root: &Path, rel: &str, text: &str) -> Content {
        if std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| !m.is_file())
            && let Ok(Some(disk)) = config::load::read_file(root, rel, &self.limits)
        {
            return disk;
        }
        if text.len() as u64 > self.limits.max_file_size {
            Content::TooLarge(text.len() as u64)
        } else {
            Content::Bytes(text.as_bytes().to_vec())
        }
    }

    fn open(&mut self, uri: &Uri, text: String) -> Option<PathBuf> {
        let place = path_of(uri).and_then(|p| place_of(&p));
        let key = uri.as_str().to_string();
        self.open.insert(
            key,
            Open {
                text: text.clone(),
                place: place.clone(),
            },
        );
        let (root, rel) = place?;
        if self.workspaces.contains_key(&root) {
            let content = self.buffer_content(&root, &rel, &text);
            if let Some(ws) = self.workspaces.get_mut(&root) {
                ws.analysis.update(&rel, Some(content));
            }
        } else {
            self.load(&root)?;
        }
        Some(root)
    }

    /// Reads the repository at `root` from disk, with the open buffers laid
    /// over it, and watches it. What was published for it is kept.
    fn load(&mut self, root: &Path) -> Option<()> {
        let mut inputs = match config::load::read_dir(root, &self.limits) {
            Ok(inputs) => inputs,
            Err(e) => {
                eprintln!("amiset lsp: {e}");
                return None;
            }
        };
        for open in self.open.values() {
            if let Some((r, rel)) = &open.place
                && r == root
            {
                inputs.set(rel, Some(self.buffer_content(root, rel, &open.text)));
            }
        }
        let analysis = Analysis::new(inputs, self.limits.clone());
        match self.workspaces.get_mut(root) {
            Some(ws) => ws.analysis = analysis,
            None => {
                self.workspaces.insert(
                    root.to_path_buf(),
                    Workspace {
                        analysis,
                        published: BTreeMap::new(),
                    },
                );
            }
        }
        self.watch(root);
        Some(())
    }

    /// Re-reads one file from disk; false when its repository is not loaded.
    fn reload(&mut self, root: &Path, rel: &str) -> bool {
        let content = match config::load::read_file(root, rel, &self.limits) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("amiset lsp: {e}");
                None
            }
        };
        match self.workspaces.get_mut(root) {
            Some(ws) => {
                ws.analysis.update(rel, content);
                true
            }
            None => false,
        }
    }

    /// The loaded repository and path of a file, if its repository is loaded.
    fn place_in_loaded(&self, path: &Path) -> Option<(PathBuf, String)> {
        let (root, rel) = place_of(path)?;
        self.workspaces.contains_key(&root).then_some((root, rel))
    }

    /// The diagnostics of every file of `root` whose findings or text changed since last published.
    fn publish(&mut self, root: &Path) -> Vec<PublishDiagnosticsParams> {
        let Some(ws) = self.workspaces.get_mut(root) else {
            return Vec::new();
        };
        let report = ws.analysis.report();
        let mut by_file: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for f in report.findings {
            // Findings about the whole run are shown on the policy file.
            let file = f.file.clone().unwrap_or_else(|| "amiset.toml".to_string());
            by_file.entry(file).or_default().push(f);
        }
        let mut out = Vec::new();
        let files: Vec<String> = by_file.keys().chain(ws.published.keys()).cloned().collect();
        let mut done = std::collections::BTreeSet::new();
        for file in files {
            if !done.insert(file.clone()) {
                continue;
            }
            let findings = by_file.remove(&file).unwrap_or_default();
            let source = report.sources.get(&file).cloned();
            let unchanged = ws.published.get(&file).is_some_and(|(f, s)| {
                *f == findings
                    && match (s, &source) {
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                        (None, None) => true,
                        _ => false,
                    }
            });
            if unchanged {
                continue;
            }
            let index = source.as_deref().map(LineIndex::new);
            let diagnostics = findings
                .iter()
                .map(|f| diagnostic(root, f, index.as_ref(), &report.sources))
                .collect();
            out.push(PublishDiagnosticsParams {
                uri: uri_of(&root.join(&file)),
                diagnostics,
                version: None,
            });
            if findings.is_empty() {
                ws.published.remove(&file);
            } else {
                ws.published.insert(file, (findings, source));
            }
        }
        out
    }

    /// What the features need to answer about one open or loaded file.
    fn view(&self, uri: &Uri) -> Option<features::View<'_>> {
        let path = path_of(uri)?;
        let (root, rel) = match self.open.get(uri.as_str()) {
            Some(open) => open.place.clone()?,
            None => self.place_in_loaded(&path)?,
        };
        let ws = self.workspaces.get(&root)?;
        let text: &str = match self.open.get(uri.as_str()) {
            Some(open) => &open.text,
            None => ws.analysis.source(&rel)?,
        };
        Some(features::View {
            root: self.workspaces.get_key_value(&root)?.0,
            rel,
            text,
            analysis: &ws.analysis,
        })
    }
}

/// The config repository of a file (the nearest ancestor directory with
/// `amiset.toml`) and the file's path in it, `/`-separated.
fn place_of(path: &Path) -> Option<(PathBuf, String)> {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.join("amiset.toml").is_file() {
            let rel = path.strip_prefix(d).ok()?;
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let rel = parts.join("/");
            let relevant =
                config::TOP_LEVEL_FILES.contains(&rel.as_str()) || config::CONFIG_DIRS.iter().any(|d| rel.starts_with(&format!("{d}/")));
            return relevant.then(|| (d.to_path_buf(), rel));
        }
        dir = d.parent();
    }
    None
}

/// The config repository a workspace folder is in: the folder itself or
/// its nearest ancestor with `amiset.toml`.
fn root_of(folder: &Path) -> Option<PathBuf> {
    folder.ancestors().find(|d| d.join("amiset.toml").is_file()).map(Path::to_path_buf)
}

/// `path` relative to `root`, `/`-separated, when it is inside.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Whether the loader reads the file at `rel` (a top-level file, or an entry of a config directory).
fn is_config_file(rel: &str) -> bool {
    config::TOP_LEVEL_FILES.contains(&rel)
        || config::CONFIG_DIRS.iter().any(|d| {
            rel.strip_prefix(d)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|n| !n.is_empty() && !n.contains('/'))
        })
}

/// An empty list of diagnostics for `file` of `root`.
fn cleared(root: &Path, file: &str) -> PublishDiagnosticsParams {
    PublishDiagnosticsParams {
        uri: uri_of(&root.join(file)),
        diagnostics: Vec::new(),
        version: None,
    }
}

/// A finding as an LSP diagnostic: its code, exact range, severity, help
/// after the message, secondary labels as related information.
/// `index` is the line index of the finding's file.
fn diagnostic(root: &Path, f: &Finding, index: Option<&LineIndex<'_>>, sources: &BTreeMap<String, Arc<str>>) -> Diagnostic {
    let range = match (index, &f.span) {
        (Some(index), Some(span)) => index.range(span),
        _ => lsp_types::Range::default(),
    };
    let mut message = f.message.clone();
    if let Some(help) = &f.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = f
        .labels
        .iter()
        .filter_map(|l| {
            let range = match index {
                Some(index) if f.file.as_deref() == Some(l.file.as_str()) => index.range(&l.span),
                _ => LineIndex::new(sources.get(&l.file)?).range(&l.span),
            };
            Some(DiagnosticRelatedInformation {
                location: Location::new(uri_of(&root.join(&l.file)), range),
                message: l.text.clone(),
            })
        })
        .collect();
    Diagnostic {
        range,
        severity: Some(match f.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Note => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(f.code.as_str().to_string())),
        source: Some("amiset".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Diagnostic::default()
    }
}

fn capabilities() -> Value {
    json!({
        "capabilities": {
            "textDocumentSync": {"openClose": true, "change": 2, "save": {"includeText": false}},
            "definitionProvider": true,
            "referencesProvider": true,
            "hoverProvider": true,
            "completionProvider": {"triggerCharacters": ["\"", "."]},
            "codeActionProvider": {"codeActionKinds": ["quickfix"]},
        },
        "serverInfo": {"name": "amiset", "version": env!("CARGO_PKG_VERSION")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "regions = [\"us-east-1\"]\n";
    const SET: &str = "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n";
    const LINUX: &str =
        "amiSetId = \"ubuntu\"\nmaxCapacity = 1\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[regions]]\nregion = \"us-east-1\"\n";

    /// The (file, code) of every finding, sorted.
    fn found(report: &crate::diag::Report) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = report
            .findings
            .iter()
            .map(|f| (f.file.clone().unwrap_or_default(), f.code.as_str().to_string()))
            .collect();
        out.sort();
        out
    }

    /// The (file, codes) of every queued publication, in order.
    fn queued(s: &mut Server, root: &Path) -> Vec<(String, Vec<String>)> {
        s.outbox
            .drain(..)
            .filter_map(|m| match m {
                Message::Notification(n) if n.method == notification::PublishDiagnostics::METHOD => {
                    let p: PublishDiagnosticsParams = serde_json::from_value(n.params).ok()?;
                    let file = path_of(&p.uri)?.strip_prefix(root).ok()?.to_string_lossy().into_owned();
                    let codes = p
                        .diagnostics
                        .iter()
                        .filter_map(|d| match &d.code {
                            Some(NumberOrString::String(c)) => Some(c.clone()),
                            _ => None,
                        })
                        .collect();
                    Some((file, codes))
                }
                _ => None,
            })
            .collect()
    }

    /// A config repository of `files` in a temporary directory, and its canonical root.
    fn repository(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn after_a_panic_every_analysis_is_rebuilt_from_disk_and_the_open_buffers() {
        let (_dir, root) = repository(&[
            ("amiset.toml", POLICY),
            ("ami-sets/ubuntu.toml", SET),
            ("worker-types/linux.toml", LINUX),
            ("worker-types/other.toml", LINUX),
        ]);
        let mut s = Server::new(Limits::default());
        s.initialized = true;
        // An open buffer that differs from the disk: it names a set that does not exist.
        let buffer = LINUX.replace("\"ubuntu\"", "\"missing\"");
        let uri = uri_of(&root.join("worker-types/linux.toml"));
        s.notification(Notification::new(
            notification::DidOpenTextDocument::METHOD.to_string(),
            json!({"textDocument": {"uri": uri.as_str(), "languageId": "toml", "version": 1, "text": buffer}}),
        ));
        assert_eq!(
            queued(&mut s, &root),
            [("worker-types/linux.toml".to_string(), vec!["ref::unknown-ami-set".to_string()])]
        );

        // A handler that panics halfway through updating the analysis: the
        // set is gone from it although it is on disk, other.toml is garbage.
        let result = s.guarded("test", |s| {
            let ws = s.workspaces.get_mut(&root).unwrap();
            ws.analysis.update("ami-sets/ubuntu.toml", None);
            ws.analysis.update("worker-types/other.toml", Some(Content::Bytes(b"= =".to_vec())));
            panic!("halfway through an update");
        });
        assert!(result.is_none());

        // The analysis is the disk with the buffer laid over it again: only
        // the buffer's unknown set is a finding; the set is used by other.toml.
        let report = s.workspaces[&root].analysis.report();
        assert_eq!(
            found(&report),
            [("worker-types/linux.toml".to_string(), "ref::unknown-ami-set".to_string())]
        );
        assert_eq!(report.sources.get("worker-types/other.toml").map(|t| &**t), Some(LINUX));
        // And everything was published again.
        assert_eq!(
            queued(&mut s, &root),
            [("worker-types/linux.toml".to_string(), vec!["ref::unknown-ami-set".to_string()])]
        );

        // A request answered after the panic sees the rebuilt analysis: the
        // set's references include other.toml from disk.
        let set_uri = uri_of(&root.join("ami-sets/ubuntu.toml"));
        let refs = s
            .view(&set_uri)
            .and_then(|v| v.references(lsp_types::Position::new(0, 0), false))
            .unwrap();
        let files: Vec<String> = refs
            .iter()
            .map(|l| l.uri.as_str().rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(files, ["other.toml"]);
    }

    #[test]
    fn a_published_file_that_is_clean_after_the_rebuild_is_cleared() {
        let (_dir, root) = repository(&[
            ("amiset.toml", POLICY),
            ("ami-sets/ubuntu.toml", SET),
            ("worker-types/linux.toml", LINUX),
        ]);
        let mut s = Server::new(Limits::default());
        s.initialized = true;
        s.load(&root).unwrap();
        assert!(s.publish(&root).is_empty());
        // A handler left the set out of the analysis and published that, then panicked.
        let result = s.guarded("test", |s| {
            s.workspaces.get_mut(&root).unwrap().analysis.update("ami-sets/ubuntu.toml", None);
            let p = s.publish(&root);
            s.queue(p);
            panic!("after publishing");
        });
        assert!(result.is_none());
        assert_eq!(
            queued(&mut s, &root),
            [
                ("worker-types/linux.toml".to_string(), vec!["ref::unknown-ami-set".to_string()]),
                ("worker-types/linux.toml".to_string(), vec![])
            ]
        );
    }
}
