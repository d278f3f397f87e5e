//! The index schema and how an entry becomes a document.

use std::fmt::Write;

use chrono::Datelike;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, TextFieldIndexing, TextOptions, FAST, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
    TokenStream, WhitespaceTokenizer,
};
use tantivy::{DateTime, Index, TantivyDocument};

use crate::domain::Mailbox;
use crate::store::{EmailMeta, Entry, NewEmailEntry};

/// Accent- and case-insensitive words: `sedinta` finds `ședința`.
pub const ANALYZER: &str = "dossier";
/// Whole values, lowercased: an address, its local part, its domains.
pub const RAW_LOWER: &str = "raw_lower";
/// Word shingles already normalized by `ANALYZER`, space-separated.
pub const SHINGLES: &str = "shingles";

#[derive(Clone)]
pub struct Schema {
    pub schema: tantivy::schema::Schema,
    pub entry_id: Field,
    pub card_id: Field,
    pub kind: Field,
    pub subject: Field,
    pub body: Field,
    pub from: Field,
    pub to: Field,
    pub cc: Field,
    pub attachments: Field,
    /// Text extracted from the attachments.
    pub attachment_text: Field,
    pub forwarded_by: Field,
    /// Address tokens (whole address, local part, domain and parent domains)
    /// for `from:acme.com`-style matching.
    pub from_addr: Field,
    pub to_addr: Field,
    pub cc_addr: Field,
    pub forwarded_by_addr: Field,
    pub has_attachment: Field,
    pub from_domain: Field,
    pub year: Field,
    pub occurred_at: Field,
    /// JSON of the sender and the RFC 3339 date, stored for hits without a DB trip.
    pub from_json: Field,
    pub date: Field,
    /// The communication type's id (0: none).
    pub comm_type: Field,
    /// Adjacent word pairs of subject, body and attachment text (`a_b`), so
    /// a two-word phrase is a term lookup instead of a position check over
    /// every document holding both words (Elasticsearch's `index_phrases`).
    pub pairs: Field,
    /// Adjacent word triples (`a_b_c`) at the position of their first word:
    /// a three-word phrase is one term, a longer one a phrase of triples.
    /// Their postings are far sparser than those of words, so a phrase of
    /// common words ("out of the office") checks few positions.
    pub triples: Field,
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

fn text_options(tokenizer: &str, stored: bool) -> TextOptions {
    let idx = TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let opts = TextOptions::default().set_indexing_options(idx);
    if stored {
        opts.set_stored()
    } else {
        opts
    }
}

impl Schema {
    pub fn new() -> Self {
        let mut b = tantivy::schema::Schema::builder();
        let id_opts = NumericOptions::default()
            .set_indexed()
            .set_stored()
            .set_fast();
        let entry_id = b.add_u64_field("entry_id", id_opts.clone());
        let card_id = b.add_u64_field("card_id", id_opts);
        let kind = b.add_text_field("kind", STRING | STORED | FAST);
        let subject = b.add_text_field("subject", text_options(ANALYZER, true));
        let body = b.add_text_field("body", text_options(ANALYZER, true));
        let from = b.add_text_field("from", text_options(ANALYZER, false));
        let to = b.add_text_field("to", text_options(ANALYZER, false));
        let cc = b.add_text_field("cc", text_options(ANALYZER, false));
        let attachments = b.add_text_field("attachment", text_options(ANALYZER, false));
        let attachment_text = b.add_text_field("attachment_text", text_options(ANALYZER, false));
        let forwarded_by = b.add_text_field("forwarded_by", text_options(ANALYZER, false));
        let from_addr = b.add_text_field("from_addr", text_options(RAW_LOWER, false));
        let to_addr = b.add_text_field("to_addr", text_options(RAW_LOWER, false));
        let cc_addr = b.add_text_field("cc_addr", text_options(RAW_LOWER, false));
        let forwarded_by_addr =
            b.add_text_field("forwarded_by_addr", text_options(RAW_LOWER, false));
        let flag = NumericOptions::default().set_indexed().set_fast();
        let has_attachment = b.add_u64_field("has_attachment", flag.clone());
        let from_domain = b.add_text_field("from_domain", STRING | FAST);
        let year = b.add_u64_field("year", flag);
        let occurred_at = b.add_date_field(
            "occurred_at",
            tantivy::schema::INDEXED | tantivy::schema::FAST,
        );
        let from_json = b.add_text_field("from_json", STORED);
        let date = b.add_text_field("date", STORED);
        let comm_type = b.add_u64_field(
            "comm_type",
            NumericOptions::default().set_indexed().set_fast(),
        );
        let shingles = |record| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(SHINGLES)
                    .set_index_option(record),
            )
        };
        let pairs = b.add_text_field("pairs", shingles(IndexRecordOption::WithFreqs));
        let triples = b.add_text_field(
            "triples",
            shingles(IndexRecordOption::WithFreqsAndPositions),
        );
        Schema {
            schema: b.build(),
            entry_id,
            card_id,
            kind,
            subject,
            body,
            from,
            to,
            cc,
            attachments,
            attachment_text,
            forwarded_by,
            from_addr,
            to_addr,
            cc_addr,
            forwarded_by_addr,
            has_attachment,
            from_domain,
            year,
            occurred_at,
            from_json,
            date,
            comm_type,
            pairs,
            triples,
        }
    }

    /// Fields a bare query word searches.
    pub fn default_fields(&self) -> Vec<Field> {
        vec![
            self.subject,
            self.body,
            self.from,
            self.to,
            self.cc,
            self.attachments,
            self.attachment_text,
        ]
    }
}

