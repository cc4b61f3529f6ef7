//! `multipart/byteranges` (RFC 9110, 14.6): the answer to a `Range` of several spans.
//! Only the framing is built here; the parts' bytes stream from storage.

use crate::oci::range::ByteSpan;
use crate::registry::ports::Segment;

/// A multipart answer: its `Content-Type`, its exact length and what it is made of.
pub struct Multipart {
    pub content_type: String,
    pub length: u64,
    pub segments: Vec<Segment>,
}

/// The parts of `spans` of a blob of `size` bytes, each headed by its `Content-Range`.
/// `boundary` must not occur in the blob: a random one of 32 hex digits does not.
pub fn multipart(spans: &[ByteSpan], size: u64, part_type: &str, boundary: &str) -> Multipart {
    let mut segments = Vec::with_capacity(spans.len() * 2 + 1);
    let mut length = 0u64;
    let mut push = |segment: Segment| {
        length += segment.size();
        segments.push(segment);
    };
    for (i, span) in spans.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            span.start,
            span.end - 1
        );
        push(Segment::Bytes(head.into_bytes()));
        push(Segment::Span(*span));
    }
    push(Segment::Bytes(format!("\r\n--{boundary}--\r\n").into_bytes()));
    Multipart { content_type: format!("multipart/byteranges; boundary={boundary}"), length, segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_framed_and_counted() {
        let spans = [ByteSpan { start: 0, end: 2 }, ByteSpan { start: 5, end: 6 }];
        let m = multipart(&spans, 10, "application/octet-stream", "b0");
        let blob = b"0123456789";
        let body: Vec<u8> = m
            .segments
            .iter()
            .flat_map(|s| match s {
                Segment::Bytes(b) => b.clone(),
                Segment::Span(s) => blob[s.start as usize..s.end as usize].to_vec(),
            })
            .collect();
        let expected = "--b0\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
                        \r\n--b0\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 5-5/10\r\n\r\n5\
                        \r\n--b0--\r\n";
        assert_eq!(String::from_utf8(body.clone()).unwrap(), expected);
        assert_eq!(m.length, body.len() as u64);
        assert_eq!(m.content_type, "multipart/byteranges; boundary=b0");
    }
}
