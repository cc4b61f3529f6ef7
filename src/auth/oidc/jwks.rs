//! An issuer's signing keys (RFC 7517 JWK set) and signature checks with them. Keys of
//! kinds this registry does not use are skipped, not errors: issuers publish several.

use super::jwt::Alg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Verifier as _;
use serde::Deserialize;

/// Keys kept per issuer; a set larger than this is cut, never a reason to fail.
const MAX_KEYS: usize = 32;

/// A public key usable for exactly one algorithm: an RSA key only for RS256, a P-256
/// key only for ES256.
#[derive(Clone, Debug)]
pub enum PublicKey {
    Rsa(rsa::pkcs1v15::VerifyingKey<sha2::Sha256>),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Whether `signature` over `input` is valid under this key for `alg`.
    pub fn verifies(&self, alg: Alg, input: &[u8], signature: &[u8]) -> bool {
        match (self, alg) {
            (PublicKey::Rsa(key), Alg::Rs256) => rsa::pkcs1v15::Signature::try_from(signature)
                .map(|sig| key.verify(input, &sig).is_ok())
                .unwrap_or(false),
            (PublicKey::P256(key), Alg::Es256) => p256::ecdsa::Signature::from_slice(signature)
                .map(|sig| key.verify(input, &sig).is_ok())
                .unwrap_or(false),
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<RawJwk>,
}

/// The usable keys of a JWK set, by key id.
#[derive(Clone, Debug, Default)]
pub struct KeySet(Vec<(String, PublicKey)>);

impl KeySet {
    /// Reads a JWK set document; `None` when it is not one.
    pub fn parse(json: &[u8]) -> Option<KeySet> {
        let raw: RawSet = serde_json::from_slice(json).ok()?;
        let keys = raw.keys.into_iter().filter_map(|k| Some((k.kid.clone()?, key(&k)?))).take(MAX_KEYS).collect();
        Some(KeySet(keys))
    }

    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.0.iter().find(|(id, _)| id == kid).map(|(_, k)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn key(jwk: &RawJwk) -> Option<PublicKey> {
    if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let bytes = |v: &Option<String>| v.as_deref().and_then(|s| B64.decode(s).ok());
    match (jwk.kty.as_str(), jwk.alg.as_deref()) {
        ("RSA", None | Some("RS256")) => {
            let n = rsa::BoxedUint::from_be_slice_vartime(&bytes(&jwk.n)?);
            let e = rsa::BoxedUint::from_be_slice_vartime(&bytes(&jwk.e)?);
            // Refuses moduli under 1024 or over 8192 bits and unusual exponents.
            let public = rsa::PublicKey::new(n, e).ok()?;
            Some(PublicKey::Rsa(rsa::pkcs1v15::VerifyingKey::new(public)))
        }
        ("EC", None | Some("ES256")) if jwk.crv.as_deref() == Some("P-256") => {
            let (x, y) = (bytes(&jwk.x)?, bytes(&jwk.y)?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let point = [&[4u8][..], &x, &y].concat(); // SEC1 uncompressed
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok().map(PublicKey::P256)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkeys;
    use super::*;

    #[test]
    fn reads_rsa_and_ec_keys_and_skips_others() {
        let set = format!(
            r#"{{"keys":[{},{},{{"kty":"oct","kid":"h","k":"c2VjcmV0"}},{{"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"}},
            {{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}},{{"kty":"RSA","n":"AQAB","e":"AQAB"}}]}}"#,
            testkeys::rsa_jwk("r1"),
            testkeys::ec_jwk("e1")
        );
        let keys = KeySet::parse(set.as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(matches!(keys.get("r1"), Some(PublicKey::Rsa(_))));
        assert!(matches!(keys.get("e1"), Some(PublicKey::P256(_))));
        assert!(keys.get("h").is_none() && keys.get("enc").is_none());
        for junk in [&b""[..], b"[]", b"{}", b"{\"keys\":3}"] {
            assert!(KeySet::parse(junk).is_none());
        }
    }

    #[test]
    fn a_key_verifies_only_its_own_algorithm_and_signatures() {
        let keys =
            KeySet::parse(format!(r#"{{"keys":[{},{}]}}"#, testkeys::rsa_jwk("r"), testkeys::ec_jwk("e")).as_bytes())
                .unwrap();
        let (rsa, ec) = (keys.get("r").unwrap(), keys.get("e").unwrap());
        let rs_sig = testkeys::rs256(b"input");
        let es_sig = testkeys::es256(b"input");
        assert!(rsa.verifies(Alg::Rs256, b"input", &rs_sig));
        assert!(ec.verifies(Alg::Es256, b"input", &es_sig));
        assert!(!rsa.verifies(Alg::Rs256, b"inpuT", &rs_sig));
        assert!(!ec.verifies(Alg::Es256, b"inpuT", &es_sig));
        assert!(!rsa.verifies(Alg::Es256, b"input", &es_sig), "key type and algorithm must agree");
        assert!(!ec.verifies(Alg::Rs256, b"input", &rs_sig));
        assert!(!rsa.verifies(Alg::Rs256, b"input", &[]));
        assert!(!ec.verifies(Alg::Es256, b"input", &[0; 64]));
    }
}
