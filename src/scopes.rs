//! The `SCOPES` file (who holds which scopes) and Taskcluster's scope
//! satisfaction rule.
//!
//! Each line is a scope pattern followed by one or more grantees (`@user`,
//! `@org/team`, or an e-mail address). `#` at the start of a line or after
//! white space starts a comment. A person holds the union of the patterns on
//! every line that names them or a team they belong to.

use std::ops::Range;

use crate::config::Policy;
use crate::diag::{Code, Finding, did_you_mean};

/// One grant line of `SCOPES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The scope pattern.
    pub pattern: String,
    /// 1-based line number.
    pub line: usize,
    /// Byte span of the pattern.
    pub span: Range<usize>,
    /// Grantees as written (`@user`, `@org/team`, e-mail).
    pub grantees: Vec<String>,
}

/// The parsed `SCOPES` file; lines with errors are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    pub grants: Vec<Grant>,
}

/// Whether `pattern` satisfies `scope`: equal, or `pattern` ends in `*` and
/// `scope` starts with the pattern minus that `*`. Only a trailing `*` is a
/// wildcard.
pub fn satisfies(pattern: &str, scope: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => scope.starts_with(prefix),
        None => pattern == scope,
    }
}

/// Whether a scope is made only of printable ASCII (0x20–0x7E).
pub fn is_valid_scope(scope: &str) -> bool {
    scope.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Normalizes an identity for comparison: GitHub logins and e-mail
/// addresses are case-insensitive; a bare login gets its `@`.
pub fn normalize_identity(id: &str) -> String {
    let id = id.trim();
    if id.starts_with('@') || id.contains('@') {
        id.to_ascii_lowercase()
    } else {
        format!("@{}", id.to_ascii_lowercase())
    }
}

/// A GitHub login: `@user`, or a GitHub App's bot account `@<app-slug>[bot]`
/// (the author of the pull requests the App opens).
fn is_user(g: &str) -> bool {
    let login =
        |u: &str| !u.is_empty() && u.len() <= 39 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !u.starts_with('-');
    g.strip_prefix('@').is_some_and(|u| login(u.strip_suffix("[bot]").unwrap_or(u)))
}

fn is_team(g: &str) -> bool {
    g.strip_prefix('@').and_then(|t| t.split_once('/')).is_some_and(|(org, team)| {
        !org.is_empty()
            && !team.is_empty()
            && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && team
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    })
}

fn is_email(g: &str) -> bool {
    match g.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        }
        None => false,
    }
}

impl Scopes {
    /// Grants on lines that name `who` directly or through a team of `policy`.
    pub fn grants_of<'a>(&'a self, who: &str, policy: &'a Policy) -> impl Iterator<Item = &'a Grant> + 'a {
        let who = normalize_identity(who);
        self.grants.iter().filter(move |g| {
            g.grantees.iter().any(|grantee| {
                let grantee_norm = grantee.to_ascii_lowercase();
                grantee_norm == who
                    || (is_team(grantee)
                        && policy.teams.iter().any(|(team, members)| {
                            team.eq_ignore_ascii_case(grantee) && members.iter().any(|m| normalize_identity(m) == who)
                        }))
            })
        })
    }

    /// The first grant of `who` that satisfies `scope`.
    pub fn satisfying<'a>(&'a self, who: &str, scope: &str, policy: &'a Policy) -> Option<&'a Grant> {
        self.grants_of(who, policy).find(|g| satisfies(&g.pattern, scope))
    }

    /// Whether `who` holds `scope`.
    pub fn holds(&self, who: &str, scope: &str, policy: &Policy) -> bool {
        self.satisfying(who, scope, policy).is_some()
    }
}

