//! An upload's digest across its requests, hashed natively where it can be.
//!
//! The platform's hasher (`BodyHasher`: workerd's native SHA at the edge, about four times
//! the speed of the registry's wasm hasher) cannot be saved between requests; the wasm
//! `DigestHasher` can. So a request hashes natively exactly when it hashes the upload from
//! its first byte:
//! - a monolithic push (`POST ?digest=`), and a close (`PUT`) that brings bytes to a session
//!   that has none yet: the hash ends within the request;
//! - a `PATCH` without `Content-Range` to a session that has no bytes yet (what docker,
//!   skopeo and containerd send: one streamed PATCH, then a PUT without bytes). A client
//!   that sends `Content-Range` announces chunks, and is hashed resumably in wasm.
//!
//! Such a PATCH leaves the session its digest so far (`Known`) but nothing to resume from.
//! If more bytes then come, while every byte still waits in the staged object (less than
//! a part), they are hashed again from it, which the request reads anyway; once parts are
//! written (R2 cannot read the parts of an unfinished multipart upload) the upload goes on
//! `Unverified` and its close hashes the assembled object, one read of the stored blob.

use super::ports::BodyHasher;
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, DigestHasher};

/// The hash of an upload in one request.
pub(super) enum UploadHash<H> {
    /// Resumable: the wasm hasher, saved with the session.
    Resumable(DigestHasher),
    /// The platform's hasher, started at the upload's first byte in this request.
    Native(H),
    /// The digest of every byte received, from a native hash; nothing to resume from.
    Known(Digest),
    /// Not hashed: the close hashes the stored blob.
    Unverified,
}

const KNOWN: u8 = b'=';
const UNVERIFIED: u8 = b'?';

impl<H: BodyHasher> UploadHash<H> {
    /// The state saved with a session (`save`).
    pub fn restore(saved: &[u8]) -> Result<Self> {
        let corrupt = || RegistryError::internal("corrupt hash state in upload session");
        match saved.split_first() {
            Some((&KNOWN, digest)) => {
                Ok(UploadHash::Known(Digest::parse(std::str::from_utf8(digest).map_err(|_| corrupt())?)?))
            }
            Some((&UNVERIFIED, _)) => Ok(UploadHash::Unverified),
            _ => DigestHasher::restore(saved).map(UploadHash::Resumable),
        }
    }

    /// Before this request's first byte is hashed. `received` bytes came before it, `staged`
    /// holds them all when no part is written yet, and `native` says whether this request
    /// may hash natively from the upload's first byte (see the module's comment).
    pub async fn begin(self, received: u64, staged: Option<&[u8]>, native: bool) -> Result<Self> {
        Ok(match (self, staged) {
            (UploadHash::Resumable(h), _) if received == 0 && native => UploadHash::Native(H::start(h.algorithm())?),
            (UploadHash::Known(d), Some(bytes)) if native => {
                let mut h = H::start(d.algorithm())?;
                h.update(bytes).await?;
                UploadHash::Native(h)
            }
            (UploadHash::Known(d), Some(bytes)) => {
                let mut h = DigestHasher::new(d.algorithm());
                h.update(bytes);
                UploadHash::Resumable(h)
            }
            (UploadHash::Known(_), None) => UploadHash::Unverified,
            (state, _) => state,
        })
    }

