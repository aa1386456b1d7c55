//! The config repository (DESIGN §1): which files there are, parsed with
//! spans, validated against their schemas, and turned into the typed model.
//!
//! Files come in as [`Inputs`] from any source (the work tree, the Git index,
//! a Git tree), so that `check`, `check --staged`, `authorize` and `diff` all
//! see a repository the same way.

pub mod doc;
pub mod edit;
pub mod load;
pub mod model;
pub mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rayon::prelude::*;

use crate::diag::{Code, Finding, Report};
use crate::schema::{self, Kind};
use doc::Doc;
pub use model::{
    AmiEntry, AmiSet, Arch, InstanceTypeSpec, LaunchSpec, Layer, LegacyPolicy, Lifecycle, Policy, PoolSettings, Privileged, RegionSpec,
    Revoked, Source, SourceName, Taskcluster, UnknownTypePolicy, Virt, WorkerManagerSettings, WorkerType, ZoneLaunchSpec,
};

/// Files at the top of the config directory that amiset reads.
pub const TOP_LEVEL_FILES: [&str; 3] = ["amiset.toml", "SCOPES", crate::offerings::FILE];
/// Directories whose every entry is a config file.
pub const CONFIG_DIRS: [&str; 2] = ["ami-sets", "worker-types"];

/// Resource limits for untrusted repositories.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_size: u64,
    /// Most entries in `ami-sets/` plus `worker-types/`.
    pub max_files: usize,
    /// Most resolved launch specifications in one compile.
    pub max_launch_specs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 1024 * 1024,
            max_files: 100_000,
            max_launch_specs: 1_000_000,
        }
    }
}

/// What was found at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A symbolic link (never followed).
    Symlink,
    /// Something other than a regular file; the text says what.
    NotAFile(&'static str),
    /// A regular file over the size limit, with its size.
    TooLarge(u64),
}

/// One entry of a config repository, by path relative to the config directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    pub path: String,
    pub content: Content,
}

/// The raw files of a config repository, from whatever source.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub files: Vec<InputFile>,
}

/// What a path in the config directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `amiset.toml`.
    Policy,
    /// `SCOPES`.
    Scopes,
    /// `ami-sets/<id>.toml`.
    AmiSet,
    /// `worker-types/<name>.toml`.
    WorkerType,
    /// `offerings.json`.
    Offerings,
}

impl Inputs {
    /// Sets the content at `path`, replacing what was there, or adding the
    /// file where [`load::read_dir`] would have listed it (top-level files
    /// first, then the entries of each directory in name order); `None`
    /// removes it. Editors overlay their unsaved buffers this way.
    pub fn set(&mut self, path: &str, content: Option<Content>) {
        let pos = self.files.iter().position(|f| f.path == path);
        match (pos, content) {
            (Some(i), Some(content)) => self.files[i].content = content,
            (Some(i), None) => {
                self.files.remove(i);
            }
            (None, Some(content)) => {
                fn rank(p: &str) -> (usize, usize, &str) {
                    match TOP_LEVEL_FILES.iter().position(|t| *t == p) {
                        Some(i) => (0, i, ""),
                        None => (1, 0, p),
                    }
                }
                let key = rank(path);
                let at = self.files.iter().position(|f| rank(&f.path) > key).unwrap_or(self.files.len());
                self.files.insert(
                    at,
                    InputFile {
                        path: path.to_string(),
                        content,
                    },
                );
            }
            (None, None) => {}
        }
    }
}

