//! The R2 key layout, in one place.
//!
//! | key                          | holds                                                   |
//! |------------------------------|---------------------------------------------------------|
//! | `blobs/<upload-id>`          | a blob's bytes. The digest is known only when the upload |
//! |                              | closes, and R2 cannot rename, so the D1 table `blobs`   |
//! |                              | maps each digest to the one object that holds it.       |
//! | `uploads/<upload-id>/<offset>` | bytes of an open upload not yet in a multipart part; |
//! |                              | the offset (bytes received when written) makes a crash  |
//! |                              | between the write and the session save harmless.        |
//! | `manifests/<alg>/<hex>`      | a manifest's exact bytes (up to 4 MiB: too big for D1). |

use crate::oci::Digest;

pub fn blob_object(upload_id: &str) -> String {
    format!("blobs/{upload_id}")
}

pub fn upload_tail(upload_id: &str, received: u64) -> String {
    format!("uploads/{upload_id}/{received}")
}

pub fn manifest_object(digest: &Digest) -> String {
    format!("manifests/{}/{}", digest.algorithm().as_str(), digest.hex())
}
