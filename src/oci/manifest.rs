//! Manifest parsing: what a pushed manifest is, what it references and what it says of
//! itself. The bytes are stored as they came; this only reads them.

use super::digest::Digest;
use crate::error::{RegistryError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Manifests larger than this are refused with 413.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// More descriptors than this in one manifest is abuse, not an image.
const MAX_DESCRIPTORS: usize = 10_000;
/// RFC 6838 allows 127 characters for a type and as many for a subtype.
const MAX_MEDIA_TYPE: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image (or artifact) manifest: a config and layers.
    Image,
    /// An image index or manifest list: other manifests.
    Index,
}

/// A descriptor as manifests write it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub artifact_type: Option<String>,
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
}

impl Descriptor {
    /// Foreign (non-distributable) layers with `urls` are fetched from elsewhere and
    /// need not be in the registry.
    pub fn is_foreign(&self) -> bool {
        let foreign_type = self.media_type.contains(".foreign.") || self.media_type.contains("nondistributable");
        foreign_type && !self.urls.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// What the registry needs to know of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub children: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses a manifest body sent with `content_type` (which may be absent).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self> {
        let invalid = |why: String| RegistryError::ManifestInvalid(why);
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a manifest: {e}")))?;
        if raw.schema_version != Some(2) {
            return Err(invalid("schemaVersion must be 2".into()));
        }
        let header = content_type.map(|c| c.split(';').next().unwrap_or("").trim()).filter(|c| !c.is_empty());
        if let (Some(h), Some(b)) = (header, raw.media_type.as_deref()) {
            if h != b {
                return Err(invalid(format!("Content-Type {h} differs from mediaType {b}")));
            }
        }
        let media_type = match (header, raw.media_type.as_deref()) {
            (Some(h), _) => h.to_string(),
            (None, Some(b)) => b.to_string(),
            (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
            (None, None) => OCI_MANIFEST.to_string(),
        };
        let kind = match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
            OCI_INDEX | DOCKER_MANIFEST_LIST => ManifestKind::Index,
            other => return Err(invalid(format!("unsupported manifest media type {other}"))),
        };
        let manifest = match kind {
            ManifestKind::Image => {
                let config = raw.config.ok_or_else(|| invalid("an image manifest needs a config".into()))?;
                let layers = raw.layers.unwrap_or_default();
                if raw.manifests.is_some() {
                    return Err(invalid("an image manifest has no manifests".into()));
                }
                Manifest {
                    media_type,
                    kind,
                    config: Some(config),
                    layers,
                    children: vec![],
                    subject: raw.subject,
                    artifact_type: raw.artifact_type,
                    annotations: raw.annotations,
                }
            }
            ManifestKind::Index => {
                let children = raw.manifests.ok_or_else(|| invalid("an index needs manifests".into()))?;
                if raw.config.is_some() || raw.layers.is_some() {
                    return Err(invalid("an index has no config or layers".into()));
                }
                Manifest {
                    media_type,
                    kind,
                    config: None,
                    layers: vec![],
                    children,
                    subject: raw.subject,
                    artifact_type: raw.artifact_type,
                    annotations: raw.annotations,
                }
            }
        };
        // The artifact type is kept with the manifest's record: it must be a media type.
        if manifest.effective_artifact_type().is_some_and(|t| t.len() > MAX_MEDIA_TYPE) {
            return Err(invalid(format!("an artifact type or config media type over {MAX_MEDIA_TYPE} bytes")));
        }
        if manifest.layers.len() + manifest.children.len() > MAX_DESCRIPTORS {
            return Err(invalid(format!("more than {MAX_DESCRIPTORS} descriptors")));
        }
        Ok(manifest)
    }

    /// Blobs that must be present in the repository for this manifest to be accepted.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Digest> {
        self.config.iter().chain(self.layers.iter().filter(|l| !l.is_foreign())).map(|d| &d.digest)
    }

    /// The artifact type a referrers listing reports: `artifactType`, else the config's media type.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().or(self.config.as_ref().map(|c| c.media_type.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}}]{extra}}}"#,
            d('a'),
            d('b')
        )
    }

    #[test]
    fn image_manifest_lists_config_and_layers() {
        let m = Manifest::parse(image("").as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        let req: Vec<String> = m.required_blobs().map(|x| x.to_string()).collect();
        assert_eq!(req, vec![d('a'), d('b')]);
        assert_eq!(m.effective_artifact_type(), Some("application/vnd.oci.image.config.v1+json"));
    }

    #[test]
    fn subject_and_artifact_type_are_read() {
        let extra = format!(
            r#","artifactType":"application/x-sbom","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}}"#,
            d('c')
        );
        let m = Manifest::parse(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(m.subject.as_ref().unwrap().digest.to_string(), d('c'));
        assert_eq!(m.effective_artifact_type(), Some("application/x-sbom"));
    }

    #[test]
    fn foreign_layers_with_urls_are_not_required() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{}","size":3,"urls":["https://example.com/l"]}}]}}"#,
            d('a'),
            d('b')
        );
        let m = Manifest::parse(body.as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.required_blobs().count(), 1);
    }

    #[test]
    fn index_lists_children() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5,"platform":{{"architecture":"arm64","os":"linux"}}}}],
            "annotations":{{"org.opencontainers.image.description":"hi"}}}}"#,
            d('e')
        );
        let m = Manifest::parse(body.as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children.len(), 1);
        assert_eq!(m.children[0].platform.as_ref().unwrap().architecture, "arm64");
        assert_eq!(m.annotations["org.opencontainers.image.description"], "hi");
    }

    #[test]
    fn malformed_manifests_are_manifest_invalid() {
        let cases: Vec<(String, Option<&str>)> = vec![
            ("not json".into(), None),
            ("{}".into(), None),
            (r#"{"schemaVersion":1}"#.into(), None),
            (image(""), Some(OCI_INDEX)),
            (image("").replace(&d('b'), "sha256:nothex"), None),
            (image("").replace("\"size\":3", "\"size\":-3"), None),
            (r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.into(), None),
            (r#"{"schemaVersion":2,"mediaType":"text/plain","manifests":[]}"#.into(), None),
        ];
        for (body, ct) in cases {
            let e = Manifest::parse(body.as_bytes(), ct).unwrap_err();
            assert_eq!(e.code(), "MANIFEST_INVALID", "{body}");
        }
    }
}
