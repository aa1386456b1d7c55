//! The one place amiset talks to EC2: build an [`Inventory`] for a
//! [`Wanted`] with DescribeImages, DescribeInstanceTypeOfferings and
//! DescribeInstanceTypes, every region at once, a bounded number of calls in
//! flight, retries with backoff, a timeout per attempt and one for the whole
//! run. A call that still fails is recorded as a [`Failure`](super::inventory::Failure)
//! for exactly the ids it covered, so they come out `ec2::unverified`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::Region;
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{Filter, LocationType};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::inventory::{CHUNK, Call, Image, InstanceTypeInfo, Inventory, RegionInventory, Wanted};

/// How to reach EC2 and how patient to be.
#[derive(Clone, Debug)]
pub struct Options {
    /// Another endpoint (an emulator, a proxy, a VPC endpoint). With it, the
    /// credential chain is environment then profile files, never instance metadata.
    pub endpoint: Option<String>,
    /// Most calls in flight at once, over all regions.
    pub concurrency: usize,
    /// Timeout of one attempt of one call (and of connecting).
    pub call_timeout: Duration,
    /// Timeout of the whole verification; calls still running then fail.
    pub timeout: Duration,
    /// Attempts per call, the first included (throttling, 5xx and connection errors are retried).
    pub max_attempts: u32,
    /// First retry delay; it grows exponentially with jitter.
    pub initial_backoff: Duration,
    /// When `timeout` starts counting: the start of the command, so that
    /// every client it makes shares one bound (default: when the client is made).
    pub since: Option<std::time::Instant>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            endpoint: None,
            concurrency: 128,
            call_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            since: None,
        }
    }
}

/// Regional EC2 clients sharing one configuration and credential cache.
#[derive(Clone, Debug)]
pub struct Ec2 {
    shared: aws_config::SdkConfig,
    options: Options,
    /// When `--ec2-timeout` started counting ([`Options::since`]): it bounds
    /// everything from then on, over all the rounds of calls a command makes.
    started: Instant,
}

/// The region the shared configuration names; every call uses a client for its own region.
const HOME_REGION: &str = "us-east-1";

