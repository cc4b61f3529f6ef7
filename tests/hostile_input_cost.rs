//! Parsing stays linear in what a client sends: a hostile input of 1 MiB and one of 2 MiB
//! are parsed or refused, and the work they cause, counted as allocations and allocated
//! bytes on this thread, grows no faster than the input. What is refused is refused
//! without copying the input.

use edge_registry::api::token::parse_scope;
use edge_registry::auth::{bearer, credentials, Scopes};
use edge_registry::oci::manifest::Manifest;
use edge_registry::oci::range::{parse_chunk_range, parse_read_range};
use edge_registry::oci::{Digest, Reference, RepoName};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting what each thread asks of it.
struct Counting;

thread_local! {
    static CALLS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = CALLS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|b| b.set(b.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Debug, Clone, Copy)]
struct Cost {
    allocations: usize,
    bytes: usize,
}

fn cost_of<T>(parse: impl FnOnce() -> T) -> Cost {
    let before = (CALLS.with(Cell::get), BYTES.with(Cell::get));
    let result = parse();
    let cost = Cost { allocations: CALLS.with(Cell::get) - before.0, bytes: BYTES.with(Cell::get) - before.1 };
    drop(result);
    cost
}

const MIB: usize = 1 << 20;

/// `hostile(n)` is an input of about `n` bytes. Parsing 1 MiB costs at most `per_byte`
/// allocated bytes per input byte, and 2 MiB at most twice what 1 MiB did, plus slack.
fn assert_linear(what: &str, per_byte: usize, hostile: impl Fn(usize) -> Vec<u8>, parse: impl Fn(&[u8])) {
    let small = hostile(MIB);
    let large = hostile(2 * MIB);
    let (one, two) = (cost_of(|| parse(&small)), cost_of(|| parse(&large)));
    assert!(one.bytes <= per_byte * small.len(), "{what}: {one:?} for {} bytes", small.len());
    assert!(two.bytes <= 2 * one.bytes + 4096, "{what}: {one:?} for 1 MiB, {two:?} for 2 MiB");
    assert!(two.allocations <= 2 * one.allocations + 64, "{what}: {one:?} for 1 MiB, {two:?} for 2 MiB");
}

/// Refused with at most a short message's worth of allocation, whatever the size.
fn assert_refused_cheaply(what: &str, hostile: impl Fn(usize) -> Vec<u8>, refuse: impl Fn(&[u8]) -> bool) {
    for size in [MIB, 2 * MIB] {
        let input = hostile(size);
        let mut refused = false;
        let cost = cost_of(|| refused = refuse(&input));
        assert!(refused, "{what} of {size} bytes is refused");
        assert!(cost.bytes <= 1024 && cost.allocations <= 16, "{what}: {cost:?} for {size} bytes");
    }
}

fn repeat(unit: &str, size: usize) -> Vec<u8> {
    unit.repeat(size / unit.len()).into_bytes()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn names_references_and_digests_refuse_huge_input_cheaply() {
    assert_refused_cheaply("a name of separators", |n| repeat("a-", n), |b| RepoName::parse(text(b)).is_err());
    assert_refused_cheaply("a name of components", |n| repeat("a/", n), |b| RepoName::parse(text(b)).is_err());
    assert_refused_cheaply("a reference", |n| repeat("a.", n), |b| Reference::parse(text(b)).is_err());
    let digest = |n: usize| [b"sha256:".as_slice(), &repeat("0", n)].concat();
    assert_refused_cheaply("a digest", digest, |b| Digest::parse(text(b)).is_err());
}

#[test]
fn headers_refuse_huge_input_cheaply() {
    let basic = |n: usize| [b"Basic ".as_slice(), &repeat("QUFB", n)].concat();
    assert_refused_cheaply("a Basic header", basic, |b| {
        matches!(credentials::parse(Some(text(b))), credentials::Credentials::Malformed)
    });
    assert_refused_cheaply("a token", |n| repeat("a.", n), |b| bearer::verify(text(b), b"key", 0).is_none());
    let range = |n: usize| [repeat("9", n), b"-1".to_vec()].concat();
    assert_refused_cheaply("a Content-Range", range, |b| parse_chunk_range(text(b)).is_err());
    let read_range = |n: usize| [b"bytes=".as_slice(), &repeat("0-1,", n)].concat();
    assert_refused_cheaply("a multi-range Range", read_range, |b| {
        !matches!(parse_read_range(text(b), 100), edge_registry::oci::range::RangeRequest::Partial(_))
    });
}

#[test]
fn scopes_parse_in_linear_work() {
    let colons = |n: usize| [b"repository:".as_slice(), &repeat("a:", n), b"pull"].concat();
    assert_linear("a scope of colons", 4, colons, |b| assert!(parse_scope(text(b)).is_none()));
    let actions = |n: usize| [b"repository:alice/app:".as_slice(), &repeat("pull,", n)].concat();
    assert_linear("a scope of repeated actions", 4, actions, |b| {
        assert_eq!(parse_scope(text(b)).map(|(_, a)| a.len()), Some(1));
    });
    let list = |n: usize| repeat("read:packages,", n);
    assert_linear("a PAT scope list", 4, list, |b| {
        assert!(Scopes::parse_list(text(b).split(',').filter(|s| !s.is_empty())).is_ok())
    });
}

#[test]
fn manifests_parse_in_linear_work() {
    let config = r#"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
    let image = |body: &str| format!(r#"{{"schemaVersion":2,"config":{config},"layers":[],{body}}}"#);
    let nested = |n: usize| image(&format!(r#""extension":{}{}"#, "[".repeat(n / 2), "]".repeat(n / 2))).into_bytes();
    // An unknown field is skipped without recursion (serde_json keeps a byte per level).
    assert_linear("deeply nested JSON", 2, nested, |b| assert!(Manifest::parse(b, None).is_ok()));
    let long_string = |n: usize| image(&format!(r#""annotations":{{"a":"{}"}}"#, "x".repeat(n))).into_bytes();
    assert_linear("one long annotation", 4, long_string, |b| assert!(Manifest::parse(b, None).is_ok()));
    let escapes = |n: usize| image(&format!(r#""annotations":{{"a":"{}"}}"#, r"\u0041".repeat(n / 6))).into_bytes();
    assert_linear("an escaped annotation", 4, escapes, |b| assert!(Manifest::parse(b, None).is_ok()));
    let many_keys = |n: usize| {
        let keys: Vec<String> = (0..n / 16).map(|i| format!(r#""k{i:010}":"""#)).collect();
        image(&format!(r#""annotations":{{{}}}"#, keys.join(","))).into_bytes()
    };
    assert_linear("many annotation keys", 16, many_keys, |b| assert!(Manifest::parse(b, None).is_ok()));
    let layer = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
    let wide = |n: usize| {
        let layers = vec![layer; n / (layer.len() + 1)].join(",");
        format!(r#"{{"schemaVersion":2,"config":{config},"layers":[{layers}]}}"#).into_bytes()
    };
    assert_linear("many layers", 8, wide, |b| {
        let parsed = Manifest::parse(b, None);
        assert!(parsed.is_ok() || parsed.is_err_and(|e| e.code() == "MANIFEST_INVALID"));
    });
}
