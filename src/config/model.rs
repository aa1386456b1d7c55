//! The typed model of a config repository (DESIGN §1), built from documents
//! that passed their schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// A launchSpec: EC2 RunInstances parameters, PascalCase keys, sorted.
pub type LaunchSpec = Map<String, Json>;

/// The launchSpec of a zone: the same table as a [`LaunchSpec`], kept as
/// (key, value) pairs sorted by key. A repository has a zone table for
/// every zone of every worker type, mostly of one key (`SubnetId`), and a
/// map sets aside room for eleven entries per table: as pairs, the 60,000
/// zones of docs/benchmarks.md's corpus hold 22 MB less. Serialized exactly
/// as the map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneLaunchSpec(Vec<(String, Json)>);

impl ZoneLaunchSpec {
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries in key order, as a map's.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Json)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<LaunchSpec> for ZoneLaunchSpec {
    fn from(map: LaunchSpec) -> Self {
        // A map iterates in key order, and its length is exact.
        ZoneLaunchSpec(map.into_iter().collect())
    }
}

impl From<&ZoneLaunchSpec> for LaunchSpec {
    fn from(spec: &ZoneLaunchSpec) -> Self {
        spec.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl Serialize for ZoneLaunchSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ZoneLaunchSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        LaunchSpec::deserialize(deserializer).map(ZoneLaunchSpec::from)
    }
}

/// One layer of a worker type's launch specs, as
/// [`WorkerType::launch_spec_layers`] lists them.
#[derive(Clone, Copy, Debug)]
pub enum Layer<'a> {
    Map(&'a LaunchSpec),
    Zone(&'a ZoneLaunchSpec),
}

impl<'a> Layer<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Json> {
        match self {
            Layer::Map(m) => m.get(key),
            Layer::Zone(z) => z.get(key),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// What to do with raw `ImageId`s in worker types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LegacyPolicy {
    Allow,
    #[default]
    Warn,
    Deny,
}

/// What to do with instance types the built-in catalogue does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownTypePolicy {
    /// An error: a typo must not reach launch.
    #[default]
    Deny,
    /// A warning: for instance types newer than this amiset.
    Warn,
}

/// An AMI that must never be launched again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub ami: String,
    pub reason: String,
}

/// `amiset.toml`, with defaults applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default = "default_prefix")]
    pub scope_prefix: String,
    #[serde(default)]
    admin_scope: Option<String>,
    /// Regions allowed anywhere; `None` means every known AWS region.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Accounts that may own AMIs; `None` means unrestricted.
    #[serde(default)]
    pub ami_owners: Option<Vec<String>>,
    #[serde(default)]
    pub legacy_image_ids: LegacyPolicy,
    #[serde(default = "default_deprecation_days")]
    pub deprecation_warning_days: u32,
    #[serde(default)]
    pub unknown_instance_types: UnknownTypePolicy,
    /// Team name (`@org/team`) to members (`@user` or e-mail).
    #[serde(default)]
    pub teams: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub revoked: Vec<Revoked>,
    /// Paths (globs from the repository root) whose change needs the admin
    /// scope; `None` means [`DEFAULT_PROTECTED_PATHS`].
    #[serde(default)]
    pub protected_paths: Option<Vec<String>>,
    /// `[taskcluster]`: settings for `amiset export taskcluster`.
    #[serde(default)]
    pub taskcluster: Taskcluster,
    /// `[privileged]`: launch spec keys whose new values need the admin scope.
    #[serde(default)]
    pub privileged: Privileged,
}

/// `[privileged]` of `amiset.toml` (DESIGN §4): launch spec keys that hand
/// out power in AWS (an instance profile, a network path), and the values
/// under them that anyone who may change a worker type may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Privileged {
    /// Replaces [`DEFAULT_PRIVILEGED_KEYS`] when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Leaf path under a privileged key (`IamInstanceProfile.Arn`) to the
    /// value patterns allowed there (a trailing `*` is the only wildcard).
    #[serde(default)]
    pub allow: BTreeMap<String, Vec<String>>,
}

