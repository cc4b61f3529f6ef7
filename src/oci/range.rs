//! Byte ranges: `Content-Range` on upload chunks and `Range` on blob reads.

use crate::error::{RegistryError, Result};

/// An inclusive-start, exclusive-end span of bytes `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSpan {
    pub start: u64,
    pub end: u64,
}

impl ByteSpan {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The `Content-Range` of an upload chunk: `<start>-<end>`, inclusive, as the
/// distribution spec writes it (a leading `bytes ` or `bytes=` is tolerated).
pub fn parse_chunk_range(value: &str) -> Result<ByteSpan> {
    let malformed = || {
        let shown: String = value.chars().take(80).collect();
        RegistryError::BlobUploadInvalid(format!("malformed Content-Range {shown:?}"))
    };
    let v = value.trim();
    let v = v.strip_prefix("bytes").map(|r| r.trim_start_matches([' ', '='])).unwrap_or(v);
    let (a, b) = v.split_once('-').ok_or_else(malformed)?;
    let start = parse_u64(a).ok_or_else(malformed)?;
    let last = parse_u64(b).ok_or_else(malformed)?;
    if last < start {
        return Err(malformed());
    }
    // The last byte of the largest span u64 can hold has no end after it.
    let end = last.checked_add(1).ok_or_else(malformed)?;
    Ok(ByteSpan { start, end })
}

/// What a `Range` request header asks of a blob of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: serve the whole blob (RFC 9110 says to ignore what we cannot parse).
    Whole,
    Partial(ByteSpan),
    /// Several spans, in the order asked, none overlapping: a `multipart/byteranges` answer.
    Multiple(Vec<ByteSpan>),
    Unsatisfiable,
}

/// More ranges than this in one request are ignored (the whole blob is served): lazy
/// pullers ask for a few chunks at a time, and each range costs a storage read.
pub const MAX_RANGES: usize = 64;

/// `bytes=a-b`, `bytes=a-` or `bytes=-n`, or a comma-separated list of them. Spans past
/// the end are dropped; overlapping spans are merged (RFC 9110 allows it), so an answer
/// never holds more bytes than the blob.
pub fn parse_read_range(value: &str, size: u64) -> RangeRequest {
    let Some(list) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    // Empty list elements are allowed and mean nothing (RFC 9110, 5.6.1).
    let specs = list.split(',').map(str::trim).filter(|s| !s.is_empty());
    if specs.clone().nth(MAX_RANGES).is_some() {
        return RangeRequest::Whole;
    }
    let mut spans = Vec::new();
    for spec in specs {
        match parse_spec(spec, size) {
            Spec::Malformed => return RangeRequest::Whole,
            Spec::Beyond => {}
            Spec::Span(span) => spans.push(span),
        }
    }
    if spans.iter().enumerate().any(|(i, a)| spans[..i].iter().any(|b| a.start < b.end && b.start < a.end)) {
        spans = merged(spans);
    }
    match spans.len() {
        0 if list.split(',').all(|s| s.trim().is_empty()) => RangeRequest::Whole,
        0 => RangeRequest::Unsatisfiable,
        1 => RangeRequest::Partial(spans[0]),
        _ => RangeRequest::Multiple(spans),
    }
}

enum Spec {
    Malformed,
    /// Well formed, but not within the blob.
    Beyond,
    Span(ByteSpan),
}

fn parse_spec(spec: &str, size: u64) -> Spec {
    let Some((a, b)) = spec.split_once('-') else {
        return Spec::Malformed;
    };
    let span = match (a.is_empty(), b.is_empty()) {
        (true, false) => match parse_u64(b) {
            Some(0) => return Spec::Beyond,
            Some(n) => ByteSpan { start: size.saturating_sub(n), end: size },
            None => return Spec::Malformed,
        },
        (false, _) => {
            let Some(start) = parse_u64(a) else {
                return Spec::Malformed;
            };
            let end = if b.is_empty() {
                size
            } else {
                match parse_u64(b) {
                    Some(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return Spec::Malformed,
                }
            };
            if start >= size {
                return Spec::Beyond;
            }
            ByteSpan { start, end }
        }
        (true, true) => return Spec::Malformed,
    };
    if span.is_empty() {
        Spec::Beyond
    } else {
        Spec::Span(span)
    }
}

/// Overlapping spans merged, in ascending order.
fn merged(mut spans: Vec<ByteSpan>) -> Vec<ByteSpan> {
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<ByteSpan> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start < last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ranges_are_inclusive() {
        assert_eq!(parse_chunk_range("0-99").unwrap(), ByteSpan { start: 0, end: 100 });
        assert_eq!(parse_chunk_range("bytes 5-5").unwrap(), ByteSpan { start: 5, end: 6 });
        assert_eq!(parse_chunk_range("bytes=10-19").unwrap().len(), 10);
    }

    #[test]
    fn malformed_chunk_ranges_are_upload_invalid() {
        for bad in
            ["", "-", "5", "a-b", "9-3", "-3", "1-", "0-99999999999999999999999", "1 - 2", "0-18446744073709551615"]
        {
            assert_eq!(parse_chunk_range(bad).unwrap_err().code(), "BLOB_UPLOAD_INVALID", "{bad}");
        }
    }

    #[test]
    fn read_ranges() {
        use RangeRequest::*;
        let p = |s, e| Partial(ByteSpan { start: s, end: e });
        assert_eq!(parse_read_range("bytes=0-9", 100), p(0, 10));
        assert_eq!(parse_read_range("bytes=90-", 100), p(90, 100));
        assert_eq!(parse_read_range("bytes=-10", 100), p(90, 100));
        assert_eq!(parse_read_range("bytes=-1000", 100), p(0, 100));
        assert_eq!(parse_read_range("bytes=50-1000", 100), p(50, 100));
        assert_eq!(parse_read_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_read_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_read_range("items=0-1", 100), Whole);
        assert_eq!(parse_read_range("bytes=x-1", 100), Whole);
        assert_eq!(parse_read_range("bytes=9-3", 100), Whole);
    }

    #[test]
    fn several_ranges() {
        use RangeRequest::*;
        let span = |start, end| ByteSpan { start, end };
        assert_eq!(parse_read_range("bytes=0-1,5-6", 100), Multiple(vec![span(0, 2), span(5, 7)]));
        // The order asked is kept; spans past the end are dropped.
        assert_eq!(parse_read_range("bytes=50-59, -10,200-300", 100), Multiple(vec![span(50, 60), span(90, 100)]));
        assert_eq!(parse_read_range("bytes=0-9,200-300", 100), Partial(span(0, 10)));
        assert_eq!(parse_read_range("bytes=200-300,300-", 100), Unsatisfiable);
        // Overlaps are merged: an answer never repeats bytes.
        assert_eq!(parse_read_range("bytes=0-,0-,0-", 100), Partial(span(0, 100)));
        assert_eq!(parse_read_range("bytes=20-29,0-24,50-51", 100), Multiple(vec![span(0, 30), span(50, 52)]));
        // One malformed spec voids the header; too many ranges are not served as ranges.
        assert_eq!(parse_read_range("bytes=0-1,x", 100), Whole);
        assert_eq!(parse_read_range("bytes=,", 100), Whole);
        let many = vec!["0-0"; MAX_RANGES + 1].join(",");
        assert_eq!(parse_read_range(&format!("bytes={many}"), 100), Whole);
        let most: Vec<String> = (0..MAX_RANGES).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert!(
            matches!(parse_read_range(&format!("bytes={}", most.join(",")), 1000), Multiple(s) if s.len() == MAX_RANGES)
        );
    }
}
