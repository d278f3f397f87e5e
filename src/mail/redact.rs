//! Removing one attachment from a stored message for good: the MIME part whose
//! bytes hash to the deleted document is replaced by a short text part that
//! says what was there and who deleted it. Everything else stays byte for
//! byte. Attachments inside attached messages (forward as attachment) are
//! found too; a base64-encoded attached message is re-encoded around the change.

use base64::Engine;
use mail_parser::{Encoding, Message, MessageParser, MimeHeaders, PartType};

use super::forward::mime::{content_type, is_eml, part_bytes};
use crate::blobs::sha256_hex;

/// Nested messages deeper than this are left alone (mail-parser stops too).
const MAX_DEPTH: usize = 8;

/// What the placeholder part tells a reader of the raw message.
pub struct Placeholder<'a> {
    pub filename: Option<&'a str>,
    pub size: i64,
    pub sha256: &'a str,
    pub deleted_at: &'a str,
    pub deleted_by: &'a str,
    pub reason: Option<&'a str>,
}

impl Placeholder<'_> {
    /// The replacement part: headers and body, no trailing line break (the
    /// multipart boundary brings its own).
    fn part(&self) -> Vec<u8> {
        // One line each: a name with line breaks could end the multipart early.
        let line = |s: &str| s.replace(|c: char| c.is_control(), " ");
        let name = line(self.filename.unwrap_or("attachment"));
        let by = line(self.deleted_by);
        let at = line(self.deleted_at);
        // Header-safe ASCII version of the name; the body has it exactly.
        let ascii: String = name
            .chars()
            .map(|c| {
                // No '-': two of them could start a boundary line.
                if c.is_ascii_alphanumeric() || "._".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        let mut body = format!(
            "This attachment was deleted permanently from the archive.\r\n\
File: {name}\r\nSize: {} bytes\r\nSHA-256: {}\r\nDeleted: {} by {}\r\n",
            self.size,
            line(self.sha256),
            at,
            by
        );
        if let Some(r) = self.reason.filter(|r| !r.trim().is_empty()) {
            body.push_str(&format!("Reason: {}\r\n", line(r)));
        }
        format!(
            "Content-Type: text/plain; charset=utf-8\r\n\
Content-Disposition: attachment; filename=\"{ascii}.deleted.txt\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\nX-Dossier-Deleted: sha256={}\r\n\r\n{}",
            line(self.sha256),
            quoted_printable(body.trim_end())
        )
        .into_bytes()
    }
}

/// Quoted-printable with '-' encoded too: a name or reason holding "--XX"
/// cannot look like a boundary (parsers find those mid-line as well).
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let (bytes, mut width) = (line.as_bytes(), 0);
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b'!'..=b'~').contains(&b) && b != b'=' && b != b'-' || b == b' ' && !last;
            let piece = if plain {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            // Soft line break: encoded lines stay within 76 characters.
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
    }
    out
}

/// The message with every attachment whose bytes hash to `target` replaced,
/// or None when no such part is in it.
pub fn redact(raw: &[u8], target: &str, placeholder: &Placeholder<'_>) -> Option<Vec<u8>> {
    redact_bytes(raw, target, &placeholder.part(), 0)
}

fn redact_bytes(raw: &[u8], target: &str, part: &[u8], depth: usize) -> Option<Vec<u8>> {
    let msg = MessageParser::default().parse(raw)?;
    let mut splices = Vec::new();
    collect(&msg, target, part, depth, &mut splices);
    if splices.is_empty() {
        return None;
    }
    // Back to front, so earlier offsets stay valid; nested splices never overlap.
    splices.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = raw.to_vec();
    let mut last = usize::MAX;
    for (start, end, bytes) in splices {
        if end > last || start > end || end > out.len() {
            continue;
        }
        out.splice(start..end, bytes);
        last = start;
    }
    Some(out)
}

