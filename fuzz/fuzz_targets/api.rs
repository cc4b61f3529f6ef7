//! The whole HTTP api on the in-memory ports: any method, path, query, headers and body.
//! This reaches every parser behind the routes: names, references, digests, ranges,
//! manifests, tokens, scopes, forms and the JSON bodies of the admin and package APIs.
#![no_main]
use arbitrary::Arbitrary;
use edge_registry::api::Method;
use edge_registry_fuzz::{check_answer, seeded, Seeded, ADMIN_TOKEN};
use libfuzzer_sys::fuzz_target;

const PREFIXES: [&str; 8] = [
    "/v2/alice/app/",
    "/v2/alice/app/blobs/uploads/",
    "/v2/",
    "/api/packages/alice/",
    "/admin/",
    "/token",
    "/alice/",
    "",
];
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Alice,
    Admin,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    prefix: u8,
    path: String,
    query: String,
    auth: Auth,
    headers: Vec<(String, String)>,
    body: Vec<Vec<u8>>,
}

thread_local! {
    static APP: Seeded = seeded();
}

fuzz_target!(|input: Input| {
    APP.with(|app| {
        let method = Method::parse(METHODS[input.method as usize % METHODS.len()]);
        let path = format!("{}{}", PREFIXES[input.prefix as usize % PREFIXES.len()], input.path);
        let mut headers: Vec<(String, String)> = input.headers.into_iter().take(16).collect();
        match input.auth {
            Auth::None => {}
            Auth::Alice => headers.push(app.alice_bearer()),
            Auth::Admin => headers.push(("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))),
            Auth::Raw(v) => headers.push(("authorization".into(), v)),
        }
        let body = input.body.into_iter().take(64).collect();
        let resp = app.serve(method, &path, &input.query, headers, body);
        check_answer(&resp, &format!("{method:?} {path}"));
    });
});
