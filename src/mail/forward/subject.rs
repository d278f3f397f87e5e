//! Subject prefixes: which kind comes first, and stripping forward prefixes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    Forward,
    Reply,
    /// `VS:` — forward in Danish/Norwegian Outlook, reply in Finnish.
    ForwardUnlessFinnish,
    None,
}

/// Forward prefixes, lowercase, without the colon.
const FORWARD: &[&str] = &[
    "fwd",
    "fw",
    "fwrd",
    "tr",
    "wg",
    "rv",
    "doorst",
    "pd",
    "enc",
    "i",
    "wtr",
    "pr",
    "vb",
    "vl",
    "továbbítás",
    "továbbított",
    "пересл",
    "пересылка",
    "i̇lt",
    "ilt",
    "proslijeđeno",
    "fs",
    "πρθ",
    "転送",
    "转发",
    "pār",
    "edasi",
    "yml",
];
/// Reply prefixes. `r` is Italian Outlook's *reply* ("R:"; forward is "I:").
const REPLY: &[&str] = &[
    "re",
    "aw",
    "antw",
    "antwort",
    "sv",
    "odp",
    "odg",
    "vá",
    "ynt",
    "atb",
    "ats",
    "res",
    "r",
    "rép",
    "отв",
    "ответ",
    "відп",
    "απ",
    "σχετ",
    "回复",
    "答复",
    "返信",
    "atsakymas",
];

/// Kind of the first prefix (after `[EXT]`-style tags).
pub(crate) fn first_prefix(subject: &str) -> Prefix {
    let mut rest = subject.trim();
    loop {
        match next_prefix(rest) {
            Some((Token::Tag, after)) => rest = after,
            Some((Token::Word(w), _)) => return kind(&w),
            Some((Token::Wrapped(w), _)) => return kind(&w),
            None => {
                return if ends_with_fwd(rest) {
                    Prefix::Forward
                } else {
                    Prefix::None
                }
            }
        }
    }
}

/// Removes forward prefixes (`Fwd:`, `WG:`, `[Fwd: …]`, `Fw[2]:`, `… (fwd)`),
/// repeated or nested; stops at the first reply prefix. Tags like `[EXT]`
/// are kept.
pub fn strip_forward_prefixes(subject: &str) -> String {
    let mut tags = String::new();
    let mut rest = subject.trim().to_string();
    loop {
        let next = next_prefix(&rest).map(|(t, after)| (t, after.to_string()));
        match next {
            Some((Token::Tag, after)) => {
                let tag_len = rest.len() - after.len();
                tags.push_str(rest[..tag_len].trim());
                tags.push(' ');
                rest = after.trim_start().to_string();
            }
            Some((Token::Word(w) | Token::Wrapped(w), after))
                if matches!(kind(&w), Prefix::Forward | Prefix::ForwardUnlessFinnish) =>
            {
                rest = after.trim_start().to_string();
            }
            _ => {
                if ends_with_fwd(&rest) {
                    let cut = rest.len() - "(fwd)".len();
                    rest = rest[..cut].trim_end().to_string();
                    continue;
                }
                break;
            }
        }
    }
    format!("{tags}{rest}").trim().to_string()
}

enum Token {
    /// `[EXT]`, `[External]`: not a prefix, skipped.
    Tag,
    /// `Fwd:`, `Fw[2]:`, `[Fwd]`.
    Word(String),
    /// `[Fwd: subject]`: the rest is the bracket's inside.
    Wrapped(String),
}

/// Reads one leading prefix or tag; returns it and what follows.
fn next_prefix(s: &str) -> Option<(Token, &str)> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']')?;
        let body = &inner[..close];
        let after = &inner[close + 1..];
        if let Some((word, rest)) = word_colon(body) {
            if after.trim().is_empty() {
                return Some((Token::Wrapped(word), rest));
            }
        }
        let word = body.trim().to_lowercase();
        return if is_known(&word) {
            Some((Token::Word(word), after))
        } else if !body.trim().is_empty() && body.chars().count() <= 20 && !after.trim().is_empty()
        {
            Some((Token::Tag, after))
        } else {
            None
        };
    }
    let (word, rest) = word_colon(s)?;
    Some((Token::Word(word), rest))
}

