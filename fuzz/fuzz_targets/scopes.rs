//! The SCOPES parser and scope matching: `scopes::parse` on arbitrary text
//! with arbitrary teams, then `satisfies` and `Scopes::satisfying` on
//! arbitrary people and scopes, checked against the rule in DESIGN §1.
//! Inputs are plain SCOPES files, optionally followed by questions (see
//! [`Input`]), so that real SCOPES files are seeds.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use amiset::config::Policy;
use amiset::scopes::{self, satisfies};
use amiset::{Finding, Report};
use amiset_fuzz::check_report;
use libfuzzer_sys::fuzz_target;

/// Splits an input into the SCOPES text and a query section after a
/// `\n\0\n` line: `team @org/name @member...` lines add teams, other lines
/// are `who scope` questions.
struct Input {
    text: String,
    teams: BTreeMap<String, Vec<String>>,
    queries: Vec<(String, String)>,
}

impl Input {
    fn from(data: &[u8]) -> Input {
        let data = String::from_utf8_lossy(data);
        let (text, rest) = data.split_once("\n\0\n").unwrap_or((&data, ""));
        let mut teams: BTreeMap<String, Vec<String>> = [(
            "@example/relops".to_string(),
            vec!["@alice".to_string(), "bob@example.com".to_string()],
        )]
        .into_iter()
        .collect();
        let mut queries = Vec::new();
        for line in rest.lines() {
            let mut words = line.split(' ');
            match (words.next(), words.next()) {
                (Some("team"), Some(team)) => {
                    teams.insert(team.to_string(), words.map(str::to_string).collect());
                }
                (Some(who), Some(scope)) => queries.push((who.to_string(), scope.to_string())),
                _ => {}
            }
        }
        Input {
            text: text.to_string(),
            teams,
            queries,
        }
    }
}

/// Taskcluster's rule, written independently of the code under test.
fn rule(pattern: &str, scope: &str) -> bool {
    let p = pattern.as_bytes();
    match p.last() {
        Some(b'*') => scope.as_bytes().get(..p.len() - 1) == Some(&p[..p.len() - 1]),
        _ => pattern == scope,
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::from(data);
    let mut policy = Policy::default();
    policy.teams = input.teams;
    let text = input.text.as_str();
    let (parsed, findings): (scopes::Scopes, Vec<Finding>) = scopes::parse("SCOPES", text, &policy);

    for g in &parsed.grants {
        assert_eq!(
            text.get(g.span.clone()),
            Some(g.pattern.as_str()),
            "grant span points at its pattern"
        );
        assert_eq!(text[..g.span.start].matches('\n').count() + 1, g.line, "grant line number");
        assert!(scopes::is_valid_scope(&g.pattern), "a grant's pattern is printable ASCII");
        assert!(!g.grantees.is_empty(), "a grant names someone");
        assert!(!g.pattern.starts_with('#'), "comments are not grants");
    }
    let report = Report {
        findings,
        sources: [("SCOPES".to_string(), Arc::<str>::from(text))].into_iter().collect(),
    };
    check_report(&report);

    let mut queries = input.queries;
    // Also ask about what the file itself names, where matches are likely.
    for g in parsed.grants.iter().take(4) {
        for who in g.grantees.iter().take(2) {
            queries.push((who.clone(), g.pattern.clone()));
            queries.push((who.clone(), format!("{}x", g.pattern.trim_end_matches('*'))));
        }
    }
    for (who, scope) in queries.iter().take(32) {
        let holding: Vec<_> = parsed.grants_of(who, &policy).collect();
        for g in &parsed.grants {
            assert_eq!(
                satisfies(&g.pattern, scope),
                rule(&g.pattern, scope),
                "{:?} vs {scope:?}",
                g.pattern
            );
        }
        assert!(satisfies(scope, scope), "a scope satisfies itself");
        match parsed.satisfying(who, scope, &policy) {
            Some(g) => {
                assert!(rule(&g.pattern, scope), "grant {:?} does not satisfy {scope:?}", g.pattern);
                assert!(holding.iter().any(|h| std::ptr::eq(*h, g)), "the grant is one of {who:?}'s");
                assert!(parsed.holds(who, scope, &policy));
            }
            None => {
                assert!(
                    !holding.iter().any(|h| rule(&h.pattern, scope)),
                    "{who:?} holds {scope:?} but it was not found"
                );
                assert!(!parsed.holds(who, scope, &policy));
            }
        }
    }
});
