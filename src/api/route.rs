//! The route table: every URL the registry answers, parsed in one place. Repository
//! names contain slashes, so `/v2/` paths are read from the right.

use super::Method;
use crate::auth::Action;
use crate::error::Result;
use crate::oci::{Digest, Reference, RepoName};

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
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
}

impl Route {
    /// Parses a request path. `None` means no route has this shape (404); `Some(Err)`
    /// means the shape matched but a part of it is invalid.
    pub fn parse(path: &str) -> Option<Result<Route>> {
        let rest = path.strip_prefix("/v2")?;
        if rest.is_empty() || rest == "/" {
            return Some(Ok(Route::ApiBase));
        }
        let rest = rest.strip_prefix('/')?;
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name_of = |k: usize| RepoName::parse(&segs[..n - k].join("/"));
        let tail = |k: usize| &segs[n - k..];
        let route = if n >= 3 && tail(2) == ["tags", "list"] {
            name_of(2).map(|repo| Route::Tags { repo })
        } else if n >= 3 && tail(2) == ["blobs", "uploads"] {
            name_of(2).map(|repo| Route::UploadStart { repo })
        } else if n >= 4 && tail(3)[..2] == ["blobs", "uploads"] {
            let id = segs[n - 1];
            name_of(3).map(|repo| {
                if id.is_empty() {
                    Route::UploadStart { repo }
                } else {
                    Route::Upload { repo, id: id.to_string() }
                }
            })
        } else if n >= 3 && segs[n - 2] == "manifests" {
            name_of(2)
                .and_then(|repo| Reference::parse(segs[n - 1]).map(|reference| Route::Manifest { repo, reference }))
        } else if n >= 3 && segs[n - 2] == "blobs" {
            name_of(2).and_then(|repo| Digest::parse(segs[n - 1]).map(|digest| Route::Blob { repo, digest }))
        } else if n >= 3 && segs[n - 2] == "referrers" {
            name_of(2).and_then(|repo| Digest::parse(segs[n - 1]).map(|digest| Route::Referrers { repo, digest }))
        } else {
            return None;
        };
        Some(route)
    }

    /// The repository a request acts on and what it does to it; `None` for `/v2/`.
    /// Unsupported methods count as pulls: they fail later, after authorization, so
    /// they reveal nothing either.
    pub fn access(&self, method: Method) -> Option<(RepoName, Action)> {
        let repo = self.repo()?.clone();
        let action = match (self, method) {
            (Route::UploadStart { .. } | Route::Upload { .. }, _) => Action::Push,
            (_, Method::Get | Method::Head) => Action::Pull,
            (Route::Blob { .. } | Route::Manifest { .. }, Method::Delete) => Action::Delete,
            (Route::Manifest { .. }, _) => Action::Push,
            _ => Action::Pull,
        };
        Some((repo, action))
    }

    /// The route's name in the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Route::ApiBase => "base",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } => "upload-start",
            Route::Upload { .. } => "upload",
            Route::Manifest { .. } => "manifest",
            Route::Tags { .. } => "tags",
            Route::Referrers { .. } => "referrers",
        }
    }

    /// The repository a route acts on.
    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            Route::ApiBase => None,
            Route::Blob { repo, .. }
            | Route::UploadStart { repo }
            | Route::Upload { repo, .. }
            | Route::Manifest { repo, .. }
            | Route::Tags { repo }
            | Route::Referrers { repo, .. } => Some(repo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> Route {
        Route::parse(path).unwrap().unwrap()
    }
    fn d() -> String {
        format!("sha256:{}", "a".repeat(64))
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
        let code = |p: &str| Route::parse(p).unwrap().unwrap_err().code();
        assert_eq!(code("/v2/A/b/tags/list"), "NAME_INVALID");
        assert_eq!(code("/v2/a//b/manifests/latest"), "NAME_INVALID");
        assert_eq!(code("/v2/solo/manifests/latest"), "NAME_INVALID");
        assert_eq!(code("/v2/a/b/manifests/bad:digest"), "DIGEST_INVALID");
        assert_eq!(code("/v2/a/b/manifests/-tag"), "MANIFEST_INVALID");
        assert_eq!(code("/v2/a/b/blobs/md5:00"), "DIGEST_INVALID");
    }

    #[test]
    fn unknown_shapes_are_none() {
        assert!(Route::parse("/").is_none());
        assert!(Route::parse("/v3/").is_none());
        assert!(Route::parse("/v2/a/b/other/x").is_none());
        assert!(Route::parse("/v2/a").is_none());
    }
}
