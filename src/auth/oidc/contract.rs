//! What every `TrustStore` must do, run natively on the memory store and inside the
//! Worker on D1. `unique` keeps runs apart in a shared database.

use super::store::*;
use super::trust::TrustedPublisher;
use crate::auth::Action;
use crate::oci::RepoName;

/// The failed expectations, empty when the store keeps the contract.
pub async fn run(store: &impl TrustStore, unique: &str) -> Vec<String> {
    let mut failures = vec![];
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failures.push(what.to_string());
        }
    };
    let ns = format!(
        "c{}",
        unique.to_ascii_lowercase().chars().filter(char::is_ascii_alphanumeric).take(30).collect::<String>()
    );
    let repo = RepoName::parse(&format!("{ns}/app")).expect("contract name");
    let sibling = RepoName::parse(&format!("{ns}/other")).expect("contract name");
    let policy = TrustedPublisher {
        issuer: "https://ci.example".into(),
        repository: format!("Octo/App-{ns}"),
        repository_owner_id: Some("42".into()),
        workflow: "release.yml".into(),
        environment: Some("prod".into()),
        git_ref: Some("refs/tags/v*".into()),
        actions: vec![Action::Pull, Action::Push, Action::Delete],
    };
    let stored = |id: &str, scope: PolicyScope| StoredPublisher {
        id: format!("{unique}-{id}"),
        scope,
        policy: policy.clone(),
        created_ms: 5,
        created_by: "alice".into(),
    };
    let on_package = stored("p", PolicyScope::Package(repo.clone()));
    let on_namespace = stored("n", PolicyScope::Namespace(ns.clone()));
    let on_sibling = stored("s", PolicyScope::Package(sibling.clone()));
    for p in [&on_package, &on_namespace, &on_sibling] {
        check(store.add_publisher(p).await.unwrap_or(false), "adds a policy");
    }
    let listed = store.publishers(&PolicyScope::Package(repo.clone())).await.unwrap_or_default();
    check(listed == vec![on_package.clone()], "lists a package's policies as stored, fields intact");
    let Applying { publishers: applying, namespace_suspended } = store.publishers_for(&repo).await.unwrap_or_default();
    check(!namespace_suspended, "a namespace with no suspended user is not suspended");
    check(
        applying.len() == 2 && applying.contains(&on_package) && applying.contains(&on_namespace),
        "the package's and its namespace's policies apply to it, a sibling's do not",
    );
    let of_source =
        store.publishers_of_source("https://ci.example", &format!("octo/APP-{ns}")).await.unwrap_or_default();
    check(of_source.iter().all(|t| !t.namespace_suspended), "nobody is suspended in a namespace with no user");
    let of_source: Vec<_> = of_source.into_iter().map(|t| t.publisher).collect();
    check(
        [&on_package, &on_namespace, &on_sibling].iter().all(|p| of_source.contains(p)),
        "finds the policies naming a CI repository, whatever its case",
    );
    check(
        store
            .publishers_of_source("https://other.example", &format!("octo/app-{ns}"))
            .await
            .is_ok_and(|l| l.iter().all(|t| t.publisher.policy.issuer == "https://other.example")),
        "of that issuer only",
    );
    let mut minimal = stored("m", PolicyScope::Namespace(ns.clone()));
    minimal.policy.repository_owner_id = None;
    minimal.policy.environment = None;
    minimal.policy.git_ref = None;
    minimal.policy.actions = vec![Action::Pull];
    minimal.created_ms = 6;
    check(store.add_publisher(&minimal).await.unwrap_or(false), "adds a policy without optional fields");
    let ns_listed = store.publishers(&PolicyScope::Namespace(ns.clone())).await.unwrap_or_default();
    check(ns_listed == vec![on_namespace.clone(), minimal.clone()], "optional fields absent stay absent, oldest first");
    for i in ns_listed.len()..MAX_PER_SCOPE {
        store.add_publisher(&stored(&format!("fill{i}"), PolicyScope::Namespace(ns.clone()))).await.ok();
    }
    check(
        !store.add_publisher(&stored("over", PolicyScope::Namespace(ns.clone()))).await.unwrap_or(true),
        "refuses a policy over the per-scope bound",
    );
    check(
        !store.remove_publisher(&PolicyScope::Package(sibling.clone()), &on_package.id).await.unwrap_or(true),
        "removes a policy only through its own scope",
    );
    check(
        store.remove_publisher(&PolicyScope::Package(repo.clone()), &on_package.id).await.unwrap_or(false),
        "removes",
    );
    check(store.publishers(&PolicyScope::Package(repo.clone())).await.is_ok_and(|l| l.is_empty()), "removed is gone");

    check(store.claim_jti("https://ci.example", unique, 2000, 1000).await.unwrap_or(false), "a first jti is claimed");
    check(
        !store.claim_jti("https://ci.example", unique, 2000, 1500).await.unwrap_or(true),
        "a replayed jti is refused",
    );
    check(store.claim_jti("https://other.example", unique, 2000, 1500).await.unwrap_or(false), "jti is per issuer");

    check(store.source(&repo).await.is_ok_and(|s| s.is_none()), "no source before one is set");
    store.set_source(&repo, "https://github.com/octo/app", false, 1).await.ok();
    store.set_source(&repo, "https://github.com/octo/app2", false, 2).await.ok();
    check(store.source(&repo).await.ok().flatten().as_deref() == Some("https://github.com/octo/app2"), "pushes update");
    store.set_source(&repo, "https://github.com/octo/api", true, 3).await.ok();
    store.set_source(&repo, "https://github.com/octo/app3", false, 4).await.ok();
    check(
        store.source(&repo).await.ok().flatten().as_deref() == Some("https://github.com/octo/api"),
        "a connection set through the API is not changed by pushes",
    );

    store.add_publisher(&on_package).await.ok();
    store.forget_package(&repo).await.ok();
    check(
        store.publishers(&PolicyScope::Package(repo.clone())).await.is_ok_and(|l| l.is_empty()),
        "deletion forgets policies",
    );
    check(store.source(&repo).await.is_ok_and(|s| s.is_none()), "deletion forgets the connection");
    check(
        store.publishers_for(&sibling).await.is_ok_and(|a| a.publishers.contains(&on_sibling)),
        "siblings keep theirs",
    );

    failures
}
