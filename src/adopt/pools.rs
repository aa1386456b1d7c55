//! Reading worker pool definitions as worker-manager returns them: a JSON
//! file per pool, a JSON list of pools, or tc-admin's `generate --json`
//! document (`{"resources": [{"kind": "WorkerPool", ...}, ...]}`), whose
//! roles, secrets, hooks and clients are skipped with a note.

use serde_json::{Map, Value as Json};

use crate::diag::{Code, Finding, Severity};

/// Top-level keys of a pool that the service adds (or tc-admin does) and
/// that carry no configuration: ignored.
const SERVICE_KEYS: [&str; 13] = [
    "kind",
    "created",
    "lastModified",
    "currentCapacity",
    "requestedCapacity",
    "runningCapacity",
    "stoppingCapacity",
    "stoppedCapacity",
    "requestedCount",
    "runningCount",
    "stoppingCount",
    "stoppedCount",
    "existingCapacity",
];

/// Top-level keys of a pool that the model holds.
const POOL_KEYS: [&str; 6] = ["workerPoolId", "providerId", "description", "owner", "emailOnError", "config"];

/// One worker pool, as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub worker_pool_id: String,
    pub provider_id: String,
    pub description: String,
    pub owner: String,
    pub email_on_error: bool,
    pub config: Map<String, Json>,
    /// The input file it came from, for findings.
    pub file: String,
}

impl Pool {
    /// `provisionerId` and `workerType`, the two halves of the id.
    pub fn id_parts(&self) -> (&str, &str) {
        self.worker_pool_id.split_once('/').unwrap_or(("", &self.worker_pool_id))
    }

    /// A finding about this pool's `field`.
    pub fn finding(&self, code: Code, field: &str, message: impl std::fmt::Display) -> Finding {
        Finding::new(code, format!("worker pool `{}`, `{field}`: {message}", self.worker_pool_id)).in_file(&self.file)
    }
}

