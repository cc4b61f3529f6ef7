//! The application and its one entry point, `serve`: where every request goes.

use super::http::{Request, Response, Trace};
use super::route::{self, Access, Route, Surface};
use super::{admin, distribution, gate, packages, pages, shared_cache, token};
use crate::auth::identity::IdentityStore;
use crate::error::RegistryError;
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

/// The whole application: a request head and its body in, a response out. Errors of
/// any layer become OCI error responses here and nowhere else.
pub async fn serve<P: Platform>(
    app: &App<P>,
    req: &Request,
    body: &mut impl crate::registry::ports::ChunkSource,
) -> Response<Reader<P>> {
    let mut trace = Trace::default();
    let routed = match within_limits(req) {
        Ok(()) => Route::parse(&req.path),
        Err(e) => Err(route::Unrouted { surface: Surface::Distribution, error: e }),
    };
    let surface = match &routed {
        Ok(route) => {
            trace.route = route.name();
            trace.repository = route.repo().map(|r| r.to_string());
            route.surface()
        }
        Err(unrouted) => {
            trace.route = unrouted.name();
            unrouted.surface
        }
    };
    let routed = routed.map_err(|u| u.error);
    let result = match surface {
        Surface::Pages => {
            let mut resp = pages::handle(app, req, routed).await;
            resp.trace = trace;
            return resp;
        }
        Surface::Token => match routed {
            Ok(Route::OidcToken) => super::oidc_exchange::exchange(app, req, body).await,
            _ => token::issue(app, req, body).await,
        },
        Surface::Admin => admin::handle(app, routed, req, body).await,
        Surface::Packages => packages::handle(app, routed, req, body).await,
        Surface::Distribution => match routed {
            Ok(route) => registry_route(app, route, req, body, &mut trace).await,
            Err(e) => Err(e),
        },
    };
    let mut resp = result.unwrap_or_else(|e| {
        let mut r = Response::error(&e);
        if let RegistryError::Unauthorized { scope } = &e {
            r = r.header("www-authenticate", challenge(req, scope.as_deref()));
        }
        r
    });
    resp.headers.push(("docker-distribution-api-version".into(), "registry/2.0".into()));
    resp.trace = trace;
    resp
}

/// Request heads a client controls are bounded: no parser downstream sees more.
const MAX_PATH_BYTES: usize = 2048;
const MAX_QUERY_BYTES: usize = 8192;
const MAX_QUERY_PAIRS: usize = 64;
const MAX_HEADER_BYTES: usize = 64 * 1024;

fn within_limits(req: &Request) -> Result<(), RegistryError> {
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

/// `Bearer realm=...,service=...[,scope=...]`: where to get a token and for what.
fn challenge(req: &Request, scope: Option<&str>) -> String {
    let mut c = format!("Bearer realm=\"{}/token\",service=\"{}\"", req.origin, req.host());
    if let Some(s) = scope {
        c.push_str(&format!(",scope=\"{s}\""));
    }
    c
}

/// `/v2/...`: authenticate, authorize, dispatch.
async fn registry_route<P: Platform>(
    app: &App<P>,
    route: Route,
    req: &Request,
    body: &mut impl crate::registry::ports::ChunkSource,
    trace: &mut Trace,
) -> Result<Response<Reader<P>>, RegistryError> {
    let caller = gate::authenticate(app, req).await?;
    trace.principal = caller.login().map(str::to_string);
    let Access::Repository(repo, action) = route.access(req.method) else {
        // `/v2/` itself: clients probe it to learn whether and how to authenticate.
        return match caller {
            gate::Caller::Anonymous => Err(RegistryError::Unauthorized { scope: None }),
            _ => distribution::dispatch(&app.registry, route, req, body).await,
        };
    };
    if !gate::allowed(app, &caller, &repo, action).await? {
        return Err(match &caller {
            gate::Caller::Ci(id) => gate::ci_refusal(app, id, &repo, action).await,
            _ => gate::refusal(&caller, &repo, action),
        });
    }
    let mut req = req.clone();
    if let Some(from) = req.query("from").and_then(|f| crate::oci::RepoName::parse(f).ok()) {
        // A mount reads its source: a source the caller may not read is treated as
        // absent, so the mount falls back to an upload and reveals nothing.
        if !gate::allowed(app, &caller, &from, crate::auth::Action::Pull).await? {
            req.query.retain(|(k, _)| k != "from");
        }
    }
    let pushed_manifest = matches!(route, Route::Manifest { .. }) && req.method == crate::api::Method::Put;
    let mut resp = distribution::dispatch(&app.registry, route, &req, body).await?;
    if pushed_manifest && resp.status == 201 {
        record_provenance(app, &caller, &repo, &resp).await?;
    }
    match action {
        crate::auth::Action::Pull => {
            keep_private_out_of_shared_caches(app, &repo, &mut resp).await?;
            shared_cache::mark_storable(app, &req, &mut resp).await;
        }
        // Cached copies of what was deleted must not be served any more.
        crate::auth::Action::Delete => app.identity.bump_content_epoch(&repo).await?,
        crate::auth::Action::Push => {}
    }
    Ok(resp)
}

/// Digest-addressed content is cacheable forever, but only a public package's content
/// may sit in a shared cache.
async fn keep_private_out_of_shared_caches<R, P: Platform>(
    app: &App<P>,
    repo: &crate::oci::RepoName,
    resp: &mut Response<R>,
) -> Result<(), RegistryError> {
    let Some(i) = resp.headers.iter().position(|(k, v)| k == "cache-control" && v.starts_with("public")) else {
        return Ok(());
    };
    let public = app.identity.package(repo).await?.is_some_and(|p| p.visibility == crate::auth::Visibility::Public);
    if !public {
        resp.headers[i].1 = resp.headers[i].1.replacen("public", "private", 1);
    }
    Ok(())
}

/// Records who pushed the manifest a response accepted.
async fn record_provenance<R, P: Platform>(
    app: &App<P>,
    caller: &gate::Caller,
    repo: &crate::oci::RepoName,
    resp: &Response<R>,
) -> Result<(), RegistryError> {
    use crate::auth::oidc::TrustStore;
    use crate::registry::ports::Clock;
    let digest = resp.get_header("docker-content-digest").and_then(|d| crate::oci::Digest::parse(d).ok());
    if let (Some(digest), Some(who)) = (digest, gate::provenance(caller)) {
        app.trust.record_provenance(repo, &digest, &who, app.registry.clock.now_ms()).await?;
    }
    Ok(())
}
