//! The capabilities the registry needs from its platform. Each has an in-memory
//! implementation (`memory`) and one over Cloudflare's bindings (`edge`), and both pass
//! the same contract tests. Futures are `!Send`: Workers run on one thread.

use crate::auth::identity::PackageSnapshot;
use crate::error::Result;
use crate::oci::digest::Algorithm;
use crate::oci::metadata::PackageMetadata;
use crate::oci::range::ByteSpan;
use crate::oci::{Digest, Reference, RepoName, Tag};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. `SystemTime::now()` panics on wasm32.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// A body arriving from a client, read chunk by chunk so that no blob is ever whole
/// in memory.
#[allow(async_fn_in_trait)]
pub trait ChunkSource {
    /// The next chunk, or `None` at the end of the body.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// Reads a small body whole: manifests, JSON and forms. More than `limit` bytes is
/// refused with 413 naming `what`, before more is read.
pub async fn read_small(body: &mut impl ChunkSource, limit: usize, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next_chunk().await? {
        if bytes.len() + chunk.len() > limit {
            return Err(crate::error::RegistryError::TooLarge(format!("{what} over {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Hashes one request's bytes from the first to the last, by the platform's fastest
/// means (native code at the edge, where the registry's own hasher runs in wasm at a
/// quarter of the speed). Its state cannot be saved: an upload that must resume hashing
/// in a later request uses the resumable `DigestHasher` instead (`registry::upload_hash`).
#[allow(async_fn_in_trait)]
pub trait BodyHasher: Sized {
    fn start(algorithm: Algorithm) -> Result<Self>;
    /// Adds `bytes`; the caller may reuse their memory once this returns.
    async fn update(&mut self, bytes: &[u8]) -> Result<()>;
    async fn finish(self) -> Result<Digest>;
}

/// The registry's own (wasm) hasher serves as a platform's hasher too: the in-memory one.
impl BodyHasher for crate::oci::DigestHasher {
    fn start(algorithm: Algorithm) -> Result<Self> {
        Ok(crate::oci::DigestHasher::new(algorithm))
    }
    async fn update(&mut self, bytes: &[u8]) -> Result<()> {
        crate::oci::DigestHasher::update(self, bytes);
        Ok(())
    }
    async fn finish(self) -> Result<Digest> {
        Ok(crate::oci::DigestHasher::finish(self))
    }
}

/// A piece of a composed response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Bytes(Vec<u8>),
    /// A span of the stored object.
    Span(ByteSpan),
}

impl Segment {
    /// How many bytes it adds to the stream.
    pub fn size(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::Span(s) => s.len(),
        }
    }
}

/// One uploaded part of a multipart object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartTag {
    pub number: u16,
    pub etag: String,
}

/// Object storage (R2): whole small objects, multipart uploads for large ones, and
/// streamed reads.
#[allow(async_fn_in_trait)]
pub trait ObjectStore {
    /// A streamed object body, handed to the platform's response untouched.
    type Reader;

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()>;
    /// Reads a small object whole (manifests, upload tails).
    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Reads an object, or a span of it, as a stream.
    async fn open(&self, key: &str, span: Option<ByteSpan>) -> Result<Option<Self::Reader>>;
    /// One stream of `segments`: given bytes, and spans of the object at `key`, each span
    /// read with one ranged read, opened only when the reader reaches it (a multi-range
    /// answer holds no part whole and keeps at most one read open).
    async fn open_segments(&self, key: &str, segments: Vec<Segment>) -> Result<Self::Reader>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// The digest of a stored object in `algorithm`, read as a stream (closing an upload
    /// with a digest of another algorithm than the session hashed in).
    async fn hash_object(&self, key: &str, algorithm: Algorithm) -> Result<Option<Digest>>;

    /// Starts a multipart upload to `key`; returns its id.
    async fn create_multipart(&self, key: &str) -> Result<String>;
    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, bytes: Vec<u8>) -> Result<PartTag>;
    async fn complete_multipart(&self, key: &str, upload_id: &str, parts: &[PartTag]) -> Result<()>;
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()>;
}

/// A blob the registry holds: where its bytes are and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    pub digest: Digest,
    pub object_key: String,
    pub size: u64,
}

/// An upload in progress, saved between requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: String,
    pub repo: RepoName,
    /// Where the blob's bytes are being written.
    pub object_key: String,
    /// The R2 multipart upload, once the first full part was written.
    pub multipart_id: Option<String>,
    pub parts: Vec<PartTag>,
    /// Bytes received so far (parts plus tail).
    pub received: u64,
    /// Bytes received but not yet in a part, kept in a staging object.
    pub tail_len: u64,
    /// The incremental digest state after `received` bytes.
    pub hash_state: Vec<u8>,
    /// The digest of the bytes received, in the session's algorithm, when every one of
    /// them is in the staged object (no part written yet): a close that brings no more
    /// bytes and names this digest is then one step (`UploadIndex::close_staged`).
    pub staged_digest: Option<Digest>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// A manifest the registry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// The manifest's own annotations (copied into referrers listings).
    pub annotations: Annotations,
    /// What the package page shows of it.
    pub details: VersionDetails,
    /// The manifest's bytes when it is small enough to live with its record
    /// (`MAX_INLINE_MANIFEST_BYTES`), so reading it costs no object store operation.
    /// `None`: read them from the object store. Only the one-manifest read fills it.
    pub inline: Option<Vec<u8>>,
}

/// A manifest's annotations as its record keeps them. Metadata rows are bounded: large
/// annotations (a manifest may be 4 MiB of them) stay in the manifest's stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Annotations {
    None,
    /// As JSON, at most `MAX_KEPT_ANNOTATIONS` bytes.
    Kept(String),
    /// Too large to keep with the record: read them from the manifest.
    InManifest,
}

