//! History entries and their documents: the types and the reads.

use serde::Serialize;
use serde_json::Value;

use super::{Result, Store, StoreError};
use crate::domain::Mailbox;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Document {
    pub id: i64,
    #[serde(skip)]
    pub entry_id: Option<i64>,
    #[serde(skip)]
    pub card_id: i64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// `ok`, `unsupported` or `failed: reason` (text extraction for search).
    pub text_status: Option<String>,
    #[serde(skip)]
    pub text: Option<String>,
    pub created_at: String,
    pub uploaded_by: Option<i64>,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<i64>,
    pub delete_reason: Option<String>,
}

impl Document {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

pub(super) const DOC_COLS: &str = "id, entry_id, card_id, filename, content_type, size, sha256, \
    text_status, text, created_at, uploaded_by, deleted_at, deleted_by, delete_reason";

#[derive(Debug, Clone)]
pub struct NewDocument {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub text: Option<String>,
    pub text_status: Option<String>,
}

/// What forward unwrapping found out, kept with an email entry.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct EmailMeta {
    pub forwarded_by: Option<Mailbox>,
    /// RFC 3339.
    pub forwarded_at: Option<String>,
    pub forward_note: Option<String>,
    #[serde(default)]
    pub forward_chain: Vec<Mailbox>,
    pub date_raw: Option<String>,
    #[serde(default)]
    pub date_is_fallback: bool,
    /// What a parsing bound kept from being read (too many parts, too deep…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// An email entry derived from a queued message for one card.
#[derive(Debug, Clone)]
pub struct NewEmailEntry {
    pub card_id: i64,
    pub message_row: i64,
    pub dedup_key: String,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// RFC 3339, when the message had a parseable date.
    pub date: Option<String>,
    /// Unix seconds used for ordering (the date, or the time received).
    pub occurred_at: i64,
    pub body_text: String,
    pub message_id: Option<String>,
    pub direction: Option<String>,
    pub meta: EmailMeta,
    pub documents: Vec<NewDocument>,
    /// The team member who forwarded (or sent) it, when they are a user; or
    /// the user who logged it through the API.
    pub author_id: Option<i64>,
    /// `ingest` for mail, `user` for an original logged through the API.
    pub author_kind: &'static str,
    pub comm_type_id: Option<i64>,
    pub reference: Option<Value>,
}

/// A deleted item: who, when and why.
#[derive(Debug, Clone, Serialize)]
pub struct Tombstone {
    pub deleted_at: String,
    pub deleted_by: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub card_id: i64,
    pub kind: String,
    pub message_row: Option<i64>,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub date: Option<String>,
    pub occurred_at: i64,
    pub body_text: String,
    pub message_id: Option<String>,
    pub direction: Option<String>,
    pub meta: EmailMeta,
    pub created_at: String,
    pub documents: Vec<Document>,
    pub author_kind: String,
    pub author_id: Option<i64>,
    pub comm_type_id: Option<i64>,
    pub reference: Option<Value>,
    pub details: Value,
    pub responsible_id: Option<i64>,
    pub handled_at: Option<String>,
    pub handled_by: Option<i64>,
    pub due_at: Option<String>,
    pub task_status: Option<String>,
    pub close_comment: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: Option<Tombstone>,
}

impl Entry {
    /// Documents that are still there (not tombstones).
    pub fn live_documents(&self) -> impl Iterator<Item = &Document> {
        self.documents.iter().filter(|d| !d.is_deleted())
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }
}

/// What storing an entry did: a new row, an existing row of the same message
/// (re-run after a crash: index it again), or a duplicate of another message.
#[derive(Debug)]
pub enum StoredEntry {
    Inserted(i64),
    Existing(i64),
    Duplicate(i64),
    /// The same mail as a deleted entry (this tombstone): not archived again,
    /// and what it brought along is queued for erasure.
    Deleted(i64),
}

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    id: i64,
    card_id: i64,
    kind: String,
    message_row: Option<i64>,
    subject: String,
    from_json: Option<String>,
    to_json: String,
    cc_json: String,
    date: Option<String>,
    occurred_at: i64,
    body_text: String,
    message_id: Option<String>,
    direction: Option<String>,
    meta_json: String,
    created_at: String,
    author_kind: String,
    author_id: Option<i64>,
    comm_type_id: Option<i64>,
    reference_json: Option<String>,
    details_json: String,
    responsible_id: Option<i64>,
    handled_at: Option<String>,
    handled_by: Option<i64>,
    due_at: Option<String>,
    task_status: Option<String>,
    close_comment: Option<String>,
    updated_at: Option<String>,
    deleted_at: Option<String>,
    deleted_by: Option<i64>,
    delete_reason: Option<String>,
}