/// Words as the index sees them: split, bounded, lowercased, accents folded.
pub fn word_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The normalized words of `text` with their positions (a word too long to
/// index leaves a gap).
pub fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push((t.position, t.text.clone()));
    }
    out
}

/// The words, if no gap separates them (else a phrase must check positions).
pub fn adjacent_words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let w = words(analyzer, text);
    if w.windows(2).all(|p| p[1].0 == p[0].0 + 1) {
        w.into_iter().map(|(_, t)| t).collect()
    } else {
        vec![]
    }
}

/// `a_b`, `a_b_c` for adjacent words, as `shingles_of` indexes them (words
/// never contain `_`: the tokenizer splits on it).
pub fn shingle(words: &[String]) -> String {
    words.join("_")
}

/// Stands where no triple starts (a gap, the end of a value), so the
/// triples' positions stay those of their first words.
const NO_TRIPLE: &str = "_";

/// Appends the pairs and the triples of adjacent words of one value: one
/// triple or `NO_TRIPLE` per word position (a word too long to index breaks
/// the adjacency), then a `NO_TRIPLE` so that no phrase spans two values.
fn shingles_of(analyzer: &mut TextAnalyzer, text: &str, pairs: &mut String, triples: &mut String) {
    let w = words(analyzer, text);
    let Some(&(first, _)) = w.first() else {
        return;
    };
    let mut at: Vec<Option<&str>> = vec![None; w[w.len() - 1].0 - first + 1];
    for (p, word) in &w {
        at[p - first] = Some(word);
    }
    let word = |i: usize| at.get(i).copied().flatten();
    for i in 0..at.len() {
        if let (Some(a), Some(b)) = (word(i), word(i + 1)) {
            let _ = write!(pairs, "{a}_{b} ");
            if let Some(c) = word(i + 2) {
                let _ = write!(triples, "{a}_{b}_{c} ");
                continue;
            }
        }
        triples.push_str(NO_TRIPLE);
        triples.push(' ');
    }
    triples.push_str(NO_TRIPLE);
    triples.push(' ');
}

pub fn register_tokenizers(index: &Index) {
    index.tokenizers().register(ANALYZER, word_analyzer());
    index.tokenizers().register(
        SHINGLES,
        TextAnalyzer::builder(WhitespaceTokenizer::default()).build(),
    );
    let raw = TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(RAW_LOWER, raw);
}

/// What the index holds for one entry.
#[derive(Debug, Clone)]
pub struct IndexDoc {
    pub entry_id: i64,
    pub card_id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub attachments: Vec<String>,
    pub attachment_text: Vec<String>,
    pub forwarded_by: Vec<Mailbox>,
    pub occurred_at: i64,
    pub date: Option<String>,
    pub comm_type_id: Option<i64>,
}

/// Everyone who forwarded the message, outermost first.
fn forwarders(meta: &EmailMeta) -> Vec<Mailbox> {
    meta.forwarded_by
        .iter()
        .chain(&meta.forward_chain)
        .cloned()
        .collect()
}

/// `jane@sales.acme.com` → the address, `jane`, `sales.acme.com`, `acme.com`.
pub fn address_tokens(address: &str) -> Vec<String> {
    let a = address.trim().to_lowercase();
    let mut out = vec![a.clone()];
    if let Some((local, domain)) = a.rsplit_once('@') {
        out.push(local.to_owned());
        let mut d = domain;
        // Parent domains, down to (not including) the top-level label.
        while d.contains('.') {
            out.push(d.to_owned());
            d = d.split_once('.').map_or("", |(_, rest)| rest);
        }
    }
    out
}

fn domain_of(m: &Mailbox) -> Option<String> {
    m.address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.trim().to_lowercase())
}

