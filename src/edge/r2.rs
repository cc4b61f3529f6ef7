//! `ObjectStore` over an R2 bucket.

use super::latency::Simulated;
use super::meter::SharedMeter;
use crate::error::{RegistryError, Result};
use crate::oci::digest::Algorithm;
use crate::oci::range::ByteSpan;
use crate::oci::Digest;
use crate::registry::ports::{ObjectStore, PartTag, Segment};
use worker::{Bucket, ByteStream, Range, ResponseBody, UploadedPart};

/// Every R2 operation is counted in the request's meter, and waits `simulated.r2_ms` first
/// (zero unless a local run asks).
pub struct R2Objects {
    bucket: Bucket,
    simulated: Simulated,
    meter: SharedMeter,
}

impl R2Objects {
    pub fn new(bucket: Bucket, simulated: Simulated, meter: SharedMeter) -> Self {
        R2Objects { bucket, simulated, meter }
    }
}

fn r2_err(what: &str) -> impl Fn(worker::Error) -> RegistryError + '_ {
    move |e| RegistryError::internal(format!("R2 {what}: {e}"))
}

impl R2Objects {
    /// One R2 operation: delayed as the edge model asks, counted and timed.
    async fn op<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        self.meter
            .r2
            .time(async {
                self.simulated.r2().await;
                call.await
            })
            .await
    }
}

impl ObjectStore for R2Objects {
    type Reader = ResponseBody;

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.op(self.bucket.put(key, bytes).execute()).await.map_err(r2_err("put"))?;
        Ok(())
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let read = async {
            let Some(object) = self.bucket.get(key).execute().await? else { return Ok(None) };
            match object.body() {
                Some(body) => body.bytes().await.map(Some),
                None => Ok(Some(Vec::new())),
            }
        };
        self.op(read).await.map_err(r2_err("get"))
    }

    async fn open(&self, key: &str, span: Option<ByteSpan>) -> Result<Option<ResponseBody>> {
        let mut get = self.bucket.get(key);
        if let Some(s) = span {
            get = get.range(Range::OffsetWithLength { offset: s.start, length: s.len() });
        }
        let Some(object) = self.op(get.execute()).await.map_err(r2_err("get"))? else {
            return Ok(None);
        };
        match object.body() {
            Some(body) => Ok(Some(body.response_body().map_err(r2_err("body"))?)),
            None => Ok(Some(ResponseBody::Empty)),
        }
    }

    async fn open_segments(&self, key: &str, segments: Vec<Segment>) -> Result<ResponseBody> {
        let (bucket, key) = (self.bucket.clone(), key.to_string());
        let length = segments.iter().map(Segment::size).sum();
        self.meter.r2.count_later(segments.iter().filter(|s| matches!(s, Segment::Span(_))).count() as u32);
        let state = Segments { bucket, key, rest: segments.into_iter(), reading: None, failed: false };
        let stream = futures_util::stream::unfold(state, Segments::next);
        // A stream of known length keeps the answer's Content-Length (workerd would send
        // any other stream chunked).
        let fixed: worker::worker_sys::FixedLengthStream = worker::FixedLengthStream::wrap(stream, length).into();
        Ok(ResponseBody::Stream(fixed.readable()))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.op(self.bucket.delete(key)).await.map_err(r2_err("delete"))
    }

    /// Hashed natively as it streams: the bytes never enter wasm.
    async fn hash_object(&self, key: &str, algorithm: Algorithm) -> Result<Option<Digest>> {
        let Some(object) = self.op(self.bucket.get(key).execute()).await.map_err(r2_err("get"))? else {
            return Ok(None);
        };
        match object.body().map(|b| b.response_body()).transpose().map_err(r2_err("body"))? {
            Some(ResponseBody::Stream(stream)) => super::hashing::digest_stream(algorithm, &stream).await.map(Some),
            Some(_) => Err(RegistryError::internal("R2 body is not a stream")),
            None => Ok(Some(Digest::of(algorithm, b""))),
        }
    }

    async fn create_multipart(&self, key: &str) -> Result<String> {
        let create = self.bucket.create_multipart_upload(key).execute();
        let upload = self.op(create).await.map_err(r2_err("create multipart"))?;
        Ok(upload.upload_id().await)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, bytes: Vec<u8>) -> Result<PartTag> {
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(r2_err("resume multipart"))?;
        let part = self.op(upload.upload_part(number, bytes)).await.map_err(r2_err("upload part"))?;
        Ok(PartTag { number, etag: part.etag() })
    }

    async fn complete_multipart(&self, key: &str, upload_id: &str, parts: &[PartTag]) -> Result<()> {
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(r2_err("resume multipart"))?;
        let parts = parts.iter().map(|p| UploadedPart::new(p.number, p.etag.clone()));
        self.op(upload.complete(parts)).await.map_err(r2_err("complete multipart"))?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(r2_err("resume multipart"))?;
        self.op(upload.abort()).await.map_err(r2_err("abort multipart"))
    }
}

/// The state of a composed stream: what is left and the ranged read in progress.
struct Segments {
    bucket: Bucket,
    key: String,
    rest: std::vec::IntoIter<Segment>,
    reading: Option<ByteStream>,
    failed: bool,
}

impl Segments {
    async fn next(mut self) -> Option<(worker::Result<Vec<u8>>, Self)> {
        use futures_util::StreamExt;
        if self.failed {
            return None;
        }
        loop {
            if let Some(reading) = self.reading.as_mut() {
                match reading.next().await {
                    Some(Ok(chunk)) => return Some((Ok(chunk), self)),
                    Some(Err(e)) => return Some((Err(e), Segments { failed: true, ..self })),
                    None => self.reading = None,
                }
            }
            match self.rest.next()? {
                Segment::Bytes(b) => return Some((Ok(b), self)),
                Segment::Span(span) => match self.open(span).await {
                    Ok(stream) => self.reading = Some(stream),
                    Err(e) => return Some((Err(e), Segments { failed: true, ..self })),
                },
            }
        }
    }

    async fn open(&self, span: ByteSpan) -> worker::Result<ByteStream> {
        let range = Range::OffsetWithLength { offset: span.start, length: span.len() };
        let object = self.bucket.get(&self.key).range(range).execute().await?;
        let missing = || worker::Error::RustError("object missing".into());
        let object = object.ok_or_else(missing)?;
        object.body().ok_or_else(missing)?.stream()
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
