//! Queries over the shared reader.

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{TantivyDocument, Term};

use super::{IndexError, SearchIndex};
use crate::domain::Mailbox;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid query: {0}")]
    BadQuery(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Index(e.into())
    }
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    pub card_id: Option<i64>,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Serialize)]
pub struct Hit {
    pub entry_id: i64,
    pub card_id: i64,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub date: Option<String>,
    /// HTML-escaped text with matches wrapped in `<mark>`.
    pub snippet: String,
}

#[derive(Debug, Serialize)]
pub struct SearchResults {
    pub total: usize,
    pub hits: Vec<Hit>,
}

#[derive(Clone)]
pub struct Searcher {
    index: SearchIndex,
}

const SNIPPET_CHARS: usize = 200;

impl Searcher {
    pub fn new(index: SearchIndex) -> Self {
        Searcher { index }
    }

    fn parse(&self, q: &str) -> Result<Box<dyn Query>, SearchError> {
        if q.trim().is_empty() {
            return Ok(Box::new(AllQuery));
        }
        let s = &self.index.schema;
        let mut parser = QueryParser::for_index(&self.index.index, s.default_fields());
        // Gmail-like: every word must match.
        parser.set_conjunction_by_default();
        parser.set_field_boost(s.subject, 2.0);
        parser
            .parse_query(q)
            .map_err(|e| SearchError::BadQuery(e.to_string()))
    }

    /// Runs a search; blocking (call from `spawn_blocking`).
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, SearchError> {
        let s = &self.index.schema;
        let text_query = self.parse(&req.q)?;
        let query: Box<dyn Query> = match req.card_id {
            Some(card) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query.box_clone()),
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_u64(s.card_id, card as u64),
                        IndexRecordOption::Basic,
                    )),
                ),
            ])),
            None => text_query.box_clone(),
        };
        let searcher = self.index.reader.searcher();
        let (top, total) = searcher.search(
            &query,
            &(
                TopDocs::with_limit(req.limit.max(1))
                    .and_offset(req.offset)
                    .order_by_score(),
                Count,
            ),
        )?;
        let mut snippets = SnippetGenerator::create(&searcher, &*text_query, s.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut hits = Vec::with_capacity(top.len());
        for (_score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let text = |f| doc.get_first(f).and_then(|v| v.as_str()).map(str::to_owned);
            let num = |f| doc.get_first(f).and_then(|v| v.as_u64()).unwrap_or(0) as i64;
            let mut snippet = snippets.snippet_from_doc(&doc);
            snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
            let mut html = snippet.to_html();
            if html.is_empty() {
                // Matched elsewhere (subject, sender): show the start of the body.
                let body = text(s.body).unwrap_or_default();
                html = escape_html(&body.chars().take(SNIPPET_CHARS).collect::<String>());
            }
            hits.push(Hit {
                entry_id: num(s.entry_id),
                card_id: num(s.card_id),
                subject: text(s.subject).unwrap_or_default(),
                from: text(s.from_json).and_then(|j| serde_json::from_str(&j).ok()),
                date: text(s.date),
                snippet: html,
            });
        }
        Ok(SearchResults { total, hits })
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
