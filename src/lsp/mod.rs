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

use std::collections::{BTreeMap, HashMap};
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
                let published = catch_unwind(AssertUnwindSafe(|| server.notification(n))).unwrap_or_else(|_| {
                    eprintln!("amiset lsp: internal error while handling `{method}`");
                    Vec::new()
                });
                for p in published {
                    let n = Notification::new(notification::PublishDiagnostics::METHOD.to_string(), p);
                    transport::write(output, &Message::Notification(n))?;
                }
            }
            Message::Response(_) => {}
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

pub(crate) struct Server {
    limits: Limits,
    workspaces: BTreeMap<PathBuf, Workspace>,
    open: HashMap<String, Open>,
    initialized: bool,
    shut_down: bool,
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
        }
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let method = req.method.clone();
        let result = catch_unwind(AssertUnwindSafe(|| self.dispatch(req)))
            .unwrap_or_else(|_| Err((ErrorCode::InternalError as i32, format!("internal error while handling `{method}`"))));
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code, message),
        }
    }

    fn dispatch(&mut self, req: Request) -> Result<Value, Failure> {
        let Request { method, params, .. } = req;
        if method == request::Initialize::METHOD {
            self.initialized = true;
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
                Ok(json!(
                    self.view(&p.text_document.uri).map(|v| v.code_actions(p.range, &self.limits))
                ))
            }
            _ => Err((ErrorCode::MethodNotFound as i32, format!("unknown method `{method}`"))),
        }
    }

    /// Handles a notification; returns the diagnostics to publish.
    fn notification(&mut self, n: Notification) -> Vec<PublishDiagnosticsParams> {
        if !self.initialized || self.shut_down {
            return Vec::new();
        }
        let root = match n.method.as_str() {
            notification::DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                self.open(&p.text_document.uri, p.text_document.text)
            }
            notification::DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                let Some(open) = self.open.get_mut(p.text_document.uri.as_str()) else {
                    return Vec::new();
                };
                for change in p.content_changes {
                    match change.range {
                        None => open.text = change.text,
                        Some(range) => {
                            let idx = LineIndex::new(&open.text);
                            let (a, b) = (idx.offset(range.start), idx.offset(range.end));
                            if a <= b {
                                open.text.replace_range(a..b, &change.text);
                            }
                        }
                    }
                }
                let (text, place) = (open.text.clone(), open.place.clone());
                place.and_then(|(root, rel)| {
                    let content = self.buffer_content(&text);
                    let ws = self.workspaces.get_mut(&root)?;
                    ws.analysis.update(&rel, Some(content));
                    Some(root)
                })
            }
            notification::DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                let Some(open) = self.open.remove(p.text_document.uri.as_str()) else {
                    return Vec::new();
                };
                // Back to what the disk holds.
                open.place.and_then(|(root, rel)| self.reload(&root, &rel).then_some(root))
            }
            notification::DidChangeWatchedFiles::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidChangeWatchedFilesParams>(n.params) else {
                    return Vec::new();
                };
                let mut roots = Vec::new();
                for change in p.changes {
                    if self.open.contains_key(change.uri.as_str()) {
                        continue;
                    }
                    if let Some((root, rel)) = path_of(&change.uri).and_then(|p| self.place_in_loaded(&p))
                        && self.reload(&root, &rel)
                    {
                        roots.push(root);
                    }
                }
                roots.sort();
                roots.dedup();
                return roots.iter().flat_map(|r| self.publish(r)).collect();
            }
            _ => None,
        };
        root.map(|r| self.publish(&r)).unwrap_or_default()
    }

    /// What a buffer is to the loader: its bytes, or over the size limit.
    fn buffer_content(&self, text: &str) -> Content {
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
            let content = self.buffer_content(&text);
            if let Some(ws) = self.workspaces.get_mut(&root) {
                ws.analysis.update(&rel, Some(content));
            }
        } else {
            self.load(&root)?;
        }
        Some(root)
    }

    /// Reads the repository at `root` from disk, with the open buffers laid over it.
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
                inputs.set(rel, Some(self.buffer_content(&open.text)));
            }
        }
        let analysis = Analysis::new(inputs, self.limits.clone());
        self.workspaces.insert(
            root.to_path_buf(),
            Workspace {
                analysis,
                published: BTreeMap::new(),
            },
        );
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
            "textDocumentSync": {"openClose": true, "change": 1, "save": {"includeText": false}},
            "definitionProvider": true,
            "referencesProvider": true,
            "hoverProvider": true,
            "completionProvider": {"triggerCharacters": ["\"", "."]},
            "codeActionProvider": {"codeActionKinds": ["quickfix"]},
        },
        "serverInfo": {"name": "amiset", "version": env!("CARGO_PKG_VERSION")},
    })
}
