use super::*;
use crate::config::{Content, InputFile, Inputs, Limits};
use crate::diag::Code;
use crate::resolve::{Builtin, resolve_worker_type};

fn config(files: &[(&str, &str)]) -> Config {
    let inputs = Inputs {
        files: files
            .iter()
            .map(|(p, t)| InputFile {
                path: p.to_string(),
                content: Content::Bytes(t.as_bytes().to_vec()),
            })
            .collect(),
    };
    let (config, report) = crate::config::load(&inputs, &Limits::default());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    config
}

fn resolved(config: &Config) -> BTreeMap<String, Vec<Cell>> {
    config
        .worker_types
        .iter()
        .map(|(name, wt)| {
            let set = wt.ami_set_id.as_deref().and_then(|id| config.ami_sets.get(id));
            let specs: Vec<_> = resolve_worker_type(wt, set, &Builtin).into_iter().flatten().collect();
            (name.clone(), cells(&specs))
        })
        .collect()
}

const SET: &str = r#"description = "Ubuntu <script>alert('x')</script> & \"friends\""
[[amis]]
region = "us-east-1"
hvm = "ami-0123456789abcdef0"
pv = "ami-0a1b2c3d"
[[amis]]
region = "us-east-1"
arch = "arm64"
hvm = "ami-0fedcba9876543210"
[[amis]]
region = "eu-central-1"
hvm = "ami-01111111111111111"
"#;

const WORKER: &str = r#"description = "</td></tr><img src=x onerror=alert(1)>"
owner = "relops@example.com"
amiSetId = "ubuntu"
maxCapacity = 5
[[instanceTypes]]
instanceType = "m5.large"
[[instanceTypes]]
instanceType = "m1.small"
[[instanceTypes]]
instanceType = "c7g.large"
[[regions]]
region = "us-east-1"
[[regions]]
region = "eu-central-1"
"#;

fn example() -> Config {
    config(&[
        ("ami-sets/ubuntu.toml", SET),
        (
            "ami-sets/unused.toml",
            "[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-02222222222222222\"\n",
        ),
        ("worker-types/linux.toml", WORKER),
    ])
}

