//! Writes a browser was made to send from another site. Pages invite Basic sign-in, after
//! which a browser attaches those credentials to every request to this origin, including a
//! form another site submits. Browsers say where a request comes from (`Sec-Fetch-Site`,
//! `Origin`); registry clients send neither and are never refused here.

use super::{Method, Request};

/// Whether `req` changes state and a browser sent it on another site's behalf.
pub fn is_cross_site_write(req: &Request) -> bool {
    if matches!(req.method, Method::Get | Method::Head) {
        return false;
    }
    if let Some(site) = req.header("sec-fetch-site") {
        // `none`: the user's own action (typed address, bookmark).
        return !matches!(site.trim(), "same-origin" | "none");
    }
    // Older browsers send only `Origin` (`null` from sandboxed or privacy-sensitive contexts).
    req.header("origin").is_some_and(|origin| origin.trim() != req.origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&str, &str)]) -> Request {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Request::new(method, "https://registry.test", "/api/packages/a/b/restore", "", headers)
    }

    #[test]
    fn browsers_writing_from_elsewhere_are_cross_site() {
        for headers in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")][..],
            &[("origin", "https://evil.test")][..],
            &[("origin", "null")][..],
            &[("sec-fetch-site", "cross-site"), ("origin", "https://registry.test")][..],
        ] {
            assert!(is_cross_site_write(&req(Method::Post, headers)), "{headers:?}");
            assert!(is_cross_site_write(&req(Method::Delete, headers)), "{headers:?}");
            assert!(!is_cross_site_write(&req(Method::Get, headers)), "reading is not writing: {headers:?}");
        }
    }

    #[test]
    fn same_origin_and_registry_clients_are_not() {
        for headers in [
            &[][..],
            &[("sec-fetch-site", "same-origin")][..],
            &[("sec-fetch-site", "none")][..],
            &[("origin", "https://registry.test")][..],
        ] {
            assert!(!is_cross_site_write(&req(Method::Post, headers)), "{headers:?}");
        }
    }
}
