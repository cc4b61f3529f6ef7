//! The OCI distribution endpoints: each handler reads the request into domain types,
//! calls one use case and writes the response. No storage logic lives here.

use super::byteranges;
use super::route::Route;
use super::{Body, Method, Request, Response};
use crate::error::{RegistryError, Result};
use crate::lifecycle::webhooks::{Event, Payload};
use crate::oci::digest::Algorithm;
use crate::oci::manifest::OCI_INDEX;
use crate::oci::range::{parse_chunk_range, parse_read_range, RangeRequest};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::lifecycle::LifecycleIndex;
use crate::registry::manifests::Pushed;
use crate::registry::ports::{Annotations, ChunkSource, Clock, UploadSession};
use crate::registry::uploads::MountOutcome;
use crate::registry::{random_id, Platform, Reader, Registry};
use serde_json::{json, Value};

/// Digest-addressed content never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Answers a `/v2` request whose access was granted. `pushed_by` is who a manifest push
/// records as its pusher (the versions API's `provenance`).
pub async fn dispatch<P: Platform>(
    reg: &Registry<P>,
    route: Route,
    req: &Request,
    body: &mut impl ChunkSource,
    pushed_by: Option<&str>,
) -> Result<Response<Reader<P>>> {
    use Method::*;
    match (route, req.method) {
        (Route::ApiBase, Get | Head) => Ok(Response::json(200, &json!({}))),
        (Route::Blob { repo, digest }, m @ (Get | Head)) => get_blob(reg, &repo, &digest, req, m == Head).await,
        (Route::Blob { repo, digest }, Delete) => {
            reg.delete_blob(&repo, &digest).await?;
            Ok(Response::new(202).header("content-length", "0"))
        }
        (Route::UploadStart { repo }, Post) => start_upload(reg, &repo, req, body).await,
        (Route::Upload { repo, id }, Get) => Ok(upload_accepted(reg, 204, &reg.upload_status(&repo, &id).await?)),
        (Route::Upload { repo, id }, Patch) => {
            let range = req.header("content-range").map(parse_chunk_range).transpose()?;
            let session = reg.append_chunk(&repo, &id, range, req.content_length(), body).await?;
            Ok(upload_accepted(reg, 202, &session))
        }
        (Route::Upload { repo, id }, Put) => {
            let digest = required_digest(req)?;
            let range = req.header("content-range").map(parse_chunk_range).transpose()?;
            reg.finish_upload(&repo, &id, &digest, range, req.content_length(), body).await?;
            Ok(blob_created(&repo, &digest))
        }
        (Route::Upload { repo, id }, Delete) => {
            reg.cancel_upload(&repo, &id).await?;
            Ok(Response::new(204))
        }
        (Route::Manifest { repo, reference }, m @ (Get | Head)) => {
            get_manifest(reg, &repo, &reference, m == Head).await
        }
        (Route::Manifest { repo, reference }, Put) => {
            let more_tags =
                req.query.iter().filter(|(k, _)| k == "tag").map(|(_, v)| Tag::parse(v)).collect::<Result<Vec<_>>>()?;
            let pushed =
                reg.push_manifest(&repo, &reference, &more_tags, req.header("content-type"), body, pushed_by).await?;
            let mut r = Response::new(201)
                .header(
                    "location",
                    Route::Manifest { repo: repo.clone(), reference: Reference::Digest(pushed.digest.clone()) }.path(),
                )
                .header("docker-content-digest", pushed.digest.to_string())
                .header("content-length", "0");
            if let Some(subject) = &pushed.subject {
                r = r.header("oci-subject", subject.to_string());
            }
            if !more_tags.is_empty() {
                let tags: Vec<&str> = pushed.tags.iter().map(Tag::as_str).collect();
                r = r.header("oci-tag", tags.join(", "));
            }
            r.events = pushed_events(reg, &repo, &pushed);
            Ok(r)
        }
        (Route::Manifest { repo, reference }, Delete) => {
            let tags = match &reference {
                Reference::Digest(d) => Some(reg.meta.tags_of(&repo, d).await?),
                Reference::Tag(_) => None,
            };
            reg.delete_manifest(&repo, &reference).await?;
            let mut r = Response::new(202).header("content-length", "0");
            if let (Reference::Digest(d), Some(tags)) = (&reference, tags) {
                let now = reg.clock.now_ms();
                r.events.push(Payload::new(Event::VersionDeleted, &repo, Some(d), tags, "", now, Value::Null));
            }
            Ok(r)
        }
        (Route::Tags { repo }, Get) => list_tags(reg, &repo, req).await,
        (Route::Referrers { repo, digest }, Get) => referrers(reg, &repo, &digest, req).await,
        (_, _) => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

/// Whether a push request only works on an upload session (starting one, sending bytes,
/// asking its state, cancelling it) and stores nothing in the repository.
pub fn works_on_a_session_only(route: &Route, req: &Request) -> bool {
    match (route, req.method) {
        (Route::UploadStart { .. }, Method::Post) => req.query("digest").is_none() && req.query("from").is_none(),
        (Route::Upload { .. }, Method::Put) => false,
        (Route::Upload { .. }, _) => true,
        _ => false,
    }
}

/// What a request gets where the repository does not exist, for a caller who may not know
/// that it does. Pushes that would store something are denied: the name is taken.
pub fn as_absent<R>(route: Route, req: &Request) -> Result<Response<R>> {
    match (route, req.method) {
        (Route::Blob { .. }, Method::Get | Method::Head) => Err(RegistryError::BlobUnknown),
        (Route::Manifest { .. }, Method::Get | Method::Head) => Err(RegistryError::ManifestUnknown),
        (Route::Tags { .. }, Method::Get) => Err(RegistryError::NameUnknown),
        (Route::Referrers { .. }, Method::Get) => Ok(referrers_index(&[], req.query("artifactType"))),
        (Route::UploadStart { .. } | Route::Upload { .. } | Route::Manifest { .. }, _) => Err(RegistryError::Denied),
        _ => Err(RegistryError::Unsupported("method not allowed here".into())),
    }
}

/// A push is a version pushed and, when it moved a tag, a tag moved. The actor is filled
/// in by the caller, who knows who pushed.
fn pushed_events<P: Platform>(reg: &Registry<P>, repo: &RepoName, pushed: &Pushed) -> Vec<Payload> {
    let now = reg.clock.now_ms();
    let tags: Vec<String> = pushed.tags.iter().map(Tag::to_string).collect();
    let mut events =
        vec![Payload::new(Event::VersionPushed, repo, Some(&pushed.digest), tags.clone(), "", now, Value::Null)];
    if let Some(from) = &pushed.moved_from {
        let details = json!({"previous_digest": from.to_string()});
        events.push(Payload::new(Event::TagMoved, repo, Some(&pushed.digest), tags, "", now, details));
    }
    events
}

fn required_digest(req: &Request) -> Result<Digest> {
    let d =
        req.query("digest").ok_or_else(|| RegistryError::DigestInvalid("the digest parameter is required".into()))?;
    Digest::parse(d)
}

async fn get_blob<P: Platform>(
    reg: &Registry<P>,
    repo: &RepoName,
    digest: &Digest,
    req: &Request,
    head: bool,
) -> Result<Response<Reader<P>>> {
    let blob = reg.stat_blob(repo, digest).await?;
    let range = match req.header("range") {
        Some(v) => parse_read_range(v, blob.size),
        None => RangeRequest::Whole,
    };
    let base = |status: u16, len: u64| {
        Response::new(status)
            .header("content-type", "application/octet-stream")
            .header("content-length", len.to_string())
            .header("docker-content-digest", digest.to_string())
            .header("etag", format!("\"{digest}\""))
            .header("accept-ranges", "bytes")
            .header("cache-control", IMMUTABLE)
    };
    let (mut resp, span) = match range {
        RangeRequest::Whole => (base(200, blob.size), None),
        RangeRequest::Partial(span) => (
            base(206, span.len())
                .header("content-range", format!("bytes {}-{}/{}", span.start, span.end - 1, blob.size)),
            Some(span),
        ),
        RangeRequest::Multiple(spans) => {
            let parts = byteranges::multipart(&spans, blob.size, "application/octet-stream", &random_id()?);
            let mut resp = base(206, parts.length);
            resp.headers.retain(|(k, _)| k != "content-type");
            resp = resp.header("content-type", parts.content_type);
            if !head {
                resp.body = Body::Object(reg.read_blob_segments(&blob, parts.segments).await?);
            }
            return Ok(resp);
        }
        RangeRequest::Unsatisfiable => {
            let e = RegistryError::RangeInvalid(format!("the blob has {} bytes", blob.size));
            return Ok(Response::error(&e).header("content-range", format!("bytes */{}", blob.size)));
        }
    };
    if !head {
        resp.body = Body::Object(reg.read_blob(&blob, span).await?);
    }
    Ok(resp)
}

async fn start_upload<P: Platform>(
    reg: &Registry<P>,
    repo: &RepoName,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Result<Response<Reader<P>>> {
    if let Some(mount) = req.query("mount") {
        let digest = Digest::parse(mount)?;
        // An invalid `from` is a mount that cannot succeed: fall back to an upload.
        let from = req.query("from").and_then(|f| RepoName::parse(f).ok());
        return Ok(match reg.mount_blob(repo, &digest, from.as_ref()).await? {
            MountOutcome::Mounted => blob_created(repo, &digest),
            MountOutcome::Started(session) => upload_accepted(reg, 202, &session),
        });
    }
    if let Some(d) = req.query("digest") {
        let digest = Digest::parse(d)?;
        reg.upload_whole(repo, &digest, req.content_length(), body).await?;
        return Ok(blob_created(repo, &digest));
    }
    let algorithm = match req.query("digest-algorithm") {
        Some(a) => Algorithm::parse(a)?,
        None => Algorithm::Sha256,
    };
    let session = reg.start_upload(repo, algorithm).await?;
    Ok(upload_accepted(reg, 202, &session))
}

fn blob_created<R>(repo: &RepoName, digest: &Digest) -> Response<R> {
    Response::new(201)
        .header("location", Route::Blob { repo: repo.clone(), digest: digest.clone() }.path())
        .header("docker-content-digest", digest.to_string())
        .header("content-length", "0")
}

fn upload_accepted<P: Platform, R>(reg: &Registry<P>, status: u16, s: &UploadSession) -> Response<R> {
    Response::new(status)
        .header("location", Route::Upload { repo: s.repo.clone(), id: s.id.clone() }.path())
        .header("range", format!("0-{}", s.received.saturating_sub(1)))
        .header("docker-upload-uuid", s.id.clone())
        .header("oci-chunk-min-length", reg.config.part_size.to_string())
        .header("content-length", "0")
}

async fn get_manifest<P: Platform>(
    reg: &Registry<P>,
    repo: &RepoName,
    reference: &Reference,
    head: bool,
) -> Result<Response<Reader<P>>> {
    let record = reg.resolve_manifest(repo, reference).await?;
    let cache = match reference {
        Reference::Digest(_) => IMMUTABLE,
        Reference::Tag(_) => "no-cache",
    };
    let mut resp = Response::new(200)
        .header("content-type", record.media_type.clone())
        .header("content-length", record.size.to_string())
        .header("docker-content-digest", record.digest.to_string())
        .header("etag", format!("\"{}\"", record.digest))
        .header("cache-control", cache);
    if !head {
        resp.body = Body::Bytes(reg.manifest_bytes(&record).await?);
    }
    Ok(resp)
}

async fn list_tags<P: Platform>(reg: &Registry<P>, repo: &RepoName, req: &Request) -> Result<Response<Reader<P>>> {
    let n = match req.query("n") {
        Some(v) => Some(v.parse::<u32>().map_err(|_| RegistryError::BadRequest(format!("invalid n {v:?}")))?),
        None => None,
    };
    let page = reg.list_tags(repo, n, req.query("last")).await?;
    let mut resp = Response::json(200, &json!({"name": repo.as_str(), "tags": page.tags}));
    if let Some(after) = page.next_after {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("n", &page.tags.len().to_string())
            .append_pair("last", &after)
            .finish();
        let next = Route::Tags { repo: repo.clone() }.path();
        resp = resp.header("link", format!("<{next}?{query}>; rel=\"next\""));
    }
    Ok(resp)
}

async fn referrers<P: Platform>(
    reg: &Registry<P>,
    repo: &RepoName,
    subject: &Digest,
    req: &Request,
) -> Result<Response<Reader<P>>> {
    let found = reg.referrers(repo, subject, req.query("artifactType").filter(|t| !t.is_empty())).await?;
    Ok(referrers_index(&found, req.query("artifactType")))
}

/// The referrers of a subject as an OCI index; `filter` is the `artifactType` asked for.
fn referrers_index<R>(found: &[crate::registry::ports::ManifestRecord], filter: Option<&str>) -> Response<R> {
    let filter = filter.filter(|t| !t.is_empty());
    let manifests: Vec<serde_json::Value> = found
        .iter()
        .map(|m| {
            let mut d = json!({"mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.size});
            if let Some(t) = &m.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Annotations::Kept(a) = &m.annotations {
                if let Ok(a) = serde_json::from_str::<serde_json::Value>(a) {
                    d["annotations"] = a;
                }
            }
            d
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let mut resp = Response::bytes(200, OCI_INDEX, index.to_string().into_bytes());
    if filter.is_some() {
        resp = resp.header("oci-filters-applied", "artifactType");
    }
    resp
}
