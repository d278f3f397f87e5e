//! Forwarded-mail unwrapping: turn what a salesperson forwarded to a card's
//! archive address into the history entries of what the *client* wrote.
//!
//! # Rules
//!
//! **Who is unwrapped.** A message is unwrapped only when its sender is a team
//! member ([`Team::is_member`]). Unwrapping continues through every layer sent
//! by a team member and stops at the first message written by someone outside
//! the team: that message becomes the entry with the rest of its body intact
//! (a thread the client forwarded stays a thread). A message from outside the
//! team is always stored as itself, even if it is a forward. With an empty
//! [`Team`] nothing is unwrapped.
//!
//! **Inline forward or reply?** A *header block* is a run of consecutive lines
//! `Label: value` (labels in 19 languages, see `labels.rs`) with a From-label
//! and at least two of Date/Sent, To and Subject, not quoted with `>` (except
//! where a quote *starts* with an explicit "Begin forwarded message:", as
//! Apple and iOS write). Only the first block of the text part counts; the
//! HTML part is tried when the text part has none (Yahoo mangles its text
//! part, some clients send HTML only). It is a forward when:
//! 1. the subject's first prefix is a reply prefix (`Re:`, `AW:`, `SV:`, `R:`…):
//!    never — it is a reply quoting history, whatever the block looks like;
//! 2. the first prefix is a forward prefix (`Fwd:`, `WG:`, `TR:`…): yes;
//!    `VS:` is a forward (Danish/Norwegian) unless the block is Finnish,
//!    where `VS:` means reply;
//! 3. no prefix (subject edited or empty): yes if the block is introduced by
//!    an explicit forward separator ("Forwarded message", "Begin forwarded
//!    message", "Weitergeleitete Nachricht"…), or if at most 10
//!    (`NO_PREFIX_MAX_NOTE_LINES`) non-blank lines precede it — a reply puts
//!    its own text, usually longer, above the quoted header.
//!
//! `On … wrote:` attributions and `> ` quoting never form a block.
//!
//! **Forward as attachment.** A team member's message without an inline
//! forward but with `message/rfc822` parts (or `.eml` files) yields one entry
//! per attached message; its text becomes the `forward_note`. Other files the
//! forwarder attached beside them go to the first entry rather than being lost.
//!
//! **Nesting.** `forward_chain` lists every team forwarder, outermost first;
//! `forwarded_by`/`forwarded_at` are the outermost (the one who sent it to the
//! archive); `forward_note` joins the notes of all layers, outermost first.
//!
//! **Addresses.** A block that shows only a display name (Outlook/Exchange)
//! gets the address of a mailbox with that name among the carrier's From, To
//! and Cc and the blocks already read; otherwise the address stays `None`.
//!
//! **Dates.** A date in a header block is parsed from localized text; a time
//! without zone takes the offset of the message that carried the block. When
//! it cannot be parsed the carrier's own date is used and `date_is_fallback`
//! is set.
mod address;
mod block;
mod clients;
mod dates;
mod html;
mod labels;
pub(crate) mod mime;
mod months;
mod subject;
mod unwrap;

use chrono::{DateTime, FixedOffset};

pub use subject::strip_forward_prefixes;

/// A subject without a prefix counts as a forward when at most this many
/// non-blank lines stand above the header block.
const NO_PREFIX_MAX_NOTE_LINES: usize = 10;

pub use crate::domain::Mailbox;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// The original's date when parsed.
    pub date: Option<DateTime<FixedOffset>>,
    /// Date text as written in a forwarded header block.
    pub date_raw: Option<String>,
    /// `date` came from the wrapper because the original's couldn't be parsed.
    pub date_is_fallback: bool,
    /// Forward prefixes removed.
    pub subject: String,
    pub body_text: String,
    /// The original's Message-ID when known (attached forwards), else the wrapper's.
    pub message_id: Option<String>,
    pub forwarded_by: Option<Mailbox>,
    pub forwarded_at: Option<DateTime<FixedOffset>>,
    /// What the forwarders typed above the forwarded block, outermost first.
    pub forward_note: Option<String>,
    /// Forwarders, outermost first.
    pub forward_chain: Vec<Mailbox>,
    pub is_forward: bool,
    pub direction: Direction,
    pub attachments: Vec<Attachment>,
}

/// The sales team: lowercase addresses and domains.
#[derive(Debug, Clone, Copy)]
pub struct Team<'a> {
    pub addresses: &'a [String],
    pub domains: &'a [String],
}

impl Team<'_> {
    /// Exact address match, or the address's domain is a team domain.
    pub fn is_member(&self, addr: &str) -> bool {
        let addr = addr.trim().to_lowercase();
        if self.addresses.contains(&addr) {
            return true;
        }
        match addr.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() => self.domains.iter().any(|d| d == domain),
            _ => false,
        }
    }

    fn has(&self, mailbox: Option<&Mailbox>) -> bool {
        mailbox
            .and_then(|m| m.address.as_deref())
            .is_some_and(|a| self.is_member(a))
    }
}

/// Pure function of the parsed message: one [`Extracted`] per history entry.
///
/// Not a forward → one entry with the message's own headers. Inline forward →
/// one entry with the original's fields. Forward as attachment → one entry per
/// attached message, the wrapper's text kept as `forward_note`.
pub fn extract(msg: &mail_parser::Message<'_>, team: &Team<'_>) -> Vec<Extracted> {
    unwrap::extract(msg, team)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_membership() {
        let addresses = vec!["anna.private@gmail.com".to_string()];
        let domains = vec!["acme.example".to_string()];
        let team = Team {
            addresses: &addresses,
            domains: &domains,
        };
        assert!(team.is_member("Anna.Private@Gmail.com"));
        assert!(team.is_member("bob@ACME.example"));
        assert!(!team.is_member("bob@sub.acme.example"));
        assert!(!team.is_member("acme.example"));
        assert!(!team.is_member("@acme.example"));
        assert!(!team.is_member("john@client.example"));
    }
}

#[cfg(test)]
mod html_parity_tests;
