//! What the server answers about a position in a file: definitions,
//! references, hover, completion and code actions. Every answer reads the
//! loaded [`Config`] of the file's repository (the same one `check` saw);
//! completion also reads the line being typed, which may not parse yet.

use std::collections::HashMap;
use std::path::Path;

use lsp_types::{
    CodeAction, CodeActionKind, CompletionItem, CompletionItemKind, CompletionTextEdit, CreateFile, DocumentChangeOperation,
    DocumentChanges, Documentation, GotoDefinitionResponse, Hover, HoverContents, Location, MarkupContent, MarkupKind, OneOf,
    OptionalVersionedTextDocumentIdentifier, Position, Range, ResourceOp, TextDocumentEdit, TextEdit, WorkspaceEdit,
};

use super::text::{LineIndex, uri_of};
use crate::check::incremental::Analysis;
use crate::config::doc::{Doc, Node, Value, escape};
use crate::config::{Config, Limits, Role};
use crate::diag::Code;
use crate::schema::{self, Kind};
use crate::{instance_types, migrate, regions, resolve};

/// One file of a loaded repository, as the features see it.
pub(crate) struct View<'a> {
    pub root: &'a Path,
    /// Path relative to the config directory.
    pub rel: String,
    /// The text the client has (the open buffer, or the file).
    pub text: &'a str,
    pub analysis: &'a Analysis,
}

/// What is under the cursor in a parsed document.
struct Hit<'a> {
    /// JSON pointer of the entry.
    pointer: String,
    /// On the key rather than the value.
    on_key: bool,
    node: &'a Node,
}

fn contains(span: &std::ops::Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

/// The innermost entry whose key or (scalar) value holds `offset`.
fn hit_in<'a>(node: &'a Node, offset: usize, pointer: &str) -> Option<Hit<'a>> {
    match &node.value {
        Value::Table(entries) => {
            for (key, value) in entries {
                let p = format!("{pointer}/{}", escape(&key.name));
                if contains(&key.span, offset) {
                    return Some(Hit {
                        pointer: p,
                        on_key: true,
                        node: value,
                    });
                }
                if let Some(hit) = hit_in(value, offset, &p) {
                    return Some(hit);
                }
            }
            None
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, n)| hit_in(n, offset, &format!("{pointer}/{i}"))),
        _ if contains(&node.span, offset) => Some(Hit {
            pointer: pointer.to_string(),
            on_key: false,
            node,
        }),
        _ => None,
    }
}

fn kind_of(rel: &str) -> Option<Kind> {
    match crate::config::role_of(rel)?.0 {
        Role::Policy => Some(Kind::Policy),
        Role::AmiSet => Some(Kind::AmiSet),
        Role::WorkerType => Some(Kind::WorkerType),
        Role::Scopes | Role::Offerings => None,
    }
}

