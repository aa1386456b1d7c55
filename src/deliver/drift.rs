//! What runs against what the config says (DESIGN §10): `amiset drift`.
//! Running instances tagged `amiset:worker-type` (listed by
//! `ec2::instances`) are counted per worker type, region, instance type and
//! image, next to the ImageId the compiled launch spec wants. An instance on
//! a revoked AMI is an error; other images, worker types the config does not
//! have, and regions or instance types a worker type does not list are drift.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::artifacts;
use crate::config::Config;
use crate::diag::{Code, Finding};
use crate::resolve::TypeCatalog;

/// One running (or pending) instance tagged by amiset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub region: String,
    /// The value of its `amiset:worker-type` tag.
    pub worker_type: String,
    pub instance_type: String,
    pub image_id: String,
}

/// Instances of one worker type, region and instance type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub worker_type: String,
    pub region: String,
    pub instance_type: String,
    /// The ImageId of the compiled launch spec; `null` when the worker type
    /// is unknown or has no launch spec for this region and instance type.
    pub desired_image_id: Option<String>,
    /// How many instances run each image.
    pub running: BTreeMap<String, usize>,
    /// Whether any instance runs another image than the desired one (or there is none).
    pub drifted: bool,
}

/// The comparison.
#[derive(Clone, Debug, Default)]
pub struct Drift {
    pub rows: Vec<Row>,
    pub findings: Vec<Finding>,
}

impl Drift {
    /// Whether anything differs from the config.
    pub fn drifted(&self) -> bool {
        self.rows.iter().any(|r| r.drifted)
    }
}

/// Compares `instances` with the launch specs of a checked config. Every
/// launch spec gets a row (with no instances when none run).
pub fn compare(config: &Config, catalog: &dyn TypeCatalog, instances: &[Instance]) -> Drift {
    let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
    for (name, wt) in &config.worker_types {
        let Ok(resolved) = artifacts::resolved_specs(config, wt, catalog) else {
            continue;
        };
        for r in resolved {
            rows.insert(
                (name.clone(), r.region.clone(), r.instance_type.clone()),
                Row {
                    worker_type: name.clone(),
                    region: r.region.clone(),
                    instance_type: r.instance_type.clone(),
                    desired_image_id: r.launch_spec.get("ImageId").and_then(|v| v.as_str()).map(str::to_string),
                    running: BTreeMap::new(),
                    drifted: false,
                },
            );
        }
    }
    for i in instances {
        let row = rows
            .entry((i.worker_type.clone(), i.region.clone(), i.instance_type.clone()))
            .or_insert_with(|| Row {
                worker_type: i.worker_type.clone(),
                region: i.region.clone(),
                instance_type: i.instance_type.clone(),
                desired_image_id: None,
                running: BTreeMap::new(),
                drifted: true,
            });
        *row.running.entry(i.image_id.clone()).or_default() += 1;
    }
    let mut findings = Vec::new();
    for row in rows.values_mut() {
        let known = config.worker_types.contains_key(&row.worker_type);
        let file = known.then(|| format!("worker-types/{}.toml", row.worker_type));
        let place = |f: Finding| match &file {
            Some(file) => f.in_file(file),
            None => f,
        };
        let total: usize = row.running.values().sum();
        for (image, n) in &row.running {
            if let Some(reason) = config.policy.revoked_reason(image) {
                findings.push(place(
                    Finding::new(
                        Code::DriftRevokedAmi,
                        format!(
                            "{n} instance(s) of worker type `{}` in {} ({}) run revoked AMI `{image}`: {reason}",
                            row.worker_type, row.region, row.instance_type
                        ),
                    )
                    .help("replace these instances now: launch from the current launch template and terminate them"),
                ));
            }
        }
        match &row.desired_image_id {
            _ if !known => findings.push(
                Finding::new(
                    Code::DriftUnknownWorkerType,
                    format!(
                        "{total} instance(s) in {} ({}) are tagged with worker type `{}`, which the config does not have",
                        row.region, row.instance_type, row.worker_type
                    ),
                )
                .help("terminate them, or restore the worker type"),
            ),
            None => findings.push(place(
                Finding::new(
                    Code::DriftUnexpectedInstance,
                    format!(
                        "{total} instance(s) of worker type `{}` run as `{}` in {}, which it does not list",
                        row.worker_type, row.instance_type, row.region
                    ),
                )
                .help("terminate them, or add the region or instance type to the worker type"),
            )),
            Some(desired) => {
                let stale: usize = row.running.iter().filter(|(image, _)| *image != desired).map(|(_, n)| n).sum();
                if stale > 0 {
                    row.drifted = true;
                    findings.push(place(
                        Finding::new(
                            Code::DriftImage,
                            format!(
                                "{stale} of {total} instance(s) of worker type `{}` in {} ({}) do not run `{desired}`",
                                row.worker_type, row.region, row.instance_type
                            ),
                        )
                        .help("they were launched from an earlier launch spec; they pick up the new image when they are replaced"),
                    ));
                }
            }
        }
    }
    Drift {
        rows: rows.into_values().collect(),
        findings,
    }
}

/// The rows as a table, drifted rows marked with `!`.
pub fn render_human(drift: &Drift) -> String {
    let mut out = String::new();
    for r in &drift.rows {
        let running = if r.running.is_empty() {
            "no instances".to_string()
        } else {
            r.running.iter().map(|(i, n)| format!("{n}× {i}")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "{} {} {} {}: wants {}, runs {running}",
            if r.drifted { "!" } else { " " },
            r.worker_type,
            r.region,
            r.instance_type,
            r.desired_image_id.as_deref().unwrap_or("nothing")
        );
    }
    let _ = writeln!(
        out,
        "{} of {} launch specs drifted",
        drift.rows.iter().filter(|r| r.drifted).count(),
        drift.rows.len()
    );
    out
}