/// Launch spec keys that hand out power in AWS: a role on every worker, a
/// way in over SSH, a network path, the instance metadata service, and a
/// launch template (which brings any of these with it). DESIGN §4 lists the
/// first seven; `LaunchTemplate` is added because it defeats them otherwise.
pub const DEFAULT_PRIVILEGED_KEYS: [&str; 8] = [
    "IamInstanceProfile",
    "KeyName",
    "SecurityGroupIds",
    "SecurityGroups",
    "SubnetId",
    "NetworkInterfaces",
    "MetadataOptions",
    "LaunchTemplate",
];

/// `[taskcluster]` of `amiset.toml`: what a worker-manager worker pool needs
/// that a worker type does not say (DESIGN §10). Every key is optional; the
/// export reports the ones it needs and lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taskcluster {
    /// First half of every `workerPoolId` (`<provisionerId>/<workerType>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioner_id: Option<String>,
    /// The worker-manager provider (an AWS provider) that runs the pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Owner e-mail of pools whose worker type has no `owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether worker-manager e-mails the owner on provisioning errors.
    #[serde(default)]
    pub email_on_error: bool,
    /// `config.lifecycle` of every pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

/// Worker-manager's worker lifecycle (seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistration_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_inactivity_timeout: Option<u64>,
}

impl Lifecycle {
    /// `self` with every key `over` sets replaced by `over`'s value.
    pub fn overlaid(&self, over: &Lifecycle) -> Lifecycle {
        Lifecycle {
            registration_timeout: over.registration_timeout.or(self.registration_timeout),
            reregistration_timeout: over.reregistration_timeout.or(self.reregistration_timeout),
            queue_inactivity_timeout: over.queue_inactivity_timeout.or(self.queue_inactivity_timeout),
        }
    }
}

/// Worker-manager's own settings of a launchConfig that a config may set
/// (`workerManager = { initialWeight = 0.5, maxCapacity = 10 }`); the export
/// adds `capacityPerInstance` and `launchConfigId`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerManagerSettings {
    /// How likely worker-manager is to pick this launchConfig at first (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_weight: Option<f64>,
    /// The most instances worker-manager runs from this launchConfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<u64>,
}

impl WorkerManagerSettings {
    /// `self` with every key `over` sets replaced by `over`'s value.
    pub fn overlaid(&self, over: &WorkerManagerSettings) -> WorkerManagerSettings {
        WorkerManagerSettings {
            initial_weight: over.initial_weight.or(self.initial_weight),
            max_capacity: over.max_capacity.or(self.max_capacity),
        }
    }
}

/// `[taskcluster]` of a worker type: its own worker pool settings, each one
/// overriding `[taskcluster]` of `amiset.toml` (DESIGN §10).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_on_error: Option<bool>,
    /// Merged key by key over `amiset.toml`'s `lifecycle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// The second half of the `workerPoolId`; default: the file stem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_type: Option<String>,
    /// The first layer of every launchConfig's `workerManager` (zones and
    /// instance types override it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_manager: Option<WorkerManagerSettings>,
}

/// What enforces the gate itself (DESIGN §4): CI definitions, code owners,
/// hooks, attributes, submodules, and what builds or configures the tools
/// (toolchain files, `.cargo/`). A change to one of them needs the admin scope.
pub const DEFAULT_PROTECTED_PATHS: [&str; 10] = [
    ".github/**",
    "CODEOWNERS",
    ".github/CODEOWNERS",
    "docs/CODEOWNERS",
    ".pre-commit-config.yaml",
    "**/.gitattributes",
    ".gitmodules",
    "rust-toolchain",
    "rust-toolchain.toml",
    ".cargo/**",
];

fn default_prefix() -> String {
    "aws-provisioner".to_string()
}

fn default_deprecation_days() -> u32 {
    30
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            scope_prefix: default_prefix(),
            admin_scope: None,
            regions: None,
            ami_owners: None,
            legacy_image_ids: LegacyPolicy::default(),
            deprecation_warning_days: default_deprecation_days(),
            unknown_instance_types: UnknownTypePolicy::default(),
            teams: BTreeMap::new(),
            revoked: Vec::new(),
            protected_paths: None,
            taskcluster: Taskcluster::default(),
            privileged: Privileged::default(),
        }
    }
}

impl Policy {
    /// The scope needed to change `SCOPES` or `amiset.toml`.
    pub fn admin_scope(&self) -> String {
        self.admin_scope.clone().unwrap_or_else(|| format!("{}:admin", self.scope_prefix))
    }

