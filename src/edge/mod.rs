//! The Worker: converts between workers-rs and the platform-neutral `api`, and builds
//! the registry over R2 and D1. Nothing else in the crate touches `worker`.

mod body;
mod cache;
mod d1;
mod downloads;
mod fetch;
mod hashing;
mod latency;
mod meter;
mod outbound;
mod r2;

use crate::api::{self, Body, Method};
use crate::auth::cached::{CachedIdentity, HotCache};
use crate::auth::oidc::keys::KeyCache;
use crate::auth::oidc::verifier::DEFAULT_MAX_LIFE_SECS;
use crate::auth::oidc::{Issuers, Oidc, Verifier};
use meter::{Meter, SharedMeter};
use std::rc::Rc;

use crate::registry::ports::Clock;
use crate::registry::{Config, Platform, Registry};
use latency::Simulated;

use worker::{event, Context, EncodeBody, Env, Headers, ResponseBuilder};

struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }
}

fn config(env: &Env) -> Config {
    let var = |name: &str| env.var(name).ok().and_then(|v| v.to_string().parse::<u64>().ok());
    let mut c = Config::default();
    if let Some(secs) = var("UPLOAD_TTL_SECONDS") {
        c.upload_ttl_ms = secs * 1000;
    }
    if let Some(max) = var("MAX_BLOB_BYTES") {
        c.max_blob_bytes = max;
    }
    if let Some(secs) = var("GC_GRACE_SECONDS") {
        c.grace_ms = secs * 1000;
    }
    if let Some(secs) = var("WEBHOOK_RETRY_SECONDS") {
        c.webhook_retry_ms = secs * 1000;
    }
    if let Some(secs) = var("TAG_CACHE_SECONDS") {
        c.tag_cache_secs = secs;
    }
    c
}

/// The Worker's platform: metadata and identity in D1, objects in R2, the Worker's clock.
struct WorkerPlatform;

impl Platform for WorkerPlatform {
    type Meta = d1::D1Metadata;
    type Objects = r2::R2Objects;
    type Clock = WorkerClock;
    type Identity = CachedIdentity<d1::identity::D1Identity>;
    type Trust = d1::trust::D1Trust;
    type Fetch = fetch::WorkerFetch;
    type Hasher = hashing::NativeHasher;
}

type WorkerRegistry = Registry<WorkerPlatform>;
type WorkerApp = api::App<WorkerPlatform>;

thread_local! {
    /// What the hot path asks on every request, remembered across the requests this
    /// isolate serves (for at most `cached::TTL_MS`).
    static HOT: Rc<HotCache> = Rc::new(HotCache::default());
    /// Identity-token issuers' keys (trusted publishing), kept across requests.
    static OIDC_KEYS: Rc<KeyCache> = Rc::new(KeyCache::default());
}

fn registry(env: &Env, simulated: Simulated, meter: &SharedMeter) -> worker::Result<WorkerRegistry> {
    let meta = d1::D1Metadata(d1::D1Access::new(env.d1("DB")?, simulated, meter.clone()));
    let objects = r2::R2Objects::new(env.bucket("BLOBS")?, simulated, meter.clone());
    Ok(Registry::new(meta, objects, WorkerClock, config(env)))
}

/// A secret from `wrangler secret put` (or `.dev.vars` locally); plain vars work too.
fn secret(env: &Env, name: &str) -> Option<String> {
    let value = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()?;
    (!value.is_empty()).then_some(value)
}

/// Trusted publishing as configured: `OIDC_ISSUERS` (space-separated URLs) besides GitHub
/// and GitLab, `OIDC_ALLOW_INSECURE_ISSUERS=1` for loopback `http` test issuers,
/// `OIDC_AUDIENCE` (by default the registry's own origin) and
/// `OIDC_MAX_TOKEN_LIFE_SECONDS`.
fn oidc(env: &Env, origin: &str) -> Oidc<fetch::WorkerFetch> {
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.is_empty());
    let insecure = var("OIDC_ALLOW_INSECURE_ISSUERS").as_deref() == Some("1");
    let (issuers, refused) = Issuers::new(&var("OIDC_ISSUERS").unwrap_or_default(), insecure);
    if !refused.is_empty() {
        worker::console_error!(
            "OIDC_ISSUERS: not https (or not loopback http when insecure issuers are allowed): {refused:?}"
        );
    }
    let max_life_secs =
        var("OIDC_MAX_TOKEN_LIFE_SECONDS").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_LIFE_SECS);
    Oidc {
        verifier: Verifier {
            issuers,
            audience: var("OIDC_AUDIENCE").unwrap_or_else(|| origin.to_string()),
            max_life_secs,
        },
        fetch: fetch::WorkerFetch,
        keys: OIDC_KEYS.with(Rc::clone),
    }
}

