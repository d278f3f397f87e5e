//! What a query may cost before it runs: nesting depth, the tantivy syntax
//! that expands over whole term dictionaries (ranges, sets, `field:*` on
//! text), and how many words a prefix may stand for.

use std::collections::BTreeSet;

use tantivy::query_grammar::{UserInputAst, UserInputLeaf};
use tantivy::schema::Field;
use tantivy::Term;

/// `search.max_prefix_terms`, `search.max_depth`, `search.timeout_ms`.
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    pub max_prefix_terms: usize,
    pub max_depth: usize,
    pub timeout_ms: u64,
}

impl From<&crate::config::SearchConfig> for SearchLimits {
    fn from(c: &crate::config::SearchConfig) -> Self {
        SearchLimits {
            max_prefix_terms: c.max_prefix_terms,
            max_depth: c.max_depth,
            timeout_ms: c.timeout_ms,
        }
    }
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            max_prefix_terms: 1000,
            max_depth: 32,
            timeout_ms: 5000,
        }
    }
}

/// Shortest prefix (in characters, after normalization) a search may use.
pub const MIN_PREFIX_CHARS: usize = 2;

/// Parentheses opened and not yet closed at most, outside quotes. Checked on
/// the text before any parser sees it: the parsers recurse per level.
pub fn check_depth(q: &str, max: usize) -> Result<(), String> {
    let (mut depth, mut deepest, mut quoted) = (0usize, 0usize, false);
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > max {
        return Err(format!(
            "parentheses nest {deepest} levels deep; at most {max} are allowed"
        ));
    }
    Ok(())
}

/// Refuses tantivy syntax whose cost grows with the index, not the query.
/// `text` passed `check_depth`, so the walk's recursion is bounded.
pub fn check_syntax(text: &str) -> Result<(), String> {
    // Syntax errors are reported by the query parser itself, later.
    let Ok(ast) = tantivy::query_grammar::parse_query(text) else {
        return Ok(());
    };
    walk(&ast)
}

fn walk(ast: &UserInputAst) -> Result<(), String> {
    match ast {
        UserInputAst::Clause(clauses) => clauses.iter().try_for_each(|(_, a)| walk(a)),
        UserInputAst::Boost(inner, _) => walk(inner),
        UserInputAst::Leaf(leaf) => match &**leaf {
            UserInputLeaf::Literal(_) | UserInputLeaf::All => Ok(()),
            UserInputLeaf::Range { .. } => {
                Err("ranges are not supported; use after: and before: for dates".into())
            }
            UserInputLeaf::Set { .. } => Err("IN [...] sets are not supported; use OR".into()),
            UserInputLeaf::Exists { .. } => Err("field:* is not supported".into()),
            UserInputLeaf::Regex { .. } => Err("regular expressions are not supported".into()),
        },
    }
}

/// The distinct indexed words of `fields` that start with `prefix`, at most
/// `max` of them (more: an error asking for more letters).
pub fn prefix_terms(
    searcher: &tantivy::Searcher,
    fields: &[Field],
    prefix: &str,
    max: usize,
) -> Result<Vec<Term>, String> {
    if prefix.chars().count() < MIN_PREFIX_CHARS {
        return Err(format!(
            "a prefix needs at least {MIN_PREFIX_CHARS} letters or digits before the *"
        ));
    }
    let mut words: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut terms = Vec::new();
    for &field in fields {
        words.clear();
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(field)
                .map_err(|e| format!("reading the index: {e}"))?;
            let mut stream = inverted
                .terms()
                .range()
                .ge(prefix.as_bytes())
                .into_stream()
                .map_err(|e| format!("reading the index: {e}"))?;
            while stream.advance() {
                if !stream.key().starts_with(prefix.as_bytes()) {
                    break;
                }
                words.insert(stream.key().to_vec());
                if words.len() > max {
                    return Err(format!(
                        "{prefix}* stands for more than {max} words (search.max_prefix_terms); type more letters"
                    ));
                }
            }
        }
        // Text terms are the analyzer's tokens: always UTF-8.
        terms.extend(
            words
                .iter()
                .filter_map(|w| std::str::from_utf8(w).ok())
                .map(|w| Term::from_field_text(field, w)),
        );
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_and_dictionary_scans_are_refused() {
        assert!(check_depth("((a) OR (b))", 32).is_ok());
        let deep = format!("{}a{}", "(".repeat(33), ")".repeat(33));
        assert!(check_depth(&deep, 32).unwrap_err().contains("33 levels"));
        assert!(
            check_depth("\"((((\"", 2).is_ok(),
            "quoted parentheses are text"
        );
        assert!(check_syntax("body:[a TO z]")
            .unwrap_err()
            .contains("ranges"));
        assert!(check_syntax("subject:IN [a b]").is_err());
        assert!(check_syntax("invoice OR (subject:offer -draft)").is_ok());
    }
}
