//! Finding an issuer's signing keys: OpenID discovery (`/.well-known/openid-configuration`
//! names the `jwks_uri`), then the JWK set, fetched through the `Fetch` port and
//! remembered in the isolate. A token naming an unknown key id makes one refetch (the
//! issuer may have rotated its keys), and refetches of one issuer are at most one per
//! `MIN_REFETCH_MS`, so tokens with made-up key ids cannot make the registry hammer an
//! issuer.

use super::issuers::Issuers;
use super::jwks::{KeySet, PublicKey};
use super::Refusal;
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Keys are refetched after this long even when every key id is known, so a key the
/// issuer withdrew stops working.
pub const KEYS_TTL_MS: u64 = 10 * 60 * 1000;
/// At most one fetch per issuer in this long.
pub const MIN_REFETCH_MS: u64 = 10_000;
/// Issuers remembered; more than this empties the memory (only allowed issuers get in).
const MAX_ISSUERS: usize = 64;

/// The one thing the verifier needs from the network: the body of a successful `GET`.
#[allow(async_fn_in_trait)]
pub trait Fetch {
    /// The body of `url` if it answered 200 within the platform's limits; a short reason
    /// otherwise (not shown to clients).
    async fn get(&self, url: &str) -> Result<Vec<u8>, String>;

    /// Told when an issuer's keys could not be had (for the operator's log).
    fn failed(&self, _issuer: &str, _why: &str) {}
}

/// Where the verifier finds the key a token names.
#[allow(async_fn_in_trait)]
pub trait KeySource {
    async fn key(&self, issuer: &str, kid: &str) -> Result<PublicKey, Refusal>;
}

struct Entry {
    keys: Option<KeySet>,
    fetched_ms: u64,
    attempted_ms: u64,
}

/// Issuers' keys, remembered across the requests an isolate serves.
#[derive(Default)]
pub struct KeyCache(RefCell<HashMap<String, Entry>>);

/// The keys of allowed issuers, from the cache or fetched at `now_ms`.
pub struct Directory<'a, F> {
    pub fetch: &'a F,
    pub cache: Rc<KeyCache>,
    pub issuers: &'a Issuers,
    pub now_ms: u64,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl<F: Fetch> Directory<'_, F> {
    async fn fetch_keys(&self, issuer: &str) -> Result<KeySet, String> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let doc: Discovery =
            serde_json::from_slice(&self.fetch.get(&url).await?).map_err(|e| format!("discovery document: {e}"))?;
        // OpenID discovery: the document must name the issuer it was fetched for.
        if doc.issuer != issuer {
            return Err("discovery document names another issuer".into());
        }
        if !self.issuers.acceptable_url(&doc.jwks_uri) {
            return Err("jwks_uri is not https".into());
        }
        KeySet::parse(&self.fetch.get(&doc.jwks_uri).await?).ok_or_else(|| "jwks_uri is not a JWK set".into())
    }

    fn lookup(&self, issuer: &str, kid: &str) -> Option<PublicKey> {
        self.cache.0.borrow().get(issuer)?.keys.as_ref()?.get(kid).cloned()
    }
}

