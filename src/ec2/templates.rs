//! The EC2 side of `amiset apply launch-templates`: read every region's
//! launch templates (DescribeTags for amiset's two tags, 1,000 per page, and
//! DescribeLaunchTemplates by the names amiset wants, 200 names per call, all
//! at once; versions are read only where the `amiset:default-version` tag no
//! longer names the default version), plan with
//! [`crate::deliver::launch_templates::plan_region`], and
//! carry the plan out. All regions run at once over the shared client stack
//! (retries, timeouts, the XML interceptor, a bound on calls in flight); a
//! region that fails is reported and the others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    CreditSpecificationRequest, Filter, InstanceInterruptionBehavior, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateCpuOptionsRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateEnclaveOptionsRequest,
    LaunchTemplateHibernationOptionsRequest, LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMarketOptionsRequest, LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataProtocolIpv6, LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplatePlacementRequest, LaunchTemplateSpotMarketOptionsRequest,
    LaunchTemplateTagSpecificationRequest, LaunchTemplatesMonitoringRequest, MarketType, RequestLaunchTemplateData, ResourceType,
    ShutdownBehavior, SpotInstanceType, Tag, TagSpecification, Tenancy, VolumeType,
};
use serde_json::{Map, Value as Json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Ec2, error};
use crate::deliver::launch_templates::{
    self, Action, DEFAULT_VERSION_TAG, Desired, Existing, RegionState, SOURCE_TAG, Step, WORKER_TYPE_TAG, Wanted,
};
use crate::diag::{Code, Finding};

/// Most items EC2 returns per page of DescribeLaunchTemplates and
/// DescribeLaunchTemplateVersions, and most names per filter.
const PAGE: i32 = 200;

/// Most items EC2 returns per page of DescribeTags.
const TAG_PAGE: i32 = 1000;

/// What apply (or a dry run) did, over all regions.
#[derive(Debug, Default)]
pub struct Outcome {
    pub steps: Vec<Step>,
    pub findings: Vec<Finding>,
    /// Regions whose templates could not be read, with the error.
    pub failed_regions: Vec<(String, String)>,
}

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    pub prune: bool,
    pub dry_run: bool,
    /// Value of the `amiset:source-commit` tag on created or updated templates.
    pub source: String,
}

impl Ec2 {
    /// Plans, and unless `dry_run` applies, the templates of `wanted` in `regions`.
    pub async fn apply_launch_templates(&self, wanted: &Wanted, regions: &[String], options: &ApplyOptions) -> Outcome {
        let deadline = self.deadline();
        let permits = Arc::new(Semaphore::new(self.options().concurrency.max(1)));
        let wanted_by_region: BTreeMap<&str, Vec<Desired>> = regions
            .iter()
            .map(|r| (r.as_str(), wanted.templates.iter().filter(|d| &d.region == r).cloned().collect()))
            .collect();
        let mut tasks = JoinSet::new();
        // A task that panics reports only its task id: map it back to its region.
        let mut region_of = std::collections::HashMap::new();
        // Whether a region got as far as its writes: a failure after that
        // point may have left some of them done.
        let mut writing_in = std::collections::HashMap::new();
        for (region, desired) in wanted_by_region {
            let client = self.client(region);
            let (permits, region, options, skipped) = (permits.clone(), region.to_string(), options.clone(), wanted.skipped.clone());
            let writing = Arc::new(AtomicBool::new(false));
            writing_in.insert(region.clone(), writing.clone());
            let task_region = region.clone();
            let handle = tasks.spawn(async move {
                let run = reconcile_region(&client, &region, &desired, &skipped, &options, &permits, &writing);
                let result = tokio::time::timeout_at(deadline, run)
                    .await
                    .unwrap_or_else(|_| Err("the overall EC2 timeout (`--ec2-timeout`) ran out".to_string()));
                (region, result)
            });
            region_of.insert(handle.id(), task_region);
        }
        let mut outcome = Outcome::default();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((_, Ok((steps, findings)))) => {
                    outcome.steps.extend(steps);
                    outcome.findings.extend(findings);
                }
                Ok((region, Err(e))) if writing_in.get(&region).is_some_and(|w| w.load(Ordering::SeqCst)) => {
                    outcome.findings.push(
                        Finding::new(
                            Code::LaunchTemplateFailed,
                            format!("the launch templates of {region} were not all written: {e}"),
                        )
                        .help("some of that region's writes may have been made and are not listed; run apply again, it starts from what EC2 has now"),
                    );
                    outcome.failed_regions.push((region, e));
                }
                Ok((region, Err(e))) => {
                    outcome.findings.push(
                        Finding::new(
                            Code::LaunchTemplateFailed,
                            format!("cannot read the launch templates of {region}: {e}"),
                        )
                        .help("nothing was changed in that region; run apply again when EC2 answers"),
                    );
                    outcome.failed_regions.push((region, e));
                }
                Err(e) => {
                    let region = region_of.get(&e.id()).cloned().unwrap_or_default();
                    outcome.findings.push(
                        Finding::new(
                            Code::LaunchTemplateFailed,
                            format!("the launch templates of {region} were not reconciled: internal error: {e}"),
                        )
                        .help("what that region's writes did is unknown; run apply again, it starts from what EC2 has now"),
                    );
                    outcome.failed_regions.push((region, format!("internal error: {e}")));
                }
            }
        }
        for s in &outcome.steps {
            if let Some(e) = &s.error {
                outcome.findings.push(
                    Finding::new(
                        Code::LaunchTemplateFailed,
                        format!(
                            "{} of launch template `{}` in {} failed: {e}",
                            s.action.as_str(),
                            s.template,
                            s.region
                        ),
                    )
                    .help("running apply again converges: it starts from what EC2 has now"),
                );
            }
        }
        outcome
            .steps
            .sort_by(|a, b| (&a.region, &a.template, a.action).cmp(&(&b.region, &b.template, b.action)));
        outcome.failed_regions.sort();
        outcome
    }
}