    pub fn manage_ami_set(&self, id: &str) -> String {
        format!("{}:manage-ami-set:{id}", self.scope_prefix)
    }

    pub fn deploy_ami_set(&self, id: &str) -> String {
        format!("{}:deploy-ami-set:{id}", self.scope_prefix)
    }

    pub fn manage_worker_type(&self, name: &str) -> String {
        format!("{}:manage-worker-type:{name}", self.scope_prefix)
    }

    /// Whether `region` is allowed by `regions` (every known region when unset).
    pub fn allows_region(&self, region: &str) -> bool {
        match &self.regions {
            Some(list) => list.iter().any(|r| r == region),
            None => crate::regions::is_known(region),
        }
    }

    /// The protected path patterns: `protectedPaths`, or the default list.
    pub fn protected_paths(&self) -> Vec<&str> {
        match &self.protected_paths {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_PROTECTED_PATHS.to_vec(),
        }
    }

    /// The privileged launch spec keys: `[privileged] keys`, or the default list.
    pub fn privileged_keys(&self) -> Vec<&str> {
        match &self.privileged.keys {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_PRIVILEGED_KEYS.to_vec(),
        }
    }

    /// The reason an AMI is revoked, if it is.
    pub fn revoked_reason(&self, ami: &str) -> Option<&str> {
        self.revoked.iter().find(|r| r.ami == ami).map(|r| r.reason.as_str())
    }
}

/// CPU architecture of an AMI or instance type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Arch {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Virtualization type of an AMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Virt {
    Hvm,
    Pv,
}

impl Virt {
    pub fn as_str(self) -> &'static str {
        match self {
            Virt::Hvm => "hvm",
            Virt::Pv => "pv",
        }
    }

    /// EC2's name (`hvm`, `paravirtual`).
    pub fn ec2_name(self) -> &'static str {
        match self {
            Virt::Hvm => "hvm",
            Virt::Pv => "paravirtual",
        }
    }
}

/// One entry of an AMI set: the AMIs for a (region, arch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmiEntry {
    pub region: String,
    #[serde(default)]
    pub arch: Arch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hvm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pv: Option<String>,
}

impl AmiEntry {
    pub fn ami(&self, virt: Virt) -> Option<&str> {
        match virt {
            Virt::Hvm => self.hvm.as_deref(),
            Virt::Pv => self.pv.as_deref(),
        }
    }
}

/// `ami-sets/<id>.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmiSet {
    /// The file stem.
    #[serde(skip_deserializing)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub amis: Vec<AmiEntry>,
    /// Where new builds come from (`amiset update`); not part of the compiled set.
    #[serde(default, skip_serializing)]
    pub source: Option<Source>,
    /// `[workerConfig]`: worker config that belongs to the images (merged
    /// under the `userData` of every worker type that uses the set).
    #[serde(default, rename = "workerConfig", skip_serializing_if = "Option::is_none")]
    pub worker_config: Option<Map<String, Json>>,
}

/// `[source]` of an AMI set (DESIGN §9): the image-name pattern(s) whose `*`
/// matches the build id, the accounts whose images are taken, and how old a
/// build must be before it is taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    pub name: SourceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<String>,
}

/// One pattern for every image of the set, or one per `arch` / `arch/virt` key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceName {
    One(String),
    PerKey(BTreeMap<String, String>),
}

impl SourceName {
    /// The pattern for images of `arch` and `virt`: the `arch/virt` key, else
    /// the `arch` key, else the single pattern.
    pub fn pattern(&self, arch: Arch, virt: Virt) -> Option<&str> {
        match self {
            SourceName::One(p) => Some(p),
            SourceName::PerKey(map) => map
                .get(&format!("{}/{}", arch.as_str(), virt.as_str()))
                .or_else(|| map.get(arch.as_str()))
                .map(String::as_str),
        }
    }
}

impl AmiSet {
    pub fn entry(&self, region: &str, arch: Arch) -> Option<&AmiEntry> {
        self.amis.iter().find(|e| e.region == region && e.arch == arch)
    }
}

/// One `[[instanceTypes]]` entry of a worker type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeSpec {
    pub instance_type: String,
    #[serde(default = "one")]
    pub capacity: f64,
    #[serde(default = "one")]
    pub utility: f64,
    #[serde(default)]
    pub launch_spec: LaunchSpec,
    /// Worker-manager settings of this instance type's launchConfigs; export
    /// settings, not part of the compiled worker type.
    #[serde(default, skip_serializing)]
    pub worker_manager: Option<WorkerManagerSettings>,
}

