//! What each availability zone offers, for `amiset ec2 offerings` (DESIGN
//! §10): DescribeInstanceTypeOfferings with location type
//! `availability-zone`, paginated (a zone offers hundreds of types), every
//! region at once through the one client stack (retries, timeouts, the
//! truncated-XML interceptor, a bounded number of calls in flight). A region
//! whose call fails is an `Err` for that whole region: its zones are never
//! half known.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_ec2::types::LocationType;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Ec2, error};

pub use super::ZoneOfferings;

impl Ec2 {
    /// Asks every region in `regions` at once which instance types each of its zones offers.
    pub async fn zone_offerings(&self, regions: &[String]) -> ZoneOfferings {
        let deadline = self.deadline();
        let permits = Arc::new(Semaphore::new(self.options().concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for region in regions {
            let (client, permits, region) = (self.client(region), permits.clone(), region.clone());
            tasks.spawn(async move {
                let answer = match tokio::time::timeout_at(deadline, async {
                    let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                    let mut pages = client
                        .describe_instance_type_offerings()
                        .location_type(LocationType::AvailabilityZone)
                        .into_paginator()
                        .send();
                    let mut zones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                    while let Some(page) = pages.next().await {
                        for o in page.map_err(error)?.instance_type_offerings() {
                            if let (Some(zone), Some(t)) = (o.location(), o.instance_type()) {
                                zones.entry(zone.to_string()).or_default().insert(t.as_str().to_string());
                            }
                        }
                    }
                    // Every region has zones that offer something: an empty
                    // answer is a broken one, never "nothing is offered".
                    if zones.is_empty() {
                        return Err("EC2 listed no instance type offerings for any zone of the region".to_string());
                    }
                    Ok::<_, String>(zones)
                })
                .await
                {
                    Ok(answer) => answer,
                    Err(_) => Err("the overall EC2 timeout (`--ec2-timeout`) ran out".to_string()),
                };
                (region, answer)
            });
        }
        let mut out: ZoneOfferings = regions.iter().map(|r| (r.clone(), Err("not asked".to_string()))).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((region, answer)) => {
                    out.insert(region, answer);
                }
                // A task that panicked cannot say which region it covered: fail them all.
                Err(e) => {
                    for v in out.values_mut() {
                        *v = Err(format!("internal error: {e}"));
                    }
                    break;
                }
            }
        }
        out
    }
}
