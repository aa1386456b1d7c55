//! Findings: every problem a user can cause, with a stable code, a severity,
//! an exact location and help. Codes are declared once, in [`codes!`], and
//! everything else (the README table, SARIF rules, `amiset codes`) is derived
//! from that one list.

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails `check`, `compile` and `authorize` (exit 1).
    Error,
    /// Reported, fails only with `--deny-warnings`.
    Warning,
    /// Information only (what was left out, what was not checked); never fails.
    Note,
}

impl Severity {
    /// The lower-case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, $severity:ident; )*) => {
        /// Stable identifier of a kind of finding, e.g. `ref::unknown-ami-set`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[doc = $doc])+ $variant, )*
        }

        impl Code {
            /// Every code, in declaration order (grouped by concern).
            pub const ALL: &'static [Code] = &[ $(Code::$variant,)* ];

            /// The stable string form, `concern::kebab-name`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $name, )* }
            }

            /// The severity a finding of this code has unless policy says otherwise.
            pub fn default_severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$severity, )* }
            }

            /// One-paragraph description, taken from the doc comment.
            pub fn description(self) -> &'static str {
                match self { $( Code::$variant => concat!($($doc, "\n"),+).trim_ascii(), )* }
            }

            /// Looks a code up by its string form.
            pub fn from_name(name: &str) -> Option<Code> {
                Code::ALL.iter().copied().find(|c| c.as_str() == name)
            }
        }
    };
}

