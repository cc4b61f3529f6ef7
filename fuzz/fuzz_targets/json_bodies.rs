//! The JSON bodies of the admin and package APIs, sent to every route that reads one with
//! the credentials it needs, so each byte reaches the body's parser and its validation.
//! A body that is not JSON is a `BAD_REQUEST`; nothing is a fault.
#![no_main]
use arbitrary::Arbitrary;
use edge_registry::api::Method::{self, *};
use edge_registry_fuzz::{check_answer, json_of, seeded, Seeded, ADMIN_TOKEN};
use libfuzzer_sys::fuzz_target;

/// Every route that reads a JSON body, and whether it is the operator's.
const ROUTES: [(Method, &str, bool); 6] = [
    (Post, "/admin/users", true),
    (Post, "/admin/orgs", true),
    (Put, "/admin/orgs/acme/members/alice", true),
    (Post, "/admin/users/alice/tokens", true),
    (Patch, "/api/packages/alice/app", false),
    (Put, "/api/packages/alice/app/collaborators/alice", false),
];

#[derive(Arbitrary, Debug)]
struct Input {
    route: u8,
    body: Vec<u8>,
}

thread_local! {
    static APP: Seeded = seeded();
}

fuzz_target!(|input: Input| {
    APP.with(|app| {
        let (method, path, operator) = ROUTES[input.route as usize % ROUTES.len()];
        let auth = match operator {
            true => ("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}")),
            false => app.alice_bearer(),
        };
        let resp = app.serve(method, path, "", vec![auth], vec![input.body.clone()]);
        check_answer(&resp, &format!("{method:?} {path}"));
        let within_limit = input.body.len() <= 64 * 1024;
        if within_limit && serde_json::from_slice::<serde_json::Value>(&input.body).is_err() {
            let code = json_of(&resp).map(|v| v["errors"][0]["code"].clone());
            assert_eq!(code, Some("BAD_REQUEST".into()), "{method:?} {path} took a body that is not JSON");
        }
    });
});
