//! Queries over the shared reader.

use serde::Serialize;
use std::ops::Bound;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, DocAddress, Order, TantivyDocument, Term};

use super::budget::Budget;
use super::guard::{self, SearchLimits};
use super::query::{self, Filter};
use super::{facets, IndexError, SearchIndex};
use crate::domain::Mailbox;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid query: {0}")]
    BadQuery(String),
    /// A text filter that matches more entries than a listing can narrow by.
    #[error("the query matches {0} entries; narrow it")]
    TooMany(usize),
    /// The time budget (`search.timeout_ms`) ran out before the search ended.
    #[error("the search took longer than {0} ms; narrow the query")]
    TimedOut(u64),
    /// The request that asked for it is gone.
    #[error("the search was cancelled")]
    Cancelled,
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Collects the `entry_id` fast field of every match.
struct EntryIds;

struct EntryIdsOfSegment {
    column: tantivy::columnar::Column<u64>,
    ids: Vec<u64>,
}

impl tantivy::collector::Collector for EntryIds {
    type Fruit = Vec<u64>;
    type Child = EntryIdsOfSegment;

    fn for_segment(
        &self,
        _: tantivy::SegmentOrdinal,
        reader: &tantivy::SegmentReader,
    ) -> tantivy::Result<EntryIdsOfSegment> {
        Ok(EntryIdsOfSegment {
            column: reader.fast_fields().u64("entry_id")?,
            ids: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        Ok(fruits.concat())
    }
}

impl tantivy::collector::SegmentCollector for EntryIdsOfSegment {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        if let Some(id) = self.column.first(doc) {
            self.ids.push(id);
        }
    }

    fn harvest(self) -> Vec<u64> {
        self.ids
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Index(e.into())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Relevance,
    /// Newest first.
    Date,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    pub card_id: Option<i64>,
    pub limit: usize,
    pub offset: usize,
    pub sort: Sort,
    /// Counts by kind, card, sender domain and year over all matches.
    pub facets: bool,
    /// Cards whose entries must not be returned or counted (access control).
    pub hidden_cards: Vec<i64>,
    /// Communication types by code, for `type:` (lowercased code → id).
    pub types: Vec<(String, i64)>,
    /// Stops the search when spent; `Searcher::budget` gives a fresh one.
    pub budget: Budget,
}

#[derive(Debug, Serialize)]
pub struct Hit {
    pub entry_id: i64,
    pub card_id: i64,
    pub kind: String,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<serde_json::Value>,
}

/// The query snippets highlight.
type Highlight = Box<dyn Query>;

#[derive(Clone)]
pub struct Searcher {
    index: SearchIndex,
    limits: SearchLimits,
}

const SNIPPET_CHARS: usize = 200;

impl Searcher {
    pub fn new(index: SearchIndex) -> Self {
        Searcher::with_limits(index, SearchLimits::default())
    }

    pub fn with_limits(index: SearchIndex, limits: SearchLimits) -> Self {
        Searcher { index, limits }
    }

    /// A budget of `search.timeout_ms` starting now, for one request.
    pub fn budget(&self) -> Budget {
        Budget::new(std::time::Duration::from_millis(self.limits.timeout_ms))
    }

    /// The outcome of a search the budget may have cut short.
    fn finished<T>(&self, budget: &Budget, result: T) -> Result<T, SearchError> {
        if budget.cancelled() {
            Err(SearchError::Cancelled)
        } else if budget.tripped() {
            Err(SearchError::TimedOut(self.limits.timeout_ms))
        } else {
            Ok(result)
        }
    }

    /// The text part of the query (tantivy's own syntax after our rewrite).
    fn parse_text(&self, text: &str) -> Result<Box<dyn Query>, SearchError> {
        if text.trim().is_empty() {
            return Ok(Box::new(AllQuery));
        }
        guard::check_syntax(text).map_err(SearchError::BadQuery)?;
        let s = &self.index.schema;
        let mut parser = QueryParser::for_index(&self.index.index, s.default_fields());
        // Gmail-like: every word must match.
        parser.set_conjunction_by_default();
        parser.set_field_boost(s.subject, 2.0);
        parser
            .parse_query(text)
            .map_err(|e| SearchError::BadQuery(e.to_string()))
    }

    fn filter_query(
        &self,
        f: &Filter,
        types: &[(String, i64)],
    ) -> Result<Box<dyn Query>, SearchError> {
        let s = &self.index.schema;
        let term =
            |t: Term| -> Box<dyn Query> { Box::new(TermQuery::new(t, IndexRecordOption::Basic)) };
        let date = |secs: i64| {
            Term::from_field_date_for_search(s.occurred_at, DateTime::from_timestamp_secs(secs))
        };
        Ok(match f {
            Filter::After(t) => {
                Box::new(RangeQuery::new(Bound::Included(date(*t)), Bound::Unbounded))
            }
            Filter::Before(t) => {
                Box::new(RangeQuery::new(Bound::Unbounded, Bound::Excluded(date(*t))))
            }
            Filter::HasAttachment => term(Term::from_field_u64(s.has_attachment, 1)),
            Filter::Card(id) => term(Term::from_field_u64(s.card_id, (*id).max(0) as u64)),
            Filter::Kind(k) => term(Term::from_field_text(s.kind, k)),
            Filter::Type(code) => {
                let id = types
                    .iter()
                    .find(|(c, id)| c == code || id.to_string() == *code)
                    .map(|(_, id)| *id)
                    .ok_or_else(|| {
                        SearchError::BadQuery(format!("type:{code} is not a communication type"))
                    })?;
                term(Term::from_field_u64(s.comm_type, id.max(0) as u64))
            }
            Filter::Prefix(p) => {
                // Normalized like indexed words (lowercase, accents folded).
                let mut analyzer = self
                    .index
                    .index
                    .tokenizers()
                    .get(super::schema::ANALYZER)
                    .expect("registered at open");
                let mut stream = analyzer.token_stream(p);
                let word = stream.next().map(|t| t.text.clone()).unwrap_or_default();
                // The words it stands for, counted before anything runs.
                let terms = guard::prefix_terms(
                    &self.index.reader.searcher(),
                    &s.default_fields(),
                    &word,
                    self.limits.max_prefix_terms,
                )
                .map_err(SearchError::BadQuery)?;
                Box::new(TermSetQuery::new(terms))
            }
        })
    }

    /// The whole query of a request: text, card, access and operator filters.
    /// The query and the query snippets highlight (phrases as written,
    /// not as shingles).
    fn build(&self, req: &SearchRequest) -> Result<(Box<dyn Query>, Highlight), SearchError> {
        guard::check_depth(&req.q, self.limits.max_depth).map_err(SearchError::BadQuery)?;
        let analyzer = super::schema::word_analyzer();
        let words = |t: &str| super::schema::adjacent_words(&mut analyzer.clone(), t);
        let parsed = query::parse(&req.q, &words).map_err(SearchError::BadQuery)?;
        let text_query = self.parse_text(&parsed.text)?;
        let highlight = if parsed.highlight == parsed.text {
            text_query.box_clone()
        } else {
            self.parse_text(&parsed.highlight)?
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query.box_clone())];
        if let Some(card) = req.card_id {
            clauses.push((Occur::Must, self.filter_query(&Filter::Card(card), &[])?));
        }
        for card in &req.hidden_cards {
            clauses.push((
                Occur::MustNot,
                self.filter_query(&Filter::Card(*card), &[])?,
            ));
        }
        for (neg, f) in &parsed.filters {
            let occur = if *neg { Occur::MustNot } else { Occur::Must };
            clauses.push((occur, self.filter_query(f, &req.types)?));
        }
        let query = req.budget.wrap(Box::new(BooleanQuery::new(clauses)));
        Ok((query, highlight))
    }

    /// The ids of every entry the request matches (no ranking, no paging);
    /// `TooMany` beyond `cap`. Blocking.
    pub fn matching_ids(&self, req: &SearchRequest, cap: usize) -> Result<Vec<i64>, SearchError> {
        let (query, _) = self.build(req)?;
        let searcher = self.index.reader.searcher();
        let total = searcher.search(&query, &Count)?;
        let total = self.finished(&req.budget, total)?;
        if total > cap {
            return Err(SearchError::TooMany(total));
        }
        let ids = searcher.search(&query, &EntryIds)?;
        let ids = self.finished(&req.budget, ids)?;
        Ok(ids.into_iter().map(|v| v as i64).collect())
    }

    /// Runs a search; blocking (call from `spawn_blocking`).
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults, SearchError> {
        if req.budget.spent() {
            self.finished(&req.budget, ())?;
        }
        let s = &self.index.schema;
        let (query, text_query) = self.build(req)?;
        let searcher = self.index.reader.searcher();
        let page = TopDocs::with_limit(req.limit.max(1)).and_offset(req.offset);
        let (addresses, total): (Vec<DocAddress>, usize) = match req.sort {
            Sort::Relevance => {
                let (top, total) = searcher.search(&query, &(page.order_by_score(), Count))?;
                (top.into_iter().map(|(_, a)| a).collect(), total)
            }
            Sort::Date => {
                let by_date = page.order_by_fast_field::<DateTime>("occurred_at", Order::Desc);
                let (top, total) = searcher.search(&query, &(by_date, Count))?;
                (top.into_iter().map(|(_, a)| a).collect(), total)
            }
        };
        let facets = if req.facets {
            Some(facets::collect(&searcher, &query)?)
        } else {
            None
        };
        self.finished(&req.budget, ())?;
        let mut snippets = SnippetGenerator::create(&searcher, &*text_query, s.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut hits = Vec::with_capacity(addresses.len());
        for addr in addresses {
            // Snippets of long bodies cost too: the budget covers them.
            if req.budget.spent() {
                self.finished(&req.budget, ())?;
            }
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
                kind: text(s.kind).unwrap_or_default(),
                subject: text(s.subject).unwrap_or_default(),
                from: text(s.from_json).and_then(|j| serde_json::from_str(&j).ok()),
                date: text(s.date),
                snippet: html,
            });
        }
        Ok(SearchResults {
            total,
            hits,
            facets,
        })
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