impl IndexDoc {
    /// A live entry as the index holds it: deleted documents contribute
    /// nothing, a task's closing comment is part of its text.
    pub fn from_entry(e: &Entry) -> Self {
        let mut body = e.body_text.clone();
        if let Some(c) = e.close_comment.as_deref().filter(|c| !c.is_empty()) {
            body.push('\n');
            body.push_str(c);
        }
        IndexDoc {
            entry_id: e.id,
            card_id: e.card_id,
            kind: e.kind.clone(),
            subject: e.subject.clone(),
            body,
            from: e.from.clone(),
            to: e.to.clone(),
            cc: e.cc.clone(),
            attachments: e
                .live_documents()
                .filter_map(|d| d.filename.clone())
                .collect(),
            attachment_text: e.live_documents().filter_map(|d| d.text.clone()).collect(),
            forwarded_by: forwarders(&e.meta),
            occurred_at: e.occurred_at,
            date: e.date.clone(),
            comm_type_id: e.comm_type_id,
        }
    }

    /// The same document, built from what the worker just stored (saves a read).
    pub fn from_new(entry_id: i64, e: &NewEmailEntry) -> Self {
        IndexDoc {
            entry_id,
            card_id: e.card_id,
            kind: "email".into(),
            subject: e.subject.clone(),
            body: e.body_text.clone(),
            from: e.from.clone(),
            to: e.to.clone(),
            cc: e.cc.clone(),
            attachments: e
                .documents
                .iter()
                .filter_map(|d| d.filename.clone())
                .collect(),
            attachment_text: e.documents.iter().filter_map(|d| d.text.clone()).collect(),
            forwarded_by: forwarders(&e.meta),
            occurred_at: e.occurred_at,
            date: e.date.clone(),
            comm_type_id: e.comm_type_id,
        }
    }

    pub fn to_document(&self, s: &Schema) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_u64(s.entry_id, self.entry_id as u64);
        d.add_u64(s.card_id, self.card_id as u64);
        d.add_text(s.kind, &self.kind);
        d.add_text(s.subject, &self.subject);
        d.add_text(s.body, &self.body);
        let people = [
            (self.from.iter().collect::<Vec<_>>(), s.from, s.from_addr),
            (self.to.iter().collect(), s.to, s.to_addr),
            (self.cc.iter().collect(), s.cc, s.cc_addr),
            (
                self.forwarded_by.iter().collect(),
                s.forwarded_by,
                s.forwarded_by_addr,
            ),
        ];
        for (mailboxes, text, addr) in people {
            for m in mailboxes {
                d.add_text(text, m.display());
                for t in m.address.as_deref().map(address_tokens).unwrap_or_default() {
                    d.add_text(addr, t);
                }
            }
        }
        for a in &self.attachments {
            d.add_text(s.attachments, a);
        }
        for t in &self.attachment_text {
            d.add_text(s.attachment_text, t);
        }
        d.add_u64(s.has_attachment, u64::from(!self.attachments.is_empty()));
        if let Some(domain) = self.from.as_ref().and_then(domain_of) {
            d.add_text(s.from_domain, domain);
        }
        let at = chrono::DateTime::from_timestamp(self.occurred_at, 0).unwrap_or_default();
        d.add_u64(s.year, at.year().max(0) as u64);
        d.add_date(
            s.occurred_at,
            DateTime::from_timestamp_secs(self.occurred_at),
        );
        d.add_text(
            s.from_json,
            serde_json::to_string(&self.from).unwrap_or_else(|_| "null".into()),
        );
        if let Some(date) = &self.date {
            d.add_text(s.date, date);
        }
        d.add_u64(s.comm_type, self.comm_type_id.unwrap_or(0).max(0) as u64);
        // Shingles per value, so none spans the subject's end and the body's start.
        let mut analyzer = word_analyzer();
        let (mut pairs, mut triples) = (String::new(), String::new());
        for text in [&self.subject, &self.body]
            .into_iter()
            .chain(&self.attachment_text)
        {
            shingles_of(&mut analyzer, text, &mut pairs, &mut triples);
        }
        d.add_text(s.pairs, pairs);
        d.add_text(s.triples, triples);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shingles_join_adjacent_words_only() {
        let (mut pairs, mut triples) = (String::new(), String::new());
        let long = "x".repeat(80);
        let text = format!("Ședința de azi {long} steel racks");
        shingles_of(&mut word_analyzer(), &text, &mut pairs, &mut triples);
        shingles_of(&mut word_analyzer(), "hall three", &mut pairs, &mut triples);
        assert_eq!(pairs, "sedinta_de de_azi steel_racks hall_three ");
        // A triple per position (the long word's included), then the end.
        assert_eq!(triples, "sedinta_de_azi _ _ _ _ _ _ _ _ _ ");
    }

    #[test]
    fn address_tokens_cover_local_part_and_parent_domains() {
        assert_eq!(
            address_tokens("Jane.Doe@Sales.ACME.com"),
            [
                "jane.doe@sales.acme.com",
                "jane.doe",
                "sales.acme.com",
                "acme.com"
            ]
        );
        assert_eq!(address_tokens("odd"), ["odd"]);
    }
}
