//! The index schema and how an entry becomes a document.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, TextFieldIndexing, TextOptions, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{DateTime, Index, TantivyDocument};

use crate::domain::Mailbox;
use crate::store::{EmailMeta, Entry, NewEmailEntry};

/// Accent- and case-insensitive words: `sedinta` finds `ședința`.
pub const ANALYZER: &str = "dossier";

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
    pub attachments: Field,
    pub forwarded_by: Field,
    pub occurred_at: Field,
    /// JSON of the sender and the RFC 3339 date, stored for hits without a DB trip.
    pub from_json: Field,
    pub date: Field,
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

impl Schema {
    pub fn new() -> Self {
        let mut b = tantivy::schema::Schema::builder();
        let text = |stored: bool| {
            let idx = TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            let opts = TextOptions::default().set_indexing_options(idx);
            if stored {
                opts.set_stored()
            } else {
                opts
            }
        };
        let id_opts = NumericOptions::default()
            .set_indexed()
            .set_stored()
            .set_fast();
        let entry_id = b.add_u64_field("entry_id", id_opts.clone());
        let card_id = b.add_u64_field("card_id", id_opts);
        let kind = b.add_text_field("kind", STRING | STORED);
        let subject = b.add_text_field("subject", text(true));
        let body = b.add_text_field("body", text(true));
        let from = b.add_text_field("from", text(false));
        let to = b.add_text_field("to", text(false));
        let attachments = b.add_text_field("attachment", text(false));
        let forwarded_by = b.add_text_field("forwarded_by", text(false));
        let occurred_at = b.add_date_field(
            "occurred_at",
            tantivy::schema::INDEXED | tantivy::schema::FAST,
        );
        let from_json = b.add_text_field("from_json", STORED);
        let date = b.add_text_field("date", STORED);
        Schema {
            schema: b.build(),
            entry_id,
            card_id,
            kind,
            subject,
            body,
            from,
            to,
            attachments,
            forwarded_by,
            occurred_at,
            from_json,
            date,
        }
    }

    /// Fields a bare query word searches.
    pub fn default_fields(&self) -> Vec<Field> {
        vec![
            self.subject,
            self.body,
            self.from,
            self.to,
            self.attachments,
        ]
    }
}

/// Everyone who forwarded the message, outermost first.
fn forwarders(meta: &EmailMeta) -> Vec<String> {
    meta.forwarded_by
        .iter()
        .chain(&meta.forward_chain)
        .map(Mailbox::display)
        .collect()
}

pub fn register_tokenizers(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
}

/// What the index holds for one entry.
#[derive(Debug, Clone)]
pub struct IndexDoc {
    pub entry_id: i64,
    pub card_id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub from: String,
    pub to: Vec<String>,
    pub attachments: Vec<String>,
    pub forwarded_by: Vec<String>,
    pub occurred_at: i64,
    pub from_json: String,
    pub date: Option<String>,
}

impl IndexDoc {
    pub fn from_entry(e: &Entry) -> Self {
        let filenames: Vec<_> = e
            .documents
            .iter()
            .filter_map(|d| d.filename.clone())
            .collect();
        Self::build(
            e.id,
            &e.kind,
            &e.subject,
            &e.body_text,
            &e.from,
            [&e.to, &e.cc],
            filenames,
            &e.meta,
            e.occurred_at,
            &e.date,
        )
        .with_card(e.card_id)
    }

    /// The same document, built from what the worker just stored (saves a read).
    pub fn from_new(entry_id: i64, e: &NewEmailEntry) -> Self {
        let filenames: Vec<_> = e
            .documents
            .iter()
            .filter_map(|d| d.filename.clone())
            .collect();
        Self::build(
            entry_id,
            "email",
            &e.subject,
            &e.body_text,
            &e.from,
            [&e.to, &e.cc],
            filenames,
            &e.meta,
            e.occurred_at,
            &e.date,
        )
        .with_card(e.card_id)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        entry_id: i64,
        kind: &str,
        subject: &str,
        body: &str,
        from: &Option<Mailbox>,
        recipients: [&Vec<Mailbox>; 2],
        attachments: Vec<String>,
        meta: &EmailMeta,
        occurred_at: i64,
        date: &Option<String>,
    ) -> Self {
        IndexDoc {
            entry_id,
            card_id: 0,
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            from: from.as_ref().map(Mailbox::display).unwrap_or_default(),
            to: recipients
                .into_iter()
                .flatten()
                .map(Mailbox::display)
                .collect(),
            attachments,
            forwarded_by: forwarders(meta),
            occurred_at,
            from_json: serde_json::to_string(from).unwrap_or_else(|_| "null".into()),
            date: date.clone(),
        }
    }

    fn with_card(mut self, card_id: i64) -> Self {
        self.card_id = card_id;
        self
    }

    pub fn to_document(&self, s: &Schema) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_u64(s.entry_id, self.entry_id as u64);
        d.add_u64(s.card_id, self.card_id as u64);
        d.add_text(s.kind, &self.kind);
        d.add_text(s.subject, &self.subject);
        d.add_text(s.body, &self.body);
        d.add_text(s.from, &self.from);
        for t in &self.to {
            d.add_text(s.to, t);
        }
        for a in &self.attachments {
            d.add_text(s.attachments, a);
        }
        for f in &self.forwarded_by {
            d.add_text(s.forwarded_by, f);
        }
        d.add_date(
            s.occurred_at,
            DateTime::from_timestamp_secs(self.occurred_at),
        );
        d.add_text(s.from_json, &self.from_json);
        if let Some(date) = &self.date {
            d.add_text(s.date, date);
        }
        d
    }
}
