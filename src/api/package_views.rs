//! What a viewer may see of packages: a namespace's packages, and one package with its
//! versions. The package API and the package pages both show this, under the same rules
//! as pulls: public packages to anyone, private ones to those who may read them.

use super::{gate, App};
use crate::auth::identity::{IdentityStore, Package, Standing};
use crate::auth::policy::{self, Facts, Relation};
use crate::auth::{Action, Login, Role, Scopes};
use crate::error::{RegistryError, Result};
use crate::oci::metadata::PackageMetadata;
use crate::oci::RepoName;
use crate::registry::ports::Version;
use crate::registry::versions::MAX_VERSIONS;
use crate::registry::Platform;
use std::collections::HashMap;

/// The most packages one namespace listing shows.
pub const MAX_PACKAGES: u32 = 200;

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

    /// The facts of a package listed with the viewer's standing on it.
    pub fn facts_of(&self, standing: &Standing) -> Facts {
        let relation = match self.login() {
            Some(login) if standing.package.repo.namespace() == login.as_str() => Relation::Own,
            Some(_) => standing.org_role.map_or(Relation::Stranger, Relation::Org),
            None => Relation::Stranger,
        };
        let granted = self.login().and(standing.granted);
        Facts { visibility: Some(standing.package.visibility), granted, relation }
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

/// The namespace's packages the viewer may read, by name, each with the version that
/// speaks for it; in a few round trips whatever their number.
pub async fn namespace<P: Platform>(app: &App<P>, namespace: &Login, viewer: &Viewer) -> Result<Vec<PackageView>> {
    if app.identity.account(namespace).await?.is_none() {
        return Err(RegistryError::NotFound(format!("namespace {namespace}")));
    }
    let standings = app.identity.standings_in(namespace.as_str(), viewer.login(), MAX_PACKAGES).await?;
    let readable: Vec<(Package, Facts)> = standings
        .into_iter()
        .map(|s| {
            let facts = viewer.facts_of(&s);
            (s.package, facts)
        })
        .filter(|(_, facts)| viewer.may(facts, Action::Pull))
        .collect();
    listed(app, readable).await
}

/// The most packages one page of the front page lists.
pub const HOME_PAGE_SIZE: u32 = 30;

/// A page of public packages, newest first, whose names contain `search`, created
/// before `before`; and where the next page starts, when there is one.
pub async fn public<P: Platform>(
    app: &App<P>,
    search: &str,
    before: Option<&(u64, String)>,
) -> Result<(Vec<PackageView>, Option<(u64, String)>)> {
    let mut packages = app.identity.public_packages(search, before, HOME_PAGE_SIZE + 1).await?;
    let next = match packages.len() > HOME_PAGE_SIZE as usize {
        true => {
            packages.truncate(HOME_PAGE_SIZE as usize);
            packages.last().map(|p| (p.created_ms, p.repo.to_string()))
        }
        false => None,
    };
    let facts = |p: &Package| Facts { visibility: Some(p.visibility), granted: None, relation: Relation::Stranger };
    let listed_packages = packages.into_iter().map(|p| (facts(&p), p)).map(|(f, p)| (p, f)).collect();
    Ok((listed(app, listed_packages).await?, next))
}

/// Packages with the version that speaks for each, read in one round trip.
pub async fn listed<P: Platform>(app: &App<P>, packages: Vec<(Package, Facts)>) -> Result<Vec<PackageView>> {
    let repos: Vec<RepoName> = packages.iter().map(|(p, _)| p.repo.clone()).collect();
    let mut current: HashMap<RepoName, Version> = app.registry.current_versions(&repos).await?.into_iter().collect();
    Ok(packages
        .into_iter()
        .map(|(package, facts)| {
            let versions = current.remove(&package.repo).into_iter().collect();
            PackageView { package, versions, facts }
        })
        .collect())
}
