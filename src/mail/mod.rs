//! Turning raw bytes into history entries. A pure function of the stored bytes,
//! so reprocessing after a crash and reindexing give the same result.

pub mod auth;
pub mod forward;
mod limits;
pub mod mbox;
pub mod redact;

use mail_parser::{Address, MessageParser};

use crate::domain::Mailbox;

pub use forward::{Attachment, Direction, Extracted, Team};
pub use limits::Limits;

/// Bodies longer than this are truncated for the entry and the index (the raw
/// message keeps everything).
pub const MAX_BODY_CHARS: usize = 1_000_000;

/// What a message yields: who sent the outer message (the salesperson, for a
/// forward) and one entry per original message found in it.
#[derive(Debug)]
pub struct Analysis {
    pub sender: Option<Mailbox>,
    pub entries: Vec<Extracted>,
    /// What a bound (`Limits`) kept from being read, in words.
    pub skipped: Vec<String>,
}

/// `analyze_within` the default limits.
pub fn analyze(raw: &[u8], team: &Team<'_>) -> Analysis {
    analyze_within(raw, team, &Limits::default())
}

/// Unwraps forwards and extracts the entries a message yields. Never fails: a
/// message mail-parser cannot make sense of still becomes an entry (with its
/// text as the body), so nothing accepted disappears. Past a bound of
/// `limits`, what could be read is used and the rest named in `skipped`.
pub fn analyze_within(raw: &[u8], team: &Team<'_>, limits: &Limits) -> Analysis {
    let mut skipped = Vec::new();
    let input = limits::bound_input(raw, limits, &mut skipped);
    let Some(mut msg) = MessageParser::default().parse(&input[..]) else {
        return Analysis {
            sender: None,
            entries: vec![unparseable(raw)],
            skipped,
        };
    };
    let dropped = limits::prune_depth(&mut msg, limits.max_mime_depth);
    if dropped > 0 {
        skipped.push(format!(
            "{dropped} MIME parts nested deeper than {} levels (ingest.max_mime_depth) were not read",
            limits.max_mime_depth
        ));
    }
    let sender = msg.from().and_then(|a| mailboxes(a).into_iter().next());
    let mut entries = forward::extract(&msg, team);
    if entries.is_empty() {
        entries.push(unparseable(raw));
    }
    for e in &mut entries {
        if e.body_text.contains('\r') || e.body_text.chars().nth(MAX_BODY_CHARS).is_some() {
            e.body_text = e
                .body_text
                .replace("\r\n", "\n")
                .chars()
                .take(MAX_BODY_CHARS)
                .collect();
        }
    }
    Analysis {
        sender,
        entries,
        skipped,
    }
}

fn unparseable(raw: &[u8]) -> Extracted {
    Extracted {
        from: None,
        to: vec![],
        cc: vec![],
        date: None,
        date_raw: None,
        date_is_fallback: false,
        subject: "(unparseable message)".into(),
        body_text: String::from_utf8_lossy(&raw[..raw.len().min(64 * 1024)]).into_owned(),
        message_id: None,
        forwarded_by: None,
        forwarded_at: None,
        forward_note: None,
        forward_chain: vec![],
        is_forward: false,
        direction: Direction::Incoming,
        attachments: vec![],
    }
}

pub fn mailboxes(a: &Address<'_>) -> Vec<Mailbox> {
    a.iter()
        .map(|addr| Mailbox {
            name: addr
                .name()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
            address: addr
                .address()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
        })
        .filter(|m| m.name.is_some() || m.address.is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: Team<'static> = Team {
        addresses: &[],
        domains: &[],
    };

    #[test]
    fn own_headers_body_and_attachments() {
        let raw = b"From: \"Doe, Jane\" <jane@client.example>\r\nTo: a@b.example, c@d.example\r\n\
Subject: Quote\r\nDate: Mon, 2 Jun 2025 15:04:05 +0200\r\nMessage-ID: <m1@client.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\n--x\r\n\
Content-Type: application/pdf; name=q.pdf\r\nContent-Disposition: attachment; filename=q.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--x--\r\n";
        let a = analyze(raw, &NOBODY);
        assert_eq!(
            a.sender.unwrap().address.as_deref(),
            Some("jane@client.example")
        );
        let e = &a.entries[0];
        assert_eq!(e.from.as_ref().unwrap().name.as_deref(), Some("Doe, Jane"));
        assert_eq!(e.to.len(), 2);
        assert_eq!(e.subject, "Quote");
        assert_eq!(e.date.unwrap().to_rfc3339(), "2025-06-02T15:04:05+02:00");
        assert_eq!(e.body_text.trim(), "Hello there");
        assert_eq!(e.message_id.as_deref(), Some("m1@client.example"));
        assert_eq!(e.attachments.len(), 1);
        assert_eq!(e.attachments[0].bytes, b"%PDF-");
        assert_eq!(e.attachments[0].content_type, "application/pdf");
    }

    fn team_of(domain: &str) -> Vec<String> {
        vec![domain.to_owned()]
    }

    #[test]
    fn hostile_forwards_neither_panic_nor_take_quadratic_time() {
        let domains = team_of("team.example");
        let team = Team {
            addresses: &[],
            domains: &domains,
        };
        // A multi-byte zone offset once split a char in half.
        let raw = "From: s@team.example\r\nSubject: Fwd: x\r\n\r\n---------- Forwarded message ---------\r\n\
From: c@client.example\r\nDate: 2 Jun 2025 15:04 +€1\r\nSubject: x\r\nTo: s@team.example\r\n\r\nbody\r\n";
        assert_eq!(analyze(raw.as_bytes(), &team).entries.len(), 1);
        // Thousands of label-like lines: the block scan is bounded.
        let mut big = String::from("From: s@team.example\r\nSubject: Fwd: y\r\n\r\n");
        for _ in 0..20_000 {
            big.push_str("Bcc: x@y.example\r\n");
        }
        assert_eq!(analyze(big.as_bytes(), &team).entries.len(), 1);
    }

    #[test]
    fn empty_message_ids_do_not_collapse_entries() {
        assert_eq!(dedup_key(Some(" "), "abc", None), "sha:abc");
        assert_eq!(dedup_key(Some("a@b"), "abc", Some(1)), "mid:a@b");
    }

    #[test]
    fn garbage_still_yields_an_entry() {
        for raw in [&b""[..], b"\0\0\xff\xfe", b"Subject: \xff\r\n\r\n\xc3"] {
            assert_eq!(analyze(raw, &NOBODY).entries.len(), 1);
        }
    }
}