/// A loaded config repository: every document that parsed, and the typed
/// model of every document that also passed its schema.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub policy: Policy,
    /// `amiset.toml`, when present and parsed.
    pub policy_doc: Option<Doc>,
    /// The text of `SCOPES`, when present and readable.
    pub scopes_source: Option<Arc<str>>,
    pub ami_sets: BTreeMap<String, AmiSet>,
    pub worker_types: BTreeMap<String, WorkerType>,
    /// Every parsed document, by path.
    pub docs: BTreeMap<String, Doc>,
    /// Ids of every AMI set file, valid or not (so references to a broken set are not also "unknown").
    pub set_ids: BTreeSet<String>,
    /// Names of every worker type file, valid or not.
    pub worker_names: BTreeSet<String>,
    /// `offerings.json`, when present and valid.
    pub offerings: Option<crate::offerings::Offerings>,
    /// Whether `offerings.json` exists (valid or not).
    pub offerings_present: bool,
    /// Whether `amiset.toml` exists but did not load (so `policy` is the
    /// default, and what it would define, such as teams, is unknown).
    pub policy_broken: bool,
}

impl Config {
    pub fn set_doc(&self, id: &str) -> Option<&Doc> {
        self.docs.get(&format!("ami-sets/{id}.toml"))
    }

    pub fn worker_doc(&self, name: &str) -> Option<&Doc> {
        self.docs.get(&format!("worker-types/{name}.toml"))
    }

    /// The worker config of `wt` (DESIGN §10): its AMI set's `[workerConfig]`
    /// deep-merged under its `userData` (tables merge key by key; the worker
    /// type's arrays and scalars win).
    pub fn worker_config(&self, wt: &WorkerType) -> serde_json::Map<String, serde_json::Value> {
        let set = wt.ami_set_id.as_deref().and_then(|id| self.ami_sets.get(id));
        let mut merged = set.and_then(|s| s.worker_config.clone()).unwrap_or_default();
        crate::resolve::merge(&mut merged, &wt.user_data);
        merged
    }

    /// The worker pool `wt` exports as (`<provisionerId>/<workerType>`,
    /// DESIGN §10): its own `[taskcluster]` over amiset.toml's, the workerType
    /// defaulting to the file stem; `None` without a provisionerId.
    pub fn worker_pool_id(&self, wt: &WorkerType) -> Option<String> {
        let own = wt.taskcluster.as_ref();
        let provisioner = own
            .and_then(|o| o.provisioner_id.as_deref())
            .or(self.policy.taskcluster.provisioner_id.as_deref())?;
        let worker_type = own.and_then(|o| o.worker_type.as_deref()).unwrap_or(&wt.name);
        Some(format!("{provisioner}/{worker_type}"))
    }
}

/// Whether `id` is a valid AMI set id or worker type name.
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 38
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Quotes a file name for a message, escaping control and non-ASCII characters.
pub fn quote_name(name: &str) -> String {
    format!("`{}`", name.escape_debug())
}

/// Loads a config repository from its raw files: layout, parse, schema and
/// model. Cross-file checks are [`crate::check`]'s.
pub fn load(inputs: &Inputs, limits: &Limits) -> (Config, Report) {
    let layout = layout(inputs, limits);
    let mut report = Report {
        findings: layout.findings,
        ..Report::default()
    };
    let mut config = Config {
        set_ids: layout.set_ids,
        worker_names: layout.worker_names,
        ..Config::default()
    };
    // Parse and validate every file in parallel; the policy is needed by nothing here.
    let parsed: Vec<Parsed> = layout
        .entries
        .par_iter()
        .map(|(i, role, stem)| parse_file(&inputs.files[*i], *role, stem))
        .collect();
    for p in parsed {
        let file = config.apply(p);
        report.findings.extend(file.findings);
        if let Some(text) = file.source {
            report.sources.insert(file.path, text);
        }
    }
    (config, report)
}

/// Which files of a repository are config files, and what is wrong with
/// its layout (stray files, invalid names, case collisions, limits).
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Index into `Inputs::files`, role, and stem (empty for top-level files) of every file to parse.
    pub entries: Vec<(usize, Role, String)>,
    pub findings: Vec<Finding>,
    /// Ids of every AMI set file, valid or not.
    pub set_ids: BTreeSet<String>,
    /// Names of every worker type file, valid or not.
    pub worker_names: BTreeSet<String>,
}

