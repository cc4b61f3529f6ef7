//! Blob uploads: sessions, chunks, monolithic pushes and cross-repository mounts.
//!
//! Bytes stream through: each request's body is hashed as it arrives and re-cut into
//! equal multipart parts; what is left over (less than a part) waits in a staging object
//! for the next request. The hash is saved with the session (natively where the request
//! hashes the whole upload, resumably where later chunks may follow: `upload_hash`), so
//! closing an upload re-reads the blob only when a chunk followed a native hash's parts.
//! The session is saved only after a request succeeds, so a request that fails midway
//! leaves it as it was.
//!
//! Deployed, every D1 and R2 call is a trip to another region, so each step makes as few
//! as it can: a blob of less than a part sent whole (`POST ?digest=`) is one object put and
//! one metadata batch, with no session; a close that brings no more bytes keeps the staged
//! object as the blob's own (no R2 call); a close commits the blob and forgets the session
//! in one batch.

use super::ports::{
    BlobIndex, BlobRecord, BodyHasher, ChunkSource, Closed, ObjectStore, StagedClose, UploadIndex, UploadSession,
};
use super::upload_hash::UploadHash;
use super::{keys, random_id, Platform, Registry};
use crate::error::{RegistryError, Result};
use crate::oci::digest::Algorithm;
use crate::oci::range::ByteSpan;
use crate::oci::{Digest, DigestHasher, RepoName};
use futures_util::future::join;

/// What a mount request came to.
#[derive(Debug)]
pub enum MountOutcome {
    Mounted,
    /// The blob is not available from the source: a fresh session instead.
    Started(Box<UploadSession>),
}

impl<P: Platform> Registry<P> {
    /// POST: a new session, hashing in `algorithm` (the `digest-algorithm` parameter;
    /// sha256 when absent). It may still be closed with a digest of another algorithm.
    pub async fn start_upload(&self, repo: &RepoName, algorithm: Algorithm) -> Result<UploadSession> {
        let session = self.new_session(repo, algorithm)?;
        self.meta.create_upload(&session).await?;
        Ok(session)
    }

    /// A session at its start, not yet recorded.
    fn new_session(&self, repo: &RepoName, algorithm: Algorithm) -> Result<UploadSession> {
        let id = random_id()?;
        let now = self.now();
        Ok(UploadSession {
            object_key: keys::blob_object(&id),
            id,
            repo: repo.clone(),
            multipart_id: None,
            parts: vec![],
            received: 0,
            tail_len: 0,
            hash_state: DigestHasher::new(algorithm).save(),
            staged_digest: None,
            created_ms: now,
            updated_ms: now,
        })
    }

    /// A live session of `repo`; expired ones are unknown.
    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<UploadSession> {
        valid_id(id)?;
        self.live(self.meta.upload(repo, id).await?)
    }

    /// The session if it has not expired.
    fn live(&self, session: Option<UploadSession>) -> Result<UploadSession> {
        match session {
            Some(s) if s.updated_ms + self.config.upload_ttl_ms > self.now() => Ok(s),
            _ => Err(RegistryError::BlobUploadUnknown),
        }
    }

    /// PATCH: appends a chunk. `range` is the chunk's `Content-Range`, when sent: a chunk
    /// that says where it goes is hashed resumably, one that does not (a whole blob
    /// streamed in one PATCH) natively when it is the first (`upload_hash`).
    pub async fn append_chunk(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<ByteSpan>,
        declared_len: Option<u64>,
        body: &mut impl ChunkSource,
    ) -> Result<UploadSession> {
        let session = self.upload_status(repo, id).await?;
        let mut writer = self.writer(session, range, declared_len, range.is_none())?;
        writer.absorb(self, body).await?;
        writer.check_range(range)?;
        writer.save(self).await
    }

