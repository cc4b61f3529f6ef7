//! Identity tokens (trusted publishing): the verifier never panics, its refusals stay
//! short, and nothing but what the issuer signed verifies. The seed is a token signed by
//! the key below, whose private half was thrown away.
#![no_main]
use edge_registry::auth::oidc::jwks::{KeySet, PublicKey};
use edge_registry::auth::oidc::keys::KeySource;
use edge_registry::auth::oidc::{jwt, Issuers, Refusal, Verifier};
use futures_executor::block_on;
use libfuzzer_sys::fuzz_target;

const KEYS: &str = r#"{"keys": [{"kty": "EC", "kid": "fuzz", "crv": "P-256", "x": "089u9Cw_dOHrYj7DhUnER0IduN64FXGcGv5LZeeE710", "y": "pPZvVfAX-7wIR-eejmNV1Yt3DBPgUWBEwXHxqQ7KDOc"}]}"#;
/// The claims the seed token carries (its middle part).
const SIGNED_CLAIMS: &str = "eyJpc3MiOiAiaHR0cHM6Ly90b2tlbi5hY3Rpb25zLmdpdGh1YnVzZXJjb250ZW50LmNvbSIsICJhdWQiOiAiaHR0cHM6Ly9yZWdpc3RyeS5mdXp6IiwgImlhdCI6IDEwMDAsICJleHAiOiAxMzAwLCAianRpIjogImoiLCAicmVwb3NpdG9yeSI6ICJvY3RvL2FwcCIsICJyZXBvc2l0b3J5X293bmVyX2lkIjogIjEiLCAid29ya2Zsb3dfcmVmIjogIm9jdG8vYXBwLy5naXRodWIvd29ya2Zsb3dzL3JlbGVhc2UueW1sQHJlZnMvdGFncy92MSIsICJyZWYiOiAicmVmcy90YWdzL3YxIiwgInNoYSI6ICJhYmMifQ";

struct Fixed(KeySet);

impl KeySource for Fixed {
    async fn key(&self, _issuer: &str, kid: &str) -> Result<PublicKey, Refusal> {
        self.0.get(kid).cloned().ok_or(Refusal::UnknownKey)
    }
}

fuzz_target!(|input: &str| {
    let keys = Fixed(KeySet::parse(KEYS.as_bytes()).expect("the fixed key set"));
    let verifier =
        Verifier { issuers: Issuers::new("", false).0, audience: "https://registry.fuzz".into(), max_life_secs: 600 };
    match block_on(verifier.verify(input, 1100, &keys)) {
        Ok(id) => {
            let claims = input.split('.').nth(1).unwrap_or("");
            assert_eq!(claims, SIGNED_CLAIMS, "only the signed claims verify");
            assert_eq!(id.repository, "octo/app");
        }
        Err(refusal) => assert!(refusal.to_string().len() <= 200, "{refusal}"),
    }
    if let Ok(t) = jwt::parse(input) {
        assert!(input.starts_with(t.signing_input));
    }
    // A JWK set from the same bytes: parsing is total and bounded.
    if let Some(set) = KeySet::parse(input.as_bytes()) {
        assert!(set.len() <= 32);
    }
});
