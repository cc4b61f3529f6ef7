//! The application and its one entry point, `serve`: where every request goes.

use super::context::{Context, Decided};
use super::gate::Caller;
use super::http::{Request, Response, Trace};
use super::route::{Access, Route, Surface};
use super::shared_cache::{NoSharedCache, SharedCache};
use super::{admin, cross_site, distribution, gate, oidc_exchange, packages, pages, shared_cache, token};
use crate::auth::identity::IdentityStore;
use crate::auth::oidc::Provenance;
use crate::auth::policy::Decision;
use crate::auth::Action;
use crate::error::{RegistryError, Result};
use crate::oci::{Reference, RepoName, Tag};
use crate::registry::ports::{ChunkSource, Clock};
use crate::registry::{Platform, Reader};

/// The application: the registry, the identity store and the secrets it signs with.
pub struct App<P: Platform> {
    pub registry: crate::registry::Registry<P>,
    pub identity: P::Identity,
    /// Key of the HMAC that signs registry tokens.
    pub signing_key: Vec<u8>,
    /// The key before the last rotation: tokens it signed stay valid until they expire
    /// (one token lifetime), so rotating logs nobody out.
    pub previous_signing_key: Option<Vec<u8>>,
    /// The operator's token for `/admin`; `None` turns the admin API off.
    pub admin_token: Option<String>,
    /// Trusted publishers and what CI jobs pushed.
    pub trust: P::Trust,
    /// Identity-token verification for trusted publishing.
    pub oidc: crate::auth::oidc::Oidc<P::Fetch>,
}

/// The whole application: a request head and its body in, a response out, with no
/// shared cache in front (native tests, the fuzz harness).
pub async fn serve<P: Platform>(app: &App<P>, req: &Request, body: &mut impl ChunkSource) -> Response<Reader<P>> {
    serve_with_cache(app, &NoSharedCache, req, body).await
}

/// The whole application with the edge's shared cache: errors of any layer become OCI
/// error responses (or error pages) here and nowhere else.
pub async fn serve_with_cache<P: Platform>(
    app: &App<P>,
    cache: &impl SharedCache<Reader<P>>,
    req: &Request,
    body: &mut impl ChunkSource,
) -> Response<Reader<P>> {
    let mut trace = Trace::default();
    let (surface, result) = match within_limits(req) {
        Err(e) => (Surface::Distribution, Err(e)),
        // A browser made to write by another site: never, whatever credentials it carries.
        Ok(()) if cross_site::is_cross_site_write(req) => (Surface::Distribution, Err(RegistryError::Denied)),
        Ok(()) => respond(app, cache, req, body, &mut trace).await,
    };
    let mut resp = match (surface, result) {
        (_, Ok(resp)) => resp,
        (Surface::Pages, Err(e)) => pages::error_page(&e),
        (_, Err(e)) => {
            let mut r = Response::error(&e);
            if let RegistryError::Unauthorized { scope } = &e {
                r = r.header("www-authenticate", challenge(req, scope.as_deref()));
            }
            r
        }
    };
    // Pages are for browsers; a shared cache's answer has the header already.
    if surface != Surface::Pages && resp.get_header(API_VERSION).is_none() {
        resp.headers.push((API_VERSION.into(), "registry/2.0".into()));
    }
    // The token services identify their caller themselves and name it on their answer.
    trace.principal = trace.principal.take().or(resp.trace.principal.take());
    resp.trace = trace;
    resp
}

const API_VERSION: &str = "docker-distribution-api-version";

/// Routes the request, checks what its route requires (once: caller, facts, decision),
/// and hands the context to the surface's handler. Returns the surface, whose way of
/// answering errors applies.
async fn respond<P: Platform>(
    app: &App<P>,
    cache: &impl SharedCache<Reader<P>>,
    req: &Request,
    body: &mut impl ChunkSource,
    trace: &mut Trace,
) -> (Surface, Result<Response<Reader<P>>>) {
    let (route, surface, access) = match Route::parse(&req.path) {
        Ok(route) => {
            trace.route = route.name();
            trace.repository = route.repo().map(|r| r.to_string());
            let (surface, access) = (route.surface(), route.access(req.method));
            (Ok(route), surface, access)
        }
        // A path that names nothing asks what its surface asks before it is told so.
        Err(unrouted) => {
            trace.route = unrouted.name();
            (Err(unfindable_on_read(req, unrouted.error)), unrouted.surface, unrouted.surface.access())
        }
    };
    let now_ms = app.registry.clock.now_ms();
    let result: Result<Response<Reader<P>>> = async {
        let caller = authenticate(app, req, &access, now_ms).await?;
        trace.principal = caller.principal();
        let decided = authorize(app, &caller, access).await?;
        let ctx = Context { route: route?, caller, now_ms, access: decided };
        match surface {
            Surface::Pages => pages::handle(app, &ctx, req).await,
            Surface::Token if ctx.route == Route::OidcToken => oidc_exchange::exchange(app, &ctx, req, body).await,
            Surface::Token => token::issue(app, &ctx, req, body).await,
            Surface::Admin => admin::handle(app, &ctx, req, body).await,
            Surface::Packages => packages::handle(app, &ctx, req, body).await,
            Surface::Distribution => registry_route(app, cache, &ctx, req, body, trace).await,
        }
    }
    .await;
    (surface, result)
}