codes! {
    /// A file is larger than the per-file size limit (`--max-file-size`, default 1 MiB).
    FileTooLarge = "limits::file-too-large", Error;
    /// Tables or arrays are nested deeper than the limit (32 levels).
    NestingTooDeep = "limits::nesting-too-deep", Error;
    /// The config directory holds more files than the limit (`--max-files`, default 100000).
    TooManyFiles = "limits::too-many-files", Error;
    /// The compiled output would hold more launch specifications than the limit (`--max-launch-specs`, default 1000000).
    TooManyLaunchSpecs = "limits::too-many-launch-specs", Error;
    /// A file is not valid UTF-8.
    InvalidUtf8 = "file::invalid-utf8", Error;
    /// A symbolic link where a config file or directory is expected; links are never followed.
    Symlink = "file::symlink", Error;
    /// Something that is not a regular file (FIFO, socket, device, directory) where a config file is expected.
    NotAFile = "file::not-a-file", Error;
    /// A file inside `ami-sets/` or `worker-types/` that is not a `.toml` config file.
    StrayFile = "file::stray", Error;
    /// A file name whose stem is not a valid id (`^[A-Za-z0-9][A-Za-z0-9_-]{0,37}$`).
    InvalidName = "file::invalid-name", Error;
    /// Two files whose names differ only by case (they collide on case-insensitive checkouts), or one name listed twice.
    CaseCollision = "file::case-collision", Error;
    /// The file is not valid TOML.
    TomlSyntax = "parse::syntax", Error;
    /// A key that the schema does not allow at this place.
    UnknownKey = "schema::unknown-key", Error;
    /// A required key is missing.
    MissingKey = "schema::missing-key", Error;
    /// A value has the wrong type (e.g. a string where a number is expected).
    WrongType = "schema::wrong-type", Error;
    /// A value does not match the allowed format or set of values.
    InvalidValue = "schema::invalid-value", Error;
    /// A number or a list length is outside its allowed range.
    OutOfRange = "schema::out-of-range", Error;
    /// A worker type names an AMI set that does not exist.
    UnknownAmiSet = "ref::unknown-ami-set", Error;
    /// A revoked AMI (`[[revoked]]` in `amiset.toml`) is referenced.
    RevokedAmi = "ref::revoked-ami", Error;
    /// A region name that is not a known AWS region.
    UnknownRegion = "region::unknown", Error;
    /// A region that `amiset.toml` `regions` does not allow.
    RegionNotAllowed = "region::not-allowed", Error;
    /// Two entries of an AMI set share the same (region, arch).
    DuplicateAmiEntry = "ami-set::duplicate-entry", Error;
    /// An AMI set entry has neither `hvm` nor `pv`.
    EmptyAmiEntry = "ami-set::empty-entry", Error;
    /// An AMI set that no worker type uses.
    UnusedAmiSet = "ami-set::unused", Warning;
    /// A worker type lists the same region twice.
    DuplicateRegion = "worker-type::duplicate-region", Error;
    /// A zone that is not an availability zone (or local zone) of its `[[regions]]` entry's region; zones are named after their region (`us-east-1a`, `us-west-2-lax-1a`).
    ZoneOutsideRegion = "zone::outside-region", Error;
    /// A region of a worker type lists the same zone twice.
    DuplicateZone = "zone::duplicate", Error;
    /// `Placement.AvailabilityZone` in a launchSpec: the zone comes from `zones`, one launch spec per zone.
    AvailabilityZoneInLaunchSpec = "launch-spec::availability-zone", Error;
    /// `offerings.json` is not valid: bad JSON, or not `{"zones": {"<zone>": ["<instance type>", ...]}}`.
    OfferingsInvalid = "offerings::invalid", Error;
    /// A (zone, instance type) pair that EC2 does not offer, per `offerings.json`; it is left out of the compiled launch specs.
    OfferingsNotOffered = "offerings::not-offered", Note;
    /// An instance type that none of a worker type's zones of a region offers (or, without zones, that the region does not offer).
    OfferingsNowhere = "offerings::nowhere-offered", Error;
    /// A zone that `offerings.json` says nothing about.
    OfferingsUnknownZone = "offerings::unknown-zone", Error;
    /// Instance types are not filtered by what each zone offers: there is no `offerings.json` and no `--ec2`, or the file lists no zone of a region a worker type uses without zones.
    OfferingsUnfiltered = "offerings::unfiltered", Note;
    /// A worker type lists the same instance type twice.
    DuplicateInstanceType = "worker-type::duplicate-instance-type", Error;
    /// A worker type has both `amiSetId` and a raw `ImageId`.
    AmiSetAndImageId = "worker-type::ami-set-and-image-id", Error;
    /// A region of a worker type has neither `amiSetId` nor a raw `ImageId`.
    NoImage = "worker-type::no-image", Error;
    /// `minCapacity` is greater than `maxCapacity`, or `minPrice` greater than `maxPrice`.
    InvalidRange = "worker-type::invalid-range", Error;
    /// A worker type carries a `secrets` key; secrets do not belong in Git.
    Secrets = "worker-type::secrets", Error;
    /// An instance type that the built-in catalogue of EC2 instance types does not know (a typo, or a type newer than this amiset); `unknownInstanceTypes = "warn"` in `amiset.toml` makes it a warning, and it is then assumed to be HVM-only x86_64.
    UnknownInstanceType = "worker-type::unknown-instance-type", Error;
    /// A launchSpec key that is not allowed at this place (`ImageId` outside `regions[].launchSpec`, `InstanceType`, `UserData`).
    ForbiddenLaunchSpecKey = "launch-spec::forbidden-key", Error;
    /// `SecurityGroups` together with `SubnetId`; EC2 rejects this combination.
    SecurityGroupsWithSubnet = "launch-spec::security-groups-with-subnet", Error;
    /// A raw `ImageId` in a worker type, governed by `legacyImageIds` (warn, or error with `deny`).
    LegacyImageId = "policy::legacy-image-id", Warning;
    /// No AMI in the set fits a worker type's region and instance type.
    NoUsableAmi = "resolve::no-usable-ami", Error;
    /// `amiset migrate` left a worker type (or everything) alone because of errors that must be fixed first.
    MigrateBlocked = "migrate::blocked", Error;
    /// `amiset migrate` refused a worker type whose instance types of different architectures share one raw `ImageId`.
    MigrateArchitectureConflict = "migrate::architecture-conflict", Error;
    /// `amiset migrate` refused a worker type whose raw `ImageId` is launched on HVM-only and PV-only instance types alike.
    MigrateVirtualizationConflict = "migrate::virtualization-conflict", Error;
    /// `amiset migrate` refused a worker type whose raw `ImageId` EC2 describes with an architecture or virtualization type some of its instance types cannot run.
    MigrateImageConflict = "migrate::image-conflict", Error;
    /// A `[source]` image-name pattern without exactly one `*` (the `*` matches the build id).
    SourceWildcard = "source::wildcard", Error;
    /// `[source]` `minAge` is not a whole number of hours or days (`12h`, `2d`).
    SourceMinAge = "source::invalid-min-age", Error;
    /// `[source]` gives no image-name pattern for an (arch, hvm/pv) that the set holds.
    SourceMissingPattern = "source::missing-pattern", Error;
    /// `[source]` has no `owners` and `amiset.toml` no `amiOwners`: anyone's image of that name could be taken.
    SourceNoOwners = "source::no-owners", Error;
    /// A `[source]` `owners` account that `amiOwners` of `amiset.toml` does not list: `update` would take images `check --ec2` refuses.
    SourceOwnerNotAllowed = "source::owner-not-allowed", Error;
    /// `amiset update` left a set on its build because a newer build is missing in some (region, arch, hvm/pv) of the set.
    IncompleteBuild = "update::incomplete-build", Warning;
    /// `amiset update` or `amiset unreferenced` could not read a region from EC2; sets covering it are left unchanged.
    RegionUnreadable = "update::region-unreadable", Error;
    /// `amiset update` could not rewrite the file of a set it was to update (its layout is one the lossless editor cannot change); the set is left unchanged.
    UpdateEditFailed = "update::edit-failed", Error;
    /// `amiset promote`: the set promoted from lacks a (region, arch, hvm/pv) of the set promoted to.
    PromoteMissingKey = "promote::missing-key", Error;
    /// `amiset promote` could not rewrite the file of the set promoted to; nothing is written.
    PromoteEditFailed = "promote::edit-failed", Error;
    /// `amiset unreferenced --deregister`: a DeregisterImage call failed; the image is still registered, the other calls went ahead.
    DeregisterFailed = "unreferenced::deregister-failed", Error;
    /// A line of `SCOPES` that cannot be parsed.
    ScopesSyntax = "scopes::syntax", Error;
    /// A scope pattern with characters outside printable ASCII, or a `*` that is not trailing.
    InvalidScope = "scopes::invalid-scope", Error;
    /// A grantee that is not `@user`, `@org/team` or an e-mail address.
    InvalidGrantee = "scopes::invalid-grantee", Error;
    /// A team grantee that `amiset.toml` `[teams]` does not define.
    UnknownTeam = "scopes::unknown-team", Error;
    /// A `protectedPaths` pattern in `amiset.toml` that is not a valid glob from the repository root; while it is, nothing is authorized.
    InvalidProtectedPath = "policy::invalid-protected-path", Error;
    /// A `[privileged]` entry of `amiset.toml` that cannot be applied: a key that is not a launch spec key, an `allow` path that is not under a privileged key, or a value pattern with a `*` other than at its end.
    InvalidPrivileged = "policy::invalid-privileged", Error;
    /// A path that equals a config path except for case (`AMISET.toml`, `Scopes`, `Ami-Sets/x.toml`): a case-insensitive checkout would read it as config that no scope guarded.
    CaseVariant = "config::case-variant", Error;
    /// Merging the change into the base conflicts; there is no merge result to judge, so nothing is authorized.
    MergeConflict = "authorize::merge-conflict", Error;
    /// The author of a change lacks a scope the change needs.
    ScopeMissing = "scope::missing", Error;
    /// An AMI does not exist in its region.
    AmiNotFound = "ec2::ami-not-found", Error;
    /// An AMI exists but its state is not `available`.
    AmiNotAvailable = "ec2::ami-not-available", Error;
    /// An AMI's virtualization type differs from the set key (`hvm`/`pv`) it is listed under.
    VirtualizationMismatch = "ec2::virtualization-mismatch", Error;
    /// An AMI's architecture differs from the entry's `arch`.
    ArchitectureMismatch = "ec2::architecture-mismatch", Error;
    /// An AMI is owned by an account that `amiOwners` does not list.
    OwnerNotAllowed = "ec2::owner-not-allowed", Error;
    /// `amiOwners` is unset, so AMI owners are not restricted.
    OwnersUnrestricted = "ec2::owners-unrestricted", Warning;
    /// An AMI is deprecated.
    AmiDeprecated = "ec2::ami-deprecated", Error;
    /// An AMI will be deprecated within `deprecationWarningDays`.
    AmiDeprecationSoon = "ec2::ami-deprecation-soon", Warning;
    /// An instance type is not offered in a region.
    InstanceTypeNotOffered = "ec2::instance-type-not-offered", Error;
    /// An instance type does not support the virtualization type or architecture it resolved to.
    InstanceTypeUnsupported = "ec2::instance-type-unsupported", Error;
    /// An EC2 call failed after retries; what it covered is not verified, and never passes.
    Unverified = "ec2::unverified", Error;
    /// `amiset export taskcluster` needs a value that neither `[taskcluster]` in `amiset.toml` nor the worker type gives (`provisionerId`, `providerId`, an owner e-mail).
    TaskclusterMissingSetting = "taskcluster::missing-setting", Error;
    /// A launch spec key that worker-manager's AWS provider refuses in a `launchConfig` (`IamInstanceProfile`, `UserData`, `MinCount`, `MaxCount`).
    TaskclusterForbiddenKey = "taskcluster::forbidden-key", Error;
    /// A value worker-manager would reject: a worker type name that is not a valid `workerType` (`^[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`), an owner that is not an e-mail address, a `capacity` that is not a whole number of at least 1.
    TaskclusterInvalidValue = "taskcluster::invalid-value", Error;
    /// Worker type keys that worker-manager's AWS provider has no counterpart for (prices, spot/on-demand, `scalingRatio`, `utility`, `scopes`); they are left out of the worker pool.
    TaskclusterNotExported = "taskcluster::not-exported", Warning;
    /// `amiset import taskcluster`: input that is not a worker pool amiset can read (not JSON, no `workerPoolId`, a pool given twice, a `--set-name` that names no set).
    ImportInvalidInput = "import::invalid-input", Error;
    /// `amiset import taskcluster`: a field of a worker pool that the model cannot hold (named with the pool); nothing is written.
    ImportCannotHold = "import::cannot-hold", Error;
    /// `amiset import taskcluster`: the imported repository does not export back to the input pools, or does not pass `check`; nothing is written.
    ImportRoundTrip = "import::round-trip", Error;
    /// `amiset import taskcluster`: a launchConfigId that differs from the id DESIGN §10's rule computes; `--renumber` accepts the new ids.
    ImportLaunchConfigId = "import::launch-config-id", Error;
    /// `amiset import taskcluster`: a resource that is not an AWS worker pool (a role, a secret, a GCP pool, an export's `manifest.json`) was skipped.
    ImportSkipped = "import::skipped", Note;
    /// Two worker types export the same `workerPoolId` (`<provisionerId>/<workerType>`, from `[taskcluster]` of `amiset.toml` and of the worker types); one pool would overwrite the other.
    TaskclusterDuplicateWorkerPool = "taskcluster::duplicate-worker-pool", Error;
    /// A launch template with the name amiset would use lacks the `amiset:worker-type` tag of that worker type; amiset never modifies it.
    LaunchTemplateUnmanaged = "launch-template::unmanaged", Error;
    /// A launch template name EC2 would reject (3 to 128 characters of letters, digits and `( ) . - / _`), found before any call; the worker type's templates are left as they are.
    LaunchTemplateInvalidName = "launch-template::invalid-name", Error;
    /// A launch spec key that EC2 launch template data cannot express; the worker type's templates are left as they are.
    LaunchTemplateUnsupportedKey = "launch-template::unsupported-key", Error;
    /// An EC2 call of `apply launch-templates` failed after retries; what it covered was not reconciled (running apply again converges).
    LaunchTemplateFailed = "launch-template::failed", Error;
    /// Running instances of a worker type run another image than its compiled launch spec names.
    DriftImage = "drift::image", Warning;
    /// Running instances run a revoked AMI.
    DriftRevokedAmi = "drift::revoked-ami", Error;
    /// Running instances are tagged with a worker type the config does not have.
    DriftUnknownWorkerType = "drift::unknown-worker-type", Warning;
    /// Running instances of a worker type run in a region or as an instance type its launch specs do not have.
    DriftUnexpectedInstance = "drift::unexpected-instance", Warning;
    /// An EC2 call of `drift` failed after retries; that region's instances are not compared, and never pass.
    DriftFailed = "drift::failed", Error;
    /// Signed artifacts were expected (`--trust-key`) and `manifest.sig` is missing.
    ArtifactsUnsigned = "artifacts::unsigned", Error;
    /// `manifest.sig` names a key (`keyId`, the sha256 of its public key) that is not among the trusted keys.
    ArtifactsUntrustedKey = "artifacts::untrusted-key", Error;
    /// The signature in `manifest.sig` does not verify over the bytes of `manifest.json`: the manifest was changed after signing.
    ArtifactsBadSignature = "artifacts::bad-signature", Error;
    /// A file of signed artifacts does not match the hash the signed manifest gives it, is missing, or is not listed.
    ArtifactsHashMismatch = "artifacts::hash-mismatch", Error;
    /// The artifacts' `sequence` is lower than the one the state file records: an older compile was put back.
    ArtifactsRollback = "artifacts::rollback", Error;
    /// The artifacts' `expires` has passed: the store may be frozen; a newer signed compile is needed.
    ArtifactsExpired = "artifacts::expired", Error;
}

