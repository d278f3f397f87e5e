//! History entries and their documents.

use serde::Serialize;

use super::{now_rfc3339, Result, Store, StoreError};
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
}

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
}

/// What storing an entry did: a new row, an existing row of the same message
/// (re-run after a crash: index it again), or a duplicate of another message.
#[derive(Debug)]
pub enum StoredEntry {
    Inserted(i64),
    Existing(i64),
    Duplicate(i64),
}

#[derive(sqlx::FromRow)]
struct EntryRow {
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
}

const ENTRY_COLS: &str = "id, card_id, kind, message_row, subject, from_json, to_json, cc_json, \
                          date, occurred_at, body_text, message_id, direction, meta_json, created_at";

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("mailboxes always serialize")
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl EntryRow {
    fn into_entry(self, documents: Vec<Document>) -> Result<Entry> {
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
        })
    }
}

async fn link(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    message: i64,
    entry: i64,
    duplicate: bool,
) -> Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO message_entries (message_id, entry_id, duplicate) VALUES (?, ?, ?)",
    )
    .bind(message)
    .bind(entry)
    .bind(duplicate)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Stores the entries of one message in one transaction. Idempotent: a
    /// (card, dedup key) pair already present is not stored twice.
    /// The queue rows `messages` are marked `stored` in the same transaction.
    pub async fn store_email_entries(
        &self,
        entries: &[NewEmailEntry],
        messages: &[i64],
    ) -> Result<Vec<StoredEntry>> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO entries (card_id, kind, message_row, dedup_key, subject, from_json,
                     to_json, cc_json, date, occurred_at, body_text, message_id, direction,
                     meta_json, created_at)
                 VALUES (?, 'email', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (card_id, dedup_key) DO NOTHING RETURNING id",
            )
            .bind(e.card_id)
            .bind(e.message_row)
            .bind(&e.dedup_key)
            .bind(&e.subject)
            .bind(e.from.as_ref().map(json))
            .bind(json(&e.to))
            .bind(json(&e.cc))
            .bind(&e.date)
            .bind(e.occurred_at)
            .bind(&e.body_text)
            .bind(&e.message_id)
            .bind(&e.direction)
            .bind(json(&e.meta))
            .bind(&now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = inserted else {
                let (id, row): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT id, message_row FROM entries WHERE card_id = ? AND dedup_key = ?",
                )
                .bind(e.card_id)
                .bind(&e.dedup_key)
                .fetch_one(&mut *tx)
                .await?;
                let duplicate = row != Some(e.message_row);
                link(&mut tx, e.message_row, id, duplicate).await?;
                out.push(if duplicate {
                    StoredEntry::Duplicate(id)
                } else {
                    StoredEntry::Existing(id)
                });
                continue;
            };
            for d in &e.documents {
                sqlx::query(
                    "INSERT INTO documents (entry_id, card_id, filename, content_type, size, sha256,
                                            text, text_status, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(id)
                .bind(e.card_id)
                .bind(&d.filename)
                .bind(&d.content_type)
                .bind(d.size)
                .bind(&d.sha256)
                .bind(&d.text)
                .bind(&d.text_status)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            link(&mut tx, e.message_row, id, false).await?;
            out.push(StoredEntry::Inserted(id));
        }
        sqlx::query(
            "UPDATE messages SET state = 'stored'
             WHERE state IN ('queued', 'stored') AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(messages).expect("ids serialize"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn entry(&self, id: i64) -> Result<Entry> {
        let row: EntryRow =
            sqlx::query_as(&format!("SELECT {ENTRY_COLS} FROM entries WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
        let docs = self.entry_documents(id).await?;
        row.into_entry(docs)
    }

    async fn entry_documents(&self, entry_id: i64) -> Result<Vec<Document>> {
        Ok(sqlx::query_as(
            "SELECT id, entry_id, card_id, filename, content_type, size, sha256, text_status, text
             FROM documents WHERE entry_id = ? ORDER BY id",
        )
        .bind(entry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Attaches documents to a page of entries with one query for the page.
    async fn with_documents(&self, rows: Vec<EntryRow>) -> Result<Vec<Entry>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let docs: Vec<Document> = sqlx::query_as(
            "SELECT id, entry_id, card_id, filename, content_type, size, sha256, text_status, text
             FROM documents WHERE entry_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        )
        .bind(serde_json::to_string(&ids).expect("ids serialize"))
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

    /// A card's history, newest first.
    pub async fn history(
        &self,
        card_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<Entry>)> {
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE card_id = ?")
            .bind(card_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLS} FROM entries WHERE card_id = ?
             ORDER BY occurred_at DESC, id DESC LIMIT ? OFFSET ?"
        ))
        .bind(card_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, self.with_documents(rows).await?))
    }

    /// Entries with id > `after`, in id order (for reindexing in pages).
    pub async fn entries_after(&self, after: i64, limit: i64) -> Result<Vec<Entry>> {
        let rows = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLS} FROM entries WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        self.with_documents(rows).await
    }

    pub async fn entry_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM entries")
            .fetch_one(&self.pool)
            .await?)
    }

    /// SHA-256 of the raw message an entry came from.
    pub async fn entry_raw_sha(&self, entry_id: i64) -> Result<String> {
        sqlx::query_scalar(
            "SELECT m.sha256 FROM entries e JOIN messages m ON m.id = e.message_row WHERE e.id = ?",
        )
        .bind(entry_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn document(&self, id: i64) -> Result<Document> {
        sqlx::query_as(
            "SELECT id, entry_id, card_id, filename, content_type, size, sha256, text_status, text
             FROM documents WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }
}

impl Store {
    /// The entries a message produced (or duplicated), with the duplicate flag.
    pub async fn message_entries(&self, message: i64) -> Result<Vec<(i64, bool)>> {
        Ok(sqlx::query_as(
            "SELECT entry_id, duplicate FROM message_entries WHERE message_id = ? ORDER BY entry_id",
        )
        .bind(message)
        .fetch_all(&self.pool)
        .await?)
    }

    /// True when the card already has an entry with this dedup key.
    pub async fn has_entry(&self, card_id: i64, dedup_key: &str) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM entries WHERE card_id = ? AND dedup_key = ?",
        )
        .bind(card_id)
        .bind(dedup_key)
        .fetch_one(&self.pool)
        .await?
            > 0)
    }
}
