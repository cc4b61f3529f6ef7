//! `ObjectStore` over an R2 bucket.

use super::latency::Simulated;
use crate::error::{RegistryError, Result};
use crate::oci::range::ByteSpan;
use crate::registry::ports::{ObjectStore, PartTag};
use worker::{Bucket, Range, ResponseBody, UploadedPart};

/// Every operation waits `simulated.r2_ms` first (zero unless a local run asks).
pub struct R2Objects {
    bucket: Bucket,
    simulated: Simulated,
}

impl R2Objects {
    pub fn new(bucket: Bucket, simulated: Simulated) -> Self {
        R2Objects { bucket, simulated }
    }
}

fn r2_err(what: &str) -> impl Fn(worker::Error) -> RegistryError + '_ {
    move |e| RegistryError::internal(format!("R2 {what}: {e}"))
}

impl ObjectStore for R2Objects {
    type Reader = ResponseBody;

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.simulated.r2().await;
        self.bucket.put(key, bytes).execute().await.map_err(r2_err("put"))?;
        Ok(())
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.simulated.r2().await;
        let Some(object) = self.bucket.get(key).execute().await.map_err(r2_err("get"))? else {
            return Ok(None);
        };
        match object.body() {
            Some(body) => Ok(Some(body.bytes().await.map_err(r2_err("read"))?)),
            None => Ok(Some(Vec::new())),
        }
    }

    async fn open(&self, key: &str, span: Option<ByteSpan>) -> Result<Option<ResponseBody>> {
        self.simulated.r2().await;
        let mut get = self.bucket.get(key);
        if let Some(s) = span {
            get = get.range(Range::OffsetWithLength { offset: s.start, length: s.len() });
        }
        let Some(object) = get.execute().await.map_err(r2_err("get"))? else {
            return Ok(None);
        };
        match object.body() {
            Some(body) => Ok(Some(body.response_body().map_err(r2_err("body"))?)),
            None => Ok(Some(ResponseBody::Empty)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.simulated.r2().await;
        self.bucket.delete(key).await.map_err(r2_err("delete"))
    }

    async fn create_multipart(&self, key: &str) -> Result<String> {
        self.simulated.r2().await;
        let upload = self.bucket.create_multipart_upload(key).execute().await.map_err(r2_err("create multipart"))?;
        Ok(upload.upload_id().await)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, bytes: Vec<u8>) -> Result<PartTag> {
        self.simulated.r2().await;
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(r2_err("resume multipart"))?;
        let part = upload.upload_part(number, bytes).await.map_err(r2_err("upload part"))?;
        Ok(PartTag { number, etag: part.etag() })
    }

    async fn complete_multipart(&self, key: &str, upload_id: &str, parts: &[PartTag]) -> Result<()> {
        self.simulated.r2().await;
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(r2_err("resume multipart"))?;
        let parts = parts.iter().map(|p| UploadedPart::new(p.number, p.etag.clone()));
        upload.complete(parts).await.map_err(r2_err("complete multipart"))?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        self.simulated.r2().await;
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(r2_err("resume multipart"))?;
        upload.abort().await.map_err(r2_err("abort multipart"))
    }
}

impl crate::registry::contract::ReadAll for ResponseBody {
    async fn read_all(self) -> std::result::Result<Vec<u8>, String> {
        use futures_util::StreamExt;
        match self {
            ResponseBody::Empty => Ok(vec![]),
            ResponseBody::Body(b) => Ok(b),
            ResponseBody::Stream(s) => {
                let mut stream = worker::ByteStream::from(s);
                let mut all = vec![];
                while let Some(chunk) = stream.next().await {
                    all.extend(chunk.map_err(|e| e.to_string())?);
                }
                Ok(all)
            }
        }
    }
}
