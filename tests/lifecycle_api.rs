//! Retention policies, immutable tags and untagging, download counts and webhooks, driven
//! in-process through the HTTP api on the in-memory ports.

mod common;

use common::*;
use edge_registry::api::Method::{self, *};
use edge_registry::lifecycle::downloads::{day, DayCount};
use edge_registry::lifecycle::webhooks::{signature, Event};
use edge_registry::oci::{Digest, RepoName};
use edge_registry::registry::downloads::DownloadIndex;
use edge_registry::registry::maintenance;
use edge_registry::registry::ports::Clock;
use edge_registry::registry::webhooks;
use futures_executor::block_on;
use serde_json::{json, Value};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn call(reg: &MemRegistry, method: Method, path: &str, who: (&str, &str), body: Option<Value>) -> Reply {
    let headers = vec![("authorization".to_string(), basic(who.0, who.1))];
    let body = body.map_or(Chunks::none(), |b| Chunks::one(b.to_string().as_bytes()));
    send_raw(reg, method, path, headers, body)
}

fn all_scopes(reg: &MemRegistry, login: &str) -> String {
    user_token(reg, login, &["read:packages", "write:packages", "delete:packages"])
}

fn put_index(reg: &MemRegistry, repo: &str, reference: &str, children: &[&str]) -> Reply {
    let manifests: Vec<Value> = children
        .iter()
        .map(|d| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 2, "platform": {"os": "linux", "architecture": "amd64"}}))
        .collect();
    let body = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}).to_string();
    send(
        reg,
        Put,
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("content-type", INDEX)],
        Chunks::one(body.as_bytes()),
    )
}

/// A signature of `subject`, pushed by digest as cosign and notation do.
fn push_signature(reg: &MemRegistry, repo: &str, subject: &str) -> String {
    let config = push_blob(reg, repo, b"{}");
    let m = image_manifest(
        &config,
        &[],
        &format!(
            r#","artifactType":"application/vnd.dev.sigstore.bundle","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":2}}"#
        ),
    );
    let d = digest_of(&m);
    assert_eq!(put_manifest(reg, repo, &d, &m).status, 201);
    d
}

fn version_digests(reg: &MemRegistry, repo: &str, who: (&str, &str)) -> Vec<String> {
    let r = call(reg, Get, &format!("/api/packages/{repo}/versions"), who, None);
    assert_eq!(r.status, 200);
    let mut v: Vec<String> =
        r.json().as_array().unwrap().iter().map(|v| v["digest"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

#[test]
fn policies_are_set_per_package_or_namespace_with_clear_400s() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let bob = all_scopes(&reg, "bob");
    push_image(&reg, "alice/app", "v1", b"layer");
    let who = ("alice", alice.as_str());

    let r = call(&reg, Put, "/api/packages/alice/app/retention", who, Some(json!({"keep_newest": 0})));
    assert_eq!((r.status, r.code()), (400, "BAD_REQUEST".to_string()));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("keep_newest must be at least 1"));
    let r = call(&reg, Put, "/api/packages/alice/app/retention", who, Some(json!({"keep_tags": ["v/1"]})));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("tag pattern"), "{:?}", r.json());
    let r = call(&reg, Put, "/api/packages/alice/app/retention", who, Some(json!({"keep_newer": 3})));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("unknown field"));

    // The namespace's default applies until the package sets its own.
    let r = call(&reg, Put, "/api/namespaces/alice/retention", who, Some(json!({"keep_newest": 10})));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = call(&reg, Get, "/api/packages/alice/app/retention", who, None);
    assert_eq!(
        r.json(),
        json!({"policy": {"keep_newest": 10, "keep_tags": [], "min_age_days": 0}, "set_on": {"namespace": "alice"}})
    );
    let own = json!({"untagged_older_than_days": 7, "keep_tags": ["v*"]});
    let r = call(&reg, Put, "/api/packages/alice/app/retention", who, Some(own));
    assert_eq!(r.json()["set_on"], json!({"package": "alice/app"}));
    assert_eq!(call(&reg, Delete, "/api/packages/alice/app/retention", who, None).status, 204);
    assert_eq!(
        call(&reg, Get, "/api/packages/alice/app/retention", who, None).json()["set_on"],
        json!({"namespace": "alice"})
    );

    // Others may not see the package's policy nor set the namespace's.
    let bob = ("bob", bob.as_str());
    assert_eq!(call(&reg, Get, "/api/packages/alice/app/retention", bob, None).status, 404);
    assert_eq!(call(&reg, Put, "/api/namespaces/alice/retention", bob, Some(json!({}))).status, 403);
    assert_eq!(call(&reg, Get, "/api/namespaces/nobody/retention", bob, None).status, 404);
}

