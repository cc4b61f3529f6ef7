// PUT /<key>: the body, of any length and however it is sent, written to R2 in 5 MiB
// multipart parts as they fill (what the registry does with an unsized PATCH).
// GET /<key>: the object streamed back. Nothing else: no auth, no metadata, no hashing.
const PART = 5 * 1024 * 1024;

export default {
  async fetch(request, env) {
    const key = new URL(request.url).pathname.slice(1) || "root";
    if (request.method === "GET" || request.method === "HEAD") {
      const object = await env.BLOBS.get(key);
      if (!object) return new Response("not found", { status: 404 });
      return new Response(request.method === "HEAD" ? null : object.body, {
        headers: { "content-length": String(object.size), "content-type": "application/octet-stream" },
        encodeBody: "manual",
      });
    }
    if (request.method !== "PUT") return new Response("method not allowed", { status: 405 });
    const upload = await env.BLOBS.createMultipartUpload(key);
    const parts = [];
    let buffer = new Uint8Array(PART);
    let filled = 0;
    let size = 0;
    const reader = request.body.getReader();
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
    if (filled > 0 || parts.length === 0) parts.push(await upload.uploadPart(parts.length + 1, buffer.subarray(0, filled)));
    await upload.complete(parts);
    return new Response(null, { status: 201, headers: { "x-size": String(size) } });
  },
};