/// The pools of one parsed input file; non-AWS pools and other resources
/// are notes, malformed pools errors.
pub fn read(file: &str, doc: &Json) -> (Vec<Pool>, Vec<Finding>) {
    let mut pools = Vec::new();
    let mut findings = Vec::new();
    let items: Vec<&Json> = match doc {
        Json::Array(items) => items.iter().collect(),
        Json::Object(map) if map.get("resources").is_some_and(Json::is_array) && !map.contains_key("workerPoolId") => {
            map["resources"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
        }
        Json::Object(map) if map.get("workerPools").is_some_and(Json::is_array) => {
            // `listWorkerPools` responses.
            map["workerPools"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
        }
        other => vec![other],
    };
    for item in items {
        match pool(file, item) {
            Ok(Some(p)) => pools.push(p),
            Ok(None) => {}
            Err(f) => findings.push(f),
        }
        if let Some(note) = skipped(file, item) {
            findings.push(note);
        }
    }
    (pools, findings)
}

/// A note for a resource that is not an AWS worker pool.
fn skipped(file: &str, item: &Json) -> Option<Finding> {
    let map = item.as_object()?;
    let kind = map.get("kind").and_then(Json::as_str);
    let what = match (kind, map.get("workerPoolId").and_then(Json::as_str)) {
        (None, None) if is_manifest(map) => "amiset's own `manifest.json` of an export is not a worker pool".to_string(),
        (Some(k), _) if k != "WorkerPool" => {
            let id = map
                .iter()
                .find(|(key, _)| key.ends_with("Id") || *key == "name")
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("?");
            format!("tc-admin resource `{k}={id}` is not a worker pool")
        }
        (_, Some(id)) if !is_aws(map) && !launches_nothing_on_aws(map) => {
            format!("worker pool `{id}` is not an AWS pool (its launchConfigs have no EC2 `launchConfig`)")
        }
        _ => return None,
    };
    Some(
        Finding::new(Code::ImportSkipped, format!("{what}; skipped"))
            .in_file(file)
            .help("only worker-manager's AWS worker pools become worker types; the rest stays where it is managed now"),
    )
}

/// Whether an object is the `manifest.json` that `export taskcluster` (or
/// `compile`) writes beside the pools.
fn is_manifest(map: &Map<String, Json>) -> bool {
    serde_json::from_value::<crate::artifacts::Manifest>(Json::Object(map.clone())).is_ok()
}

/// Whether a pool's launch configs are EC2 ones (worker-manager's AWS provider).
fn is_aws(pool: &Map<String, Json>) -> bool {
    let lcs = pool.get("config").and_then(|c| c.get("launchConfigs")).and_then(Json::as_array);
    lcs.is_some_and(|lcs| !lcs.is_empty() && lcs.iter().all(|lc| lc.get("launchConfig").is_some_and(Json::is_object)))
}

/// Whether a pool of an AWS provider (by its `providerId`) has no
/// launchConfigs: nothing says it is not an EC2 pool, and nothing of it can
/// be held, so it is refused rather than skipped.
fn launches_nothing_on_aws(pool: &Map<String, Json>) -> bool {
    let provider = pool.get("providerId").and_then(Json::as_str).unwrap_or_default();
    let lcs = pool.get("config").and_then(|c| c.get("launchConfigs"));
    provider.to_ascii_lowercase().contains("aws") && lcs.is_none_or(|l| l.as_array().is_some_and(Vec::is_empty))
}

/// An AWS pool, `None` for anything skipped, or the error that stops it.
// The error is the finding itself, made at most once per pool read.
#[allow(clippy::result_large_err)]
fn pool(file: &str, item: &Json) -> Result<Option<Pool>, Finding> {
    let Some(map) = item.as_object() else {
        return Err(Finding::new(Code::ImportInvalidInput, "a worker pool must be a JSON object").in_file(file));
    };
    if map.get("kind").and_then(Json::as_str).is_some_and(|k| k != "WorkerPool")
        || !map.contains_key("workerPoolId") && (map.contains_key("kind") || is_manifest(map))
    {
        return Ok(None);
    }
    let id = match map.get("workerPoolId").and_then(Json::as_str) {
        Some(id) if id.split_once('/').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty()) => id.to_string(),
        _ => {
            return Err(Finding::new(
                Code::ImportInvalidInput,
                "a worker pool needs a `workerPoolId` of the form `<provisionerId>/<workerType>`",
            )
            .in_file(file));
        }
    };
    if launches_nothing_on_aws(map) {
        return Err(Finding::new(
            Code::ImportCannotHold,
            format!(
                "worker pool `{id}`, `config.launchConfigs`: an AWS pool without launchConfigs; an amiset worker type launches at least one"
            ),
        )
        .in_file(file)
        .help("leave the pool out of the input, or give it its launchConfigs in worker-manager first"));
    }
    if !is_aws(map) {
        return Ok(None);
    }
    #[allow(clippy::result_large_err)]
    let text = |key: &str| -> Result<String, Finding> {
        match map.get(key) {
            None => Ok(String::new()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(_) => Err(Finding::new(Code::ImportInvalidInput, format!("worker pool `{id}`: `{key}` must be a string")).in_file(file)),
        }
    };
    for key in map.keys() {
        if !POOL_KEYS.contains(&key.as_str()) && !SERVICE_KEYS.contains(&key.as_str()) {
            return Err(Finding::new(
                Code::ImportCannotHold,
                format!("worker pool `{id}`, `{key}`: a worker pool field amiset does not hold"),
            )
            .in_file(file)
            .help("amiset holds workerPoolId, providerId, description, owner, emailOnError and config"));
        }
    }
    let email_on_error = match map.get("emailOnError") {
        None => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => {
            return Err(Finding::new(
                Code::ImportInvalidInput,
                format!("worker pool `{id}`: `emailOnError` must be true or false"),
            )
            .in_file(file));
        }
    };
    Ok(Some(Pool {
        provider_id: text("providerId")?,
        description: text("description")?,
        owner: text("owner")?,
        email_on_error,
        config: map.get("config").and_then(Json::as_object).cloned().unwrap_or_default(),
        file: file.to_string(),
        worker_pool_id: id,
    }))
}

/// Severity helper for notes.
pub fn is_note(f: &Finding) -> bool {
    f.severity == Severity::Note
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aws(id: &str) -> Json {
        json!({"workerPoolId": id, "providerId": "aws", "description": "", "owner": "a@example.com", "emailOnError": false,
               "config": {"minCapacity": 0, "maxCapacity": 1, "launchConfigs": [{"region": "us-east-1", "launchConfig": {"ImageId": "ami-12345678"}}]}})
    }

    #[test]
    fn a_pool_a_list_and_tc_admin_output_are_read_and_the_rest_is_skipped_with_a_note() {
        let (pools, notes) = read("p.json", &aws("proj/a"));
        assert_eq!((pools.len(), notes.len()), (1, 0));
        let (pools, _) = read("l.json", &json!([aws("proj/a"), aws("proj/b")]));
        assert_eq!(
            pools.iter().map(|p| p.worker_pool_id.as_str()).collect::<Vec<_>>(),
            ["proj/a", "proj/b"]
        );
        let mut gcp = aws("proj/g");
        gcp["config"]["launchConfigs"] = json!([{"region": "us-central1", "zone": "us-central1-a", "machineType": "n2"}]);
        let mut pool = aws("proj/c");
        pool["kind"] = json!("WorkerPool");
        let doc = json!({"managed": ["WorkerPool=proj/*"], "resources": [
            pool, {"kind": "Role", "roleId": "worker-pool:proj/c", "scopes": []},
            {"kind": "Secret", "name": "worker-pool:proj/c"}, gcp]});
        let (pools, notes) = read("tc.json", &doc);
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].worker_pool_id, "proj/c");
        let messages: Vec<&str> = notes.iter().map(|n| n.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "tc-admin resource `Role=worker-pool:proj/c` is not a worker pool; skipped",
                "tc-admin resource `Secret=worker-pool:proj/c` is not a worker pool; skipped",
                "worker pool `proj/g` is not an AWS pool (its launchConfigs have no EC2 `launchConfig`); skipped",
            ]
        );
        assert!(notes.iter().all(is_note));
    }

    #[test]
    fn an_aws_pool_without_launch_configs_is_refused_not_skipped() {
        for config in [
            json!({"minCapacity": 0, "maxCapacity": 1, "launchConfigs": []}),
            json!({"minCapacity": 0, "maxCapacity": 1}),
        ] {
            let mut p = aws("proj/empty");
            p["providerId"] = json!("community-tc-workers-AWS");
            p["config"] = config;
            let (pools, findings) = read("p.json", &p);
            assert!(pools.is_empty());
            let got: Vec<(Code, &str)> = findings.iter().map(|f| (f.code, f.message.as_str())).collect();
            assert_eq!(
                got,
                [(
                    Code::ImportCannotHold,
                    "worker pool `proj/empty`, `config.launchConfigs`: an AWS pool without launchConfigs; an amiset worker type launches at least one"
                )]
            );
        }
        // Another provider's empty pool is still only skipped.
        let mut p = aws("proj/static");
        p["providerId"] = json!("static");
        p["config"] = json!({});
        let (pools, findings) = read("p.json", &p);
        assert!(pools.is_empty());
        assert_eq!(findings.iter().map(|f| f.code).collect::<Vec<_>>(), [Code::ImportSkipped]);
    }

    #[test]
    fn service_fields_are_ignored_and_unknown_ones_refused() {
        let mut p = aws("proj/a");
        p["created"] = json!("2026-01-01T00:00:00Z");
        p["currentCapacity"] = json!(3);
        assert_eq!(read("p.json", &p).0.len(), 1);
        p["secretSauce"] = json!(1);
        let (pools, findings) = read("p.json", &p);
        assert!(pools.is_empty());
        assert_eq!(findings[0].code, Code::ImportCannotHold);
        assert!(findings[0].message.contains("`secretSauce`"), "{}", findings[0].message);
    }
}
