//! Text and Markdown renderings of a [`Diff`]. Both are stable: the order
//! is by name, region, instance type and key, never by hash or time.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::{Diff, KeyChange};

fn value(v: &Option<Json>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One line per change; empty when nothing changed.
pub fn text(diff: &Diff) -> String {
    let mut out = String::new();
    for id in &diff.ami_sets.added {
        let _ = writeln!(out, "+ AMI set {id}");
    }
    for id in &diff.ami_sets.removed {
        let _ = writeln!(out, "- AMI set {id}");
    }
    for set in &diff.ami_sets.changed {
        let _ = writeln!(out, "~ AMI set {}", set.id);
        for c in &set.amis {
            let _ = writeln!(out, "    {}: {} -> {}", c.key, value(&c.old), value(&c.new));
        }
    }
    for name in &diff.worker_types.added {
        let _ = writeln!(out, "+ worker type {name}");
    }
    for name in &diff.worker_types.removed {
        let _ = writeln!(out, "- worker type {name}");
    }
    for wt in &diff.worker_types.changed {
        let _ = writeln!(out, "~ worker type {}", wt.name);
        for c in &wt.fields {
            let _ = writeln!(out, "    {}: {} -> {}", c.key, value(&c.old), value(&c.new));
        }
        for spec in &wt.launch_specs {
            let sign = match spec.change {
                "added" => '+',
                "removed" => '-',
                _ => '~',
            };
            let _ = writeln!(out, "  {sign} {} {}", spec.place(), spec.instance_type);
            if spec.change == "changed" {
                for c in &spec.keys {
                    let _ = writeln!(out, "      {}: {} -> {}", c.key, value(&c.old), value(&c.new));
                }
            } else if let Some(image) = spec.keys.iter().find(|k| k.key == "ImageId") {
                let _ = writeln!(
                    out,
                    "      ImageId: {}",
                    value(if spec.change == "added" { &image.new } else { &image.old })
                );
            }
        }
    }
    for name in &diff.unresolved {
        let _ = writeln!(out, "! worker type {name} does not resolve on one side; run `amiset check`");
    }
    out
}

/// Escapes text for a Markdown table cell inside `<code>`.
fn cell(s: &str) -> String {
    let escaped: String = s
        .chars()
        .map(|c| match c {
            '|' => "&#124;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '`' => "&#96;".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("<code>{escaped}</code>")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one-line summary that opens the PR comment.
pub fn summary(diff: &Diff) -> String {
    let mut parts = Vec::new();
    let specs = diff.launch_specs_changed();
    if specs > 0 {
        let images = diff
            .worker_types
            .changed
            .iter()
            .flat_map(|w| &w.launch_specs)
            .filter(|s| s.keys.iter().any(|k| k.key == "ImageId"))
            .count();
        parts.push(format!(
            "{} change in {} ({} with a new ImageId)",
            plural(specs, "launch spec", "launch specs"),
            plural(diff.worker_types.changed.len(), "worker type", "worker types"),
            images
        ));
    } else if !diff.worker_types.changed.is_empty() {
        parts.push(format!(
            "{} changed",
            plural(diff.worker_types.changed.len(), "worker type", "worker types")
        ));
    }
    for (n, what) in [
        (diff.worker_types.added.len(), "worker type added"),
        (diff.worker_types.removed.len(), "worker type removed"),
        (diff.ami_sets.changed.len(), "AMI set changed"),
        (diff.ami_sets.added.len(), "AMI set added"),
        (diff.ami_sets.removed.len(), "AMI set removed"),
    ] {
        if n > 0 {
            let (noun, verb) = what.rsplit_once(' ').unwrap_or((what, ""));
            parts.push(format!("{} {verb}", plural(n, noun, &format!("{noun}s"))));
        }
    }
    parts.join("; ")
}

/// A PR comment: summary line, then details folded per worker type, capped at `max_rows` table rows.
pub fn markdown(diff: &Diff, max_rows: usize) -> String {
    if diff.is_empty() && diff.unresolved.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(out, "**amiset**: {}.", summary(diff).trim());
    let mut rows = 0usize;
    let mut omitted = 0usize;
    let mut row = |out: &mut String, line: String| {
        if rows < max_rows {
            out.push_str(&line);
            rows += 1;
        } else {
            omitted += 1;
        }
    };
    let change_row = |c: &KeyChange| format!("{} | {} | {}", cell(&c.key), cell(&value(&c.old)), cell(&value(&c.new)));
    for wt in &diff.worker_types.changed {
        let _ = write!(
            out,
            "\n<details><summary>worker type {}: {}</summary>\n\n| region | instance type | key | old | new |\n| --- | --- | --- | --- | --- |\n",
            cell(&wt.name),
            plural(wt.launch_specs.len(), "launch spec changes", "launch specs change")
        );
        for c in &wt.fields {
            row(&mut out, format!("| | | {} |\n", change_row(c)));
        }
        for spec in &wt.launch_specs {
            for c in &spec.keys {
                if spec.change != "changed" && c.key != "ImageId" {
                    continue;
                }
                row(
                    &mut out,
                    format!(
                        "| {} | {} | {} |\n",
                        cell(&spec.place()),
                        cell(&format!("{} ({})", spec.instance_type, spec.change)),
                        change_row(c)
                    ),
                );
            }
        }
        out.push_str("\n</details>\n");
    }
    let lists = [
        ("Worker types added", &diff.worker_types.added),
        ("Worker types removed", &diff.worker_types.removed),
        ("AMI sets added", &diff.ami_sets.added),
        ("AMI sets removed", &diff.ami_sets.removed),
    ];
    for (title, names) in lists {
        if !names.is_empty() {
            let _ = writeln!(out, "\n{title}: {}", names.iter().map(|n| cell(n)).collect::<Vec<_>>().join(", "));
        }
    }
    if !diff.ami_sets.changed.is_empty() {
        out.push_str(
            "\n<details><summary>AMI sets</summary>\n\n| set | region arch virtualization | old | new |\n| --- | --- | --- | --- |\n",
        );
        for set in &diff.ami_sets.changed {
            for c in &set.amis {
                row(&mut out, format!("| {} | {} |\n", cell(&set.id), change_row(c)));
            }
        }
        out.push_str("\n</details>\n");
    }
    if omitted > 0 {
        let _ = writeln!(out, "\n… and {omitted} more changes (run `amiset diff` locally for all of them).");
    }
    if !diff.unresolved.is_empty() {
        let _ = writeln!(
            out,
            "\n⚠️ Not compared because they do not resolve: {}. Run `amiset check`.",
            diff.unresolved.iter().map(|n| cell(n)).collect::<Vec<_>>().join(", ")
        );
    }
    out
}
