//! Bodies and attachments of a parsed message.

use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};

use super::{html, Attachment};

/// Text bodies as mail-parser picked them (text/plain preferred; an
/// HTML-only message lists its HTML here too), HTML converted by `html.rs`.
pub(crate) fn plain_text(msg: &Message<'_>) -> String {
    join_parts(msg, &msg.text_body)
}

/// The HTML bodies as text: the fallback when the plain part is empty or
/// lacks the forwarded header block.
pub(crate) fn html_text(msg: &Message<'_>) -> String {
    join_parts(msg, &msg.html_body)
}

/// The body to store: plain text, or the HTML's text when plain is blank.
pub(crate) fn body(msg: &Message<'_>) -> String {
    let plain = plain_text(msg);
    if plain.trim().is_empty() {
        html_text(msg)
    } else {
        plain
    }
}

fn join_parts(msg: &Message<'_>, ids: &[u32]) -> String {
    let texts: Vec<String> = ids
        .iter()
        .filter_map(|&id| msg.parts.get(id as usize))
        .filter_map(|part| match &part.body {
            PartType::Text(t) => Some(plain(t)),
            PartType::Html(h) => Some(html::to_text(h)),
            _ => None,
        })
        .collect();
    texts.join("\n").trim().to_string()
}

/// LF line ends, no trailing blanks (Outlook's `&nbsp;` lines become empty);
/// drops Outlook's `[cid:image001.png@…]` lines, which stand for inline
/// images that are not kept as attachments.
fn plain(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.lines()
        .map(str::trim_end)
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("[cid:") && t.ends_with(']'))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A message carried inside another one.
pub(crate) enum Nested<'m> {
    Parsed(&'m Message<'m>),
    /// An `.eml` file mail-parser left as bytes.
    Raw(&'m [u8]),
}

pub(crate) struct Item<'m> {
    pub attachment: Attachment,
    pub nested: Option<Nested<'m>>,
}

const SIGNATURES: &[&str] = &[
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
];

/// Real attachments: inline images referenced from the HTML by `cid:` are
/// skipped unless marked `Content-Disposition: attachment`; so are S/MIME and
/// PGP signatures, which sign the wrapper, not the original.
pub(crate) fn attachments<'m>(msg: &'m Message<'m>) -> Vec<Item<'m>> {
    let html_source: String = msg
        .html_body
        .iter()
        .filter_map(|&id| match &msg.parts.get(id as usize)?.body {
            PartType::Html(h) => Some(h.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    msg.attachments
        .iter()
        .filter_map(|&id| msg.parts.get(id as usize))
        .filter_map(|part| item(msg, part, &html_source))
        .collect()
}

fn item<'m>(
    msg: &'m Message<'m>,
    part: &'m MessagePart<'m>,
    html_source: &str,
) -> Option<Item<'m>> {
    let content_type = content_type(part);
    if SIGNATURES.contains(&content_type.as_str()) {
        return None;
    }
    let is_attachment = part
        .content_disposition()
        .is_some_and(|d| d.is_attachment());
    let cid = part
        .content_id()
        .map(|c| c.trim().trim_matches(['<', '>']).to_ascii_lowercase());
    if !is_attachment
        && cid.is_some_and(|c| !c.is_empty() && html_source.contains(&format!("cid:{c}")))
    {
        return None;
    }
    let filename = part.attachment_name().map(str::to_string);
    let bytes = part_bytes(msg, part)?;
    let nested = match &part.body {
        PartType::Message(m) => Some(Nested::Parsed(m)),
        PartType::Binary(_) | PartType::InlineBinary(_)
            if is_eml(&content_type, filename.as_deref()) =>
        {
            Some(Nested::Raw(bytes))
        }
        _ => None,
    };
    Some(Item {
        attachment: Attachment {
            filename,
            content_type,
            bytes: bytes.to_vec(),
        },
        nested,
    })
}

/// An `.eml` file or `message/rfc822` part that mail-parser left as bytes.
pub(crate) fn is_eml(content_type: &str, filename: Option<&str>) -> bool {
    content_type == "message/rfc822"
        || filename.is_some_and(|f| f.to_ascii_lowercase().ends_with(".eml"))
}

/// The bytes an attachment is stored as: its decoded content, or a nested
/// message's own bytes. Hashing these identifies the part again later.
pub(crate) fn part_bytes<'m>(msg: &'m Message<'m>, part: &'m MessagePart<'m>) -> Option<&'m [u8]> {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => Some(t.as_bytes()),
        PartType::Binary(b) | PartType::InlineBinary(b) => Some(b.as_ref()),
        PartType::Message(m) => Some(match part.encoding {
            // mail-parser parses an unencoded message/rfc822 part in place:
            // its bytes are a slice of the outer message.
            Encoding::None => msg
                .raw_message
                .get(part.offset_body as usize..part.offset_end as usize)
                .unwrap_or_default(),
            _ => m.raw_message(),
        }),
        PartType::Multipart(_) => None,
    }
}

pub(crate) fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        }
        .to_ascii_lowercase(),
        None => match part.body {
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            _ => "application/octet-stream".into(),
        },
    }
}
