//! Re-checking a config repository after one file changes, with the same
//! engine as [`super::run`] and the same result, but doing only the work
//! the change can affect: a worker type re-checks itself; an AMI set
//! re-checks itself and the worker types that use it; `amiset.toml`
//! re-checks everything; `SCOPES` only the repository-wide checks (nothing
//! else reads it). Adding or removing a file re-reads the layout and
//! re-checks everything. Editors (`amiset lsp`) keep one [`Analysis`] per
//! config repository and feed it their unsaved buffers.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::{check_global, check_set, check_worker_file, launch_spec_limit};
use crate::config::{self, Config, Content, FileResult, Inputs, Limits, Role};
use crate::diag::{Finding, Report};
use crate::resolve;

/// A checked config repository that can take changes one file at a time.
#[derive(Clone, Debug)]
pub struct Analysis {
    inputs: Inputs,
    limits: Limits,
    config: Config,
    /// Findings of the layout pass (file names, limits).
    layout: Vec<Finding>,
    /// Parse and schema findings and the text of every file that was parsed, by path.
    files: BTreeMap<String, FileResult>,
    /// Findings of [`check_set`] and [`check_worker_type`], by the path of the file checked.
    units: BTreeMap<String, Vec<Finding>>,
    /// Findings of [`check_global`].
    global: Vec<Finding>,
    over_limit: bool,
}

/// How much work an [`Analysis::update`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Files parsed.
    pub parsed: usize,
    /// AMI sets checked.
    pub sets: usize,
    /// Worker types checked.
    pub worker_types: usize,
}

impl Analysis {
    /// Loads and checks `inputs` in full.
    pub fn new(inputs: Inputs, limits: Limits) -> Analysis {
        let mut a = Analysis {
            inputs,
            limits,
            config: Config::default(),
            layout: Vec::new(),
            files: BTreeMap::new(),
            units: BTreeMap::new(),
            global: Vec::new(),
            over_limit: false,
        };
        a.rebuild();
        a
    }

    /// The loaded config, as `check` sees it.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The raw files, with every change applied.
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// The text of a parsed file.
    pub fn source(&self, path: &str) -> Option<&std::sync::Arc<str>> {
        self.files.get(path).and_then(|f| f.source.as_ref())
    }

    /// Every finding, sorted, with the sources they point into: what
    /// [`super::run`] returns for [`Analysis::inputs`].
    pub fn report(&self) -> Report {
        let mut report = Report::default();
        report.findings.extend(self.layout.iter().cloned());
        for file in self.files.values() {
            report.findings.extend(file.findings.iter().cloned());
            if let Some(text) = &file.source {
                report.sources.insert(file.path.clone(), text.clone());
            }
        }
        report.findings.extend(self.units.values().flatten().cloned());
        report.findings.extend(self.global.iter().cloned());
        report.sort();
        report
    }

    /// Sets the content of `path` (relative to the config directory; `None`
    /// removes the file) and re-checks what that can affect.
    pub fn update(&mut self, path: &str, content: Option<Content>) -> Work {
        let existed = self.inputs.files.iter().any(|f| f.path == path);
        let exists = content.is_some();
        self.inputs.set(path, content);
        if existed != exists || config::CONFIG_DIRS.contains(&path) {
            return self.rebuild();
        }
        // Files the layout did not take (stray, invalid names) are not read.
        let Some((role, stem)) = self.files.get(path).and_then(|_| config::role_of(path)) else {
            return Work::default();
        };
        let stem = stem.to_string();
        let Some(file) = self.inputs.files.iter().find(|f| f.path == path) else {
            return Work::default();
        };
        let parsed = config::parse_file(file, role, &stem);
        let result = self.config.apply(parsed);
        self.files.insert(path.to_string(), result);
        let mut work = Work {
            parsed: 1,
            ..Work::default()
        };
        let limit = launch_spec_limit(&self.config, &self.limits);
        let limit_flipped = limit.is_some() != self.over_limit;
        self.over_limit = limit.is_some();
        self.global = check_global(&self.config, limit);
        match role {
            Role::Policy | Role::Offerings => {
                work.sets += self.recheck_sets(self.config.set_ids.iter().cloned().collect());
                work.worker_types += self.recheck_worker_types(self.config.worker_names.iter().cloned().collect());
                return work;
            }
            Role::Scopes => {}
            Role::AmiSet => {
                work.sets += self.recheck_sets(vec![stem.clone()]);
                if !limit_flipped {
                    let users: Vec<String> = self
                        .config
                        .worker_types
                        .values()
                        .filter(|w| w.ami_set_id.as_deref() == Some(stem.as_str()))
                        .map(|w| w.name.clone())
                        .collect();
                    work.worker_types += self.recheck_worker_types(users);
                }
            }
            Role::WorkerType => {
                if !limit_flipped {
                    work.worker_types += self.recheck_worker_types(vec![stem.clone()]);
                }
            }
        }
        if limit_flipped {
            work.worker_types += self.recheck_worker_types(self.config.worker_names.iter().cloned().collect());
        }
        work
    }

