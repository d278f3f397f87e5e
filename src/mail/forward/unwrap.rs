//! Walks the layers of a message (see the rules in `mod.rs`).

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use mail_parser::{Message, MessageParser};

use super::address::{self, parse_list, parse_mailbox, resolve};
use super::block::{self, Split};
use super::mime::{self, Item, Nested};
use super::subject::{self, Prefix};
use super::{dates, Direction, Extracted, Mailbox, Team, NO_PREFIX_MAX_NOTE_LINES};

/// Forward layers followed at most; deeper ones stay in the body.
const MAX_DEPTH: usize = 8;

/// What the outer layers hand down.
#[derive(Clone, Default)]
struct Outer {
    chain: Vec<Mailbox>,
    notes: Vec<String>,
    forwarded_at: Option<DateTime<FixedOffset>>,
    /// Date of the message that carried this one as an attachment.
    carrier_date: Option<DateTime<FixedOffset>>,
}

struct Head {
    from: Option<Mailbox>,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    date: Option<DateTime<FixedOffset>>,
    subject: String,
    message_id: Option<String>,
}

pub(crate) fn extract(msg: &Message<'_>, team: &Team<'_>) -> Vec<Extracted> {
    walk(msg, team, Outer::default(), 0)
}

fn walk(msg: &Message<'_>, team: &Team<'_>, outer: Outer, depth: usize) -> Vec<Extracted> {
    let head = head(msg);
    let items = mime::attachments(msg);
    if depth < MAX_DEPTH && team.has(head.from.as_ref()) {
        if let Some(split) = inline_forward(msg, &head.subject) {
            return vec![unwrap_inline(split, &head, items, team, outer, depth)];
        }
        if items.iter().any(|i| i.nested.is_some()) {
            return unwrap_attached(msg, head, items, team, outer, depth);
        }
    }
    vec![own_entry(msg, head, items, team, outer)]
}

/// One entry per attached message; the wrapper's text is the note.
fn unwrap_attached(
    msg: &Message<'_>,
    head: Head,
    items: Vec<Item<'_>>,
    team: &Team<'_>,
    outer: Outer,
    depth: usize,
) -> Vec<Extracted> {
    let note = mime::body(msg);
    let inner = Outer {
        chain: outer.chain.iter().chain(&head.from).cloned().collect(),
        notes: outer.notes.iter().cloned().chain([note]).collect(),
        forwarded_at: outer.forwarded_at.or(head.date),
        carrier_date: head.date,
    };
    let mut entries = Vec::new();
    let mut loose = Vec::new();
    for item in items {
        let before = entries.len();
        match &item.nested {
            Some(Nested::Parsed(m)) => entries.extend(walk(m, team, inner.clone(), depth + 1)),
            Some(Nested::Raw(bytes)) => {
                if let Some(m) = MessageParser::default()
                    .parse(*bytes)
                    .filter(looks_like_message)
                {
                    entries.extend(walk(&m, team, inner.clone(), depth + 1));
                }
            }
            None => {}
        }
        if entries.len() == before {
            loose.push(item);
        }
    }
    if let Some(first) = entries.first_mut() {
        // Files the forwarder attached beside the messages: kept on
        // the first entry rather than lost.
        first
            .attachments
            .extend(loose.into_iter().map(|i| i.attachment));
        return entries;
    }
    vec![own_entry(msg, head, loose, team, outer)]
}

/// The first header block of the plain body, else of the HTML body, when the
/// rules in `mod.rs` make it a forward.
fn inline_forward(msg: &Message<'_>, subject: &str) -> Option<Split> {
    let plain = block::find_first(&mime::plain_text(msg)).filter(|s| is_forward(s, subject));
    plain.or_else(|| block::find_first(&mime::html_text(msg)).filter(|s| is_forward(s, subject)))
}

fn is_forward(split: &Split, subject: &str) -> bool {
    match subject::first_prefix(subject) {
        Prefix::Reply => false,
        Prefix::Forward => true,
        Prefix::ForwardUnlessFinnish => split.block.lang != "fi",
        Prefix::None => split.explicit || split.lines_above <= NO_PREFIX_MAX_NOTE_LINES,
    }
}

