//! `Content-Range` of upload chunks and `Range` of blob reads: spans are well formed and
//! a served span lies within the blob.
#![no_main]
use edge_registry::oci::range::{parse_chunk_range, parse_read_range, RangeRequest};
use edge_registry_fuzz::check_error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u64)| {
    let (header, size) = input;
    match parse_chunk_range(header) {
        Ok(span) => assert!(span.start < span.end),
        Err(e) => check_error(&e),
    }
    if let RangeRequest::Partial(span) = parse_read_range(header, size) {
        assert!(span.start < span.end && span.end <= size, "{header:?} on {size} bytes gave {span:?}");
    }
});