/// Whether two names are one name to a case-insensitive file system:
/// equal after Unicode lower-casing (as APFS folds, `K` KELVIN SIGN is `k`)
/// or upper-casing (as NTFS's upcase table, `ſ` LONG S is `S`).
pub fn same_ignoring_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase() || a.to_uppercase() == b.to_uppercase()
}

/// The config path that `path` (relative to the config directory) equals
/// except for case, when it is not that path exactly: `AMISET.toml`,
/// `Scopes`, `Ami-Sets` or anything below it. A case-insensitive checkout
/// reads such a path as config, so it is refused (`config::case-variant`).
pub fn case_variant_of(path: &str) -> Option<&'static str> {
    let first = path.split('/').next().unwrap_or_default();
    config_name_like(first).filter(|real| first != *real)
}

/// The top-level config name (`amiset.toml`, `SCOPES`, `offerings.json`,
/// `ami-sets`, `worker-types`) that `name` equals, ignoring case.
fn config_name_like(name: &str) -> Option<&'static str> {
    TOP_LEVEL_FILES
        .iter()
        .chain(CONFIG_DIRS.iter())
        .find(|real| same_ignoring_case(name, real))
        .copied()
}

/// For a repository path, the config path of the config directory `dir`
/// (`""` for the root) it equals except for case, when it is not that path
/// exactly: `Fleet/SCOPES` or `fleet/Ami-Sets/x.toml` for `fleet`.
pub fn case_variant_in(dir: &str, path: &str) -> Option<String> {
    let dir: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() <= dir.len() || !dir.iter().zip(&parts).all(|(d, p)| same_ignoring_case(d, p)) {
        return None;
    }
    let first = parts[dir.len()];
    let real = config_name_like(first)?;
    let exact = dir.iter().zip(&parts).all(|(d, p)| d == p) && first == real;
    (!exact).then(|| {
        let mut out: Vec<&str> = dir.clone();
        out.push(real);
        out.join("/")
    })
}