fn unwrap_inline(
    mut split: Split,
    head: &Head,
    items: Vec<Item<'_>>,
    team: &Team<'_>,
    outer: Outer,
    depth: usize,
) -> Extracted {
    let mut chain = outer.chain;
    chain.extend(head.from.clone());
    let mut notes = outer.notes;
    notes.push(split.note.clone());
    let mut known: Vec<Mailbox> = head
        .from
        .iter()
        .chain(&head.to)
        .chain(&head.cc)
        .cloned()
        .collect();
    let mut level = depth + 1;
    loop {
        let b = &split.block;
        let from = b
            .from
            .as_deref()
            .and_then(parse_mailbox)
            .map(|m| resolve(m, &known));
        let list = |v: &Option<String>| -> Vec<Mailbox> {
            parse_list(v.as_deref().unwrap_or_default())
                .into_iter()
                .map(|m| resolve(m, &known))
                .collect()
        };
        let (to, cc) = (list(&b.to), list(&b.cc));
        known.extend(
            from.iter()
                .chain(&to)
                .chain(&cc)
                .filter(|m| m.address.is_some())
                .cloned(),
        );
        if level < MAX_DEPTH && team.has(from.as_ref()) {
            let subject = b.subject.as_deref().unwrap_or_default();
            if let Some(inner) = block::find_first(&split.body).filter(|s| is_forward(s, subject)) {
                chain.extend(from);
                notes.push(inner.note.clone());
                split = inner;
                level += 1;
                continue;
            }
        }
        let date_raw = b.date.clone().filter(|d| !d.is_empty());
        let default_offset = head
            .date
            .map_or(FixedOffset::east_opt(0).expect("zero offset"), |d| {
                *d.offset()
            });
        let parsed = date_raw
            .as_deref()
            .and_then(|raw| dates::parse(raw, default_offset, b.lang));
        let date_is_fallback = parsed.is_none() && head.date.is_some();
        return Extracted {
            direction: direction(team, from.as_ref()),
            from,
            to,
            cc,
            date: parsed.or(head.date),
            date_raw,
            date_is_fallback,
            subject: subject::strip_forward_prefixes(b.subject.as_deref().unwrap_or_default()),
            body_text: std::mem::take(&mut split.body),
            message_id: head.message_id.clone(),
            forwarded_by: chain.first().cloned(),
            forwarded_at: outer.forwarded_at.or(head.date),
            forward_note: join_notes(&notes),
            forward_chain: chain,
            is_forward: true,
            attachments: items.into_iter().map(|i| i.attachment).collect(),
        };
    }
}

fn own_entry(
    msg: &Message<'_>,
    head: Head,
    items: Vec<Item<'_>>,
    team: &Team<'_>,
    outer: Outer,
) -> Extracted {
    let date_is_fallback = head.date.is_none() && outer.carrier_date.is_some();
    Extracted {
        direction: direction(team, head.from.as_ref()),
        from: head.from,
        to: head.to,
        cc: head.cc,
        date: head.date.or(outer.carrier_date),
        date_raw: None,
        date_is_fallback,
        subject: subject::strip_forward_prefixes(&head.subject),
        body_text: mime::body(msg),
        message_id: head.message_id,
        forwarded_by: outer.chain.first().cloned(),
        forwarded_at: outer.forwarded_at,
        forward_note: join_notes(&outer.notes),
        is_forward: !outer.chain.is_empty(),
        forward_chain: outer.chain,
        attachments: items.into_iter().map(|i| i.attachment).collect(),
    }
}

fn head(msg: &Message<'_>) -> Head {
    Head {
        from: address::from_header(msg.from()).into_iter().next(),
        to: address::from_header(msg.to()),
        cc: address::from_header(msg.cc()),
        date: msg.date().and_then(to_chrono),
        subject: msg.subject().unwrap_or_default().trim().to_string(),
        message_id: msg.message_id().map(str::to_string),
    }
}

fn to_chrono(d: &mail_parser::DateTime) -> Option<DateTime<FixedOffset>> {
    let secs = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
        * if d.tz_before_gmt { -1 } else { 1 };
    let naive = NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?
        .and_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))?;
    FixedOffset::east_opt(secs)?
        .from_local_datetime(&naive)
        .single()
}

fn looks_like_message(m: &Message<'_>) -> bool {
    m.from().is_some() || m.date().is_some() || m.subject().is_some()
}

fn direction(team: &Team<'_>, from: Option<&Mailbox>) -> Direction {
    if team.has(from) {
        Direction::Outgoing
    } else {
        Direction::Incoming
    }
}

fn join_notes(notes: &[String]) -> Option<String> {
    let joined = notes
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (!joined.is_empty()).then_some(joined)
}
