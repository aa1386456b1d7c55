//! The static page `OUT/index.html` (DESIGN §6): one self-contained HTML
//! file to browse AMI sets and worker types, with a filter box.
//!
//! [`render`] is a pure function of the config, the resolved launch specs
//! and the EC2 findings: no clock, every map sorted, so the page is part of
//! the deterministic artifacts. The CSS and the small script are embedded
//! inline (`page.css`, `page.js`) and pinned by hash in the page's Content
//! Security Policy, which also forbids every network load: the page works
//! from `file://` and any static host, and markup smuggled into a value could
//! not run even if escaping failed. Escaping never fails: every value goes
//! through [`escape`].

mod marks;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::config::Config;
use crate::config::model::{AmiSet, Arch, Virt, WorkerType};
use crate::diag::{Finding, Severity};
use crate::resolve::Resolved;

use marks::Marks;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Escapes `text` for HTML text and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A CSP source for inline content: `'sha256-<base64>'`.
fn csp_hash(content: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("'sha256-{}'", base64(&Sha256::digest(content.as_bytes())))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The anchor id of an AMI set's row.
pub fn set_anchor(id: &str) -> String {
    format!("set-{id}")
}

/// The anchor id of a worker type's row.
pub fn worker_anchor(name: &str) -> String {
    format!("wt-{name}")
}

/// What the page shows of one (region, instance type) of a worker type: the
/// image does not depend on the zone, so a region with zones is one cell
/// that lists the zones launching it (those `offerings.json` leaves out are
/// not listed). Compile keeps these, not the full launch specs, for the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub region: String,
    pub instance_type: String,
    pub image: String,
    /// The set entry's virtualization type, `None` for a legacy `ImageId`.
    pub virt: Option<Virt>,
    pub arch: Arch,
    /// Zones with a launch spec here, in the order of the worker type's
    /// `zones`; empty for a region without zones.
    pub zones: Vec<String>,
}

/// The cells of one worker type's resolved launch specs, in first-seen order.
pub fn cells(resolved: &[Resolved]) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::new();
    let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in resolved {
        let i = *index.entry((&r.region, &r.instance_type)).or_insert_with(|| {
            out.push(Cell {
                region: r.region.clone(),
                instance_type: r.instance_type.clone(),
                image: r.launch_spec.get("ImageId").and_then(|v| v.as_str()).unwrap_or("").to_string(),
                virt: r.virt,
                arch: r.arch,
                zones: Vec::new(),
            });
            out.len() - 1
        });
        out[i].zones.extend(r.zone.clone());
    }
    out
}

/// Renders `OUT/index.html`.
///
/// `resolved` maps each worker type's name to the [`cells`] of its resolved launch specs;
/// `problems` are the EC2 findings (`ec2::*`) of the compile, used to mark
/// the AMIs and launch specs they concern (empty when EC2 was not
/// consulted). The result is byte-for-byte the same for the same input.
pub fn render(config: &Config, resolved: &BTreeMap<String, Vec<Cell>>, problems: &[Finding]) -> String {
    let marks = Marks::new(config, problems);
    let mut users: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, wt) in &config.worker_types {
        if let Some(id) = wt.ami_set_id.as_deref() {
            users.entry(id).or_default().push(name);
        }
    }
    let regions: BTreeSet<&str> = config
        .ami_sets
        .values()
        .flat_map(|s| s.amis.iter().map(|e| e.region.as_str()))
        .collect();
    let launch_specs: usize = resolved.values().flatten().map(|c| c.zones.len().max(1)).sum();

    let mut h = String::with_capacity(4096 + 2048 * (config.ami_sets.len() + config.worker_types.len()));
    let csp = format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(CSS),
        csp_hash(JS)
    );
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(h, "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">", escape(&csp));
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<meta name=\"generator\" content=\"amiset\">\n<title>AMI sets and worker types</title>\n");
    let _ = writeln!(h, "<style>{CSS}</style>\n</head>\n<body>");

    h.push_str("<header class=\"top\">\n<h1>AMI sets and worker types</h1>\n");
    let _ = write!(
        h,
        "<p class=\"summary\">{} AMI sets · {} worker types · {launch_specs} launch specs",
        config.ami_sets.len(),
        config.worker_types.len()
    );
    if !problems.is_empty() {
        let (errors, warnings) = counts(problems.iter());
        let plural = |n: usize, noun: &str| format!("{n} {noun}{}", if n == 1 { "" } else { "s" });
        let _ = write!(h, " · EC2: {}, {}", plural(errors, "error"), plural(warnings, "warning"));
    }
    h.push_str("</p>\n");
    h.push_str(concat!(
        "<div class=\"filter\" role=\"search\"><label for=\"filter\">Filter</label>",
        "<input id=\"filter\" type=\"search\" autocomplete=\"off\" spellcheck=\"false\" ",
        "placeholder=\"set, worker type, AMI id, region, instance type\" aria-describedby=\"filter-help\">",
        "<span id=\"filter-help\" hidden>Shows only the rows containing every word typed; press Escape to clear.</span>",
        "<kbd title=\"press / to filter\">/</kbd></div>\n</header>\n<main>\n"
    ));

    let others = marks.unplaced();
    if !others.is_empty() {
        h.push_str("<section id=\"ec2-findings\">\n<h2>EC2 findings</h2>\n<ul class=\"others\">\n");
        for f in others {
            let _ = write!(
                h,
                "<li class=\"issue {}\"><code>{}</code> ",
                severity_class(f.severity),
                escape(f.code.as_str())
            );
            if let Some(file) = &f.file {
                let _ = write!(h, "{}: ", escape(file));
            }
            let _ = writeln!(h, "{}</li>", escape(&f.message));
        }
        h.push_str("</ul>\n</section>\n");
    }

    sets_section(&mut h, config, &regions, &users, &marks);
    workers_section(&mut h, config, resolved, &marks);

    let _ = writeln!(h, "</main>\n<script>{JS}</script>\n</body>\n</html>");
    h
}

