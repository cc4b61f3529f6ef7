//! Immutable tags: once a tag matching one of a package's patterns points at a digest, it
//! may not move to another or be deleted. Pushing the same digest again changes nothing
//! and is allowed, so a retried push never fails.

use super::pattern::TagPatterns;
use crate::error::{RegistryError, Result};
use crate::oci::Digest;

/// A tag change refused because a rule makes the tag immutable; the message names it.
/// No quotes: clients print the message inside quotes of their own.
fn refused(tag: &str, pattern: &str, what: &str) -> RegistryError {
    RegistryError::DeniedBecause(format!(
        "tag {tag} is immutable (package rule immutable_tags: {pattern}): it cannot be {what}"
    ))
}

/// Whether `tag`, pointing at `current` (if it exists), may be pointed at `new`.
pub fn check_move(rules: &TagPatterns, tag: &str, current: Option<&Digest>, new: &Digest) -> Result<()> {
    match (rules.matching(tag), current) {
        (Some(p), Some(current)) if current != new => Err(refused(tag, p.as_str(), "moved to another digest")),
        _ => Ok(()),
    }
}

/// Whether `tag` may be deleted.
pub fn check_delete(rules: &TagPatterns, tag: &str) -> Result<()> {
    match rules.matching(tag) {
        Some(p) => Err(refused(tag, p.as_str(), "deleted")),
        None => Ok(()),
    }
}

/// Whether a version carrying `tags` may be deleted: not while an immutable tag is on it.
pub fn check_version_delete(rules: &TagPatterns, tags: &[String]) -> Result<()> {
    match rules.first_match(tags) {
        Some((tag, p)) => Err(refused(tag, p.as_str(), "deleted, nor the version it points at")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &str) -> TagPatterns {
        serde_json::from_str(list).unwrap()
    }
    fn d(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    #[test]
    fn a_matching_tag_cannot_move_but_may_be_pushed_again() {
        let r = rules(r#"["v*"]"#);
        let e = check_move(&r, "v1.0", Some(&d(1)), &d(2)).unwrap_err();
        assert_eq!((e.code(), e.status()), ("DENIED", 403));
        assert_eq!(
            e.message(),
            "tag v1.0 is immutable (package rule immutable_tags: v*): it cannot be moved to another digest"
        );
        assert!(check_move(&r, "v1.0", Some(&d(1)), &d(1)).is_ok());
        // A new tag may be created; a tag no rule names may move.
        assert!(check_move(&r, "v2.0", None, &d(2)).is_ok());
        assert!(check_move(&r, "latest", Some(&d(1)), &d(2)).is_ok());
    }

    #[test]
    fn a_matching_tag_cannot_be_deleted_nor_its_version() {
        let r = rules(r#"["latest", "release-*"]"#);
        assert!(check_delete(&r, "release-1").unwrap_err().message().contains("immutable_tags: release-*)"));
        assert!(check_delete(&r, "dev").is_ok());
        let tags = vec!["dev".to_string(), "latest".to_string()];
        assert!(check_version_delete(&r, &tags).unwrap_err().message().contains("tag latest is immutable"));
        assert!(check_version_delete(&r, &["dev".to_string()]).is_ok());
    }

    #[test]
    fn every_tag_is_one_star() {
        let r = rules(r#"["*"]"#);
        assert!(check_move(&r, "anything", Some(&d(1)), &d(2)).is_err());
        assert!(check_move(&rules("[]"), "anything", Some(&d(1)), &d(2)).is_ok());
    }
}
