//! JSON request bodies of the admin and package APIs: bounded, parsed with serde.

use crate::error::{RegistryError, Result};
use crate::registry::ports::ChunkSource;
use serde::de::DeserializeOwned;

const MAX_JSON_BYTES: usize = 64 * 1024;

pub async fn read<T: DeserializeOwned>(body: &mut impl ChunkSource) -> Result<T> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next_chunk().await? {
        if bytes.len() + chunk.len() > MAX_JSON_BYTES {
            return Err(RegistryError::TooLarge(format!("a JSON body over {MAX_JSON_BYTES} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadRequest(format!("invalid JSON body: {e}")))
}
