//! Running instances tagged `amiset:worker-type`, for `amiset drift`: one
//! paginated DescribeInstances per region (filtered by the tag and the
//! pending/running states), every region at once over the shared client stack.

use std::sync::Arc;

use aws_sdk_ec2::types::Filter;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Ec2, error};
use crate::deliver::drift::Instance;
use crate::deliver::launch_templates::WORKER_TYPE_TAG;

impl Ec2 {
    /// The tagged instances of `regions`, and the regions that could not be read (with the error).
    pub async fn tagged_instances(&self, regions: &[String]) -> (Vec<Instance>, Vec<(String, String)>) {
        let deadline = self.deadline();
        let permits = Arc::new(Semaphore::new(self.options().concurrency.max(1)));
        let mut tasks = JoinSet::new();
        // A task that panics reports only its task id: map it back to its region.
        let mut region_of = std::collections::HashMap::new();
        for region in regions {
            let (client, region, permits) = (self.client(region), region.clone(), permits.clone());
            let task_region = region.clone();
            let handle = tasks.spawn(async move {
                let read = async {
                    let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
                    let mut pages = client
                        .describe_instances()
                        .filters(Filter::builder().name("tag-key").values(WORKER_TYPE_TAG).build())
                        .filters(
                            Filter::builder()
                                .name("instance-state-name")
                                .values("pending")
                                .values("running")
                                .build(),
                        )
                        .max_results(1000)
                        .into_paginator()
                        .send();
                    let mut out = Vec::new();
                    while let Some(page) = pages.next().await {
                        for reservation in page.map_err(error)?.reservations() {
                            for i in reservation.instances() {
                                let Some(worker_type) = i.tags().iter().find(|t| t.key() == Some(WORKER_TYPE_TAG)).and_then(|t| t.value())
                                else {
                                    continue;
                                };
                                out.push(Instance {
                                    id: i.instance_id().unwrap_or_default().to_string(),
                                    region: region.clone(),
                                    worker_type: worker_type.to_string(),
                                    instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                                    image_id: i.image_id().unwrap_or_default().to_string(),
                                });
                            }
                        }
                    }
                    Ok::<_, String>(out)
                };
                let result = tokio::time::timeout_at(deadline, read)
                    .await
                    .unwrap_or_else(|_| Err("the overall EC2 timeout (`--ec2-timeout`) ran out".to_string()));
                (region, result)
            });
            region_of.insert(handle.id(), task_region);
        }
        let (mut instances, mut failed) = (Vec::new(), Vec::new());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((_, Ok(found))) => instances.extend(found),
                Ok((region, Err(e))) => failed.push((region, e)),
                Err(e) => failed.push((region_of.get(&e.id()).cloned().unwrap_or_default(), format!("internal error: {e}"))),
            }
        }
        instances.sort_by(|a, b| (&a.region, &a.id).cmp(&(&b.region, &b.id)));
        failed.sort();
        (instances, failed)
    }
}
