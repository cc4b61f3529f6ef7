//! The registry's use cases over its ports: uploads, blobs, manifests, tags, referrers.
//! Nothing here knows HTTP or Cloudflare.

pub mod blobs;
pub mod contract;
pub mod downloads;
pub mod keys;
pub mod lifecycle;
pub mod lifecycle_contract;
pub mod maintenance;
pub mod manifests;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;
pub mod trash;
mod upload_hash;
pub mod uploads;
pub mod versions;
pub mod webhooks;

use crate::auth::identity::IdentityStore;
use downloads::DownloadIndex;
use lifecycle::LifecycleIndex;
use ports::{BlobIndex, Clock, ManifestIndex, ObjectStore, TrashIndex, UploadIndex};
use webhooks::WebhookIndex;

/// Everything the metadata database offers.
pub trait MetadataStore:
    BlobIndex + UploadIndex + ManifestIndex + TrashIndex + LifecycleIndex + DownloadIndex + WebhookIndex
{
}
impl<T> MetadataStore for T where
    T: BlobIndex + UploadIndex + ManifestIndex + TrashIndex + LifecycleIndex + DownloadIndex + WebhookIndex
{
}

/// Limits and sizes an operator may set.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size of every multipart part but the last. R2 wants at least 5 MiB and all parts
    /// equal; this is also how much of a blob is in memory at once.
    pub part_size: usize,
    /// An upload session expires this long after its last request.
    pub upload_ttl_ms: u64,
    /// Blobs larger than this are refused.
    pub max_blob_bytes: u64,
    /// What was pushed less than this long ago is never collected nor deleted by a
    /// retention policy: a push sends its parts (an index's images) before the whole.
    pub grace_ms: u64,
    /// The unit of webhook retry delays (see `lifecycle::webhooks::retry_delay_ms`).
    pub webhook_retry_ms: u64,
    /// How long the edge cache may answer a public tag's manifest without asking D1
    /// (`TAG_CACHE_SECONDS`, by default `DEFAULT_TAG_CACHE_SECS`). A pull by tag at another
    /// location may see the previous manifest for up to that long after a push or an
    /// untagging; where the change was made, at once. 0: every pull by tag reads the tag.
    pub tag_cache_secs: u64,
}

/// The bound on a public tag's staleness elsewhere, by default: the same as every other
/// change of what may be read (a revoked token, a package made private), `auth::cached`.
pub const DEFAULT_TAG_CACHE_SECS: u64 = crate::auth::cached::TTL_MS / 1000;

impl Default for Config {
    fn default() -> Self {
        Config {
            part_size: 5 * 1024 * 1024,
            upload_ttl_ms: 10 * 60 * 1000,
            max_blob_bytes: 10_000_000_000,
            grace_ms: 60 * 60 * 1000,
            webhook_retry_ms: crate::lifecycle::webhooks::RETRY_UNIT_MS,
            tag_cache_secs: DEFAULT_TAG_CACHE_SECS,
        }
    }
}

/// The platform the registry runs on: which implementation of each port it uses. Code
/// over the registry names this one parameter (`Registry<P>`, `App<P>`) instead of one
/// per port; the ports themselves stay small traits with contracts of their own. The
/// Worker's platform is D1, R2 and its clock (`src/edge`); native tests use `memory`.
pub trait Platform {
    type Meta: MetadataStore;
    type Objects: ObjectStore;
    type Clock: Clock;
    /// Accounts, tokens, packages and roles (the `auth` port).
    type Identity: IdentityStore;
    /// Trusted publishers, exchanged identity tokens, provenance (trusted publishing).
    type Trust: crate::auth::oidc::TrustStore;
    /// Reaches identity-token issuers for their keys.
    type Fetch: crate::auth::oidc::keys::Fetch;
    /// Hashes upload bodies that are hashed whole within one request.
    type Hasher: ports::BodyHasher;
}

/// A streamed object body of platform `P`.
pub type Reader<P> = <<P as Platform>::Objects as ObjectStore>::Reader;

/// The registry over a metadata store, an object store and a clock.
pub struct Registry<P: Platform> {
    pub meta: P::Meta,
    pub objects: P::Objects,
    pub clock: P::Clock,
    pub config: Config,
}

impl<P: Platform> Registry<P> {
    pub fn new(meta: P::Meta, objects: P::Objects, clock: P::Clock, config: Config) -> Self {
        Registry { meta, objects, clock, config }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }
}

/// A random identifier: 128 bits as hex.
pub fn random_id() -> crate::error::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(crate::error::RegistryError::internal)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
