//! Token request scopes (`repository[(class)]:NAME:ACTIONS`) and PAT scope lists.
#![no_main]
use edge_registry::api::token::parse_scope;
use edge_registry::auth::Scopes;
use edge_registry_fuzz::check_error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Some((repo, actions)) = parse_scope(input) {
        // The name is the text between the type and the actions.
        assert!(input.contains(&format!(":{}:", repo.as_str())));
        assert!(actions.len() <= 3);
        assert!(actions.windows(2).all(|w| w[0] < w[1]), "actions are sorted and distinct");
    }
    match Scopes::parse_list(input.split(',')) {
        Ok(scopes) => {
            // A parsed list names only known scopes, and its names read back the same.
            assert!(input.split(',').all(|s| scopes.names().contains(&s)));
            assert_eq!(Scopes::parse_list(scopes.names()).ok(), Some(scopes));
        }
        Err(e) => check_error(&e),
    }
});
