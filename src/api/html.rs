//! A page of HTML: escaping, the one stylesheet, and the headers every page carries.

use super::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The only style a page has; the Content-Security-Policy allows exactly this text.
const STYLE: &str =
    "body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1f2328}\
a{color:#0969da}header{display:flex;gap:.5rem;align-items:baseline}h1{font-size:1.6rem;margin:0}\
h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #d0d7de}.badge{border:1px solid #d0d7de;border-radius:1rem;\
padding:0 .5rem;font-size:.8rem;color:#59636e}.muted{color:#59636e}pre{background:#f6f8fa;padding:.75rem;overflow:auto}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de}\
dt{font-weight:600}dd{margin:0 0 .5rem}ul.packages{list-style:none;padding:0}ul.packages li{padding:.75rem 0;\
border-bottom:1px solid #d0d7de}ul.packages p{margin:.25rem 0}";

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes as people read them: `512 B`, `1.5 KiB`, `200.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// A page being written. Callers push markup they built with `escape`.
pub struct Page {
    html: String,
    /// Whether the page has a form (a search, sent with GET to the registry itself).
    form: bool,
}

impl Page {
    pub fn new(title: &str) -> Self {
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>",
            escape(title)
        );
        Page { html, form: false }
    }

    /// Lets the page's forms submit to the registry itself (a search: GET, no state).
    pub fn with_search_form(mut self) -> Self {
        self.form = true;
        self
    }

    /// A page that only says something.
    pub fn message(title: &str, text: &str) -> Self {
        let mut page = Page::new(title);
        page.push(&format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)));
        page
    }

    pub fn push(&mut self, markup: &str) {
        self.html.push_str(markup);
    }

    pub fn into_response<R>(mut self, status: u16) -> Response<R> {
        self.html.push_str("</body></html>");
        let style_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        let form_action = if self.form { "'self'" } else { "'none'" };
        Response::bytes(status, "text/html; charset=utf-8", self.html.into_bytes())
            .header(
                "content-security-policy",
                format!(
                    "default-src 'none'; style-src 'sha256-{style_hash}'; base-uri 'none'; \
                     form-action {form_action}; frame-ancestors 'none'"
                ),
            )
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            // Pages may show private packages to a signed-in viewer: never a shared cache.
            .header("cache-control", "private, no-cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(200 * 1024 * 1024), "200.0 MiB");
    }

    #[test]
    fn the_policy_allows_exactly_the_page_style() {
        let resp: Response<Vec<u8>> = Page::new("t").into_response(200);
        let csp = resp.get_header("content-security-policy").unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }
}
