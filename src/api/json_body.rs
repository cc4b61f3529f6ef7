//! JSON request bodies of the admin and package APIs: bounded, parsed with serde.

use crate::error::{RegistryError, Result};
use crate::registry::ports::{read_small, ChunkSource};
use serde::de::DeserializeOwned;

const MAX_JSON_BYTES: usize = 64 * 1024;

pub async fn read<T: DeserializeOwned>(body: &mut impl ChunkSource) -> Result<T> {
    let bytes = read_small(body, MAX_JSON_BYTES, "a JSON body").await?;
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadRequest(format!("invalid JSON body: {e}")))
}
