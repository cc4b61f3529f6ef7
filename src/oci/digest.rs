//! Content digests (`algorithm:hex`) and the incremental hasher whose state survives
//! between upload requests, so closing an upload never re-reads the blob.

use crate::error::{RegistryError, Result};
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    /// `sha256` or `sha512`, as the `digest-algorithm` upload parameter names them.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            _ => Err(RegistryError::DigestInvalid(format!("unsupported digest algorithm {:?}", truncate(s)))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated digest: a known algorithm and lowercase hex of the right length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = || RegistryError::DigestInvalid(format!("invalid digest {:?}", truncate(s)));
        let (alg, hex) = s.split_once(':').ok_or_else(invalid)?;
        let algorithm = Algorithm::parse(alg).map_err(|_| invalid())?;
        let hex_ok =
            hex.len() == algorithm.hex_len() && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(invalid());
        }
        Ok(Digest { algorithm, hex: hex.to_string() })
    }

    /// The sha256 digest of a whole byte slice (manifests, small bodies).
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Digest::of(Algorithm::Sha256, bytes)
    }

    /// The digest of a whole byte slice in `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut h = DigestHasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The digest a hash function returned as raw bytes (a platform's own hasher).
    pub fn from_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<Self> {
        if bytes.len() * 2 != algorithm.hex_len() {
            return Err(RegistryError::internal(format!("a {} digest of {} bytes", algorithm.as_str(), bytes.len())));
        }
        Ok(Digest { algorithm, hex: to_hex(bytes) })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An incremental hash whose state can be saved with an upload session and resumed.
#[derive(Clone)]
pub enum DigestHasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl DigestHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => DigestHasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => DigestHasher::Sha512(Sha512::new()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            DigestHasher::Sha256(_) => Algorithm::Sha256,
            DigestHasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            DigestHasher::Sha256(h) => h.update(bytes),
            DigestHasher::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self {
            DigestHasher::Sha256(h) => to_hex(&h.finalize()),
            DigestHasher::Sha512(h) => to_hex(&h.finalize()),
        };
        Digest { algorithm, hex }
    }

    /// The hash state as bytes, to be stored with the session between requests.
    pub fn save(&self) -> Vec<u8> {
        let (tag, state) = match self {
            DigestHasher::Sha256(h) => (b'2', h.serialize().to_vec()),
            DigestHasher::Sha512(h) => (b'5', h.serialize().to_vec()),
        };
        let mut out = Vec::with_capacity(state.len() + 1);
        out.push(tag);
        out.extend_from_slice(&state);
        out
    }

    pub fn restore(saved: &[u8]) -> Result<Self> {
        let corrupt = || RegistryError::internal("corrupt hash state in upload session");
        let (tag, state) = saved.split_first().ok_or_else(corrupt)?;
        match tag {
            b'2' => Sha256::deserialize(state.try_into().map_err(|_| corrupt())?)
                .map(DigestHasher::Sha256)
                .map_err(|_| corrupt()),
            b'5' => Sha512::deserialize(state.try_into().map_err(|_| corrupt())?)
                .map(DigestHasher::Sha512)
                .map_err(|_| corrupt()),
            _ => Err(corrupt()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    #[test]
    fn parses_and_prints_round_trip() {
        assert_eq!(Digest::parse(HELLO).unwrap().to_string(), HELLO);
    }

    #[test]
    fn rejects_bad_algorithm_hex_and_length() {
        for bad in [
            "md5:b94d27b9934d3e08a52e52d7da7dabfa",
            "sha256:B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9",
            "sha256:xyz",
            "sha256:",
            "sha256",
            "",
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde",
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert_eq!(e.code(), "DIGEST_INVALID", "{bad}");
        }
    }

    #[test]
    fn hash_state_survives_save_and_restore() {
        let mut h = DigestHasher::new(Algorithm::Sha256);
        h.update(b"hello ");
        let mut resumed = DigestHasher::restore(&h.save()).unwrap();
        resumed.update(b"world");
        assert_eq!(resumed.finish().to_string(), HELLO);

        let mut h = DigestHasher::new(Algorithm::Sha512);
        h.update(b"a");
        let mut resumed = DigestHasher::restore(&h.save()).unwrap();
        resumed.update(b"b");
        let mut whole = DigestHasher::new(Algorithm::Sha512);
        whole.update(b"ab");
        assert_eq!(resumed.finish(), whole.finish());
    }

    #[test]
    fn raw_digest_bytes_become_a_digest_of_the_right_length_only() {
        let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&HELLO[7 + 2 * i..9 + 2 * i], 16).unwrap()).collect();
        assert_eq!(Digest::from_bytes(Algorithm::Sha256, &bytes).unwrap().to_string(), HELLO);
        assert!(Digest::from_bytes(Algorithm::Sha512, &bytes).is_err());
        assert!(Digest::from_bytes(Algorithm::Sha256, &bytes[1..]).is_err());
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_panic() {
        assert!(DigestHasher::restore(b"").is_err());
        assert!(DigestHasher::restore(b"2short").is_err());
        assert!(DigestHasher::restore(b"9").is_err());
    }
}