type Permits = Arc<Semaphore>;

async fn reconcile_region(
    client: &Client,
    region: &str,
    desired: &[Desired],
    skipped: &BTreeSet<String>,
    options: &ApplyOptions,
    permits: &Permits,
    writing: &AtomicBool,
) -> Result<(Vec<Step>, Vec<Finding>), String> {
    let state = read_region(client, desired, permits).await?;
    let refs: Vec<&Desired> = desired.iter().collect();
    let (mut steps, findings) = launch_templates::plan_region(region, &refs, &state, options.prune, skipped);
    if options.dry_run {
        return Ok((steps, findings));
    }
    writing.store(true, Ordering::SeqCst);
    let by_name: BTreeMap<&str, &Desired> = desired.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut jobs = JoinSet::new();
    let mut step_of = std::collections::HashMap::new();
    for (i, step) in steps.iter().enumerate().filter(|(_, s)| s.action.writes()) {
        let (client, permits, step, source) = (client.clone(), permits.clone(), step.clone(), options.source.clone());
        let want = by_name.get(step.template.as_str()).map(|d| (*d).clone());
        let handle = jobs.spawn(async move { (i, execute(&client, &step, want.as_ref(), &source, &permits).await) });
        step_of.insert(handle.id(), i);
    }
    while let Some(joined) = jobs.join_next().await {
        // A write that did not finish is an error of its step, never skipped.
        let (i, result) = match joined {
            Ok(done) => done,
            Err(e) => match step_of.get(&e.id()) {
                Some(i) => (*i, Err(format!("internal error: {e}"))),
                None => return Err(format!("internal error: {e}")),
            },
        };
        match result {
            Ok((id, version)) => {
                steps[i].template_id = id.or(steps[i].template_id.take());
                steps[i].version = version.or(steps[i].version);
            }
            Err(e) => steps[i].error = Some(e),
        }
    }
    Ok((steps, findings))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// Carries out one writing step: the template id and default version after it.
async fn execute(
    client: &Client,
    step: &Step,
    desired: Option<&Desired>,
    source: &str,
    permits: &Permits,
) -> Result<(Option<String>, Option<i64>), String> {
    let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
    let id = step.template_id.clone();
    match (step.action, desired) {
        (Action::Create, Some(d)) => {
            let out = client
                .create_launch_template()
                .launch_template_name(&d.name)
                .version_description(&d.description)
                .launch_template_data(request_data(&d.data))
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::LaunchTemplate)
                        .tags(tag(WORKER_TYPE_TAG, &d.worker_type))
                        .tags(tag(SOURCE_TAG, source))
                        .tags(tag(DEFAULT_VERSION_TAG, &format!("1 {}", d.description)))
                        .build(),
                )
                .send()
                .await
                .map_err(error)?;
            let t = out.launch_template();
            Ok((
                t.and_then(|t| t.launch_template_id()).map(str::to_string),
                t.and_then(|t| t.default_version_number()),
            ))
        }
        (Action::NewVersion, Some(d)) => {
            let id = id.ok_or("no template id")?;
            let out = client
                .create_launch_template_version()
                .launch_template_id(&id)
                .version_description(&d.description)
                .launch_template_data(request_data(&d.data))
                .send()
                .await
                .map_err(error)?;
            let version = out
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or("CreateLaunchTemplateVersion answered without a version number")?;
            set_default(client, &id, version, &d.description, source).await?;
            Ok((Some(id), Some(version)))
        }
        (Action::SetDefault, Some(d)) => {
            let id = id.ok_or("no template id")?;
            let version = step.version.ok_or("no version")?;
            set_default(client, &id, version, &d.description, source).await?;
            Ok((Some(id), Some(version)))
        }
        (Action::Delete, _) => {
            let id = id.ok_or("no template id")?;
            client
                .delete_launch_template()
                .launch_template_id(&id)
                .send()
                .await
                .map_err(error)?;
            Ok((Some(id), None))
        }
        _ => Ok((id, None)),
    }
}

