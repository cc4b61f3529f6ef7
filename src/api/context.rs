//! One request as its handler sees it: routed, its caller known, the time fixed and the
//! facts its authorization was decided on gathered, once, in `serve`. Handlers take what
//! they need from here instead of authenticating or reading the package row again.

use super::gate::{Caller, RepoFacts};
use super::route::Route;
use crate::auth::Action;

pub struct Context {
    pub route: Route,
    /// Who calls, as far as the route's `Access` needed to know: the token service
    /// (`Access::Itself`) and unmatched `/v2` paths see `Anonymous` here, the former
    /// authenticating from the request itself.
    pub caller: Caller,
    /// The time of the request: every decision made for it uses this one.
    pub now_ms: u64,
    /// Routes on a repository: the access granted and what was known of the repository
    /// and the caller's standing when it was decided. The edge-cache decision uses the
    /// same facts; nothing reads them again.
    pub access: Option<Decided>,
}

/// An access granted on one repository, with what the decision rested on.
#[derive(Debug, Clone)]
pub struct Decided {
    pub facts: RepoFacts,
    pub action: Action,
    /// The caller may not read the package and is answered as if the name were free
    /// (`policy::Decision::AsAbsent`).
    pub as_absent: bool,
}
