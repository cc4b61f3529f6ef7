//! The hashing port over workerd's native `crypto.DigestStream` (`hashing.js`).

use crate::error::{RegistryError, Result};
use crate::oci::digest::Algorithm;
use crate::oci::Digest;
use crate::registry::ports::BodyHasher;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStream;

#[wasm_bindgen(module = "/src/edge/hashing.js")]
extern "C" {
    #[wasm_bindgen(js_name = digestStart, catch)]
    fn digest_start(algorithm: &str) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = digestUpdate, catch)]
    fn digest_update(hasher: &JsValue, bytes: &[u8]) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = digestFinish)]
    fn digest_finish(hasher: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = digestOf)]
    fn digest_of(algorithm: &str, readable: &ReadableStream) -> Promise;
}

fn hash_err(e: JsValue) -> RegistryError {
    RegistryError::internal(format!("native hash: {e:?}"))
}

async fn digest(algorithm: Algorithm, promise: Promise) -> Result<Digest> {
    let bytes = JsFuture::from(promise).await.map_err(hash_err)?;
    Digest::from_bytes(algorithm, &Uint8Array::new(&bytes).to_vec())
}

pub struct NativeHasher {
    algorithm: Algorithm,
    handle: JsValue,
}

impl BodyHasher for NativeHasher {
    fn start(algorithm: Algorithm) -> Result<Self> {
        Ok(NativeHasher { algorithm, handle: digest_start(algorithm.as_str()).map_err(hash_err)? })
    }

    async fn update(&mut self, bytes: &[u8]) -> Result<()> {
        // Awaited, so that at most one piece (1 MiB) waits in the stream.
        JsFuture::from(digest_update(&self.handle, bytes).map_err(hash_err)?).await.map_err(hash_err)?;
        Ok(())
    }

    async fn finish(self) -> Result<Digest> {
        digest(self.algorithm, digest_finish(&self.handle)).await
    }
}

/// The digest of a stream read to its end, hashed natively.
pub async fn digest_stream(algorithm: Algorithm, readable: &ReadableStream) -> Result<Digest> {
    digest(algorithm, digest_of(algorithm.as_str(), readable)).await
}
