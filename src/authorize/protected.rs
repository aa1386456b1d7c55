//! Protected paths (DESIGN §4): the files that enforce the gate itself
//! (workflows, code owners, hooks, attributes). A change to any of them
//! needs the admin scope, wherever the config directory is.
//!
//! Patterns are globs anchored at the repository root: `*` and `?` stay
//! within one path segment, `**` crosses segments, a trailing `/` means
//! everything below. `dir/**` also matches `dir` itself, so replacing the
//! directory by a file or a link is protected too. Matching ignores case:
//! on a case-insensitive checkout `.GitHub/workflows` is `.github/workflows`.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A compiled list of protected path patterns.
#[derive(Clone, Debug)]
pub struct ProtectedPaths {
    set: GlobSet,
    /// For each glob of `set`, the index of the pattern it came from.
    owners: Vec<usize>,
    patterns: Vec<String>,
}

/// A pattern that does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPattern {
    /// Index in the list.
    pub index: usize,
    pub pattern: String,
    pub reason: String,
}

impl ProtectedPaths {
    /// Compiles `patterns`; the first invalid one is the error.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, InvalidPattern> {
        let mut builder = GlobSetBuilder::new();
        let mut owners = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let invalid = |reason: String| InvalidPattern {
                index,
                pattern: pattern.to_string(),
                reason,
            };
            let normalized = normalize(pattern)
                .ok_or_else(|| invalid("a pattern is a path from the repository root: not empty, without `.` or `..` segments".into()))?;
            let mut alternatives = vec![normalized.clone()];
            if let Some(dir) = normalized.strip_suffix("/**") {
                alternatives.push(dir.to_string());
            }
            for glob in alternatives {
                let glob = GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .case_insensitive(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| invalid(e.kind().to_string()))?;
                builder.add(glob);
                owners.push(index);
            }
        }
        let set = builder.build().map_err(|e| InvalidPattern {
            index: 0,
            pattern: String::new(),
            reason: e.to_string(),
        })?;
        Ok(ProtectedPaths {
            set,
            owners,
            patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect(),
        })
    }

    /// The first pattern (as written) that matches `path`, a `/`-separated path from the repository root.
    pub fn matching(&self, path: &str) -> Option<&str> {
        let first = *self.set.matches(path).first()?;
        Some(&self.patterns[self.owners[first]])
    }
}

/// `/a//b/` → `a/b/**`; `None` for an empty pattern or one with `.`/`..` segments.
fn normalize(pattern: &str) -> Option<String> {
    let trailing_slash = pattern.ends_with('/');
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() || segments.iter().any(|s| *s == "." || *s == "..") {
        return None;
    }
    let mut out = segments.join("/");
    if trailing_slash {
        out.push_str("/**");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::DEFAULT_PROTECTED_PATHS;

    fn defaults() -> ProtectedPaths {
        ProtectedPaths::new(&DEFAULT_PROTECTED_PATHS).unwrap()
    }

    #[test]
    fn default_list_protects_workflows_code_owners_and_hooks() {
        let p = defaults();
        for path in [
            ".github/workflows/amiset.yml",
            ".github/workflows/new.yaml",
            ".github/actions/x/action.yml",
            ".github/CODEOWNERS",
            ".github",
            "CODEOWNERS",
            "docs/CODEOWNERS",
            ".pre-commit-config.yaml",
            ".gitattributes",
            ".GitHub/Workflows/amiset.yml",
        ] {
            assert!(p.matching(path).is_some(), "{path} must be protected");
        }
        for path in [
            "README.md",
            "config/CODEOWNERS",
            "docs/authorize.md",
            "worker-types/github.toml",
            ".githubx/workflows/a.yml",
            "sub/.github/workflows/a.yml",
            "sub/.pre-commit-config.yaml",
        ] {
            assert_eq!(p.matching(path), None, "{path} must not be protected");
        }
    }

    #[test]
    fn matching_names_the_pattern_as_written() {
        let p = ProtectedPaths::new(&["ci/", "Makefile", "scripts/*.sh"]).unwrap();
        assert_eq!(p.matching("ci/deploy.yml"), Some("ci/"));
        assert_eq!(p.matching("ci"), Some("ci/"));
        assert_eq!(p.matching("Makefile"), Some("Makefile"));
        assert_eq!(p.matching("scripts/gate.sh"), Some("scripts/*.sh"));
        assert_eq!(p.matching("scripts/sub/gate.sh"), None, "`*` stays within a segment");
        assert_eq!(p.matching(".github/workflows/a.yml"), None, "the list replaces the defaults");
    }

    #[test]
    fn an_empty_list_protects_nothing() {
        let p = ProtectedPaths::new::<&str>(&[]).unwrap();
        assert_eq!(p.matching(".github/workflows/a.yml"), None);
    }

    #[test]
    fn invalid_patterns_are_refused_with_their_index() {
        for (patterns, index) in [
            (&["ok", "a/[b"][..], 1),
            (&[""][..], 0),
            (&["x", "y", "../z"][..], 2),
            (&["/"][..], 0),
        ] {
            let err = ProtectedPaths::new(patterns).unwrap_err();
            assert_eq!(err.index, index, "{patterns:?}");
        }
    }
}
