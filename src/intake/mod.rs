//! Image intake (DESIGN §9): taking new builds into AMI sets
//! ([`update`]), copying one set's images into another ([`promote`]), and
//! finding images nothing references any more ([`unreferenced`]). The
//! `[source]` table and its checks are [`source`]; the completeness rule is
//! [`select`]. Everything here is pure over files and EC2's answers; the
//! calls themselves go through [`crate::ec2`].

pub mod promote;
pub mod select;
pub mod source;
pub mod unreferenced;
pub mod update;
