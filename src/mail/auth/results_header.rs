//! Results for mail collected over IMAP, taken from the `Authentication-Results`
//! header(s) the mailbox's own server wrote (RFC 8601). Only headers whose
//! authserv-id is the configured one count, and only the top-most group of
//! them (above the next `Received`): a sender can write any header it likes
//! below, and those are never trusted.

use mail_parser::{HeaderName, MessageParser};

use super::verify::combine;
use super::{domain_of, relaxed_aligned};
use crate::domain::{AuthResults, AuthWord};

/// Headers read at most (a message with more is judged on the first ones).
const MAX_HEADERS: usize = 1000;

pub fn from_results_headers(
    raw: &[u8],
    authserv_id: Option<&str>,
    from_address: Option<&str>,
) -> AuthResults {
    let from_domain = from_address.and_then(domain_of);
    let Some(id) = authserv_id.filter(|s| !s.trim().is_empty()) else {
        return nothing(
            from_domain,
            "no authserv_id configured for this IMAP account",
        );
    };
    let found = ours(raw, id);
    if found.is_empty() {
        return nothing(
            from_domain,
            &format!("no Authentication-Results header from {id}"),
        );
    }
    let first = |m: &str| found.iter().find(|r| r.method == m);
    let dkims: Vec<&ResInfo> = found.iter().filter(|r| r.method == "dkim").collect();
    let spf = first("spf");
    let spf_word = spf.map_or(AuthWord::None, |r| r.result);
    let spf_domain = spf
        .and_then(|r| r.prop("smtp.mailfrom").or_else(|| r.prop("smtp.helo")))
        .map(|d| domain_of(d).unwrap_or_else(|| d.to_ascii_lowercase()));
    let dmarc = first("dmarc");
    let dmarc_word = dmarc.map_or(AuthWord::None, |r| r.result);
    let dkim_word = combine(dkims.iter().map(|r| r.result));
    let aligned_with = |d: Option<&str>| {
        from_domain
            .as_deref()
            .zip(d)
            .is_some_and(|(f, d)| relaxed_aligned(f, d))
    };
    let aligned = dmarc_word == AuthWord::Pass
        || (spf_word == AuthWord::Pass && aligned_with(spf_domain.as_deref()))
        || dkims
            .iter()
            .any(|r| r.result == AuthWord::Pass && aligned_with(r.dkim_domain().as_deref()));
    AuthResults {
        spf: spf_word,
        dkim: dkim_word,
        dmarc: dmarc_word,
        aligned,
        from_domain,
        dmarc_policy: dmarc
            .and_then(|r| r.prop("policy.dmarc"))
            .map(str::to_ascii_lowercase),
        spf_detail: format!(
            "SPF {spf_word} for {} (Authentication-Results by {id})",
            spf_domain.as_deref().unwrap_or("?")
        ),
        dkim_detail: dkim_detail(&dkims),
        via: "authentication-results".into(),
    }
}

fn nothing(from_domain: Option<String>, why: &str) -> AuthResults {
    AuthResults {
        spf: AuthWord::None,
        dkim: AuthWord::None,
        dmarc: AuthWord::None,
        aligned: false,
        from_domain,
        dmarc_policy: None,
        spf_detail: why.to_owned(),
        dkim_detail: "no DKIM result".into(),
        via: "authentication-results".into(),
    }
}

fn dkim_detail(dkims: &[&ResInfo]) -> String {
    let d = |r: &ResInfo| r.dkim_domain().unwrap_or_else(|| "?".into());
    let passed: Vec<String> = dkims
        .iter()
        .filter(|r| r.result == AuthWord::Pass)
        .map(|r| d(r))
        .collect();
    if !passed.is_empty() {
        return format!("DKIM pass for {}", passed.join(", "));
    }
    if dkims.is_empty() {
        return "no DKIM result".into();
    }
    let each: Vec<String> = dkims
        .iter()
        .map(|r| format!("{} for {}", r.result, d(r)))
        .collect();
    format!("no valid DKIM signature ({})", each.join("; "))
}

/// The results in the top-most group of headers from `id`, top first.
fn ours(raw: &[u8], id: &str) -> Vec<ResInfo> {
    let Some(msg) = MessageParser::default().parse_headers(raw) else {
        return vec![];
    };
    let mut found = Vec::new();
    let mut started = false;
    for h in msg.headers().iter().take(MAX_HEADERS) {
        match &h.name {
            // A hop boundary: what lies below came from further away.
            HeaderName::Received if started => break,
            HeaderName::AuthenticationResults => {
                let (start, end) = (h.offset_start as usize, h.offset_end as usize);
                let value = String::from_utf8_lossy(raw.get(start..end).unwrap_or_default());
                if let Some((serv, results)) = parse(&value) {
                    if serv.eq_ignore_ascii_case(id) {
                        started = true;
                        found.extend(results);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// One `method=result` with its properties.
#[derive(Debug, PartialEq)]
struct ResInfo {
    method: String,
    result: AuthWord,
    props: Vec<(String, String)>,
}

impl ResInfo {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn dkim_domain(&self) -> Option<String> {
        self.prop("header.d")
            .map(str::to_ascii_lowercase)
            .or_else(|| self.prop("header.i").and_then(domain_of))
    }
}

/// Parses a header value: the authserv-id and the results (unknown methods
/// and result words are skipped; `none` gives no results).
fn parse(value: &str) -> Option<(String, Vec<ResInfo>)> {
    let clean = strip_comments(&value.replace(['\r', '\n'], ""));
    let mut parts = split_outside_quotes(&clean, ';').into_iter();
    let serv = unquote(words(&parts.next()?).first()?);
    let mut results = Vec::new();
    for part in parts {
        let mut w = words(&part).into_iter();
        let Some((method, result)) = w.next().and_then(|m| {
            let (method, result) = m.split_once('=')?;
            let method = method.split('/').next()?.trim().to_ascii_lowercase();
            Some((method, AuthWord::parse(result.trim())?))
        }) else {
            continue;
        };
        let props = w
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_owned(), unquote(v.trim())))
            })
            .collect();
        results.push(ResInfo {
            method,
            result,
            props,
        });
    }
    Some((serv, results))
}

/// Removes (nested) comments, leaving quoted strings alone.
fn strip_comments(s: &str) -> String {
    let (mut out, mut depth, mut quoted, mut escaped) = (String::new(), 0u32, false, false);
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => {
                depth += 1;
                out.push(' ');
            }
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let (mut parts, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        if !escaped && c == '"' {
            quoted = !quoted;
        }
        if !quoted && c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        escaped = !escaped && c == '\\';
    }
    parts.push(cur);
    parts
}

/// Whitespace-separated words, with the spaces CFWS allows around `=` and
/// `/` removed first (`spf = pass` is `spf=pass`).
fn words(s: &str) -> Vec<String> {
    let mut joined = String::new();
    for (i, w) in split_outside_quotes(s, ' ')
        .iter()
        .flat_map(|w| w.split('\t'))
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let glue = i > 0 && !(joined.ends_with(['=', '/']) || w.starts_with(['=', '/']));
        if glue {
            joined.push(' ');
        }
        joined.push_str(w);
    }
    split_outside_quotes(&joined, ' ')
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_owned(),
    }
}

#[cfg(test)]
#[path = "results_header_tests.rs"]
mod tests;
