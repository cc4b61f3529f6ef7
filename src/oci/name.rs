//! Repository names, tags and references, valid by construction.

use super::digest::Digest;
use crate::error::{RegistryError, Result};
use std::fmt;

const MAX_NAME_LEN: usize = 255;

/// A repository name: `NAMESPACE/IMAGE[/...]`, each component matching
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most 255 characters. The first component
/// is the namespace (a user or an organization).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = |why: &str| {
            let shown: String = s.chars().take(80).collect();
            RegistryError::NameInvalid(format!("{shown:?}: {why}"))
        };
        if s.len() > MAX_NAME_LEN {
            return Err(invalid("longer than 255 characters"));
        }
        let components: Vec<&str> = s.split('/').collect();
        if components.len() < 2 {
            return Err(invalid("a name is NAMESPACE/IMAGE"));
        }
        if !components.iter().all(|c| valid_component(c)) {
            return Err(invalid("components are lowercase letters and digits joined by . _ __ or -"));
        }
        Ok(RepoName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user or organization that owns the repository.
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", followed by an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self> {
        let b = s.as_bytes();
        let first_ok = b.first().is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let rest_ok = b.iter().skip(1).all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && b.len() <= 128 {
            Ok(Tag(s.to_string()))
        } else {
            let shown: String = s.chars().take(80).collect();
            Err(RegistryError::ManifestInvalid(format!("invalid tag {shown:?}")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Self> {
        if s.contains(':') {
            Digest::parse(s).map(Reference::Digest)
        } else {
            Tag::parse(s).map(Reference::Tag)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_of_the_grammar() {
        for ok in ["a/b", "acme/web-app", "acme/a.b/c__d/e---f", "u1/x_y", "library/ubuntu"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(RepoName::parse("acme/app/api").unwrap().namespace(), "acme");
    }

    #[test]
    fn rejects_names_outside_the_grammar() {
        let long = format!("a/{}", "b".repeat(254));
        for bad in [
            "",
            "single",
            "A/b",
            "a//b",
            "a/b/",
            "/a/b",
            "a/-b",
            "a/b-",
            "a/b___c",
            "a/b..c",
            "a/b c",
            "a/b:c",
            "a/ü",
            long.as_str(),
        ] {
            assert_eq!(RepoName::parse(bad).unwrap_err().code(), "NAME_INVALID", "{bad:?}");
        }
    }

    #[test]
    fn tags_follow_the_grammar() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a+b", &"t".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert!(matches!(Reference::parse("latest").unwrap(), Reference::Tag(_)));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(Reference::parse(&d).unwrap(), Reference::Digest(_)));
        assert_eq!(Reference::parse("sha256:zz").unwrap_err().code(), "DIGEST_INVALID");
    }
}