/// A secondary label: another place that explains the finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// File relative to the config directory.
    pub file: String,
    /// Byte range in that file.
    pub span: Range<usize>,
    /// Short text shown at the span.
    pub text: String,
}

/// One problem found in a config repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// File relative to the config directory, `/`-separated; `None` for findings about the whole run.
    pub file: Option<String>,
    /// Byte range of the offending key or value.
    pub span: Option<Range<usize>>,
    /// Text of the label on the primary span.
    pub label: Option<String>,
    pub help: Option<String>,
    pub labels: Vec<Label>,
    /// A fix the finding proposes, as data (the editor's quick fix and `fix` in `--format json`).
    pub fix: Option<Fix>,
}

/// A fix as data: replace the finding's primary span with `replacement`
/// (inside the quotes when the span is a quoted TOML string, so the quoting
/// style stays). [`Finding::fix_edit`] turns it into a text edit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fix {
    pub replacement: String,
}

impl Finding {
    /// A finding with the code's default severity and no location.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.default_severity(),
            message: message.into(),
            file: None,
            span: None,
            label: None,
            help: None,
            labels: Vec::new(),
            fix: None,
        }
    }

    /// Proposes `candidate` (a likely intended value for the finding's
    /// span): help "did you mean `X`?" and the fix that writes it. Nothing
    /// when `candidate` is `None`.
    pub fn suggest(mut self, candidate: Option<String>) -> Self {
        if let Some(c) = candidate {
            self.help = Some(format!("did you mean `{c}`?"));
            self.fix = Some(Fix { replacement: c });
        }
        self
    }

    /// The text edit of the finding's fix in `source` (the text of its
    /// file): the byte range to replace and the new text.
    /// No edit when the replacement cannot stand in the string's quoting
    /// style as it is (a quote, a backslash or a control character in it).
    pub fn fix_edit(&self, source: &str) -> Option<(Range<usize>, String)> {
        let fix = self.fix.as_ref()?;
        let span = self.span.clone()?;
        let text = source.get(span.clone())?;
        let delimiter = ["\"\"\"", "'''", "\"", "'"]
            .into_iter()
            .find(|d| text.len() >= 2 * d.len() && text.starts_with(d) && text.ends_with(d));
        let Some(d) = delimiter else {
            return Some((span, fix.replacement.clone()));
        };
        let plain = fix
            .replacement
            .chars()
            .all(|c| !c.is_control() && c != '"' && c != '\'' && c != '\\');
        plain.then(|| (span.start + d.len()..span.end - d.len(), fix.replacement.clone()))
    }

    /// Places the finding in `file` (no span: line 1, column 1).
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Places the finding on `span` of `file`.
    pub fn at(mut self, file: impl Into<String>, span: Range<usize>) -> Self {
        self.file = Some(file.into());
        self.span = Some(span);
        self
    }

    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.label = Some(text.into());
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// Sets the help only when `text` is `Some`.
    pub fn maybe_help(mut self, text: Option<String>) -> Self {
        if text.is_some() {
            self.help = text;
        }
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn secondary(mut self, file: impl Into<String>, span: Range<usize>, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            file: file.into(),
            span,
            text: text.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Findings together with the sources they point into, ready to render.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Text of every file a finding may point into, by relative path.
    pub sources: std::collections::BTreeMap<String, Arc<str>>,
}

/// A finding with its line and column resolved, in the order and shape of
/// `--format json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Located<'a> {
    pub code: &'static str,
    pub severity: Severity,
    pub message: &'a str,
    pub file: Option<&'a str>,
    pub line: usize,
    pub column: usize,
    pub help: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<LocatedFix>,
}