fn counts<'a>(findings: impl Iterator<Item = &'a Finding>) -> (usize, usize) {
    findings.fold((0, 0), |(e, w), f| match f.severity {
        Severity::Error => (e + 1, w),
        Severity::Warning => (e, w + 1),
        Severity::Note => (e, w),
    })
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Error => "bad",
        Severity::Warning | Severity::Note => "warn",
    }
}

/// The class of the worst finding, if any.
fn worst_class<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Option<&'static str> {
    findings
        .into_iter()
        .map(|f| f.severity)
        .min_by_key(|s| match s {
            Severity::Error => 0,
            Severity::Warning => 1,
            Severity::Note => 2,
        })
        .map(severity_class)
}

fn push_issues(h: &mut String, findings: &[&Finding]) {
    for f in findings {
        let _ = write!(
            h,
            "<span class=\"issue {}\" title=\"{}\">{}</span>",
            severity_class(f.severity),
            escape(f.code.as_str()),
            escape(&f.message)
        );
    }
}

fn section_head(h: &mut String, id: &str, title: &str, total: usize, noun: &str) {
    let _ = writeln!(
        h,
        "<section id=\"{id}\" aria-labelledby=\"{id}-title\">\n<h2 id=\"{id}-title\">{title}</h2>\n\
         <p class=\"count\" id=\"{id}-count\" aria-live=\"polite\">{total} in all</p>\n\
         <p class=\"empty\" id=\"{id}-empty\" hidden>No {noun} matches the filter.</p>"
    );
}

