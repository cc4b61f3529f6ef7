//! The vocabulary of access: logins, scopes, roles, visibility, actions.

use crate::error::{RegistryError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A user or organization name: lowercase letters, digits and single inner hyphens,
/// at most 39 characters (GitHub's rule, lowercased). Users and organizations share
/// one namespace of logins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Login(String);

impl TryFrom<String> for Login {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self> {
        Login::parse(&s)
    }
}

impl Login {
    pub fn parse(s: &str) -> Result<Self> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 39
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
            && !s.contains("--");
        if ok {
            Ok(Login(s.to_string()))
        } else {
            let shown: String = s.chars().take(40).collect();
            Err(RegistryError::BadRequest(format!("invalid login {shown:?}")))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A personal access token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Write,
    Delete,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Delete];

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "read:packages" => Ok(Scope::Read),
            "write:packages" => Ok(Scope::Write),
            "delete:packages" => Ok(Scope::Delete),
            other => {
                let shown: String = other.chars().take(40).collect();
                Err(RegistryError::BadRequest(format!("unknown scope {shown:?}")))
            }
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read:packages",
            Scope::Write => "write:packages",
            Scope::Delete => "delete:packages",
        }
    }
}

/// A set of scopes. `write:packages` includes reading, as on GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    pub read: bool,
    pub write: bool,
    pub delete: bool,
}

impl Scopes {
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut s = Scopes::default();
        for item in items {
            match Scope::parse(item)? {
                Scope::Read => s.read = true,
                Scope::Write => s.write = true,
                Scope::Delete => s.delete = true,
            }
        }
        Ok(s)
    }
    pub fn can_read(&self) -> bool {
        self.read || self.write
    }
    pub fn names(&self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|s| match s {
                Scope::Read => self.read,
                Scope::Write => self.write,
                Scope::Delete => self.delete,
            })
            .map(Scope::as_str)
            .collect()
    }
}

/// A user's role on a package. Ordered: admin can do what write can, write what read can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(RegistryError::BadRequest("role is read, write or admin".into())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    Member,
    Owner,
}

impl OrgRole {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "member" => Ok(OrgRole::Member),
            "owner" => Ok(OrgRole::Owner),
            _ => Err(RegistryError::BadRequest("role is member or owner".into())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Member => "member",
            OrgRole::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "public" => Ok(Visibility::Public),
            "private" => Ok(Visibility::Private),
            _ => Err(RegistryError::BadRequest("visibility is public or private".into())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// What a request does to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    /// Docker scope action names; `*` is everything.
    pub fn parse_docker(s: &str) -> Vec<Action> {
        match s {
            "pull" => vec![Action::Pull],
            "push" => vec![Action::Push],
            "delete" => vec![Action::Delete],
            "*" => Action::ALL.to_vec(),
            _ => vec![],
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        for ok in ["alice", "a", "acme-corp", "u2", &"x".repeat(39)] {
            assert!(Login::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", "-a", "a-", "a--b", "a_b", "a.b", &"x".repeat(40), "ä"] {
            assert!(Login::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_parse_and_write_implies_read() {
        let s = Scopes::parse_list(["write:packages"]).unwrap();
        assert!(s.can_read() && s.write && !s.delete);
        assert!(Scopes::parse_list(["admin:org"]).is_err());
        assert_eq!(
            Scopes::parse_list(["delete:packages", "read:packages"]).unwrap().names(),
            ["read:packages", "delete:packages"]
        );
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin > Role::Write && Role::Write > Role::Read);
    }
}
