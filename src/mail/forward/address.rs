//! Mailboxes as written in forwarded header blocks and in real headers.
//!
//! Forms seen in blocks: `Name <a@b>`, `"Last, First" <a@b>`, `'Name' <a@b>`,
//! `Name [mailto:a@b]` (Outlook ≤2010), bare `a@b`, `a@b (Name)`, and a bare
//! display name (Outlook for Exchange users). Outlook separates recipients
//! with `;` and leaves commas in names unquoted; others use `,`.

use super::Mailbox;

/// One mailbox; `None` when `s` holds nothing.
pub(crate) fn parse_mailbox(s: &str) -> Option<Mailbox> {
    let s = s.trim().trim_end_matches([';', ',']).trim();
    if s.is_empty() {
        return None;
    }
    let (name, address) = if let Some((before, addr, after)) = enclosed_ci(s, "[mailto:", "]") {
        (format!("{before} {after}"), Some(addr))
    } else if let Some((before, addr, after)) = enclosed_ci(s, "<", ">") {
        if addr.contains('@') {
            (format!("{before} {after}"), Some(addr))
        } else {
            (s.to_string(), None)
        }
    } else if let Some((addr, comment)) = s.split_once(" (").filter(|(a, _)| is_bare_address(a)) {
        (
            comment.trim_end_matches(')').to_string(),
            Some(addr.to_string()),
        )
    } else if is_bare_address(s) {
        (String::new(), Some(s.to_string()))
    } else {
        (s.to_string(), None)
    };
    Some(mailbox(Some(&name), address.as_deref()))
}

