//! Trusted publishing: a CI job proves who it is with the short-lived OpenID Connect
//! identity token its platform issues (GitHub Actions, GitLab CI, or an issuer the
//! operator allows), and trust policies on packages say which jobs may do what.
//!
//! - `jwt`: the token's compact form, split and decoded;
//! - `jwks`: an issuer's public keys and RS256 / ES256 signature checks (RustCrypto);
//! - `keys`: finding those keys through OpenID discovery, behind the `Fetch` port, with a
//!   per-isolate cache and rate-limited refetches;
//! - `verifier`: every check of a token, ending in a verified `Identity`;
//! - `trust`: trust policies and the pure matching of an identity against them.
//!
//! Every refusal is a `Refusal`, whose text names the check that failed and nothing else
//! (never which policies exist).

pub mod claims;
pub mod contract;
pub mod issuers;
pub mod jwks;
pub mod jwt;
pub mod keys;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod store;
pub mod trust;
pub mod verifier;

#[cfg(test)]
mod testkeys;

pub use claims::{Identity, Platform};
pub use issuers::Issuers;
pub use store::{Applying, PolicyScope, Provenance, StoredPublisher, TrustStore};
pub use trust::{Check, TrustedPublisher};
pub use verifier::Verifier;

/// Why an identity token was not accepted. Shown to the client (as a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("identity token is malformed: {0}")]
    Malformed(String),
    #[error("identity token algorithm {0:?} is not accepted (RS256 or ES256 only)")]
    Algorithm(String),
    #[error("identity token issuer is not allowed")]
    Issuer,
    #[error("identity token issuer's signing keys could not be fetched")]
    KeysUnavailable,
    #[error("identity token key id is not among its issuer's signing keys")]
    UnknownKey,
    #[error("identity token signature is invalid")]
    Signature,
    #[error("identity token audience is not {0:?}")]
    Audience(String),
    #[error("identity token has expired")]
    Expired,
    #[error("identity token is not valid yet (nbf)")]
    NotYetValid,
    #[error("identity token is issued in the future (iat)")]
    IssuedInFuture,
    #[error("identity token lives longer than the {0} s this registry accepts")]
    TooLongLived(u64),
    #[error("identity token lacks the claim {0}")]
    MissingClaim(&'static str),
    #[error("identity token was already exchanged (jti is single use)")]
    Replayed,
    #[error("no trusted publisher matches this token's {}", .0.as_str())]
    NoMatch(Check),
    #[error("the trusted publishers that match this token do not grant {}", .0.as_str())]
    NotGranted(crate::auth::Action),
    /// Said only to a job that a policy trusts: others learn nothing of the account.
    #[error("the account that owns this namespace is suspended")]
    Suspended,
}

impl From<Refusal> for crate::error::RegistryError {
    fn from(r: Refusal) -> Self {
        crate::error::RegistryError::IdentityRefused(r.to_string())
    }
}

/// Trusted publishing as the application uses it: the verifier, the way to the issuers'
/// keys, and the keys remembered in this isolate.
pub struct Oidc<F> {
    pub verifier: Verifier,
    pub fetch: F,
    pub keys: std::rc::Rc<keys::KeyCache>,
}

impl<F: keys::Fetch> Oidc<F> {
    /// The verified identity `token` proves at `now_ms`.
    pub async fn verify(&self, token: &str, now_ms: u64) -> Result<Identity, Refusal> {
        let directory =
            keys::Directory { fetch: &self.fetch, cache: self.keys.clone(), issuers: &self.verifier.issuers, now_ms };
        self.verifier.verify(token, now_ms / 1000, &directory).await
    }
}

/// Whether a presented secret has the form of an identity token (three base64url parts
/// with a JSON header) rather than a PAT or a registry token (two parts).
pub fn looks_like_identity_token(secret: &str) -> bool {
    secret.starts_with("eyJ") && secret.split('.').count() == 3
}