/// The root part's headers without its Content-* lines, then the placeholder.
fn replace_root(headers: &[u8], part: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(headers);
    let mut out = String::new();
    let mut keep = true;
    for line in text.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) {
            if keep {
                out.push_str(line);
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        keep = !name.starts_with("content-");
        if keep {
            out.push_str(line);
        }
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(part);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 76 * 2);
    for (i, chunk) in encoded.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// Splices (start, end, replacement) into the bytes `msg` was parsed from.
/// Parts of a message parsed in place carry offsets into those same bytes.
fn collect(
    msg: &Message<'_>,
    target: &str,
    placeholder: &[u8],
    depth: usize,
    out: &mut Vec<(usize, usize, Vec<u8>)>,
) {
    for &id in &msg.attachments {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        let (start, body, end) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        if part_bytes(msg, part).is_some_and(|b| sha256_hex(b) == target) {
            if id == 0 {
                let headers = msg.raw_message.get(start..body).unwrap_or_default();
                out.push((start, end, replace_root(headers, placeholder)));
            } else {
                out.push((start, end, placeholder.to_vec()));
            }
            continue;
        }
        if depth >= MAX_DEPTH {
            continue;
        }
        // An attached message: look inside it.
        let inner: Option<&[u8]> = match &part.body {
            PartType::Message(m) if part.encoding == Encoding::None => {
                collect(m, target, placeholder, depth + 1, out);
                None
            }
            PartType::Message(m) => Some(m.raw_message()),
            PartType::Binary(b) | PartType::InlineBinary(b)
                if is_eml(&content_type(part), part.attachment_name()) =>
            {
                Some(b.as_ref())
            }
            _ => None,
        };
        let Some(inner) = inner else { continue };
        let Some(new_inner) = redact_bytes(inner, target, placeholder, depth + 1) else {
            continue;
        };
        let body_bytes = match part.encoding {
            Encoding::None => new_inner,
            Encoding::Base64 => base64_lines(&new_inner),
            // Quoted-printable around a message is rare; replace the whole
            // attached message rather than re-encode it.
            Encoding::QuotedPrintable => {
                out.push((start, end, placeholder.to_vec()));
                continue;
            }
        };
        out.push((body, end, body_bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder() -> Placeholder<'static> {
        Placeholder {
            filename: Some("offer ü.pdf\r\n--XX--"),
            size: 12,
            sha256: "abc",
            deleted_at: "2026-12-02T10:00:00Z",
            deleted_by: "Ann Admin",
            reason: Some("sent\r\nby mistake"),
        }
    }

    fn with_parts(parts: &str) -> Vec<u8> {
        format!(
            "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n\
hello\r\n{parts}--XX--\r\n"
        )
        .into_bytes()
    }

    fn attachments(raw: &[u8]) -> Vec<(Option<String>, Vec<u8>)> {
        let team = crate::mail::Team {
            addresses: &[],
            domains: &[],
        };
        crate::mail::analyze(raw, &team)
            .entries
            .into_iter()
            .flat_map(|e| e.attachments)
            .map(|a| (a.filename, a.bytes))
            .collect()
    }

    #[test]
    fn the_matching_part_is_replaced_and_the_rest_kept_byte_for_byte() {
        let raw = with_parts(
            "--XX\r\nContent-Type: text/plain; name=n.txt\r\nContent-Disposition: attachment; filename=n.txt\r\n\r\n\
zebra secret\r\n--XX\r\nContent-Type: application/pdf; name=k.pdf\r\nContent-Disposition: attachment; filename=k.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n",
        );
        let target = sha256_hex(b"zebra secret");
        let out = redact(&raw, &target, &placeholder()).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("zebra"), "{text}");
        assert!(text.contains("This attachment was deleted permanently"));
        assert!(text.contains("JVBERi0="), "the other attachment stays");
        assert!(text.starts_with("From: a@b.example\r\nSubject: s\r\n"));
        let left = attachments(&out);
        assert_eq!(left.len(), 2, "a name holding the boundary ends nothing");
        let said = String::from_utf8_lossy(&left[0].1);
        assert!(
            said.contains("File: offer ü.pdf  --XX--") && said.contains("Reason: sent  by mistake"),
            "{said}"
        );
        assert_eq!(left[1].1, b"%PDF-");
        assert_eq!(
            left[0].0.as_deref(),
            Some("offer__.pdf____XX__.deleted.txt")
        );
        assert!(redact(&raw, &sha256_hex(b"not there"), &placeholder()).is_none());
    }

    #[test]
    fn quoted_printable_wraps_and_hides_dashes() {
        let long = "x".repeat(200);
        let out = quoted_printable(&format!("a--b = c \r\n{long}"));
        assert!(out.starts_with("a=2D=2Db =3D c=20\r\n"), "{out}");
        assert!(out.split("\r\n").all(|l| l.len() <= 76));
        assert!(!out.contains("--"));
    }

    #[test]
    fn attachments_of_attached_messages_are_found_in_place_and_base64() {
        let inner = "From: c@d.example\r\nSubject: inner\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"YY\"\r\n\r\n--YY\r\nContent-Type: text/plain\r\n\r\ninner body\r\n\
--YY\r\nContent-Type: text/plain; name=s.txt\r\nContent-Disposition: attachment; filename=s.txt\r\n\r\n\
okapi secret\r\n--YY--\r\n";
        let target = sha256_hex(b"okapi secret");
        for encoded in [false, true] {
            let part = if encoded {
                let b64 = String::from_utf8(base64_lines(inner.as_bytes())).unwrap();
                format!("--XX\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n")
            } else {
                format!("--XX\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n")
            };
            let raw = with_parts(&part);
            let out = redact(&raw, &target, &placeholder()).unwrap();
            let msg = MessageParser::default().parse(&out).unwrap();
            let PartType::Message(m) = &msg.parts[msg.attachments[0] as usize].body else {
                panic!("still an attached message")
            };
            let inner_raw = String::from_utf8_lossy(m.raw_message());
            assert!(!inner_raw.contains("okapi"), "{inner_raw}");
            assert!(inner_raw.contains("inner body") && inner_raw.contains("deleted permanently"));
            assert!(!String::from_utf8_lossy(&out).contains("okapi"));
        }
    }

    #[test]
    fn a_message_that_is_only_the_attachment_keeps_its_headers() {
        let raw = b"From: a@b.example\r\nSubject: scan\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream;\r\n name=x.bin\r\n\
Content-Disposition: attachment; filename=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0IHRhcGly\r\n";
        let target = sha256_hex(b"secret tapir");
        let out = redact(raw, &target, &placeholder()).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("From: a@b.example\r\nSubject: scan\r\nMIME-Version: 1.0\r\nContent-Type: text/plain"), "{text}");
        assert!(!text.contains("c2VjcmV0") && !text.contains("name=x.bin"));
    }
}
