//! Bounds on what the parser is given and what the unwrapping reads. A message
//! past a bound is still stored byte-exact; its entry shows what could be read
//! and says, in `skipped`, what was not.
//!
//! Parsing is linear in the input, but its structures are not small: 25 MB of
//! one-line MIME parts become 2.5 million parts (~450 MB), and 700,000 nested
//! `message/rfc822` parts a structure so deep that dropping it overflows the
//! stack. So the input is cut before it reaches the parser, by a scan that
//! over-counts (every line starting with `--` may be a delimiter, every
//! mention of a message type may nest one): only hostile mail reaches the cut.

use std::borrow::Cow;

use mail_parser::{Message, PartType};

/// `ingest.max_mime_parts`, `ingest.max_mime_depth`, `ingest.max_header_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_mime_parts: usize,
    pub max_mime_depth: usize,
    pub max_header_bytes: usize,
}

impl From<&crate::config::IngestConfig> for Limits {
    fn from(c: &crate::config::IngestConfig) -> Self {
        Limits {
            max_mime_parts: c.max_mime_parts,
            max_mime_depth: c.max_mime_depth,
            max_header_bytes: c.max_header_bytes,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_mime_parts: 1000,
            max_mime_depth: 32,
            max_header_bytes: 1 << 20,
        }
    }
}

/// The bytes to parse: `raw`, or a prefix of it (and a header section cut
/// at `max_header_bytes`), with what was left out noted in `skipped`.
pub(crate) fn bound_input<'a>(
    raw: &'a [u8],
    l: &Limits,
    skipped: &mut Vec<String>,
) -> Cow<'a, [u8]> {
    let mut input = Cow::Borrowed(raw);
    let (head_end, body_start) = header_end(raw);
    if head_end > l.max_header_bytes {
        let cut = last_line_end(&raw[..l.max_header_bytes]);
        let mut v = Vec::with_capacity(cut + 2 + raw.len() - body_start);
        v.extend_from_slice(&raw[..cut]);
        v.extend_from_slice(b"\r\n");
        v.extend_from_slice(&raw[body_start..]);
        input = Cow::Owned(v);
        skipped.push(format!(
            "the header section is larger than {} bytes (ingest.max_header_bytes); the headers after that were not read",
            l.max_header_bytes
        ));
    }
    if let Some(cut) = structure_cut(&input, l.max_mime_parts) {
        skipped.push(format!(
            "the message has more than {} MIME parts (ingest.max_mime_parts); the parts after that were not read",
            l.max_mime_parts
        ));
        input = match input {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..cut]),
            Cow::Owned(mut v) => {
                v.truncate(cut);
                Cow::Owned(v)
            }
        };
    }
    input
}

/// (end of the header section, start of the body): the first empty line.
fn header_end(raw: &[u8]) -> (usize, usize) {
    let mut start = 0;
    while start < raw.len() {
        let end = raw[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| start + i + 1);
        let line = &raw[start..end];
        if line == b"\n" || line == b"\r\n" {
            return (start, end);
        }
        start = end;
    }
    (raw.len(), raw.len())
}

/// Length of `bytes` up to and including its last line feed.
fn last_line_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// Where to cut so the parser sees at most about `max_parts` parts and
/// nested messages; None when the message is within bounds.
fn structure_cut(raw: &[u8], max_parts: usize) -> Option<usize> {
    let (mut delimiters, mut nested, mut start) = (0usize, 0usize, 0usize);
    while start < raw.len() {
        let end = raw[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| start + i + 1);
        let line = &raw[start..end];
        if line.starts_with(b"--") {
            delimiters += 1;
        }
        nested += count_nested_types(line);
        if delimiters > max_parts || nested > max_parts {
            return Some(start);
        }
        start = end;
    }
    None
}

/// Mentions of the types mail-parser parses as nested messages.
fn count_nested_types(line: &[u8]) -> usize {
    const NEEDLES: [&[u8]; 2] = [b"message/rfc822", b"message/global"];
    if line.len() < 14 {
        return 0;
    }
    line.windows(14)
        .filter(|w| NEEDLES.iter().any(|n| w.eq_ignore_ascii_case(n)))
        .count()
}