impl<F: Fetch> KeySource for Directory<'_, F> {
    async fn key(&self, issuer: &str, kid: &str) -> Result<PublicKey, Refusal> {
        let (fresh, may_fetch) = match self.cache.0.borrow().get(issuer) {
            Some(e) => (
                e.keys.is_some() && self.now_ms.saturating_sub(e.fetched_ms) < KEYS_TTL_MS,
                self.now_ms.saturating_sub(e.attempted_ms) >= MIN_REFETCH_MS,
            ),
            None => (false, true),
        };
        if fresh {
            if let Some(key) = self.lookup(issuer, kid) {
                return Ok(key);
            }
        }
        if may_fetch {
            let fetched = self.fetch_keys(issuer).await;
            let mut cache = self.cache.0.borrow_mut();
            if cache.len() >= MAX_ISSUERS && !cache.contains_key(issuer) {
                cache.clear();
            }
            let entry = cache.entry(issuer.to_string()).or_insert(Entry { keys: None, fetched_ms: 0, attempted_ms: 0 });
            entry.attempted_ms = self.now_ms;
            match fetched {
                Ok(keys) => {
                    entry.keys = Some(keys);
                    entry.fetched_ms = self.now_ms;
                }
                Err(why) => self.fetch.failed(issuer, &why),
            }
        }
        // Keys fetched earlier still serve while the issuer cannot be reached.
        match self.cache.0.borrow().get(issuer).and_then(|e| e.keys.as_ref()) {
            Some(keys) => keys.get(kid).cloned().ok_or(Refusal::UnknownKey),
            None => Err(Refusal::KeysUnavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkeys;
    use super::*;
    use futures_executor::block_on;
    use std::cell::Cell;

    const ISSUER: &str = "https://ci.example";

    /// An issuer whose published keys the test changes; counts the fetches.
    struct FakeIssuer {
        kids: RefCell<Vec<&'static str>>,
        fetches: Cell<u32>,
        down: Cell<bool>,
    }

    impl Fetch for FakeIssuer {
        async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
            self.fetches.set(self.fetches.get() + 1);
            if self.down.get() {
                return Err("down".into());
            }
            match url.strip_prefix(ISSUER) {
                Some("/.well-known/openid-configuration") => {
                    Ok(format!(r#"{{"issuer":"{ISSUER}","jwks_uri":"{ISSUER}/keys"}}"#).into_bytes())
                }
                Some("/keys") => {
                    let keys: Vec<String> = self.kids.borrow().iter().map(|k| testkeys::ec_jwk(k)).collect();
                    Ok(format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes())
                }
                _ => Err("404".into()),
            }
        }
    }

    fn issuer(kids: &[&'static str]) -> FakeIssuer {
        FakeIssuer { kids: RefCell::new(kids.to_vec()), fetches: Cell::new(0), down: Cell::new(false) }
    }

    fn key(f: &FakeIssuer, cache: &Rc<KeyCache>, now_ms: u64, kid: &str) -> Result<PublicKey, Refusal> {
        let (issuers, _) = Issuers::new(ISSUER, false);
        block_on(Directory { fetch: f, cache: cache.clone(), issuers: &issuers, now_ms }.key(ISSUER, kid))
    }

    #[test]
    fn keys_are_fetched_once_and_remembered() {
        let (f, cache) = (issuer(&["k1"]), Rc::new(KeyCache::default()));
        assert!(key(&f, &cache, 0, "k1").is_ok());
        assert_eq!(f.fetches.get(), 2, "discovery, then the key set");
        assert!(key(&f, &cache, KEYS_TTL_MS - 1, "k1").is_ok());
        assert_eq!(f.fetches.get(), 2);
        assert!(key(&f, &cache, KEYS_TTL_MS, "k1").is_ok());
        assert_eq!(f.fetches.get(), 4, "refetched once stale");
    }

    #[test]
    fn an_unknown_kid_refetches_once_within_the_rate_limit() {
        let (f, cache) = (issuer(&["k1"]), Rc::new(KeyCache::default()));
        key(&f, &cache, 0, "k1").unwrap();
        // The issuer rotates; the first token with the new key makes one refetch...
        f.kids.replace(vec!["k1", "k2"]);
        assert_eq!(key(&f, &cache, MIN_REFETCH_MS, "k2").map(|_| ()), Ok(()));
        assert_eq!(f.fetches.get(), 4);
        // ...made-up key ids get no further fetch within the limit...
        for i in 1..5 {
            assert_eq!(key(&f, &cache, MIN_REFETCH_MS + i, "bogus").map(|_| ()), Err(Refusal::UnknownKey));
        }
        assert_eq!(f.fetches.get(), 4);
        // ...and one after it, still refused when the issuer does not know the key.
        assert_eq!(key(&f, &cache, 2 * MIN_REFETCH_MS, "bogus").map(|_| ()), Err(Refusal::UnknownKey));
        assert_eq!(f.fetches.get(), 6);
    }

    #[test]
    fn an_unreachable_issuer_is_named_and_old_keys_keep_serving() {
        let (f, cache) = (issuer(&["k1"]), Rc::new(KeyCache::default()));
        f.down.set(true);
        assert_eq!(key(&f, &cache, 0, "k1").map(|_| ()), Err(Refusal::KeysUnavailable));
        f.down.set(false);
        assert!(key(&f, &cache, MIN_REFETCH_MS, "k1").is_ok());
        f.down.set(true);
        assert!(key(&f, &cache, MIN_REFETCH_MS + KEYS_TTL_MS, "k1").is_ok(), "stale keys while the issuer is down");
    }

    #[test]
    fn a_discovery_document_for_another_issuer_or_with_plain_http_keys_is_refused() {
        struct Lying(&'static str);
        impl Fetch for Lying {
            async fn get(&self, _url: &str) -> Result<Vec<u8>, String> {
                Ok(self.0.as_bytes().to_vec())
            }
        }
        let (issuers, _) = Issuers::new(ISSUER, false);
        for doc in [
            r#"{"issuer":"https://other","jwks_uri":"https://ci.example/keys"}"#,
            r#"{"issuer":"https://ci.example","jwks_uri":"http://ci.example/keys"}"#,
        ] {
            let dir =
                Directory { fetch: &Lying(doc), cache: Rc::new(KeyCache::default()), issuers: &issuers, now_ms: 0 };
            assert_eq!(block_on(dir.key(ISSUER, "k")).map(|_| ()), Err(Refusal::KeysUnavailable), "{doc}");
        }
    }
}
