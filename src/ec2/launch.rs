//! Verification right before launch, for provisioners that link the
//! library: [`LaunchVerifier::verify`] checks the AMI of one resolved launch
//! spec against EC2. Answers are cached per region for a short time, and one
//! fetch asks about every AMI the config uses in that region, so a burst of
//! launches costs one DescribeImages per region (per 200 AMIs).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::client::Ec2;
use super::inventory::{Image, Status, Wanted};
use super::verify::{Expect, image_findings};
use crate::config::{Config, Policy};
use crate::diag::Finding;
use crate::resolve::Resolved;

struct Cached {
    at: Instant,
    asked: BTreeSet<String>,
    images: Result<BTreeMap<String, Image>, String>,
}

/// Re-verifies AMIs before launch with a per-region cache of `ttl`.
pub struct LaunchVerifier {
    ec2: Ec2,
    policy: Policy,
    wanted: Wanted,
    ttl: Duration,
    regions: Mutex<HashMap<String, Arc<Mutex<Option<Cached>>>>>,
}

impl LaunchVerifier {
    /// A verifier for the AMIs of `config`; answers (failures too) are reused for `ttl`.
    pub fn new(ec2: Ec2, config: &Config, ttl: Duration) -> LaunchVerifier {
        LaunchVerifier {
            ec2,
            policy: config.policy.clone(),
            wanted: Wanted::of(config),
            ttl,
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// Problems with the AMI of `spec`; empty means fit to launch. A failed
    /// call is an `ec2::unverified` finding: do not launch then.
    pub async fn verify(&self, spec: &Resolved, now: i64) -> Vec<Finding> {
        let Some(ami) = spec.launch_spec.get("ImageId").and_then(|v| v.as_str()) else {
            return vec![Finding::new(crate::diag::Code::Unverified, "the launch spec has no `ImageId`")];
        };
        let expect = Expect {
            virt: spec.virt,
            arch: spec.virt.map(|_| spec.arch),
        };
        self.verify_ami(&spec.region, ami, expect, now).await
    }

    /// Problems with `ami` in `region` for a reference that promises `expect`.
    pub async fn verify_ami(&self, region: &str, ami: &str, expect: Expect, now: i64) -> Vec<Finding> {
        let slot = self.regions.lock().await.entry(region.to_string()).or_default().clone();
        let mut cached = slot.lock().await;
        let fresh = matches!(&*cached, Some(c) if c.at.elapsed() < self.ttl && c.asked.contains(ami));
        if !fresh {
            let mut asked: BTreeSet<String> = self.wanted.regions.get(region).map(|r| r.amis.clone()).unwrap_or_default();
            asked.insert(ami.to_string());
            let ids: Vec<String> = asked.iter().cloned().collect();
            let images = self.ec2.describe_images(region, &ids).await;
            *cached = Some(Cached {
                at: Instant::now(),
                asked,
                images,
            });
        }
        let status = match cached.as_ref().map(|c| &c.images) {
            Some(Ok(images)) => images.get(ami).map_or(Status::Missing, Status::Found),
            Some(Err(e)) => Status::Unverified(format!("DescribeImages failed: {e}")),
            None => Status::Unverified("nothing was fetched".into()),
        };
        image_findings(ami, region, status, expect, &self.policy, now)
    }
}