/// Takes parts nested deeper than `max_depth` out of the lists the unwrapping
/// reads (bodies, attachments), in nested messages too; returns how many.
pub(crate) fn prune_depth(msg: &mut Message<'_>, max_depth: usize) -> usize {
    prune(msg, 0, max_depth)
}

fn prune(msg: &mut Message<'_>, base: usize, max: usize) -> usize {
    let mut depth = vec![usize::MAX; msg.parts.len()];
    let mut stack = vec![(0u32, base)];
    while let Some((id, d)) = stack.pop() {
        let i = id as usize;
        if depth.get(i) != Some(&usize::MAX) {
            continue;
        }
        depth[i] = d;
        if let PartType::Multipart(children) = &msg.parts[i].body {
            stack.extend(children.iter().map(|&c| (c, d + 1)));
        }
    }
    let too_deep = |id: &u32| depth.get(*id as usize).is_none_or(|d| *d > max);
    let mut dropped = 0;
    for list in [&mut msg.attachments, &mut msg.text_body, &mut msg.html_body] {
        let before = list.len();
        list.retain(|id| !too_deep(id));
        dropped += before - list.len();
    }
    for (i, part) in msg.parts.iter_mut().enumerate() {
        if let (Some(&d), PartType::Message(inner)) = (depth.get(i), &mut part.body) {
            if d < max {
                dropped += prune(inner, d + 1, max);
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(parts: usize, depth: usize, header: usize) -> Limits {
        Limits {
            max_mime_parts: parts,
            max_mime_depth: depth,
            max_header_bytes: header,
        }
    }

    #[test]
    fn a_long_header_section_is_cut_at_a_line_and_the_body_kept() {
        let mut raw = b"Subject: hi\r\n".to_vec();
        for _ in 0..100 {
            raw.extend_from_slice(b"X-Junk: 0123456789\r\n");
        }
        raw.extend_from_slice(b"\r\nthe body\r\n");
        let mut skipped = vec![];
        let cut = bound_input(&raw, &limits(10, 10, 200), &mut skipped);
        assert!(cut.len() < 250, "{}", cut.len());
        assert!(cut.ends_with(b"\r\n\r\nthe body\r\n"));
        assert_eq!(skipped.len(), 1);
        let msg = mail_parser::MessageParser::default()
            .parse(&cut[..])
            .unwrap();
        assert_eq!(msg.subject(), Some("hi"));
        assert_eq!(msg.body_text(0).unwrap().trim(), "the body");
    }

    #[test]
    fn many_parts_or_nested_messages_are_cut_before_parsing() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for i in 0..50 {
            raw.extend_from_slice(format!("--b\r\n\r\npart {i}\r\n").as_bytes());
        }
        let mut skipped = vec![];
        let cut = bound_input(&raw, &limits(10, 10, 1 << 20), &mut skipped);
        assert!(cut.len() < raw.len() / 4);
        assert!(skipped[0].contains("more than 10 MIME parts"));
        let nested = b"Content-Type: message/rfc822\r\n\r\n".repeat(100);
        let mut skipped = vec![];
        assert!(bound_input(&nested, &limits(10, 10, 1 << 20), &mut skipped).len() < 400);
        let mut skipped = vec![];
        let ok = b"Subject: x\r\n\r\n-- \r\nsignature\r\n";
        assert_eq!(
            bound_input(ok, &limits(10, 10, 1 << 20), &mut skipped).len(),
            ok.len()
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn parts_deeper_than_the_limit_are_not_read() {
        let mut raw = String::from("Subject: deep\r\n");
        for i in 0..10 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\n%PDF\r\n");
        let mut msg = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(msg.attachments.len(), 1);
        assert_eq!(prune_depth(&mut msg.clone(), 20), 0);
        assert_eq!(prune_depth(&mut msg, 5), 1);
        assert!(msg.attachments.is_empty());
    }
}
