//! Finds the first forwarded header block in a body and splits the body into
//! the note above it, the block, and the forwarded body below it.
//!
//! One generic parser serves every client: they differ in labels (see
//! `labels.rs`), order (GMX starts with `Gesendet:`, Thunderbird with
//! `Subject:`) and separators (see `clients.rs`), not in shape.

use super::address;
use super::clients::{self, Separator};
use super::labels::{self, Field};

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct HeaderBlock {
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub date: Option<String>,
    pub subject: Option<String>,
    /// Language of the first language-specific label, or "".
    pub lang: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    pub note: String,
    pub block: HeaderBlock,
    pub body: String,
    /// An explicit forward separator ("Forwarded message") introduces it.
    pub explicit: bool,
    /// Non-blank lines above the block, separators excluded.
    pub lines_above: usize,
}

/// A header block never has more lines than this; bounds the scan so a body
/// of thousands of label-like lines stays linear.
const MAX_BLOCK_LINES: usize = 40;
/// Forwarded header blocks sit near the top; deeper lines are not searched.
const MAX_SCAN_LINES: usize = 2_000;

/// The first valid header block of `text`, if any.
pub(crate) fn find_first(text: &str) -> Option<Split> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.replace(['\u{feff}', '\u{200b}'], "")
                .trim_end()
                .to_string()
        })
        .collect();
    clients::unquote_after_forward_separator(&mut lines);
    (0..lines.len().min(MAX_SCAN_LINES))
        .filter(|&i| labels::split_line(&lines[i]).is_some())
        .find_map(|start| {
            parse_block(&lines, start).map(|(block, end)| split_at(&lines, start, end, block))
        })
}

/// A block is consecutive label lines (plus wrapped recipient lines) with a
/// From-label and at least two of Date, To, Subject.
fn parse_block(lines: &[String], start: usize) -> Option<(HeaderBlock, usize)> {
    let mut b = HeaderBlock::default();
    let mut last = None;
    let mut j = start;
    while j < lines.len() && j - start < MAX_BLOCK_LINES {
        let line = &lines[j];
        if let Some((field, lang, value)) = labels::split_line(line) {
            let slot = match field {
                Field::From => &mut b.from,
                Field::Date => &mut b.date,
                Field::To => &mut b.to,
                Field::Cc => &mut b.cc,
                Field::Subject => &mut b.subject,
                Field::Other => {
                    last = None;
                    j += 1;
                    continue;
                }
            };
            if slot.is_some() {
                break; // the same label again: another block starts
            }
            *slot = Some(value.to_string());
            if b.lang.is_empty() {
                b.lang = lang;
            }
            last = Some(field);
        } else if let Some(prev) = continued(&mut b, last, line) {
            prev.push(' ');
            prev.push_str(line.trim());
        } else {
            break;
        }
        j += 1;
    }
    let others = [&b.date, &b.to, &b.subject]
        .iter()
        .filter(|v| v.is_some())
        .count();
    (b.from.is_some() && others >= 2).then_some((b, j))
}

/// The recipient value that `line` continues (clients wrap long To/Cc lines).
fn continued<'b>(
    b: &'b mut HeaderBlock,
    last: Option<Field>,
    line: &str,
) -> Option<&'b mut String> {
    let prev = match last? {
        Field::To => b.to.as_mut()?,
        Field::Cc => b.cc.as_mut()?,
        _ => return None,
    };
    let t = line.trim();
    if t.is_empty() || clients::separator(t).is_some() {
        return None;
    }
    let items = address::parse_list(t);
    let all_addresses = !items.is_empty() && items.iter().all(|m| m.address.is_some());
    (all_addresses || prev.ends_with([',', ';'])).then_some(prev)
}

fn split_at(lines: &[String], start: usize, end: usize, block: HeaderBlock) -> Split {
    let mut k = start;
    let mut explicit = false;
    while k > 0 {
        let line = &lines[k - 1];
        if !line.trim().is_empty() {
            match clients::separator(line) {
                Some(Separator::Forward) => explicit = true,
                Some(Separator::Neutral) => {}
                None => break,
            }
        }
        k -= 1;
    }
    let above = &lines[..k];
    let note = above.join("\n").trim().to_string();
    let lines_above = above.iter().filter(|l| !l.trim().is_empty()).count();

    let mut b = end;
    while b < lines.len() && lines[b].trim().is_empty() {
        b += 1;
    }
    // Zoho repeats its separator below the block.
    if b < lines.len() && clients::separator(&lines[b]) == Some(Separator::Forward) {
        b += 1;
    }
    let mut body_lines = lines[b..].to_vec();
    clients::unquote_whole_body(&mut body_lines);
    Split {
        note,
        block,
        body: trim_blank_lines(&body_lines.join("\n")),
        explicit,
        lines_above,
    }
}

/// Drops leading and trailing blank lines, keeps indentation of the first.
fn trim_blank_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(f), Some(l)) => lines[f..=l].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