    /// Loads and checks everything again.
    fn rebuild(&mut self) -> Work {
        let layout = config::layout(&self.inputs, &self.limits);
        let inputs = &self.inputs;
        let parsed: Vec<config::Parsed> = layout
            .entries
            .par_iter()
            .map(|(i, role, stem)| config::parse_file(&inputs.files[*i], *role, stem))
            .collect();
        let parsed_count = parsed.len();
        self.config = Config {
            set_ids: layout.set_ids,
            worker_names: layout.worker_names,
            ..Config::default()
        };
        self.layout = layout.findings;
        self.files.clear();
        for p in parsed {
            let result = self.config.apply(p);
            self.files.insert(result.path.clone(), result);
        }
        self.units.clear();
        let limit = launch_spec_limit(&self.config, &self.limits);
        self.over_limit = limit.is_some();
        self.global = check_global(&self.config, limit);
        let sets = self.recheck_sets(self.config.set_ids.iter().cloned().collect());
        let worker_types = self.recheck_worker_types(self.config.worker_names.iter().cloned().collect());
        Work {
            parsed: parsed_count,
            sets,
            worker_types,
        }
    }

    fn recheck_sets(&mut self, ids: Vec<String>) -> usize {
        let config = &self.config;
        let results: Vec<(String, Option<Vec<Finding>>)> = ids
            .par_iter()
            .map(|id| {
                let path = format!("ami-sets/{id}.toml");
                (path, config.ami_sets.get(id).map(|set| check_set(config, id, set)))
            })
            .collect();
        self.store(results)
    }

    fn recheck_worker_types(&mut self, names: Vec<String>) -> usize {
        let config = &self.config;
        let feasible = !self.over_limit;
        let results: Vec<(String, Option<Vec<Finding>>)> = names
            .par_iter()
            .map(|name| {
                let path = format!("worker-types/{name}.toml");
                (path, Some(check_worker_file(config, name, &resolve::Builtin, feasible)))
            })
            .collect();
        self.store(results)
    }