#[test]
fn the_scheduled_run_deletes_exactly_the_preview_and_keeps_the_image_graph() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let who = ("alice", alice.as_str());
    let repo = "alice/app";
    // Thirty versions, a day apart; the first ten were tagged, later tags moved on.
    let mut digests = vec![];
    for i in 0..30 {
        let tag = if i < 10 { format!("v{i}") } else { "dev".to_string() };
        digests.push(push_image(&reg, repo, &tag, format!("layer {i}").as_bytes()));
        reg.registry.clock.advance(DAY_MS);
    }
    // A multi-arch image from long ago, tagged, with a signature; and an untagged one.
    let amd = push_image(&reg, repo, "tmp-amd", b"amd64");
    let arm = push_image(&reg, repo, "tmp-arm", b"arm64");
    for t in ["tmp-amd", "tmp-arm"] {
        assert_eq!(send(&reg, Delete, &format!("/v2/{repo}/manifests/{t}"), &[], Chunks::none()).status, 202);
    }
    assert_eq!(put_index(&reg, repo, "stable", &[&amd, &arm]).status, 201);
    let index = digest_of(put_index_body(&[&amd, &arm]).as_bytes());
    let sig = push_signature(&reg, repo, &index);
    let old_amd = push_image(&reg, repo, "old-amd", b"old amd64");
    send(&reg, Delete, &format!("/v2/{repo}/manifests/old-amd"), &[], Chunks::none());
    let orphan_index = {
        assert_eq!(put_index(&reg, repo, "gone", &[&old_amd]).status, 201);
        send(&reg, Delete, &format!("/v2/{repo}/manifests/gone"), &[], Chunks::none());
        digest_of(put_index_body(&[&old_amd]).as_bytes())
    };
    reg.registry.clock.advance(10 * DAY_MS);

    let policy = json!({"keep_newest": 5, "untagged_older_than_days": 7, "keep_tags": ["v1", "stable"]});
    assert_eq!(call(&reg, Put, &format!("/api/packages/{repo}/retention"), who, Some(policy)).status, 200);
    let preview = call(&reg, Get, &format!("/api/packages/{repo}/retention/preview"), who, None).json();
    let mut doomed: Vec<String> =
        preview["delete"].as_array().unwrap().iter().map(|v| v["digest"].as_str().unwrap().into()).collect();
    doomed.sort();
    // Kept: v1 (pattern), stable's index with its images and signature, the 5 newest roots.
    for kept in [&digests[1], &index, &amd, &arm, &sig] {
        assert!(!doomed.contains(kept), "{kept} must stay");
    }
    assert!(doomed.contains(&orphan_index) && doomed.contains(&old_amd), "a deleted index takes its image");
    let reason =
        |d: &str| preview["delete"].as_array().unwrap().iter().find(|v| v["digest"] == d).unwrap()["reason"].clone();
    assert_eq!(reason(&old_amd), json!(format!("belongs to {orphan_index}, which is deleted")));
    assert_eq!(reason(&digests[10]), json!("untagged and pushed more than 7 days ago"));
    assert_eq!(reason(&digests[0]), json!("not among the 5 newest versions (it is number 32)"));
    // v1, stable's four, and dev: the only other of the five newest that is not old and untagged.
    assert_eq!(preview["kept"], 1 + 4 + 1);

    let before = version_digests(&reg, repo, who);
    let report = block_on(maintenance::run(&reg.registry, &reg.identity, 0, &Receiver::default()));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let mut deleted: Vec<String> =
        report.retention.deleted.iter().flat_map(|g| g.versions.iter().map(|v| v.digest.clone())).collect();
    deleted.sort();
    assert_eq!(deleted, doomed, "the run deletes exactly the preview");
    let after = version_digests(&reg, repo, who);
    assert_eq!(after.len(), before.len() - doomed.len());
    // The image graph is intact: the index pulls, so do its images and its signature.
    for d in [&index, &amd, &arm, &sig] {
        assert_eq!(get(&reg, &format!("/v2/{repo}/manifests/{d}")).status, 200);
    }
    let referrers = get(&reg, &format!("/v2/{repo}/referrers/{index}")).json();
    assert_eq!(referrers["manifests"][0]["digest"], json!(sig));

    // One retained deletion restores, with what it held.
    let r = call(&reg, Post, &format!("/api/packages/{repo}/versions/{orphan_index}/restore"), who, None);
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(get(&reg, &format!("/v2/{repo}/manifests/{old_amd}")).status, 200);
    // A second run deletes nothing new but what was restored (it is still old and untagged).
    let again = call(&reg, Get, &format!("/api/packages/{repo}/retention/preview"), who, None).json();
    assert_eq!(again["delete"].as_array().unwrap().len(), 2);
}

