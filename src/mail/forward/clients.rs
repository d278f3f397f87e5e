//! What each client family writes around a forwarded header block.
//!
//! | client                         | line above the block                                  |
//! |--------------------------------|-------------------------------------------------------|
//! | Gmail web/mobile               | `---------- Forwarded message ---------` (localized)  |
//! | Outlook desktop ≤2010, OX/IONOS| `-----Original Message-----` (localized)              |
//! | Outlook 2013+/365/OWA/new      | `________________________________` or `<hr>` (HTML)    |
//! | Apple Mail macOS/iOS           | `Begin forwarded message:` (iOS quotes the rest `> `) |
//! | Thunderbird                    | `-------- Forwarded Message --------`                 |
//! | Yahoo                          | `----- Forwarded Message -----`                       |
//! | Zoho                           | `============ Forwarded message ============` (also below) |
//! | Proton                         | `------- Forwarded Message -------`                   |
//! | GMX/WEB.DE                     | nothing: the block starts with `Gesendet:`            |
//!
//! Separators only help: the block itself (see `block.rs`) is what is
//! recognized, so a missing or unknown separator still works.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Separator {
    /// Names forwarding ("Forwarded message", "Begin forwarded message:").
    Forward,
    /// Neutral ("-----Original Message-----", an underscore rule).
    Neutral,
}

/// Word stems that name forwarding, lowercase.
const FORWARD_WORDS: &[&str] = &[
    "forwarded",      // en
    "weitergeleit",   // de
    "doorgestuurd",   // nl
    "transféré",      // fr
    "réexpédié",      // fr (Apple)
    "reenviado",      // es
    "inoltrato",      // it
    "encaminhad",     // pt
    "reencaminhad",   // pt
    "przekazan",      // pl
    "přeposlan",      // cs
    "preposlan",      // sk
    "továbbított",    // hu
    "videresend",     // da/no
    "vidarebefordra", // sv
    "välitet",        // fi
    "пересла",        // ru
    "пересыла",       // ru
    "переадрес",      // ru (Apple)
    "iletilen",       // tr
    "iletilmiş",      // tr
    "proslijeđen",    // hr
    "redirecționat",  // ro
    "redirectionat",  // ro
    "转发",           // zh
    "転送",           // ja
];

/// Classifies a line standing on its own as a forward separator.
pub(crate) fn separator(line: &str) -> Option<Separator> {
    let t = line.trim();
    if t.is_empty() || t.chars().count() > 90 {
        return None;
    }
    let decoration = t.chars().filter(|c| matches!(c, '-' | '_' | '=')).count();
    let text = t
        .trim_matches(|c: char| matches!(c, '-' | '_' | '=' | '*') || c.is_whitespace())
        .trim_end_matches(':')
        .trim();
    let lower = text.to_lowercase();
    let names_forward = FORWARD_WORDS.iter().any(|w| lower.contains(w));
    // Apple's "Begin forwarded message:" form: short, no punctuation.
    let apple_form =
        t.ends_with(':') && !text.contains([',', '.']) && text.split_whitespace().count() <= 6;
    if names_forward && (decoration >= 4 || apple_form) && text.chars().count() <= 60 {
        return Some(Separator::Forward);
    }
    // A rule of dashes/underscores, optionally around a few words
    // ("Original Message", "Ursprüngliche Nachricht"). Not the "-- "
    // signature delimiter.
    if decoration >= 8 && text.split_whitespace().count() <= 4 && !text.contains(':') {
        return Some(Separator::Neutral);
    }
    None
}

