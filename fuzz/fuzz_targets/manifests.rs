//! Manifests and indexes: any bytes with any Content-Type parse or fail cleanly, and an
//! accepted manifest stays within the descriptor limit; a refused one gets a short message.
#![no_main]
use edge_registry::oci::manifest::{Manifest, ManifestKind};
use edge_registry_fuzz::check_error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Option<&str>, &[u8])| {
    let (content_type, bytes) = input;
    match Manifest::parse(bytes, content_type) {
        Ok(m) => {
            assert!(m.layers.len() + m.children.len() <= 10_000);
            match m.kind {
                ManifestKind::Image => assert!(m.config.is_some() && m.children.is_empty()),
                ManifestKind::Index => assert!(m.config.is_none() && m.layers.is_empty()),
            }
            assert!(m.required_blobs().count() <= 1 + m.layers.len());
        }
        Err(e) => {
            assert_eq!(e.code(), "MANIFEST_INVALID");
            check_error(&e);
        }
    }
});