fn app(env: &Env, req: &api::Request, meter: &SharedMeter) -> worker::Result<WorkerApp> {
    let simulated = Simulated::from_env(env, req).map_err(worker::Error::RustError)?;
    let signing_key = secret(env, "TOKEN_SIGNING_KEY")
        .ok_or_else(|| worker::Error::RustError("the TOKEN_SIGNING_KEY secret is not set".into()))?;
    Ok(api::App {
        registry: registry(env, simulated, meter)?,
        identity: CachedIdentity::new(
            d1::identity::D1Identity(d1::D1Access::new(env.d1("DB")?, simulated, meter.clone())),
            HOT.with(Rc::clone),
            WorkerClock.now_ms(),
        )
        .deferring_touches(),
        signing_key: signing_key.into_bytes(),
        previous_signing_key: secret(env, "TOKEN_SIGNING_KEY_PREVIOUS").map(String::into_bytes),
        admin_token: secret(env, "ADMIN_TOKEN"),
        trust: d1::trust::D1Trust(d1::D1Access::new(env.d1("DB")?, simulated, meter.clone())),
        oidc: oidc(env, &req.origin),
    })
}

#[event(fetch)]
async fn fetch(req: worker::Request, env: Env, ctx: Context) -> worker::Result<worker::Response> {
    console_error_panic_hook::set_once();
    let url = req.url()?;
    let headers: Vec<(String, String)> = req.headers().entries().collect();
    let head = api::Request::new(
        Method::parse(req.method().as_ref()),
        &url.origin().ascii_serialization(),
        url.path(),
        url.query().unwrap_or(""),
        headers,
    );
    let mut body = body::RequestBody::new(req.inner().body()).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let meter = SharedMeter::default();
    let app = match app(&env, &head, &meter) {
        Ok(app) => app,
        Err(e) => {
            // A misconfigured deployment: say so in the log, answer like any fault.
            worker::console_error!("cannot start the registry: {e}");
            let resp = api::Response::error(&crate::error::RegistryError::internal(e));
            return to_worker(resp, head.method == Method::Head);
        }
    };
    // The test-only contract route answers only the operator; to anyone else it is a page
    // that does not exist.
    if api::route::Route::parse(&head.path) == Ok(api::route::Route::Contract)
        && env.var("CONTRACT_TESTS").is_ok_and(|v| v.to_string() == "on")
        && api::gate::is_operator(app.admin_token.as_deref(), &head)
    {
        return contract(&app).await;
    }
    let started = worker::Date::now().as_millis();
    let request_id = crate::registry::random_id().unwrap_or_default();
    let mut resp = api::serve_with_cache(&app, &cache::EdgeCache(meter.clone()), &head, &mut body).await;
    body.drain().await;
    // Pulls answered from the cache count too: they come back through `serve` as well.
    let digest = resp.get_header("docker-content-digest");
    if let Some((repo, d)) = api::lifecycle::pulled(head.method, &head.path, resp.status, digest) {
        downloads::count(&repo, &d, started, &env, &ctx);
    }
    let events = std::mem::take(&mut resp.events);
    if !events.is_empty() {
        deliver_later(&env, &ctx, events);
    }
    touch_later(&env, &ctx, HOT.with(|hot| hot.take_touches()));
    log_request(&head, &resp, &request_id, worker::Date::now().as_millis().saturating_sub(started), &meter);
    // A stored answer carries the timing of the request it first answered.
    resp.headers.retain(|(k, _)| k != "server-timing");
    resp.headers.push(("server-timing".into(), meter.server_timing()));
    // A stored answer carries the id of the request it first answered.
    resp.headers.retain(|(k, _)| k != "x-request-id");
    resp.headers.push(("x-request-id".into(), request_id));
    let store_key = resp.shared_cache_key.take();
    let is_head = head.method == Method::Head;
    // A HEAD answered as a GET, to be stored whole: the client gets no body, the cache all.
    let mut whole = match (&store_key, &resp.body) {
        (Some(_), Body::Bytes(bytes)) if is_head => {
            let copy = api::Response {
                headers: resp.headers.clone(),
                body: Body::Bytes(bytes.clone()),
                ..api::Response::new(resp.status)
            };
            Some(to_worker(copy, false)?)
        }
        _ => None,
    };
    let mut out = to_worker(resp, is_head)?;
    match (store_key, whole.as_mut()) {
        (Some(key), Some(whole)) => cache::store(&ctx, key, whole)?,
        (Some(key), None) if !is_head => cache::store(&ctx, key, &mut out)?,
        _ => {}
    }
    Ok(out)
}

/// Writes the tokens' "last used" dates after the response (no simulated latency: no
/// client waits for them).
fn touch_later(env: &Env, ctx: &Context, touches: Vec<(String, u64)>) {
    use crate::auth::identity::IdentityStore;
    let db = match env.d1("DB") {
        Ok(db) if !touches.is_empty() => db,
        _ => return,
    };
    let identity = d1::identity::D1Identity(d1::D1Access::new(db, Simulated::default(), SharedMeter::default()));
    ctx.wait_until(async move {
        for (id, at) in touches {
            if let Err(e) = identity.touch_token(&id, at).await {
                worker::console_error!("recording a token's use: {e}");
            }
        }
    });
}

