//! amiset: keep a fleet's AMI sets and worker types in Git.
//!
//! The library is the engine behind the `amiset` command and what a
//! provisioner links: load a config repository ([`config`]), check it
//! ([`check`]), resolve launch specifications ([`resolve`]), and report
//! findings ([`diag`], [`report`]).

#![forbid(unsafe_code)]

pub mod adopt;
pub mod artifacts;
pub mod authorize;
pub mod check;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod diag;
pub mod diff;
pub mod ec2;
pub mod git;
pub mod html;
pub mod init;
pub mod instance_types;
pub mod intake;
pub mod lsp;
pub mod migrate;
pub mod offerings;
pub mod regions;
pub mod report;
pub mod resolve;
pub mod schema;
pub mod scopes;

pub use config::{Config, Inputs, Limits};
pub use diag::{Code, Finding, Report, Severity};