#[test]
fn escape_covers_markup_and_both_quotes() {
    assert_eq!(
        escape(r#"<a href="x" title='y'>&</a>"#),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(escape("ami-0123 é"), "ami-0123 é");
}

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
}

#[test]
fn values_are_escaped_and_only_our_own_script_remains() {
    let c = example();
    let page = render(&c, &resolved(&c), &[]);
    assert!(page.contains("Ubuntu &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;friends&quot;"));
    assert!(page.contains("&lt;/td&gt;&lt;/tr&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert_eq!(page.matches("<script").count(), 1, "only the page's own script");
    assert!(!page.contains("<img"));
    assert!(!page.contains("http://") && !page.contains("https://"), "no network reference");
}

/// CSP source hashes are `'sha256-' + base64(sha256(text))`; the expected
/// values were computed with Python's hashlib and base64.
#[test]
fn csp_hash_is_the_base64_sha256_of_the_text() {
    assert_eq!(csp_hash("alert(1)"), "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
    assert_eq!(csp_hash(""), "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='");
    assert_eq!(csp_hash("é\n"), "'sha256-7dOoY4cqBCOesprUvBL8iSs9SuV8x+eGo2l4FvjhQcI='");
}

/// The text between `open` and the next `close` in `page`, once.
fn between<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
    assert_eq!(page.matches(open).count(), 1, "{open}");
    let start = page.find(open).unwrap() + open.len();
    &page[start..start + page[start..].find(close).unwrap()]
}

#[test]
fn the_policy_pins_the_inline_style_and_script_by_hash() {
    let c = example();
    let page = render(&c, &resolved(&c), &[]);
    // The text the browser hashes is what stands between the tags in the page.
    let script = between(&page, "<script>", "</script>");
    let style = between(&page, "<style>", "</style>");
    assert_eq!(script, JS);
    assert_eq!(style, CSS);
    // The attribute escapes quotes (`&#39;`); the browser reads it unescaped.
    let policy = between(&page, "http-equiv=\"Content-Security-Policy\" content=\"", "\"").replace("&#39;", "'");
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'none'"), "{policy}");
    let hash_of = |name: &str| {
        directives
            .iter()
            .find_map(|d| d.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {policy}"))
    };
    assert_eq!(hash_of("script-src"), csp_hash(script));
    assert_eq!(hash_of("style-src"), csp_hash(style));
    assert_ne!(hash_of("script-src"), hash_of("style-src"));
}

#[test]
fn rows_link_worker_types_and_sets_both_ways() {
    let c = example();
    let page = render(&c, &resolved(&c), &[]);
    assert!(page.contains("<tr id=\"set-ubuntu\">"));
    assert!(page.contains("<tr id=\"set-unused\">"));
    assert!(page.contains("<tr id=\"wt-linux\">"));
    assert!(page.contains("<a href=\"#set-ubuntu\"><code>ubuntu</code></a>"));
    assert!(page.contains("<a href=\"#wt-linux\">linux</a>"));
    assert!(page.contains("no worker type"), "the unused set says so");
}

#[test]
fn the_matrix_has_a_column_per_region_and_the_specs_every_resolved_image() {
    let c = example();
    let page = render(&c, &resolved(&c), &[]);
    for r in ["eu-central-1", "us-east-1", "us-west-2"] {
        assert!(page.contains(&format!("<th scope=\"col\">{r}</th>")), "{r}");
    }
    assert!(page.contains("<span class=\"tag\">x86_64 pv</span><span class=\"ami\">ami-0a1b2c3d</span>"));
    assert!(page.contains("<span class=\"tag\">arm64 hvm</span><span class=\"ami\">ami-0fedcba9876543210</span>"));
    // c7g is Graviton: arm64 in us-east-1; m1.small is PV-capable but prefers HVM.
    assert!(page.contains("<span class=\"ami\">ami-0fedcba9876543210</span> <span class=\"tag\">arm64 hvm</span>"));
    assert!(page.contains("<span class=\"ami\">ami-0123456789abcdef0</span> <span class=\"tag\">x86_64 hvm</span>"));
}

/// Every marked element of `page`: its class attribute and the text up to the next tag's end.
fn marked(page: &str) -> Vec<String> {
    page.match_indices(" class=\"entry bad\"")
        .chain(page.match_indices("<td class=\"bad\""))
        .map(|(i, _)| {
            let rest = &page[i..];
            // The marked element's AMI: the first `class="ami"` span after the mark.
            let ami = rest.find("<span class=\"ami\">").map(|a| &rest[a..a + 60]).unwrap_or("");
            format!("{} {}", &rest[..rest.find('>').unwrap()], ami)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[test]
fn output_is_deterministic_and_independent_of_finding_order() {
    // Two configs loaded from the same files listed in opposite orders.
    let files = [
        ("ami-sets/ubuntu.toml", SET),
        (
            "ami-sets/unused.toml",
            "[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-02222222222222222\"\n",
        ),
        ("worker-types/linux.toml", WORKER),
    ];
    let c = config(&files);
    let mut reversed = files;
    reversed.reverse();
    let c2 = config(&reversed);
    let (a, b) = problems(&c);
    let page = render(&c, &resolved(&c), &[a.clone(), b.clone()]);
    assert_eq!(page, render(&c2, &resolved(&c2), &[a.clone(), b.clone()]));
    // The per-cell order of messages follows the input order; what is marked does not.
    let swapped = render(&c, &resolved(&c), &[b, a]);
    let marks = marked(&page);
    assert_eq!(marks, marked(&swapped));
    assert_eq!(marks.len(), 2, "the PV AMI's entry and m5.large's eu-central-1 cell: {marks:#?}");
    assert!(marks.iter().any(|m| m.contains("ami-0a1b2c3d")), "{marks:#?}");
    assert!(
        marks
            .iter()
            .any(|m| m.starts_with("<td class=\"bad\"") && m.contains("ami-01111111111111111")),
        "{marks:#?}"
    );
}

/// An `ec2::ami-not-found` on the PV AMI and an instance type not offered in eu-central-1.
fn problems(c: &Config) -> (Finding, Finding) {
    let set_doc = c.set_doc("ubuntu").unwrap();
    let wt_doc = c.worker_doc("linux").unwrap();
    let a = Finding::new(Code::AmiNotFound, "`ami-0a1b2c3d` does not exist in us-east-1")
        .at("ami-sets/ubuntu.toml", set_doc.span_of_value("/amis/0/pv"));
    let b = Finding::new(Code::InstanceTypeNotOffered, "`m5.large` is not offered in eu-central-1")
        .at("worker-types/linux.toml", wt_doc.span_of_value("/instanceTypes/0/instanceType"));
    (a, b)
}

#[test]
fn ec2_findings_mark_exactly_the_cells_they_concern() {
    let c = example();
    let (a, b) = problems(&c);
    let soon = Finding::new(
        Code::AmiDeprecationSoon,
        "`ami-01111111111111111` in eu-central-1 will be deprecated soon",
    )
    .at("ami-sets/ubuntu.toml", c.set_doc("ubuntu").unwrap().span_of_value("/amis/2/hvm"));
    let owners = Finding::new(Code::OwnersUnrestricted, "`amiOwners` is not set: AMIs from any account pass");
    let page = render(&c, &resolved(&c), &[a, b, soon, owners]);
    assert_eq!(page.matches("<div class=\"entry bad\">").count(), 1, "only the PV AMI");
    assert!(page.contains("<div class=\"entry bad\"><span class=\"tag\">x86_64 pv</span><span class=\"ami\">ami-0a1b2c3d</span><span class=\"issue bad\" title=\"ec2::ami-not-found\">`ami-0a1b2c3d` does not exist in us-east-1</span>"));
    assert_eq!(page.matches("<div class=\"entry warn\">").count(), 1, "the AMI deprecated soon");
    // m5.large in eu-central-1 is not offered; m5.large in us-east-1 is fine.
    assert_eq!(page.matches("<td class=\"bad\"><span class=\"ami\">").count(), 1);
    assert!(page.contains("<td class=\"bad\"><span class=\"ami\">ami-01111111111111111</span> <span class=\"tag\">x86_64 hvm</span><span class=\"issue bad\" title=\"ec2::instance-type-not-offered\">"));
    // Every launch spec on the AMI deprecated soon is marked: m5.large's cell is already bad, m1.small's is a warning.
    assert_eq!(
        page.matches("<td class=\"warn\"><span class=\"ami\">ami-01111111111111111</span>")
            .count(),
        1
    );
    // A finding about the whole run is listed on its own.
    assert!(page.contains("<section id=\"ec2-findings\">"));
    assert!(page.contains("<code>ec2::owners-unrestricted</code> `amiOwners` is not set"));
    assert!(page.contains("EC2: 2 errors, 2 warnings"));
}

#[test]
fn region_names_match_as_whole_words() {
    assert!(marks_names("`m5.large` is not offered in us-east-1", "us-east-1"));
    assert!(marks_names(
        "could not verify what `m5.large` can run in us-east-1: timeout",
        "us-east-1"
    ));
    assert!(!marks_names("`m5.large` is not offered in us-east-10", "us-east-1"));
    assert!(!marks_names("`m5.large` is not offered in xus-east-1", "us-east-1"));
}

fn marks_names(message: &str, region: &str) -> bool {
    marks::names_region(message, region)
}

/// A region with zones is one cell per instance type, listing the zones that
/// launch it: a zone `offerings.json` leaves out for a type is not listed,
/// and the summary counts one launch spec per listed zone (here 2 + 1).
#[test]
fn a_cell_of_a_region_with_zones_lists_the_zones_that_launch_it() {
    let c = config(&[
        (
            "ami-sets/ubuntu.toml",
            "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n",
        ),
        (
            "worker-types/zoned.toml",
            "amiSetId = \"ubuntu\"\nmaxCapacity = 2\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n[[instanceTypes]]\ninstanceType = \"c5.large\"\n\
             [[regions]]\nregion = \"us-east-1\"\nzones = [{ zone = \"us-east-1a\" }, { zone = \"us-east-1b\" }]\n",
        ),
        (
            "offerings.json",
            r#"{"zones": {"us-east-1a": ["c5.large", "m5.large"], "us-east-1b": ["m5.large"]}}"#,
        ),
    ]);
    let wt = &c.worker_types["zoned"];
    let specs: Vec<_> = crate::resolve::resolve_offered(wt, c.ami_sets.get("ubuntu"), &Builtin, c.offerings.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let page = render(&c, &BTreeMap::from([("zoned".to_string(), cells(&specs))]), &[]);
    let table = between(&page, "<table class=\"specs\">", "</table>");
    let row = between(table, "<th scope=\"row\">us-east-1</th>", "</tr>");
    let tds: Vec<&str> = row.split("<td").skip(1).collect();
    assert_eq!(tds.len(), 2, "{row}");
    assert!(
        tds[0].contains("<span class=\"zones\">us-east-1a us-east-1b</span>"),
        "m5.large: {}",
        tds[0]
    );
    assert!(tds[1].contains("<span class=\"zones\">us-east-1a</span>"), "c5.large: {}", tds[1]);
    assert!(
        page.contains("3 launch specs"),
        "{}",
        between(&page, "<p class=\"summary\">", "</p>")
    );
}
