//! The route table: every URL the application answers, parsed in one place, with each
//! endpoint's name in the request log, the access it requires and the URL that reaches it.
//!
//! To add an endpoint: add a variant (its fields are the parsed parts of its path), then
//! let the compiler show the four matches to extend here (`parse_*` of its surface,
//! `name`, `access`, `path`) and the handler's `match` that serves it. Repository names
//! contain slashes, so paths that hold one are read from the right.

use super::Method;
use crate::auth::{Action, Login};
use crate::error::{RegistryError, Result};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::lifecycle::Scope;

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    // The distribution API, `/v2`.
    /// `/v2/`: the API version check.
    ApiBase,
    /// `/v2/<name>/blobs/<digest>`
    Blob { repo: RepoName, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`
    UploadStart { repo: RepoName },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { repo: RepoName, id: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { repo: RepoName, reference: Reference },
    /// `/v2/<name>/tags/list`
    Tags { repo: RepoName },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { repo: RepoName, digest: Digest },
    /// `/v2/_catalog`: the repositories the caller may read.
    Catalog,

    /// `/token`: the token service.
    Token,
    /// `/api/oidc/token`: a CI job's identity token exchanged for a registry token.
    OidcToken,

    // The operator's API, `/admin/...`. Its parts are checked by the handler, after the
    // body (as the answers to bad requests have always been ordered).
    /// `/admin/users`
    AdminUsers,
    /// `/admin/orgs`
    AdminOrgs,
    /// `/admin/orgs/<org>/members/<login>`
    AdminMember { org: String, login: String },
    /// `/admin/users/<login>/tokens`
    AdminTokens { login: String },
    /// `/admin/tokens/<id>`
    AdminToken { id: String },
    /// `/admin/users/<login>/suspend` (`suspend`) and `/admin/users/<login>/unsuspend`
    AdminSuspension { login: String, suspend: bool },

    // The package API, `/api/packages/...`.
    /// `/api/packages/<namespace>`
    Packages { namespace: Login },
    /// `/api/packages/<name>`
    Package { repo: RepoName },
    /// `/api/packages/<name>/restore`
    PackageRestore { repo: RepoName },
    /// `/api/packages/<name>/versions`
    Versions { repo: RepoName },
    /// `/api/packages/<name>/versions/<digest>`
    Version { repo: RepoName, digest: Digest },
    /// `/api/packages/<name>/versions/<digest>/restore`
    VersionRestore { repo: RepoName, digest: Digest },
    /// `/api/packages/<name>/collaborators/<login>`
    Collaborator { repo: RepoName, login: Login },

    // Lifecycle, under `/api/packages/<name>/...` or `/api/namespaces/<namespace>/...`
    // (the scope): retention, untagging, webhooks.
    /// `<scope>/retention`
    Retention { scope: Scope },
    /// `/api/packages/<name>/retention/preview`
    RetentionPreview { repo: RepoName },
    /// `/api/packages/<name>/tags/<tag>`
    PackageTag { repo: RepoName, tag: Tag },
    /// `<scope>/webhooks`
    Webhooks { scope: Scope },
    /// `<scope>/webhooks/<id>`
    Webhook { scope: Scope, id: String },
    /// `<scope>/webhooks/<id>/deliveries`
    WebhookDeliveries { scope: Scope, id: String },
    /// `<scope>/trusted-publishers`: the CI jobs the scope trusts (trusted publishing).
    TrustedPublishers { scope: Scope },
    /// `<scope>/trusted-publishers/<id>`
    TrustedPublisher { scope: Scope, id: String },

    // Package pages: every other path.
    /// `/`: the front page.
    Home,
    /// `/<namespace>`
    NamespacePage { namespace: Login },
    /// `/<name>`
    PackagePage { repo: RepoName },
    /// `/<name>/badge.svg`: a public package's download count as an image.
    Badge { repo: RepoName },

    /// `/_contract`: the ports' contract over the real bindings, only when the Worker's
    /// test switch is on (`src/edge`); otherwise a page that does not exist.
    Contract,
}

/// The parts of the application, each with its own way of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Distribution,
    Token,
    Admin,
    Packages,
    Pages,
}

/// A path that names no endpoint of its surface, or one with an invalid part. It is
/// answered with `error` after the surface's access is checked (`Surface::access`), so
/// a path reveals no more to a caller than the surface would.
#[derive(Debug, Clone, PartialEq)]
pub struct Unrouted {
    pub surface: Surface,
    pub error: RegistryError,
}

/// What a request must bring before its handler runs; `serve` checks it, once.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Nothing, and no credentials are looked at: the answer is the same for everyone
    /// (a `/v2` path that names nothing).
    Public,
    /// Anyone, anonymous included; credentials presented must be valid. The handler
    /// decides what the caller sees (pages).
    Anyone,
    /// Any authenticated caller (`/v2/`, which clients probe to learn how to authenticate).
    Caller,
    /// A user's personal access token; the handler applies the package's rules.
    User,
    /// The operator's token.
    Operator,
    /// `Action` on the repository, as the access policy decides.
    Repository(RepoName, Action),
    /// The handler authenticates from the request itself: the token service, whose
    /// form may carry the credentials.
    Itself,
}

impl Surface {
    /// What any path of the surface requires, matched or not.
    pub fn access(self) -> Access {
        match self {
            Surface::Distribution => Access::Public,
            Surface::Token => Access::Itself,
            Surface::Pages => Access::Anyone,
            Surface::Admin => Access::Operator,
            Surface::Packages => Access::User,
        }
    }

    /// The log name of a path of the surface that names no endpoint.
    fn unrouted_name(self) -> &'static str {
        match self {
            Surface::Distribution => "unknown",
            Surface::Token => "token",
            Surface::Admin => "admin",
            Surface::Packages => "packages",
            Surface::Pages => "page",
        }
    }
}

impl Unrouted {
    pub fn name(&self) -> &'static str {
        self.surface.unrouted_name()
    }
}

const ADMIN: &str = "/admin/";
const PACKAGES: &str = "/api/packages/";
const NAMESPACES: &str = "/api/namespaces/";
const OIDC_TOKEN: &str = "/api/oidc/token";
const PUBLISHERS: &str = "trusted-publishers";

impl Route {
    /// The endpoint a request path names. Every path belongs to a surface: `/v2` and
    /// below to the distribution API, `/token`, `/admin/...`, `/api/packages/...`, and
    /// every other path to the package pages.
    pub fn parse(path: &str) -> std::result::Result<Route, Unrouted> {
        let (surface, parsed) = if path == "/v2" || path.starts_with("/v2/") {
            (Surface::Distribution, parse_distribution(path))
        } else if path == "/token" {
            (Surface::Token, Ok(Route::Token))
        } else if path == OIDC_TOKEN {
            (Surface::Token, Ok(Route::OidcToken))
        } else if let Some(rest) = path.strip_prefix(ADMIN) {
            (Surface::Admin, parse_admin(rest))
        } else if let Some(rest) = path.strip_prefix(PACKAGES) {
            (Surface::Packages, parse_packages(rest))
        } else if let Some(rest) = path.strip_prefix(NAMESPACES) {
            (Surface::Packages, parse_namespaces(rest))
        } else if path == "/_contract" {
            (Surface::Pages, Ok(Route::Contract))
        } else {
            (Surface::Pages, parse_page(path))
        };
        parsed.map_err(|error| Unrouted { surface, error })
    }

    /// The surface the route belongs to.
    pub fn surface(&self) -> Surface {
        use Route::*;
        match self {
            ApiBase
            | Blob { .. }
            | UploadStart { .. }
            | Upload { .. }
            | Manifest { .. }
            | Tags { .. }
            | Referrers { .. }
            | Catalog => Surface::Distribution,
            Token | OidcToken => Surface::Token,
            AdminUsers
            | AdminOrgs
            | AdminMember { .. }
            | AdminTokens { .. }
            | AdminToken { .. }
            | AdminSuspension { .. } => Surface::Admin,
            Packages { .. }
            | Package { .. }
            | PackageRestore { .. }
            | Versions { .. }
            | Version { .. }
            | VersionRestore { .. }
            | Collaborator { .. }
            | Retention { .. }
            | RetentionPreview { .. }
            | PackageTag { .. }
            | Webhooks { .. }
            | Webhook { .. }
            | WebhookDeliveries { .. }
            | TrustedPublishers { .. }
            | TrustedPublisher { .. } => Surface::Packages,
            Home | NamespacePage { .. } | PackagePage { .. } | Badge { .. } | Contract => Surface::Pages,
        }
    }

    /// The route's name in the request log.
    pub fn name(&self) -> &'static str {
        use Route::*;
        match self {
            ApiBase => "base",
            Blob { .. } => "blob",
            UploadStart { .. } => "upload-start",
            Upload { .. } => "upload",
            Manifest { .. } => "manifest",
            Tags { .. } => "tags",
            Referrers { .. } => "referrers",
            Catalog => "catalog",
            Token => "token",
            OidcToken => "oidc-token",
            AdminUsers => "admin-users",
            AdminOrgs => "admin-orgs",
            AdminMember { .. } => "admin-member",
            AdminTokens { .. } => "admin-tokens",
            AdminToken { .. } => "admin-token",
            AdminSuspension { .. } => "admin-suspension",
            Packages { .. } => "packages",
            Package { .. } => "package",
            PackageRestore { .. } => "package-restore",
            Versions { .. } => "versions",
            Version { .. } => "version",
            VersionRestore { .. } => "version-restore",
            Collaborator { .. } => "collaborator",
            Retention { .. } => "retention",
            RetentionPreview { .. } => "retention-preview",
            PackageTag { .. } => "package-tag",
            Webhooks { .. } => "webhooks",
            Webhook { .. } => "webhook",
            WebhookDeliveries { .. } => "webhook-deliveries",
            TrustedPublishers { .. } => "trusted-publishers",
            TrustedPublisher { .. } => "trusted-publisher",
            Badge { .. } => "badge",
            Home => "home",
            NamespacePage { .. } => "namespace-page",
            PackagePage { .. } => "package-page",
            Contract => "contract",
        }
    }

    /// What a request with `method` must bring. Unsupported methods on a repository
    /// count as pulls: they fail later, after authorization, so they reveal nothing either.
    pub fn access(&self, method: Method) -> Access {
        use Route::*;
        let action = match (self, method) {
            (ApiBase, _) => return Access::Caller,
            // Anyone may ask; the answer lists what the caller may read.
            (Catalog, _) => return Access::Anyone,
            // The same image for everyone: a badge is for READMEs, shown anonymously.
            (Badge { .. }, _) => return Access::Public,
            (UploadStart { .. } | Upload { .. }, _) => Action::Push,
            (Blob { .. } | Manifest { .. } | Tags { .. } | Referrers { .. }, Method::Get | Method::Head) => {
                Action::Pull
            }
            (Blob { .. } | Manifest { .. }, Method::Delete) => Action::Delete,
            (Manifest { .. }, _) => Action::Push,
            (Blob { .. } | Tags { .. } | Referrers { .. }, _) => Action::Pull,
            _ => return self.surface().access(),
        };
        let repo = self.repo().expect("a distribution route names a repository").clone();
        Access::Repository(repo, action)
    }

    /// The repository a route acts on, if any.
    pub fn repo(&self) -> Option<&RepoName> {
        use Route::*;
        match self {
            Blob { repo, .. }
            | UploadStart { repo }
            | Upload { repo, .. }
            | Manifest { repo, .. }
            | Tags { repo }
            | Referrers { repo, .. }
            | Package { repo }
            | PackageRestore { repo }
            | Versions { repo }
            | Version { repo, .. }
            | VersionRestore { repo, .. }
            | Collaborator { repo, .. }
            | RetentionPreview { repo }
            | PackageTag { repo, .. }
            | PackagePage { repo }
            | Badge { repo } => Some(repo),
            Retention { scope }
            | Webhooks { scope }
            | Webhook { scope, .. }
            | WebhookDeliveries { scope, .. }
            | TrustedPublishers { scope }
            | TrustedPublisher { scope, .. } => match scope {
                Scope::Package(repo) => Some(repo),
                Scope::Namespace(_) => None,
            },
            ApiBase
            | Catalog
            | Home
            | Token
            | OidcToken
            | AdminUsers
            | AdminOrgs
            | AdminMember { .. }
            | AdminTokens { .. }
            | AdminToken { .. }
            | AdminSuspension { .. }
            | Packages { .. }
            | NamespacePage { .. }
            | Contract => None,
        }
    }

    /// The path that reaches the route (no origin, no query): `Route::parse` reads it
    /// back as the same route.
    pub fn path(&self) -> String {
        use Route::*;
        match self {
            ApiBase => "/v2/".into(),
            Blob { repo, digest } => format!("/v2/{repo}/blobs/{digest}"),
            UploadStart { repo } => format!("/v2/{repo}/blobs/uploads/"),
            Upload { repo, id } => format!("/v2/{repo}/blobs/uploads/{id}"),
            Manifest { repo, reference } => format!("/v2/{repo}/manifests/{reference}"),
            Tags { repo } => format!("/v2/{repo}/tags/list"),
            Referrers { repo, digest } => format!("/v2/{repo}/referrers/{digest}"),
            Catalog => "/v2/_catalog".into(),
            Token => "/token".into(),
            OidcToken => OIDC_TOKEN.into(),
            AdminUsers => format!("{ADMIN}users"),
            AdminOrgs => format!("{ADMIN}orgs"),
            AdminMember { org, login } => format!("{ADMIN}orgs/{org}/members/{login}"),
            AdminTokens { login } => format!("{ADMIN}users/{login}/tokens"),
            AdminToken { id } => format!("{ADMIN}tokens/{id}"),
            AdminSuspension { login, suspend } => {
                format!("{ADMIN}users/{login}/{}", if *suspend { "suspend" } else { "unsuspend" })
            }
            Packages { namespace } => format!("{PACKAGES}{namespace}"),
            Package { repo } => format!("{PACKAGES}{repo}"),
            PackageRestore { repo } => format!("{PACKAGES}{repo}/restore"),
            Versions { repo } => format!("{PACKAGES}{repo}/versions"),
            Version { repo, digest } => format!("{PACKAGES}{repo}/versions/{digest}"),
            VersionRestore { repo, digest } => format!("{PACKAGES}{repo}/versions/{digest}/restore"),
            Collaborator { repo, login } => format!("{PACKAGES}{repo}/collaborators/{login}"),
            Retention { scope } => format!("{}/retention", scope_path(scope)),
            RetentionPreview { repo } => format!("{PACKAGES}{repo}/retention/preview"),
            PackageTag { repo, tag } => format!("{PACKAGES}{repo}/tags/{tag}"),
            Webhooks { scope } => format!("{}/webhooks", scope_path(scope)),
            Webhook { scope, id } => format!("{}/webhooks/{id}", scope_path(scope)),
            WebhookDeliveries { scope, id } => format!("{}/webhooks/{id}/deliveries", scope_path(scope)),
            TrustedPublishers { scope } => format!("{}/{PUBLISHERS}", scope_path(scope)),
            TrustedPublisher { scope, id } => format!("{}/{PUBLISHERS}/{id}", scope_path(scope)),
            Badge { repo } => format!("/{repo}/badge.svg"),
            Home => "/".into(),
            NamespacePage { namespace } => format!("/{namespace}"),
            PackagePage { repo } => format!("/{repo}"),
            Contract => "/_contract".into(),
        }
    }
}

/// Where a scope's lifecycle endpoints are.
fn scope_path(scope: &Scope) -> String {
    match scope {
        Scope::Package(repo) => format!("{PACKAGES}{repo}"),
        Scope::Namespace(ns) => format!("{NAMESPACES}{ns}"),
    }
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `/v2/...`: an unknown shape is 404; a known shape with an invalid part is that part's
/// error (`NAME_INVALID`, `DIGEST_INVALID`, ...).
fn parse_distribution(path: &str) -> Result<Route> {
    let unknown = || RegistryError::NotFound(format!("route {}", truncated(path)));
    let rest = path.strip_prefix("/v2").ok_or_else(unknown)?;
    if rest.is_empty() || rest == "/" {
        return Ok(Route::ApiBase);
    }
    if rest == "/_catalog" {
        return Ok(Route::Catalog);
    }
    let rest = rest.strip_prefix('/').ok_or_else(unknown)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name_of = |k: usize| RepoName::parse(&segs[..n - k].join("/"));
    let tail = |k: usize| &segs[n - k..];
    if n >= 3 && tail(2) == ["tags", "list"] {
        name_of(2).map(|repo| Route::Tags { repo })
    } else if n >= 3 && tail(2) == ["blobs", "uploads"] {
        name_of(2).map(|repo| Route::UploadStart { repo })
    } else if n >= 4 && tail(3)[..2] == ["blobs", "uploads"] {
        let id = segs[n - 1];
        name_of(3).map(|repo| match id {
            "" => Route::UploadStart { repo },
            _ => Route::Upload { repo, id: id.to_string() },
        })
    } else if n >= 3 && segs[n - 2] == "manifests" {
        let repo = name_of(2)?;
        Reference::parse(segs[n - 1]).map(|reference| Route::Manifest { repo, reference })
    } else if n >= 3 && segs[n - 2] == "blobs" {
        let repo = name_of(2)?;
        Digest::parse(segs[n - 1]).map(|digest| Route::Blob { repo, digest })
    } else if n >= 3 && segs[n - 2] == "referrers" {
        let repo = name_of(2)?;
        Digest::parse(segs[n - 1]).map(|digest| Route::Referrers { repo, digest })
    } else {
        Err(unknown())
    }
}

/// `/admin/...`, after the prefix.
fn parse_admin(rest: &str) -> Result<Route> {
    let segs: Vec<&str> = rest.split('/').collect();
    Ok(match segs.as_slice() {
        ["users"] => Route::AdminUsers,
        ["orgs"] => Route::AdminOrgs,
        ["orgs", org, "members", login] => Route::AdminMember { org: org.to_string(), login: login.to_string() },
        ["users", login, "tokens"] => Route::AdminTokens { login: login.to_string() },
        ["tokens", id] => Route::AdminToken { id: id.to_string() },
        ["users", login, "suspend"] => Route::AdminSuspension { login: login.to_string(), suspend: true },
        ["users", login, "unsuspend"] => Route::AdminSuspension { login: login.to_string(), suspend: false },
        _ => return Err(RegistryError::NotFound(format!("admin route {}", truncated(rest)))),
    })
}

/// `/api/packages/...`, after the prefix. What a caller may not read is absent, so an
/// invalid name or digest is 404 like a missing one.
fn parse_packages(rest: &str) -> Result<Route> {
    let not_found = || RegistryError::NotFound("package".into());
    let name = |n: &str| RepoName::parse(n).map_err(|_| not_found());
    let digest = |d: &str| Digest::parse(d).map_err(|_| RegistryError::NotFound("version".into()));
    if let Some(n) = rest.strip_suffix("/retention/preview") {
        return Ok(Route::RetentionPreview { repo: name(n)? });
    }
    if let Some((n, tag)) = rest.rsplit_once("/tags/") {
        let repo = name(n)?;
        return Ok(Route::PackageTag { repo, tag: Tag::parse(tag)? });
    }
    if let Some((n, lifecycle)) = split_lifecycle(rest) {
        return lifecycle.route(Scope::Package(name(n)?));
    }
    if let Some((n, login)) = rest.rsplit_once("/collaborators/") {
        return Ok(Route::Collaborator { repo: name(n)?, login: Login::parse(login)? });
    }
    if let Some((n, rest)) = rest.rsplit_once("/versions/") {
        return Ok(match rest.strip_suffix("/restore") {
            Some(d) => Route::VersionRestore { repo: name(n)?, digest: digest(d)? },
            None => Route::Version { repo: name(n)?, digest: digest(rest)? },
        });
    }
    if let Some(n) = rest.strip_suffix("/versions") {
        return Ok(Route::Versions { repo: name(n)? });
    }
    if let Some(n) = rest.strip_suffix("/restore") {
        return Ok(Route::PackageRestore { repo: name(n)? });
    }
    if !rest.contains('/') {
        return Ok(Route::Packages { namespace: Login::parse(rest).map_err(|_| not_found())? });
    }
    Ok(Route::Package { repo: name(rest)? })
}

/// `/api/namespaces/...`, after the prefix: a namespace's lifecycle endpoints.
fn parse_namespaces(rest: &str) -> Result<Route> {
    let (ns, lifecycle) = split_lifecycle(rest).ok_or_else(|| RegistryError::NotFound("route".into()))?;
    let ns = Login::parse(ns).map_err(|_| RegistryError::NotFound("namespace".into()))?;
    lifecycle.route(Scope::Namespace(ns.to_string()))
}

/// What follows a scope (a package's name or a namespace) in a path of the scope's
/// settings: lifecycle, and the trusted publishers.
enum Lifecycle<'a> {
    Retention,
    Webhooks,
    Webhook(&'a str),
    Deliveries(&'a str),
    Publishers,
    Publisher(&'a str),
}

impl Lifecycle<'_> {
    fn route(self, scope: Scope) -> Result<Route> {
        let id = |id: &str| {
            let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
            valid.then(|| id.to_string()).ok_or_else(|| RegistryError::NotFound("webhook".into()))
        };
        Ok(match self {
            Lifecycle::Retention => Route::Retention { scope },
            Lifecycle::Webhooks => Route::Webhooks { scope },
            Lifecycle::Webhook(i) => Route::Webhook { scope, id: id(i)? },
            Lifecycle::Deliveries(i) => Route::WebhookDeliveries { scope, id: id(i)? },
            Lifecycle::Publishers => Route::TrustedPublishers { scope },
            Lifecycle::Publisher(i) => Route::TrustedPublisher {
                scope,
                id: id(i).map_err(|_| RegistryError::NotFound("trusted publisher".into()))?,
            },
        })
    }
}

/// Splits `<scope>/<lifecycle endpoint>`, reading from the right.
fn split_lifecycle(path: &str) -> Option<(&str, Lifecycle<'_>)> {
    if let Some(n) = path.strip_suffix("/retention") {
        return Some((n, Lifecycle::Retention));
    }
    if let Some(n) = path.strip_suffix("/webhooks") {
        return Some((n, Lifecycle::Webhooks));
    }
    if let Some(n) = path.strip_suffix(&format!("/{PUBLISHERS}")) {
        return Some((n, Lifecycle::Publishers));
    }
    if let Some((n, id)) = path.rsplit_once(&format!("/{PUBLISHERS}/")) {
        return Some((n, Lifecycle::Publisher(id)));
    }
    if let Some((n, id)) = path.strip_suffix("/deliveries").and_then(|p| p.rsplit_once("/webhooks/")) {
        return Some((n, Lifecycle::Deliveries(id)));
    }
    path.rsplit_once("/webhooks/").map(|(n, id)| (n, Lifecycle::Webhook(id)))
}

/// Any other path: a namespace's page, a package's, or a package's badge.
fn parse_page(path: &str) -> Result<Route> {
    if path == "/" {
        return Ok(Route::Home);
    }
    let path = path.trim_matches('/');
    if let Some(name) = path.strip_suffix("/badge.svg") {
        let repo = RepoName::parse(name).map_err(|_| RegistryError::NotFound("package".into()))?;
        return Ok(Route::Badge { repo });
    }
    if !path.contains('/') {
        let namespace = Login::parse(path).map_err(|_| RegistryError::NotFound("namespace".into()))?;
        return Ok(Route::NamespacePage { namespace });
    }
    let repo = RepoName::parse(path).map_err(|_| RegistryError::NotFound("package".into()))?;
    Ok(Route::PackagePage { repo })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> Route {
        Route::parse(path).unwrap()
    }
    fn d() -> String {
        format!("sha256:{}", "a".repeat(64))
    }
    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }
    fn login(s: &str) -> Login {
        Login::parse(s).unwrap()
    }

    #[test]
    fn base() {
        assert_eq!(ok("/v2/"), Route::ApiBase);
        assert_eq!(ok("/v2"), Route::ApiBase);
    }

    #[test]
    fn names_with_slashes_and_route_words() {
        match ok(&format!("/v2/acme/blobs/manifests/blobs/{}", d())) {
            Route::Blob { repo, .. } => assert_eq!(repo.as_str(), "acme/blobs/manifests"),
            r => panic!("{r:?}"),
        }
        match ok("/v2/acme/tags/list/tags/list") {
            Route::Tags { repo } => assert_eq!(repo.as_str(), "acme/tags/list"),
            r => panic!("{r:?}"),
        }
        match ok("/v2/a/b/c/manifests/latest") {
            Route::Manifest { repo, reference } => {
                assert_eq!(repo.as_str(), "a/b/c");
                assert_eq!(reference.to_string(), "latest");
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn uploads() {
        assert!(matches!(ok("/v2/a/b/blobs/uploads/"), Route::UploadStart { .. }));
        assert!(matches!(ok("/v2/a/b/blobs/uploads"), Route::UploadStart { .. }));
        match ok("/v2/a/b/blobs/uploads/0123abcd") {
            Route::Upload { repo, id } => {
                assert_eq!(repo.as_str(), "a/b");
                assert_eq!(id, "0123abcd");
            }
            r => panic!("{r:?}"),
        }
        // A repository may be named .../blobs/uploads.
        match ok(&format!("/v2/a/blobs/uploads/blobs/{}", d())) {
            Route::Blob { repo, .. } => assert_eq!(repo.as_str(), "a/blobs/uploads"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn referrers() {
        assert!(matches!(ok(&format!("/v2/a/b/referrers/{}", d())), Route::Referrers { .. }));
    }

    #[test]
    fn invalid_parts_are_errors_of_the_right_code() {
        let code = |p: &str| Route::parse(p).unwrap_err().error.code();
        assert_eq!(code("/v2/A/b/tags/list"), "NAME_INVALID");
        assert_eq!(code("/v2/a//b/manifests/latest"), "NAME_INVALID");
        assert_eq!(code("/v2/solo/manifests/latest"), "NAME_INVALID");
        assert_eq!(code("/v2/a/b/manifests/bad:digest"), "DIGEST_INVALID");
        assert_eq!(code("/v2/a/b/manifests/-tag"), "MANIFEST_INVALID");
        assert_eq!(code("/v2/a/b/blobs/md5:00"), "DIGEST_INVALID");
    }

    #[test]
    fn unknown_shapes_are_unrouted_in_their_surface() {
        let unrouted = |p: &str| Route::parse(p).unwrap_err();
        for p in ["/v2/a/b/other/x", "/v2/a"] {
            let u = unrouted(p);
            assert_eq!((u.surface, u.error.code()), (Surface::Distribution, "NOT_FOUND"), "{p}");
            assert_eq!(u.surface.access(), Access::Public, "answered before any credential is read");
        }
        let admin = unrouted("/admin/users/alice");
        assert_eq!((admin.surface, admin.surface.access()), (Surface::Admin, Access::Operator));
        assert_eq!(unrouted("/admin/").surface, Surface::Admin);
        let package = unrouted("/api/packages/Alice/app");
        assert_eq!((package.surface, package.surface.access()), (Surface::Packages, Access::User));
        assert_eq!(ok("/"), Route::Home);
        assert_eq!(ok("/v2/_catalog"), Route::Catalog);
        assert_eq!(unrouted("/v2/_catalog/x").surface, Surface::Distribution);
        assert_eq!(ok("/v3/"), Route::NamespacePage { namespace: login("v3") });
        // Without the trailing slash these are pages' paths, as they always were.
        assert_eq!(ok("/admin"), Route::NamespacePage { namespace: login("admin") });
        assert_eq!(ok("/api/packages"), Route::PackagePage { repo: repo("api/packages") });
    }

    #[test]
    fn every_surface_is_routed() {
        assert_eq!(ok("/token"), Route::Token);
        assert_eq!(ok("/admin/users"), Route::AdminUsers);
        assert_eq!(ok("/admin/orgs/acme/members/bob"), Route::AdminMember { org: "acme".into(), login: "bob".into() });
        assert_eq!(ok("/admin/users/Bad!/tokens"), Route::AdminTokens { login: "Bad!".into() });
        assert_eq!(ok("/admin/tokens/t1"), Route::AdminToken { id: "t1".into() });
        assert_eq!(ok("/api/packages/acme"), Route::Packages { namespace: login("acme") });
        assert_eq!(ok("/api/packages/acme/a/b"), Route::Package { repo: repo("acme/a/b") });
        assert_eq!(ok("/acme"), Route::NamespacePage { namespace: login("acme") });
        assert_eq!(ok("/acme/a/b/"), Route::PackagePage { repo: repo("acme/a/b") });
        assert_eq!(ok("/_contract"), Route::Contract);
    }

    #[test]
    fn package_api_paths_read_route_words_from_the_right() {
        let digest = Digest::parse(&d()).unwrap();
        assert_eq!(
            ok(&format!("/api/packages/acme/versions/app/versions/{}/restore", d())),
            Route::VersionRestore { repo: repo("acme/versions/app"), digest: digest.clone() }
        );
        assert_eq!(
            ok("/api/packages/acme/collaborators/x/collaborators/bob"),
            Route::Collaborator { repo: repo("acme/collaborators/x"), login: login("bob") }
        );
        assert_eq!(
            ok("/api/packages/acme/restore/app/restore"),
            Route::PackageRestore { repo: repo("acme/restore/app") }
        );
        // A package whose name ends in a route word cannot be named by the package API:
        // `acme/versions` reads as the versions of `acme`, which is no package name.
        assert_eq!(Route::parse("/api/packages/acme/versions").unwrap_err().error.code(), "NOT_FOUND");
        assert_eq!(Route::parse("/api/packages/acme/app/versions/sha256:zz").unwrap_err().error.code(), "NOT_FOUND");
        assert_eq!(Route::parse("/api/packages/acme/app/collaborators/Bob").unwrap_err().error.code(), "BAD_REQUEST");
    }

    #[test]
    fn every_route_reads_back_from_its_path() {
        let digest = Digest::parse(&d()).unwrap();
        let tricky = repo("acme/blobs/uploads/manifests/tags/list");
        let routes = [
            Route::ApiBase,
            Route::Blob { repo: tricky.clone(), digest: digest.clone() },
            Route::UploadStart { repo: tricky.clone() },
            Route::Upload { repo: tricky.clone(), id: "0123abcd".into() },
            Route::Manifest { repo: tricky.clone(), reference: Reference::parse("v1.0").unwrap() },
            Route::Manifest { repo: tricky.clone(), reference: Reference::Digest(digest.clone()) },
            Route::Tags { repo: tricky.clone() },
            Route::Referrers { repo: tricky.clone(), digest: digest.clone() },
            Route::Token,
            Route::AdminUsers,
            Route::AdminOrgs,
            Route::AdminMember { org: "acme".into(), login: "bob".into() },
            Route::AdminTokens { login: "bob".into() },
            Route::AdminToken { id: "t1".into() },
            Route::Packages { namespace: login("acme") },
            Route::Package { repo: repo("acme/app/blobs") },
            Route::PackageRestore { repo: repo("acme/app") },
            Route::Versions { repo: repo("acme/app") },
            Route::Version { repo: repo("acme/app"), digest: digest.clone() },
            Route::VersionRestore { repo: repo("acme/app"), digest: digest.clone() },
            Route::Collaborator { repo: repo("acme/app"), login: login("bob") },
            Route::OidcToken,
            Route::TrustedPublishers { scope: Scope::Package(repo("acme/trusted-publishers/app")) },
            Route::TrustedPublisher { scope: Scope::Package(repo("acme/app")), id: "0a1b".into() },
            Route::TrustedPublishers { scope: Scope::Namespace("acme".into()) },
            Route::TrustedPublisher { scope: Scope::Namespace("acme".into()), id: "0a1b".into() },
            Route::NamespacePage { namespace: login("acme") },
            Route::PackagePage { repo: repo("acme/v2/app") },
            Route::Contract,
            Route::Home,
            Route::Catalog,
        ];
        for route in routes {
            assert_eq!(Route::parse(&route.path()), Ok(route.clone()), "{}", route.path());
            assert!(!route.name().is_empty());
        }
    }

    fn ns_acme() -> Scope {
        Scope::Namespace("acme".into())
    }

    #[test]
    fn lifecycle_paths_are_read_from_the_right() {
        let pkg = |s: &str| Scope::Package(repo(s));
        assert_eq!(ok("/api/packages/a/b/retention"), Route::Retention { scope: pkg("a/b") });
        assert_eq!(ok("/api/packages/a/b/c/retention/preview"), Route::RetentionPreview { repo: repo("a/b/c") });
        assert_eq!(
            ok("/api/packages/a/tags/tags/v1"),
            Route::PackageTag { repo: repo("a/tags"), tag: Tag::parse("v1").unwrap() }
        );
        assert_eq!(ok("/api/packages/a/webhooks/webhooks"), Route::Webhooks { scope: pkg("a/webhooks") });
        assert_eq!(
            ok("/api/packages/a/b/webhooks/00ff/deliveries"),
            Route::WebhookDeliveries { scope: pkg("a/b"), id: "00ff".into() }
        );
        let ns = Scope::Namespace("acme".into());
        assert_eq!(ok("/api/namespaces/acme/retention"), Route::Retention { scope: ns.clone() });
        assert_eq!(ok("/api/namespaces/acme/webhooks/ab12"), Route::Webhook { scope: ns, id: "ab12".into() });
        assert_eq!(ok("/acme/app/badge.svg"), Route::Badge { repo: repo("acme/app") });
        let status = |p: &str| Route::parse(p).unwrap_err().error.status();
        assert_eq!(status("/api/packages/a/b/webhooks/x!"), 404);
        assert_eq!(status("/api/packages/a/b/tags/-bad"), 400);
        assert_eq!(status("/api/namespaces/acme"), 404);
        assert_eq!(status("/api/namespaces/Bad/retention"), 404);
        assert_eq!(ok("/api/oidc/token"), Route::OidcToken);
        assert_eq!(ok("/api/namespaces/acme/trusted-publishers"), Route::TrustedPublishers { scope: ns_acme() });
        assert_eq!(status("/api/namespaces/acme/trusted-publishers/x!"), 404);
        assert_eq!(status("/api/packages/acme/app/trusted-publishers/zz"), 404);
        for route in [
            Route::Retention { scope: pkg("a/b") },
            Route::Webhooks { scope: Scope::Namespace("acme".into()) },
            Route::PackageTag { repo: repo("a/b"), tag: Tag::parse("v1").unwrap() },
            Route::Badge { repo: repo("a/b") },
        ] {
            assert_eq!(ok(&route.path()), route);
        }
        assert_eq!(Route::Badge { repo: repo("a/b") }.access(Method::Get), Access::Public);
        assert_eq!(Route::Retention { scope: pkg("a/b") }.access(Method::Put), Access::User);
    }

    #[test]
    fn access_follows_the_method() {
        let r = repo("a/b");
        let manifest = Route::Manifest { repo: r.clone(), reference: Reference::parse("v1").unwrap() };
        let blob = Route::Blob { repo: r.clone(), digest: Digest::parse(&d()).unwrap() };
        let needs = |route: &Route, m: Method| route.access(m);
        assert_eq!(needs(&manifest, Method::Get), Access::Repository(r.clone(), Action::Pull));
        assert_eq!(needs(&manifest, Method::Put), Access::Repository(r.clone(), Action::Push));
        assert_eq!(needs(&manifest, Method::Delete), Access::Repository(r.clone(), Action::Delete));
        assert_eq!(needs(&blob, Method::Patch), Access::Repository(r.clone(), Action::Pull));
        assert_eq!(
            needs(&Route::Upload { repo: r.clone(), id: "x".into() }, Method::Get),
            Access::Repository(r.clone(), Action::Push)
        );
        assert_eq!(needs(&Route::ApiBase, Method::Get), Access::Caller);
        assert_eq!(needs(&Route::Token, Method::Post), Access::Itself);
        assert_eq!(needs(&Route::AdminUsers, Method::Post), Access::Operator);
        assert_eq!(needs(&Route::Package { repo: r.clone() }, Method::Delete), Access::User);
        assert_eq!(needs(&Route::PackagePage { repo: r }, Method::Get), Access::Anyone);
    }
}
