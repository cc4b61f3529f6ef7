//! Package pages, in HTML: `/NAMESPACE` lists its packages, `/NAMESPACE/NAME` shows one
//! package. Visibility is that of pulls: public packages to anyone, private ones to a
//! viewer who may read them (a PAT by Basic auth; `?login` asks the browser for one).
//! Every user-supplied string is escaped, and a strict Content-Security-Policy forbids
//! anything but the page's own stylesheet.

use super::context::Context;
use super::gate::Caller;
use super::html::{escape, human_size, Page};
use super::package_views::{self, PackageView};
use super::route::Route;
use super::{App, Request, Response};

use crate::auth::Login;
use crate::error::{RegistryError, Result};
use crate::lifecycle::downloads::Downloads;
use crate::oci::Digest;

use crate::registry::ports::Version;
use crate::registry::{Platform, Reader};

pub async fn handle<P: Platform>(app: &App<P>, ctx: &Context, req: &Request) -> Result<Response<Reader<P>>> {
    if let Route::Badge { repo } = &ctx.route {
        return super::lifecycle::badge(app, repo).await;
    }
    Ok(page(app, ctx, req).await?.into_response(200))
}

/// What a failed page request shows.
pub fn error_page<R>(e: &RegistryError) -> Response<R> {
    match e {
        RegistryError::Unauthorized { .. } => Page::message("Sign in", "Sign in with your user name and a personal access token.")
            .into_response(401)
            .header("www-authenticate", "Basic realm=\"packages\", charset=\"UTF-8\""),
        RegistryError::Internal(_) => {
            let mut resp = Page::message("Something went wrong", "The registry could not show this page.").into_response(500);
            resp.fault = Some(format!("{e:?}"));
            resp
        }
        RegistryError::TooManyRequests { retry_after_secs } => {
            Page::message("Too many attempts", "Wait a minute before signing in again.")
                .into_response(429)
                .header("retry-after", retry_after_secs.to_string())
        }
        _ => Page::message("Not found", "There is no such package, or you may not see it. Private packages show after signing in: add ?login to the address.")
            .into_response(404),
    }
}

async fn page<P: Platform>(app: &App<P>, ctx: &Context, req: &Request) -> Result<Page> {
    if matches!(ctx.caller, Caller::Anonymous) && req.query("login").is_some() {
        return Err(RegistryError::Unauthorized { scope: None });
    }
    let viewer = ctx.caller.viewer();
    match &ctx.route {
        Route::Home => {
            let search: String = req.query("q").unwrap_or("").trim().chars().take(MAX_SEARCH).collect();
            let before = req.query("before").and_then(parse_cursor);
            let (packages, next) = package_views::public(app, &search, before.as_ref()).await?;
            Ok(home_page(req.host(), &search, &packages, next, ctx.now_ms))
        }
        Route::NamespacePage { namespace } => {
            let packages = package_views::namespace(app, namespace, &viewer).await?;
            Ok(namespace_page(namespace, &packages, ctx.now_ms))
        }
        Route::PackagePage { repo } => {
            let view = package_views::package(app, repo, &viewer).await?;
            let digests: Vec<_> = view.versions.iter().map(|v| v.manifest.digest.clone()).collect();
            let downloads = super::lifecycle::downloads_of(app, repo, &digests).await?;
            let pushers = super::packages::pushers(app, &view).await?;
            let source = super::packages::connected_source(app, &view).await?;
            Ok(package_page(req.host(), &view, &Extras { downloads, pushers, source }, ctx.now_ms))
        }
        // The contract runs only in the Worker, when its test switch is on.
        _ => Err(RegistryError::NotFound("page".into())),
    }
}

/// The longest search the front page takes.
const MAX_SEARCH: usize = 100;

/// `MS.NAME`: where a page of the front page continues (below that time, then name).
fn parse_cursor(value: &str) -> Option<(u64, String)> {
    let (ms, name) = value.split_once('.')?;
    Some((ms.parse().ok()?, crate::oci::RepoName::parse(name).ok()?.to_string()))
}

