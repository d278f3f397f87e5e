//! Reply formatting. Enhanced-code replies and the EHLO block come from
//! `smtp-proto`; greeting and HELO are plain because RFC 2034 §4 excludes
//! them from enhanced status codes.

use smtp_proto::{
    EhloResponse, Response, EXT_8BIT_MIME, EXT_CHUNKING, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING,
    EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS,
};

/// Longest free text (client-supplied addresses, delivery error texts) put in a reply.
const MAX_TEXT: usize = 200;

pub(super) const CAPABILITIES: u32 = EXT_PIPELINING
    | EXT_8BIT_MIME
    | EXT_SMTP_UTF8
    | EXT_SIZE
    | EXT_ENHANCED_STATUS_CODES
    | EXT_CHUNKING;

/// Appends `code x.y.z text\r\n`. Writing into a Vec cannot fail.
pub(super) fn push(out: &mut Vec<u8>, code: u16, esc: [u8; 3], text: &str) {
    let _ = Response::new(code, esc[0], esc[1], esc[2], clean(text)).write(&mut *out);
}

pub(super) fn greeting(out: &mut Vec<u8>, hostname: &str) {
    plain(out, 220, &format!("{} ESMTP dossier", clean(hostname)));
}

pub(super) fn helo(out: &mut Vec<u8>, hostname: &str) {
    plain(out, 250, &clean(hostname));
}

/// STARTTLS is listed only while the session is still in clear text.
pub(super) fn ehlo(out: &mut Vec<u8>, hostname: &str, max_message_bytes: usize, starttls: bool) {
    let mut response = EhloResponse::new(clean(hostname));
    response.capabilities = CAPABILITIES;
    if starttls {
        response.capabilities |= EXT_START_TLS;
    }
    response.size = max_message_bytes;
    let _ = response.write(&mut *out);
}

/// 354 carries no enhanced code (RFC 2034 §4 covers only 2xx/4xx/5xx).
pub(super) fn start_data(out: &mut Vec<u8>) {
    plain(out, 354, "End data with <CR><LF>.<CR><LF>");
}

fn plain(out: &mut Vec<u8>, code: u16, text: &str) {
    out.extend_from_slice(format!("{code} {text}\r\n").as_bytes());
}

/// Makes text safe for a single reply line: a CR/LF from a client address or
/// an error string must not be able to forge extra reply lines.
pub(super) fn clean(text: &str) -> String {
    let mut cleaned: String = text
        .chars()
        .take(MAX_TEXT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(MAX_TEXT).is_some() {
        cleaned.push_str("...");
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_single_lines() {
        let mut out = Vec::new();
        push(&mut out, 550, [5, 1, 1], "<a\r\nb@x>: rejected");
        assert_eq!(out, b"550 5.1.1 <a??b@x>: rejected\r\n");
    }

    #[test]
    fn ehlo_lists_extensions_and_size() {
        let mut out = Vec::new();
        ehlo(&mut out, "mx.example", 1000, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("250-mx.example "));
        for ext in [
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "SIZE 1000",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
        ] {
            assert!(
                text.contains(&format!("{ext}\r\n")),
                "{ext} missing: {text}"
            );
        }
        assert!(!text.contains("STARTTLS") && !text.contains("AUTH"));
        let last = text.trim_end().lines().last().unwrap();
        assert!(last.starts_with("250 "), "{text}");
        let mut out = Vec::new();
        ehlo(&mut out, "mx.example", 1000, true);
        assert!(String::from_utf8(out).unwrap().contains("STARTTLS\r\n"));
    }
}
