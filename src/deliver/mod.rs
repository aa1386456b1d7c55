//! Delivery (DESIGN §10): what the compiled launch specs become outside the
//! repository. Each part is pure; the EC2 calls live in `ec2`, the commands
//! in `cli`.
//!
//! - [`taskcluster`]: worker-manager worker pools (`amiset export taskcluster`).
//! - [`launch_templates`]: EC2 launch templates and the plan that makes a
//!   region's match (`amiset apply launch-templates`).
//! - [`drift`]: running instances against what the config says (`amiset drift`).

pub mod drift;
pub mod launch_templates;
pub mod taskcluster;