/// The most bytes of annotations JSON a manifest record keeps.
pub const MAX_KEPT_ANNOTATIONS: usize = 16 * 1024;

/// The largest manifest whose bytes are kept with its record (image manifests and
/// indexes are a few KiB; D1 rows are limited to about 1 MB).
pub const MAX_INLINE_MANIFEST_BYTES: usize = 64 * 1024;

/// What a version is, beyond its manifest record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDetails {
    /// The manifest and everything it needs: config and layers of an image, the images of
    /// an index.
    pub total_size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// When the image says it was built (RFC 3339), if it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub metadata: PackageMetadata,
}

/// A manifest as a version of its package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub manifest: ManifestRecord,
    pub pushed_ms: u64,
    /// Its tags, in lexical order.
    pub tags: Vec<String>,
}

/// A deleted package, or one deleted version of a package, kept restorable for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub id: String,
    pub repo: RepoName,
    /// `None`: the whole package.
    pub version: Option<Digest>,
    pub deleted_ms: u64,
    pub deleted_by: String,
    /// A package's deletion: its settings and roles, which leave and come back with its
    /// content. `None` for a version, and for a package whose record was unreadable.
    pub package: Option<PackageSnapshot>,
    /// The id of the package the content was deleted from: a package comes back under it,
    /// a version only into the package of that id. `None` in deletions older than ids and
    /// in retention's, which restore into a package created before they were made.
    pub package_id: Option<String>,
}

/// Whether a restore happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    Yes,
    /// The name (or a tag, or the digest, of a version) was taken meanwhile.
    NameReused,
}

