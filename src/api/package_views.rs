//! What a viewer may see of packages: a namespace's packages, and one package with its
//! versions. The package API and the package pages both show this, under the same rules
//! as pulls: public packages to anyone, private ones to those who may read them.

use super::{gate, App};
use crate::auth::identity::{IdentityStore, Package};
use crate::auth::policy::{self, Facts};
use crate::auth::{Action, Login, Role, Scopes};
use crate::error::{RegistryError, Result};
use crate::oci::metadata::PackageMetadata;
use crate::oci::RepoName;
use crate::registry::ports::Version;
use crate::registry::versions::MAX_VERSIONS;
use crate::registry::Platform;

/// The most packages one namespace listing shows.
pub const MAX_PACKAGES: u32 = 100;
/// How many versions of each package a namespace listing looks at.
const RECENT_VERSIONS: u32 = 20;

/// Who is looking: a user with a PAT's scopes, or nobody.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    pub user: Option<(Login, Scopes)>,
}

impl Viewer {
    pub fn login(&self) -> Option<&Login> {
        self.user.as_ref().map(|(l, _)| l)
    }

    fn scopes(&self) -> Option<&Scopes> {
        self.user.as_ref().map(|(_, s)| s)
    }

    /// What the viewer may do to `repo`, and what the decision was based on.
    pub async fn facts<I: IdentityStore>(&self, identity: &I, repo: &RepoName) -> Result<Facts> {
        Ok(gate::gather(identity, repo, self.login()).await?.facts)
    }

    pub fn may(&self, facts: &Facts, action: Action) -> bool {
        facts.visibility.is_some() && policy::decide(self.scopes(), facts, action)
    }

    /// Whether the viewer administers the package with a token that may change it.
    pub fn administers(&self, facts: &Facts) -> bool {
        self.scopes().is_some_and(|s| s.write) && facts.role() == Some(Role::Admin)
    }
}

/// A package and its versions, newest first.
#[derive(Debug)]
pub struct PackageView {
    pub package: Package,
    pub versions: Vec<Version>,
    pub facts: Facts,
}

impl PackageView {
    /// The version that speaks for the package: the newest tagged one, else the newest.
    pub fn current(&self) -> Option<&Version> {
        self.versions.iter().find(|v| !v.tags.is_empty()).or(self.versions.first())
    }

    pub fn metadata(&self) -> PackageMetadata {
        self.current().map(|v| v.manifest.details.metadata.clone()).unwrap_or_default()
    }

    /// The tag a pull command should name: `latest` if there is one, else the newest tag.
    pub fn pull_tag(&self) -> Option<&str> {
        let mut tags = self.versions.iter().flat_map(|v| v.tags.iter().map(String::as_str));
        if tags.clone().any(|t| t == "latest") {
            return Some("latest");
        }
        tags.next()
    }
}

/// The package, if the viewer may read it; otherwise it is as good as absent.
pub async fn package<P: Platform>(app: &App<P>, repo: &RepoName, viewer: &Viewer) -> Result<PackageView> {
    let facts = viewer.facts(&app.identity, repo).await?;
    if !viewer.may(&facts, Action::Pull) {
        return Err(RegistryError::NotFound("package".into()));
    }
    let package = app.identity.package(repo).await?.ok_or_else(|| RegistryError::NotFound("package".into()))?;
    Ok(PackageView { package, versions: app.registry.versions(repo, MAX_VERSIONS).await?, facts })
}

/// The namespace's packages the viewer may read, by name.
pub async fn namespace<P: Platform>(app: &App<P>, namespace: &Login, viewer: &Viewer) -> Result<Vec<PackageView>> {
    if app.identity.account(namespace).await?.is_none() {
        return Err(RegistryError::NotFound(format!("namespace {namespace}")));
    }
    let mut visible = vec![];
    for package in app.identity.packages_in(namespace.as_str(), MAX_PACKAGES).await? {
        let facts = viewer.facts(&app.identity, &package.repo).await?;
        if viewer.may(&facts, Action::Pull) {
            // The newest few are enough to find the version that speaks for the package.
            let versions = app.registry.versions(&package.repo, RECENT_VERSIONS).await?;
            visible.push(PackageView { package, versions, facts });
        }
    }
    Ok(visible)
}
