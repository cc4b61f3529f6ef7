//! The HTTP vocabulary of the api, without a platform: methods, request heads,
//! responses and their bodies.

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

    /// Whether the request was addressed to this machine (`localhost`, a loopback IP), as
    /// under `wrangler dev`; a deployed Worker is addressed by its own host name.
    pub fn to_loopback(&self) -> bool {
        let host = self.host();
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
    /// Set when the shared cache may keep this response under this key.
    pub shared_cache_key: Option<String>,
    /// What happened, for webhooks: delivered after the response is sent.
    pub events: Vec<crate::lifecycle::webhooks::Payload>,
}

/// What the request log line says of a request beyond its method and status. Never a
/// credential: the principal is a login or a CI job's principal (`Caller::principal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub route: &'static str,
    pub repository: Option<String>,
    pub principal: Option<String>,
}

impl<R> Response<R> {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: vec![],
            body: Body::Empty,
            fault: None,
            trace: Trace::default(),
            shared_cache_key: None,
            events: vec![],
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
        Response { body: Body::Bytes(bytes), ..Self::new(status) }
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

#[cfg(test)]
mod tests {
    use super::{Method, Request};

    #[test]
    fn only_requests_to_this_machine_are_to_loopback() {
        let to = |origin: &str| Request::new(Method::Get, origin, "/v2/", "", vec![]).to_loopback();
        for origin in ["https://127.0.0.1:8787", "http://localhost:8787", "http://localhost", "https://[::1]:8787"] {
            assert!(to(origin), "{origin}");
        }
        for origin in [
            "https://registry.example.com",
            "https://10.0.0.1:8787",
            "https://[2001:db8::1]:443",
            "https://localhost.example.com",
            "https://127.0.0.1.example.com",
        ] {
            assert!(!to(origin), "{origin}");
        }
    }
}
