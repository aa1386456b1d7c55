//! Images found by owner and name rather than by id, for `amiset update`
//! and `amiset unreferenced`: one DescribeImages per region (per chunk of
//! name patterns), paginated, every region at once through the same client
//! stack as verification (retries, timeouts, the truncated-XML interceptor,
//! a bounded number of calls in flight). A region whose call fails is an
//! `Err` for that whole region: its images are never half known.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most values in one EC2 filter.
pub const NAMES_PER_CALL: usize = 200;

/// One image as DescribeImages describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedImage {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    /// `available`, `pending`, ...
    pub state: String,
    /// `x86_64`, `arm64`, ...
    pub architecture: String,
    /// `hvm` or `paravirtual`.
    pub virtualization_type: String,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// RFC 3339 time from which the image is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_time: Option<String>,
}

/// What to ask one region: images of `owners` whose name matches one of
/// `names` (EC2 wildcards); every image of `owners` when `names` is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub owners: Vec<String>,
    pub names: Vec<String>,
}

/// Per region, every image found, or why the region could not be read.
pub type Found = BTreeMap<String, Result<Vec<NamedImage>, String>>;

#[cfg(feature = "ec2")]
mod fetch {
    use std::sync::Arc;

    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::error::DisplayErrorContext;
    use aws_sdk_ec2::types::Filter;
    use tokio::sync::Semaphore;
    use tokio::task::JoinSet;

    use super::super::client::Ec2;
    use super::*;

    impl Ec2 {
        /// Asks every region of `queries` at once. Never fails as a whole:
        /// a region whose any call fails (after retries) is an `Err`.
        pub async fn images_by_name(&self, queries: &BTreeMap<String, Query>) -> Found {
            let deadline = self.deadline();
            let permits = Arc::new(Semaphore::new(self.options().concurrency.max(1)));
            let mut tasks = JoinSet::new();
            for (region, query) in queries {
                let client = self.client(region);
                let chunks: Vec<Vec<String>> = if query.names.is_empty() {
                    vec![Vec::new()]
                } else {
                    query.names.chunks(NAMES_PER_CALL).map(<[String]>::to_vec).collect()
                };
                for names in chunks {
                    let (client, permits, region, owners) = (client.clone(), permits.clone(), region.clone(), query.owners.clone());
                    tasks.spawn(async move {
                        let answer = match tokio::time::timeout_at(deadline, async {
                            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                            describe(&client, &owners, &names).await
                        })
                        .await
                        {
                            Ok(answer) => answer,
                            Err(_) => Err("the overall EC2 timeout (`--ec2-timeout`) ran out".to_string()),
                        };
                        (region, answer)
                    });
                }
            }
            let mut found: Found = queries.keys().map(|r| (r.clone(), Ok(Vec::new()))).collect();
            while let Some(joined) = tasks.join_next().await {
                let (region, answer) = match joined {
                    Ok(done) => done,
                    // A task that panicked cannot say which region it covered: fail them all.
                    Err(e) => {
                        for v in found.values_mut() {
                            *v = Err(format!("internal error: {e}"));
                        }
                        continue;
                    }
                };
                let slot = found.entry(region).or_insert_with(|| Ok(Vec::new()));
                match (slot.as_mut(), answer) {
                    (Ok(images), Ok(more)) => images.extend(more),
                    (Ok(_), Err(e)) => *slot = Err(e),
                    (Err(_), _) => {}
                }
            }
            for images in found.values_mut().flatten() {
                images.sort_by(|a, b| a.id.cmp(&b.id));
                images.dedup_by(|a, b| a.id == b.id);
            }
            found
        }

        /// Deregisters `id` in `region`.
        pub async fn deregister_image(&self, region: &str, id: &str) -> Result<(), String> {
            self.client(region)
                .deregister_image()
                .image_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| DisplayErrorContext(e).to_string())
        }
    }

    async fn describe(client: &Client, owners: &[String], names: &[String]) -> Result<Vec<NamedImage>, String> {
        let mut request = client.describe_images().set_owners(Some(owners.to_vec())).include_deprecated(true);
        if !names.is_empty() {
            request = request.filters(Filter::builder().name("name").set_values(Some(names.to_vec())).build());
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            for img in page.map_err(|e| DisplayErrorContext(e).to_string())?.images() {
                let Some(id) = img.image_id() else { continue };
                out.push(NamedImage {
                    id: id.to_string(),
                    name: img.name().unwrap_or_default().to_string(),
                    owner_id: img.owner_id().unwrap_or_default().to_string(),
                    state: img.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    architecture: img.architecture().map(|a| a.as_str().to_string()).unwrap_or_default(),
                    virtualization_type: img.virtualization_type().map(|v| v.as_str().to_string()).unwrap_or_default(),
                    creation_date: img.creation_date().filter(|t| !t.is_empty()).map(str::to_string),
                    deprecation_time: img.deprecation_time().filter(|t| !t.is_empty()).map(str::to_string),
                });
            }
        }
        Ok(out)
    }
}
