//! Trust policies ("trusted publishers") and the pure decision of what a verified CI
//! identity may do under them.

use super::claims::Identity;
use crate::auth::Action;
use crate::error::{RegistryError, Result};
use serde::{Deserialize, Serialize};

/// The checks of a policy, in the order they are made. A refusal names the furthest
/// check any policy reached, so a job learns what to fix about itself (its workflow, its
/// environment) but nothing about policies for other repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    Issuer,
    Repository,
    OwnerId,
    Workflow,
    Environment,
    Ref,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            // A policy for another issuer is a policy for another repository, as far as
            // the job can tell.
            Check::Issuer | Check::Repository => "repository",
            Check::OwnerId => "repository owner id",
            Check::Workflow => "workflow",
            Check::Environment => "environment",
            Check::Ref => "ref",
        }
    }
}

/// A trusted publisher: which CI jobs may act on a package (or on every package of a
/// namespace), and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedPublisher {
    pub issuer: String,
    /// `OWNER/REPO`, compared case-insensitively.
    pub repository: String,
    /// Compared exactly when set, so a deleted and re-created owner does not inherit trust.
    pub repository_owner_id: Option<String>,
    /// The workflow file, such as `release.yml`, compared exactly.
    pub workflow: String,
    /// Compared case-insensitively when set (CI platforms treat environment names so).
    pub environment: Option<String>,
    /// A git ref pattern such as `refs/tags/v*` (`*` matches any run of characters).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub actions: Vec<Action>,
}

const MAX_FIELD: usize = 256;

fn field(name: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty() && value.len() <= MAX_FIELD && !value.chars().any(char::is_control);
    ok.then_some(())
        .ok_or_else(|| RegistryError::BadRequest(format!("{name} must be 1 to {MAX_FIELD} printable characters")))
}

impl TrustedPublisher {
    /// A policy as a client submits it, checked. `actions` defaults to pull and push;
    /// push and delete include pull, as every pushing client reads too.
    pub fn new(mut p: TrustedPublisher) -> Result<TrustedPublisher> {
        field("issuer", &p.issuer)?;
        field("repository", &p.repository)?;
        field("workflow", &p.workflow)?;
        let repo_ok = p.repository.split('/').count() >= 2
            && p.repository
                .split('/')
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        if !repo_ok {
            return Err(RegistryError::BadRequest("repository must be OWNER/REPO".into()));
        }
        if p.workflow.starts_with('/') || p.workflow.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(RegistryError::BadRequest("workflow must be a file name such as release.yml".into()));
        }
        if let Some(id) = &p.repository_owner_id {
            if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RegistryError::BadRequest("repository_owner_id must be a number".into()));
            }
        }
        for (name, value) in [("environment", &p.environment), ("ref", &p.git_ref)] {
            if let Some(v) = value {
                field(name, v)?;
            }
        }
        if p.actions.is_empty() {
            p.actions = vec![Action::Pull, Action::Push];
        }
        p.actions.push(Action::Pull);
        p.actions.sort();
        p.actions.dedup();
        Ok(p)
    }

    /// The first check this policy fails for `id`, or `None` when it trusts the job.
    pub fn mismatch(&self, id: &Identity) -> Option<Check> {
        if self.issuer != id.issuer {
            return Some(Check::Issuer);
        }
        if !self.repository.eq_ignore_ascii_case(&id.repository) {
            return Some(Check::Repository);
        }
        if self.repository_owner_id.as_ref().is_some_and(|want| id.repository_owner_id.as_ref() != Some(want)) {
            return Some(Check::OwnerId);
        }
        if !id.workflows.contains(&self.workflow) {
            return Some(Check::Workflow);
        }
        let env_ok = match (&self.environment, &id.environment) {
            (None, _) => true,
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
            (Some(_), None) => false,
        };
        if !env_ok {
            return Some(Check::Environment);
        }
        let ref_ok = match (&self.git_ref, &id.git_ref) {
            (None, _) => true,
            (Some(pattern), Some(r)) => glob(pattern, r),
            (Some(_), None) => false,
        };
        (!ref_ok).then_some(Check::Ref)
    }
}

