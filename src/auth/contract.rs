//! The contract every implementation of the identity port must keep. The in-memory store
//! (alone and behind the hot cache) runs it in native tests; the Worker runs it over D1
//! when `CONTRACT_TESTS` is set (the end-to-end suite does), as it does the registry's.

use super::identity::{AccountKind, IdentityStore, MemberRemoval, TokenRecord, TokenStanding};
use super::{Login, OrgRole, Role, Scopes, Visibility};
use crate::oci::RepoName;

/// One group of checks: the first rule broken, if any. (The registry's contract uses
/// these too.)
pub(crate) type Check = Result<(), String>;

pub(crate) fn ensure(cond: bool, what: &str) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

/// A port call's result, its error named after `what`.
pub(crate) fn ok<T>(r: crate::error::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// A login of this run: `unique` keeps runs on the same storage apart.
fn login(u: &str, who: &str) -> Result<Login, String> {
    Login::parse(&format!("{who}-{}", &u[..u.len().min(12)])).map_err(|e| format!("{e:?}"))
}

fn repo(ns: &Login, name: &str) -> Result<RepoName, String> {
    RepoName::parse(&format!("{ns}/{name}")).map_err(|e| format!("{e:?}"))
}

/// Runs every check; returns the failures (empty when the store keeps the contract).
/// `unique` (at least 12 lowercase hex digits or letters) keeps logins and names of one run
/// apart from earlier runs on the same storage.
pub async fn run<I: IdentityStore>(id: &I, unique: &str) -> Vec<String> {
    let results = [
        ("accounts", accounts(id, unique).await),
        ("tokens", tokens(id, unique).await),
        ("packages", packages(id, unique).await),
        ("collaborators", collaborators(id, unique).await),
        ("listings", listings(id, unique).await),
        ("failures", failures(id, unique).await),
        ("standing", standing(id, unique).await),
        ("offboarding", offboarding(id, unique).await),
    ];
    results.into_iter().filter_map(|(name, r)| r.err().map(|e| format!("{name}: {e}"))).collect()
}

async fn accounts<I: IdentityStore>(id: &I, u: &str) -> Check {
    let (alice, bob, acme) = (login(u, "alice")?, login(u, "bob")?, login(u, "acme")?);
    ensure(ok(id.account(&alice).await, "unknown")?.is_none(), "an unknown login has no account")?;
    ensure(ok(id.create_user(&alice, 1).await, "create")?, "a free login makes a user")?;
    ensure(!ok(id.create_user(&alice, 2).await, "again")?, "a taken login makes nothing")?;
    ensure(ok(id.account(&alice).await, "user")? == Some(AccountKind::User), "a user is a user")?;
    ok(id.create_user(&bob, 1).await, "bob")?;
    ensure(!ok(id.create_org(&alice, &bob, 3).await, "org over user")?, "an organization cannot take a user's login")?;
    ensure(ok(id.create_org(&acme, &alice, 3).await, "org")?, "a free login makes an organization")?;
    ensure(ok(id.account(&acme).await, "org kind")? == Some(AccountKind::Org), "an organization is one")?;
    ensure(ok(id.org_role(acme.as_str(), &alice).await, "owner")? == Some(OrgRole::Owner), "its creator owns it")?;
    ensure(!ok(id.create_org(&acme, &bob, 4).await, "org again")?, "a taken login makes no organization")?;
    ensure(ok(id.org_role(acme.as_str(), &bob).await, "not owner")?.is_none(), "nor an owner of it")?;
    ok(id.set_member(&acme, &bob, OrgRole::Member).await, "member")?;
    ensure(ok(id.org_role(acme.as_str(), &bob).await, "member role")? == Some(OrgRole::Member), "members join")?;
    ok(id.set_member(&acme, &bob, OrgRole::Owner).await, "promote")?;
    ensure(ok(id.org_role(acme.as_str(), &bob).await, "promoted")? == Some(OrgRole::Owner), "roles change")?;
    ensure(ok(id.org_role("Not A Login", &bob).await, "bad org")?.is_none(), "no organization has an invalid name")
}

async fn tokens<I: IdentityStore>(id: &I, u: &str) -> Check {
    let alice = login(u, "tok")?;
    let scopes = Scopes::parse_list(["read:packages", "delete:packages"]).map_err(|e| format!("{e:?}"))?;
    let record = TokenRecord {
        id: format!("{u}-t1"),
        login: alice.clone(),
        hash: vec![0, 1, 2, 254, 255],
        scopes,
        note: Some("ci".into()),
        expires_ms: Some(1_000_000),
        revoked: false,
    };
    ok(id.create_token(&record, 5).await, "create")?;
    ensure(ok(id.token(&record.id).await, "read")? == Some(record.clone()), "a token reads back as stored")?;
    ensure(ok(id.token(&format!("{u}-none")).await, "unknown")?.is_none(), "an unknown token is none")?;
    let bare = TokenRecord { id: format!("{u}-t2"), note: None, expires_ms: None, ..record.clone() };
    ok(id.create_token(&bare, 5).await, "bare")?;
    ensure(ok(id.token(&bare.id).await, "bare read")? == Some(bare.clone()), "without note or expiry too")?;
    ensure(ok(id.revoke_token(&record.id, 6).await, "revoke")?, "a live token is revoked")?;
    ensure(ok(id.token(&record.id).await, "revoked")?.is_some_and(|t| t.revoked), "and reads as revoked")?;
    ensure(!ok(id.revoke_token(&record.id, 7).await, "twice")?, "a revoked token is not revoked again")?;
    ensure(!ok(id.revoke_token(&format!("{u}-none"), 7).await, "unknown")?, "an unknown token is not revoked")?;
    ensure(ok(id.token(&bare.id).await, "other")?.is_some_and(|t| !t.revoked), "other tokens stay live")
}

async fn packages<I: IdentityStore>(id: &I, u: &str) -> Check {
    let (ns, bob) = (login(u, "pkg")?, login(u, "pkgbob")?);
    let app = repo(&ns, "app")?;
    ensure(ok(id.package(&app).await, "none")?.is_none(), "no package before its first push")?;
    ok(id.set_visibility(&app, Visibility::Public).await, "visibility of none")?;
    ensure(ok(id.package(&app).await, "still none")?.is_none(), "settings make no package")?;
    ok(id.create_package(&app, &ns, 5).await, "create")?;
    let p = ok(id.package(&app).await, "read")?.ok_or("a created package reads back")?;
    ensure(
        (p.repo == app, p.visibility, p.created_ms, &p.created_by, p.collect_untagged, p.content_epoch)
            == (true, Visibility::Private, 5, &ns, false, 0),
        "a package starts private, uncollected, at epoch 0, with its creator",
    )?;
    ensure(ok(id.collaborator_role(&app, &ns).await, "admin")? == Some(Role::Admin), "its creator administers it")?;
    ok(id.create_package(&app, &bob, 6).await, "create again")?;
    ensure(ok(id.package(&app).await, "same")? == Some(p.clone()), "creating it again changes nothing")?;
    ensure(ok(id.collaborator_role(&app, &bob).await, "no role")?.is_none(), "nor grants a role")?;
    ok(id.set_visibility(&app, Visibility::Public).await, "public")?;
    ok(id.set_collect_untagged(&app, true).await, "collect")?;
    ok(id.bump_content_epoch(&app).await, "bump")?;
    let p = ok(id.package(&app).await, "changed")?.ok_or("still there")?;
    ensure(
        (p.visibility, p.collect_untagged, p.content_epoch) == (Visibility::Public, true, 1),
        "visibility, collection and epoch change",
    )?;
    let collecting = ok(id.packages_collecting_untagged(&format!("{ns}/"), 1000).await, "collecting")?;
    ensure(collecting.contains(&app), "a collecting package is listed")?;
    let after = ok(id.packages_collecting_untagged(app.as_str(), 1000).await, "after")?;
    ensure(!after.contains(&app), "listing starts after the name given")?;

    // A namespace lists its own packages only, nested names included, by name.
    for name in ["b", "a/nested", "c"] {
        ok(id.create_package(&repo(&ns, name)?, &ns, 7).await, "more")?;
    }
    // A namespace whose name starts with this one's is another namespace.
    let neighbour = Login::parse(&format!("{ns}-x")).map_err(|e| format!("{e:?}"))?;
    ok(id.create_package(&repo(&neighbour, "a")?, &neighbour, 7).await, "neighbour")?;
    let listed: Vec<String> =
        ok(id.packages_in(ns.as_str(), 100).await, "list")?.iter().map(|p| p.repo.to_string()).collect();
    let expected: Vec<String> = ["a/nested", "app", "b", "c"].iter().map(|n| format!("{ns}/{n}")).collect();
    ensure(listed == expected, "a namespace lists its packages by name")?;
    ensure(ok(id.packages_in(ns.as_str(), 2).await, "limit")?.len() == 2, "and takes a limit")
}

async fn collaborators<I: IdentityStore>(id: &I, u: &str) -> Check {
    let (ns, bob, carol) = (login(u, "col")?, login(u, "colbob")?, login(u, "colcarol")?);
    let app = repo(&ns, "app")?;
    ok(id.create_package(&app, &ns, 5).await, "create")?;
    ok(id.set_collaborator(&app, &carol, Role::Read).await, "carol")?;
    ok(id.set_collaborator(&app, &bob, Role::Read).await, "bob")?;
    ok(id.set_collaborator(&app, &bob, Role::Write).await, "bob again")?;
    ensure(ok(id.collaborator_role(&app, &bob).await, "role")? == Some(Role::Write), "a role changes")?;
    let listed = ok(id.collaborators(&app).await, "list")?;
    let mut expected = vec![(ns.clone(), Role::Admin), (bob.clone(), Role::Write), (carol.clone(), Role::Read)];
    expected.sort();
    ensure(listed == expected, "collaborators are listed by login")?;
    ensure(ok(id.remove_collaborator(&app, &bob).await, "remove")?, "a collaborator is removed")?;
    ensure(!ok(id.remove_collaborator(&app, &bob).await, "remove again")?, "once")?;
    ensure(ok(id.collaborator_role(&app, &bob).await, "gone")?.is_none(), "and has no role left")
}

async fn listings<I: IdentityStore>(id: &I, u: &str) -> Check {
    let (org, owner, member) = (login(u, "lstorg")?, login(u, "lstowner")?, login(u, "lstmember")?);
    let (user, other) = (login(u, "lstuser")?, login(u, "lstother")?);
    for l in [&owner, &member, &user, &other] {
        ok(id.create_user(l, 1).await, "user")?;
    }
    ok(id.create_org(&org, &owner, 1).await, "org")?;
    ok(id.set_member(&org, &member, OrgRole::Member).await, "member")?;
    let (org_a, org_b) = (repo(&org, "a")?, repo(&org, "b")?);
    let (mine, shared, closed, open) =
        (repo(&user, "mine")?, repo(&other, "shared")?, repo(&other, "closed")?, repo(&other, "open")?);
    for (r, creator, at) in [
        (&org_a, &owner, 10),
        (&org_b, &owner, 20),
        (&mine, &user, 30),
        (&shared, &other, 40),
        (&closed, &other, 50),
        (&open, &other, 60),
    ] {
        ok(id.create_package(r, creator, at).await, "create")?;
    }
    for r in [&org_b, &open] {
        ok(id.set_visibility(r, Visibility::Public).await, "public")?;
    }
    ok(id.set_collaborator(&shared, &user, Role::Read).await, "share")?;

    let standings = ok(id.standings_in(org.as_str(), Some(&member), 10).await, "standings")?;
    let seen: Vec<_> = standings.iter().map(|s| (s.package.repo.clone(), s.granted, s.org_role)).collect();
    ensure(
        seen == vec![(org_a.clone(), None, Some(OrgRole::Member)), (org_b.clone(), None, Some(OrgRole::Member))],
        "a namespace's packages come with the user's standing",
    )?;
    let standings = ok(id.standings_in(org.as_str(), Some(&owner), 10).await, "owner's")?;
    ensure(
        standings.iter().all(|s| s.granted == Some(Role::Admin) && s.org_role == Some(OrgRole::Owner)),
        "an owner's standing has both roles",
    )?;
    let anonymous = ok(id.standings_in(org.as_str(), None, 10).await, "anonymous")?;
    ensure(anonymous.iter().all(|s| s.granted.is_none() && s.org_role.is_none()), "nobody has no standing")?;

    let ours = |l: Vec<super::identity::Standing>| -> Vec<RepoName> {
        l.into_iter()
            .map(|s| s.package.repo)
            .filter(|r| r.as_str().starts_with("lst") && r.as_str().contains(&u[..u.len().min(12)]))
            .collect()
    };
    let readable = ours(ok(id.readable_standings(Some(&user), "", 100_000).await, "readable")?);
    let mut expected = vec![org_b.clone(), mine.clone(), open.clone(), shared.clone()];
    expected.sort();
    ensure(readable == expected, "a user might read public packages, their own and those shared with them")?;
    let readable = ours(ok(id.readable_standings(Some(&owner), "", 100_000).await, "owner's readable")?);
    ensure(readable.contains(&org_a) && !readable.contains(&closed), "an owner reads the organization's packages")?;
    let public = ours(ok(id.readable_standings(None, "", 100_000).await, "public")?);
    let mut expected = vec![org_b.clone(), open.clone()];
    expected.sort();
    ensure(public == expected, "nobody might read public packages only")?;
    let after = ours(ok(id.readable_standings(None, org_b.as_str(), 100_000).await, "after")?);
    ensure(!after.contains(&org_b), "listings start after the name given")?;

    // Other groups' public packages share the run's suffix: search for this group's.
    let search = &format!("-{}/", &u[..u.len().min(12)]);
    let newest: Vec<RepoName> = ok(id.public_packages(search, None, 10).await, "newest")?
        .into_iter()
        .map(|p| p.repo)
        .filter(|r| r.as_str().starts_with("lst"))
        .collect();
    ensure(newest == vec![open.clone(), org_b.clone()], "public packages list newest first")?;
    let before = (60, open.to_string());
    let older: Vec<RepoName> = ok(id.public_packages(search, Some(&before), 10).await, "older")?
        .into_iter()
        .map(|p| p.repo)
        .filter(|r| r.as_str().starts_with("lst"))
        .collect();
    ensure(older == vec![org_b.clone()], "and continue below a time and name")?;
    ensure(ok(id.public_packages("no-such-name-at-all", None, 10).await, "none")?.is_empty(), "a search filters")
}

async fn failures<I: IdentityStore>(id: &I, u: &str) -> Check {
    let key = format!("address:{u}");
    ensure(ok(id.auth_failures(&key, 10).await, "none")? == 0, "no failures counted yet")?;
    ensure(ok(id.record_auth_failure(&key, 10).await, "one")? == 1, "a failure counts one")?;
    ensure(ok(id.record_auth_failure(&key, 10).await, "two")? == 2, "and another two")?;
    ensure(ok(id.record_auth_failure(&key, 11).await, "next")? == 1, "each window counts on its own")?;
    ensure(ok(id.auth_failures(&key, 10).await, "read")? == 2, "counts read back")?;
    ok(id.prune_auth_failures(11).await, "prune")?;
    ensure(ok(id.auth_failures(&key, 10).await, "pruned")? == 0, "older windows are pruned")?;
    ensure(ok(id.auth_failures(&key, 11).await, "kept")? == 1, "the current one is kept")
}

/// What signing in reads in one go, as the separate reads would find it.
async fn standing<I: IdentityStore>(id: &I, u: &str) -> Check {
    let carol = login(u, "sta")?;
    ok(id.create_user(&carol, 1).await, "user")?;
    let record = TokenRecord {
        id: format!("{u}-s1"),
        login: carol.clone(),
        hash: vec![7, 8],
        scopes: Scopes { read: true, ..Default::default() },
        note: None,
        expires_ms: None,
        revoked: false,
    };
    ok(id.create_token(&record, 2).await, "create")?;
    let key = format!("token:{u}-s1");
    let standing = |failures, suspended| TokenStanding { record: Some(record.clone()), suspended, failures };
    let read = ok(id.token_standing(&record.id, Some((&key, 7))).await, "standing")?;
    ensure(read == standing(0, false), "a token's standing: its record, its user active, no failures")?;
    ok(id.record_auth_failure(&key, 7).await, "failure")?;
    ok(id.set_suspended(&carol, true).await, "suspend")?;
    let read = ok(id.token_standing(&record.id, Some((&key, 7))).await, "suspended")?;
    ensure(read == standing(1, true), "with its user's suspension and its window's failures")?;
    ensure(ok(id.token_standing(&record.id, Some((&key, 8))).await, "next")?.failures == 0, "that window's only")?;
    ensure(ok(id.token_standing(&record.id, None).await, "uncounted")?.failures == 0, "none without a key")?;
    let unknown = ok(id.token_standing(&format!("{u}-none"), Some((&key, 7))).await, "unknown")?;
    ensure(
        unknown == TokenStanding { record: None, suspended: false, failures: 1 },
        "an unknown token has no record, and the failures counted against its key",
    )
}

async fn offboarding<I: IdentityStore>(id: &I, u: &str) -> Check {
    let (alice, bob, acme, ghost) = (login(u, "offa")?, login(u, "offb")?, login(u, "offo")?, login(u, "offg")?);
    ok(id.create_user(&alice, 1).await, "alice")?;
    ok(id.create_user(&bob, 1).await, "bob")?;
    ok(id.create_org(&acme, &alice, 2).await, "org")?;
    ok(id.set_member(&acme, &bob, OrgRole::Member).await, "member")?;
    let (tool, other) = (repo(&acme, "tool")?, repo(&acme, "other")?);
    ok(id.create_package(&tool, &bob, 3).await, "bob's package")?;
    ok(id.create_package(&other, &alice, 3).await, "alice's package")?;
    ok(id.set_collaborator(&other, &bob, Role::Read).await, "bob reads")?;
    let ids = (ok(id.package(&tool).await, "tool")?, ok(id.package(&other).await, "other")?);
    ensure(
        matches!(&ids, (Some(a), Some(b)) if !a.id.is_empty() && a.id != b.id),
        "every package has an id of its own",
    )?;

    let removal = ok(id.remove_member(&acme, &alice).await, "last owner")?;
    ensure(removal == MemberRemoval::LastOwner, "an organization keeps its last owner")?;
    ensure(ok(id.remove_member(&acme, &bob).await, "remove")? == MemberRemoval::Removed, "a member can be removed")?;
    ensure(ok(id.org_role(acme.as_str(), &bob).await, "gone")?.is_none(), "and is no member any more")?;
    let again = ok(id.remove_member(&acme, &bob).await, "again")?;
    ensure(again == MemberRemoval::NotMember, "removing a non-member removes nothing")?;
    let kept = ok(id.package_roles_in(acme.as_str(), &bob).await, "roles kept")?;
    ensure(kept == vec![(other.clone(), Role::Read), (tool.clone(), Role::Admin)], "roles kept are listed by name")?;

    ensure(!ok(id.suspended(&bob).await, "active")?, "users start active")?;
    ensure(ok(id.set_suspended(&bob, true).await, "suspend")?, "a user can be suspended")?;
    ensure(ok(id.suspended(&bob).await, "suspended")?, "and is")?;
    ensure(ok(id.set_suspended(&bob, false).await, "unsuspend")?, "and reinstated")?;
    ensure(!ok(id.suspended(&bob).await, "reinstated")?, "and is active again")?;
    ensure(!ok(id.set_suspended(&acme, true).await, "org")?, "an organization is not suspended")?;
    ensure(!ok(id.set_suspended(&ghost, true).await, "ghost")?, "nor a login nobody has")?;

    let token = |n: &str| TokenRecord {
        id: format!("{}{n}", &u[..u.len().min(12)]),
        login: bob.clone(),
        hash: vec![1, 2],
        scopes: Scopes { read: true, ..Default::default() },
        note: Some(n.to_string()),
        expires_ms: None,
        revoked: false,
    };
    ok(id.create_token(&token("one"), 5).await, "token one")?;
    ok(id.create_token(&token("two"), 6).await, "token two")?;
    ok(id.touch_token(&token("one").id, 9).await, "used")?;
    let listed = ok(id.tokens_of(&bob).await, "list")?;
    let seen: Vec<(String, u64, Option<u64>)> =
        listed.iter().map(|t| (t.note.clone().unwrap_or_default(), t.created_ms, t.last_used_ms)).collect();
    ensure(
        seen == vec![("one".into(), 5, Some(9)), ("two".into(), 6, None)],
        "a user's tokens are listed oldest first, with when they were made and last used",
    )?;
    ensure(ok(id.tokens_of(&alice).await, "none")?.is_empty(), "another user's tokens are not listed")
}

#[cfg(test)]
mod tests {
    use crate::auth::cached::{CachedIdentity, HotCache};
    use crate::auth::memory::MemoryIdentity;
    use futures_executor::block_on;
    use std::rc::Rc;

    #[test]
    fn the_memory_store_keeps_the_contract() {
        let failures = block_on(super::run(&MemoryIdentity::default(), "0123456789abcdef"));
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn the_hot_cache_keeps_it_too() {
        let cached = CachedIdentity::new(MemoryIdentity::default(), Rc::new(HotCache::default()), 0);
        let failures = block_on(super::run(&cached, "0123456789abcdef"));
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
