//! Worker pools that would collide (DESIGN §10): two worker types that
//! export the same `workerPoolId` are `taskcluster::duplicate-worker-pool`,
//! found by `check` so that the editor and the hook see it before `export`.

use std::collections::BTreeMap;

use crate::config::{Config, WorkerType};
use crate::diag::{Code, Finding};

/// The worker types of each workerPoolId (worker types without a
/// provisionerId export no pool and are left out).
pub fn by_pool(config: &Config) -> BTreeMap<String, Vec<&WorkerType>> {
    let mut by_pool: BTreeMap<String, Vec<&WorkerType>> = BTreeMap::new();
    for wt in config.worker_types.values() {
        if let Some(pool_id) = config.worker_pool_id(wt) {
            by_pool.entry(pool_id).or_default().push(wt);
        }
    }
    by_pool
}

/// `taskcluster::duplicate-worker-pool` in each file of every worker type
/// that shares its workerPoolId with another (`by_pool` is [`by_pool`]'s).
pub fn duplicate_pools(config: &Config, by_pool: &BTreeMap<String, Vec<&WorkerType>>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (pool_id, wts) in by_pool.iter().filter(|(_, wts)| wts.len() > 1) {
        findings.extend(wts.iter().map(|wt| duplicate_pool(config, pool_id, wts, wt)));
    }
    findings
}

/// Where a worker type says its workerPoolId: its `[taskcluster]` `workerType`,
/// else its `provisionerId`, else the whole file (the stem and amiset.toml say it).
fn pool_id_place(config: &Config, wt: &WorkerType) -> (String, Option<std::ops::Range<usize>>) {
    let file = format!("worker-types/{}.toml", wt.name);
    let span = config.worker_doc(&wt.name).and_then(|d| {
        ["/taskcluster/workerType", "/taskcluster/provisionerId"]
            .into_iter()
            .find(|p| d.root().pointer(p).is_some())
            .map(|p| d.span_of_value(p))
    });
    (file, span)
}

/// One of the worker types (`all`) that would write the same worker pool:
/// a finding at `this` one's place, with the others as secondary labels.
fn duplicate_pool(config: &Config, pool_id: &str, all: &[&WorkerType], this: &WorkerType) -> Finding {
    let names: Vec<String> = all.iter().map(|wt| format!("`{}`", wt.name)).collect();
    let f = Finding::new(
        Code::TaskclusterDuplicateWorkerPool,
        format!("worker types {} all export the worker pool `{pool_id}`", names.join(", ")),
    )
    .label("exports the same workerPoolId")
    .help("give all but one of them their own `[taskcluster]` `workerType` or `provisionerId`");
    let (file, span) = pool_id_place(config, this);
    let mut f = match span {
        Some(span) => f.at(&file, span),
        None => f.in_file(&file),
    };
    for other in all.iter().filter(|wt| wt.name != this.name) {
        let (other_file, other_span) = pool_id_place(config, other);
        f = f.secondary(
            other_file,
            other_span.unwrap_or(0..0),
            format!("`{}` exports `{pool_id}` too", other.name),
        );
    }
    f
}
