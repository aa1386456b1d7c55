//! Which cells of the page an EC2 finding concerns.
//!
//! EC2 findings point at a value (DESIGN §5, docs/ec2.md): an AMI id in a set
//! file, a worker type's raw `ImageId`, or an `instanceType`. A finding is
//! placed by comparing its span with the span of each such value; the region
//! of an instance type finding is the one its message names. Findings about
//! the whole run (`ec2::owners-unrestricted`) or that match no value are kept
//! aside and listed on their own, so none is ever dropped.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::config::Config;
use crate::config::doc::Doc;
use crate::config::model::Virt;
use crate::diag::Finding;

/// EC2 findings, by the cell they concern.
pub(super) struct Marks<'a> {
    /// (set id, entry index, virtualization type).
    set_entries: BTreeMap<(&'a str, usize, Virt), Vec<&'a Finding>>,
    /// (region, AMI id): problems of the AMI itself, wherever it is used.
    amis: BTreeMap<(&'a str, &'a str), Vec<&'a Finding>>,
    /// (worker type, region, instance type).
    specs: BTreeMap<(&'a str, &'a str, &'a str), Vec<&'a Finding>>,
    unplaced: Vec<&'a Finding>,
}

/// Whether the value at `pointer` of `doc` is the one `finding` points at.
/// Without a document or span, the message naming `value` in backticks decides.
fn points_at(finding: &Finding, doc: Option<&Doc>, pointer: &str, value: &str) -> bool {
    match (doc, &finding.span) {
        (Some(doc), Some(span)) => same(&doc.span_of_value(pointer), span),
        _ => finding.message.contains(&format!("`{value}`")),
    }
}

fn same(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start == b.start && a.end == b.end
}

/// Whether `message` names `region` as a whole word after "in ".
pub(super) fn names_region(message: &str, region: &str) -> bool {
    let needle = format!("in {region}");
    message.match_indices(&needle).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + needle.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !(c.is_alphanumeric() || c == '-'))
    })
}

impl<'a> Marks<'a> {
    pub(super) fn new(config: &'a Config, problems: &'a [Finding]) -> Marks<'a> {
        let mut marks = Marks {
            set_entries: BTreeMap::new(),
            amis: BTreeMap::new(),
            specs: BTreeMap::new(),
            unplaced: Vec::new(),
        };
        for f in problems {
            if !marks.place(config, f) {
                marks.unplaced.push(f);
            }
        }
        marks
    }

    fn place(&mut self, config: &'a Config, f: &'a Finding) -> bool {
        let Some(file) = f.file.as_deref() else { return false };
        if let Some(id) = file.strip_prefix("ami-sets/").and_then(|s| s.strip_suffix(".toml")) {
            let Some((id, set)) = config.ami_sets.get_key_value(id) else {
                return false;
            };
            let doc = config.set_doc(id);
            let mut placed = false;
            for (i, e) in set.amis.iter().enumerate() {
                for virt in [Virt::Hvm, Virt::Pv] {
                    let Some(ami) = e.ami(virt) else { continue };
                    if points_at(f, doc, &format!("/amis/{i}/{}", virt.as_str()), ami) {
                        self.set_entries.entry((id, i, virt)).or_default().push(f);
                        self.amis.entry((&e.region, ami)).or_default().push(f);
                        placed = true;
                    }
                }
            }
            return placed;
        }
        if let Some(name) = file.strip_prefix("worker-types/").and_then(|s| s.strip_suffix(".toml")) {
            let Some((name, wt)) = config.worker_types.get_key_value(name) else {
                return false;
            };
            let doc = config.worker_doc(name);
            for (ri, r) in wt.regions.iter().enumerate() {
                if let Some(ami) = r.image_id()
                    && points_at(f, doc, &format!("/regions/{ri}/launchSpec/ImageId"), ami)
                {
                    self.amis.entry((&r.region, ami)).or_default().push(f);
                    return true;
                }
            }
            for (ti, t) in wt.instance_types.iter().enumerate() {
                let t = t.instance_type.as_str();
                if !points_at(f, doc, &format!("/instanceTypes/{ti}/instanceType"), t) {
                    continue;
                }
                let named: Vec<&str> = wt
                    .regions
                    .iter()
                    .map(|r| r.region.as_str())
                    .filter(|r| names_region(&f.message, r))
                    .collect();
                let regions = if named.is_empty() {
                    wt.regions.iter().map(|r| r.region.as_str()).collect()
                } else {
                    named
                };
                for r in regions {
                    let cell = self.specs.entry((name, r, t)).or_default();
                    if !cell.iter().any(|g| std::ptr::eq(*g, f)) {
                        cell.push(f);
                    }
                }
                return true;
            }
        }
        false
    }

    /// Findings about one AMI of a set entry.
    pub(super) fn set_entry(&self, id: &str, index: usize, virt: Virt) -> Vec<&'a Finding> {
        self.set_entries.get(&(id, index, virt)).cloned().unwrap_or_default()
    }

    /// Findings about one launch spec: its instance type there, and its AMI.
    pub(super) fn launch_spec(&self, worker: &str, region: &str, instance_type: &str, image: &str) -> Vec<&'a Finding> {
        let mut out: Vec<&'a Finding> = self.specs.get(&(worker, region, instance_type)).cloned().unwrap_or_default();
        out.extend(self.amis.get(&(region, image)).into_iter().flatten().copied());
        out
    }

    /// Findings that concern no cell of the page.
    pub(super) fn unplaced(&self) -> &[&'a Finding] {
        &self.unplaced
    }
}
