//! `--format sarif`: SARIF 2.1.0, one rule per finding code.

use serde_json::{Value as Json, json};

use super::Options;
use crate::diag::{Code, Report, Severity, line_col};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// Every finding code as a SARIF reporting descriptor.
pub fn rules() -> Vec<Json> {
    Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "name": c.as_str(),
                "shortDescription": {"text": c.description()},
                "fullDescription": {"text": c.description()},
                "defaultConfiguration": {"level": level(c.default_severity())},
                "helpUri": format!("https://github.com/amiset/amiset#{}", c.as_str().replace("::", "").replace('-', "")),
            })
        })
        .collect()
}

pub(super) fn render(report: &Report, options: &Options) -> String {
    let results: Vec<Json> = report
        .findings
        .iter()
        .map(|f| {
            let rule_index = Code::ALL.iter().position(|c| *c == f.code).unwrap_or(0);
            let mut text = f.message.clone();
            if let Some(help) = &f.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let mut result = json!({
                "ruleId": f.code.as_str(),
                "ruleIndex": rule_index,
                "level": level(f.severity),
                "message": {"text": text},
            });
            if let Some(file) = &f.file {
                let mut region = json!({"startLine": 1, "startColumn": 1});
                if let (Some(span), Some(src)) = (&f.span, report.sources.get(file)) {
                    let (sl, sc) = line_col(src, span.start);
                    let (el, ec) = line_col(src, span.end.max(span.start));
                    region = json!({"startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec.max(if el == sl { sc } else { 1 })});
                }
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": super::repo_path(&options.path_prefix, file)},
                        "region": region,
                    }
                }]);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "amiset",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/amiset/amiset",
                "rules": rules(),
            }},
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}