    pub async fn update(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            UploadHash::Resumable(h) => h.update(bytes),
            UploadHash::Native(h) => h.update(bytes).await?,
            UploadHash::Known(_) => return Err(RegistryError::internal("bytes hashed before the hash began")),
            UploadHash::Unverified => {}
        }
        Ok(())
    }

    /// The digest of every byte so far, when it is known.
    pub async fn digest(self) -> Result<Option<Digest>> {
        Ok(match self {
            UploadHash::Resumable(h) => Some(h.finish()),
            UploadHash::Native(h) => Some(h.finish().await?),
            UploadHash::Known(d) => Some(d),
            UploadHash::Unverified => None,
        })
    }

    /// The state to save with the session, and the digest so far when it is known.
    pub async fn save(self) -> Result<(Vec<u8>, Option<Digest>)> {
        Ok(match self {
            UploadHash::Resumable(h) => (h.save(), Some(h.finish())),
            UploadHash::Native(h) => Self::known(h.finish().await?),
            UploadHash::Known(d) => Self::known(d),
            // Unique, as the name of the staged object is made of it: racing requests that
            // stage other bytes at the same offset cannot overwrite each other's.
            UploadHash::Unverified => ([&[UNVERIFIED], super::random_id()?.as_bytes()].concat(), None),
        })
    }

    fn known(d: Digest) -> (Vec<u8>, Option<Digest>) {
        let mut saved = vec![KNOWN];
        saved.extend_from_slice(d.to_string().as_bytes());
        (saved, Some(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::Algorithm;
    use futures_executor::block_on;

    type Hash = UploadHash<DigestHasher>;

    fn saved(h: Hash) -> Vec<u8> {
        block_on(h.save()).unwrap().0
    }

    fn fed(h: Hash, bytes: &[u8]) -> Hash {
        let mut h = h;
        block_on(h.update(bytes)).unwrap();
        h
    }

    #[test]
    fn a_native_first_request_saves_its_digest_and_more_bytes_rehash_the_staged_ones() {
        let fresh = || Hash::Resumable(DigestHasher::new(Algorithm::Sha512));
        let h = block_on(fresh().begin(0, Some(b""), true)).unwrap();
        assert!(matches!(h, UploadHash::Native(_)));
        let state = saved(fed(h, b"hello "));
        let known = Hash::restore(&state).unwrap();
        assert!(matches!(&known, UploadHash::Known(d) if *d == Digest::of(Algorithm::Sha512, b"hello ")));

        // Rebuilt from the staged bytes, natively or resumably, it goes on where it was.
        for native in [true, false] {
            let known = Hash::restore(&state).unwrap();
            let h = block_on(known.begin(6, Some(b"hello "), native)).unwrap();
            assert_eq!(matches!(h, UploadHash::Resumable(_)), !native);
            let d = block_on(fed(h, b"world").digest()).unwrap();
            assert_eq!(d, Some(Digest::of(Algorithm::Sha512, b"hello world")));
        }
    }

    #[test]
    fn once_parts_are_written_a_known_digest_cannot_go_on_and_the_close_verifies() {
        let known = Hash::restore(&saved(Hash::Known(Digest::sha256_of(b"x")))).unwrap();
        let h = block_on(known.begin(1, None, true)).unwrap();
        let (state, digest) = block_on(fed(h, b"y").save()).unwrap();
        assert_eq!(digest, None);
        assert!(matches!(Hash::restore(&state).unwrap(), UploadHash::Unverified));
        // Each save is its own, so staged objects named after it never collide.
        let (again, _) = block_on(Hash::Unverified.save()).unwrap();
        assert_ne!(state, again);
    }

    #[test]
    fn chunks_announced_as_such_and_resumed_uploads_stay_resumable() {
        let fresh = Hash::Resumable(DigestHasher::new(Algorithm::Sha256));
        let h = block_on(fresh.begin(0, Some(b""), false)).unwrap();
        let state = saved(fed(h, b"hello "));
        let h = block_on(Hash::restore(&state).unwrap().begin(6, Some(b"hello "), true)).unwrap();
        let d = block_on(fed(h, b"world").digest()).unwrap();
        assert_eq!(d, Some(Digest::sha256_of(b"hello world")));
    }

    #[test]
    fn corrupt_states_are_errors() {
        for bad in [&b"="[..], b"=sha256:00", b"", b"2"] {
            assert!(Hash::restore(bad).is_err(), "{bad:?}");
        }
    }
}
