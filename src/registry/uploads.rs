//! Blob uploads: sessions, chunks, monolithic pushes and cross-repository mounts.
//!
//! Bytes stream through: each request's body is hashed as it arrives and re-cut into
//! equal multipart parts; what is left over (less than a part) waits in a staging object
//! for the next request. The hash state is saved with the session, so closing an upload
//! never re-reads the blob. The session is saved only after a request succeeds, so a
//! request that fails midway leaves it as it was.

use super::ports::{BlobIndex, BlobRecord, ChunkSource, ObjectStore, UploadIndex, UploadSession};
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
    Started(UploadSession),
}

impl<P: Platform> Registry<P> {
    /// POST: a new session, hashing in `algorithm` (the `digest-algorithm` parameter;
    /// sha256 when absent). It may still be closed with a digest of another algorithm.
    pub async fn start_upload(&self, repo: &RepoName, algorithm: Algorithm) -> Result<UploadSession> {
        let id = random_id()?;
        let now = self.now();
        let session = UploadSession {
            object_key: keys::blob_object(&id),
            id,
            repo: repo.clone(),
            multipart_id: None,
            parts: vec![],
            received: 0,
            tail_len: 0,
            hash_state: DigestHasher::new(algorithm).save(),
            created_ms: now,
            updated_ms: now,
        };
        self.meta.create_upload(&session).await?;
        Ok(session)
    }