/// One `[[regions]]` entry of a worker type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSpec {
    pub region: String,
    #[serde(default)]
    pub launch_spec: LaunchSpec,
    /// Availability zones (DESIGN §10): with zones, one launch spec per
    /// (zone, instance type) instead of one per instance type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneSpec>,
}

/// One entry of `zones` in a `[[regions]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSpec {
    pub zone: String,
    #[serde(default)]
    pub launch_spec: ZoneLaunchSpec,
    /// Worker-manager settings of this zone's launchConfigs (between the
    /// worker type's `[taskcluster] workerManager` and the instance type's);
    /// export settings, not part of the compiled worker type.
    #[serde(default, skip_serializing)]
    pub worker_manager: Option<WorkerManagerSettings>,
}

impl RegionSpec {
    /// The raw `ImageId` of this region, during migration.
    pub fn image_id(&self) -> Option<&str> {
        self.launch_spec.get("ImageId").and_then(Json::as_str)
    }
}

fn one() -> f64 {
    1.0
}

/// `worker-types/<name>.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerType {
    /// The file stem.
    #[serde(skip_deserializing)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_set_id: Option<String>,
    #[serde(default)]
    pub min_capacity: u64,
    pub max_capacity: u64,
    #[serde(default)]
    pub scaling_ratio: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_ondemand: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_spot: Option<bool>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub launch_spec: LaunchSpec,
    #[serde(default)]
    pub user_data: Map<String, Json>,
    pub instance_types: Vec<InstanceTypeSpec>,
    pub regions: Vec<RegionSpec>,
    /// `[taskcluster]`: this worker type's worker pool settings; export
    /// settings, not part of the compiled worker type.
    #[serde(default, skip_serializing)]
    pub taskcluster: Option<PoolSettings>,
}

impl WorkerType {
    /// Every launch spec the worker type writes, with the JSON pointer of
    /// its table: `/launchSpec`, then `/regions/<i>/launchSpec` (each
    /// followed by its zones' `/regions/<i>/zones/<j>/launchSpec`), then
    /// `/instanceTypes/<i>/launchSpec`.
    pub fn launch_spec_layers(&self) -> impl Iterator<Item = (String, Layer<'_>)> {
        let regions = self.regions.iter().enumerate().flat_map(|(i, r)| {
            let zones = r
                .zones
                .iter()
                .enumerate()
                .map(move |(j, z)| (format!("/regions/{i}/zones/{j}/launchSpec"), Layer::Zone(&z.launch_spec)));
            std::iter::once((format!("/regions/{i}/launchSpec"), Layer::Map(&r.launch_spec))).chain(zones)
        });
        let types = self
            .instance_types
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("/instanceTypes/{i}/launchSpec"), Layer::Map(&t.launch_spec)));
        std::iter::once(("/launchSpec".to_string(), Layer::Map(&self.launch_spec)))
            .chain(regions)
            .chain(types)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A zone's launchSpec reads, serializes and deserializes as the map it
    /// stands for, keys in order whatever order the text gave them.
    #[test]
    fn a_zone_launch_spec_is_the_map_it_stands_for() {
        let text = r#"{"SubnetId": "subnet-a", "Placement": {"GroupName": "pg"}, "EbsOptimized": true, "BlockDeviceMappings": []}"#;
        let map: LaunchSpec = serde_json::from_str(text).unwrap();
        let zone: ZoneLaunchSpec = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&zone).unwrap(), serde_json::to_string(&map).unwrap());
        assert_eq!(
            zone.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["BlockDeviceMappings", "EbsOptimized", "Placement", "SubnetId"]
        );
        for key in ["SubnetId", "Placement", "EbsOptimized", "BlockDeviceMappings", "ImageId", "", "Z"] {
            assert_eq!(zone.get(key), map.get(key), "{key}");
        }
        assert_eq!(zone.get("Placement"), Some(&json!({"GroupName": "pg"})));
        assert_eq!(LaunchSpec::from(&zone), map);
        assert_eq!(ZoneLaunchSpec::from(map), zone);
        assert!(ZoneLaunchSpec::default().is_empty() && !zone.is_empty());
    }
}
