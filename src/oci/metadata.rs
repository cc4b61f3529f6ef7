//! What an image says about itself for its package page: the standard annotations
//! (source, description, licenses), its platform and when it was built. Values are cut
//! at a limit rather than refused: a push never fails over a long description.

use super::manifest::{Manifest, Platform};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SOURCE: &str = "org.opencontainers.image.source";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
pub const LICENSES: &str = "org.opencontainers.image.licenses";
pub const CREATED: &str = "org.opencontainers.image.created";

/// Limits in characters.
pub const MAX_SOURCE: usize = 512;
pub const MAX_DESCRIPTION: usize = 512;
pub const MAX_LICENSES: usize = 256;

/// The most platforms a version lists, and the longest platform name kept.
pub const MAX_PLATFORMS: usize = 64;
const MAX_PLATFORM_NAME: usize = 64;
/// An RFC 3339 time is about 30 characters; longer values are not times.
const MAX_TIMESTAMP: usize = 64;

/// Image configs larger than this are not read for labels (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The media types of configs that carry labels.
pub fn is_image_config(media_type: &str) -> bool {
    matches!(media_type, "application/vnd.oci.image.config.v1+json" | "application/vnd.docker.container.image.v1+json")
}

/// The package metadata of one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<String>,
    /// The fields that were cut at their limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
}

impl PackageMetadata {
    /// Reads the annotations from `sources`, the first that has a field winning.
    pub fn from_annotations(sources: &[&BTreeMap<String, String>]) -> Self {
        let mut meta = PackageMetadata::default();
        let find = |key: &str| sources.iter().find_map(|s| s.get(key).filter(|v| !v.trim().is_empty()));
        meta.source = find(SOURCE).map(|v| meta.cut("source", v, MAX_SOURCE));
        meta.description = find(DESCRIPTION).map(|v| meta.cut("description", v, MAX_DESCRIPTION));
        meta.licenses = find(LICENSES).map(|v| meta.cut("licenses", v, MAX_LICENSES));
        meta
    }

    /// Fills the fields this one lacks from `other` (an index's from its first image).
    pub fn or(mut self, other: &PackageMetadata) -> Self {
        for (field, mine, theirs) in [
            ("source", &mut self.source, &other.source),
            ("description", &mut self.description, &other.description),
            ("licenses", &mut self.licenses, &other.licenses),
        ] {
            if mine.is_none() && theirs.is_some() {
                mine.clone_from(theirs);
                if other.truncated.iter().any(|t| t == field) {
                    self.truncated.push(field.to_string());
                }
            }
        }
        self
    }

    fn cut(&mut self, field: &str, value: &str, limit: usize) -> String {
        let value = value.trim();
        match value.char_indices().nth(limit) {
            Some((end, _)) => {
                self.truncated.push(field.to_string());
                value[..end].to_string()
            }
            None => value.to_string(),
        }
    }
}

/// The parts of an image config the package page shows.
#[derive(Debug, Default, Deserialize)]
pub struct ImageConfig {
    pub created: Option<String>,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub variant: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RunConfig {
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl ImageConfig {
    /// A config that does not parse is treated as empty: the page just shows less.
    pub fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.config.as_ref().and_then(|c| c.labels.as_ref())
    }

    pub fn platform(&self) -> Option<String> {
        Some(platform_name(self.os.as_deref()?, self.architecture.as_deref()?, self.variant.as_deref()))
            .filter(|p| p.len() <= MAX_PLATFORM_NAME)
    }
}

/// `os/architecture[/variant]`, as `docker pull --platform` writes it.
pub fn platform_name(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(v) if !v.is_empty() => format!("{os}/{architecture}/{v}"),
        _ => format!("{os}/{architecture}"),
    }
}

/// The platforms an index offers, each once, at most `MAX_PLATFORMS`. Attestations
/// (`unknown/unknown`) are not platforms.
pub fn index_platforms(index: &Manifest) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let names = index
        .children
        .iter()
        .filter_map(|c| c.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|Platform { os, architecture, variant }| platform_name(os, architecture, variant.as_deref()))
        .filter(|p| p.len() <= MAX_PLATFORM_NAME);
    for name in names {
        if found.len() == MAX_PLATFORMS {
            break;
        }
        if !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

/// A build time as the image states it, if it is of a sensible length.
pub fn timestamp(value: Option<&str>) -> Option<String> {
    value.filter(|v| v.len() <= MAX_TIMESTAMP).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn first_source_with_a_field_wins() {
        let manifest = map(&[(DESCRIPTION, "from the manifest")]);
        let labels = map(&[(DESCRIPTION, "from labels"), (LICENSES, "MIT"), (SOURCE, "https://example.com/x")]);
        let m = PackageMetadata::from_annotations(&[&manifest, &labels]);
        assert_eq!(m.description.as_deref(), Some("from the manifest"));
        assert_eq!(m.licenses.as_deref(), Some("MIT"));
        assert_eq!(m.source.as_deref(), Some("https://example.com/x"));
        assert!(m.truncated.is_empty());
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary_and_flagged() {
        let long = "é".repeat(600);
        let m = PackageMetadata::from_annotations(&[&map(&[(DESCRIPTION, &long), (LICENSES, &"x".repeat(257))])]);
        assert_eq!(m.description.as_ref().unwrap().chars().count(), MAX_DESCRIPTION);
        assert_eq!(m.licenses.as_ref().unwrap().len(), MAX_LICENSES);
        assert_eq!(m.truncated, vec!["description", "licenses"]);
        let exact = PackageMetadata::from_annotations(&[&map(&[(LICENSES, &"x".repeat(256))])]);
        assert!(exact.truncated.is_empty());
    }

    #[test]
    fn an_index_borrows_what_it_lacks_from_its_image() {
        let index = PackageMetadata::from_annotations(&[&map(&[(DESCRIPTION, "multi")])]);
        let image =
            PackageMetadata::from_annotations(&[&map(&[(DESCRIPTION, "single"), (LICENSES, &"y".repeat(300))])]);
        let merged = index.or(&image);
        assert_eq!(merged.description.as_deref(), Some("multi"));
        assert_eq!(merged.licenses.as_ref().unwrap().len(), MAX_LICENSES);
        assert_eq!(merged.truncated, vec!["licenses"]);
    }

    #[test]
    fn config_labels_platform_and_created_are_read() {
        let c = ImageConfig::parse(
            br#"{"created":"2026-01-02T03:04:05Z","architecture":"arm","os":"linux","variant":"v7",
                "config":{"Labels":{"org.opencontainers.image.licenses":"Apache-2.0"}}}"#,
        );
        assert_eq!(c.platform().as_deref(), Some("linux/arm/v7"));
        assert_eq!(c.created.as_deref(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(c.labels().unwrap()[LICENSES], "Apache-2.0");
        assert!(ImageConfig::parse(b"not json").platform().is_none());
        assert!(ImageConfig::parse(br#"{"config":{"Labels":null}}"#).labels().is_none());
    }
}
