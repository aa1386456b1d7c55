//! `amiset migrate`: moving the raw `ImageId`s of worker types into AMI sets.
pub mod edit;
