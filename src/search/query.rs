//! The query language of `q`: Gmail-like operators on top of tantivy's own
//! syntax (words, "phrases", -exclude, OR, prefix*). Address operators are
//! rewritten into tantivy syntax, so they combine with OR and `-`; date, card,
//! kind and attachment operators become filters that every hit must pass.

use chrono::NaiveDate;

/// A filter taken out of the query text.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Unix seconds, inclusive.
    After(i64),
    /// Unix seconds, exclusive.
    Before(i64),
    HasAttachment,
    Card(i64),
    Kind(String),
    /// `type:complaint`: a communication type by code (or id).
    Type(String),
    /// `invo*`: a word starting with this, in any text field.
    Prefix(String),
}

/// `q` split into text for tantivy's parser and filters (with `true` = must
/// not match, from a leading `-`).
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub text: String,
    /// The same text with phrases as written: what snippets highlight.
    pub highlight: String,
    pub filters: Vec<(bool, Filter)>,
}

/// Fields a bare phrase also searches as a phrase (they have no shingles).
const UNSHINGLED: [&str; 4] = ["from", "to", "cc", "attachment"];

/// A bare `"phrase"` over the shingle fields: two words are one pair, three
/// one triple, more a phrase of their overlapping triples (exact: each triple
/// sits at its first word's position). `words` normalizes as the index does.
fn phrase(inner: &str, words: &dyn Fn(&str) -> Vec<String>) -> Option<String> {
    let w = words(inner);
    if w.len() < 2 {
        return None;
    }
    let shingled = if w.len() == 2 {
        format!("pairs:\"{}\"", super::schema::shingle(&w))
    } else {
        let triples: Vec<String> = w.windows(3).map(super::schema::shingle).collect();
        format!("triples:\"{}\"", triples.join(" "))
    };
    let quoted = format!("\"{inner}\"");
    let others: Vec<String> = UNSHINGLED.iter().map(|f| format!("{f}:{quoted}")).collect();
    Some(format!("({shingled} OR {})", others.join(" OR ")))
}

/// Splits on spaces, keeping "quoted parts" (with their field prefix) whole.
fn tokens(q: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn date(field: &str, value: &str) -> Result<i64, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp()
        })
        .map_err(|_| format!("{field}: needs a date as YYYY-MM-DD, not {value:?}"))
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace(['"', '\\'], ""))
}