/// Metadata of blobs: the global digest -> object index and per-repository links.
#[allow(async_fn_in_trait)]
pub trait BlobIndex {
    /// The blob if it is linked into `repo`.
    async fn linked_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<BlobRecord>>;
    /// Of `digests`, those not linked in `repo`; in one round trip whatever their number.
    async fn unlinked_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>>;
    /// Records the blob (first writer wins) and links it into `repo`, in one step.
    /// Returns the record that stands, which names another object if the digest was
    /// already held.
    async fn commit_blob(&self, repo: &RepoName, blob: &BlobRecord, now_ms: u64) -> Result<BlobRecord>;
    /// Links an already-held blob into `repo` (a cross-repository mount). An unknown blob
    /// is `BlobUnknown`, and nothing changes.
    async fn link_blob(&self, repo: &RepoName, digest: &Digest, now_ms: u64) -> Result<()>;
    /// Removes the link; the bytes stay until collected. Returns whether a link existed.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;
    /// Blobs held since before `before_ms` that no repository links and no manifest linked
    /// in any repository needs, oldest first, at most `limit`.
    async fn orphaned_blobs(&self, before_ms: u64, limit: u32) -> Result<Vec<BlobRecord>>;
    /// Forgets the blob only if it still is an orphan held since before `before_ms`, in
    /// one step, so a push that links it meanwhile wins. Returns whether it forgot it
    /// (then, and only then, its object may be deleted).
    async fn forget_orphan(&self, digest: &Digest, before_ms: u64) -> Result<bool>;
}

/// Upload sessions.
#[allow(async_fn_in_trait)]
pub trait UploadIndex {
    async fn create_upload(&self, session: &UploadSession) -> Result<()>;
    /// A cross-repository mount in one step: links `digest` into `session.repo` if `from`
    /// has it linked; else creates `session`, an upload instead. Returns whether it linked.
    async fn mount_or_start(
        &self,
        from: &RepoName,
        digest: &Digest,
        session: &UploadSession,
        now_ms: u64,
    ) -> Result<bool>;
    async fn upload(&self, repo: &RepoName, id: &str) -> Result<Option<UploadSession>>;
    /// Saves a session's progress, only if it still is at `expected_received` bytes
    /// (two requests racing on one session cannot both append). Returns whether it saved.
    async fn save_upload(&self, session: &UploadSession, expected_received: u64) -> Result<bool>;
    /// Records the session's multipart upload as soon as it exists, unless one is recorded
    /// already. A request that dies before saving then leaves nothing expiry cannot abort.
    async fn record_multipart(&self, id: &str, multipart_id: &str) -> Result<bool>;
    async fn delete_upload(&self, id: &str) -> Result<()>;
    /// Records `blob` (first writer wins), links it into the session's repository and
    /// forgets the session, in one step; only if the session is still as `saved` was
    /// (bytes received and last touch), else nothing changes.
    async fn close_upload(&self, saved: &UploadSession, blob: &BlobRecord, now_ms: u64) -> Result<Closed>;
    /// Closes the session `id` of `repo` in one step when it is live (touched less than
    /// `ttl_ms` before `now_ms`) and its `staged_digest` is `digest`: records the blob with
    /// the staged object as its own (first writer wins), links it and forgets the session.
    /// Otherwise changes nothing and answers the session as it is, read in the same step.
    async fn close_staged(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<StagedClose>;
    /// Sessions not touched since `before_ms`, at most `limit`.
    async fn expired_uploads(&self, before_ms: u64, limit: u32) -> Result<Vec<UploadSession>>;
    /// Marks a session for removal if it still was not touched since `before_ms`; a
    /// session so marked can no longer be closed. Returns whether it marked it.
    async fn claim_expired(&self, id: &str, before_ms: u64) -> Result<bool>;
}

/// What closing a session by its staged bytes came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagedClose {
    /// Committed. `standing` names another object than `staged_key` if the digest was
    /// already held: then the staged one is not needed.
    Closed { standing: BlobRecord, staged_key: String },
    /// Not closed: the session as it is, if there is one.
    Open(Option<UploadSession>),
}

/// What closing a session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Committed: the record that stands, which names another object if the digest was
    /// already held.
    Yes(BlobRecord),
    /// Another request changed or closed the session first; what holds the digest now.
    Changed(Option<BlobRecord>),
}

