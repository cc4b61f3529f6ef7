//! HTTP, platform-neutral: a request comes in as `Request` plus a body to read, goes
//! through authenticate -> authorize -> dispatch, and leaves as a `Response`.

pub mod admin;
pub mod distribution;
pub mod gate;
mod json_body;
pub mod packages;
pub mod route;
pub mod token;

use crate::error::RegistryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Other,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }

    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// A request's head. Header names are lowercase.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// `scheme://host[:port]` as the client reached us (token realm, links).
    pub origin: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Builds a request head from a raw query string.
    pub fn new(method: Method, origin: &str, path: &str, raw_query: &str, headers: Vec<(String, String)>) -> Self {
        let query = form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
        let headers = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        Request { method, origin: origin.to_string(), path: path.to_string(), query, headers }
    }

    /// The host (and port) part of the origin: the token `service`.
    pub fn host(&self) -> &str {
        self.origin.split_once("://").map_or(self.origin.as_str(), |(_, h)| h)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The declared body length, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }
}

/// A response body: nothing, a few bytes, or a stored object streamed by the platform.
pub enum Body<R> {
    Empty,
    Bytes(Vec<u8>),
    Object(R),
}

pub struct Response<R> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body<R>,
    /// Why a request failed on the registry's side: logged once at the edge, never sent.
    pub fault: Option<String>,
    pub trace: Trace,
}

/// What the request log line says of a request beyond its method and status. Never a
/// credential: the principal is a login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub route: &'static str,
    pub repository: Option<String>,
    pub principal: Option<String>,
}

impl<R> Response<R> {
    pub fn new(status: u16) -> Self {
        Response { status, headers: vec![], body: Body::Empty, fault: None, trace: Trace::default() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::bytes(status, "application/json", value.to_string().into_bytes())
    }

    pub fn bytes(status: u16, content_type: &str, bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        Response { status, headers: vec![], body: Body::Bytes(bytes), fault: None, trace: Trace::default() }
            .header("content-type", content_type)
            .header("content-length", len.to_string())
    }

    /// The one way an error becomes a response.
    pub fn error(e: &RegistryError) -> Self {
        let mut r = Self::bytes(e.status(), "application/json", e.body());
        if let RegistryError::TooManyRequests { retry_after_secs } = e {
            r = r.header("retry-after", retry_after_secs.to_string());
        }
        if let RegistryError::Internal(cause) = e {
            r.fault = Some(cause.clone());
        }
        r
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The application: the registry, the identity store and the secrets it signs with.
pub struct App<M, O, C, I> {
    pub registry: crate::registry::Registry<M, O, C>,
    pub identity: I,
    /// Key of the HMAC that signs registry tokens.
    pub signing_key: Vec<u8>,
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
    let result = if req.path == "/token" {
        trace.route = "token";
        token::issue(app, req, body).await
    } else if let Some(rest) = req.path.strip_prefix("/admin/") {
        trace.route = "admin";
        admin::handle(app, rest, req, body).await
    } else if let Some(rest) = req.path.strip_prefix("/api/packages/") {
        trace.route = "packages";
        packages::handle(app, rest, req, body).await
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
    if !gate::allowed(app, &caller, &repo, action).await? {
        return Err(gate::refusal(&caller, &repo, action));
    }
    let mut req = req.clone();
    if let Some(from) = req.query("from").and_then(|f| crate::oci::RepoName::parse(f).ok()) {
        // A mount reads its source: a source the caller may not read is treated as
        // absent, so the mount falls back to an upload and reveals nothing.
        if !gate::allowed(app, &caller, &from, crate::auth::Action::Pull).await? {
            req.query.retain(|(k, _)| k != "from");
        }
    }
    let mut resp = distribution::dispatch(&app.registry, route, &req, body).await?;
    if action == crate::auth::Action::Pull {
        keep_private_out_of_shared_caches(app, &repo, &mut resp).await?;
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
