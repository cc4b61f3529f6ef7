//! The claims of an identity token and the CI identity they describe. GitHub Actions and
//! GitLab CI name the same facts differently; both become one `Identity`. The shape is
//! told by the claims (`repository` for GitHub's, `project_path` for GitLab's), so a
//! self-hosted GitLab or a test issuer with GitHub's shape works alike.

use super::Refusal;
use serde::{Deserialize, Serialize};

/// `aud` is a string or (RFC 7519) an array; only a one-element array is taken, so the
/// audience is always exactly one value.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims this registry reads; others are ignored.
#[derive(Deserialize)]
pub struct Claims {
    pub iss: String,
    aud: Audience,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub iat: u64,
    pub jti: Option<String>,
    // GitHub Actions
    repository: Option<String>,
    repository_owner_id: Option<String>,
    workflow_ref: Option<String>,
    job_workflow_ref: Option<String>,
    environment: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
    run_id: Option<String>,
    // GitLab CI
    project_path: Option<String>,
    namespace_id: Option<String>,
    ci_config_ref_uri: Option<String>,
    ref_type: Option<String>,
    pipeline_id: Option<String>,
}

impl Claims {
    pub fn parse(json: &[u8]) -> Result<Claims, Refusal> {
        serde_json::from_slice(json).map_err(|e| {
            let mut why = e.to_string();
            why.truncate(120);
            Refusal::Malformed(format!("claims: {why}"))
        })
    }

    pub fn audience(&self) -> Option<&str> {
        match &self.aud {
            Audience::One(a) => Some(a),
            Audience::Many(list) if list.len() == 1 => Some(&list[0]),
            Audience::Many(_) => None,
        }
    }
}

/// The CI platform whose claim shape a token has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    GitHub,
    GitLab,
}

/// A verified CI job: where it runs, from which repository and workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub issuer: String,
    pub platform: Platform,
    /// `OWNER/REPO` (GitHub) or the project path (GitLab), as the issuer spells it.
    pub repository: String,
    /// The numeric id of the repository's owner (GitLab: its namespace).
    pub repository_owner_id: Option<String>,
    /// The workflow files of the repository this job runs: the top-level workflow and,
    /// for a reusable workflow of the same repository, that one too.
    pub workflows: Vec<String>,
    /// The workflow the run started from, for provenance.
    pub workflow: Option<String>,
    pub environment: Option<String>,
    /// The full git ref (`refs/heads/main`, `refs/tags/v1.2`).
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    pub run_id: Option<String>,
    pub jti: Option<String>,
    pub expires_at: u64,
}

impl Identity {
    /// Who the job is, the same for every run of its workflow: `ci:ISSUER:REPOSITORY:WORKFLOW`
    /// (no login has a colon). What the request log and webhooks name as its actor.
    pub fn principal(&self) -> String {
        let workflow = self.workflow.as_deref().map(|w| format!(":{w}")).unwrap_or_default();
        format!("ci:{}:{}{workflow}", self.issuer, self.repository)
    }

    /// The identity the claims describe; `Refusal::MissingClaim` when a required one is not
    /// there.
    pub fn from_claims(c: Claims) -> Result<Identity, Refusal> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let (platform, repository, owner_id, refs, git_ref, run_id) = if let Some(repo) = nonempty(c.repository) {
            let refs = [c.workflow_ref.clone(), c.job_workflow_ref].into_iter().flatten().collect::<Vec<_>>();
            (Platform::GitHub, repo, c.repository_owner_id, refs, c.git_ref, c.run_id)
        } else if let Some(project) = nonempty(c.project_path) {
            // GitLab's `ref` is the short name; `ref_type` says which kind.
            let full_ref = match (c.ref_type.as_deref(), c.git_ref) {
                (Some("branch"), Some(r)) => Some(format!("refs/heads/{r}")),
                (Some("tag"), Some(r)) => Some(format!("refs/tags/{r}")),
                (_, r) => r,
            };
            (
                Platform::GitLab,
                project,
                c.namespace_id,
                c.ci_config_ref_uri.into_iter().collect(),
                full_ref,
                c.pipeline_id,
            )
        } else {
            return Err(Refusal::MissingClaim("repository"));
        };
        let workflows: Vec<String> = refs.iter().filter_map(|r| workflow_file(platform, &repository, r)).collect();
        let Some(workflow) = workflows.first().cloned() else {
            return Err(Refusal::MissingClaim(match platform {
                Platform::GitHub => "workflow_ref",
                Platform::GitLab => "ci_config_ref_uri",
            }));
        };
        let mut files = workflows;
        files.dedup();
        Ok(Identity {
            issuer: c.iss,
            platform,
            repository,
            repository_owner_id: nonempty(owner_id),
            workflows: files,
            workflow: Some(workflow),
            environment: nonempty(c.environment),
            git_ref: nonempty(git_ref),
            sha: nonempty(c.sha),
            run_id: nonempty(run_id),
            jti: nonempty(c.jti),
            expires_at: c.exp,
        })
    }
}