impl Ec2 {
    /// Loads credentials and settings from the standard AWS chain. The region
    /// chain is not consulted (each call names its region), and instance
    /// metadata is asked with short timeouts, or not at all with an endpoint.
    pub async fn connect(options: Options) -> Ec2 {
        let retry = RetryConfig::standard()
            .with_max_attempts(options.max_attempts.max(1))
            .with_initial_backoff(options.initial_backoff)
            .with_max_backoff(Duration::from_secs(5));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(options.call_timeout)
            .operation_attempt_timeout(options.call_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(HOME_REGION))
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(endpoint) = &options.endpoint {
            let chain = CredentialsProviderChain::first_try(
                "Environment",
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .or_else("Profile", aws_config::profile::ProfileFileCredentialsProvider::builder().build());
            loader = loader.endpoint_url(endpoint).credentials_provider(chain);
        } else {
            let imds = aws_config::imds::Client::builder()
                .connect_timeout(Duration::from_millis(300))
                .read_timeout(Duration::from_millis(500))
                .max_attempts(1)
                .build();
            let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .region(Region::new(HOME_REGION))
                .imds_client(imds)
                .build()
                .await;
            loader = loader.credentials_provider(chain);
        }
        let started = options.since.map_or_else(Instant::now, Instant::from_std);
        Ec2 {
            shared: loader.load().await,
            options,
            started,
        }
    }

    /// When the whole of this client's work must be done (`--ec2-timeout`
    /// after it was made); what is left then fails as not verified.
    pub fn deadline(&self) -> Instant {
        self.started + self.options.timeout
    }

    /// How this client reaches EC2 and how patient it is.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The client for one region.
    pub fn client(&self, region: &str) -> Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.shared)
            .region(Region::new(region.to_string()))
            .interceptor(CompleteXml)
            .build();
        Client::from_conf(conf)
    }

    /// Asks EC2 about everything in `wanted`. Never fails: what could not be
    /// asked is recorded as failures. `progress(done, total)` (regions) is
    /// called as regions finish and every 250 ms.
    pub async fn fetch(&self, wanted: &Wanted, progress: &(dyn Fn(usize, usize) + Send + Sync)) -> Inventory {
        let deadline = self.deadline();
        let permits = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut covers: BTreeMap<tokio::task::Id, (String, Call, Vec<String>)> = BTreeMap::new();
        let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
        let mut inventory = Inventory::default();
        for (region, want) in &wanted.regions {
            let r = inventory.regions.entry(region.clone()).or_insert_with(RegionInventory::default);
            r.images_asked = want.amis.clone();
            r.instance_types_asked = want.instance_types.clone();
            let client = self.client(region);
            let amis: Vec<String> = want.amis.iter().cloned().collect();
            let types: Vec<String> = want.instance_types.iter().cloned().collect();
            let jobs = amis
                .chunks(CHUNK)
                .map(|c| (Call::DescribeImages, c.to_vec()))
                .chain(types.chunks(CHUNK).map(|c| (Call::DescribeInstanceTypeOfferings, c.to_vec())))
                .chain(types.chunks(CHUNK).map(|c| (Call::DescribeInstanceTypes, c.to_vec())));
            for (call, ids) in jobs {
                *remaining.entry(region.clone()).or_default() += 1;
                let (client, permits, task_region, task_ids) = (client.clone(), permits.clone(), region.clone(), ids.clone());
                let handle = tasks.spawn(async move {
                    let answer = match tokio::time::timeout_at(deadline, async {
                        let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                        run(&client, call, &task_ids).await
                    })
                    .await
                    {
                        Ok(answer) => answer,
                        Err(_) => Err("the overall EC2 timeout (`--ec2-timeout`) ran out".to_string()),
                    };
                    (task_region, call, task_ids, answer)
                });
                covers.insert(handle.id(), (region.clone(), call, ids));
            }
        }
        let total = remaining.len();
        let mut done = total - remaining.values().filter(|n| **n > 0).count();
        // Progress also ticks while calls are slow, so a caller can show it after a second.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let joined = tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(joined) => joined,
                    None => break,
                },
                _ = tick.tick() => {
                    progress(done, total);
                    continue;
                }
            };
            let (region, call, ids, answer) = match joined {
                Ok(done) => done,
                // A task that panicked still covered its ids: they become unverified.
                Err(e) => match covers.remove(&e.id()) {
                    Some((region, call, ids)) => (region, call, ids, Err(format!("internal error: {e}"))),
                    None => continue,
                },
            };
            let r = inventory.regions.entry(region.clone()).or_default();
            match answer {
                Ok(Answer::Images(images)) => r.images.extend(images),
                Ok(Answer::Offered(offered)) => r.offered.extend(offered),
                Ok(Answer::Types(types)) => r.instance_types.extend(types),
                Err(error) => r.fail(call, ids, error),
            }
            if let Some(n) = remaining.get_mut(&region) {
                *n -= 1;
                if *n == 0 {
                    done += 1;
                    progress(done, total);
                }
            }
        }
        inventory
    }

    /// Describes `ids` in one region (chunked, paginated): the AMIs found.
    pub async fn describe_images(&self, region: &str, ids: &[String]) -> Result<BTreeMap<String, Image>, String> {
        let client = self.client(region);
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(CHUNK) {
            if let Answer::Images(found) = run(&client, Call::DescribeImages, chunk).await? {
                out.extend(found);
            }
        }
        Ok(out)
    }
}

/// Rejects a successful answer whose XML body is cut short or is not XML:
/// the SDK's parser reads a truncated body as an empty, successful answer,
/// which would make every AMI look missing instead of unverified.
#[derive(Debug)]
struct CompleteXml;