/// A fix in `--format json`: replace the text from (`line`, `column`) up to
/// (`endLine`, `endColumn`), 1-based, end exclusive, with `replacement`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LocatedFix {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub replacement: String,
}

impl Report {
    /// Sorts findings by file, line, column, code, then message, and drops exact duplicates.
    pub fn sort(&mut self) {
        let sources = &self.sources;
        let key = |f: &Finding| {
            let (line, column) = position(sources, f);
            (f.file.clone(), line, column, f.code.as_str(), f.message.clone())
        };
        self.findings.sort_by_cached_key(key);
        self.findings.dedup();
    }

    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }

    pub fn notes(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Note).count()
    }

    /// Line and column of a finding (1, 1 when it has no span).
    pub fn position(&self, finding: &Finding) -> (usize, usize) {
        position(&self.sources, finding)
    }

    /// Every finding with its position resolved.
    pub fn located(&self) -> Vec<Located<'_>> {
        self.findings
            .iter()
            .map(|f| {
                let (line, column) = self.position(f);
                Located {
                    code: f.code.as_str(),
                    severity: f.severity,
                    message: &f.message,
                    file: f.file.as_deref(),
                    line,
                    column,
                    help: f.help.as_deref(),
                    fix: f.file.as_ref().and_then(|file| {
                        let text = self.sources.get(file)?;
                        let (range, replacement) = f.fix_edit(text)?;
                        let ((line, column), (end_line, end_column)) = (line_col(text, range.start), line_col(text, range.end));
                        Some(LocatedFix {
                            line,
                            column,
                            end_line,
                            end_column,
                            replacement,
                        })
                    }),
                }
            })
            .collect()
    }

    pub fn extend(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.sources.extend(other.sources);
    }
}

