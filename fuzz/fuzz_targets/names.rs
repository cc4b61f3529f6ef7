//! Repository names, tags, references and logins: what parses renders back unchanged.
#![no_main]
use edge_registry::auth::Login;
use edge_registry::oci::{Reference, RepoName, Tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(name) = RepoName::parse(input) {
        assert_eq!(name.as_str(), input);
        assert!(name.as_str().len() <= 255);
        assert!(input.starts_with(name.namespace()));
    }
    if let Ok(tag) = Tag::parse(input) {
        assert_eq!(tag.as_str(), input);
        assert!(input.len() <= 128);
    }
    if let Ok(reference) = Reference::parse(input) {
        match reference {
            Reference::Tag(t) => assert_eq!(t.as_str(), input),
            Reference::Digest(d) => assert_eq!(d.to_string(), input),
        }
    }
    if let Ok(login) = Login::parse(input) {
        assert_eq!(login.as_str(), input);
    }
});
