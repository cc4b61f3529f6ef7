//! Fixed keys for tests of the verifier: a test issuer's RSA and P-256 key pairs, and
//! tokens signed with them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::{SignatureEncoding, Signer};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;

const RSA_PEM: &str = "
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC8qWgVvAGVJD+A
wSCr7Nv+tG5083HLsG1Mt2NX5OejGrAZE2KA0P86CRnJs0pNzNyFkV0ZLoJM3kHY
HiDwRS1BIwXuVmOeqgMomm8vN+oFR/BOE26DzCfzUDuLOIMsyxVsKMGFCOSvZiEp
6yO3qbSX170ymGjTlOJk6VSitzuvAjWZpPiCGDl+4UQsSXsj/pOVkfRfGyIlfMvB
R22QKBgEBZLAZqiokVVW4IjiueTxIkqijCH2MCox5dHqo4lxTlzt7Ao9W7qsfdXA
NB+9TguxRHTphwvzNlVi3YofMdWyLHuxh9ISY3LDoregN+m+FgQ7Np1DzzqY0rvI
8lVTwpwvAgMBAAECggEAATUAqZO8dNsfA7CSO3D2aJCrj9iXShgH+WPHYTwUyVCp
GMTGSBAbDSC0YNVI7LeA7HylTYoKvMaQdRTR3brexibQHM0ofpuuDbGM2luV7Gog
UCrEQoto8NMUfNikA89Aa1YIniFg75Ul/pH2qaNB0jwUn03yhowFm/ysLtntdu14
LRvyiLZOKApgo3EQHtQk4BDTp3p6SyjW1L6ilslxcnZDDatAGPjbDL3ahtDrFfN2
h82TO3LYvhwwgTQm6EslpiHEjl+DZP+kRL0tF2VOk1AmOFUQCDjPDRnhImARvrSr
jJoc+4ISqlg4erPeTkp7nLQn5/oWYpmu/otqNesruQKBgQDltbwhvYsvzvoX0XlO
tNK69ZDeYSggCg8b6I7YmDAcE87xCVfqdk8EPiqpMrtbqGG3SNkUcxgKHx+FjCju
7G5ixL94SF1b5r3N6fzMH9n4HF36R4lmi6+3uRnK8knGn+v6c+Nv39ZBm+FKaAbm
FG4qUz6EceSRYUORdRwoAbIgtwKBgQDSQQCvSluKyeQxxuDNru75Ce6TBxZ/bbWd
S8SHKC6Lt7uZJg08r9Ce4ZOUq6HLPcs11hAzKwGKZR32h/YMW3JrjRwIIgJbxgiF
nsBviLIvp4G4L8TjM1xSYJpkO38IjcFbSDo4TSMoOw6lQMVe5wWg48ajFmxc98bZ
mMLZp+r4SQKBgCuFqFR4NiPjwky6+pHn/rk/h6gqnlCbt0shX9c31n2rXx0aGRcq
PURfhvOx0f/GwmTYn5CZUeexB+bkrGjAURXTkzd19oJQEIwwFh6Stlik/0VJQoY0
VyGnJ3TlPQcuC6bTSDdNIKojn6baWNxE6K6KQSEU9yp4VDX+C0ylLZu3AoGAMep6
xiLqHsYVpfeoUUyRsZA5ErDhF3mtX12ol8njWwpQwGg3RkwbRE0bo3Un4T+Xaf2b
NPqlz/x3o5rdwEtJm90RZaDlXHJkfYyV9STH4OZstpSosqPz7B7BKMCzRQ2adRht
sgYmLZvvuy3obcJ9JJhPBVMCgQPWMrzArbne3/kCgYArTPsss6fv4ismH9ceOmJ7
RXWNlZIdG/SAiu8pN/9/R5Nh3LwgRQmEHlOnSfaWGPWp9+8lHmDePkb4IVkICGqY
b35AJO/KM38Mj39qqU0CS3et2hQslcnbVYB2e2WMsIQ6tl0bMG2EUDgvzzDMB4IY
WB5YpsI+OlXGkWYhE7qrjA==
-----END PRIVATE KEY-----
";
const EC_SCALAR: &str = "917c0ced56c4ed23d605be98c8f924515bbfda56a1ad5f77b7f25db7e1f1fcde";

fn rsa_key() -> rsa::PrivateKey {
    rsa::PrivateKey::from_pkcs8_pem(RSA_PEM.trim()).expect("test key")
}

fn ec_key() -> p256::ecdsa::SigningKey {
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&EC_SCALAR[2 * i..2 * i + 2], 16).unwrap()).collect();
    p256::ecdsa::SigningKey::from_slice(&bytes).expect("test key")
}

fn minimal(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The public half of the RSA test key as a JWK.
pub fn rsa_jwk(kid: &str) -> String {
    let public = rsa::PublicKey::from(&rsa_key());
    let n = B64.encode(minimal(&public.n().to_be_bytes()));
    let e = B64.encode(minimal(&public.e().to_be_bytes()));
    format!(r#"{{"kty":"RSA","kid":"{kid}","use":"sig","alg":"RS256","n":"{n}","e":"{e}"}}"#)
}

/// The public half of the P-256 test key as a JWK.
pub fn ec_jwk(kid: &str) -> String {
    let point = ec_key().verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let (x, y) = (B64.encode(&bytes[1..33]), B64.encode(&bytes[33..65]));
    format!(r#"{{"kty":"EC","kid":"{kid}","crv":"P-256","x":"{x}","y":"{y}"}}"#)
}

pub fn rs256(input: &[u8]) -> Vec<u8> {
    rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key()).sign(input).to_vec()
}

pub fn es256(input: &[u8]) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = ec_key().sign(input);
    sig.to_vec()
}

/// A token with `header` and `claims` (JSON), signed by the key its `alg` names
/// (or given `signature`-less for other algorithms).
pub fn token(header: &str, claims: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let signature = if header.contains("\"RS256\"") {
        rs256(input.as_bytes())
    } else if header.contains("\"ES256\"") {
        es256(input.as_bytes())
    } else {
        b"not a signature".to_vec()
    };
    format!("{input}.{}", B64.encode(signature))
}
