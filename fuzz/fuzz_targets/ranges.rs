//! `Content-Range` of upload chunks and `Range` of blob reads: spans are well formed and
//! a served span lies within the blob.
#![no_main]
use edge_registry::oci::range::{parse_chunk_range, parse_read_range, RangeRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u64)| {
    let (header, size) = input;
    if let Ok(span) = parse_chunk_range(header) {
        assert!(span.start < span.end);
    }
    if let RangeRequest::Partial(span) = parse_read_range(header, size) {
        assert!(span.start < span.end && span.end <= size, "{header:?} on {size} bytes gave {span:?}");
    }
});