/// Who calls, as far as the route needs to know.
async fn authenticate<P: Platform>(app: &App<P>, req: &Request, access: &Access, now_ms: u64) -> Result<Caller> {
    match access {
        Access::Public | Access::Itself => Ok(Caller::Anonymous),
        Access::Operator => gate::operator(app, req, now_ms).await,
        Access::Anyone | Access::Caller | Access::User | Access::Repository(..) => {
            gate::authenticate(app, req, now_ms).await
        }
    }
}

/// Whether the caller may pass, decided on facts gathered here once. Nothing is
/// written: a push creates its package as it starts (`registry_route`).
async fn authorize<P: Platform>(app: &App<P>, caller: &Caller, access: Access) -> Result<Option<Decided>> {
    match access {
        Access::Caller if matches!(caller, Caller::Anonymous) => Err(RegistryError::Unauthorized { scope: None }),
        Access::User if !matches!(caller, Caller::Pat { .. }) => Err(RegistryError::Unauthorized { scope: None }),
        Access::Repository(repo, action) => {
            let facts = gate::gather_for(app, &repo, caller).await?;
            let as_absent = match gate::decide(caller, &facts, action) {
                Decision::Allowed => false,
                Decision::AsAbsent => true,
                Decision::Refused => return Err(gate::refusal(caller, &facts, action)),
            };
            Ok(Some(Decided { facts, action, as_absent }))
        }
        _ => Ok(None),
    }
}

/// A manifest read whose reference could never name anything (not a valid tag, nor a
/// digest) finds nothing: 404, like any reference that is not there. Writes keep the 400
/// that says what is wrong.
fn unfindable_on_read(req: &Request, e: RegistryError) -> RegistryError {
    let read = matches!(req.method, super::Method::Get | super::Method::Head);
    let manifest = req.path.starts_with("/v2/") && req.path.rsplit('/').nth(1) == Some("manifests");
    match e {
        RegistryError::ManifestInvalid(_) | RegistryError::DigestInvalid(_) if read && manifest => {
            RegistryError::ManifestUnknown
        }
        e => e,
    }
}

/// Request heads a client controls are bounded: no parser downstream sees more.
const MAX_PATH_BYTES: usize = 2048;
const MAX_QUERY_BYTES: usize = 8192;
const MAX_QUERY_PAIRS: usize = 64;
const MAX_HEADER_BYTES: usize = 64 * 1024;

fn within_limits(req: &Request) -> Result<()> {
    let query_bytes: usize = req.query.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let header_bytes: usize = req.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    if req.path.len() > MAX_PATH_BYTES {
        return Err(RegistryError::BadRequest(format!("path over {MAX_PATH_BYTES} bytes")));
    }
    if query_bytes > MAX_QUERY_BYTES || req.query.len() > MAX_QUERY_PAIRS {
        return Err(RegistryError::BadRequest(format!(
            "query over {MAX_QUERY_BYTES} bytes or {MAX_QUERY_PAIRS} parameters"
        )));
    }
    if header_bytes > MAX_HEADER_BYTES {
        return Err(RegistryError::BadRequest(format!("headers over {MAX_HEADER_BYTES} bytes")));
    }
    Ok(())
}