fn is_ami_id(s: &str) -> bool {
    s.strip_prefix("ami-")
        .is_some_and(|h| (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

impl View<'_> {
    fn config(&self) -> &Config {
        self.analysis.config()
    }

    fn doc(&self) -> Option<&Doc> {
        self.config().docs.get(&self.rel)
    }

    fn offset(&self, pos: Position) -> usize {
        LineIndex::new(self.text).offset(pos)
    }

    fn hit(&self, pos: Position) -> Option<(&Doc, Hit<'_>)> {
        let doc = self.doc()?;
        // The parsed text is the buffer unless the buffer was too large to load.
        if *doc.source != *self.text {
            return None;
        }
        let hit = hit_in(doc.root(), self.offset(pos), "")?;
        Some((doc, hit))
    }

    fn location(&self, rel: &str, span: std::ops::Range<usize>) -> Location {
        let range = match self.config().docs.get(rel) {
            Some(doc) => LineIndex::new(&doc.source).range(&span),
            None => Range::default(),
        };
        Location::new(uri_of(&self.root.join(rel)), range)
    }

    /// The AMI set the cursor names: an `amiSetId` value, or the set file itself.
    fn set_under(&self, pos: Position) -> Option<String> {
        if let Some((Role::AmiSet, stem)) = crate::config::role_of(&self.rel) {
            return Some(stem.to_string());
        }
        let (_, hit) = self.hit(pos)?;
        (self.rel.starts_with("worker-types/") && hit.pointer == "/amiSetId")
            .then(|| hit.node.as_str().map(str::to_string))
            .flatten()
    }

    pub fn definition(&self, pos: Position) -> Option<GotoDefinitionResponse> {
        if self.rel == "SCOPES" {
            let team = word_at(self.text, self.offset(pos)).filter(|w| w.starts_with('@') && w.contains('/'))?;
            let policy = self.config().policy_doc.as_ref()?;
            let span = policy.root().pointer("/teams")?.entry(team).map(|(k, _)| k.span.clone())?;
            return Some(GotoDefinitionResponse::Scalar(self.location("amiset.toml", span)));
        }
        if !self.rel.starts_with("worker-types/") {
            return None;
        }
        let id = self.set_under(pos)?;
        self.config().set_ids.contains(&id).then(|| {
            let path = format!("ami-sets/{id}.toml");
            GotoDefinitionResponse::Scalar(Location::new(uri_of(&self.root.join(path)), Range::default()))
        })
    }

    pub fn references(&self, pos: Position, include_declaration: bool) -> Option<Vec<Location>> {
        let id = self.set_under(pos)?;
        let config = self.config();
        let mut out = Vec::new();
        if include_declaration && config.set_ids.contains(&id) {
            out.push(Location::new(
                uri_of(&self.root.join(format!("ami-sets/{id}.toml"))),
                Range::default(),
            ));
        }
        for name in &config.worker_names {
            let Some(doc) = config.worker_doc(name) else { continue };
            if doc.root().get("amiSetId").and_then(Node::as_str) == Some(id.as_str()) {
                out.push(self.location(&doc.path, doc.span_of_value("/amiSetId")));
            }
        }
        Some(out)
    }

    pub fn hover(&self, pos: Position) -> Option<Hover> {
        let (doc, hit) = self.hit(pos)?;
        let text = if self.rel.starts_with("worker-types/") && hit.pointer == "/amiSetId" && !hit.on_key {
            self.hover_set(hit.node.as_str()?)
        } else if let Some(ami) = hit.node.as_str().filter(|s| is_ami_id(s) && !hit.on_key) {
            self.hover_ami(ami)
        } else if hit.on_key {
            let kind = kind_of(&self.rel)?;
            let key = hit
                .pointer
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace("~1", "/")
                .replace("~0", "~");
            format!("`{key}`: {}", schema::description(kind, &hit.pointer)?)
        } else {
            return None;
        };
        let span = if hit.on_key {
            doc.root().key_span(&hit.pointer).unwrap_or(hit.node.span.clone())
        } else {
            hit.node.span.clone()
        };
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: Some(LineIndex::new(self.text).range(&span)),
        })
    }

    /// An AMI set: its images per region and arch, what this worker type resolves to, and who uses it.
    fn hover_set(&self, id: &str) -> String {
        let config = self.config();
        let Some(set) = config.ami_sets.get(id) else {
            return if config.set_ids.contains(id) {
                format!("AMI set `{id}` has errors; see `ami-sets/{id}.toml`")
            } else {
                format!("there is no AMI set `{id}`")
            };
        };
        let mut out = format!("**AMI set `{id}`**");
        if let Some(d) = &set.description {
            out.push_str(&format!("\n\n{d}"));
        }
        out.push_str("\n\n| region | arch | hvm | pv |\n| --- | --- | --- | --- |\n");
        for e in &set.amis {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                e.region,
                e.arch.as_str(),
                e.hvm.as_deref().unwrap_or("—"),
                e.pv.as_deref().unwrap_or("—")
            ));
        }
        let name = self.rel.trim_start_matches("worker-types/").trim_end_matches(".toml");
        if let Some(wt) = config.worker_types.get(name) {
            let resolved: Vec<String> = resolve::resolve_worker_type(wt, Some(set), &resolve::Builtin)
                .into_iter()
                .map(|r| match r {
                    Ok(r) => format!(
                        "- {} {}: `{}`",
                        r.region,
                        r.instance_type,
                        r.launch_spec.get("ImageId").and_then(|v| v.as_str()).unwrap_or("?")
                    ),
                    Err(u) => format!("- {}", u.message),
                })
                .collect();
            if !resolved.is_empty() {
                out.push_str(&format!("\n`{name}` resolves to:\n{}\n", resolved.join("\n")));
            }
        }
        let users: Vec<String> = config
            .worker_types
            .values()
            .filter(|w| w.ami_set_id.as_deref() == Some(id))
            .map(|w| format!("`{}`", w.name))
            .collect();
        out.push_str(&format!("\nused by {} worker type(s): {}", users.len(), users.join(", ")));
        out
    }

    /// An AMI id: every set entry and raw `ImageId` that names it.
    fn hover_ami(&self, ami: &str) -> String {
        let config = self.config();
        let mut uses = Vec::new();
        for set in config.ami_sets.values() {
            for e in &set.amis {
                for (virt, v) in [("hvm", &e.hvm), ("pv", &e.pv)] {
                    if v.as_deref() == Some(ami) {
                        uses.push(format!("- AMI set `{}`: {} {} {virt}", set.id, e.region, e.arch.as_str()));
                    }
                }
            }
        }
        for wt in config.worker_types.values() {
            for r in &wt.regions {
                if r.image_id() == Some(ami) {
                    uses.push(format!("- worker type `{}`: raw `ImageId` in {}", wt.name, r.region));
                }
            }
        }
        let mut out = format!("**`{ami}`**");
        if let Some(reason) = config.policy.revoked_reason(ami) {
            out.push_str(&format!("\n\nrevoked: {reason}"));
        }
        out.push_str(&format!("\n\nused in {} place(s):\n{}", uses.len(), uses.join("\n")));
        out
    }

    pub fn completion(&self, pos: Position) -> Vec<CompletionItem> {
        let offset = self.offset(pos);
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let prefix = &self.text[line_start..offset];
        let trimmed = prefix.trim_start();
        if let Some((key, value)) = trimmed.rsplit_once('=') {
            // The key is the last word before the last `=`: `zone` in
            // `{ launchSpec = { SubnetId = "s" }, zone = "us-`.
            let key = key.trim().rsplit(['{', ',', ' ', '\t']).next().unwrap_or_default();
            return self.value_completion(key.trim_matches('"'), value, offset, pos);
        }
        if !trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Vec::new();
        }
        let Some(kind) = kind_of(&self.rel) else { return Vec::new() };
        let pointer = table_pointer(kind, &self.text[..line_start]);
        schema::keys(kind, &pointer)
            .into_iter()
            .map(|(key, description)| CompletionItem {
                label: key.to_string(),
                kind: Some(CompletionItemKind::PROPERTY),
                detail: description.map(str::to_string),
                documentation: description.map(|d| {
                    Documentation::MarkupContent(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: d.to_string(),
                    })
                }),
                insert_text: Some(format!("{key} = ")),
                ..CompletionItem::default()
            })
            .collect()
    }

    fn value_completion(&self, key: &str, value: &str, offset: usize, pos: Position) -> Vec<CompletionItem> {
        let config = self.config();
        let (candidates, kind): (Vec<(String, Option<String>)>, CompletionItemKind) = match key {
            "amiSetId" => (
                config
                    .set_ids
                    .iter()
                    .map(|id| (id.clone(), config.ami_sets.get(id).and_then(|s| s.description.clone())))
                    .collect(),
                CompletionItemKind::REFERENCE,
            ),
            "region" => {
                let list: Vec<String> = match &config.policy.regions {
                    Some(r) => r.clone(),
                    None => regions::KNOWN.iter().map(|r| r.to_string()).collect(),
                };
                (list.into_iter().map(|r| (r, None)).collect(), CompletionItemKind::VALUE)
            }
            "instanceType" => (instance_types(value), CompletionItemKind::VALUE),
            // The zones of the enclosing `[[regions]]` entry: those offerings.json
            // knows, or without the file the region's usual lettered zones.
            "zone" => {
                let region = enclosing_region(self.text, offset);
                let zones: Vec<String> = match (&config.offerings, region) {
                    (Some(o), Some(r)) => o.zones.keys().filter(|z| crate::offerings::is_zone_of(z, r)).cloned().collect(),
                    (None, Some(r)) if config.policy.allows_region(r) => ('a'..='f').map(|c| format!("{r}{c}")).collect(),
                    _ => Vec::new(),
                };
                (zones.into_iter().map(|z| (z, None)).collect(), CompletionItemKind::VALUE)
            }
            "arch" => (
                ["x86_64", "arm64"].iter().map(|a| (a.to_string(), None)).collect(),
                CompletionItemKind::ENUM_MEMBER,
            ),
            "legacyImageIds" => (
                ["allow", "warn", "deny"].iter().map(|a| (a.to_string(), None)).collect(),
                CompletionItemKind::ENUM_MEMBER,
            ),
            _ => return Vec::new(),
        };
        // Replace what was typed of the value: after the opening quote, or the whole value with quotes.
        let typed = value.trim_start();
        let (start, quote) = match typed.find('"') {
            Some(q) => (offset - typed.len() + q + 1, false),
            None => (offset - typed.len(), true),
        };
        let range = Range::new(LineIndex::new(self.text).position(start), pos);
        candidates
            .into_iter()
            .map(|(label, detail)| CompletionItem {
                text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(
                    range,
                    if quote { format!("\"{label}\"") } else { label.clone() },
                ))),
                filter_text: Some(label.clone()),
                label,
                kind: Some(kind),
                detail,
                ..CompletionItem::default()
            })
            .collect()
    }

    // `WorkspaceEdit::changes` is lsp-types' `HashMap<Uri, _>`; a `Uri`'s
    // interior cache never changes its hash.
    #[allow(clippy::mutable_key_type)]
    /// The quick fixes of the findings in `range`; those that create a file
    /// only when the client can (`creates_files`).
    pub fn code_actions(&self, range: Range, limits: &Limits, creates_files: bool) -> Vec<CodeAction> {
        let report = self.analysis.report();
        let Some(source) = report.sources.get(&self.rel) else {
            return Vec::new();
        };
        let idx = LineIndex::new(source);
        let mut out = Vec::new();
        for f in report.findings.iter().filter(|f| f.file.as_deref() == Some(self.rel.as_str())) {
            let span = f.span.clone().unwrap_or(0..0);
            let r = idx.range(&span);
            if r.end < range.start || range.end < r.start {
                continue;
            }
            let diagnostic = super::diagnostic(self.root, f, Some(&idx), &report.sources);
            if let Some((fix_span, new_text)) = f.fix_edit(source) {
                let mut changes = HashMap::new();
                changes.insert(
                    uri_of(&self.root.join(&self.rel)),
                    vec![TextEdit::new(idx.range(&fix_span), new_text.clone())],
                );
                out.push(CodeAction {
                    title: format!("Replace with `{new_text}`"),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(WorkspaceEdit::new(changes)),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                });
            }
            // The set to create is the value the finding points at: the unknown
            // `amiSetId`, when it is no typo of a set (then the fix above is
            // the action) and no set's id in another case (the two files
            // would collide on a case-insensitive checkout).
            if creates_files
                && f.code == Code::UnknownAmiSet
                && f.fix.is_none()
                && let Some(id) = source.get(span.clone()).map(|v| v.trim_matches(['"', '\'']))
                && crate::config::is_valid_id(id)
                && !self.config().set_ids.iter().any(|s| crate::config::same_ignoring_case(s, id))
            {
                out.push(CodeAction {
                    title: format!("Create AMI set `{id}`"),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(self.create_set(id)),
                    ..CodeAction::default()
                });
            }
            if creates_files
                && f.code == Code::LegacyImageId
                && let Some(edit) = self.migrate_edit(limits)
            {
                out.push(CodeAction {
                    title: "Move the raw ImageIds into an AMI set (amiset migrate)".to_string(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic]),
                    edit: Some(edit),
                    ..CodeAction::default()
                });
            }
        }
        out
    }

    /// A new set file with one entry to fill in, in the first region the policy allows.
    fn create_set(&self, id: &str) -> WorkspaceEdit {
        let region = self
            .config()
            .policy
            .regions
            .as_ref()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| "us-east-1".to_string());
        let text = format!("description = \"{id}\"\n\n[[amis]]\nregion = \"{region}\"\nhvm = \"\"\n");
        let uri = uri_of(&self.root.join(format!("ami-sets/{id}.toml")));
        WorkspaceEdit {
            document_changes: Some(DocumentChanges::Operations(vec![
                DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
                    uri: uri.clone(),
                    options: None,
                    annotation_id: None,
                })),
                DocumentChangeOperation::Edit(TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier { uri, version: None },
                    edits: vec![OneOf::Left(TextEdit::new(Range::default(), text))],
                }),
            ])),
            ..WorkspaceEdit::default()
        }
    }

    /// `amiset migrate` for this worker type, as an edit of the open buffers.
    fn migrate_edit(&self, limits: &Limits) -> Option<WorkspaceEdit> {
        let name = self.rel.strip_prefix("worker-types/")?.strip_suffix(".toml")?;
        let options = migrate::Options {
            worker_types: vec![name.to_string()],
        };
        let plan = migrate::plan(self.analysis.inputs(), limits, &resolve::Builtin, &migrate::NoImageFacts, &options).ok()?;
        if plan.is_empty() {
            return None;
        }
        let mut ops = Vec::new();
        for change in &plan.changes {
            let uri = uri_of(&self.root.join(&change.path));
            let range = match &change.before {
                Some(before) => Range::new(Position::new(0, 0), LineIndex::new(before).position(before.len())),
                None => {
                    ops.push(DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
                        uri: uri.clone(),
                        options: None,
                        annotation_id: None,
                    })));
                    Range::default()
                }
            };
            ops.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier { uri, version: None },
                edits: vec![OneOf::Left(TextEdit::new(range, change.after.clone()))],
            }));
        }
        Some(WorkspaceEdit {
            document_changes: Some(DocumentChanges::Operations(ops)),
            ..WorkspaceEdit::default()
        })
    }
}

