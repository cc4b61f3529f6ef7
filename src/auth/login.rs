//! Signing in with a personal access token, and the limit on failed attempts: nobody can
//! guess a token at speed, and nobody can lock a valid token out.
//!
//! A PAT is `erp_`, a 16-hex id and a 40-hex secret (160 random bits). Failures are counted
//! per one-minute window under two keys:
//! - the presented token id (`token:<id>`, whether or not such a token exists). An id with
//!   `MAX_FAILURES_PER_TOKEN` failures is not checked again until the window ends, so one
//!   token's secret cannot be guessed at speed from any number of addresses. Exhausting it
//!   takes knowing the id, which is part of the token itself and shown only to the operator.
//! - the client address (`address:<ip>`, from `CF-Connecting-IP`; local development has
//!   none and then has no address limit). An address with `MAX_FAILURES_PER_ADDRESS`
//!   failures gets 429 for every attempt that is not a live token's id and secret, so
//!   guessing from it stops, while a valid token sent from the same address (a CI runner
//!   behind a shared NAT) still works.
//!
//! Every failure answered while a limit holds is the same 429, so the limits tell nothing
//! about which ids exist.

use super::identity::{IdentityStore, TokenRecord, TokenStanding};
use super::pat::PresentedToken;
use super::{Login, Scopes};
use crate::error::{RegistryError, Result};

/// Failures are counted per window of this length.
pub const FAILURE_WINDOW_MS: u64 = 60_000;
/// Failed attempts at one token id per window before it is no longer checked.
pub const MAX_FAILURES_PER_TOKEN: u32 = 10;
/// Failures from one client address per window before it may only use live tokens.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 30;
/// Failed operator logins from one address per window before it is refused outright.
pub const MAX_OPERATOR_FAILURES: u32 = 10;

/// Who a valid PAT signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub login: Login,
    pub scopes: Scopes,
    pub token_id: String,
}

pub fn too_many(now_ms: u64) -> RegistryError {
    let retry_after_secs = (FAILURE_WINDOW_MS - now_ms % FAILURE_WINDOW_MS).div_ceil(1000);
    RegistryError::TooManyRequests { retry_after_secs }
}

/// The token with id `id` if it may be used now: not revoked, not expired, and its user
/// not suspended.
pub async fn live_token<I: IdentityStore>(identity: &I, id: &str, now_ms: u64) -> Result<Option<TokenRecord>> {
    Ok(live(identity.token_standing(id, None).await?, now_ms))
}

fn live(standing: TokenStanding, now_ms: u64) -> Option<TokenRecord> {
    let record = standing.record.filter(|_| !standing.suspended)?;
    (!record.revoked && record.expires_ms.is_none_or(|e| e > now_ms)).then_some(record)
}

/// Checks a PAT (and, for Basic, that it belongs to `user`). `Ok(None)`: wrong (401);
/// `Err(TooManyRequests)`: wrong while a limit holds, or an id no longer checked.
pub async fn sign_in<I: IdentityStore>(
    identity: &I,
    address: Option<&str>,
    user: Option<&str>,
    secret: &str,
    now_ms: u64,
) -> Result<Option<SignedIn>> {
    let window = now_ms / FAILURE_WINDOW_MS;
    let address_key = address.map(|a| format!("address:{a}"));
    let presented = PresentedToken::parse(secret);
    let token_key = presented.as_ref().map(|p| format!("token:{}", p.id()));
    // The id's failures come with its record, in one read.
    let record = match (&presented, &token_key) {
        (Some(p), Some(key)) => {
            let standing = identity.token_standing(p.id(), Some((key, window))).await?;
            if standing.failures >= MAX_FAILURES_PER_TOKEN {
                return Err(too_many(now_ms));
            }
            live(standing, now_ms)
        }
        _ => None,
    };
    let valid = match (&presented, &record) {
        (Some(p), Some(r)) => p.matches(&r.hash) && user.is_none_or(|u| u == r.login.as_str()),
        _ => false,
    };
    if let (true, Some(record)) = (valid, record) {
        identity.touch_token(&record.id, now_ms).await?;
        return Ok(Some(SignedIn { login: record.login, scopes: record.scopes, token_id: record.id }));
    }
    let mut limited = false;
    if let Some(key) = &address_key {
        limited |= identity.record_auth_failure(key, window).await? > MAX_FAILURES_PER_ADDRESS;
    }
    if let Some(key) = &token_key {
        limited |= identity.record_auth_failure(key, window).await? > MAX_FAILURES_PER_TOKEN;
    }
    if limited {
        Err(too_many(now_ms))
    } else {
        Ok(None)
    }
}

/// The operator's secret is one for the whole registry: an address with too many failed
/// attempts is refused before the comparison until the window ends. `matches` compares
/// the presented secret (in constant time) only when the address may still try.
pub async fn operator_sign_in<I: IdentityStore>(
    identity: &I,
    address: Option<&str>,
    now_ms: u64,
    matches: impl FnOnce() -> bool,
) -> Result<bool> {
    let window = now_ms / FAILURE_WINDOW_MS;
    let key = address.map(|a| format!("operator:{a}"));
    if let Some(key) = &key {
        if identity.auth_failures(key, window).await? >= MAX_OPERATOR_FAILURES {
            return Err(too_many(now_ms));
        }
    }
    if matches() {
        return Ok(true);
    }
    if let Some(key) = &key {
        identity.record_auth_failure(key, window).await?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::memory::MemoryIdentity;
    use crate::auth::pat;
    use futures_executor::block_on;

    fn alice(identity: &MemoryIdentity) -> (String, String) {
        let login = Login::parse("alice").unwrap();
        block_on(identity.create_user(&login, 0)).unwrap();
        let t = pat::generate().unwrap();
        let record = TokenRecord {
            id: t.id.clone(),
            login,
            hash: t.hash,
            scopes: Scopes { read: true, ..Default::default() },
            note: None,
            expires_ms: None,
            revoked: false,
        };
        block_on(identity.create_token(&record, 0)).unwrap();
        (t.secret, t.id)
    }

    #[test]
    fn a_valid_token_works_whatever_its_address_has_done() {
        let identity = MemoryIdentity::default();
        let (secret, _) = alice(&identity);
        for i in 0..100 {
            let _ = block_on(sign_in(&identity, Some("192.0.2.1"), None, &format!("erp_{i:056x}"), 1000));
        }
        let guess = block_on(sign_in(&identity, Some("192.0.2.1"), None, &format!("erp_{:056x}", 999), 1000));
        assert!(matches!(guess, Err(RegistryError::TooManyRequests { .. })));
        let ok = block_on(sign_in(&identity, Some("192.0.2.1"), Some("alice"), &secret, 1000)).unwrap();
        assert_eq!(ok.map(|s| s.login.to_string()), Some("alice".into()));
    }

    #[test]
    fn one_tokens_secret_gets_a_few_tries_a_minute_from_anywhere() {
        let identity = MemoryIdentity::default();
        let (_, id) = alice(&identity);
        let guess = |i: u32, at: u64| {
            let address = format!("198.51.100.{i}");
            block_on(sign_in(&identity, Some(&address), None, &format!("erp_{id}{i:040x}"), at))
        };
        for i in 0..MAX_FAILURES_PER_TOKEN {
            assert_eq!(guess(i, 0).unwrap(), None);
        }
        assert!(matches!(guess(99, 1), Err(RegistryError::TooManyRequests { retry_after_secs: 60 })));
        assert_eq!(guess(100, FAILURE_WINDOW_MS).unwrap(), None, "a new window, a few new tries");
    }
}
