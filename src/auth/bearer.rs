//! Short-lived registry tokens, as the docker token protocol hands them out: base64url
//! JSON claims and an HMAC-SHA256 signature (`<claims>.<signature>`).

use super::model::Action;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long a token lives.
pub const TOKEN_TTL_SECS: u64 = 300;
/// Tokens longer than this are not even decoded.
const MAX_TOKEN_LEN: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub repository: String,
    pub actions: Vec<Action>,
    /// The package the grant was decided on (its id, unique per creation), or `None` when
    /// no package of that name existed then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

/// What a namespace's trust policy let a CI job's token do on the namespace's packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceGrant {
    pub namespace: String,
    pub actions: Vec<Action>,
}

/// What a token says. It is an upper bound only: every use is decided again on the
/// current facts (the PAT it came from, visibility, roles, the package itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user, or `None` for an anonymous token.
    pub sub: Option<String>,
    /// The id of the PAT the token was issued for, which must still be valid at each use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pat: Option<String>,
    /// The service (registry host) the token was issued by; it is refused elsewhere.
    pub aud: String,
    pub access: Vec<Grant>,
    pub iat: u64,
    pub exp: u64,
    /// A CI job's token (trusted publishing): the identity its platform's token proved.
    /// Each use is decided again on the trust policies in force then, within `access`
    /// and `namespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<crate::auth::oidc::Identity>,
    /// Namespaces whose packages a CI job's token may act on, because a namespace's
    /// trust policy matched it when the token was issued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<NamespaceGrant>,
}

impl Claims {
    /// The grant that allows `action` on `repository`, if any (clients may ask for one
    /// repository in several scopes of one request).
    pub fn grant(&self, repository: &str, action: Action) -> Option<&Grant> {
        self.access.iter().find(|g| g.repository == repository && g.actions.contains(&action))
    }

    pub fn allows(&self, repository: &str, action: Action) -> bool {
        self.grant(repository, action).is_some()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

pub fn sign(claims: &Claims, key: &[u8]) -> String {
    let body = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let mut m = mac(key);
    m.update(body.as_bytes());
    format!("{body}.{}", B64.encode(m.finalize().into_bytes()))
}

/// The claims of a token signed with `key` that has not expired at `now_secs`.
pub fn verify(token: &str, key: &[u8], now_secs: u64) -> Option<Claims> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let (body, sig) = token.split_once('.')?;
    let sig = B64.decode(sig).ok()?;
    let mut m = mac(key);
    m.update(body.as_bytes());
    m.verify_slice(&sig).ok()?; // constant time
    let claims: Claims = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
    (claims.exp > now_secs).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: Some("alice".into()),
            pat: Some("0123456789abcdef".into()),
            aud: "registry.test".into(),
            access: vec![Grant {
                repository: "alice/app".into(),
                actions: vec![Action::Pull, Action::Push],
                package: Some("p1".into()),
            }],
            iat: 1000,
            exp: 1300,
            ci: None,
            namespaces: vec![],
        }
    }

    #[test]
    fn signed_tokens_verify_until_they_expire() {
        let t = sign(&claims(), b"key");
        let c = verify(&t, b"key", 1200).unwrap();
        assert!(c.allows("alice/app", Action::Push));
        assert!(!c.allows("alice/app", Action::Delete));
        assert!(!c.allows("alice/other", Action::Pull));
        assert!(verify(&t, b"key", 1300).is_none());
    }

    #[test]
    fn tampered_or_foreign_tokens_fail() {
        let t = sign(&claims(), b"key");
        assert!(verify(&t, b"other key", 1200).is_none());
        let mut forged = claims();
        forged.access[0].actions.push(Action::Delete);
        let forged_body = sign(&forged, b"key");
        let tampered = format!("{}.{}", forged_body.split('.').next().unwrap(), t.split('.').nth(1).unwrap());
        assert!(verify(&tampered, b"key", 1200).is_none());
        for junk in ["", ".", "a.b", "not a token", &"x".repeat(10_000)] {
            assert!(verify(junk, b"key", 0).is_none());
        }
    }
}