/// The workflow file a workflow reference names, if it lies in `repository` (compared
/// case-insensitively, as the platforms do). A reusable workflow of another repository
/// yields nothing: trusting a file name there would let any job that calls it publish.
///
/// GitHub: `OWNER/REPO/.github/workflows/release.yml@refs/tags/v1`;
/// GitLab: `gitlab.com/GROUP/PROJECT//.gitlab-ci.yml@refs/heads/main`.
fn workflow_file(platform: Platform, repository: &str, reference: &str) -> Option<String> {
    let (path, _at) = reference.split_once('@')?;
    let (repo, file) = match platform {
        Platform::GitHub => {
            let (repo, file) = path.split_once("/.github/workflows/")?;
            (repo, file)
        }
        Platform::GitLab => {
            let (host_and_project, file) = path.split_once("//")?;
            (host_and_project.split_once('/')?.1, file)
        }
    };
    (repo.eq_ignore_ascii_case(repository) && !file.is_empty()).then(|| file.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(json: &str) -> Result<Identity, Refusal> {
        Identity::from_claims(Claims::parse(json.as_bytes())?)
    }

    const TIMES: &str = r#""iss":"https://token.actions.githubusercontent.com","aud":"reg","exp":1300,"iat":1000"#;

    #[test]
    fn github_claims() {
        let id = identity(&format!(
            r#"{{{TIMES},"repository":"Octo/App","repository_owner_id":"42","environment":"prod","ref":"refs/tags/v1.2",
            "sha":"abc1234def","run_id":"77","jti":"j1",
            "workflow_ref":"octo/app/.github/workflows/release.yml@refs/tags/v1.2",
            "job_workflow_ref":"Octo/App/.github/workflows/build.yml@refs/tags/v1.2"}}"#
        ))
        .unwrap();
        assert_eq!(id.platform, Platform::GitHub);
        assert_eq!(id.repository, "Octo/App");
        assert_eq!(id.workflows, ["release.yml", "build.yml"]);
        assert_eq!(id.workflow.as_deref(), Some("release.yml"));
        assert_eq!(
            (id.repository_owner_id.as_deref(), id.environment.as_deref(), id.git_ref.as_deref()),
            (Some("42"), Some("prod"), Some("refs/tags/v1.2"))
        );
        assert_eq!(
            (id.sha.as_deref(), id.run_id.as_deref(), id.jti.as_deref()),
            (Some("abc1234def"), Some("77"), Some("j1"))
        );
    }

    #[test]
    fn a_reusable_workflow_of_another_repository_is_not_a_workflow_of_this_one() {
        let id = identity(&format!(
            r#"{{{TIMES},"repository":"octo/app","workflow_ref":"octo/app/.github/workflows/ci.yml@refs/heads/main",
            "job_workflow_ref":"evil/shared/.github/workflows/release.yml@main"}}"#
        ))
        .unwrap();
        assert_eq!(id.workflows, ["ci.yml"]);
    }

    #[test]
    fn gitlab_claims() {
        let id = identity(
            r#"{"iss":"https://gitlab.com","aud":["reg"],"exp":1300,"iat":1000,"project_path":"group/sub/proj",
            "namespace_id":"9","ci_config_ref_uri":"gitlab.com/group/sub/proj//.gitlab-ci.yml@refs/heads/main",
            "ref":"main","ref_type":"branch","sha":"ff","pipeline_id":"5"}"#,
        )
        .unwrap();
        assert_eq!(id.platform, Platform::GitLab);
        assert_eq!((id.repository.as_str(), id.repository_owner_id.as_deref()), ("group/sub/proj", Some("9")));
        assert_eq!(id.workflows, [".gitlab-ci.yml"]);
        assert_eq!((id.git_ref.as_deref(), id.run_id.as_deref()), (Some("refs/heads/main"), Some("5")));
    }

    #[test]
    fn missing_or_malformed_claims_are_named() {
        assert_eq!(identity(&format!("{{{TIMES}}}")), Err(Refusal::MissingClaim("repository")));
        assert_eq!(
            identity(&format!(r#"{{{TIMES},"repository":"o/r","workflow_ref":"x/y/.github/workflows/a.yml@r"}}"#)),
            Err(Refusal::MissingClaim("workflow_ref"))
        );
        for bad in [
            "",
            "[]",
            r#"{"iss":"x"}"#,
            r#"{"iss":"x","aud":"a","exp":-1,"iat":0}"#,
            r#"{"iss":1,"aud":"a","exp":1,"iat":0}"#,
        ] {
            assert!(matches!(identity(bad), Err(Refusal::Malformed(_))), "{bad}");
        }
        let many = Claims::parse(br#"{"iss":"x","aud":["a","b"],"exp":1,"iat":0}"#).unwrap();
        assert_eq!(many.audience(), None);
    }
}
