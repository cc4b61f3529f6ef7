//! The R2 key layout, in one place.
//!
//! | key                          | holds                                                   |
//! |------------------------------|---------------------------------------------------------|
//! | `blobs/<upload-id>`          | a blob's bytes, written in parts. The digest is known   |
//! |                              | only when the upload closes, and R2 cannot rename, so   |
//! |                              | the D1 table `blobs` maps each digest to its object.    |
//! | `blobs/<upload-id>-<alg>-<hex>` | a blob of less than a part, written whole on close:  |
//! |                              | named after its digest too, so two requests racing to   |
//! |                              | close one upload with different bytes never share it.   |
//! | `uploads/<upload-id>/<offset>-<state>` | bytes of an open upload not yet in a part. |
//! |                              | The offset and a digest of the hash state (which pins   |
//! |                              | every byte received) name exactly the saved session     |
//! |                              | they belong to: a crash between the write and the save  |
//! |                              | is harmless, and a request that loses a race to save    |
//! |                              | cannot overwrite the winner's. A close that brings no   |
//! |                              | more bytes to a blob of less than a part keeps this     |
//! |                              | object as the blob's own (R2 cannot rename).            |
//! | `manifests/<alg>/<hex>`      | a manifest's exact bytes (up to 4 MiB: too big for D1). |

use super::ports::UploadSession;
use crate::oci::Digest;

pub fn blob_object(upload_id: &str) -> String {
    format!("blobs/{upload_id}")
}

pub fn whole_blob_object(upload_id: &str, digest: &Digest) -> String {
    format!("blobs/{upload_id}-{}-{}", digest.algorithm().as_str(), digest.hex())
}

/// The staged bytes of `session` as saved.
pub fn upload_tail(session: &UploadSession) -> String {
    let state = Digest::sha256_of(&session.hash_state);
    format!("uploads/{}/{}-{}", session.id, session.received, state.hex())
}

pub fn manifest_object(digest: &Digest) -> String {
    format!("manifests/{}/{}", digest.algorithm().as_str(), digest.hex())
}