/// iOS Mail writes `Begin forwarded message:` and then quotes the whole
/// forwarded message with `> `. Unquote one level right after such a line so
/// the block and body read like every other client's.
///
/// Apple Mail's text part may quote the separator too (`> Begin forwarded
/// message:`): then the quoted region from that line on is unquoted.
pub(crate) fn unquote_after_forward_separator(lines: &mut [String]) {
    let mut i = 0;
    while i < lines.len() {
        if let Some(inner) = lines[i].trim_start().strip_prefix('>') {
            // Only when the quote *starts* with the separator: mid-quote it
            // belongs to a quoted reply.
            let quote_starts_here = !lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with('>'));
            if quote_starts_here && separator(inner) == Some(Separator::Forward) {
                i = unquote_region(lines, i);
            } else {
                i += 1;
            }
            continue;
        }
        if separator(&lines[i]) != Some(Separator::Forward) {
            i += 1;
            continue;
        }
        let first = (i + 1..lines.len()).find(|&j| !lines[j].trim().is_empty());
        let Some(first) = first else { break };
        if !lines[first].trim_start().starts_with('>') {
            i += 1;
            continue;
        }
        i = unquote_region(lines, first);
    }
}

/// Strips one `>` level from `start` on, through blank lines, until the
/// first unquoted line; returns that line's index.
fn unquote_region(lines: &mut [String], start: usize) -> usize {
    let mut j = start;
    while j < lines.len() {
        let t = lines[j].trim_start();
        if let Some(rest) = t.strip_prefix('>') {
            lines[j] = rest.strip_prefix(' ').unwrap_or(rest).to_string();
        } else if !t.is_empty() {
            break;
        }
        j += 1;
    }
    j
}

/// Proton and Apple quote the forwarded body as a whole (`> ` on every
/// line); that quoting is the forwarding client's, so one level goes.
pub(crate) fn unquote_whole_body(lines: &mut [String]) {
    let mut non_blank = lines.iter().filter(|l| !l.trim().is_empty()).peekable();
    if non_blank.peek().is_some() && non_blank.all(|l| l.trim_start().starts_with('>')) {
        unquote_region(lines, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_of_each_client() {
        use Separator::*;
        for (line, want) in [
            ("---------- Forwarded message ---------", Some(Forward)),
            ("-------- Weitergeleitete Nachricht --------", Some(Forward)),
            ("Begin forwarded message:", Some(Forward)),
            ("Début du message réexpédié :", Some(Forward)),
            ("============ Forwarded message ============", Some(Forward)),
            ("------- Forwarded Message -------", Some(Forward)),
            ("-----Original Message-----", Some(Neutral)),
            ("-----Ursprüngliche Nachricht-----", Some(Neutral)),
            ("________________________________", Some(Neutral)),
            ("-- ", None),
            ("I forwarded it yesterday, see below.", None),
            ("I forwarded it, see below:", None),
            ("From: someone", None),
        ] {
            assert_eq!(separator(line), want, "{line}");
        }
    }

    #[test]
    fn ios_quoting_is_removed_once() {
        let mut lines: Vec<String> = [
            "Sent from my iPhone",
            "",
            "Begin forwarded message:",
            "",
            "> From: A",
            ">",
            "> > old",
            "after",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        unquote_after_forward_separator(&mut lines);
        assert_eq!(lines[4], "From: A");
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], "> old");
        assert_eq!(lines[7], "after");

        let mut apple: Vec<String> = [
            "Note",
            "> Begin forwarded message:",
            ">",
            "> From: A",
            "tail",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        unquote_after_forward_separator(&mut apple);
        assert_eq!(
            apple,
            ["Note", "Begin forwarded message:", "", "From: A", "tail"]
        );

        let mut reply: Vec<String> = [
            "On Mon John wrote:",
            "> Hi",
            "> ---------- Forwarded message ---------",
            "> From: A",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let before = reply.clone();
        unquote_after_forward_separator(&mut reply);
        assert_eq!(reply, before);
    }

    #[test]
    fn whole_body_quote_is_removed_only_when_every_line_is_quoted() {
        let mut all: Vec<String> = ["> a", "", "> > b"].iter().map(|s| s.to_string()).collect();
        unquote_whole_body(&mut all);
        assert_eq!(all, ["a", "", "> b"]);
        let mut mixed: Vec<String> = ["a", "> b"].iter().map(|s| s.to_string()).collect();
        unquote_whole_body(&mut mixed);
        assert_eq!(mixed, ["a", "> b"]);
    }
}
