//! What an `Authorization` header carries. Malformed headers are simply no credentials
//! that work: the caller gets 401, never a panic or an echo of the header.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

const MAX_HEADER_LEN: usize = 8192;

pub enum Credentials {
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// Present but unreadable.
    Malformed,
}

pub fn parse(header: Option<&str>) -> Credentials {
    let Some(h) = header else { return Credentials::None };
    if h.len() > MAX_HEADER_LEN {
        return Credentials::Malformed;
    }
    let (scheme, value) = h.trim().split_once(' ').unwrap_or((h, ""));
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let Some(decoded) = B64.decode(value).ok().and_then(|b| String::from_utf8(b).ok()) else {
            return Credentials::Malformed;
        };
        match decoded.split_once(':') {
            Some((user, password)) => Credentials::Basic { user: user.to_string(), password: password.to_string() },
            None => Credentials::Malformed,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
        Credentials::Bearer(value.to_string())
    } else {
        Credentials::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_and_bearer() {
        match parse(Some("Basic YWxpY2U6ZXJwX3g=")) {
            Credentials::Basic { user, password } => assert_eq!((user.as_str(), password.as_str()), ("alice", "erp_x")),
            _ => panic!("basic"),
        }
        assert!(matches!(parse(Some("Bearer abc.def")), Credentials::Bearer(t) if t == "abc.def"));
        assert!(matches!(parse(None), Credentials::None));
    }

    #[test]
    fn malformed_headers_are_malformed() {
        let long = format!("Basic {}", "A".repeat(10_000));
        for bad in ["Basic !!!", "Basic YWxpY2U=", "Digest x", "Bearer", "", long.as_str(), "Basic /w=="] {
            assert!(matches!(parse(Some(bad)), Credentials::Malformed), "{bad}");
        }
    }
}
