//! Documents whose text is still to be extracted (`text_status = 'pending'`).

use super::{Result, Store};

/// A document waiting for its text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingText {
    pub id: i64,
    pub entry_id: i64,
    pub sha256: String,
    pub content_type: String,
    pub filename: Option<String>,
}

impl Store {
    /// Up to `limit` pending documents, whole entries first come first.
    pub async fn pending_texts(&self, limit: u32) -> Result<Vec<PendingText>> {
        Ok(sqlx::query_as(
            "SELECT id, entry_id, sha256, content_type, filename FROM documents
             WHERE text_status = 'pending' AND deleted_at IS NULL AND entry_id IS NOT NULL
             ORDER BY entry_id, id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Bytes of text the entry's documents already hold (the per-message budget).
    pub async fn entry_text_bytes(&self, entry_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(SUM(LENGTH(CAST(text AS BLOB))), 0) FROM documents WHERE entry_id = ?",
        )
        .bind(entry_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records the outcome; a document deleted meanwhile stays untouched
    /// (false).
    pub async fn set_document_text(
        &self,
        id: i64,
        text: Option<&str>,
        status: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE documents SET text = ?, text_status = ?
             WHERE id = ? AND text_status = 'pending' AND deleted_at IS NULL",
        )
        .bind(text)
        .bind(status)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether any of these entries still has a pending document.
    pub async fn texts_pending_for(&self, entry_ids: &[i64]) -> Result<bool> {
        if entry_ids.is_empty() {
            return Ok(false);
        }
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE text_status = 'pending'
               AND deleted_at IS NULL AND entry_id IN (SELECT value FROM json_each(?)))",
        )
        .bind(serde_json::to_string(entry_ids).expect("ids serialize"))
        .fetch_one(&self.pool)
        .await?)
    }
}
