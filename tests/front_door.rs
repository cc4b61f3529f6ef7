//! The front door: `/` says what the registry is and lists public packages; `/v2/_catalog`
//! lists exactly the repositories the caller may read.

mod common;
use common::*;
use edge_registry::api::Method::*;

fn anonymous(reg: &MemRegistry, target: &str) -> Reply {
    send_raw(reg, Get, target, vec![], Chunks::none())
}

fn as_user(reg: &MemRegistry, login: &str, token: &str, target: &str) -> Reply {
    send_raw(reg, Get, target, vec![("authorization".into(), basic(login, token))], Chunks::none())
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

/// alice/pub-N public (N < public), alice/priv private, bob/app private with a role for alice.
fn world(public: usize) -> MemRegistry {
    let reg = registry();
    for i in 0..public {
        let repo = format!("alice/pub-{i:03}");
        push_image(&reg, &repo, "latest", format!("layer {i}").as_bytes());
        make_public(&reg, &repo);
        reg.registry.clock.advance(1000);
    }
    push_image(&reg, "alice/priv", "latest", b"secret");
    push_image(&reg, "bob/app", "v1", b"bob's");
    push_image(&reg, "bob/hidden", "v1", b"bob's hidden");
    let owner = user_token(&reg, "bob", &["read:packages", "write:packages", "delete:packages"]);
    let r = send_raw(
        &reg,
        Put,
        "/api/packages/bob/app/collaborators/alice",
        vec![("authorization".into(), basic("bob", &owner)), ("content-type".into(), "application/json".into())],
        Chunks::one(br#"{"role":"read"}"#),
    );
    assert!(r.status < 300, "{}: {}", r.status, text(&r));
    reg
}

#[test]
fn the_catalog_lists_what_the_caller_may_read() {
    let reg = world(3);
    let r = anonymous(&reg, "/v2/_catalog");
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json()["repositories"], serde_json::json!(["alice/pub-000", "alice/pub-001", "alice/pub-002"]));
    let token = user_token(&reg, "alice", &["read:packages"]);
    let r = as_user(&reg, "alice", &token, "/v2/_catalog");
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alice/priv", "alice/pub-000", "alice/pub-001", "alice/pub-002", "bob/app"])
    );
    // A token without read scope reads only what is public.
    let write_only = user_token(&reg, "alice", &["delete:packages"]);
    let r = as_user(&reg, "alice", &write_only, "/v2/_catalog");
    assert_eq!(r.json()["repositories"].as_array().unwrap().len(), 3);
}

#[test]
fn the_catalog_pages_with_n_last_and_a_link() {
    let reg = world(5);
    let mut seen = vec![];
    let mut target = "/v2/_catalog?n=2".to_string();
    loop {
        let r = anonymous(&reg, &target);
        assert_eq!(r.status, 200);
        let page: Vec<String> =
            r.json()["repositories"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert!(page.len() <= 2);
        seen.extend(page);
        match r.header("link") {
            Some(link) => {
                target = link.trim_start_matches('<').split('>').next().unwrap().to_string();
                assert!(link.ends_with("rel=\"next\""), "{link}");
            }
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("alice/pub-{i:03}")).collect();
    assert_eq!(seen, expected);
    let r = anonymous(&reg, "/v2/_catalog?n=10&last=alice/pub-002");
    assert_eq!(r.json()["repositories"], serde_json::json!(["alice/pub-003", "alice/pub-004"]));
    assert!(r.header("link").is_none());
    assert_eq!(anonymous(&reg, "/v2/_catalog?n=x").status, 400);
}

#[test]
fn the_front_page_says_what_this_is_and_lists_public_packages_newest_first() {
    let reg = world(35);
    let r = anonymous(&reg, "/");
    assert_eq!(r.status, 200);
    let html = text(&r);
    assert!(html.contains("docker login registry.test"), "{html}");
    assert!(!html.contains("<script"), "no script");
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none';") && csp.contains("form-action 'self'"), "{csp}");
    // Newest first, 30 to a page; private packages are not listed.
    let newest = html.find("alice/pub-034").expect("the newest");
    let older = html.find("alice/pub-010").expect("an older one");
    assert!(newest < older);
    assert!(!html.contains("alice/pub-004\""), "page one stops at 30");
    assert!(!html.contains("alice/priv") && !html.contains("bob/"), "{html}");
    // The next page continues where the first stopped.
    let next = html.split("class=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let html = text(&anonymous(&reg, &next));
    assert!(html.contains("alice/pub-004\"") && html.contains("alice/pub-000\""), "{html}");
    assert!(!html.contains("alice/pub-005\""));
    assert!(!html.contains("class=\"next\""));
    // A search by name.
    let html = text(&anonymous(&reg, "/?q=pub-01"));
    let hits = html.matches("<li>").count();
    assert_eq!(hits, 10, "{html}");
    assert!(text(&anonymous(&reg, "/?q=priv")).contains("No packages to show."));
    // What is searched is shown escaped.
    assert!(text(&anonymous(&reg, "/?q=%3Cb%3E")).contains("value=\"&lt;b&gt;\""));
}
