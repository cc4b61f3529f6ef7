// The storage floor of `make bench`: the distribution API's push and pull requests, as
// skopeo and docker send them to the registry, answered with nothing but the storage work
// they need. No authentication, no D1, no hashing, no validation:
//   POST   /v2/<name>/blobs/uploads/[?digest=]  an upload id (with a body: stored at once)
//   PATCH  /v2/<name>/blobs/uploads/<id>        the body, of any length and however sent,
//          written to R2 in 5 MiB multipart parts as they fill (as the registry does)
//   PUT    /v2/<name>/blobs/uploads/<id>?digest=  names the stored bytes by their digest
//   HEAD/GET /v2/<name>/blobs/<digest>          the bytes, streamed back
//   PUT/GET/HEAD /v2/<name>/manifests/<ref>     a manifest as one small R2 object
// A digest names its bytes through a small R2 object (`links/<name>/<digest>` holds the
// key of the bytes): R2 cannot rename, and the Worker's memory does not outlive a restart.
// One JSON line is logged per request, as the registry logs, so that the bench can tell
// this Worker's answers from the local dev proxy's.
const PART = 5 * 1024 * 1024;

export default {
  async fetch(request, env) {
    const response = await answer(request, env);
    console.log(JSON.stringify({ method: request.method, path: new URL(request.url).pathname, status: response.status }));
    return response;
  },
};

async function answer(request, env) {
  const url = new URL(request.url);
  const path = url.pathname;
  const method = request.method;
  if (path === "/v2/" || path === "/v2") return json(200, {});
  let m = path.match(/^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f]*)$/);
  if (m) {
    const [, name, id] = m;
    const upload = id || crypto.randomUUID().replaceAll("-", "");
    const location = `/v2/${name}/blobs/uploads/${upload}`;
    if (method === "POST" && !id) {
      const digest = url.searchParams.get("digest");
      if (!digest) return empty(202, { location, "docker-upload-uuid": upload, range: "0-0" });
      await store(env, `blobs/${upload}`, request.body);
      return link(env, name, digest, `blobs/${upload}`);
    }
    if (method === "PATCH" && id) {
      const size = await store(env, `blobs/${id}`, request.body);
      return empty(202, { location, "docker-upload-uuid": id, range: `0-${Math.max(size - 1, 0)}` });
    }
    if (method === "PUT" && id) {
      if (request.body && request.headers.get("content-length") !== "0") {
        const size = await store(env, `blobs/${id}-put`, request.body);
        if (size > 0) return link(env, name, url.searchParams.get("digest"), `blobs/${id}-put`);
      }
      return link(env, name, url.searchParams.get("digest"), `blobs/${id}`);
    }
    return empty(405);
  }
  m = path.match(/^\/v2\/(.+)\/blobs\/([^/]+)$/);
  if (m && (method === "GET" || method === "HEAD")) {
    const [, name, digest] = m;
    const pointer = await env.BLOBS.get(`links/${name}/${digest}`);
    if (!pointer) return json(404, { errors: [{ code: "BLOB_UNKNOWN" }] });
    const key = await pointer.text();
    const object = method === "HEAD" ? await env.BLOBS.head(key) : await env.BLOBS.get(key);
    if (!object) return json(404, { errors: [{ code: "BLOB_UNKNOWN" }] });
    return new Response(method === "HEAD" ? null : object.body, {
      headers: {
        "content-length": String(object.size),
        "content-type": "application/octet-stream",
        "docker-content-digest": digest,
      },
      encodeBody: "manual",
    });
  }
  m = path.match(/^\/v2\/(.+)\/manifests\/([^/]+)$/);
  if (m) {
    const [, name, reference] = m;
    if (method === "PUT") {
      const bytes = new Uint8Array(await request.arrayBuffer());
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const digest = "sha256:" + Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
      const options = {
        httpMetadata: { contentType: request.headers.get("content-type") || "application/octet-stream" },
        customMetadata: { digest },
      };
      await Promise.all([
        env.BLOBS.put(`manifests/${name}/${reference}`, bytes, options),
        env.BLOBS.put(`manifests/${name}/${digest}`, bytes, options),
      ]);
      return empty(201, { location: `/v2/${name}/manifests/${digest}`, "docker-content-digest": digest });
    }
    if (method === "GET" || method === "HEAD") {
      const key = `manifests/${name}/${reference}`;
      const object = method === "HEAD" ? await env.BLOBS.head(key) : await env.BLOBS.get(key);
      if (!object) return json(404, { errors: [{ code: "MANIFEST_UNKNOWN" }] });
      return new Response(method === "HEAD" ? null : object.body, {
        headers: {
          "content-length": String(object.size),
          "content-type": object.httpMetadata.contentType,
          "docker-content-digest": object.customMetadata.digest,
        },
        encodeBody: "manual",
      });
    }
  }
  return json(404, { errors: [{ code: "NAME_UNKNOWN" }] });
}

// The body, of any length, into R2 at `key` in equal 5 MiB parts; returns its size.
async function store(env, key, body) {
  const upload = await env.BLOBS.createMultipartUpload(key);
  const parts = [];
  let buffer = new Uint8Array(PART);
  let filled = 0;
  let size = 0;
  if (body) {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.length) {
        const n = Math.min(PART - filled, value.length - offset);
        buffer.set(value.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === PART) {
          parts.push(await upload.uploadPart(parts.length + 1, buffer));
          buffer = new Uint8Array(PART);
          filled = 0;
        }
      }
      size += value.length;
    }
  }
  if (filled > 0 || parts.length === 0) parts.push(await upload.uploadPart(parts.length + 1, buffer.subarray(0, filled)));
  await upload.complete(parts);
  return size;
}

async function link(env, name, digest, key) {
  if (!digest) return json(400, { errors: [{ code: "DIGEST_INVALID" }] });
  await env.BLOBS.put(`links/${name}/${digest}`, key);
  return empty(201, { location: `/v2/${name}/blobs/${digest}`, "docker-content-digest": digest });
}

function empty(status, headers = {}) {
  return new Response(null, { status, headers });
}

function json(status, value) {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });
}