/// Parses `q`. Errors name the part of the query that is wrong.
pub fn parse(q: &str, words: &dyn Fn(&str) -> Vec<String>) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut text: Vec<String> = Vec::new();
    // (index in `text`, the phrase as written) for every rewritten phrase.
    let mut highlight: Vec<(usize, String)> = Vec::new();
    for token in tokens(q)? {
        let (neg, body) = match token.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => (true, rest),
            _ => (false, token.as_str()),
        };
        let sign = if neg { "-" } else { "" };
        let bare_phrase = body.len() >= 2 && body.starts_with('"') && body.ends_with('"');
        if bare_phrase {
            if let Some(p) = phrase(&body[1..body.len() - 1], words) {
                text.push(format!("{sign}{p}"));
                highlight.push((text.len() - 1, token.clone()));
                continue;
            }
        }
        let Some((field, value)) = body.split_once(':') else {
            match body.strip_suffix('*') {
                Some(p) if !p.is_empty() && !p.contains(['"', '*', '(', ')']) => {
                    parsed.filters.push((neg, Filter::Prefix(p.to_owned())));
                }
                _ => text.push(token.clone()),
            }
            continue;
        };
        let field_lc = field.to_ascii_lowercase();
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            text.push(token.clone());
            continue;
        }
        let bare = value.trim_matches('"');
        if bare.is_empty() {
            return Err(format!("{field}: needs a value"));
        }
        match field_lc.as_str() {
            "from" | "to" | "cc" | "forwarded_by" => {
                let addr = format!("{field_lc}_addr");
                if bare.contains('@') || (bare.contains('.') && !bare.contains(' ')) {
                    // An address or a domain: whole-token match.
                    text.push(format!("{sign}{addr}:{}", quote(&bare.to_lowercase())));
                } else {
                    // A name or a local part.
                    text.push(format!(
                        "{sign}({field_lc}:{value} OR {addr}:{})",
                        quote(&bare.to_lowercase())
                    ));
                }
            }
            "filename" | "attachment" => text.push(format!("{sign}attachment:{value}")),
            "subject" | "body" => text.push(format!("{sign}{field_lc}:{value}")),
            "has" => match bare.to_ascii_lowercase().as_str() {
                "attachment" | "attachments" => parsed.filters.push((neg, Filter::HasAttachment)),
                other => return Err(format!("has:{other} is not known (try has:attachment)")),
            },
            "after" => parsed.filters.push((neg, Filter::After(date("after", bare)?))),
            "before" => parsed.filters.push((neg, Filter::Before(date("before", bare)?))),
            "card" => {
                let id = bare
                    .parse()
                    .map_err(|_| format!("card: needs a card id, not {bare:?}"))?;
                parsed.filters.push((neg, Filter::Card(id)));
            }
            "kind" => parsed.filters.push((neg, Filter::Kind(bare.to_ascii_lowercase()))),
            "type" => parsed.filters.push((neg, Filter::Type(bare.to_lowercase()))),
            _ => {
                return Err(format!(
                    "unknown field {field}: (known: from, to, cc, subject, body, card, kind, type, has, filename, after, before, forwarded_by)"
                ))
            }
        }
    }
    parsed.text = text.join(" ");
    for (i, original) in highlight {
        text[i] = original;
    }
    parsed.highlight = text.join(" ");
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowercase words, as the index's analyzer gives them for ASCII.
    fn w(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|x| !x.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    #[test]
    fn operators_become_tantivy_syntax_or_filters() {
        let p = parse(
            r#"invoice from:acme.com -to:Bob "exact words" has:attachment after:2025-01-02 card:7"#,
            &w,
        )
        .unwrap();
        assert_eq!(
            p.highlight,
            r#"invoice from_addr:"acme.com" -(to:Bob OR to_addr:"bob") "exact words""#
        );
        assert_eq!(
            p.text,
            r#"invoice from_addr:"acme.com" -(to:Bob OR to_addr:"bob") (pairs:"exact_words" OR from:"exact words" OR to:"exact words" OR cc:"exact words" OR attachment:"exact words")"#
        );
        assert_eq!(
            p.filters,
            vec![
                (false, Filter::HasAttachment),
                (false, Filter::After(1_735_776_000)),
                (false, Filter::Card(7)),
            ]
        );
        assert_eq!(
            parse("invo* -draf*", &w).unwrap().filters,
            vec![
                (false, Filter::Prefix("invo".into())),
                (true, Filter::Prefix("draf".into())),
            ]
        );
        let p = parse("from:\"Jane Doe\" OR filename:offer.pdf -kind:note", &w).unwrap();
        assert_eq!(
            p.text,
            r#"(from:"Jane Doe" OR from_addr:"jane doe") OR attachment:offer.pdf"#
        );
        assert_eq!(p.filters, vec![(true, Filter::Kind("note".into()))]);
    }

    #[test]
    fn longer_phrases_are_phrases_of_triples() {
        let p = parse(r#"-"Steel Racks, hall" "one""#, &w).unwrap();
        assert_eq!(
            p.text,
            concat!(
                r#"-(triples:"steel_racks_hall" OR "#,
                r#"from:"Steel Racks, hall" OR to:"Steel Racks, hall" OR cc:"Steel Racks, hall" OR "#,
                r#"attachment:"Steel Racks, hall") "one""#
            )
        );
        assert_eq!(p.highlight, r#"-"Steel Racks, hall" "one""#);
        let q = "new steel racks in hall";
        assert_eq!(
            parse(&format!("\"{q}\""), &w).unwrap().text,
            format!(
                concat!(
                    r#"(triples:"new_steel_racks steel_racks_in racks_in_hall" OR "#,
                    r#"from:"{q}" OR to:"{q}" OR cc:"{q}" OR attachment:"{q}")"#
                ),
                q = q
            )
        );
    }

    #[test]
    fn bad_queries_name_the_problem() {
        assert!(parse("after:yesterday", &w).unwrap_err().contains("after:"));
        assert!(parse("has:pdf", &w).unwrap_err().contains("has:pdf"));
        assert!(parse("card:x", &w).unwrap_err().contains("card:"));
        assert!(parse("\"open", &w).unwrap_err().contains("quote"));
        assert!(parse("bogus:1", &w)
            .unwrap_err()
            .contains("unknown field bogus"));
        assert!(parse("from:", &w).unwrap_err().contains("needs a value"));
        assert_eq!(
            parse("-type:Complaint", &w).unwrap().filters,
            vec![(true, Filter::Type("complaint".into()))]
        );
    }
}