    fn store(&mut self, results: Vec<(String, Option<Vec<Finding>>)>) -> usize {
        let n = results.len();
        for (path, findings) in results {
            match findings {
                Some(f) => self.units.insert(path, f),
                None => self.units.remove(&path),
            };
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InputFile;
    use proptest::prelude::*;

    fn bytes(text: &str) -> Option<Content> {
        Some(Content::Bytes(text.as_bytes().to_vec()))
    }

    fn repo() -> Inputs {
        let mut inputs = Inputs::default();
        let files = [
            (
                "amiset.toml",
                "regions = [\"us-east-1\", \"us-west-2\"]\n[teams]\n\"@o/t\" = [\"@a\"]\n",
            ),
            ("SCOPES", "aws-provisioner:admin @o/t\n"),
            ("ami-sets/a.toml", "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123abcd\"\n"),
            (
                "ami-sets/b.toml",
                "[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-0123abce\"\n",
            ),
            (
                "worker-types/w1.toml",
                "amiSetId = \"a\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
            ),
            (
                "worker-types/w2.toml",
                "amiSetId = \"a\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m6g.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
            ),
            (
                "worker-types/w3.toml",
                "amiSetId = \"b\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m6g.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
            ),
        ];
        for (p, t) in files {
            inputs.files.push(InputFile {
                path: p.into(),
                content: Content::Bytes(t.as_bytes().to_vec()),
            });
        }
        inputs
    }

    fn same_as_full_check(a: &Analysis) {
        let (_, full) = super::super::run(a.inputs(), &Limits::default());
        assert_eq!(a.report().findings, full.findings);
    }

    #[test]
    fn editing_a_set_rechecks_it_and_the_worker_types_that_use_it() {
        let mut a = Analysis::new(repo(), Limits::default());
        same_as_full_check(&a);
        // w2 (m6g, arm64) does not resolve in set a, which has only x86_64.
        let codes = |a: &Analysis, path: &str| -> Vec<&'static str> {
            a.report()
                .findings
                .iter()
                .filter(|f| f.file.as_deref() == Some(path))
                .map(|f| f.code.as_str())
                .collect()
        };
        assert_eq!(codes(&a, "worker-types/w2.toml"), ["resolve::no-usable-ami"]);
        let fixed = "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123abcd\"\n[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-0123abcf\"\n";
        let work = a.update("ami-sets/a.toml", bytes(fixed));
        assert_eq!(
            work,
            Work {
                parsed: 1,
                sets: 1,
                worker_types: 2
            }
        );
        assert!(codes(&a, "worker-types/w2.toml").is_empty());
        same_as_full_check(&a);
    }

    #[test]
    fn editing_a_worker_type_rechecks_only_itself_and_scopes_only_the_global_checks() {
        let mut a = Analysis::new(repo(), Limits::default());
        let typo =
            "amiSetId = \"aa\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n";
        let work = a.update("worker-types/w1.toml", bytes(typo));
        assert_eq!(
            work,
            Work {
                parsed: 1,
                sets: 0,
                worker_types: 1
            }
        );
        assert!(a.report().findings.iter().any(|f| f.code.as_str() == "ref::unknown-ami-set"));
        same_as_full_check(&a);
        let work = a.update("SCOPES", bytes("aws-provisioner:admin @o/nope\n"));
        assert_eq!(
            work,
            Work {
                parsed: 1,
                sets: 0,
                worker_types: 0
            }
        );
        same_as_full_check(&a);
        let work = a.update("amiset.toml", bytes("regions = [\"us-west-2\"]\n"));
        assert_eq!(
            work,
            Work {
                parsed: 1,
                sets: 2,
                worker_types: 3
            }
        );
        same_as_full_check(&a);
    }

    /// Texts for each file, so that random edits hit every kind of finding.
    fn text_for(path: &str, pick: usize) -> Option<Content> {
        let options: &[&str] = match path {
            "amiset.toml" => &[
                "",
                "regions = [\"us-east-1\"]\n",
                "regions = [\"us-west-2\"]\nlegacyImageIds = \"deny\"\n",
                "[[revoked]]\nami = \"ami-0123abcd\"\nreason = \"bad\"\n",
                "regions = [",
            ],
            "SCOPES" => &["", "aws-provisioner:admin @o/t\n", "x @o/missing\n", "bad line\n"],
            p if p.starts_with("ami-sets/") => &[
                "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123abcd\"\n",
                "[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-0123abce\"\n",
                "[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-0123abcd\"\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-0123abcd\"\n",
                "[[amis]\n",
                "description = 1\n",
            ],
            _ => &[
                "amiSetId = \"a\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
                "amiSetId = \"b\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m6g.large\"\n[[regions]]\nregion = \"us-west-2\"\n",
                "amiSetId = \"c\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
                "maxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = { ImageId = \"ami-0123abcd\" }\n",
                "amiSetId = 3\n",
                // Fails its schema (InstanceType in a launch spec), with a mistyped instance type in it.
                "amiSetId = \"a\"\nmaxCapacity = 1\n[launchSpec]\nInstanceType = \"m5.larg\"\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[regions]]\nregion = \"us-east-1\"\n",
                "amiSetId = \"a\"\nmaxCapacity = 1\n[[instanceTypes]]\ninstanceType = \"c5.2xlargee\"\n[[regions]]\nregion = \"us-east-1\"\n",
            ],
        };
        // One more choice than texts: the file is removed.
        options
            .get(pick % (options.len() + 1))
            .map(|t| Content::Bytes(t.as_bytes().to_vec()))
    }

    const PATHS: [&str; 8] = [
        "amiset.toml",
        "SCOPES",
        "ami-sets/a.toml",
        "ami-sets/b.toml",
        "ami-sets/c.toml",
        "worker-types/w1.toml",
        "worker-types/w2.toml",
        "worker-types/w3.toml",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever the sequence of edits, the incremental result is the full check's.
        #[test]
        fn any_sequence_of_edits_gives_the_full_checks_findings(
            edits in proptest::collection::vec((0..PATHS.len(), 0usize..8), 1..12),
            limit in prop_oneof![Just(1_000_000usize), Just(2usize)],
        ) {
            let limits = Limits { max_launch_specs: limit, ..Limits::default() };
            let mut a = Analysis::new(repo(), limits.clone());
            for (p, pick) in edits {
                a.update(PATHS[p], text_for(PATHS[p], pick));
                let (_, full) = super::super::run(a.inputs(), &limits);
                prop_assert_eq!(a.report().findings, full.findings);
            }
        }
    }
}