/// Records the events' deliveries and makes each first attempt after the response is
/// sent, all at once: each is bounded by its timeout, and what fails is retried by the
/// scheduled run.
fn deliver_later(env: &Env, ctx: &Context, events: Vec<crate::lifecycle::webhooks::Payload>) {
    // After the response: off the critical path, so the edge model leaves it undelayed and
    // the request's counted round trips leave it out.
    let reg = match registry(env, Simulated::default(), &SharedMeter::default()) {
        Ok(reg) => reg,
        Err(e) => return worker::console_error!("webhooks: {e}"),
    };
    ctx.wait_until(async move {
        use crate::registry::webhooks;
        let now = || WorkerClock.now_ms();
        let lease = webhooks::FIRST_ATTEMPT_LEASE_MS;
        let recorded = match webhooks::record(&reg.meta, &events, now(), lease).await {
            Ok(r) => r,
            Err(e) => return worker::console_error!("recording webhook deliveries: {e:?}"),
        };
        let unit = reg.config.webhook_retry_ms;
        let attempts =
            recorded.iter().map(|(d, h)| webhooks::attempt(&reg.meta, &outbound::FetchSender, d, h, unit, now));
        for result in futures_util::future::join_all(attempts).await {
            if let Err(e) = result {
                worker::console_error!("recording a webhook attempt: {e:?}");
            }
        }
    });
}

/// One JSON line per request. Headers are never logged: they may carry credentials.
fn log_request<R>(req: &api::Request, resp: &api::Response<R>, request_id: &str, duration_ms: u64, meter: &Meter) {
    let bytes = |h: Option<&str>| h.and_then(|v| v.parse::<u64>().ok());
    // The OCI code of an error answer (its small JSON body), so the log says why.
    let code = match &resp.body {
        Body::Bytes(b) if resp.status >= 400 => serde_json::from_slice::<serde_json::Value>(b)
            .ok()
            .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string)),
        _ => None,
    };
    let line = serde_json::json!({
        "request_id": request_id,
        "method": req.method.as_str(),
        "route": resp.trace.route,
        "repository": resp.trace.repository,
        "principal": resp.trace.principal,
        "status": resp.status,
        "code": code,
        "bytes_in": bytes(req.header("content-length")),
        "bytes_out": bytes(resp.get_header("content-length")),
        "duration_ms": duration_ms,
        "calls": meter.json(),
        "fault": resp.fault,
    });
    if resp.status >= 500 {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Runs the ports' contracts over the real bindings (enabled only by the test suite).
async fn contract(app: &WorkerApp) -> worker::Result<worker::Response> {
    let unique = crate::registry::random_id().map_err(|e| worker::Error::RustError(e.to_string()))?;
    let (reg, identity) = (&app.registry, &app.identity.inner);
    let mut failures =
        crate::registry::contract::run::<_, _, _, hashing::NativeHasher>(&reg.meta, &reg.objects, identity, &unique)
            .await;
    failures.extend(crate::auth::contract::run(identity, &unique).await);
    failures.extend(crate::auth::oidc::contract::run(&app.trust, &unique).await);
    worker::Response::from_json(&serde_json::json!({ "failures": failures }))
}

#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    console_error_panic_hook::set_once();
    let meter = SharedMeter::default();
    let (reg, db) = match (registry(&env, Simulated::default(), &meter), env.d1("DB")) {
        (Ok(reg), Ok(db)) => (reg, db),
        (Err(e), _) | (_, Err(e)) => return worker::console_error!("scheduled: {e}"),
    };
    let grace_secs = env.var("GC_GRACE_SECONDS").ok().and_then(|v| v.to_string().parse::<u64>().ok()).unwrap_or(3600);
    let identity = CachedIdentity::new(
        d1::identity::D1Identity(d1::D1Access::new(db, Simulated::default(), meter)),
        Rc::new(HotCache::default()),
        WorkerClock.now_ms(),
    );
    let report = crate::registry::maintenance::run(&reg, &identity, grace_secs * 1000, &outbound::FetchSender).await;
    let line = serde_json::json!({ "scheduled": report });
    if report.failures.is_empty() {
        worker::console_log!("{line}");
    } else {
        worker::console_error!("{line}");
    }
}

fn to_worker(resp: api::Response<worker::ResponseBody>, head: bool) -> worker::Result<worker::Response> {
    let headers = Headers::new();
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    // Bodies go out as stored: layers are compressed already, and re-compressing them
    // on the fly makes pulls many times slower.
    let builder =
        ResponseBuilder::new().with_status(resp.status).with_headers(headers).with_encode_body(EncodeBody::Manual);
    Ok(match (resp.body, head) {
        (_, true) | (Body::Empty, _) => builder.empty(),
        (Body::Bytes(b), false) => builder.fixed(b),
        (Body::Object(o), false) => builder.body(o),
    })
}