fn sets_section(h: &mut String, config: &Config, regions: &BTreeSet<&str>, users: &BTreeMap<&str, Vec<&str>>, marks: &Marks) {
    section_head(h, "sets", "AMI sets", config.ami_sets.len(), "AMI set");
    h.push_str("<div class=\"scroll\">\n<table id=\"sets-table\" class=\"matrix cards\">\n<thead><tr><th scope=\"col\">AMI set</th>");
    for r in regions {
        let _ = write!(h, "<th scope=\"col\">{}</th>", escape(r));
    }
    h.push_str("<th scope=\"col\">Used by</th></tr></thead>\n<tbody>\n");
    for (id, set) in &config.ami_sets {
        set_row(h, id, set, regions, users.get(id.as_str()).map(Vec::as_slice).unwrap_or(&[]), marks);
    }
    h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn set_row(h: &mut String, id: &str, set: &AmiSet, regions: &BTreeSet<&str>, users: &[&str], marks: &Marks) {
    let _ = write!(
        h,
        "<tr id=\"{}\"><th scope=\"row\"><code>{}</code>",
        escape(&set_anchor(id)),
        escape(id)
    );
    if let Some(d) = &set.description {
        let _ = write!(h, "<span class=\"desc\">{}</span>", escape(d));
    }
    h.push_str("</th>");
    for region in regions {
        let mut entries: Vec<_> = set.amis.iter().enumerate().filter(|(_, e)| e.region == *region).collect();
        entries.sort_by_key(|(_, e)| e.arch);
        let cell_marks: Vec<&Finding> = entries
            .iter()
            .flat_map(|(i, _)| [Virt::Hvm, Virt::Pv].into_iter().flat_map(move |v| marks.set_entry(id, *i, v)))
            .collect();
        let class = worst_class(cell_marks.iter().copied())
            .map(|c| format!(" class=\"{c}\""))
            .unwrap_or_default();
        let _ = write!(h, "<td data-label=\"{}\"{class}>", escape(region));
        if entries.is_empty() {
            h.push_str("<span class=\"none\">—</span>");
        }
        for (i, e) in entries {
            for virt in [Virt::Hvm, Virt::Pv] {
                let Some(ami) = e.ami(virt) else { continue };
                let found = marks.set_entry(id, i, virt);
                let class = worst_class(found.iter().copied()).map(|c| format!(" {c}")).unwrap_or_default();
                let _ = write!(
                    h,
                    "<div class=\"entry{class}\"><span class=\"tag\">{} {}</span><span class=\"ami\">{}</span>",
                    e.arch.as_str(),
                    virt.as_str(),
                    escape(ami)
                );
                push_issues(h, &found);
                h.push_str("</div>");
            }
        }
        h.push_str("</td>");
    }
    h.push_str("<td data-label=\"Used by\" class=\"users\">");
    if users.is_empty() {
        h.push_str("<span class=\"none\">no worker type</span>");
    }
    for name in users {
        let _ = write!(h, "<a href=\"#{}\">{}</a> ", escape(&worker_anchor(name)), escape(name));
    }
    h.push_str("</td></tr>\n");
}

fn workers_section(h: &mut String, config: &Config, resolved: &BTreeMap<String, Vec<Cell>>, marks: &Marks) {
    section_head(h, "workers", "Worker types", config.worker_types.len(), "worker type");
    h.push_str(concat!(
        "<div class=\"scroll\">\n<table id=\"workers-table\" class=\"cards\">\n<thead><tr>",
        "<th scope=\"col\">Worker type</th><th scope=\"col\">AMI set</th><th scope=\"col\">Regions</th>",
        "<th scope=\"col\">Instance types</th><th scope=\"col\">ImageId per region and instance type</th>",
        "</tr></thead>\n<tbody>\n"
    ));
    for (name, wt) in &config.worker_types {
        worker_row(h, config, name, wt, resolved.get(name).map(Vec::as_slice), marks);
    }
    h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn worker_row(h: &mut String, config: &Config, name: &str, wt: &WorkerType, resolved: Option<&[Cell]>, marks: &Marks) {
    let _ = write!(
        h,
        "<tr id=\"{}\"><th scope=\"row\"><code>{}</code>",
        escape(&worker_anchor(name)),
        escape(name)
    );
    if let Some(d) = &wt.description {
        let _ = write!(h, "<span class=\"desc\">{}</span>", escape(d));
    }
    if let Some(o) = &wt.owner {
        let _ = write!(h, "<span class=\"owner\">{}</span>", escape(o));
    }
    h.push_str("</th><td data-label=\"AMI set\">");
    match wt.ami_set_id.as_deref() {
        Some(id) if config.ami_sets.contains_key(id) => {
            let _ = write!(h, "<a href=\"#{}\"><code>{}</code></a>", escape(&set_anchor(id)), escape(id));
        }
        Some(id) => {
            let _ = write!(h, "<code>{}</code> <span class=\"none\">(unknown)</span>", escape(id));
        }
        None => h.push_str("<span class=\"none\">raw ImageId</span>"),
    }
    h.push_str("</td><td data-label=\"Regions\">");
    let regions: Vec<&str> = wt.regions.iter().map(|r| r.region.as_str()).collect();
    let _ = write!(h, "{}", escape(&regions.join(", ")));
    h.push_str("</td><td data-label=\"Instance types\">");
    let types: Vec<&str> = wt.instance_types.iter().map(|t| t.instance_type.as_str()).collect();
    let _ = write!(h, "{}", escape(&types.join(", ")));
    h.push_str("</td><td data-label=\"ImageId per region and instance type\">");
    match resolved {
        Some(specs) if !specs.is_empty() => specs_table(h, name, &regions, &types, specs, marks),
        _ => h.push_str("<span class=\"none\">not resolved</span>"),
    }
    h.push_str("</td></tr>\n");
}

/// The nested table of one worker type: regions down, instance types across.
fn specs_table(h: &mut String, name: &str, regions: &[&str], types: &[&str], cells: &[Cell], marks: &Marks) {
    let by_cell: BTreeMap<(&str, &str), &Cell> = cells.iter().map(|c| ((c.region.as_str(), c.instance_type.as_str()), c)).collect();
    let mut seen = BTreeSet::new();
    let regions: Vec<&str> = regions.iter().copied().filter(|r| seen.insert(*r)).collect();
    let mut seen = BTreeSet::new();
    let types: Vec<&str> = types.iter().copied().filter(|t| seen.insert(*t)).collect();
    h.push_str("<div class=\"specs-wrap\"><table class=\"specs\"><thead><tr><th scope=\"col\">region</th>");
    for t in &types {
        let _ = write!(h, "<th scope=\"col\">{}</th>", escape(t));
    }
    h.push_str("</tr></thead><tbody>");
    for r in &regions {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", escape(r));
        for t in &types {
            let Some(cell) = by_cell.get(&(*r, *t)) else {
                h.push_str("<td><span class=\"none\">—</span></td>");
                continue;
            };
            let found = marks.launch_spec(name, r, t, &cell.image);
            let class = worst_class(found.iter().copied())
                .map(|c| format!(" class=\"{c}\""))
                .unwrap_or_default();
            let how = match cell.virt {
                Some(v) => format!("{} {}", cell.arch.as_str(), v.as_str()),
                None => "raw".to_string(),
            };
            let _ = write!(
                h,
                "<td{class}><span class=\"ami\">{}</span> <span class=\"tag\">{how}</span>",
                escape(&cell.image)
            );
            if !cell.zones.is_empty() {
                let _ = write!(h, "<span class=\"zones\">{}</span>", escape(&cell.zones.join(" ")));
            }
            push_issues(h, &found);
            h.push_str("</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
}

#[cfg(test)]
mod tests;
