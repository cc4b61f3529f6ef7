//! The access decision, as one pure function over facts gathered beforehand.

use super::bearer::Grant;
use super::model::{Action, OrgRole, Role, Scopes, Visibility};

/// How the caller relates to the namespace a package lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The namespace is the caller's own user.
    Own,
    /// The namespace is an organization the caller belongs to.
    Org(OrgRole),
    Stranger,
}

/// What is known of the package and the caller's standing on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// `None`: no such package yet.
    pub visibility: Option<Visibility>,
    /// The role granted on the package to the caller (as a collaborator).
    pub granted: Option<Role>,
    pub relation: Relation,
}

impl Facts {
    /// The caller's role on the package: owners of a namespace (the user, or an
    /// organization's owners) administer every package in it.
    pub fn role(&self) -> Option<Role> {
        let implied = match self.relation {
            Relation::Own | Relation::Org(OrgRole::Owner) => Some(Role::Admin),
            _ => None,
        };
        implied.max(self.granted)
    }

    /// Whether a first push may create a package in this namespace.
    pub fn may_create(&self) -> bool {
        self.visibility.is_none() && !matches!(self.relation, Relation::Stranger)
    }

    /// The same caller's standing were there no package of this name.
    pub fn as_absent(&self) -> Facts {
        Facts { visibility: None, granted: None, relation: self.relation }
    }
}

/// How a request is to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The caller may not read the package, but could act on the name were there no such
    /// package (an organization member without a role on a private package): they get the
    /// answer a name that does not exist gets, and nothing is written.
    AsAbsent,
    Refused,
}

/// The decision on a request, such that a package the caller may not read is
/// indistinguishable from a name that does not exist.
pub fn decision(scopes: Option<&Scopes>, facts: &Facts, action: Action) -> Decision {
    if facts.visibility.is_some() && decide(scopes, facts, action) {
        return Decision::Allowed;
    }
    if facts.visibility.is_none() {
        return if decide(scopes, facts, action) { Decision::Allowed } else { Decision::Refused };
    }
    let readable = decide(scopes, facts, Action::Pull);
    if !readable && decide(scopes, &facts.as_absent(), action) {
        Decision::AsAbsent
    } else {
        Decision::Refused
    }
}

/// The decision. `scopes` is `None` for an anonymous caller.
pub fn decide(scopes: Option<&Scopes>, facts: &Facts, action: Action) -> bool {
    let role = facts.role();
    match (scopes, action) {
        (None, Action::Pull) => facts.visibility == Some(Visibility::Public),
        (None, _) => false,
        (Some(s), Action::Pull) => {
            let readable = facts.visibility.is_some() && s.can_read() && role >= Some(Role::Read);
            // A caller may look where they could create: pushing clients check for blobs first.
            let creatable = facts.may_create() && s.write;
            facts.visibility == Some(Visibility::Public) || readable || creatable
        }
        (Some(s), Action::Push) => s.write && (role >= Some(Role::Write) || facts.may_create()),
        (Some(s), Action::Delete) => s.delete && facts.visibility.is_some() && role == Some(Role::Admin),
    }
}

/// Whether `action` is allowed to a caller with `scopes` on some package, whatever the
/// package and the caller's standing on it: the most a grant read from no facts may say.
pub fn ever_allowed(scopes: Option<&Scopes>, action: Action) -> bool {
    let anything = Facts { visibility: Some(Visibility::Public), granted: Some(Role::Admin), relation: Relation::Own };
    decide(scopes, &anything, action)
}

/// A registry token's use, decided again on the current facts: what the token grants is
/// only an upper bound. `scopes` are those of the PAT it came from as they are now (`None`
/// for an anonymous token); `package` is the id of the package the name holds now. A grant
/// decided on one package is worth nothing on another of the same name; a grant made when
/// there was no package gives no more than the caller's own standing once there is one.
pub fn token_decision(
    grant: Option<&Grant>,
    scopes: Option<&Scopes>,
    facts: &Facts,
    package: Option<&str>,
    action: Action,
) -> Decision {
    if !covers(grant, package, action) {
        return Decision::Refused;
    }
    decision(scopes, facts, action)
}

