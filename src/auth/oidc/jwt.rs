//! The compact JWS form of an identity token (`header.claims.signature`, each part
//! base64url): split and decoded here, verified elsewhere. Nothing read here is trusted
//! until `verifier` has checked the signature.

use super::Refusal;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;

/// CI identity tokens are 1-2 KiB; anything much longer is not decoded at all.
pub const MAX_TOKEN_LEN: usize = 8192;

/// The signature algorithms accepted. Everything else (`none`, the HMAC family, PS256...)
/// is refused before any key is looked at, so a public key can never be used as an HMAC
/// secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

/// A token split into its parts, signature not yet checked.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub alg: Alg,
    pub kid: String,
    /// `header.claims`, the bytes the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    /// The decoded claims JSON.
    pub claims: Vec<u8>,
}

fn malformed(what: &str) -> Refusal {
    Refusal::Malformed(what.to_string())
}

/// Splits and decodes a token. Refusals name what is wrong with its form.
pub fn parse(token: &str) -> Result<Unverified<'_>, Refusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("longer than 8192 bytes"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let header: RawHeader = B64
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| malformed("header is not base64url JSON"))?;
    let alg = match header.alg.as_str() {
        "RS256" => Alg::Rs256,
        "ES256" => Alg::Es256,
        other => {
            let shown: String = other.chars().take(16).collect();
            return Err(Refusal::Algorithm(shown));
        }
    };
    let kid = header.kid.filter(|k| !k.is_empty()).ok_or_else(|| malformed("header has no kid"))?;
    let claims = B64.decode(claims).map_err(|_| malformed("claims are not base64url"))?;
    let signature = B64.decode(signature).map_err(|_| malformed("signature is not base64url"))?;
    let signing_input = &token[..token.rfind('.').unwrap_or(0)];
    Ok(Unverified { alg, kid, signing_input, signature, claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        B64.encode(s)
    }

    #[test]
    fn splits_a_well_formed_token() {
        let token =
            format!("{}.{}.{}", b64(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#), b64(r#"{"iss":"x"}"#), b64("sig"));
        let t = parse(&token).unwrap();
        assert_eq!((t.alg, t.kid.as_str()), (Alg::Es256, "k1"));
        assert_eq!(t.claims, br#"{"iss":"x"}"#);
        assert_eq!(t.signature, b"sig");
        assert_eq!(t.signing_input, token.rsplit_once('.').unwrap().0);
    }

    #[test]
    fn refuses_other_algorithms_by_name() {
        for alg in ["none", "HS256", "RS512", "PS256", "rs256", ""] {
            let token = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}","kid":"k"}}"#)), b64("{}"));
            assert_eq!(parse(&token).unwrap_err(), Refusal::Algorithm(alg.to_string()), "{alg}");
        }
    }

    #[test]
    fn refuses_malformed_tokens() {
        let header = b64(r#"{"alg":"RS256","kid":"k"}"#);
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{header}.!!.c"),
            format!("{header}.e30.!!"),
            format!("{}.e30.c", b64(r#"{"alg":"RS256"}"#)),
            format!("{}.e30.c", b64("[]")),
            format!("{header}.e30.{}", "A".repeat(MAX_TOKEN_LEN)),
        ] {
            assert!(matches!(parse(&bad), Err(Refusal::Malformed(_))), "{bad:.60}");
        }
    }
}
