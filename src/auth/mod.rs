//! Identity and access, like GitHub's container registry: users and organizations own
//! namespaces, personal access tokens carry scopes, packages have visibility and roles.
//! Authentication (who is calling) and authorization (`policy::decide`) are separate.

pub mod bearer;
pub mod cached;
pub mod contract;
pub mod credentials;
pub mod identity;
pub mod login;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod model;
pub mod oidc;
pub mod pat;
pub mod policy;

pub use model::{Action, Login, OrgRole, Role, Scope, Scopes, Visibility};