fn home_page(host: &str, search: &str, packages: &[PackageView], next: Option<(u64, String)>, now_ms: u64) -> Page {
    let mut page = Page::new("Container registry").with_search_form();
    page.push("<header><h1>Container registry</h1></header>");
    page.push(
        "<p>An OCI container registry: push and pull images with docker, podman, skopeo, \
         containerd or oras. Public packages are listed below; private ones show on their \
         namespace's page after signing in (add ?login to the address).</p>",
    );
    page.push("<h2>Sign in</h2><p>With your user name and a personal access token as the password:</p>");
    page.push(&format!("<pre class=\"login\"><code>docker login {}</code></pre>", escape(host)));
    page.push("<h2>Public packages</h2>");
    page.push(&format!(
        "<form method=\"get\" action=\"/\" role=\"search\"><input type=\"search\" name=\"q\" value=\"{}\" \
         maxlength=\"{MAX_SEARCH}\" placeholder=\"Search by name\" aria-label=\"Search packages by name\"> \
         <button type=\"submit\">Search</button></form>",
        escape(search)
    ));
    package_list(&mut page, packages, now_ms);
    if let Some((ms, name)) = next {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", search)
            .append_pair("before", &format!("{ms}.{name}"))
            .finish();
        page.push(&format!("<p><a class=\"next\" href=\"/?{}\">Older packages</a></p>", escape(&query)));
    }
    page
}

fn namespace_page(namespace: &Login, packages: &[PackageView], now_ms: u64) -> Page {
    let mut page = Page::new(namespace.as_str());
    page.push(&format!("<header><h1>{}</h1></header>", escape(namespace.as_str())));
    package_list(&mut page, packages, now_ms);
    page
}

/// Packages as a list: name, visibility, description, size and last push.
fn package_list(page: &mut Page, packages: &[PackageView], now_ms: u64) {
    if packages.is_empty() {
        page.push("<p class=\"muted\">No packages to show.</p>");
    }
    page.push("<ul class=\"packages\">");
    for p in packages {
        let name = p.package.repo.as_str();
        let short = name.split_once('/').map_or(name, |(_, n)| n);
        let updated = p.current().map(|v| format!(" · updated {}", age(now_ms, v.pushed_ms))).unwrap_or_default();
        page.push(&format!(
            "<li><a href=\"/{}\">{}</a> <span class=\"badge\">{}</span><p>{}</p><p class=\"muted\">{}{}</p></li>",
            escape(name),
            escape(short),
            p.package.visibility.as_str(),
            escape(p.metadata().description.as_deref().unwrap_or("")),
            human_size(p.current().map_or(0, |v| v.manifest.details.total_size)),
            updated,
        ));
    }
    page.push("</ul>");
}

/// What a package's page shows besides its versions: downloads, who pushed each
/// version, and the source repository the package is connected to.
struct Extras {
    downloads: (Downloads, Vec<(Digest, u64)>),
    pushers: std::collections::HashMap<Digest, crate::auth::oidc::Provenance>,
    source: Option<String>,
}