impl aws_sdk_ec2::config::Intercept for CompleteXml {
    fn name(&self) -> &'static str {
        "CompleteXml"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_ec2::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_ec2::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        match response.body().bytes() {
            Some(body) if response.status().is_success() && !complete_xml(body) => Err(format!(
                "malformed answer: HTTP {} with {} bytes that are not a complete XML document",
                response.status(),
                body.len()
            )
            .into()),
            _ => Ok(()),
        }
    }
}

/// Whether `body` is one XML element from its start tag to its matching end tag.
fn complete_xml(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else { return false };
    let mut text = text.trim();
    if let Some(rest) = text.strip_prefix("<?xml") {
        match rest.find("?>") {
            Some(i) => text = rest[i + 2..].trim_start(),
            None => return false,
        }
    }
    let Some(rest) = text.strip_prefix('<') else { return false };
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
        .collect();
    !name.is_empty() && text.ends_with(&format!("</{name}>"))
}

enum Answer {
    Images(Vec<(String, Image)>),
    Offered(Vec<String>),
    Types(Vec<(String, InstanceTypeInfo)>),
}

fn filter(name: &str, ids: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(ids.to_vec())).build()
}

/// An SDK error with its whole chain of causes.
pub(crate) fn error(e: impl std::error::Error) -> String {
    DisplayErrorContext(e).to_string()
}

/// One call, all its pages.
async fn run(client: &Client, call: Call, ids: &[String]) -> Result<Answer, String> {
    match call {
        Call::DescribeImages => {
            let mut pages = client
                .describe_images()
                .filters(filter("image-id", ids))
                .include_deprecated(true)
                .into_paginator()
                .send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                for img in page.map_err(error)?.images() {
                    let Some(id) = img.image_id() else { continue };
                    out.push((
                        id.to_string(),
                        Image {
                            owner_id: img.owner_id().unwrap_or_default().to_string(),
                            state: img.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                            virtualization_type: img.virtualization_type().map(|v| v.as_str().to_string()).unwrap_or_default(),
                            architecture: img.architecture().map(|a| a.as_str().to_string()).unwrap_or_default(),
                            deprecation_time: img.deprecation_time().filter(|t| !t.is_empty()).map(str::to_string),
                            name: img.name().map(str::to_string),
                        },
                    ));
                }
            }
            Ok(Answer::Images(out))
        }
        Call::DescribeInstanceTypeOfferings => {
            let mut pages = client
                .describe_instance_type_offerings()
                .location_type(LocationType::Region)
                .filters(filter("instance-type", ids))
                .into_paginator()
                .send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                for o in page.map_err(error)?.instance_type_offerings() {
                    out.extend(o.instance_type().map(|t| t.as_str().to_string()));
                }
            }
            Ok(Answer::Offered(out))
        }
        Call::DescribeInstanceTypes => {
            let mut pages = client
                .describe_instance_types()
                .filters(filter("instance-type", ids))
                .into_paginator()
                .send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                for t in page.map_err(error)?.instance_types() {
                    let Some(name) = t.instance_type() else { continue };
                    let architectures = t
                        .processor_info()
                        .map(|p| p.supported_architectures().iter().map(|a| a.as_str().to_string()).collect())
                        .unwrap_or_default();
                    let virtualization_types = t.supported_virtualization_types().iter().map(|v| v.as_str().to_string()).collect();
                    out.push((
                        name.as_str().to_string(),
                        InstanceTypeInfo {
                            architectures,
                            virtualization_types,
                        },
                    ));
                }
            }
            Ok(Answer::Types(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::complete_xml;

    #[test]
    fn only_complete_xml_documents_pass() {
        assert!(complete_xml(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse xmlns=\"x\"><imagesSet/></DescribeImagesResponse>\n"
        ));
        assert!(complete_xml(b"<A><B/></A>"));
        for bad in [
            &b"<DescribeImagesResponse><imagesSet><item><imageId>ami-"[..],
            b"",
            b"not xml",
            b"<?xml version",
            b"<A></B>",
            b"\xff",
        ] {
            assert!(!complete_xml(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
