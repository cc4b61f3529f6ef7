//! Personal access tokens: `erp_<id><secret>`, shown once, stored only as a SHA-256
//! hash, looked up by id and compared in constant time.

use crate::error::{RegistryError, Result};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Recognisable in logs, configs and secret scanners.
pub const PREFIX: &str = "erp_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 40;

/// A token as a client presents it. Deliberately not `Debug` or `Display`: it is never
/// printed.
pub struct PresentedToken {
    id: String,
    whole: String,
}

impl PresentedToken {
    /// Reads a token; anything not shaped like one is `None` (not an error: the caller
    /// answers 401 either way).
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(PREFIX)?;
        let ok =
            body.len() == ID_LEN + SECRET_LEN && body.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        ok.then(|| PresentedToken { id: body[..ID_LEN].to_string(), whole: s.to_string() })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        hash(&self.whole).ct_eq(stored_hash).into()
    }
}

/// A freshly made token: the secret to show once, and what to store.
pub struct NewToken {
    pub id: String,
    pub secret: String,
    pub hash: Vec<u8>,
}

pub fn generate() -> Result<NewToken> {
    let mut bytes = [0u8; (ID_LEN + SECRET_LEN) / 2];
    getrandom::fill(&mut bytes).map_err(RegistryError::internal)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = format!("{PREFIX}{hex}");
    Ok(NewToken { id: hex[..ID_LEN].to_string(), hash: hash(&secret), secret })
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_match_only_themselves() {
        let t = generate().unwrap();
        assert!(t.secret.starts_with("erp_"));
        let p = PresentedToken::parse(&t.secret).unwrap();
        assert_eq!(p.id(), t.id);
        assert!(p.matches(&t.hash));
        let other = generate().unwrap();
        assert!(!p.matches(&other.hash));
        assert_ne!(t.secret, other.secret);
    }

    #[test]
    fn malformed_tokens_are_none() {
        for bad in
            ["", "erp_", "erp_xyz", "ghp_0123", &format!("erp_{}", "A".repeat(56)), &format!("erp_{}", "a".repeat(57))]
        {
            assert!(PresentedToken::parse(bad).is_none(), "{bad}");
        }
    }
}