/// `Word:`, `Word :`, `Word[2]:`, `Word(2):`, `Word.:` with a known word.
fn word_colon(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_alphabetic() || c == '.' || c == '\u{307}'))
        .unwrap_or(s.len());
    let word = s[..end].trim_end_matches('.').to_lowercase();
    if !is_known(&word) {
        return None;
    }
    let mut rest = s[end..].trim_start();
    if let Some(r) = rest.strip_prefix(['[', '(']) {
        let close = r.find([']', ')'])?;
        if !r[..close].chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        rest = r[close + 1..].trim_start();
    }
    let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
    Some((word, rest))
}

fn is_known(word: &str) -> bool {
    FORWARD.contains(&word) || REPLY.contains(&word) || word == "vs"
}

fn kind(word: &str) -> Prefix {
    if word == "vs" {
        Prefix::ForwardUnlessFinnish
    } else if FORWARD.contains(&word) {
        Prefix::Forward
    } else if REPLY.contains(&word) {
        Prefix::Reply
    } else {
        Prefix::None
    }
}

fn ends_with_fwd(s: &str) -> bool {
    s.len() > 5
        && s.get(s.len() - 5..)
            .is_some_and(|t| t.eq_ignore_ascii_case("(fwd)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_forward_prefixes_in_many_languages() {
        for (input, want) in [
            ("Fwd: Offer", "Offer"),
            ("FW: Fw: fwd: Offer", "Offer"),
            ("WG: AW: Angebot", "AW: Angebot"),
            ("TR : Offre", "Offre"),
            ("RV: Oferta", "Oferta"),
            ("Doorst: Offerte", "Offerte"),
            ("VS: Tilbud", "Tilbud"),
            ("PD: Oferta", "Oferta"),
            ("ENC: Oferta", "Oferta"),
            ("I: Offerta", "Offerta"),
            ("R: Offerta", "R: Offerta"),
            ("Wtr: Offerte", "Offerte"),
            ("PR: Pasiūlymas", "Pasiūlymas"),
            ("Továbbítás: Ajánlat", "Ajánlat"),
            ("Пересл.: Предложение", "Предложение"),
            ("İLT: Teklif", "Teklif"),
            ("VB: Erbjudande", "Erbjudande"),
            ("[Fwd: Offer]", "Offer"),
            ("[Fwd] Offer", "Offer"),
            ("Fw[2]: Offer", "Offer"),
            ("Offer (fwd)", "Offer"),
            ("[EXT] Fwd: Offer", "[EXT] Offer"),
            ("Fwd: [EXT] Offer", "[EXT] Offer"),
            ("Re: Fwd: Offer", "Re: Fwd: Offer"),
            ("Fwd: Re: Offer", "Re: Offer"),
            ("Fwd:", ""),
            ("Fwding policy", "Fwding policy"),
            ("Trip: Paris", "Trip: Paris"),
            ("[Fwd: ", "[Fwd:"),
        ] {
            assert_eq!(strip_forward_prefixes(input), want, "{input}");
        }
    }

    #[test]
    fn first_prefix_kind() {
        assert_eq!(first_prefix("RE: FW: Offer"), Prefix::Reply);
        assert_eq!(first_prefix("AW: Angebot"), Prefix::Reply);
        assert_eq!(first_prefix("R: Offerta"), Prefix::Reply);
        assert_eq!(first_prefix("[EXT] FW: Offer"), Prefix::Forward);
        assert_eq!(first_prefix("VS: Tarjous"), Prefix::ForwardUnlessFinnish);
        assert_eq!(first_prefix("Offer"), Prefix::None);
        assert_eq!(first_prefix(""), Prefix::None);
        assert_eq!(first_prefix("Offer (fwd)"), Prefix::Forward);
    }
}