/// Makes `version` (whose description is `description`) the default, and
/// records both in the tags. Should the tagging fail, the tag names another
/// version, and the next run reads the versions instead of trusting it.
async fn set_default(client: &Client, id: &str, version: i64, description: &str, source: &str) -> Result<(), String> {
    client
        .modify_launch_template()
        .launch_template_id(id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(error)?;
    client
        .create_tags()
        .resources(id)
        .tags(tag(SOURCE_TAG, source))
        .tags(tag(DEFAULT_VERSION_TAG, &format!("{version} {description}")))
        .send()
        .await
        .map_err(error)?;
    Ok(())
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().collect())).build()
}

/// One region's templates: the tagged ones with their default (and, where
/// it differs, latest) version's description, and untagged ones with a name
/// in `desired`. The tag listings and the name listings run at once; each is
/// paginated. Templates tagged for names the config no longer has are then
/// described by id, and versions are listed only for templates whose
/// `amiset:default-version` tag does not name their default version (set by
/// hand, or a run that stopped between two calls).
async fn read_region(client: &Client, desired: &[Desired], permits: &Permits) -> Result<RegionState, String> {
    let names: Vec<String> = desired.iter().map(|d| d.name.clone()).collect();
    let chunks: Vec<_> = names
        .chunks(PAGE as usize)
        .map(|chunk| list_templates(client.clone(), Listing::Names(chunk.to_vec()), permits.clone()))
        .collect();
    let (worker_types, defaults, named) = tokio::try_join!(
        list_tags(client.clone(), WORKER_TYPE_TAG, permits.clone()),
        list_tags(client.clone(), DEFAULT_VERSION_TAG, permits.clone()),
        all(chunks),
    )?;
    let named: Vec<Existing> = named.into_iter().flatten().collect();
    let (mut managed, untagged): (Vec<Existing>, Vec<Existing>) = named.into_iter().partition(|e| worker_types.contains_key(&e.id));
    let found: BTreeSet<String> = managed.iter().map(|e| e.id.clone()).collect();
    let others: Vec<String> = worker_types.keys().filter(|id| !found.contains(*id)).cloned().collect();
    let others = all(others
        .chunks(PAGE as usize)
        .map(|ids| list_templates(client.clone(), Listing::Ids(ids.to_vec()), permits.clone())))
    .await?;
    managed.extend(others.into_iter().flatten());
    for e in &mut managed {
        e.worker_type = worker_types.get(&e.id).cloned();
        e.default_description = defaults
            .get(&e.id)
            .and_then(|v| v.split_once(' '))
            .filter(|(n, _)| n.parse() == Ok(e.default_version))
            .map(|(_, description)| description.to_string());
    }
    // Default versions the tag does not vouch for: all of the region's at once (paginated).
    if managed.iter().any(|e| e.default_description.is_none()) {
        let listed = list_versions(client.clone(), None, "$Default", permits.clone()).await?;
        for e in managed.iter_mut().filter(|e| e.default_description.is_none()) {
            e.default_description = listed.get(&(e.id.clone(), e.default_version)).cloned().flatten();
        }
    }
    // Templates whose latest version is not the default (an earlier run stopped halfway): ask for that version alone.
    let behind: Vec<String> = managed
        .iter()
        .filter(|e| e.latest_version != e.default_version)
        .map(|e| e.id.clone())
        .collect();
    let mut latest = BTreeMap::new();
    for found in all(behind
        .into_iter()
        .map(|id| list_versions(client.clone(), Some(id), "$Latest", permits.clone())))
    .await?
    {
        latest.extend(found);
    }
    for e in &mut managed {
        e.latest_description = if e.latest_version == e.default_version {
            e.default_description.clone()
        } else {
            latest.get(&(e.id.clone(), e.latest_version)).cloned().flatten()
        };
    }
    Ok(RegionState { managed, untagged })
}