/// The whitespace-separated word around `offset`.
fn word_at(text: &str, offset: usize) -> Option<&str> {
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return None;
    }
    let start = text[..offset].rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let end = text[offset..].find(char::is_whitespace).map_or(text.len(), |i| offset + i);
    (start < end).then(|| &text[start..end])
}

/// The JSON pointer of the table that the last header before the cursor
/// opens (`[[regions]]` → `/regions/0`), `""` at the top.
fn table_pointer(kind: Kind, before: &str) -> String {
    let Some(header) = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[\"") && l.contains(']'))
    else {
        return String::new();
    };
    let inner = header.trim_start_matches('[');
    let inner = &inner[..inner.find(']').unwrap_or(inner.len())];
    let mut pointer = String::new();
    for segment in inner.split('.') {
        pointer.push('/');
        pointer.push_str(&escape(segment.trim().trim_matches('"')));
        // An array of tables: the header opens its last element.
        if schema::is_array(kind, &pointer) {
            pointer.push_str("/0");
        }
    }
    pointer
}

/// Instance types to offer for what was typed: the families of the
/// catalogue, then the sizes of the typed family, each with its
/// architecture and virtualization types.
fn instance_types(typed: &str) -> Vec<(String, Option<String>)> {
    let describe = |t: instance_types::InstanceType| {
        let virt = if t.pv() { "HVM and PV" } else { "HVM" };
        Some(format!("{}, {virt}", t.arch().as_str()))
    };
    let typed = typed.trim().trim_start_matches('"');
    match typed.split_once('.') {
        Some((family, _)) => instance_types::family_members(family)
            .map(|t| (t.name.to_string(), describe(t)))
            .collect(),
        None => instance_types::families()
            .iter()
            .filter_map(|f| instance_types::family_members(f).next().map(|t| (format!("{f}."), describe(t))))
            .collect(),
    }
}

