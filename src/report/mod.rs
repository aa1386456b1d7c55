//! Output formats for findings: `human` (miette's graphical report), `json`
//! (DESIGN §3), `github` (workflow-command annotations) and `sarif` (SARIF
//! 2.1.0).

mod human;
mod sarif;

use std::fmt::Write as _;

use serde::Serialize;

use crate::diag::{Located, Report};

/// How findings are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphical report with the source line, a label and help.
    #[default]
    Human,
    /// `{"findings": [...], "summary": {...}}`.
    Json,
    /// GitHub Actions workflow commands (`::error file=...`).
    Github,
    /// SARIF 2.1.0 for code scanning.
    Sarif,
}

/// Rendering options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Prefix for file paths in `github` and `sarif` output (the config
    /// directory relative to the repository root), e.g. `config/`.
    pub path_prefix: String,
    /// Colors in `human` output.
    pub color: bool,
    /// Terminal width for `human` output.
    pub width: Option<usize>,
}

/// Renders a report in `format`.
pub fn render(report: &Report, format: Format, options: &Options) -> String {
    match format {
        Format::Human => human::render(report, options),
        Format::Json => json(report),
        Format::Github => github(report, options),
        Format::Sarif => sarif::render(report, options),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: Vec<Located<'a>>,
    summary: Summary,
}

/// Counts by severity.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
}

impl Summary {
    pub fn of(report: &Report) -> Summary {
        Summary {
            errors: report.errors(),
            warnings: report.warnings(),
        }
    }
}

/// The `--format json` document.
pub fn json(report: &Report) -> String {
    let doc = JsonReport {
        findings: report.located(),
        summary: Summary::of(report),
    };
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// Escapes text for a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes text for a workflow command's property.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A finding's file (relative to the config directory, possibly leading out
/// of it with `..`) as a path from the repository root, given the config
/// directory `prefix` (`""` or `dir/`).
pub fn repo_path(prefix: &str, file: &str) -> String {
    let mut parts: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    for segment in file.split('/') {
        if segment == ".." && parts.last().is_some_and(|p| *p != "..") {
            parts.pop();
        } else {
            parts.push(segment);
        }
    }
    parts.join("/")
}

/// GitHub Actions annotations, one line per finding.
pub fn github(report: &Report, options: &Options) -> String {
    let mut out = String::new();
    for f in report.located() {
        let mut props = Vec::new();
        if let Some(file) = f.file {
            props.push(format!("file={}", escape_property(&repo_path(&options.path_prefix, file))));
            props.push(format!("line={}", f.line));
            props.push(format!("col={}", f.column));
        }
        props.push(format!("title={}", escape_property(f.code)));
        let mut message = sanitize(f.message);
        if let Some(help) = f.help {
            message.push_str("\nhelp: ");
            message.push_str(&sanitize(help));
        }
        // GitHub's workflow commands call a note `notice`.
        let command = match f.severity {
            crate::diag::Severity::Note => "notice",
            s => s.as_str(),
        };
        let _ = writeln!(out, "::{command} {}::{}", props.join(","), escape_data(&message));
    }
    out
}

/// Replaces control characters (terminal escape sequences among them) so
/// that values from a config file cannot drive the reader's terminal.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{fffd}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Finding};
    use std::sync::Arc;

    fn report() -> Report {
        let mut r = Report::default();
        r.sources.insert("worker-types/a.toml".into(), Arc::from("amiSetId = \"x\"\n"));
        r.findings.push(
            Finding::new(Code::UnknownAmiSet, "unknown set `x`, really: 100%")
                .at("worker-types/a.toml", 11..14)
                .help("did you mean `y`?"),
        );
        r
    }

    #[test]
    fn github_annotations_escape_properties_and_data() {
        let out = github(
            &report(),
            &Options {
                path_prefix: "cfg/".into(),
                ..Options::default()
            },
        );
        assert_eq!(
            out,
            "::error file=cfg/worker-types/a.toml,line=1,col=12,title=ref%3A%3Aunknown-ami-set::unknown set `x`, really: 100%25%0Ahelp: did you mean `y`?\n"
        );
    }

    #[test]
    fn json_has_summary_and_positions() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["summary"], serde_json::json!({"errors": 1, "warnings": 0}));
        assert_eq!(v["findings"][0]["line"], 1);
        assert_eq!(v["findings"][0]["column"], 12);
        assert_eq!(v["findings"][0]["code"], "ref::unknown-ami-set");
    }

    #[test]
    fn sanitize_removes_escape_sequences() {
        assert_eq!(sanitize("a\u{1b}[31mb"), "a\u{fffd}[31mb");
    }
}