fn put_index_body(children: &[&str]) -> String {
    let manifests: Vec<Value> = children
        .iter()
        .map(|d| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 2, "platform": {"os": "linux", "architecture": "amd64"}}))
        .collect();
    json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}).to_string()
}

#[test]
fn immutable_tags_cannot_move_nor_go_and_untagging_keeps_the_version() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let who = ("alice", alice.as_str());
    let repo = "alice/app";
    let first = push_image(&reg, repo, "v1", b"one");
    push_image(&reg, repo, "dev", b"one");
    let r = call(&reg, Patch, &format!("/api/packages/{repo}"), who, Some(json!({"immutable_tags": ["v*"]})));
    assert_eq!((r.status, r.json()["immutable_tags"].clone()), (200, json!(["v*"])));
    let r = call(&reg, Patch, &format!("/api/packages/{repo}"), who, Some(json!({"immutable_tags": ["a b"]})));
    assert_eq!(r.status, 400);

    // Moving v1 is refused naming the rule; pushing the same digest again is fine.
    let config = push_blob(&reg, repo, b"{}");
    let l = push_blob(&reg, repo, b"two");
    let other = image_manifest(&config, &[(&l, 3)], "");
    let r = put_manifest(&reg, repo, "v1", &other);
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
    assert_eq!(
        r.json()["errors"][0]["message"],
        "tag v1 is immutable (package rule immutable_tags: v*): it cannot be moved to another digest"
    );
    assert_eq!(get(&reg, &format!("/v2/{repo}/manifests/v1")).header("docker-content-digest"), Some(first.as_str()));
    assert_eq!(push_image(&reg, repo, "v1", b"one"), first);
    // Deleting it, or its version, is refused too.
    assert_eq!(send(&reg, Delete, &format!("/v2/{repo}/manifests/v1"), &[], Chunks::none()).code(), "DENIED");
    assert_eq!(call(&reg, Delete, &format!("/api/packages/{repo}/tags/v1"), who, None).code(), "DENIED");
    assert_eq!(send(&reg, Delete, &format!("/v2/{repo}/manifests/{first}"), &[], Chunks::none()).code(), "DENIED");
    assert_eq!(call(&reg, Delete, &format!("/api/packages/{repo}/versions/{first}"), who, None).code(), "DENIED");

    // Other tags go, one at a time, and the version stays.
    assert_eq!(call(&reg, Delete, &format!("/api/packages/{repo}/tags/dev"), who, None).status, 204);
    assert_eq!(call(&reg, Delete, &format!("/api/packages/{repo}/tags/dev"), who, None).code(), "MANIFEST_UNKNOWN");
    assert_eq!(get(&reg, &format!("/v2/{repo}/manifests/dev")).status, 404);
    assert_eq!(get(&reg, &format!("/v2/{repo}/manifests/{first}")).status, 200);
    // Lifting the rule lets the tag move.
    call(&reg, Patch, &format!("/api/packages/{repo}"), who, Some(json!({"immutable_tags": []})));
    assert_eq!(put_manifest(&reg, repo, "v1", &other).status, 201);
}

