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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: serve the whole blob (RFC 9110 says to ignore what we cannot parse).
    Whole,
    Partial(ByteSpan),
    Unsatisfiable,
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n`; several ranges are served whole.
pub fn parse_read_range(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let span = match (a.is_empty(), b.is_empty()) {
        (true, false) => match parse_u64(b) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => ByteSpan { start: size.saturating_sub(n), end: size },
            None => return RangeRequest::Whole,
        },
        (false, _) => {
            let Some(start) = parse_u64(a) else {
                return RangeRequest::Whole;
            };
            let end = if b.is_empty() {
                size
            } else {
                match parse_u64(b) {
                    Some(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return RangeRequest::Whole,
                }
            };
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            ByteSpan { start, end }
        }
        (true, true) => return RangeRequest::Whole,
    };
    if span.is_empty() {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Partial(span)
    }
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
        assert_eq!(parse_read_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_read_range("items=0-1", 100), Whole);
        assert_eq!(parse_read_range("bytes=x-1", 100), Whole);
        assert_eq!(parse_read_range("bytes=9-3", 100), Whole);
    }
}