/// The values of tag `key` on the region's launch templates, by template id (all pages).
async fn list_tags(client: Client, key: &str, permits: Permits) -> Result<BTreeMap<String, String>, String> {
    let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
    let mut pages = client
        .describe_tags()
        .filters(filter("resource-type", ["launch-template".to_string()]))
        .filters(filter("key", [key.to_string()]))
        .max_results(TAG_PAGE)
        .into_paginator()
        .send();
    let mut out = BTreeMap::new();
    while let Some(page) = pages.next().await {
        for t in page.map_err(error)?.tags() {
            if let (Some(id), Some(k)) = (t.resource_id(), t.key())
                && k == key
            {
                out.insert(id.to_string(), t.value().unwrap_or_default().to_string());
            }
        }
    }
    Ok(out)
}

/// Runs `futures` as tasks at once (they share the permits); their outputs, or the first error.
async fn all<T: Send + 'static>(
    futures: impl IntoIterator<Item = impl std::future::Future<Output = Result<T, String>> + Send + 'static>,
) -> Result<Vec<T>, String> {
    let mut set = JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        out.push(joined.map_err(|e| format!("internal error: {e}"))??);
    }
    Ok(out)
}

/// Which launch templates to describe: by name or by id (at most [`PAGE`] of either).
enum Listing {
    Names(Vec<String>),
    Ids(Vec<String>),
}

/// The launch templates of `listing`, all pages.
async fn list_templates(client: Client, listing: Listing, permits: Permits) -> Result<Vec<Existing>, String> {
    let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
    let request = client.describe_launch_templates().max_results(PAGE);
    let request = match listing {
        Listing::Names(names) => request.filters(filter("launch-template-name", names)),
        Listing::Ids(ids) => request.set_launch_template_ids(Some(ids)),
    };
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        out.extend(page.map_err(error)?.launch_templates().iter().map(existing));
    }
    Ok(out)
}

/// Descriptions of version `which` (`$Default`, `$Latest`) of one template,
/// or of every template of the region when `id` is `None`, by (template id, version).
async fn list_versions(
    client: Client,
    id: Option<String>,
    which: &'static str,
    permits: Permits,
) -> Result<BTreeMap<(String, i64), Option<String>>, String> {
    let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
    let mut request = client.describe_launch_template_versions().versions(which);
    request = match id {
        Some(id) => request.launch_template_id(id),
        None => request.max_results(PAGE),
    };
    let mut pages = request.into_paginator().send();
    let mut out = BTreeMap::new();
    while let Some(page) = pages.next().await {
        for v in page.map_err(error)?.launch_template_versions() {
            if let (Some(id), Some(n)) = (v.launch_template_id(), v.version_number()) {
                out.insert((id.to_string(), n), v.version_description().map(str::to_string));
            }
        }
    }
    Ok(out)
}