/// `Bearer realm=...,service=...[,scope=...]`: where to get a token and for what. A mount
/// also reads its source, so its challenge names that too: a client that asks for exactly
/// what it is told gets a token that lets the mount happen.
fn challenge(req: &Request, scope: Option<&str>) -> String {
    let mut c = format!("Bearer realm=\"{}/token\",service=\"{}\"", req.origin, req.host());
    let source = match (req.method, req.query("mount"), req.query("from")) {
        (super::Method::Post, Some(_), Some(from)) => RepoName::parse(from).ok(),
        _ => None,
    };
    if let Some(s) = scope {
        match source {
            Some(from) => c.push_str(&format!(",scope=\"{s} repository:{from}:pull\"")),
            None => c.push_str(&format!(",scope=\"{s}\"")),
        }
        // A valid registry token that lacks the access (RFC 6750): docker then reports
        // "denied" at once instead of retrying the push five times over ~50 s.
        if req.header("authorization").is_some_and(|a| a.starts_with("Bearer ")) {
            c.push_str(",error=\"insufficient_scope\"");
        }
    }
    c
}

/// `/v2/...`, its access granted: the push's package, the mount's source, the shared
/// cache, the handler.
async fn registry_route<P: Platform>(
    app: &App<P>,
    cache: &impl SharedCache<Reader<P>>,
    ctx: &Context,
    req: &Request,
    body: &mut impl ChunkSource,
    trace: &mut Trace,
) -> Result<Response<Reader<P>>> {
    if ctx.route == Route::Catalog {
        return super::catalog::list(app, ctx, req).await;
    }
    let Some(decided) = &ctx.access else {
        // `/v2/` itself: any authenticated caller.
        return distribution::dispatch(&app.registry, ctx.route.clone(), req, body, None).await;
    };
    let (facts, action) = (&decided.facts, decided.action);
    let mut req = req.clone();
    if let Some(from) = req.query("from").and_then(|f| RepoName::parse(f).ok()) {
        // A mount reads its source: a source the caller may not read is treated as
        // absent, so the mount falls back to an upload and reveals nothing.
        let source = gate::gather_for(app, &from, &ctx.caller).await?;
        if gate::decide(&ctx.caller, &source, Action::Pull) != Decision::Allowed {
            req.query.retain(|(k, _)| k != "from");
        }
    }
    let stores = action == Action::Push && !distribution::works_on_a_session_only(&ctx.route, &req);
    if decided.as_absent && (stores || action != Action::Push) {
        // A package the caller may not read answers as a name that does not exist, up to
        // the push that would store into it: that one is denied (the name is taken).
        return distribution::as_absent(ctx.route.clone(), &req);
    }
    if stores {
        // Creating the package belongs to the push that stores something in it.
        gate::create_package_for_push(app, &ctx.caller, facts, ctx.now_ms).await?;
    }
    let tag_cache_secs = app.registry.config.tag_cache_secs;
    let plan = shared_cache::plan(ctx, &req, tag_cache_secs);
    let looked_up = match plan.as_ref().filter(|p| p.lookup) {
        Some(p) => match cache.get(p).await {
            Some(hit) => {
                trace.route = "shared-cache";
                return Ok(shared_cache::answered(hit));
            }
            None => true,
        },
        None => false,
    };
    if plan.as_ref().is_some_and(|p| p.as_get) {
        // The body is dropped on the way out, after the whole answer is stored.
        req.method = super::Method::Get;
    }
    let pushed_by = gate::provenance(&ctx.caller).and_then(|p| serde_json::to_string(&p).ok());
    let mut resp =
        match distribution::dispatch(&app.registry, ctx.route.clone(), &req, body, pushed_by.as_deref()).await {
            Ok(resp) => resp,
            Err(e) if looked_up => Response::error(&e),
            Err(e) => return Err(e),
        };
    let (actor, ci) = (ctx.caller.principal().unwrap_or_default(), ctx.caller.ci().map(Provenance::ci));
    for event in &mut resp.events {
        event.actor = actor.clone();
        event.ci = ci.clone();
    }
    match action {
        Action::Pull => shared_cache::after_pull(facts, plan, looked_up, &mut resp),
        // Cached copies of what was deleted must not be served any more.
        Action::Delete => app.identity.bump_content_epoch(&facts.repo).await?,
        Action::Push => {
            if let (Route::Manifest { repo, reference }, Some(package), true) =
                (&ctx.route, &facts.package, tag_cache_secs > 0 && resp.status == 201)
            {
                let mut tags: Vec<Tag> =
                    req.query.iter().filter(|(k, _)| k == "tag").flat_map(|(_, v)| Tag::parse(v).ok()).collect();
                if let Reference::Tag(t) = reference {
                    tags.push(t.clone());
                }
                for key in shared_cache::pushed_tag_keys(&req.origin, repo, &tags, package) {
                    cache.forget(&key).await;
                }
            }
        }
    }
    Ok(resp)
}
