//! Every check an identity token must pass, in order: form and algorithm, issuer,
//! signature over the issuer's key, audience, times, and the claims a CI identity needs.

use super::claims::{Claims, Identity};
use super::issuers::Issuers;
use super::jwt;
use super::keys::KeySource;
use super::Refusal;
use serde::Deserialize;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 60;
/// Default bound on a token's remaining life: an identity token is a password while it
/// lives, so long-lived ones are refused.
pub const DEFAULT_MAX_LIFE_SECS: u64 = 600;

pub struct Verifier {
    pub issuers: Issuers,
    /// The audience tokens must name exactly (by default the registry's origin).
    pub audience: String,
    pub max_life_secs: u64,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

impl Verifier {
    pub async fn verify(&self, token: &str, now_secs: u64, keys: &impl KeySource) -> Result<Identity, Refusal> {
        let t = jwt::parse(token)?;
        // The issuer is read before the signature is checked only to know whose keys to use.
        let iss = serde_json::from_slice::<IssuerOnly>(&t.claims)
            .map_err(|_| Refusal::Malformed("claims have no iss".into()))?
            .iss;
        if !self.issuers.allows(&iss) {
            return Err(Refusal::Issuer);
        }
        let key = keys.key(&iss, &t.kid).await?;
        if !key.verifies(t.alg, t.signing_input.as_bytes(), &t.signature) {
            return Err(Refusal::Signature);
        }
        let claims = Claims::parse(&t.claims)?;
        if claims.audience() != Some(self.audience.as_str()) {
            return Err(Refusal::Audience(self.audience.clone()));
        }
        if claims.exp.saturating_add(LEEWAY_SECS) <= now_secs {
            return Err(Refusal::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now_secs.saturating_add(LEEWAY_SECS)) {
            return Err(Refusal::NotYetValid);
        }
        if claims.iat > now_secs.saturating_add(LEEWAY_SECS) {
            return Err(Refusal::IssuedInFuture);
        }
        if claims.exp.saturating_sub(now_secs) > self.max_life_secs {
            return Err(Refusal::TooLongLived(self.max_life_secs));
        }
        Identity::from_claims(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwks::{KeySet, PublicKey};
    use super::super::testkeys::{self, token};
    use super::*;
    use futures_executor::block_on;

    const ISS: &str = "https://token.actions.githubusercontent.com";
    const AUD: &str = "https://registry.example";
    const NOW: u64 = 1_800_000_000;

    /// The issuer's published keys: `rsa` and `ec`.
    struct Published(KeySet);

    impl KeySource for Published {
        async fn key(&self, issuer: &str, kid: &str) -> Result<PublicKey, Refusal> {
            assert_eq!(issuer, ISS);
            self.0.get(kid).cloned().ok_or(Refusal::UnknownKey)
        }
    }

    fn published() -> Published {
        let set = format!(r#"{{"keys":[{},{}]}}"#, testkeys::rsa_jwk("rsa"), testkeys::ec_jwk("ec"));
        Published(KeySet::parse(set.as_bytes()).unwrap())
    }

    fn claims(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut c = serde_json::json!({
            "iss": ISS, "aud": AUD, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 290, "jti": "j1",
            "repository": "octo/app", "repository_owner_id": "42", "ref": "refs/tags/v1", "sha": "abc",
            "run_id": "7", "workflow_ref": "octo/app/.github/workflows/release.yml@refs/tags/v1",
        });
        edit(&mut c);
        c.to_string()
    }

    fn verify(token: &str) -> Result<Identity, Refusal> {
        let (issuers, _) = Issuers::new("", false);
        let v = Verifier { issuers, audience: AUD.into(), max_life_secs: DEFAULT_MAX_LIFE_SECS };
        block_on(v.verify(token, NOW, &published()))
    }

    const RS: &str = r#"{"alg":"RS256","kid":"rsa","typ":"JWT"}"#;
    const ES: &str = r#"{"alg":"ES256","kid":"ec"}"#;

    #[test]
    fn accepts_rs256_and_es256_tokens() {
        for header in [RS, ES] {
            let id = verify(&token(header, &claims(|_| {}))).unwrap();
            assert_eq!(
                (id.repository.as_str(), id.workflows.as_slice()),
                ("octo/app", &["release.yml".to_string()][..])
            );
            assert_eq!((id.jti.as_deref(), id.expires_at), (Some("j1"), NOW + 290));
        }
    }

    #[test]
    fn each_failed_check_is_named() {
        let cases: Vec<(String, Refusal)> = vec![
            (token(RS, &claims(|c| c["iss"] = "https://evil.example".into())), Refusal::Issuer),
            (token(RS, &claims(|c| c["aud"] = "https://other.example".into())), Refusal::Audience(AUD.into())),
            (token(RS, &claims(|c| c["aud"] = serde_json::json!([AUD, "x"]))), Refusal::Audience(AUD.into())),
            (token(RS, &claims(|c| c["exp"] = (NOW - LEEWAY_SECS).into())), Refusal::Expired),
            (token(RS, &claims(|c| c["nbf"] = (NOW + LEEWAY_SECS + 1).into())), Refusal::NotYetValid),
            (token(RS, &claims(|c| c["iat"] = (NOW + LEEWAY_SECS + 1).into())), Refusal::IssuedInFuture),
            (token(RS, &claims(|c| c["exp"] = (NOW + 601).into())), Refusal::TooLongLived(600)),
            (token(r#"{"alg":"RS256","kid":"gone"}"#, &claims(|_| {})), Refusal::UnknownKey),
            (token(r#"{"alg":"none","kid":"rsa"}"#, &claims(|_| {})), Refusal::Algorithm("none".into())),
            (token(r#"{"alg":"HS256","kid":"rsa"}"#, &claims(|_| {})), Refusal::Algorithm("HS256".into())),
            // An RS256 signature presented as ES256 with the RSA key's id, and the reverse.
            (
                token(RS, &claims(|_| {})).replacen(&b64(RS), &b64(r#"{"alg":"ES256","kid":"rsa"}"#), 1),
                Refusal::Signature,
            ),
            (
                token(ES, &claims(|_| {})).replacen(&b64(ES), &b64(r#"{"alg":"RS256","kid":"ec"}"#), 1),
                Refusal::Signature,
            ),
            (
                token(RS, &claims(|c| c.as_object_mut().unwrap().remove("repository").map(|_| ()).unwrap())),
                Refusal::MissingClaim("repository"),
            ),
        ];
        for (t, refusal) in cases {
            assert_eq!(verify(&t), Err(refusal.clone()), "{refusal}");
        }
    }

    #[test]
    fn times_within_the_leeway_pass() {
        for edit in [
            |c: &mut serde_json::Value| c["exp"] = (NOW - LEEWAY_SECS + 1).into(),
            |c: &mut serde_json::Value| c["nbf"] = (NOW + LEEWAY_SECS).into(),
            |c: &mut serde_json::Value| c["iat"] = (NOW + LEEWAY_SECS).into(),
            |c: &mut serde_json::Value| c["exp"] = (NOW + 600).into(),
        ] {
            assert!(verify(&token(RS, &claims(edit))).is_ok());
        }
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let t = token(ES, &claims(|_| {}));
        let parts: Vec<&str> = t.split('.').collect();
        let forged = b64(&claims(|c| c["repository"] = "evil/app".into()));
        assert_eq!(verify(&format!("{}.{forged}.{}", parts[0], parts[2])), Err(Refusal::Signature));
        assert_eq!(verify(&format!("{}.{}.", parts[0], parts[1])), Err(Refusal::Signature));
    }

    fn b64(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }
}