/// Parses `SCOPES`; malformed lines become findings with a span on the line
/// and are left out of the result.
pub fn parse(path: &str, text: &str, policy: &Policy) -> (Scopes, Vec<Finding>) {
    let mut scopes = Scopes::default();
    let mut findings = Vec::new();
    // A byte order mark is no part of the first line (spans stay on the whole text).
    let (text, mut offset) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, '\u{feff}'.len_utf8()),
        None => (text, 0),
    };
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        // Tokens with their byte offsets, up to a comment.
        let mut tokens: Vec<(usize, &str)> = Vec::new();
        let mut pos = 0;
        for piece in line.split_inclusive([' ', '\t']) {
            let token = piece.trim_end_matches([' ', '\t']);
            if !token.is_empty() {
                if token.starts_with('#') {
                    break;
                }
                tokens.push((line_start + pos, token));
            }
            pos += piece.len();
        }
        let Some(&(start, pattern)) = tokens.first() else { continue };
        let span = start..start + pattern.len();
        let mut ok = true;
        if !is_valid_scope(pattern) {
            findings.push(
                Finding::new(
                    Code::InvalidScope,
                    format!("scope pattern `{}` is not printable ASCII", pattern.escape_debug()),
                )
                .at(path, span.clone())
                .label("invalid scope")
                .help("scopes use only printable ASCII characters (0x20-0x7E)"),
            );
            ok = false;
        }
        if tokens.len() == 1 {
            findings.push(
                Finding::new(
                    Code::ScopesSyntax,
                    format!("scope pattern `{}` has no grantees", pattern.escape_debug()),
                )
                .at(path, span.clone())
                .label("nobody is granted this")
                .help("write the grantees after the pattern: `<scope> @user @org/team a@example.com`"),
            );
            ok = false;
        }
        let mut grantees = Vec::new();
        for &(gstart, grantee) in &tokens[1..] {
            let gspan = gstart..gstart + grantee.len();
            if is_team(grantee) {
                if !policy.teams.keys().any(|t| t.eq_ignore_ascii_case(grantee)) {
                    findings.push(
                        Finding::new(
                            Code::UnknownTeam,
                            format!("team `{grantee}` is not defined in `amiset.toml` `[teams]`"),
                        )
                        .at(path, gspan)
                        .label("unknown team")
                        .maybe_help(
                            did_you_mean(grantee, policy.teams.keys().map(String::as_str))
                                .or_else(|| Some(format!("add `\"{grantee}\" = [\"@someone\"]` under `[teams]`"))),
                        ),
                    );
                    ok = false;
                }
            } else if !(is_user(grantee) || is_email(grantee)) {
                findings.push(
                    Finding::new(Code::InvalidGrantee, format!("`{}` is not a valid grantee", grantee.escape_debug()))
                        .at(path, gspan)
                        .label("invalid grantee")
                        .help("grantees are `@user`, `@org/team` or an e-mail address"),
                );
                ok = false;
            }
            grantees.push(grantee.to_string());
        }
        if ok {
            scopes.grants.push(Grant {
                pattern: pattern.to_string(),
                line: index + 1,
                span,
                grantees,
            });
        }
    }
    (scopes, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.teams
            .insert("@example/relops".into(), vec!["@alice".into(), "bob@example.com".into()]);
        p
    }

    #[test]
    fn only_trailing_star_is_a_wildcard() {
        assert!(satisfies("a:b:*", "a:b:c"));
        assert!(satisfies("a:b:*", "a:b:"));
        assert!(satisfies("*", "anything"));
        assert!(!satisfies("a:*:c", "a:b:c"));
        assert!(satisfies("a:*:c", "a:*:c"));
        assert!(!satisfies("a:b", "a:b:c"));
    }

    #[test]
    fn grants_add_up_across_lines_and_teams() {
        let text = "# comment\naws-provisioner:manage-ami-set:ubuntu-*  @example/relops\naws-provisioner:admin @Carol # inline\n";
        let (scopes, findings) = parse("SCOPES", text, &policy());
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(scopes.grants.len(), 2);
        let p = policy();
        let g = scopes
            .satisfying("alice", "aws-provisioner:manage-ami-set:ubuntu-2204", &p)
            .unwrap();
        assert_eq!(g.line, 2);
        assert!(scopes.holds("BOB@example.com", "aws-provisioner:manage-ami-set:ubuntu-1", &p));
        assert!(scopes.holds("@carol", "aws-provisioner:admin", &p));
        assert!(!scopes.holds("@alice", "aws-provisioner:admin", &p));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_line() {
        let text = "\u{feff}# owners\naws-provisioner:admin @carol\na:b bad!grantee\n";
        let (scopes, findings) = parse("SCOPES", text, &policy());
        // Only the real error, at its own place on line 3.
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(&text[findings[0].span.clone().unwrap()], "bad!grantee");
        assert!(scopes.holds("@carol", "aws-provisioner:admin", &policy()));
    }

    #[test]
    fn malformed_lines_are_findings_with_spans() {
        let text = "a:b\nc:d @example/nope\ne:f bad!grantee\nsé:x @a\n";
        let (scopes, findings) = parse("SCOPES", text, &policy());
        assert!(scopes.grants.is_empty());
        let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            vec![Code::ScopesSyntax, Code::UnknownTeam, Code::InvalidGrantee, Code::InvalidScope]
        );
        assert_eq!(&text[findings[1].span.clone().unwrap()], "@example/nope");
    }

    #[test]
    fn a_github_app_is_granted_by_its_bot_login() {
        let text = "aws-provisioner:manage-ami-set:* @amiset-update[bot]\nx:y @a[bot]x\nx:z @[bot]\nx:w @-x[bot]\n";
        let (scopes, findings) = parse("SCOPES", text, &policy());
        let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, vec![Code::InvalidGrantee; 3], "{findings:?}");
        assert_eq!(scopes.grants.len(), 1);
        let p = policy();
        // GitHub's `pull_request.user.login` of an App's pull request, with the gate's `@`.
        assert!(scopes.holds("@Amiset-Update[bot]", "aws-provisioner:manage-ami-set:ubuntu-1", &p));
        assert!(!scopes.holds("@amiset-update", "aws-provisioner:manage-ami-set:ubuntu-1", &p));
    }

    proptest! {
        #[test]
        fn exact_pattern_satisfies_itself(s in "[ -~]{0,30}") {
            prop_assert!(satisfies(&s, &s));
        }

        #[test]
        fn star_pattern_satisfies_every_extension(prefix in "[ -)+-~]{0,20}", rest in "[ -~]{0,20}") {
            let pattern = format!("{prefix}*");
            let scope = format!("{prefix}{rest}");
            prop_assert!(satisfies(&pattern, &scope));
        }

        #[test]
        fn non_star_pattern_satisfies_only_equal(a in "[ -)+-~]{0,10}", b in "[ -~]{0,10}") {
            prop_assert_eq!(satisfies(&a, &b), a == b);
        }
    }
}