#[test]
fn downloads_show_per_version_per_package_and_on_the_badge() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let who = ("alice", alice.as_str());
    let repo = RepoName::parse("alice/app").unwrap();
    reg.registry.clock.advance(100 * DAY_MS);
    let amd = push_image(&reg, repo.as_str(), "amd", b"amd64");
    let index_body = put_index_body(&[&amd]);
    assert_eq!(put_index(&reg, repo.as_str(), "latest", &[&amd]).status, 201);
    let index = digest_of(index_body.as_bytes());
    let today = day(reg.registry.clock.now_ms());
    let count =
        |d: &str, day: u32, count: u64| DayCount { repo: repo.clone(), digest: Digest::parse(d).unwrap(), day, count };
    // Three multi-arch pulls today (index, then its image), one 40 days ago.
    block_on(reg.registry.meta.add_downloads(&[
        count(&index, today, 3),
        count(&amd, today, 3),
        count(&index, today - 40, 1),
    ]))
    .unwrap();

    let versions = call(&reg, Get, "/api/packages/alice/app/versions", who, None).json();
    let of = |d: &str| versions.as_array().unwrap().iter().find(|v| v["digest"] == d).unwrap()["downloads"].clone();
    assert_eq!((of(&index), of(&amd)), (json!(4), json!(3)));
    let package = call(&reg, Get, "/api/packages/alice/app", who, None).json();
    assert_eq!(package["downloads"], json!({"total": 4, "last_30_days": 3}));

    let anonymous = |path: &str| send_raw(&reg, Get, path, vec![], Chunks::none());
    assert_eq!(anonymous("/alice/app/badge.svg").status, 404, "a private package has no badge");
    make_public(&reg, "alice/app");
    let badge = anonymous("/alice/app/badge.svg");
    assert_eq!((badge.status, badge.header("content-type")), (200, Some("image/svg+xml")));
    assert!(String::from_utf8(badge.body).unwrap().contains("<title>downloads: 4</title>"));
    let page = String::from_utf8(anonymous("/alice/app").body).unwrap();
    assert!(page.contains("4 total · 3 in the last 30 days"), "{page}");
    assert_eq!(anonymous("/alice/none/badge.svg").status, 404);
}

