//! HTTP, platform-neutral: a request comes in as `Request` plus a body to read, goes
//! through authenticate -> authorize -> dispatch, and leaves as a `Response`.

pub mod distribution;
pub mod route;

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
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Builds a request head from a raw query string.
    pub fn new(
        method: Method,
        path: &str,
        raw_query: &str,
        headers: Vec<(String, String)>,
    ) -> Self {
        let query = form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Request {
            method,
            path: path.to_string(),
            query,
            headers,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The declared body length, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
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
}

impl<R> Response<R> {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: vec![],
            body: Body::Empty,
        }
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
        Response {
            status,
            headers: vec![],
            body: Body::Bytes(bytes),
        }
        .header("content-type", content_type)
        .header("content-length", len.to_string())
    }

    /// The one way an error becomes a response.
    pub fn error(e: &RegistryError) -> Self {
        let mut r = Self::bytes(e.status(), "application/json", e.body());
        if let RegistryError::TooManyRequests { retry_after_secs } = e {
            r = r.header("retry-after", retry_after_secs.to_string());
        }
        r
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The whole application: a request head and its body in, a response out. Errors of
/// any layer become OCI error responses here and nowhere else.
pub async fn serve<M, O, C>(
    reg: &crate::registry::Registry<M, O, C>,
    req: &Request,
    body: &mut impl crate::registry::ports::ChunkSource,
) -> Response<O::Reader>
where
    M: crate::registry::MetadataStore,
    O: crate::registry::ports::ObjectStore,
    C: crate::registry::ports::Clock,
{
    let result = match route::Route::parse(&req.path) {
        None => Err(RegistryError::NotFound(format!(
            "route {}",
            truncated(&req.path)
        ))),
        Some(Err(e)) => Err(e),
        Some(Ok(route)) => distribution::dispatch(reg, route, req, body).await,
    };
    let mut resp = result.unwrap_or_else(|e| Response::error(&e));
    resp.headers.push((
        "docker-distribution-api-version".into(),
        "registry/2.0".into(),
    ));
    resp
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}