/// What `id` may do under `policies`: the union of the actions of those that trust it,
/// or the furthest check any of them failed (`Repository` when there are none).
pub fn grant<'a>(
    policies: impl IntoIterator<Item = &'a TrustedPublisher>,
    id: &Identity,
) -> Result<Vec<Action>, Check> {
    let mut actions = vec![];
    let mut furthest = Check::Repository;
    for p in policies {
        match p.mismatch(id) {
            None => actions.extend_from_slice(&p.actions),
            Some(check) => furthest = furthest.max(check),
        }
    }
    if actions.is_empty() {
        return Err(furthest);
    }
    actions.sort();
    actions.dedup();
    Ok(actions)
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let middle: Vec<&str> = parts.collect();
    let Some((last, inner)) = middle.split_last() else { return rest.is_empty() };
    for part in inner {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::super::claims::Platform;
    use super::*;

    const ISS: &str = "https://token.actions.githubusercontent.com";

    fn policy() -> TrustedPublisher {
        TrustedPublisher::new(TrustedPublisher {
            issuer: ISS.into(),
            repository: "Octo/App".into(),
            repository_owner_id: Some("42".into()),
            workflow: "release.yml".into(),
            environment: Some("Production".into()),
            git_ref: Some("refs/tags/v*".into()),
            actions: vec![],
        })
        .unwrap()
    }

    fn identity() -> Identity {
        Identity {
            issuer: ISS.into(),
            platform: Platform::GitHub,
            repository: "octo/app".into(),
            repository_owner_id: Some("42".into()),
            workflows: vec!["release.yml".into()],
            workflow: Some("release.yml".into()),
            environment: Some("production".into()),
            git_ref: Some("refs/tags/v1.2".into()),
            sha: None,
            run_id: None,
            jti: None,
            expires_at: 0,
        }
    }

    /// Each claim of the job takes a matching value, a differing one or none; each
    /// optional policy field is set or not. Expected: the first failing check in the
    /// documented order, computed independently of `mismatch`.
    #[test]
    fn truth_table() {
        let mut rows = 0;
        for issuer in ["same", "other"] {
            for repo in ["same", "other case", "other"] {
                for owner in ["same", "other", "absent"] {
                    for workflow in ["same", "reusable", "other", "other case"] {
                        for env in ["same", "other case", "other", "absent"] {
                            for git_ref in ["match", "other", "absent"] {
                                for (want_owner, want_env, want_ref) in [
                                    (true, true, true),
                                    (false, false, false),
                                    (true, false, true),
                                    (false, true, false),
                                ] {
                                    let mut p = policy();
                                    if !want_owner {
                                        p.repository_owner_id = None;
                                    }
                                    if !want_env {
                                        p.environment = None;
                                    }
                                    if !want_ref {
                                        p.git_ref = None;
                                    }
                                    let mut id = identity();
                                    if issuer == "other" {
                                        id.issuer = "https://gitlab.com".into();
                                    }
                                    match repo {
                                        "other case" => id.repository = "OCTO/APP".into(),
                                        "other" => id.repository = "octo/app2".into(),
                                        _ => {}
                                    }
                                    match owner {
                                        "other" => id.repository_owner_id = Some("43".into()),
                                        "absent" => id.repository_owner_id = None,
                                        _ => {}
                                    }
                                    match workflow {
                                        "reusable" => id.workflows = vec!["ci.yml".into(), "release.yml".into()],
                                        "other" => id.workflows = vec!["ci.yml".into()],
                                        "other case" => id.workflows = vec!["Release.yml".into()],
                                        _ => {}
                                    }
                                    match env {
                                        "other case" => id.environment = Some("PRODUCTION".into()),
                                        "other" => id.environment = Some("staging".into()),
                                        "absent" => id.environment = None,
                                        _ => {}
                                    }
                                    match git_ref {
                                        "other" => id.git_ref = Some("refs/heads/main".into()),
                                        "absent" => id.git_ref = None,
                                        _ => {}
                                    }
                                    let expected = if issuer != "same" {
                                        Some(Check::Issuer)
                                    } else if repo == "other" {
                                        Some(Check::Repository)
                                    } else if want_owner && owner != "same" {
                                        Some(Check::OwnerId)
                                    } else if workflow == "other" || workflow == "other case" {
                                        Some(Check::Workflow)
                                    } else if want_env && (env == "other" || env == "absent") {
                                        Some(Check::Environment)
                                    } else if want_ref && git_ref != "match" {
                                        Some(Check::Ref)
                                    } else {
                                        None
                                    };
                                    assert_eq!(
                                        p.mismatch(&id),
                                        expected,
                                        "issuer {issuer}, repo {repo}, owner {owner}, workflow {workflow}, env {env}, \
                                         ref {git_ref}, policy wants owner {want_owner} env {want_env} ref {want_ref}"
                                    );
                                    rows += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(rows, 2 * 3 * 3 * 4 * 4 * 3 * 4);
    }

    #[test]
    fn grants_are_the_union_of_matching_policies_and_refusals_the_furthest_check() {
        let pull_push = policy();
        let mut delete = policy();
        delete.actions = vec![Action::Pull, Action::Push, Action::Delete];
        delete.workflow = "cleanup.yml".into();
        let mut other_repo = policy();
        other_repo.repository = "octo/other".into();
        other_repo.actions = vec![Action::Pull, Action::Push, Action::Delete];
        assert_eq!(grant([&pull_push, &delete, &other_repo], &identity()), Ok(vec![Action::Pull, Action::Push]));
        let mut id = identity();
        id.workflows = vec!["cleanup.yml".into()];
        assert_eq!(grant([&pull_push, &delete], &id), Ok(Action::ALL.to_vec()));
        id.workflows = vec!["ci.yml".into()];
        assert_eq!(grant([&other_repo, &pull_push], &id), Err(Check::Workflow));
        assert_eq!(grant([&other_repo], &id), Err(Check::Repository));
        assert_eq!(grant([], &id), Err(Check::Repository));
    }

    #[test]
    fn new_policies_are_checked_and_actions_default_and_include_pull() {
        let base = || TrustedPublisher { actions: vec![], ..policy() };
        assert_eq!(TrustedPublisher::new(base()).unwrap().actions, [Action::Pull, Action::Push]);
        let push_only = TrustedPublisher { actions: vec![Action::Delete], ..base() };
        assert_eq!(TrustedPublisher::new(push_only).unwrap().actions, [Action::Pull, Action::Delete]);
        for bad in [
            TrustedPublisher { repository: "octo".into(), ..base() },
            TrustedPublisher { repository: "octo/".into(), ..base() },
            TrustedPublisher { repository: "octo/a b".into(), ..base() },
            TrustedPublisher { workflow: "".into(), ..base() },
            TrustedPublisher { workflow: "../x.yml".into(), ..base() },
            TrustedPublisher { repository_owner_id: Some("4x".into()), ..base() },
            TrustedPublisher { environment: Some("".into()), ..base() },
            TrustedPublisher { git_ref: Some("a\nb".into()), ..base() },
            TrustedPublisher { issuer: "x".repeat(300), ..base() },
        ] {
            assert!(TrustedPublisher::new(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ref_patterns() {
        for (pattern, text, ok) in [
            ("refs/tags/v*", "refs/tags/v1.2", true),
            ("refs/tags/v*", "refs/tags/v", true),
            ("refs/tags/v*", "refs/heads/v1", false),
            ("refs/heads/main", "refs/heads/main", true),
            ("refs/heads/main", "refs/heads/main2", false),
            ("refs/*/release-*", "refs/heads/release-1", true),
            ("refs/*/release-*", "refs/heads/x", false),
            ("*", "anything", true),
            ("a*a", "a", false),
            ("a*b*c", "abbc", true),
            ("a*b*c", "acb", false),
        ] {
            assert_eq!(glob(pattern, text), ok, "{pattern} {text}");
        }
    }
}
