//! The application and its one entry point, `serve`: where every request goes.

use super::http::{Request, Response, Trace};
use super::{admin, distribution, gate, packages, pages, route, shared_cache, token};
use crate::auth::policy::Decision;
use crate::error::RegistryError;

/// The application: the registry, the identity store and the secrets it signs with.
pub struct App<M, O, C, I> {
    pub registry: crate::registry::Registry<M, O, C>,
    pub identity: I,
    /// Key of the HMAC that signs registry tokens.
    pub signing_key: Vec<u8>,
    /// The key before the last rotation: tokens it signed stay valid until they expire
    /// (one token lifetime), so rotating logs nobody out.
    pub previous_signing_key: Option<Vec<u8>>,
    /// The operator's token for `/admin`; `None` turns the admin API off.
    pub admin_token: Option<String>,
}

/// The whole application: a request head and its body in, a response out. Errors of
/// any layer become OCI error responses here and nowhere else.
pub async fn serve<M, O, C, I>(
    app: &App<M, O, C, I>,
    req: &Request,
    body: &mut impl crate::registry::ports::ChunkSource,
) -> Response<O::Reader>
where
    M: crate::registry::MetadataStore,
    O: crate::registry::ports::ObjectStore,
    C: crate::registry::ports::Clock,
    I: crate::auth::identity::IdentityStore,
{
    let mut trace = Trace::default();
    let result = if let Err(e) = within_limits(req) {
        Err(e)
    } else if super::cross_site::is_cross_site_write(req) {
        // A browser made to write by another site: never, whatever credentials it carries.
        Err(RegistryError::Denied)
    } else if req.path == "/token" {
        trace.route = "token";
        token::issue(app, req, body).await
    } else if let Some(rest) = req.path.strip_prefix("/admin/") {
        trace.route = "admin";
        admin::handle(app, rest, req, body).await
    } else if let Some(rest) = req.path.strip_prefix("/api/packages/") {
        trace.route = "packages";
        packages::handle(app, rest, req, body).await
    } else if !is_registry_path(&req.path) {
        trace.route = "page";
        let mut resp = pages::handle(app, req).await;
        resp.trace = trace;
        return resp;
    } else {
        registry_route(app, req, body, &mut trace).await
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

/// `/v2` and below is the distribution API; other paths are package pages.
fn is_registry_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
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
async fn registry_route<M, O, C, I>(
    app: &App<M, O, C, I>,
    req: &Request,
    body: &mut impl crate::registry::ports::ChunkSource,
    trace: &mut Trace,
) -> Result<Response<O::Reader>, RegistryError>
where
    M: crate::registry::MetadataStore,
    O: crate::registry::ports::ObjectStore,
    C: crate::registry::ports::Clock,
    I: crate::auth::identity::IdentityStore,
{
    trace.route = "unknown";
    let route = match route::Route::parse(&req.path) {
        None => return Err(RegistryError::NotFound(format!("route {}", truncated(&req.path)))),
        Some(r) => r?,
    };
    trace.route = route.name();
    trace.repository = route.repo().map(|r| r.to_string());
    let caller = gate::authenticate(app, req).await?;
    trace.principal = caller.login().map(str::to_string);
    let Some((repo, action)) = route.access(req.method) else {
        // `/v2/` itself: clients probe it to learn whether and how to authenticate.
        return match caller {
            gate::Caller::Anonymous => Err(RegistryError::Unauthorized { scope: None }),
            _ => distribution::dispatch(&app.registry, route, req, body).await,
        };
    };
    let as_absent = match gate::access(app, &caller, &repo, action).await? {
        Decision::Allowed => false,
        Decision::AsAbsent => true,
        Decision::Refused => return Err(gate::refusal(&caller, &repo, action)),
    };
    let mut req = req.clone();
    if let Some(from) = req.query("from").and_then(|f| crate::oci::RepoName::parse(f).ok()) {
        // A mount reads its source: a source the caller may not read is treated as
        // absent, so the mount falls back to an upload and reveals nothing.
        if !gate::allowed(app, &caller, &from, crate::auth::Action::Pull).await? {
            req.query.retain(|(k, _)| k != "from");
        }
    }
    let stores = action == crate::auth::Action::Push && !distribution::works_on_a_session_only(&route, &req);
    if as_absent && (stores || action != crate::auth::Action::Push) {
        // A package the caller may not read answers as a name that does not exist, up to
        // the push that would store into it: that one is denied (the name is taken).
        return distribution::as_absent(route, &req);
    }
    if stores {
        // Creating the package belongs to the push that stores something in it.
        gate::create_for_push(app, &caller, &repo).await?;
    }
    let mut resp = distribution::dispatch(&app.registry, route, &req, body).await?;
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
async fn keep_private_out_of_shared_caches<R, M, O, C, I>(
    app: &App<M, O, C, I>,
    repo: &crate::oci::RepoName,
    resp: &mut Response<R>,
) -> Result<(), RegistryError>
where
    I: crate::auth::identity::IdentityStore,
{
    let Some(i) = resp.headers.iter().position(|(k, v)| k == "cache-control" && v.starts_with("public")) else {
        return Ok(());
    };
    let public = app.identity.package(repo).await?.is_some_and(|p| p.visibility == crate::auth::Visibility::Public);
    if !public {
        resp.headers[i].1 = resp.headers[i].1.replacen("public", "private", 1);
    }
    Ok(())
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}
