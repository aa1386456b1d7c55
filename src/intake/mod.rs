//! Image intake (DESIGN §9): taking new builds into AMI sets
//! ([`update`]), copying one set's images into another ([`promote`]), and
//! finding images nothing references any more ([`unreferenced`]). What
//! the `[source]` table means is [`crate::config::source`], its checks are
//! `check`'s; the completeness rule is [`select`]. Everything here is pure over files and EC2's answers; the
//! calls themselves go through [`crate::ec2`].

pub mod promote;
pub mod select;
pub mod unreferenced;
pub mod update;