/// A described template; its tags come from DescribeTags (see [`read_region`]).
fn existing(t: &aws_sdk_ec2::types::LaunchTemplate) -> Existing {
    Existing {
        id: t.launch_template_id().unwrap_or_default().to_string(),
        name: t.launch_template_name().unwrap_or_default().to_string(),
        worker_type: None,
        default_version: t.default_version_number().unwrap_or(0),
        latest_version: t.latest_version_number().unwrap_or(0),
        default_description: None,
        latest_description: None,
    }
}

fn s(m: &Map<String, Json>, k: &str) -> Option<String> {
    m.get(k).and_then(Json::as_str).map(str::to_string)
}

fn b(m: &Map<String, Json>, k: &str) -> Option<bool> {
    m.get(k).and_then(Json::as_bool)
}

fn i(m: &Map<String, Json>, k: &str) -> Option<i32> {
    m.get(k).and_then(Json::as_i64).and_then(|n| i32::try_from(n).ok())
}

fn strs(m: &Map<String, Json>, k: &str) -> Option<Vec<String>> {
    m.get(k)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
}

fn obj<'a>(m: &'a Map<String, Json>, k: &str) -> Option<&'a Map<String, Json>> {
    m.get(k).and_then(Json::as_object)
}

fn objs<'a>(m: &'a Map<String, Json>, k: &str) -> Vec<&'a Map<String, Json>> {
    m.get(k)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_object).collect())
        .unwrap_or_default()
}

