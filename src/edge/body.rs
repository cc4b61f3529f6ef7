//! Request bodies, read in large pieces. A body arrives from workerd in pieces of a few
//! KiB (about 160,000 of them for 300 MiB), and crossing into wasm per piece costs more
//! than hashing and storing the bytes. A BYOB reader with workerd's `readAtLeast` fills
//! a buffer of up to 1 MiB per crossing instead.

use crate::error::{RegistryError, Result};
use crate::registry::ports::ChunkSource;
use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamByobReader};

const BUFFER: u32 = 1 << 20;
/// Wait for at least this much before crossing into wasm (less at the end of the body).
const AT_LEAST: u32 = 256 << 10;

pub struct RequestBody {
    reader: Option<ReadableStreamByobReader>,
    /// Unread bodies up to this size are drained after an early answer, so the
    /// connection that carried them stays usable.
    drain_limit: usize,
}

fn body_err(e: JsValue) -> RegistryError {
    RegistryError::BlobUploadInvalid(format!("reading the request body: {e:?}"))
}

impl RequestBody {
    pub fn new(stream: Option<ReadableStream>) -> Result<Self> {
        let reader = stream.map(|s| ReadableStreamByobReader::new(&s)).transpose().map_err(body_err)?;
        Ok(RequestBody { reader, drain_limit: 1 << 20 })
    }

    pub async fn drain(&mut self) {
        let mut read = 0;
        while read < self.drain_limit {
            match self.next_chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
    }
}

impl ChunkSource for RequestBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(reader) = &self.reader else { return Ok(None) };
        let buffer = Uint8Array::new_with_length(BUFFER);
        // workerd's readAtLeast; plain BYOB read where it is missing.
        let read_at_least =
            Reflect::get(reader, &"readAtLeast".into()).ok().and_then(|f| f.dyn_into::<Function>().ok());
        let promise = match read_at_least {
            Some(f) => f.call2(reader, &JsValue::from(AT_LEAST), &buffer).map_err(body_err)?,
            None => reader.read_with_array_buffer_view(&buffer).into(),
        };
        let result = JsFuture::from(js_sys::Promise::from(promise)).await.map_err(body_err)?;
        let done = Reflect::get(&result, &"done".into()).map_err(body_err)?.as_bool().unwrap_or(true);
        let value = Reflect::get(&result, &"value".into()).map_err(body_err)?;
        let bytes = value.dyn_into::<Uint8Array>().map(|v| v.to_vec()).unwrap_or_default();
        if done {
            self.reader = None;
            return Ok((!bytes.is_empty()).then_some(bytes));
        }
        Ok(Some(bytes))
    }
}
