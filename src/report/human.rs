//! `--format human`: miette's graphical report, with the TOML source line, a
//! label on the exact span, secondary labels and help.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

use super::{Options, sanitize};
use crate::diag::{Finding, Report, Severity};

struct Diag<'a> {
    finding: &'a Finding,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
}

impl fmt::Debug for Diag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Diag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag<'_> {}

impl Diagnostic for Diag<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.finding.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.is_none() || self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Replaces control characters other than line breaks and tabs with `?`,
/// one per byte, so spans stay exact. A `\r` is a line break only before
/// `\n`; alone it would move the cursor back over the line.
fn sanitize_source(text: &str) -> String {
    let mut chars = text.chars().peekable();
    let mut out = String::with_capacity(text.len());
    while let Some(c) = chars.next() {
        let keep = match c {
            '\n' | '\t' => true,
            '\r' => chars.peek() == Some(&'\n'),
            c => !c.is_control(),
        };
        if keep {
            out.push(c);
        } else {
            // One `?` per byte (C1 controls take two), so spans stay exact.
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        }
    }
    out
}

pub(super) fn render(report: &Report, options: &Options) -> String {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width.unwrap_or(100))
        .with_links(false);
    let mut out = String::new();
    for finding in &report.findings {
        let text = finding.file.as_ref().and_then(|f| report.sources.get(f));
        let source = match (&finding.file, text) {
            (Some(file), Some(text)) if finding.span.is_some() => Some(NamedSource::new(sanitize(file), sanitize_source(text))),
            _ => None,
        };
        let mut labels = Vec::new();
        if let Some(span) = &finding.span {
            let len = text.map_or(0, |t| t.len());
            let span = span.start.min(len)..span.end.min(len);
            labels.push(LabeledSpan::new_primary_with_span(finding.label.as_deref().map(sanitize), span));
        }
        for label in &finding.labels {
            if Some(&label.file) == finding.file.as_ref() {
                labels.push(LabeledSpan::new_with_span(Some(sanitize(&label.text)), label.span.clone()));
            }
        }
        let mut message = sanitize(&finding.message);
        if source.is_none()
            && let Some(file) = &finding.file
        {
            message = format!("{message}\n  in {}", sanitize(file));
        }
        let diag = Diag {
            finding,
            message,
            help: finding.help.as_deref().map(sanitize),
            source,
            labels,
        };
        if handler.render_report(&mut out, &diag).is_err() {
            out.push_str(&diag.message);
        }
        out.push('\n');
    }
    let (errors, warnings, notes) = (report.errors(), report.warnings(), report.notes());
    if errors + warnings + notes > 0 {
        let notes = match notes {
            0 => String::new(),
            n => format!(", {n} {}", plural(n, "note")),
        };
        out.push_str(&format!(
            "{} {}, {} {}{notes}\n",
            errors,
            plural(errors, "error"),
            warnings,
            plural(warnings, "warning")
        ));
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { word.to_string() } else { format!("{word}s") }
}
