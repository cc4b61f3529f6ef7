//! The platform-neutral OCI domain: digests, names, references, byte ranges and manifests.
//! Every string from a client becomes one of these types once, at the api boundary.

pub mod digest;
pub mod manifest;
pub mod metadata;
pub mod name;
pub mod range;

pub use digest::{Digest, DigestHasher};
pub use name::{Reference, RepoName, Tag};