/// Every column of `entries`, prefixed with `e.`, for reads into `EntryRow`.
pub(super) const ENTRY_COLS: &str = "e.id, e.card_id, e.kind, e.message_row, e.subject, \
    e.from_json, e.to_json, e.cc_json, e.date, e.occurred_at, e.body_text, e.message_id, \
    e.direction, e.meta_json, e.created_at, e.author_kind, e.author_id, e.comm_type_id, \
    e.reference_json, e.details_json, e.responsible_id, e.handled_at, e.handled_by, e.due_at, \
    e.task_status, e.close_comment, e.updated_at, e.deleted_at, e.deleted_by, e.delete_reason";

pub(super) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data always serializes")
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl EntryRow {
    pub(super) fn into_entry(self, documents: Vec<Document>) -> Result<Entry> {
        Ok(Entry {
            id: self.id,
            card_id: self.card_id,
            kind: self.kind,
            message_row: self.message_row,
            subject: self.subject,
            from: self.from_json.as_deref().map(parse).transpose()?,
            to: parse(&self.to_json)?,
            cc: parse(&self.cc_json)?,
            date: self.date,
            occurred_at: self.occurred_at,
            body_text: self.body_text,
            message_id: self.message_id,
            direction: self.direction,
            meta: parse(&self.meta_json)?,
            created_at: self.created_at,
            documents,
            author_kind: self.author_kind,
            author_id: self.author_id,
            comm_type_id: self.comm_type_id,
            reference: self.reference_json.as_deref().map(parse).transpose()?,
            details: parse(&self.details_json)?,
            responsible_id: self.responsible_id,
            handled_at: self.handled_at,
            handled_by: self.handled_by,
            due_at: self.due_at,
            task_status: self.task_status,
            close_comment: self.close_comment,
            updated_at: self.updated_at,
            deleted: self.deleted_at.map(|deleted_at| Tombstone {
                deleted_at,
                deleted_by: self.deleted_by,
                reason: self.delete_reason,
            }),
        })
    }
}

impl Store {
    pub async fn entry(&self, id: i64) -> Result<Entry> {
        let row: EntryRow = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLS} FROM entries e WHERE e.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let docs = sqlx::query_as(&format!(
            "SELECT {DOC_COLS} FROM documents WHERE entry_id = ? ORDER BY id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        row.into_entry(docs)
    }

    /// Attaches documents to a page of entries with one query for the page.
    pub(super) async fn with_documents(&self, rows: Vec<EntryRow>) -> Result<Vec<Entry>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let docs: Vec<Document> = sqlx::query_as(&format!(
            "SELECT {DOC_COLS} FROM documents
             WHERE entry_id IN (SELECT value FROM json_each(?)) ORDER BY id"
        ))
        .bind(json(&ids))
        .fetch_all(&self.pool)
        .await?;
        let mut by_entry: std::collections::HashMap<i64, Vec<Document>> =
            std::collections::HashMap::new();
        for d in docs {
            by_entry
                .entry(d.entry_id.unwrap_or_default())
                .or_default()
                .push(d);
        }
        rows.into_iter()
            .map(|row| {
                let docs = by_entry.remove(&row.id).unwrap_or_default();
                row.into_entry(docs)
            })
            .collect()
    }

    /// Live entries with id > `after`, in id order (for reindexing in pages).
    pub async fn entries_after(&self, after: i64, limit: i64) -> Result<Vec<Entry>> {
        let rows = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLS} FROM entries e
             WHERE e.id > ? AND e.deleted_at IS NULL ORDER BY e.id LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        self.with_documents(rows).await
    }

    /// Live entries (what the index holds).
    pub async fn entry_count(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE deleted_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// SHA-256 of the raw message an entry came from.
    pub async fn entry_raw_sha(&self, entry_id: i64) -> Result<String> {
        sqlx::query_scalar(
            "SELECT m.sha256 FROM entries e JOIN messages m ON m.id = e.message_row
             WHERE e.id = ? AND e.deleted_at IS NULL AND m.state != 'erased'",
        )
        .bind(entry_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn document(&self, id: i64) -> Result<Document> {
        sqlx::query_as(&format!("SELECT {DOC_COLS} FROM documents WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }
}