/// Entries for the names of a config directory that equal a config path
/// except for case; their content is never read, [`layout`] reports them.
pub fn case_variant_inputs<I: IntoIterator<Item = String>>(names: I) -> Vec<InputFile> {
    let mut out: Vec<InputFile> = names
        .into_iter()
        .filter(|n| case_variant_of(n).is_some())
        .map(|path| InputFile {
            path,
            content: Content::NotAFile("a case variant of a config path"),
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The role of `path` and its stem, when it names a file amiset reads
/// (it may still have an invalid name; [`layout`] says so).
pub fn role_of(path: &str) -> Option<(Role, &str)> {
    match path {
        "amiset.toml" => return Some((Role::Policy, "")),
        "SCOPES" => return Some((Role::Scopes, "")),
        crate::offerings::FILE => return Some((Role::Offerings, "")),
        _ => {}
    }
    let (dir, name) = path.split_once('/')?;
    let role = match dir {
        "ami-sets" => Role::AmiSet,
        "worker-types" => Role::WorkerType,
        _ => return None,
    };
    let stem = name.strip_suffix(".toml").filter(|_| !name.contains('/'))?;
    Some((role, stem))
}

/// The layout pass of [`load`]: reads no file content.
pub fn layout(inputs: &Inputs, limits: &Limits) -> Layout {
    let mut out = Layout::default();
    let report = &mut out.findings;
    let mut dir_entries = 0usize;
    let mut lower_stems: BTreeMap<(Role, String), &str> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();

    for (index, file) in inputs.files.iter().enumerate() {
        let path = file.path.as_str();
        // A malformed Git tree can list a name twice; reading both would mix
        // one file's findings with the other's text.
        if !seen.insert(path) {
            report.push(
                Finding::new(Code::CaseCollision, format!("{} appears more than once", quote_name(path)))
                    .in_file(path)
                    .help("the tree lists two entries with this name; only the first was read"),
            );
            continue;
        }
        if let Some(role) = match path {
            "amiset.toml" => Some(Role::Policy),
            "SCOPES" => Some(Role::Scopes),
            crate::offerings::FILE => Some(Role::Offerings),
            _ => None,
        } {
            out.entries.push((index, role, String::new()));
            continue;
        }
        if CONFIG_DIRS.contains(&path) {
            report.push(content_finding(path, &file.content, "directory"));
            continue;
        }
        if let Some(real) = case_variant_of(path) {
            report.push(
                Finding::new(
                    Code::CaseVariant,
                    format!("{} differs from the config path `{real}` only by case", quote_name(path)),
                )
                .in_file(path)
                .help(format!(
                    "a case-insensitive checkout reads it as `{real}`, which no scope would have guarded; rename it to `{real}` or remove it"
                )),
            );
            continue;
        }
        let Some((dir, name)) = path.split_once('/') else { continue };
        let role = match dir {
            "ami-sets" => Role::AmiSet,
            "worker-types" => Role::WorkerType,
            _ => continue,
        };
        dir_entries += 1;
        if dir_entries > limits.max_files {
            if dir_entries == limits.max_files + 1 {
                report.push(
                    Finding::new(
                        Code::TooManyFiles,
                        format!("more than {} files in `ami-sets/` and `worker-types/`", limits.max_files),
                    )
                    .help("raise `--max-files` if this repository is really this large"),
                );
            }
            continue;
        }
        let what = if role == Role::AmiSet { "AMI set" } else { "worker type" };
        let Some(stem) = name.strip_suffix(".toml").filter(|_| !name.contains('/')) else {
            report.push(
                Finding::new(Code::StrayFile, format!("{} in `{dir}/` is not a {what} file", quote_name(name)))
                    .in_file(path)
                    .help(format!("only `<id>.toml` files belong in `{dir}/`; move other files elsewhere")),
            );
            continue;
        };
        if !is_valid_id(stem) {
            report.push(
                Finding::new(Code::InvalidName, format!("{} is not a valid {what} name", quote_name(stem)))
                    .in_file(path)
                    .help("names match `^[A-Za-z0-9][A-Za-z0-9_-]{0,37}$`"),
            );
            continue;
        }
        if let Some(other) = lower_stems.insert((role, stem.to_ascii_lowercase()), path) {
            report.push(
                Finding::new(Code::CaseCollision, format!("`{path}` and `{other}` differ only by case"))
                    .in_file(path)
                    .help("they collide on case-insensitive file systems; rename one"),
            );
        }
        match role {
            Role::AmiSet => out.set_ids.insert(stem.to_string()),
            _ => out.worker_names.insert(stem.to_string()),
        };
        out.entries.push((index, role, stem.to_string()));
    }
    out
}

/// What one file contributed to a [`Config`]: its findings of parse and
/// schema, and its text.
#[derive(Clone, Debug)]
pub struct FileResult {
    pub path: String,
    pub findings: Vec<Finding>,
    pub source: Option<Arc<str>>,
}

impl Config {
    /// Adds one parsed file, replacing whatever the same file contributed
    /// before (so that an editor can re-parse a single file).
    pub fn apply(&mut self, p: Parsed) -> FileResult {
        self.forget(&p.path, p.role, &p.stem);
        if p.role == Role::Scopes {
            self.scopes_source = p.source.clone();
        }
        if p.role == Role::Offerings {
            self.offerings_present = true;
        }
        if p.role == Role::Policy {
            self.policy_broken = !matches!(p.model, Some(Model::Policy(_)));
        }
        match p.model {
            Some(Model::Policy(policy)) => self.policy = *policy,
            Some(Model::AmiSet(set)) => {
                self.ami_sets.insert(set.id.clone(), *set);
            }
            Some(Model::WorkerType(wt)) => {
                self.worker_types.insert(wt.name.clone(), *wt);
            }
            Some(Model::Offerings(o)) => self.offerings = Some(*o),
            None => {}
        }
        if let Some(doc) = p.doc {
            if p.role == Role::Policy {
                self.policy_doc = Some(doc.clone());
            }
            self.docs.insert(p.path.clone(), doc);
        }
        FileResult {
            path: p.path,
            findings: p.findings,
            source: p.source,
        }
    }

    /// Removes what the file at `path` (of `role`, with `stem`) contributed;
    /// the set of file names ([`Config::set_ids`], [`Config::worker_names`]) is the layout's and stays.
    pub fn forget(&mut self, path: &str, role: Role, stem: &str) {
        self.docs.remove(path);
        match role {
            Role::Policy => {
                self.policy = Policy::default();
                self.policy_doc = None;
                self.policy_broken = false;
            }
            Role::Scopes => self.scopes_source = None,
            Role::Offerings => {
                self.offerings = None;
                self.offerings_present = false;
            }
            Role::AmiSet => {
                self.ami_sets.remove(stem);
            }
            Role::WorkerType => {
                self.worker_types.remove(stem);
            }
        }
    }
}

/// The typed model of one file that passed its schema.
#[derive(Clone, Debug)]
pub enum Model {
    Policy(Box<Policy>),
    AmiSet(Box<AmiSet>),
    WorkerType(Box<WorkerType>),
    Offerings(Box<crate::offerings::Offerings>),
}

/// One file parsed and validated on its own ([`parse_file`]).
#[derive(Clone, Debug)]
pub struct Parsed {
    pub path: String,
    pub role: Role,
    pub stem: String,
    pub source: Option<Arc<str>>,
    pub doc: Option<Doc>,
    pub model: Option<Model>,
    pub findings: Vec<Finding>,
}

fn content_finding(path: &str, content: &Content, expected: &str) -> Finding {
    match content {
        Content::Symlink => Finding::new(Code::Symlink, format!("`{path}` is a symbolic link; links are not followed"))
            .in_file(path)
            .help(format!("replace the link with the {expected} itself")),
        Content::NotAFile(kind) => Finding::new(Code::NotAFile, format!("`{path}` is {kind}, not a {expected}"))
            .in_file(path)
            .help(format!("replace it with a regular {expected}, or remove it")),
        Content::TooLarge(size) => Finding::new(Code::FileTooLarge, format!("`{path}` is {size} bytes, over the size limit"))
            .in_file(path)
            .help("config files are small; raise `--max-file-size` if this one really must be this large"),
        Content::Bytes(_) => Finding::new(Code::NotAFile, format!("`{path}` is a file, not a {expected}"))
            .in_file(path)
            .help(format!("`{path}` must be a {expected}")),
    }
}

/// Parses and validates one file of `role` against its schema; `stem` is
/// the AMI set id or worker type name. Pure, and independent of every other file.
pub fn parse_file(file: &InputFile, role: Role, stem: &str) -> Parsed {
    let mut out = Parsed {
        path: file.path.clone(),
        role,
        stem: stem.to_string(),
        source: None,
        doc: None,
        model: None,
        findings: Vec::new(),
    };
    let bytes = match &file.content {
        Content::Bytes(b) => b,
        other => {
            out.findings.push(content_finding(&file.path, other, "file"));
            return out;
        }
    };
    let text: Arc<str> = match std::str::from_utf8(bytes) {
        Ok(t) => Arc::from(t),
        Err(e) => {
            let valid = e.valid_up_to();
            let lossy: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).as_ref());
            // The lossy text has the same prefix, so the offset stays exact;
            // the span covers the replacement character that stands for the bad byte.
            out.findings.push(
                Finding::new(Code::InvalidUtf8, format!("`{}` is not valid UTF-8", file.path))
                    .at(&file.path, valid..valid + char::REPLACEMENT_CHARACTER.len_utf8())
                    .label("invalid byte here")
                    .help("config files must be UTF-8 text"),
            );
            out.source = Some(lossy);
            return out;
        }
    };
    out.source = Some(text.clone());
    if role == Role::Scopes {
        return out;
    }
    if role == Role::Offerings {
        match crate::offerings::Offerings::parse(&text) {
            Ok(o) => out.model = Some(Model::Offerings(Box::new(o))),
            Err(e) => out.findings.push(
                Finding::new(Code::OfferingsInvalid, e.message)
                    .at(&file.path, e.span)
                    .label("here")
                    .help("regenerate it with `amiset ec2 offerings`, or fix it by hand: `{\"zones\": {\"us-east-1a\": [\"m5.large\", ...]}}`"),
            ),
        }
        return out;
    }
    let (doc, json) = match Doc::parse_json(&file.path, text) {
        Ok(parsed) => parsed,
        Err(f) => {
            out.findings.push(*f);
            return out;
        }
    };
    let kind = match role {
        Role::Policy => Kind::Policy,
        Role::AmiSet => Kind::AmiSet,
        _ => Kind::WorkerType,
    };
    let schema_findings = schema::validate(kind, &doc, &json);
    if schema_findings.is_empty() {
        let model = match role {
            Role::Policy => serde_json::from_value(json).map(|p| Model::Policy(Box::new(p))),
            Role::AmiSet => serde_json::from_value::<AmiSet>(json).map(|mut s| {
                s.id = stem.to_string();
                Model::AmiSet(Box::new(s))
            }),
            _ => serde_json::from_value::<WorkerType>(json).map(|mut w| {
                w.name = stem.to_string();
                Model::WorkerType(Box::new(w))
            }),
        };
        match model {
            Ok(m) => out.model = Some(m),
            // The schema should make this unreachable; report rather than panic.
            Err(e) => out
                .findings
                .push(Finding::new(Code::InvalidValue, format!("invalid value: {e}")).in_file(&file.path)),
        }
    }
    out.findings.extend(schema_findings);
    out.doc = Some(doc);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/` target `config_file`): the span of an
    /// invalid byte ended inside the replacement character of the lossy text,
    /// so slicing the source at the span panicked.
    #[test]
    fn invalid_utf8_span_covers_the_replacement_character() {
        let inputs = Inputs {
            files: vec![InputFile {
                path: "ami-sets/base.toml".into(),
                content: Content::Bytes(b"description = \"Base \xff image\"\n".to_vec()),
            }],
        };
        let (_, report) = load(&inputs, &Limits::default());
        let f = report
            .findings
            .iter()
            .find(|f| f.code == Code::InvalidUtf8)
            .expect("an invalid-utf8 finding");
        let text = &report.sources["ami-sets/base.toml"];
        let span = f.span.clone().expect("a span");
        assert_eq!(text.get(span), Some("\u{FFFD}"));
    }

    /// Found by fuzzing (`fuzz/` target `repository`): two inputs with the
    /// same path were both parsed, but only the last one's text was kept, so
    /// the first one's findings pointed past the end of the text reported.
    #[test]
    fn duplicate_path_is_read_once_and_reported() {
        let file = |text: &str| InputFile {
            path: "ami-sets/base.toml".into(),
            content: Content::Bytes(text.as_bytes().to_vec()),
        };
        let inputs = Inputs {
            files: vec![
                file("description = \"long enough to put a syntax error far in\"\n[[amis]\n"),
                file("x = 1\n"),
            ],
        };
        let (_, report) = load(&inputs, &Limits::default());
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.code == Code::CaseCollision && f.message.contains("more than once"))
        );
        let text = &report.sources["ami-sets/base.toml"];
        assert!(text.starts_with("description"), "the first entry is the one read");
        for f in &report.findings {
            if let Some(span) = &f.span {
                assert!(text.get(span.clone()).is_some(), "{:?} at {span:?} is outside the text", f.code);
            }
        }
    }
}