/// The `region` of the `[[regions]]` entry around `offset`: the entry runs
/// from its header to the next table header, and `region = "..."` may come
/// before or after the cursor, spaced or not.
fn enclosing_region(text: &str, offset: usize) -> Option<&str> {
    let start = text[..offset].rfind("[[regions]]")?;
    let end = text[offset..].match_indices("\n[").next().map_or(text.len(), |(i, _)| offset + i);
    let block = &text[start..end];
    let mut at = 0;
    while let Some(i) = block[at..].find("region") {
        let here = at + i;
        at = here + "region".len();
        let before = block[..here].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '"') {
            continue;
        }
        let rest = block[at..].trim_start_matches([' ', '\t']);
        let Some(rest) = rest.strip_prefix('=') else { continue };
        let Some(value) = rest.trim_start_matches([' ', '\t']).strip_prefix('"') else {
            continue;
        };
        return value.split('"').next();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_headers_give_the_pointer_of_their_table() {
        assert_eq!(table_pointer(Kind::WorkerType, "a = 1\n"), "");
        assert_eq!(table_pointer(Kind::WorkerType, "[[regions]]\nregion = \"x\"\n"), "/regions/0");
        assert_eq!(
            table_pointer(Kind::WorkerType, "[[regions]]\n[regions.launchSpec]\n"),
            "/regions/0/launchSpec"
        );
        assert_eq!(table_pointer(Kind::AmiSet, "[[amis]]\n"), "/amis/0");
    }

    #[test]
    fn ami_ids_are_recognized_by_their_format() {
        assert!(is_ami_id("ami-0123abcd"));
        assert!(is_ami_id("ami-0123456789abcdef0"));
        assert!(!is_ami_id("ami-0123ABCD"));
        assert!(!is_ami_id("ami-0123abc"));
    }
}
