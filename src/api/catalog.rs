//! `/v2/_catalog`: the repositories the caller may read, in name order, paged with `n`
//! and `last` and a `Link` to the next page. An anonymous caller (or a registry token,
//! which is for pulling, not browsing) sees public ones; a caller with a PAT sees what
//! the access policy lets them read. No challenge is sent: anyone may ask.

use super::context::Context;
use super::route::Route;
use super::{App, Request, Response};
use crate::auth::identity::IdentityStore;
use crate::auth::Action;
use crate::error::{RegistryError, Result};
use crate::registry::{Platform, Reader};
use serde_json::json;

/// The most repositories one page lists.
pub const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

pub async fn list<P: Platform>(app: &App<P>, ctx: &Context, req: &Request) -> Result<Response<Reader<P>>> {
    let n = match req.query("n") {
        Some(v) => v.parse::<u32>().map_err(|_| RegistryError::BadRequest(format!("invalid n {v:?}")))?,
        None => DEFAULT_PAGE,
    }
    .min(MAX_PAGE);
    let after = req.query("last").unwrap_or("");
    if n == 0 {
        return Ok(Response::json(200, &json!({ "repositories": [] })));
    }
    let viewer = ctx.caller.viewer();
    // Candidates are what the viewer might read; the policy decides each.
    let mut candidates = app.identity.readable_standings(viewer.login(), after, n + 1).await?;
    let more = candidates.len() > n as usize;
    candidates.truncate(n as usize);
    let cursor = candidates.last().map(|s| s.package.repo.to_string());
    let names: Vec<String> = candidates
        .iter()
        .filter(|s| viewer.may(&viewer.facts_of(s), Action::Pull))
        .map(|s| s.package.repo.to_string())
        .collect();
    let mut resp = Response::json(200, &json!({ "repositories": names }));
    if let (true, Some(last)) = (more, cursor) {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("n", &n.to_string())
            .append_pair("last", &last)
            .finish();
        resp = resp.header("link", format!("<{}?{query}>; rel=\"next\"", Route::Catalog.path()));
    }
    Ok(resp)
}
