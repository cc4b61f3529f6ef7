var __defProp = Object.defineProperty;
var __name = (target, value) => __defProp(target, "name", { value, configurable: true });

// index.js
var PART = 5 * 1024 * 1024;
var index_default = {
  async fetch(request, env) {
    const response = await answer(request, env);
    console.log(JSON.stringify({ method: request.method, path: new URL(request.url).pathname, status: response.status }));
    return response;
  }
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
        "docker-content-digest": digest
      },
      encodeBody: "manual"
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
        customMetadata: { digest }
      };
      await Promise.all([
        env.BLOBS.put(`manifests/${name}/${reference}`, bytes, options),
        env.BLOBS.put(`manifests/${name}/${digest}`, bytes, options)
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
          "docker-content-digest": object.customMetadata.digest
        },
        encodeBody: "manual"
      });
    }
  }
  return json(404, { errors: [{ code: "NAME_UNKNOWN" }] });
}
__name(answer, "answer");
async function store(env, key, body) {
  const upload = await env.BLOBS.createMultipartUpload(key);
  const parts = [];
  let buffer = new Uint8Array(PART);
  let filled = 0;
  let size = 0;
  if (body) {
    const reader = body.getReader();
    for (; ; ) {
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
__name(store, "store");
async function link(env, name, digest, key) {
  if (!digest) return json(400, { errors: [{ code: "DIGEST_INVALID" }] });
  await env.BLOBS.put(`links/${name}/${digest}`, key);
  return empty(201, { location: `/v2/${name}/blobs/${digest}`, "docker-content-digest": digest });
}
__name(link, "link");
function empty(status, headers = {}) {
  return new Response(null, { status, headers });
}
__name(empty, "empty");
function json(status, value) {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });
}
__name(json, "json");

// ../../node_modules/wrangler/templates/middleware/middleware-ensure-req-body-drained.ts
var drainBody = /* @__PURE__ */ __name(async (request, env, _ctx, middlewareCtx) => {
  try {
    return await middlewareCtx.next(request, env);
  } finally {
    try {
      if (request.body !== null && !request.bodyUsed) {
        const reader = request.body.getReader();
        while (!(await reader.read()).done) {
        }
      }
    } catch (e) {
      console.error("Failed to drain the unused request body.", e);
    }
  }
}, "drainBody");
var middleware_ensure_req_body_drained_default = drainBody;

// ../../node_modules/wrangler/templates/middleware/middleware-miniflare3-json-error.ts
function reduceError(e) {
  return {
    name: e?.name,
    message: e?.message ?? String(e),
    stack: e?.stack,
    cause: e?.cause === void 0 ? void 0 : reduceError(e.cause)
  };
}
__name(reduceError, "reduceError");
var jsonError = /* @__PURE__ */ __name(async (request, env, _ctx, middlewareCtx) => {
  try {
    return await middlewareCtx.next(request, env);
  } catch (e) {
    const error = reduceError(e);
    return Response.json(error, {
      status: 500,
      headers: { "MF-Experimental-Error-Stack": "true" }
    });
  }
}, "jsonError");
var middleware_miniflare3_json_error_default = jsonError;

// .wrangler/tmp/bundle-yEAaqB/middleware-insertion-facade.js
var __INTERNAL_WRANGLER_MIDDLEWARE__ = [
  middleware_ensure_req_body_drained_default,
  middleware_miniflare3_json_error_default
];
var middleware_insertion_facade_default = index_default;

// ../../node_modules/wrangler/templates/middleware/common.ts
var __facade_middleware__ = [];
function __facade_register__(...args) {
  __facade_middleware__.push(...args.flat());
}
__name(__facade_register__, "__facade_register__");
function __facade_invokeChain__(request, env, ctx, dispatch, middlewareChain) {
  const [head, ...tail] = middlewareChain;
  const middlewareCtx = {
    dispatch,
    next(newRequest, newEnv) {
      return __facade_invokeChain__(newRequest, newEnv, ctx, dispatch, tail);
    }
  };
  return head(request, env, ctx, middlewareCtx);
}
__name(__facade_invokeChain__, "__facade_invokeChain__");
function __facade_invoke__(request, env, ctx, dispatch, finalMiddleware) {
  return __facade_invokeChain__(request, env, ctx, dispatch, [
    ...__facade_middleware__,
    finalMiddleware
  ]);
}
__name(__facade_invoke__, "__facade_invoke__");

// .wrangler/tmp/bundle-yEAaqB/middleware-loader.entry.ts
var __Facade_ScheduledController__ = class ___Facade_ScheduledController__ {
  constructor(scheduledTime, cron, noRetry) {
    this.scheduledTime = scheduledTime;
    this.cron = cron;
    this.#noRetry = noRetry;
  }
  static {
    __name(this, "__Facade_ScheduledController__");
  }
  #noRetry;
  noRetry() {
    if (!(this instanceof ___Facade_ScheduledController__)) {
      throw new TypeError("Illegal invocation");
    }
    this.#noRetry();
  }
};
function wrapExportedHandler(worker) {
  if (__INTERNAL_WRANGLER_MIDDLEWARE__ === void 0 || __INTERNAL_WRANGLER_MIDDLEWARE__.length === 0) {
    return worker;
  }
  for (const middleware of __INTERNAL_WRANGLER_MIDDLEWARE__) {
    __facade_register__(middleware);
  }
  const fetchDispatcher = /* @__PURE__ */ __name(function(request, env, ctx) {
    if (worker.fetch === void 0) {
      throw new Error("Handler does not export a fetch() function.");
    }
    return worker.fetch(request, env, ctx);
  }, "fetchDispatcher");
  return {
    ...worker,
    fetch(request, env, ctx) {
      const dispatcher = /* @__PURE__ */ __name(function(type, init) {
        if (type === "scheduled" && worker.scheduled !== void 0) {
          const controller = new __Facade_ScheduledController__(
            Date.now(),
            init.cron ?? "",
            () => {
            }
          );
          return worker.scheduled(controller, env, ctx);
        }
      }, "dispatcher");
      return __facade_invoke__(request, env, ctx, dispatcher, fetchDispatcher);
    }
  };
}
__name(wrapExportedHandler, "wrapExportedHandler");
function wrapWorkerEntrypoint(klass) {
  if (__INTERNAL_WRANGLER_MIDDLEWARE__ === void 0 || __INTERNAL_WRANGLER_MIDDLEWARE__.length === 0) {
    return klass;
  }
  for (const middleware of __INTERNAL_WRANGLER_MIDDLEWARE__) {
    __facade_register__(middleware);
  }
  return class extends klass {
    #fetchDispatcher = /* @__PURE__ */ __name((request, env, ctx) => {
      this.env = env;
      this.ctx = ctx;
      if (super.fetch === void 0) {
        throw new Error("Entrypoint class does not define a fetch() function.");
      }
      return super.fetch(request);
    }, "#fetchDispatcher");
    #dispatcher = /* @__PURE__ */ __name((type, init) => {
      if (type === "scheduled" && super.scheduled !== void 0) {
        const controller = new __Facade_ScheduledController__(
          Date.now(),
          init.cron ?? "",
          () => {
          }
        );
        return super.scheduled(controller);
      }
    }, "#dispatcher");
    fetch(request) {
      return __facade_invoke__(
        request,
        this.env,
        this.ctx,
        this.#dispatcher,
        this.#fetchDispatcher
      );
    }
  };
}
__name(wrapWorkerEntrypoint, "wrapWorkerEntrypoint");
var WRAPPED_ENTRY;
if (typeof middleware_insertion_facade_default === "object") {
  WRAPPED_ENTRY = wrapExportedHandler(middleware_insertion_facade_default);
} else if (typeof middleware_insertion_facade_default === "function") {
  WRAPPED_ENTRY = wrapWorkerEntrypoint(middleware_insertion_facade_default);
}
var middleware_loader_entry_default = WRAPPED_ENTRY;
export {
  __INTERNAL_WRANGLER_MIDDLEWARE__,
  middleware_loader_entry_default as default
};
//# sourceMappingURL=index.js.map
