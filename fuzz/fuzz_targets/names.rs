//! Repository names, tags, references and logins: what parses renders back unchanged, and
//! what does not is refused with a short message.
#![no_main]
use edge_registry::auth::Login;
use edge_registry::oci::{Reference, RepoName, Tag};
use edge_registry_fuzz::check_error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    match RepoName::parse(input) {
        Ok(name) => {
            assert_eq!(name.as_str(), input);
            assert!(name.as_str().len() <= 255);
            assert!(input.starts_with(&format!("{}/", name.namespace())));
        }
        Err(e) => check_error(&e),
    }
    match Tag::parse(input) {
        Ok(tag) => {
            assert_eq!(tag.as_str(), input);
            assert!(input.len() <= 128);
        }
        Err(e) => check_error(&e),
    }
    match Reference::parse(input) {
        Ok(Reference::Tag(t)) => assert_eq!(t.as_str(), input),
        Ok(Reference::Digest(d)) => assert_eq!(d.to_string(), input),
        Err(e) => check_error(&e),
    }
    match Login::parse(input) {
        Ok(login) => assert_eq!(login.as_str(), input),
        Err(e) => check_error(&e),
    }
});