fn package_page(host: &str, view: &PackageView, extras: &Extras, now_ms: u64) -> Page {
    let (total, per_version) = &extras.downloads;
    let repo = view.package.repo.as_str();
    let (namespace, name) = repo.split_once('/').unwrap_or(("", repo));
    let meta = view.metadata();
    let mut page = Page::new(repo);
    page.push(&format!(
        "<header><a href=\"/{ns}\">{ns}</a> / <h1>{name}</h1> <span class=\"badge\">{vis}</span></header>",
        ns = escape(namespace),
        name = escape(name),
        vis = view.package.visibility.as_str(),
    ));
    match &meta.description {
        Some(d) => page.push(&format!("<p class=\"description\">{}</p>", escape(d))),
        None => page.push("<p class=\"description muted\">No description.</p>"),
    }
    page.push("<dl>");
    page.push(&format!(
        "<dt>Downloads</dt><dd class=\"downloads\">{} total · {} in the last 30 days</dd>",
        total.total, total.last_30_days
    ));
    if let Some(licenses) = &meta.licenses {
        page.push(&format!("<dt>License</dt><dd class=\"license\">{}</dd>", escape(licenses)));
    }
    if let Some(source) = &extras.source {
        // Only web links become links: a `javascript:` source stays text.
        let link = source.starts_with("https://") || source.starts_with("http://");
        page.push(&match link {
            true => format!(
                "<dt>Source</dt><dd><a class=\"source\" href=\"{0}\" rel=\"nofollow noopener noreferrer\">{0}</a></dd>",
                escape(source)
            ),
            false => format!("<dt>Source</dt><dd class=\"source\">{}</dd>", escape(source)),
        });
    }
    page.push("</dl>");
    if let Some(tag) = view.pull_tag() {
        page.push("<h2>Install from the command line</h2>");
        page.push(&format!(
            "<pre class=\"pull\"><code>docker pull {}/{}:{}</code></pre>",
            escape(host),
            escape(repo),
            escape(tag)
        ));
    }
    let tagged: Vec<&Version> = view.versions.iter().filter(|v| !v.tags.is_empty()).collect();
    page.push("<h2>Tags</h2>");
    if tagged.is_empty() {
        page.push("<p class=\"muted\">No tags.</p>");
    } else {
        page.push("<table class=\"tags\"><thead><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Pushed</th></tr></thead><tbody>");
        for v in &tagged {
            for tag in &v.tags {
                page.push(&format!(
                    "<tr><td class=\"tag\">{}</td><td><code title=\"{d}\">{}</code></td><td>{}</td><td>{}</td></tr>",
                    escape(tag),
                    short_digest(&v.manifest.digest.to_string()),
                    human_size(v.manifest.details.total_size),
                    age(now_ms, v.pushed_ms),
                    d = v.manifest.digest,
                ));
            }
        }
        page.push("</tbody></table>");
    }
    page.push(&format!("<h2>Versions <span class=\"muted\">({})</span></h2>", view.versions.len()));
    page.push("<table class=\"versions\"><thead><tr><th>Digest</th><th>Tags</th><th>Platforms</th><th>Size</th><th>Pushed</th><th>Downloads</th></tr></thead><tbody>");
    for v in &view.versions {
        let tags: Vec<String> = v.tags.iter().map(|t| escape(t)).collect();
        let pulls = per_version.iter().find(|(d, _)| d == &v.manifest.digest).map_or(0, |(_, n)| *n);
        page.push(&format!(
            "<tr><td><code title=\"{d}\">{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{pulls}</td></tr>",
            short_digest(&v.manifest.digest.to_string()),
            tags.join(", "),
            escape(&v.manifest.details.platforms.join(", ")),
            human_size(v.manifest.details.total_size),
            age(now_ms, v.pushed_ms),
            extras.pushers.get(&v.manifest.digest).map_or(String::new(), |p| {
                format!("<br><span class=\"provenance muted\">{}</span>", escape(&p.describe()))
            }),
            d = v.manifest.digest,
        ));
    }
    page.push("</tbody></table>");
    page
}

/// `sha256:0123456789ab`: enough to recognise; the whole digest is in the title.
fn short_digest(digest: &str) -> String {
    digest.chars().take(19).collect()
}

/// How long ago, roughly, as people say it.
fn age(now_ms: u64, then_ms: u64) -> String {
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    let (n, unit) = match secs {
        0..60 => return "just now".into(),
        60..3_600 => (secs / 60, "minute"),
        3_600..86_400 => (secs / 3_600, "hour"),
        86_400..2_592_000 => (secs / 86_400, "day"),
        2_592_000..31_536_000 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        let min = 60_000;
        assert_eq!(age(10 * min, 10 * min), "just now");
        assert_eq!(age(10 * min, 9 * min), "1 minute ago");
        assert_eq!(age(200 * min, 0), "3 hours ago");
        assert_eq!(age(3 * 1440 * min, 0), "3 days ago");
        assert_eq!(age(0, 5), "just now", "a clock that went back is not the future");
    }
}