/// Whether a token's `grant` still covers `action` on the package the name holds now
/// (`package`): a grant decided on one package is worth nothing on another.
pub fn covers(grant: Option<&Grant>, package: Option<&str>, action: Action) -> bool {
    grant.is_some_and(|g| g.actions.contains(&action) && (g.package.is_none() || g.package.as_deref() == package))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as the product states it, written plainly and independently of `decide`.
    /// `token` lists the PAT's scopes (`None`: anonymous); `visibility` is `None` for a
    /// package that does not exist yet.
    fn expected(
        token: Option<&[&str]>,
        visibility: Option<&str>,
        granted: &str,
        relation: &str,
        action: Action,
    ) -> bool {
        let owner = relation == "own" || relation == "org-owner";
        let rank = match (owner, granted) {
            (true, _) | (_, "admin") => 3,
            (_, "write") => 2,
            (_, "read") => 1,
            _ => 0,
        };
        let has = |scope: &str| token.is_some_and(|t| t.contains(&scope));
        // write:packages includes pulling, as on GitHub.
        let (read, write, delete) = (has("read") || has("write"), has("write"), has("delete"));
        let exists = visibility.is_some();
        let public = visibility == Some("public");
        // A first push creates the package in one's own namespace or an organization one belongs to.
        let may_create = !exists && relation != "stranger";
        match action {
            // A pusher may look for what is not there yet (clients check for blobs first).
            Action::Pull => public || (exists && read && rank >= 1) || (write && may_create),
            Action::Push => write && (rank >= 2 || may_create),
            Action::Delete => delete && exists && rank == 3,
        }
    }

    /// Every combination: anonymous and each set of PAT scopes (none, one, two or all
    /// three of read, write, delete), a public, a private and a missing package, each
    /// role granted, each relation to the namespace, each action.
    #[test]
    fn full_truth_table() {
        let token_sets: [Option<&[&str]>; 9] = [
            None,
            Some(&[]),
            Some(&["read"]),
            Some(&["write"]),
            Some(&["delete"]),
            Some(&["read", "write"]),
            Some(&["read", "delete"]),
            Some(&["write", "delete"]),
            Some(&["read", "write", "delete"]),
        ];
        let mut rows = 0;
        for token in token_sets {
            let scopes = token.map(|t| Scopes {
                read: t.contains(&"read"),
                write: t.contains(&"write"),
                delete: t.contains(&"delete"),
            });
            for visibility in [Some("public"), Some("private"), None] {
                // Roles are granted on existing packages only.
                let grants: &[&str] =
                    if visibility.is_some() { &["none", "read", "write", "admin"] } else { &["none"] };
                for &granted in grants {
                    for relation in ["own", "org-member", "org-owner", "stranger"] {
                        for action in Action::ALL {
                            let facts = Facts {
                                visibility: visibility.map(|v| {
                                    if v == "public" {
                                        Visibility::Public
                                    } else {
                                        Visibility::Private
                                    }
                                }),
                                granted: match granted {
                                    "read" => Some(Role::Read),
                                    "write" => Some(Role::Write),
                                    "admin" => Some(Role::Admin),
                                    _ => None,
                                },
                                relation: match relation {
                                    "own" => Relation::Own,
                                    "org-member" => Relation::Org(OrgRole::Member),
                                    "org-owner" => Relation::Org(OrgRole::Owner),
                                    _ => Relation::Stranger,
                                },
                            };
                            assert_eq!(
                                decide(scopes.as_ref(), &facts, action),
                                expected(token, visibility, granted, relation, action),
                                "token {token:?}, package {visibility:?}, role {granted}, {relation}, {action:?}"
                            );
                            rows += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(rows, 9 * (2 * 4 + 1) * 4 * 3);
    }

    #[test]
    fn an_unreadable_package_is_decided_as_an_absent_name() {
        let write = Scopes { write: true, ..Default::default() };
        let member = Relation::Org(OrgRole::Member);
        let private = |granted| Facts { visibility: Some(Visibility::Private), granted, relation: member };
        let absent = Facts { visibility: None, granted: None, relation: member };
        for action in Action::ALL {
            let on_absent = decision(Some(&write), &absent, action);
            let on_unreadable = decision(Some(&write), &private(None), action);
            let expected = if on_absent == Decision::Allowed { Decision::AsAbsent } else { Decision::Refused };
            assert_eq!(on_unreadable, expected, "{action:?}");
        }
        // A reader knows the package exists: refusals are plain refusals.
        assert_eq!(decision(Some(&write), &private(Some(Role::Read)), Action::Push), Decision::Refused);
        assert_eq!(decision(Some(&write), &private(Some(Role::Write)), Action::Push), Decision::Allowed);
        // Strangers and anonymous callers are refused alike whether the name exists or not.
        let stranger = Facts { visibility: Some(Visibility::Private), granted: None, relation: Relation::Stranger };
        assert_eq!(decision(Some(&write), &stranger, Action::Pull), Decision::Refused);
        assert_eq!(decision(Some(&write), &stranger.as_absent(), Action::Pull), Decision::Refused);
        assert_eq!(decision(None, &private(None), Action::Pull), Decision::Refused);
    }

    #[test]
    fn a_token_grant_is_an_upper_bound_on_the_current_facts() {
        let write = Scopes { write: true, ..Default::default() };
        let member = Relation::Org(OrgRole::Member);
        let grant = |package: Option<&str>| Grant {
            repository: "acme/release".into(),
            actions: vec![Action::Pull, Action::Push],
            package: package.map(str::to_string),
        };
        let absent = Facts { visibility: None, granted: None, relation: member };
        let theirs = Facts { visibility: Some(Visibility::Private), granted: None, relation: member };
        let mine = Facts { granted: Some(Role::Write), ..theirs };
        // Granted before the package existed: creating it is fine, pushing into another
        // member's package afterwards is not.
        assert_eq!(token_decision(Some(&grant(None)), Some(&write), &absent, None, Action::Push), Decision::Allowed);
        assert_eq!(
            token_decision(Some(&grant(None)), Some(&write), &theirs, Some("p2"), Action::Push),
            Decision::AsAbsent
        );
        assert_eq!(
            token_decision(Some(&grant(None)), Some(&write), &mine, Some("p2"), Action::Push),
            Decision::Allowed
        );
        // Granted on one package: worth nothing on the next of the same name.
        assert_eq!(
            token_decision(Some(&grant(Some("p1"))), Some(&write), &mine, Some("p1"), Action::Push),
            Decision::Allowed
        );
        assert_eq!(
            token_decision(Some(&grant(Some("p1"))), Some(&write), &mine, Some("p2"), Action::Push),
            Decision::Refused
        );
        // Never more than the grant, whatever the facts.
        assert_eq!(
            token_decision(Some(&grant(Some("p1"))), Some(&write), &mine, Some("p1"), Action::Delete),
            Decision::Refused
        );
        assert_eq!(token_decision(None, Some(&write), &mine, Some("p1"), Action::Pull), Decision::Refused);
        // The PAT's scopes as they are now: a read-only token does not push.
        let read = Scopes { read: true, ..Default::default() };
        assert_eq!(
            token_decision(Some(&grant(Some("p1"))), Some(&read), &mine, Some("p1"), Action::Push),
            Decision::Refused
        );
    }

    #[test]
    fn first_push_creates_only_in_own_or_member_namespace() {
        let write = Scopes { write: true, ..Default::default() };
        let read = Scopes { read: true, ..Default::default() };
        let new = |relation| Facts { visibility: None, granted: None, relation };
        assert!(decide(Some(&write), &new(Relation::Own), Action::Push));
        assert!(decide(Some(&write), &new(Relation::Org(OrgRole::Member)), Action::Push));
        assert!(!decide(Some(&write), &new(Relation::Stranger), Action::Push));
        assert!(!decide(Some(&read), &new(Relation::Own), Action::Push));
        assert!(!decide(None, &new(Relation::Own), Action::Push));
        // A pusher may look for what is not there yet; nobody else may.
        assert!(decide(Some(&write), &new(Relation::Own), Action::Pull));
        assert!(!decide(Some(&read), &new(Relation::Stranger), Action::Pull));
        assert!(!decide(Some(&write), &new(Relation::Stranger), Action::Pull));
        assert!(!decide(None, &new(Relation::Own), Action::Pull));
        assert!(!decide(Some(&Scopes { delete: true, ..Default::default() }), &new(Relation::Own), Action::Delete));
    }
}