    /// A live session of `repo`; expired ones are unknown.
    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<UploadSession> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RegistryError::BlobUploadUnknown);
        }
        match self.meta.upload(repo, id).await? {
            Some(s) if s.updated_ms + self.config.upload_ttl_ms > self.now() => Ok(s),
            _ => Err(RegistryError::BlobUploadUnknown),
        }
    }

    /// PATCH: appends a chunk. `range` is the chunk's `Content-Range`, when sent.
    pub async fn append_chunk(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<ByteSpan>,
        declared_len: Option<u64>,
        body: &mut impl ChunkSource,
    ) -> Result<UploadSession> {
        let session = self.upload_status(repo, id).await?;
        let mut writer = self.writer(session, range, declared_len).await?;
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
        let session = self.upload_status(repo, id).await?;
        let mut writer = self.writer(session, range, declared_len).await?;
        writer.absorb(self, body).await?;
        writer.check_range(range)?;
        writer.close(self, expected).await
    }

    /// POST `?digest=`: a whole blob in one request.
    pub async fn upload_whole(
        &self,
        repo: &RepoName,
        expected: &Digest,
        declared_len: Option<u64>,
        body: &mut impl ChunkSource,
    ) -> Result<()> {
        let session = self.start_upload(repo, expected.algorithm()).await?;
        let mut writer = self.writer(session, None, declared_len).await?;
        writer.absorb(self, body).await?;
        writer.close(self, expected).await
    }

    /// DELETE: abandons a session and what it wrote.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let session = self.upload_status(repo, id).await?;
        self.discard(&session).await
    }

    /// POST `?mount=&from=`: links a blob `from` holds, when the caller may read `from`.
    /// Otherwise starts a session hashing in the algorithm of the digest asked for.
    pub async fn mount_blob(&self, repo: &RepoName, digest: &Digest, from: Option<&RepoName>) -> Result<MountOutcome> {
        if let Some(from) = from {
            if self.meta.linked_blob(from, digest).await?.is_some() {
                match self.meta.link_blob(repo, digest, self.now()).await {
                    Ok(()) => return Ok(MountOutcome::Mounted),
                    // Collected since: an ordinary upload, as if it had never been there.
                    Err(RegistryError::BlobUnknown) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.start_upload(repo, digest.algorithm()).await.map(MountOutcome::Started)
    }

    /// Removes expired sessions and their partial objects; returns how many.
    pub async fn expire_uploads(&self, limit: u32) -> Result<usize> {
        let before = self.now().saturating_sub(self.config.upload_ttl_ms);
        let expired = self.meta.expired_uploads(before, limit).await?;
        for session in &expired {
            self.discard(session).await?;
        }
        Ok(expired.len())
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

    async fn writer(
        &self,
        session: UploadSession,
        range: Option<ByteSpan>,
        declared_len: Option<u64>,
    ) -> Result<Writer> {
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
        let hasher = DigestHasher::restore(&session.hash_state)?;
        let buf = if session.tail_len > 0 {
            let key = keys::upload_tail(&session);
            let tail =
                self.objects.get_bytes(&key).await?.ok_or_else(|| RegistryError::internal("upload tail missing"))?;
            if tail.len() as u64 != session.tail_len {
                return Err(RegistryError::internal("upload tail has the wrong length"));
            }
            tail
        } else {
            Vec::new()
        };
        Ok(Writer { saved: session.clone(), session, hasher, buf })
    }
}

fn too_big(max: u64) -> RegistryError {
    RegistryError::TooLarge(format!("a blob over {max} bytes"))
}

/// One request's work on a session.
struct Writer {
    session: UploadSession,
    hasher: DigestHasher,
    /// Bytes not yet in a part.
    buf: Vec<u8>,
    /// The session as saved before this request.
    saved: UploadSession,
}

impl Writer {
    /// Reads the body into parts, sending each full part to storage while the next one
    /// is read and hashed.
    async fn absorb<P: Platform>(&mut self, reg: &Registry<P>, body: &mut impl ChunkSource) -> Result<()> {
        let part_size = reg.config.part_size;
        let max = reg.config.max_blob_bytes;
        let Writer { session, hasher, buf, .. } = self;
        let mut sending: Option<Vec<u8>> = None;
        loop {
            let filling = fill_part(body, hasher, buf, part_size, session.received, max);
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
    async fn save<P: Platform>(mut self, reg: &Registry<P>) -> Result<UploadSession> {
        if self.session.received == self.saved.received {
            return Ok(self.session);
        }
        self.session.tail_len = self.buf.len() as u64;
        self.session.hash_state = self.hasher.save();
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
    async fn close<P: Platform>(mut self, reg: &Registry<P>, expected: &Digest) -> Result<()> {
        let mismatch =
            |actual: &Digest| RegistryError::DigestInvalid(format!("content hashes to {actual}, not {expected}"));
        let last = std::mem::take(&mut self.buf);
        let in_parts = self.session.multipart_id.is_some() && !self.session.parts.is_empty();
        // The session hashed in one algorithm; a digest in another is verified over the
        // bytes: those in hand when the blob is smaller than a part, else the assembled object.
        let hashed = self.hasher.algorithm() == expected.algorithm();
        let actual = match (hashed, in_parts) {
            (true, _) => Some(self.hasher.clone().finish()),
            (false, false) => Some(Digest::of(expected.algorithm(), &last)),
            (false, true) => None,
        };
        if let Some(actual) = actual.as_ref().filter(|a| *a != expected) {
            reg.discard(&self.saved).await?;
            return Err(mismatch(actual));
        }
        let key = match self.session.multipart_id.clone() {
            Some(mp) if in_parts => {
                if !last.is_empty() {
                    send_part(reg, &mut self.session, last).await?;
                }
                // R2 checks each part's etag: parts a racing request rewrote fail here.
                reg.objects.complete_multipart(&self.session.object_key, &mp, &self.session.parts).await?;
                self.session.object_key.clone()
            }
            // Less than a part in all: one object, named after its digest so that a racing
            // close of the same upload cannot overwrite it. A multipart upload without parts
            // was started by an interrupted request and is not needed.
            unused => {
                if let Some(mp) = unused {
                    reg.objects.abort_multipart(&self.session.object_key, &mp).await?;
                }
                let key = keys::whole_blob_object(&self.session.id, expected);
                reg.objects.put(&key, last).await?;
                key
            }
        };
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
        let standing = reg.meta.commit_blob(&self.session.repo, &record, reg.now()).await?;
        if standing.object_key != key {
            // The digest was already held: keep one copy.
            reg.objects.delete(&key).await?;
        }
        self.delete_saved_tail(reg).await?;
        reg.meta.delete_upload(&self.session.id).await
    }

    async fn delete_saved_tail<P: Platform>(&self, reg: &Registry<P>) -> Result<()> {
        if self.saved.tail_len > 0 {
            reg.objects.delete(&keys::upload_tail(&self.saved)).await?;
        }
        Ok(())
    }

    /// After losing a race to save: removes the bytes this request staged, unless the
    /// winner staged the very same ones (the same key) and now relies on them.
    async fn drop_unsaved_tail<P: Platform>(&self, reg: &Registry<P>) -> Result<()> {
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

/// Reads and hashes until `buf` holds a part or the body ends; returns the bytes read and
/// whether the body ended.
async fn fill_part(
    body: &mut impl ChunkSource,
    hasher: &mut DigestHasher,
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
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    Ok((read, false))
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
