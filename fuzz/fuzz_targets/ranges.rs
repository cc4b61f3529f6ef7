//! `Content-Range` of upload chunks and `Range` of blob reads: spans are well formed and
//! every served span lies within the blob, and several never add up to more than the blob.
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
    let spans = match parse_read_range(header, size) {
        RangeRequest::Partial(span) => vec![span],
        RangeRequest::Multiple(spans) => spans,
        RangeRequest::Whole | RangeRequest::Unsatisfiable => vec![],
    };
    for span in &spans {
        assert!(span.start < span.end && span.end <= size, "{header:?} on {size} bytes gave {span:?}");
    }
    // Merged spans never repeat bytes: an answer is never larger than the blob.
    assert!(spans.iter().map(|s| s.len()).sum::<u64>() <= size, "{header:?} on {size} bytes gave {spans:?}");
});
