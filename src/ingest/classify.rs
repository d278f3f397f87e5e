//! Communication types set at ingest by rule: the tag of a plus address
//! (`<tag>+<code>@domain`) equal to a type's code wins over a sender domain,
//! which wins over a subject keyword.

use crate::store::CommType;

/// The part before `+` of an archive address, lowercased.
pub fn plus_tag(rcpt: &str) -> Option<String> {
    let local = rcpt.trim().trim_start_matches('<').rsplit_once('@')?.0;
    let (tag, _) = local.rsplit_once('+')?;
    let tag = tag.trim().to_lowercase();
    (!tag.is_empty()).then_some(tag)
}

fn domain_matches(sender: &str, rule: &str) -> bool {
    sender == rule || sender.ends_with(&format!(".{rule}"))
}

/// Whole-word, case-insensitive match of `keyword` in `subject`.
fn has_keyword(subject: &str, keyword: &str) -> bool {
    let words: Vec<&str> = keyword.split_whitespace().collect();
    if words.is_empty() {
        return false;
    }
    let subject: Vec<&str> = subject
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    subject.windows(words.len()).any(|w| {
        w.iter()
            .zip(&words)
            .all(|(a, b)| a.to_lowercase() == b.to_lowercase())
    })
}

/// The active type the rules give a message, if any.
pub fn classify(
    types: &[CommType],
    tag: Option<&str>,
    sender_domain: Option<&str>,
    subject: &str,
) -> Option<i64> {
    let active = || types.iter().filter(|t| t.active);
    if let Some(tag) = tag {
        if let Some(t) = active().find(|t| t.code.eq_ignore_ascii_case(tag)) {
            return Some(t.id);
        }
    }
    if let Some(domain) = sender_domain.map(str::to_lowercase) {
        if let Some(t) =
            active().find(|t| t.sender_domains.iter().any(|d| domain_matches(&domain, d)))
        {
            return Some(t.id);
        }
    }
    active()
        .find(|t| t.subject_keywords.iter().any(|k| has_keyword(subject, k)))
        .map(|t| t.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(id: i64, code: &str, domains: &[&str], words: &[&str], active: bool) -> CommType {
        CommType {
            id,
            name: code.into(),
            code: code.into(),
            colour: "#000000".into(),
            log: "general".into(),
            active,
            sender_domains: domains.iter().map(|s| s.to_string()).collect(),
            subject_keywords: words.iter().map(|s| s.to_string()).collect(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn tag_beats_domain_beats_keyword_and_inactive_types_never_match() {
        let types = [
            ty(1, "complaint", &[], &["broken", "not working"], true),
            ty(2, "invoice", &["billing.acme.com"], &[], true),
            ty(3, "old", &["acme.com"], &["quote"], false),
        ];
        assert_eq!(
            plus_tag("Complaint+k3x9q2m7v8d4hw5t@archive.localhost").as_deref(),
            Some("complaint")
        );
        assert_eq!(plus_tag("k3x9q2m7v8d4hw5t@archive.localhost"), None);
        assert_eq!(
            classify(&types, Some("complaint"), Some("billing.acme.com"), "x"),
            Some(1)
        );
        assert_eq!(
            classify(&types, Some("nope"), Some("eu.billing.acme.com"), "broken"),
            Some(2)
        );
        assert_eq!(
            classify(&types, None, Some("other.com"), "It is NOT working!"),
            Some(1)
        );
        assert_eq!(classify(&types, None, Some("acme.com"), "quote"), None);
        assert_eq!(classify(&types, None, None, "unbroken promise"), None);
        assert_eq!(classify(&types, Some("old"), None, ""), None);
    }
}
