//! Tag patterns: the shell wildcards `*` (any run of characters) and `?` (one
//! character) over tag characters, as in `v*`, `latest` or `release-?.?`. They name the
//! tags a retention policy always keeps and the tags that may never move.

use crate::error::{RegistryError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest pattern: a tag is at most 128 characters.
pub const MAX_PATTERN_CHARS: usize = 128;
/// The most patterns one rule lists.
pub const MAX_PATTERNS: usize = 50;

/// A valid tag pattern.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagPattern {
    text: String,
    glob: glob::Pattern,
}

impl TagPattern {
    pub fn parse(text: &str) -> Result<TagPattern> {
        let bad = |why: &str| RegistryError::BadRequest(format!("tag pattern {:?}: {why}", short(text)));
        if text.is_empty() || text.chars().count() > MAX_PATTERN_CHARS {
            return Err(bad(&format!("must have 1 to {MAX_PATTERN_CHARS} characters")));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?');
        if let Some(c) = text.chars().find(|&c| !allowed(c)) {
            return Err(bad(&format!("{c:?} is neither a tag character nor * or ?")));
        }
        let glob = glob::Pattern::new(text).map_err(|e| bad(e.msg))?;
        Ok(TagPattern { text: text.to_string(), glob })
    }

    pub fn matches(&self, tag: &str) -> bool {
        self.glob.matches(tag)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn short(s: &str) -> String {
    s.chars().take(MAX_PATTERN_CHARS + 1).collect()
}

impl TryFrom<String> for TagPattern {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<TagPattern> {
        TagPattern::parse(&s)
    }
}

impl From<TagPattern> for String {
    fn from(p: TagPattern) -> String {
        p.text
    }
}

impl PartialEq for TagPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for TagPattern {}

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A list of patterns, at most `MAX_PATTERNS`, without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<TagPattern>", into = "Vec<TagPattern>")]
pub struct TagPatterns(Vec<TagPattern>);

impl TagPatterns {
    pub fn new(mut patterns: Vec<TagPattern>) -> Result<TagPatterns> {
        if patterns.len() > MAX_PATTERNS {
            return Err(RegistryError::BadRequest(format!("at most {MAX_PATTERNS} tag patterns")));
        }
        let mut seen = std::collections::HashSet::new();
        patterns.retain(|p| seen.insert(p.text.clone()));
        Ok(TagPatterns(patterns))
    }

    /// The first pattern that matches `tag`.
    pub fn matching(&self, tag: &str) -> Option<&TagPattern> {
        self.0.iter().find(|p| p.matches(tag))
    }

    /// The first of `tags` that a pattern matches, with that pattern.
    pub fn first_match<'t>(&self, tags: &'t [String]) -> Option<(&'t str, &TagPattern)> {
        tags.iter().find_map(|t| self.matching(t).map(|p| (t.as_str(), p)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TagPattern> {
        self.0.iter()
    }
}

impl TryFrom<Vec<TagPattern>> for TagPatterns {
    type Error = RegistryError;
    fn try_from(v: Vec<TagPattern>) -> Result<TagPatterns> {
        TagPatterns::new(v)
    }
}

impl From<TagPatterns> for Vec<TagPattern> {
    fn from(p: TagPatterns) -> Vec<TagPattern> {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TagPattern {
        TagPattern::parse(s).unwrap()
    }

    #[test]
    fn wildcards_match_as_in_a_shell() {
        assert!(p("v*").matches("v1.2.3"));
        assert!(p("v*").matches("v"));
        assert!(!p("v*").matches("dev-v1"));
        assert!(p("*").matches("anything_at-all.1"));
        assert!(p("latest").matches("latest"));
        assert!(!p("latest").matches("latest2"));
        assert!(p("release-?").matches("release-1"));
        assert!(!p("release-?").matches("release-10"));
        assert!(p("*-rc*").matches("1.0-rc2"));
        // Tags are case-sensitive, and so are patterns.
        assert!(!p("V*").matches("v1"));
    }

    #[test]
    fn invalid_patterns_say_why() {
        let why = |s: &str| TagPattern::parse(s).unwrap_err();
        assert_eq!(why("").status(), 400);
        assert!(why("v/1").to_string().contains("'/'"), "{}", why("v/1"));
        assert!(why("[ab]").to_string().contains("'['"));
        assert!(why(&"a".repeat(129)).to_string().contains("1 to 128"));
        assert!(why("v**").to_string().contains("tag pattern"));
        assert!(TagPattern::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn lists_are_bounded_and_deduplicated() {
        let many: Vec<_> = (0..=MAX_PATTERNS).map(|i| p(&format!("t{i}"))).collect();
        assert_eq!(TagPatterns::new(many).unwrap_err().status(), 400);
        let list = TagPatterns::new(vec![p("v*"), p("v*"), p("latest")]).unwrap();
        assert_eq!(list.iter().count(), 2);
        let tags = vec!["dev".to_string(), "latest".to_string()];
        assert_eq!(list.first_match(&tags).map(|(t, p)| (t, p.as_str())), Some(("latest", "latest")));
    }

    #[test]
    fn serde_goes_through_validation() {
        let list: TagPatterns = serde_json::from_str(r#"["v*","latest"]"#).unwrap();
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"["v*","latest"]"#);
        assert!(serde_json::from_str::<TagPatterns>(r#"["a b"]"#).is_err());
    }
}
