//! Request bodies, read in large pieces. A body arrives from workerd in pieces of a few
//! KiB (about 160,000 of them for 300 MiB), and crossing into wasm per piece costs more
//! than hashing and storing the bytes. A BYOB reader with workerd's `readAtLeast` fills
//! a buffer of up to 1 MiB per crossing instead.

use crate::error::{RegistryError, Result};
use crate::registry::ports::ChunkSource;
use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamByobReader};

const BUFFER: u32 = 1 << 20;
/// Wait for at least this much before crossing into wasm (less at the end of the body).
const AT_LEAST: u32 = 256 << 10;

pub struct RequestBody {
    reader: Option<ReadableStreamByobReader>,
}

#[wasm_bindgen(module = "/src/edge/discard.js")]
extern "C" {
    #[wasm_bindgen(js_name = discardRest)]
    fn discard_rest(reader: &ReadableStreamByobReader) -> js_sys::Promise;
}

fn body_err(e: JsValue) -> RegistryError {
    RegistryError::BlobUploadInvalid(format!("reading the request body: {e:?}"))
}

impl RequestBody {
    pub fn new(stream: Option<ReadableStream>) -> Result<Self> {
        let reader = stream.map(|s| ReadableStreamByobReader::new(&s)).transpose().map_err(body_err)?;
        Ok(RequestBody { reader })
    }

    /// Reads whatever the answer left unread, to its end. An answer given before the body
    /// is consumed (a 401 to a client's first try, a 416 for a chunk out of order) would
    /// otherwise break the connection: local `wrangler dev` turns it into a 503 and resets
    /// it. The bytes are dropped on the JavaScript side, never copied into wasm.
    pub async fn drain(&mut self) {
        if let Some(reader) = self.reader.take() {
            if let Err(e) = JsFuture::from(discard_rest(&reader)).await {
                worker::console_warn!("discarding an unread request body: {e:?}");
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