    /// PUT `?digest=`: appends the last chunk, if any, verifies the digest and makes the
    /// blob visible in the repository.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        expected: &Digest,
        range: Option<ByteSpan>,
        declared_len: Option<u64>,
        body: &mut impl ChunkSource,
    ) -> Result<()> {
        valid_id(id)?;
        let first = next_bytes(body).await?;
        let session = match (&first, range) {
            // No more bytes: when they all wait staged under the digest named, one step
            // closes the session; else that step has read it.
            (None, None) => {
                match self.meta.close_staged(repo, id, expected, self.config.upload_ttl_ms, self.now()).await? {
                    StagedClose::Closed { standing, staged_key } => {
                        if standing.object_key != staged_key {
                            // The digest was already held: keep one copy.
                            self.objects.delete(&staged_key).await?;
                        }
                        return Ok(());
                    }
                    StagedClose::Open(session) => self.live(session)?,
                }
            }
            _ => self.live(self.meta.upload(repo, id).await?)?,
        };
        // The hash ends in this request: whatever it hashes may be hashed natively.
        let mut writer = self.writer(session, range, declared_len, true)?;
        writer.absorb(self, &mut Prepended { first, rest: body }).await?;
        writer.check_range(range)?;
        writer.close(self, expected).await
    }

    /// POST `?digest=`: a whole blob in one request. One of less than a part needs no
    /// session: it is verified in memory, stored with one put and committed in one batch.
    /// A larger one becomes a session once its first part is read.
    pub async fn upload_whole(
        &self,
        repo: &RepoName,
        expected: &Digest,
        declared_len: Option<u64>,
        body: &mut impl ChunkSource,
    ) -> Result<()> {
        let max = self.config.max_blob_bytes;
        if declared_len.is_some_and(|len| len > max) {
            return Err(too_big(max));
        }
        let mut hash = UploadHash::Native(P::Hasher::start(expected.algorithm())?);
        let mut buf = Vec::new();
        let (read, ended) = fill_part(body, &mut hash, &mut buf, self.config.part_size, 0, max).await?;
        if !ended {
            let mut session = self.start_upload(repo, expected.algorithm()).await?;
            session.received = read;
            let saved = UploadSession { received: 0, ..session.clone() };
            let mut writer = Writer { session, hash, native: true, buf, saved, tail_loaded: true };
            writer.absorb(self, body).await?;
            return writer.close(self, expected).await;
        }
        let actual = hash.digest().await?.ok_or_else(|| RegistryError::internal("a native hash has no digest"))?;
        if &actual != expected {
            return Err(RegistryError::DigestInvalid(format!("content hashes to {actual}, not {expected}")));
        }
        let key = keys::whole_blob_object(&random_id()?, expected);
        self.objects.put(&key, buf).await?;
        let record = BlobRecord { digest: expected.clone(), object_key: key.clone(), size: read };
        let standing = self.meta.commit_blob(repo, &record, self.now()).await?;
        if standing.object_key != key {
            // The digest was already held: keep one copy.
            self.objects.delete(&key).await?;
        }
        Ok(())
    }

    /// DELETE: abandons a session and what it wrote.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let session = self.upload_status(repo, id).await?;
        self.discard(&session).await
    }

    /// POST `?mount=&from=`: links a blob `from` holds, when the caller may read `from`.
    /// Otherwise starts a session hashing in the algorithm of the digest asked for. Either
    /// way in one metadata step.
    pub async fn mount_blob(&self, repo: &RepoName, digest: &Digest, from: Option<&RepoName>) -> Result<MountOutcome> {
        let session = self.new_session(repo, digest.algorithm())?;
        let mounted = match from {
            Some(from) => self.meta.mount_or_start(from, digest, &session, self.now()).await?,
            None => {
                self.meta.create_upload(&session).await?;
                false
            }
        };
        Ok(if mounted { MountOutcome::Mounted } else { MountOutcome::Started(Box::new(session)) })
    }

    /// Removes expired sessions and their partial objects; returns how many.
    pub async fn expire_uploads(&self, limit: u32) -> Result<usize> {
        let before = self.now().saturating_sub(self.config.upload_ttl_ms);
        let mut removed = 0;
        for session in &self.meta.expired_uploads(before, limit).await? {
            // Claimed first: a close that read the session just before it expired can then
            // no longer make a blob of the staged bytes removed here.
            if self.meta.claim_expired(&session.id, before).await? {
                self.discard(session).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn discard(&self, session: &UploadSession) -> Result<()> {
        if let Some(mp) = &session.multipart_id {
            self.objects.abort_multipart(&session.object_key, mp).await?;
        }
        if session.tail_len > 0 {
            self.objects.delete(&keys::upload_tail(session)).await?;
        }
        self.meta.delete_upload(&session.id).await
    }

    /// One request's work on `session`; `native`: whether it may hash natively (`upload_hash`).
    fn writer(
        &self,
        session: UploadSession,
        range: Option<ByteSpan>,
        declared_len: Option<u64>,
        native: bool,
    ) -> Result<Writer<P::Hasher>> {
        if let Some(r) = range {
            if r.start != session.received {
                return Err(RegistryError::RangeInvalid(format!(
                    "chunk starts at {} but the upload has {} bytes",
                    r.start, session.received
                )));
            }
        }
        if let Some(len) = declared_len {
            if session.received.saturating_add(len) > self.config.max_blob_bytes {
                return Err(too_big(self.config.max_blob_bytes));
            }
        }
        let hash = UploadHash::restore(&session.hash_state)?;
        let tail_loaded = session.tail_len == 0;
        Ok(Writer { saved: session.clone(), session, hash, native, buf: Vec::new(), tail_loaded })
    }
}

fn valid_id(id: &str) -> Result<()> {
    match !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(()),
        false => Err(RegistryError::BlobUploadUnknown),
    }
}

/// The body's first chunk that has bytes, or `None` when it has none.
async fn next_bytes(body: &mut impl ChunkSource) -> Result<Option<Vec<u8>>> {
    loop {
        match body.next_chunk().await? {
            Some(chunk) if chunk.is_empty() => continue,
            other => return Ok(other),
        }
    }
}

fn too_big(max: u64) -> RegistryError {
    RegistryError::TooLarge(format!("a blob over {max} bytes"))
}

/// One request's work on a session.
struct Writer<H> {
    session: UploadSession,
    hash: UploadHash<H>,
    /// Whether this request may hash natively (`upload_hash`).
    native: bool,
    /// Bytes not yet in a part.
    buf: Vec<u8>,
    /// The session as saved before this request.
    saved: UploadSession,
    /// Whether `buf` starts with the saved staged bytes (or there are none). They are read
    /// only when needed: a close that brings no more bytes keeps them where they are.
    tail_loaded: bool,
}

impl<H: BodyHasher> Writer<H> {
    /// Reads the staged bytes in front of `buf`, once.
    async fn load_tail<P: Platform<Hasher = H>>(&mut self, reg: &Registry<P>) -> Result<()> {
        if self.tail_loaded {
            return Ok(());
        }
        let key = keys::upload_tail(&self.saved);
        let tail = reg.objects.get_bytes(&key).await?.ok_or_else(|| RegistryError::internal("upload tail missing"))?;
        if tail.len() as u64 != self.saved.tail_len {
            return Err(RegistryError::internal("upload tail has the wrong length"));
        }
        self.buf.splice(0..0, tail);
        self.tail_loaded = true;
        Ok(())
    }

    /// Reads the body into parts, sending each full part to storage while the next one
    /// is read and hashed.
    async fn absorb<P: Platform<Hasher = H>>(&mut self, reg: &Registry<P>, body: &mut impl ChunkSource) -> Result<()> {
        // An empty body leaves the staged bytes unread.
        let Some(first) = next_bytes(body).await? else { return Ok(()) };
        self.load_tail(reg).await?;
        // Every byte so far is staged (and now in `buf`) until a part is written.
        let staged =
            (self.session.parts.is_empty() && self.buf.len() as u64 == self.session.received).then_some(&self.buf[..]);
        let hash = std::mem::replace(&mut self.hash, UploadHash::Unverified);
        self.hash = hash.begin(self.session.received, staged, self.native).await?;
        let body = &mut Prepended { first: Some(first), rest: body };
        let part_size = reg.config.part_size;
        let max = reg.config.max_blob_bytes;
        let Writer { session, hash, buf, .. } = self;
        let mut sending: Option<Vec<u8>> = None;
        loop {
            let filling = fill_part(body, hash, buf, part_size, session.received, max);
            let (sent, filled) = match sending.take() {
                Some(part) => join(send_part(reg, session, part), filling).await,
                None => (Ok(()), filling.await),
            };
            sent?;
            let (read, ended) = filled?;
            session.received += read;
            if buf.len() >= part_size {
                let rest = buf.split_off(part_size);
                sending = Some(std::mem::replace(buf, rest));
            }
            if ended {
                break;
            }
        }
        if let Some(part) = sending {
            send_part(reg, session, part).await?;
        }
        // A chunk larger than a part can leave more than one behind.
        while buf.len() >= part_size {
            let rest = buf.split_off(part_size);
            send_part(reg, session, std::mem::replace(buf, rest)).await?;
        }
        Ok(())
    }

    fn check_range(&self, range: Option<ByteSpan>) -> Result<()> {
        match range {
            Some(r) if self.session.received - self.saved.received != r.len() => {
                Err(RegistryError::BlobUploadInvalid(format!(
                    "Content-Range announced {} bytes, the body had {}",
                    r.len(),
                    self.session.received - self.saved.received
                )))
            }
            _ => Ok(()),
        }
    }

    /// Keeps the leftover bytes for the next request and saves the session.
    async fn save<P: Platform<Hasher = H>>(mut self, reg: &Registry<P>) -> Result<UploadSession> {
        if self.session.received == self.saved.received {
            return Ok(self.session);
        }
        self.session.tail_len = self.buf.len() as u64;
        let (state, digest) = std::mem::replace(&mut self.hash, UploadHash::Unverified).save().await?;
        self.session.hash_state = state;
        self.session.staged_digest = digest.filter(|_| self.session.parts.is_empty() && !self.buf.is_empty());
        self.session.updated_ms = reg.now();
        if !self.buf.is_empty() {
            reg.objects.put(&keys::upload_tail(&self.session), std::mem::take(&mut self.buf)).await?;
        }
        if !reg.meta.save_upload(&self.session, self.saved.received).await? {
            self.drop_unsaved_tail(reg).await?;
            return Err(RegistryError::BlobUploadInvalid("another request changed this upload".into()));
        }
        self.delete_saved_tail(reg).await?;
        Ok(self.session)
    }

    /// Verifies the digest, completes the object and makes the blob visible.
    async fn close<P: Platform<Hasher = H>>(mut self, reg: &Registry<P>, expected: &Digest) -> Result<()> {
        let mismatch =
            |actual: &Digest| RegistryError::DigestInvalid(format!("content hashes to {actual}, not {expected}"));
        let in_parts = self.session.multipart_id.is_some() && !self.session.parts.is_empty();
        // A digest the session did not hash (another algorithm, or chunks that followed a
        // native hash's parts) is verified over the bytes: those in hand when the blob is
        // smaller than a part, else the assembled object.
        let hashed = std::mem::replace(&mut self.hash, UploadHash::Unverified)
            .digest()
            .await?
            .filter(|d| d.algorithm() == expected.algorithm());
        if hashed.is_none() && !in_parts {
            self.load_tail(reg).await?;
        }
        let actual = match (hashed, in_parts) {
            (Some(digest), _) => Some(digest),
            (None, false) => Some(hash_whole::<H>(expected.algorithm(), &self.buf).await?),
            (None, true) => None,
        };
        if let Some(actual) = actual.as_ref().filter(|a| *a != expected) {
            // The staged bytes as saved, and the multipart upload even if this request began it.
            let multipart_id = self.session.multipart_id.clone();
            reg.discard(&UploadSession { multipart_id, ..self.saved.clone() }).await?;
            return Err(mismatch(actual));
        }
        let staged = keys::upload_tail(&self.saved);
        let key = match self.session.multipart_id.clone() {
            Some(mp) if in_parts => {
                self.load_tail(reg).await?;
                let last = std::mem::take(&mut self.buf);
                if !last.is_empty() {
                    send_part(reg, &mut self.session, last).await?;
                }
                // R2 checks each part's etag: parts a racing request rewrote fail here.
                reg.objects.complete_multipart(&self.session.object_key, &mp, &self.session.parts).await?;
                self.session.object_key.clone()
            }
            // Less than a part in all: one object. A multipart upload without parts was
            // started by an interrupted request and is not needed.
            unused => {
                if let Some(mp) = unused {
                    reg.objects.abort_multipart(&self.session.object_key, &mp).await?;
                }
                if self.tail_loaded {
                    // Named after its digest too, so that a racing close of the same upload
                    // with other bytes cannot overwrite it.
                    let key = keys::whole_blob_object(&self.session.id, expected);
                    reg.objects.put(&key, std::mem::take(&mut self.buf)).await?;
                    key
                } else {
                    // No bytes came with the close: the staged object, whose name pins
                    // every byte, is the blob's.
                    staged.clone()
                }
            }
        };
        // Whether this request wrote the object (else it was staged by an earlier one).
        let written = key != staged;
        if actual.is_none() {
            let actual = reg
                .objects
                .hash_object(&key, expected.algorithm())
                .await?
                .ok_or_else(|| RegistryError::internal(format!("assembled object {key} is missing")))?;
            if &actual != expected {
                reg.objects.delete(&key).await?;
                self.delete_saved_tail(reg).await?;
                reg.meta.delete_upload(&self.session.id).await?;
                return Err(mismatch(&actual));
            }
        }
        let record = BlobRecord { digest: expected.clone(), object_key: key.clone(), size: self.session.received };
        match reg.meta.close_upload(&self.saved, &record, reg.now()).await? {
            Closed::Yes(standing) => {
                if standing.object_key != key {
                    // The digest was already held: keep one copy.
                    reg.objects.delete(&key).await?;
                }
                if written {
                    self.delete_saved_tail(reg).await?;
                }
                Ok(())
            }
            // A racing close of the same bytes won: the blob is there, as asked.
            Closed::Changed(Some(standing)) if standing.object_key == key => Ok(()),
            Closed::Changed(_) => {
                if written {
                    reg.objects.delete(&key).await?;
                }
                Err(RegistryError::BlobUploadInvalid("another request changed this upload".into()))
            }
        }
    }

    async fn delete_saved_tail<P: Platform<Hasher = H>>(&self, reg: &Registry<P>) -> Result<()> {
        if self.saved.tail_len > 0 {
            reg.objects.delete(&keys::upload_tail(&self.saved)).await?;
        }
        Ok(())
    }

    /// After losing a race to save: removes the bytes this request staged, unless the
    /// winner staged the very same ones (the same key) and now relies on them.
    async fn drop_unsaved_tail<P: Platform<Hasher = H>>(&self, reg: &Registry<P>) -> Result<()> {
        if self.session.tail_len == 0 {
            return Ok(());
        }
        let key = keys::upload_tail(&self.session);
        let winner = reg.meta.upload(&self.session.repo, &self.session.id).await?;
        if winner.is_some_and(|w| w.tail_len > 0 && keys::upload_tail(&w) == key) {
            return Ok(());
        }
        reg.objects.delete(&key).await
    }
}

/// A body whose first chunk was read ahead.
struct Prepended<'a, B> {
    first: Option<Vec<u8>>,
    rest: &'a mut B,
}

