//! The token service (`GET /token?...` and the `POST /token` form) with any query or form,
//! as `alice` or anonymous. A token handed out grants no more than was asked: only
//! repositories named in a requested scope, only actions asked for on them, and nothing
//! but `pull` to an anonymous caller.
#![no_main]
use arbitrary::Arbitrary;
use edge_registry::api::token::parse_scope;
use edge_registry::api::Method;
use edge_registry::auth::{bearer, Action};
use edge_registry_fuzz::{check_answer, json_of, seeded, Seeded, SIGNING_KEY};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `POST` with `form` as its body, else `GET` with it as the query.
    post: bool,
    as_alice: bool,
    form: String,
}

thread_local! {
    static APP: Seeded = seeded();
}

fuzz_target!(|input: Input| {
    APP.with(|app| {
        let headers = if input.as_alice { vec![app.alice_basic()] } else { vec![] };
        let resp = match input.post {
            true => app.serve(Method::Post, "/token", "", headers, vec![input.form.clone().into_bytes()]),
            false => app.serve(Method::Get, "/token", &input.form, headers, vec![]),
        };
        check_answer(&resp, "/token");
        if resp.status != 200 {
            return;
        }
        let token = json_of(&resp).and_then(|v| v["token"].as_str().map(String::from)).expect("a token");
        let claims = bearer::verify(&token, SIGNING_KEY, 0).expect("the token verifies");
        let asked: Vec<_> = form_urlencoded::parse(input.form.as_bytes())
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').filter_map(parse_scope).collect::<Vec<_>>())
            .collect();
        for grant in &claims.access {
            for action in &grant.actions {
                assert!(
                    asked.iter().any(|(repo, acts)| repo.as_str() == grant.repository && acts.contains(action)),
                    "{action:?} on {} was never asked for",
                    grant.repository
                );
                assert!(input.as_alice || *action == Action::Pull, "anonymous got {action:?}");
            }
        }
    });
});