fn position(sources: &std::collections::BTreeMap<String, Arc<str>>, f: &Finding) -> (usize, usize) {
    match (&f.file, &f.span) {
        (Some(file), Some(span)) => sources.get(file).map_or((1, 1), |text| line_col(text, span.start)),
        _ => (1, 1),
    }
}

/// The closest candidate to `input` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate closest to `input` when it is close enough to be a likely typo (the rule of [`did_you_mean`]).
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != input)
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate code names");
        for code in Code::ALL {
            assert!(!code.description().is_empty(), "{code:?} has no description");
            let (concern, name) = code.as_str().split_once("::").expect("concern::name");
            assert!(!concern.is_empty() && !name.is_empty());
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert_eq!(Code::from_name(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn a_fix_keeps_every_quoting_style_and_is_dropped_where_it_cannot_stand() {
        let edit = |source: &str, value: &str, replacement: &str| {
            let start = source.find(value).unwrap();
            let f = Finding::new(Code::UnknownRegion, "x")
                .at("f.toml", start..start + value.len())
                .suggest(Some(replacement.to_string()));
            f.fix_edit(source).map(|(range, new)| {
                let mut out = source.to_string();
                out.replace_range(range, &new);
                out
            })
        };
        for (value, fixed) in [
            (r#""us-est-1""#, r#""us-east-1""#),
            ("'us-est-1'", "'us-east-1'"),
            (r#""""us-est-1""""#, r#""""us-east-1""""#),
            ("'''us-est-1'''", "'''us-east-1'''"),
            ("\"\"\"\nus-est-1\"\"\"", r#""""us-east-1""""#),
        ] {
            let source = format!("region = {value}\n");
            let got = edit(&source, value, "us-east-1");
            assert_eq!(got, Some(format!("region = {fixed}\n")), "{value}");
            // The fixed text is TOML with the intended value.
            let doc: toml::Table = got.unwrap().parse().unwrap();
            assert_eq!(doc["region"].as_str(), Some("us-east-1"));
        }
        // A bare key is replaced whole.
        assert_eq!(edit("hmv = 1\n", "hmv", "hvm"), Some("hvm = 1\n".to_string()));
        // A replacement that would need escaping in the string gets no edit.
        assert_eq!(edit("k = 'ab'\n", "'ab'", "a'b"), None);
        assert_eq!(edit("k = \"ab\"\n", "\"ab\"", "a\\b"), None);
    }

    #[test]
    fn line_col_counts_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // byte 9 is after "bé " (b=1 byte, é=2 bytes, space)
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn did_you_mean_finds_close_names_only() {
        let c = ["ubuntu-2204", "windows-2022"];
        assert_eq!(did_you_mean("ubuntu-2024", c).as_deref(), Some("did you mean `ubuntu-2204`?"));
        assert_eq!(did_you_mean("centos", c), None);
    }
}

/// The Markdown table of every finding code, as the README shows it.
pub fn codes_markdown() -> String {
    let mut out = String::from("| code | severity | meaning |\n| --- | --- | --- |\n");
    for code in Code::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.default_severity().as_str(),
            code.description().replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod readme {
    /// The README's table of codes is generated from [`super::Code`]; run
    /// with `AMISET_UPDATE_README=1` to rewrite it. A stale table fails the
    /// test either way (the rewrite is reported, then committed and rerun),
    /// so the variable can never turn the check into a pass.
    #[test]
    fn readme_lists_every_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let (start, end) = ("<!-- codes:start -->\n", "<!-- codes:end -->");
        let (Some(a), Some(b)) = (readme.find(start), readme.find(end)) else {
            panic!("README.md lacks the codes markers")
        };
        let generated = super::codes_markdown();
        let stale = readme[a + start.len()..b] != generated;
        if stale && std::env::var_os("AMISET_UPDATE_README").is_some() {
            let updated = format!("{}{start}{generated}{}", &readme[..a], &readme[b..]);
            std::fs::write(path, updated).expect("write README.md");
            panic!("README.md codes table was stale and has been rewritten: review it and run the test again");
        }
        assert_eq!(
            &readme[a + start.len()..b],
            generated,
            "README.md codes table is stale: run with AMISET_UPDATE_README=1"
        );
    }
}