#[test]
fn webhooks_get_each_event_once_signed_and_logged() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let bob = all_scopes(&reg, "bob");
    let who = ("alice", alice.as_str());
    push_image(&reg, "alice/app", "v1", b"one");
    let secret = "a-secret-of-sixteen-plus";
    let hook = json!({"url": "http://127.0.0.1:9/hook", "secret": secret, "events": ["version.pushed", "tag.moved", "version.deleted", "visibility.changed"]});
    assert_eq!(call(&reg, Post, "/api/packages/alice/app/webhooks", ("bob", &bob), Some(hook.clone())).status, 404);
    let r = call(&reg, Post, "/api/packages/alice/app/webhooks", who, Some(hook));
    assert_eq!((r.status, r.json()["secret"].as_str()), (201, Some(secret)));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let listed = call(&reg, Get, "/api/packages/alice/app/webhooks", who, None).json();
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("secret").is_none(), "the secret is shown once");
    let bad = json!({"url": "ftp://x", "secret": secret, "events": ["version.pushed"]});
    assert_eq!(call(&reg, Post, "/api/namespaces/alice/webhooks", who, Some(bad)).status, 400);

    // Each request raises its events once; they go to the webhooks that want them.
    let moved = push_image_reply(&reg, "alice/app", "v1", b"two");
    let kinds: Vec<Event> = moved.events.iter().map(|e| e.event).collect();
    assert_eq!(kinds, vec![Event::VersionPushed, Event::TagMoved]);
    assert_eq!(moved.events[0].actor, "alice");
    let r = call(&reg, Patch, "/api/packages/alice/app", who, Some(json!({"visibility": "public"})));
    assert_eq!(r.events.iter().map(|e| e.event).collect::<Vec<_>>(), vec![Event::VisibilityChanged]);
    let again = call(&reg, Patch, "/api/packages/alice/app", who, Some(json!({"visibility": "public"})));
    assert!(again.events.is_empty(), "no change, no event");

    let receiver = Receiver::default();
    receiver.answers.borrow_mut().push(Err("connection refused".into()));
    let now = || reg.registry.clock.now_ms();
    let mut events = moved.events.clone();
    events.extend(r.events);
    let recorded = block_on(webhooks::record(&reg.registry.meta, &events, now(), 60_000)).unwrap();
    assert_eq!(recorded.len(), 3);
    for (d, h) in &recorded {
        block_on(webhooks::attempt(&reg.registry.meta, &receiver, d, h, 1000, now)).unwrap();
    }
    // Down for the first attempt of one: the scheduled run delivers it later, once.
    reg.registry.clock.advance(61_000);
    let report = block_on(maintenance::run(&reg.registry, &reg.identity, 0, &receiver));
    assert_eq!((report.webhook_retries, report.webhooks_delivered), (1, 1));
    let got = receiver.got.borrow();
    assert_eq!(got.len(), 4, "three events, one of them twice: refused, then delivered");
    for g in got.iter() {
        let sig = g.headers.iter().find(|(k, _)| k == "x-registry-signature-256").unwrap().1.clone();
        assert_eq!(sig, signature(secret, g.body.as_bytes()));
    }
    let log = call(&reg, Get, &format!("/api/packages/alice/app/webhooks/{id}/deliveries"), who, None).json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|d| d["state"] == "delivered" && d["last_status"] == 204), "{log:?}");
    assert_eq!(log.iter().filter(|d| d["attempts"] == 2).count(), 1);
    assert_eq!(call(&reg, Delete, &format!("/api/packages/alice/app/webhooks/{id}"), who, None).status, 204);
    assert_eq!(call(&reg, Get, &format!("/api/packages/alice/app/webhooks/{id}/deliveries"), who, None).status, 404);
}

#[test]
fn a_package_created_again_under_the_same_name_does_not_tell_the_old_webhooks() {
    let reg = registry();
    let alice = all_scopes(&reg, "alice");
    let who = ("alice", alice.as_str());
    push_image(&reg, "alice/app", "v1", b"one");
    let hook = json!({"url": "http://127.0.0.1:9/hook", "secret": "a-secret-of-sixteen-plus", "events": ["version.pushed", "package.deleted"]});
    assert_eq!(call(&reg, Post, "/api/packages/alice/app/webhooks", who, Some(hook)).status, 201);
    let pushed = push_image_reply(&reg, "alice/app", "v2", b"two").events;
    let now = reg.registry.clock.now_ms();
    assert_eq!(block_on(webhooks::record(&reg.registry.meta, &pushed, now, 0)).unwrap().len(), 1);

    reg.registry.clock.advance(1000);
    let deleted = call(&reg, Delete, "/api/packages/alice/app", who, None);
    assert_eq!(deleted.status, 202);
    let now = reg.registry.clock.now_ms();
    assert_eq!(
        block_on(webhooks::record(&reg.registry.meta, &deleted.events, now, 0)).unwrap().len(),
        1,
        "told of its deletion"
    );

    // Pushed to again: a new package, whose pushes the old package's webhook does not hear.
    reg.registry.clock.advance(1000);
    let again = push_image_reply(&reg, "alice/app", "v1", b"three").events;
    let now = reg.registry.clock.now_ms();
    assert!(block_on(webhooks::record(&reg.registry.meta, &again, now, 0)).unwrap().is_empty());
}

fn push_image_reply(reg: &MemRegistry, repo: &str, tag: &str, layer: &[u8]) -> Reply {
    let config = push_blob(reg, repo, b"{}");
    let l = push_blob(reg, repo, layer);
    put_manifest(reg, repo, tag, &image_manifest(&config, &[(&l, layer.len())], ""))
}