/// Addresses a message may have been delivered to, in routing order:
/// Delivered-To, X-Original-To, To, Cc. Used where there is no SMTP envelope
/// (a shared IMAP mailbox, an mbox import).
pub fn routing_addresses(raw: &[u8]) -> Vec<String> {
    let Some(msg) = MessageParser::default().parse_headers(raw) else {
        return vec![];
    };
    let mut out: Vec<String> = Vec::new();
    for name in ["Delivered-To", "X-Original-To", "To", "Cc"] {
        for h in msg
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
        {
            let value = h.value();
            if let Some(a) = value.as_address() {
                out.extend(a.iter().filter_map(|x| x.address().map(str::to_owned)));
            } else if let Some(t) = value.as_text() {
                out.extend(t.split(',').map(|s| {
                    s.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                }));
            }
        }
    }
    out.retain(|a| a.contains('@'));
    out.dedup();
    out
}

/// A card code written in the subject as `[#code]`, for forwarders who cannot
/// change the recipient of a shared mailbox.
pub fn subject_code(raw: &[u8]) -> Option<String> {
    let msg = MessageParser::default().parse_headers(raw)?;
    let subject = msg.subject()?;
    let start = subject.find("[#")? + 2;
    let end = subject[start..].find(']')? + start;
    Some(subject[start..end].trim().to_owned())
}

/// The address in the outer message's From header (the forwarder, for a forward).
pub fn sender_address(raw: &[u8]) -> Option<String> {
    let msg = MessageParser::default().parse_headers(raw)?;
    let addr = msg.from()?.first()?.address()?.trim().to_owned();
    (!addr.is_empty()).then_some(addr)
}

/// The Message-ID of the outer message (for a cheap duplicate check).
pub fn message_id(raw: &[u8]) -> Option<String> {
    MessageParser::default()
        .parse_headers(raw)?
        .message_id()
        .map(str::to_owned)
}

/// The per-card deduplication key: the Message-ID, or the hash of the raw bytes
/// (with the part number when one message yields several entries).
pub fn dedup_key(message_id: Option<&str>, raw_sha256: &str, part: Option<usize>) -> String {
    // An empty Message-ID (`<>`) would make every such mail one entry.
    let message_id = message_id.filter(|m| !m.trim().is_empty());
    match (message_id, part) {
        (Some(id), _) => format!("mid:{id}"),
        (None, None) => format!("sha:{raw_sha256}"),
        (None, Some(i)) => format!("sha:{raw_sha256}:{i}"),
    }
}

#[cfg(test)]
mod routing_tests {
    use super::*;

    #[test]
    fn routing_addresses_follow_header_order() {
        let raw = b"To: \"A\" <a@x.example>, b@x.example\r\nDelivered-To: d@x.example\r\n\
X-Original-To: o@x.example\r\nCc: c@x.example\r\nSubject: Re: offer [#abc123]\r\n\r\nbody";
        assert_eq!(
            routing_addresses(raw),
            [
                "d@x.example",
                "o@x.example",
                "a@x.example",
                "b@x.example",
                "c@x.example"
            ]
        );
        assert_eq!(subject_code(raw).as_deref(), Some("abc123"));
        assert_eq!(subject_code(b"Subject: [#\r\n\r\n"), None);
    }
}
