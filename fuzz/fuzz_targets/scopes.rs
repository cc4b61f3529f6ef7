//! Token request scopes (`repository:NAME:ACTIONS`) and PAT scope lists.
#![no_main]
use edge_registry::api::token::parse_scope;
use edge_registry::auth::Scopes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Some((repo, actions)) = parse_scope(input) {
        assert!(input.contains(repo.as_str()));
        assert!(actions.len() <= 3);
    }
    let _ = Scopes::parse_list(input.split(','));
});