impl<B: ChunkSource> ChunkSource for Prepended<'_, B> {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match self.first.take() {
            Some(chunk) => Ok(Some(chunk)),
            None => self.rest.next_chunk().await,
        }
    }
}

/// Reads and hashes until `buf` holds a part or the body ends; returns the bytes read and
/// whether the body ended.
async fn fill_part<H: BodyHasher>(
    body: &mut impl ChunkSource,
    hash: &mut UploadHash<H>,
    buf: &mut Vec<u8>,
    part_size: usize,
    received: u64,
    max: u64,
) -> Result<(u64, bool)> {
    let mut read = 0u64;
    while buf.len() < part_size {
        let Some(chunk) = body.next_chunk().await? else { return Ok((read, true)) };
        read += chunk.len() as u64;
        if received + read > max {
            return Err(too_big(max));
        }
        hash.update(&chunk).await?;
        if buf.capacity() - buf.len() < chunk.len() {
            // Room for the rest of the part and the piece that crosses its end, at once:
            // grown piece by piece, the buffer would be copied over and over.
            buf.reserve_exact((part_size + chunk.len()).saturating_sub(buf.len()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((read, false))
}

/// The digest of bytes in hand (less than a part), by the platform's hasher.
async fn hash_whole<H: BodyHasher>(algorithm: Algorithm, bytes: &[u8]) -> Result<Digest> {
    let mut h = H::start(algorithm)?;
    h.update(bytes).await?;
    h.finish().await
}

/// Stores one full part. Parts are numbered by position, so a request retried after a
/// failure rewrites the same parts rather than adding new ones.
async fn send_part<P: Platform>(reg: &Registry<P>, session: &mut UploadSession, part: Vec<u8>) -> Result<()> {
    let key = &session.object_key;
    let mp = match &session.multipart_id {
        Some(mp) => mp.clone(),
        None => {
            let mp = reg.objects.create_multipart(key).await?;
            if !reg.meta.record_multipart(&session.id, &mp).await? {
                reg.objects.abort_multipart(key, &mp).await?;
                return Err(RegistryError::BlobUploadInvalid("another request changed this upload".into()));
            }
            session.multipart_id = Some(mp.clone());
            mp
        }
    };
    let number = u16::try_from(session.parts.len() + 1)
        .ok()
        .filter(|n| *n <= 10_000)
        .ok_or_else(|| too_big(reg.config.max_blob_bytes))?;
    let tag = reg.objects.upload_part(key, &mp, number, part).await?;
    session.parts.push(tag);
    Ok(())
}