/// Metadata of manifests, tags and referrers.
#[allow(async_fn_in_trait)]
pub trait ManifestIndex {
    /// Records the manifest with the digests it needs (blobs of an image, children of an
    /// index), links it into `repo` and points `tags` at it, all at once, in a number of
    /// round trips that does not grow with the references. A tag that an immutable-tag
    /// rule of `repo` names and that points elsewhere is not moved, even by a push racing
    /// the one that set it: then the rest is recorded and the answer is `DeniedBecause`.
    /// `pushed_by` (who pushed it, as the JSON the versions API shows) is recorded for the
    /// version in the same step.
    async fn commit_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        references: &[Digest],
        tags: &[Tag],
        now_ms: u64,
        pushed_by: Option<&str>,
    ) -> Result<()>;
    /// Who pushed those of `digests` in `repo` whose push recorded it, in one round trip.
    async fn pushed_by(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, String)>>;
    async fn linked_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ManifestRecord>>;
    /// Of `digests`, those linked in `repo` as manifests, each with the total size its
    /// details give; in one round trip whatever their number.
    async fn linked_manifest_sizes(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<(Digest, u64)>>;
    /// The manifest a tag or a digest names in `repo`, with its inline bytes, in one step
    /// (a pull's critical path).
    async fn find_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<Option<ManifestRecord>>;
    async fn tag_target(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>>;
    /// Tags in lexical order, after `last`, at most `limit`.
    async fn list_tags(&self, repo: &RepoName, last: Option<&str>, limit: u32) -> Result<Vec<String>>;
    /// Manifests in `repo` whose subject is `subject`.
    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<ManifestRecord>>;
    /// Unlinks the manifest from `repo` and drops the tags pointing at it. Returns
    /// whether it was linked.
    async fn unlink_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;
    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool>;
    /// Whether anything was ever pushed to `repo`.
    async fn repository_exists(&self, repo: &RepoName) -> Result<bool>;
    /// Manifests of `repo` pushed before `before_ms` that nothing keeps: no tag, no index
    /// linked in `repo` that includes them, no subject in `repo` they refer to. Oldest
    /// first, at most `limit`.
    async fn untagged_manifests(&self, repo: &RepoName, before_ms: u64, limit: u32) -> Result<Vec<Digest>>;
    /// Unlinks the manifest only if it still is untagged as above, in one step, so a push
    /// that tags it meanwhile wins. Returns whether it did.
    async fn forget_untagged(&self, repo: &RepoName, digest: &Digest, before_ms: u64) -> Result<bool>;
    /// The manifests linked in `repo` with their tags, most recently pushed first, at
    /// most `limit`.
    async fn versions(&self, repo: &RepoName, limit: u32) -> Result<Vec<Version>>;
    /// The version that speaks for each of `repos` that has one: its newest tagged
    /// manifest, else its newest; in one round trip whatever their number.
    async fn current_versions(&self, repos: &[RepoName]) -> Result<Vec<(RepoName, Version)>>;
}

/// Deleted packages and versions. Trashing moves the content out of sight in one step;
/// it still counts as referenced, so nothing it needs is collected until it is purged.
#[allow(async_fn_in_trait)]
pub trait TrashIndex {
    /// Moves the package (or the version) named by `deletion` out of sight and records the
    /// deletion, in one step; a package's row and roles go in the same step. Returns
    /// `false`, changing nothing, when there is no such version (a package is trashed even
    /// when empty). Upload sessions stay: they expire, and their multipart uploads are
    /// aborted, as any other.
    async fn trash(&self, deletion: &Deletion) -> Result<bool>;
    /// Deletions of `repo` not yet purged, newest first.
    async fn deletions(&self, repo: &RepoName) -> Result<Vec<Deletion>>;
    /// Brings a deletion back exactly, tags included, and a package's row and roles as
    /// `deletion.package` has them, in one step; the record goes. A name in use again
    /// (content or package row) is `NameReused`, changing nothing; a deletion that is not
    /// recorded (restored or purged meanwhile) is `NotFound`.
    async fn restore(&self, deletion: &Deletion) -> Result<Restored>;
    /// Deletions made before `before_ms`, oldest first, at most `limit`.
    async fn expired_deletions(&self, before_ms: u64, limit: u32) -> Result<Vec<Deletion>>;
    /// Forgets the deletion and what it kept; its blobs become collectable.
    async fn purge(&self, deletion: &Deletion) -> Result<()>;
}
