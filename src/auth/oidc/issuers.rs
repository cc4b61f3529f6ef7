//! Which issuers' tokens are verified at all: GitHub Actions and GitLab by default, and
//! those the operator lists. Plain `http` only for loopback issuers, and only when the
//! operator allows it (test issuers).

/// GitHub Actions' issuer.
pub const GITHUB: &str = "https://token.actions.githubusercontent.com";
/// GitLab.com's issuer.
pub const GITLAB: &str = "https://gitlab.com";

#[derive(Debug, Clone)]
pub struct Issuers {
    allowed: Vec<String>,
    insecure: bool,
}

impl Issuers {
    /// The defaults and the issuers in `extra` (URLs separated by white space). Returns
    /// the entries refused, so the operator can be told.
    pub fn new(extra: &str, allow_insecure: bool) -> (Issuers, Vec<String>) {
        let mut issuers = Issuers { allowed: vec![GITHUB.into(), GITLAB.into()], insecure: allow_insecure };
        let mut refused = vec![];
        for url in extra.split_whitespace() {
            if issuers.acceptable_url(url) {
                issuers.allowed.push(url.to_string());
            } else {
                refused.push(url.chars().take(100).collect());
            }
        }
        (issuers, refused)
    }

    /// Whether tokens claiming to come from `iss` are verified (compared exactly).
    pub fn allows(&self, iss: &str) -> bool {
        self.allowed.iter().any(|a| a == iss)
    }

    /// Whether keys may be fetched from `url`: `https`, or plain `http` on loopback when
    /// insecure issuers are allowed.
    pub fn acceptable_url(&self, url: &str) -> bool {
        let plain = url.len() <= 512 && url.bytes().all(|b| b.is_ascii_graphic());
        let secure = url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        plain && (secure || (self.insecure && is_loopback_http(url)))
    }
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || port.starts_with(':'),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost" || host.strip_prefix("127.").is_some_and(|r| r.split('.').all(|o| o.parse::<u8>().is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_extra_issuers() {
        let (issuers, refused) = Issuers::new("https://gitlab.example.com  http://127.0.0.1:9000 ftp://x", false);
        assert!(issuers.allows(GITHUB) && issuers.allows(GITLAB) && issuers.allows("https://gitlab.example.com"));
        assert!(!issuers.allows("https://gitlab.example.com/"), "compared exactly");
        assert!(!issuers.allows("http://127.0.0.1:9000"));
        assert_eq!(refused, ["http://127.0.0.1:9000", "ftp://x"]);
    }

    #[test]
    fn plain_http_only_on_loopback_and_only_when_allowed() {
        let (issuers, refused) = Issuers::new("http://127.0.0.1:9000 http://localhost:1 http://[::1]:5", true);
        assert!(refused.is_empty());
        assert!(issuers.allows("http://127.0.0.1:9000"));
        for bad in [
            "http://10.0.0.1:9000",
            "http://127.0.0.1.evil.com",
            "http://user@127.0.0.1",
            "http://localhost.evil.com",
            "http://[::2]:5",
            "https://",
            "https:///path",
            "https://a b",
        ] {
            assert!(!issuers.acceptable_url(bad), "{bad}");
        }
    }
}