/// The SDK's launch template data for `data`, which passed
/// [`launch_templates::data::unsupported`] (every key has a place here).
pub fn request_data(data: &Map<String, Json>) -> RequestLaunchTemplateData {
    let mut r = RequestLaunchTemplateData::builder()
        .set_image_id(s(data, "ImageId"))
        .set_instance_type(s(data, "InstanceType").map(|t| t.as_str().into()))
        .set_key_name(s(data, "KeyName"))
        .set_kernel_id(s(data, "KernelId"))
        .set_ram_disk_id(s(data, "RamdiskId"))
        .set_ebs_optimized(b(data, "EbsOptimized"))
        .set_disable_api_termination(b(data, "DisableApiTermination"))
        .set_disable_api_stop(b(data, "DisableApiStop"))
        .set_instance_initiated_shutdown_behavior(s(data, "InstanceInitiatedShutdownBehavior").map(|v| ShutdownBehavior::from(v.as_str())))
        .set_security_group_ids(strs(data, "SecurityGroupIds"))
        .set_security_groups(strs(data, "SecurityGroups"));
    if let Some(p) = obj(data, "IamInstanceProfile") {
        r = r.iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .set_arn(s(p, "Arn"))
                .set_name(s(p, "Name"))
                .build(),
        );
    }
    if let Some(m) = obj(data, "Monitoring") {
        r = r.monitoring(LaunchTemplatesMonitoringRequest::builder().set_enabled(b(m, "Enabled")).build());
    }
    if let Some(c) = obj(data, "CpuOptions") {
        r = r.cpu_options(
            LaunchTemplateCpuOptionsRequest::builder()
                .set_core_count(i(c, "CoreCount"))
                .set_threads_per_core(i(c, "ThreadsPerCore"))
                .build(),
        );
    }
    if let Some(c) = obj(data, "CreditSpecification") {
        r = r.credit_specification(CreditSpecificationRequest::builder().set_cpu_credits(s(c, "CpuCredits")).build());
    }
    if let Some(e) = obj(data, "EnclaveOptions") {
        r = r.enclave_options(LaunchTemplateEnclaveOptionsRequest::builder().set_enabled(b(e, "Enabled")).build());
    }
    if let Some(h) = obj(data, "HibernationOptions") {
        r = r.hibernation_options(
            LaunchTemplateHibernationOptionsRequest::builder()
                .set_configured(b(h, "Configured"))
                .build(),
        );
    }
    if let Some(p) = obj(data, "Placement") {
        r = r.placement(
            LaunchTemplatePlacementRequest::builder()
                .set_availability_zone(s(p, "AvailabilityZone"))
                .set_group_name(s(p, "GroupName"))
                .set_host_id(s(p, "HostId"))
                .set_partition_number(i(p, "PartitionNumber"))
                .set_tenancy(s(p, "Tenancy").map(|t| Tenancy::from(t.as_str())))
                .build(),
        );
    }
    if let Some(m) = obj(data, "MetadataOptions") {
        r = r.metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .set_http_tokens(s(m, "HttpTokens").map(|v| LaunchTemplateHttpTokensState::from(v.as_str())))
                .set_http_put_response_hop_limit(i(m, "HttpPutResponseHopLimit"))
                .set_http_endpoint(s(m, "HttpEndpoint").map(|v| LaunchTemplateInstanceMetadataEndpointState::from(v.as_str())))
                .set_http_protocol_ipv6(s(m, "HttpProtocolIpv6").map(|v| LaunchTemplateInstanceMetadataProtocolIpv6::from(v.as_str())))
                .set_instance_metadata_tags(s(m, "InstanceMetadataTags").map(|v| LaunchTemplateInstanceMetadataTagsState::from(v.as_str())))
                .build(),
        );
    }
    if let Some(m) = obj(data, "InstanceMarketOptions") {
        let spot = obj(m, "SpotOptions").map(|o| {
            let price = match o.get("MaxPrice") {
                Some(Json::String(p)) => Some(p.clone()),
                Some(Json::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            LaunchTemplateSpotMarketOptionsRequest::builder()
                .set_max_price(price)
                .set_spot_instance_type(s(o, "SpotInstanceType").map(|v| SpotInstanceType::from(v.as_str())))
                .set_block_duration_minutes(i(o, "BlockDurationMinutes"))
                .set_instance_interruption_behavior(
                    s(o, "InstanceInterruptionBehavior").map(|v| InstanceInterruptionBehavior::from(v.as_str())),
                )
                .build()
        });
        r = r.instance_market_options(
            LaunchTemplateInstanceMarketOptionsRequest::builder()
                .set_market_type(s(m, "MarketType").map(|v| MarketType::from(v.as_str())))
                .set_spot_options(spot)
                .build(),
        );
    }
    for d in objs(data, "BlockDeviceMappings") {
        let ebs = obj(d, "Ebs").map(|e| {
            LaunchTemplateEbsBlockDeviceRequest::builder()
                .set_delete_on_termination(b(e, "DeleteOnTermination"))
                .set_encrypted(b(e, "Encrypted"))
                .set_iops(i(e, "Iops"))
                .set_kms_key_id(s(e, "KmsKeyId"))
                .set_snapshot_id(s(e, "SnapshotId"))
                .set_throughput(i(e, "Throughput"))
                .set_volume_size(i(e, "VolumeSize"))
                .set_volume_type(s(e, "VolumeType").map(|v| VolumeType::from(v.as_str())))
                .build()
        });
        r = r.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .set_device_name(s(d, "DeviceName"))
                .set_virtual_name(s(d, "VirtualName"))
                .set_no_device(s(d, "NoDevice"))
                .set_ebs(ebs)
                .build(),
        );
    }
    for n in objs(data, "NetworkInterfaces") {
        r = r.network_interfaces(
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .set_associate_public_ip_address(b(n, "AssociatePublicIpAddress"))
                .set_delete_on_termination(b(n, "DeleteOnTermination"))
                .set_description(s(n, "Description"))
                .set_device_index(i(n, "DeviceIndex"))
                .set_groups(strs(n, "Groups"))
                .set_ipv6_address_count(i(n, "Ipv6AddressCount"))
                .set_network_interface_id(s(n, "NetworkInterfaceId"))
                .set_private_ip_address(s(n, "PrivateIpAddress"))
                .set_subnet_id(s(n, "SubnetId"))
                .build(),
        );
    }
    for t in objs(data, "TagSpecifications") {
        let tags = objs(t, "Tags")
            .into_iter()
            .map(|kv| Tag::builder().set_key(s(kv, "Key")).set_value(s(kv, "Value")).build())
            .collect();
        r = r.tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .set_resource_type(s(t, "ResourceType").map(|v| ResourceType::from(v.as_str())))
                .set_tags(Some(tags))
                .build(),
        );
    }
    r.build()
}