/// A recipient list. Commas inside unquoted names (`Doe, Jane <j@x>`,
/// Outlook's `Doe, Jane; Roe, Rick`) stay in the name: a piece is only closed
/// at `;`, at the end, or once it holds an address.
pub(crate) fn parse_list(s: &str) -> Vec<Mailbox> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    let mut in_quotes = false;
    let mut escaped = false;
    for ch in s.chars() {
        let was_escaped = escaped;
        escaped = ch == '\\' && !was_escaped;
        match ch {
            '"' if !was_escaped => in_quotes = !in_quotes,
            '<' | '[' | '(' if !in_quotes => depth += 1,
            '>' | ']' | ')' if !in_quotes => depth = (depth - 1).max(0),
            ',' | ';' if !in_quotes && depth == 0 && (ch == ';' || current.contains('@')) => {
                out.extend(parse_mailbox(&current));
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    out.extend(parse_mailbox(&current));
    out
}

/// Builds a normalized mailbox: quotes stripped, `mailto:` dropped, a name
/// equal to the address dropped.
pub(crate) fn mailbox(name: Option<&str>, address: Option<&str>) -> Mailbox {
    let address = address
        .map(|a| {
            let a = a.trim().trim_matches(['"', '\'']);
            strip_prefix_ci(a, "mailto:").trim().to_string()
        })
        .filter(|a| a.contains('@'));
    let name = name
        .map(clean_name)
        .filter(|n| !n.is_empty())
        .filter(|n| address.as_ref().is_none_or(|a| !a.eq_ignore_ascii_case(n)));
    Mailbox { name, address }
}

pub(crate) fn from_header(addr: Option<&mail_parser::Address<'_>>) -> Vec<Mailbox> {
    addr.map(|a| {
        a.iter()
            .map(|a| mailbox(a.name.as_deref(), a.address.as_deref()))
            .filter(|m| m.name.is_some() || m.address.is_some())
            .collect()
    })
    .unwrap_or_default()
}

/// Fills a missing address from mailboxes seen around the block, matched by
/// display name. Never invents one.
pub(crate) fn resolve(mut mb: Mailbox, known: &[Mailbox]) -> Mailbox {
    if mb.address.is_none() {
        if let Some(name) = mb.name.as_deref().map(name_key) {
            mb.address = known
                .iter()
                .find(|k| {
                    k.address.is_some() && k.name.as_deref().map(name_key) == Some(name.clone())
                })
                .and_then(|k| k.address.clone());
        }
    }
    mb
}

fn name_key(name: &str) -> String {
    clean_name(name).to_lowercase()
}

fn clean_name(name: &str) -> String {
    let joined = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut n = joined.as_str();
    while n.len() >= 2
        && ((n.starts_with('"') && n.ends_with('"')) || (n.starts_with('\'') && n.ends_with('\'')))
    {
        n = n[1..n.len() - 1].trim();
    }
    n.replace("\\\"", "\"")
}

fn is_bare_address(s: &str) -> bool {
    let s = strip_prefix_ci(s.trim(), "mailto:");
    !s.is_empty() && !s.contains(char::is_whitespace) && s.contains('@') && !s.contains(['<', '>'])
}

/// `before`, inner text, `after` of the last `open…close` pair (ASCII-case-insensitive `open`).
fn enclosed_ci(s: &str, open: &str, close: &str) -> Option<(String, String, String)> {
    let lower = s.to_ascii_lowercase();
    let start = lower.rfind(&open.to_ascii_lowercase())?;
    let inner_start = start + open.len();
    let len = s.get(inner_start..)?.find(close)?;
    let inner = s[inner_start..inner_start + len].trim().to_string();
    Some((
        s[..start].to_string(),
        inner,
        s[inner_start + len + close.len()..].to_string(),
    ))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> &'a str {
    match s.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &s[prefix.len()..],
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, address: Option<&str>) -> Mailbox {
        Mailbox {
            name: name.map(str::to_string),
            address: address.map(str::to_string),
        }
    }

    #[test]
    fn single_mailbox_forms() {
        for (input, want) in [
            (
                "John Smith <john@client.example>",
                mb(Some("John Smith"), Some("john@client.example")),
            ),
            (
                "\"Doe, Jane\" <jane@client.example>",
                mb(Some("Doe, Jane"), Some("jane@client.example")),
            ),
            (
                "'John Smith' <john@client.example> ",
                mb(Some("John Smith"), Some("john@client.example")),
            ),
            (
                "John Smith [mailto:john@client.example] ",
                mb(Some("John Smith"), Some("john@client.example")),
            ),
            (
                "John Smith [MAILTO:john@client.example]",
                mb(Some("John Smith"), Some("john@client.example")),
            ),
            (
                "<john@client.example>",
                mb(None, Some("john@client.example")),
            ),
            ("john@client.example", mb(None, Some("john@client.example"))),
            (
                "mailto:john@client.example",
                mb(None, Some("john@client.example")),
            ),
            (
                "john@client.example (John Smith)",
                mb(Some("John Smith"), Some("john@client.example")),
            ),
            (
                "john@client.example <john@client.example>",
                mb(None, Some("john@client.example")),
            ),
            (
                "Иван Петров <ivan@client.example>",
                mb(Some("Иван Петров"), Some("ivan@client.example")),
            ),
            (
                "\"O\\\"Brien\" <ob@client.example>",
                mb(Some("O\"Brien"), Some("ob@client.example")),
            ),
            ("Smith, John", mb(Some("Smith, John"), None)),
            ("Team <Sales>", mb(Some("Team <Sales>"), None)),
        ] {
            assert_eq!(parse_mailbox(input), Some(want), "{input}");
        }
        assert_eq!(parse_mailbox("  ; "), None);
    }

    #[test]
    fn lists_keep_commas_in_names() {
        assert_eq!(
            parse_list("Doe, Jane <jane@x.example>, \"Roe, Rick\" <rick@x.example>; bob@x.example"),
            vec![
                mb(Some("Doe, Jane"), Some("jane@x.example")),
                mb(Some("Roe, Rick"), Some("rick@x.example")),
                mb(None, Some("bob@x.example")),
            ]
        );
        assert_eq!(
            parse_list("Doe, Jane; Roe, Rick"),
            vec![mb(Some("Doe, Jane"), None), mb(Some("Roe, Rick"), None)]
        );
        assert_eq!(
            parse_list("\"Jens \\\"JJ, Jr\\\" Jansen\" <jj@x.example>, b@x.example"),
            vec![
                mb(Some("Jens \"JJ, Jr\" Jansen"), Some("jj@x.example")),
                mb(None, Some("b@x.example"))
            ]
        );
        assert_eq!(parse_list(""), vec![]);
        assert_eq!(parse_list(" ; ,"), vec![]);
    }

    #[test]
    fn names_resolve_only_from_known_mailboxes() {
        let known = [mb(Some("John Smith"), Some("john@client.example"))];
        assert_eq!(
            resolve(mb(Some("john  smith"), None), &known),
            mb(Some("john  smith"), Some("john@client.example"))
        );
        assert_eq!(
            resolve(mb(Some("Jane Doe"), None), &known),
            mb(Some("Jane Doe"), None)
        );
    }
}
