//! Permanent deletion, the store's half: tombstones in place of deleted items,
//! and the files and index documents still to remove (`pending_erasures`),
//! written in the same transaction so a crash cannot leave them behind.

use serde_json::json as j;

use super::audit::{insert_audit, AuditRecord};
use super::{now_rfc3339, Result, Store, StoreError};

/// Work a deletion left to do outside the database.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingErasure {
    pub id: i64,
    /// `blob`, `spool` or `index`.
    pub what: String,
    pub sha256: Option<String>,
    pub entry_id: Option<i64>,
}

/// A rewritten raw message (an attachment replaced by a placeholder).
#[derive(Debug, Clone)]
pub struct RawRewrite {
    pub old_sha: String,
    pub new_sha: String,
    pub new_size: i64,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// What a tombstone keeps of a dedup key: its digest, no Message-ID.
pub(super) fn deleted_key(key: &str) -> String {
    format!("deleted:{}", crate::blobs::sha256_hex(key.as_bytes()))
}

pub(super) async fn pending(
    tx: &mut Tx<'_>,
    what: &str,
    sha: Option<&str>,
    entry: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_erasures (what, sha256, entry_id, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(what)
    .bind(sha)
    .bind(entry)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Queues the blob for removal unless another live document has the same bytes.
pub(super) async fn erase_blob_unless_shared(tx: &mut Tx<'_>, sha: &str) -> Result<()> {
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM documents WHERE sha256 = ? AND deleted_at IS NULL",
    )
    .bind(sha)
    .fetch_one(&mut **tx)
    .await?;
    if live == 0 {
        pending(tx, "blob", Some(sha), None).await?;
    }
    Ok(())
}

/// The fields of a document tombstone that the audit log keeps.
fn doc_details(filename: &Option<String>, size: i64, sha: &str) -> serde_json::Value {
    j!({"filename": filename, "size": size, "sha256": sha})
}

impl Store {
    /// Whether another live document with the same bytes came from one of
    /// the messages behind this entry (one message for two cards): then its
    /// raw message must keep them.
    pub async fn raw_still_needs(&self, entry_id: i64, doc_sha: &str, doc_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM documents d
               JOIN message_entries me ON me.entry_id = d.entry_id
             WHERE d.sha256 = ?1 AND d.id != ?2 AND d.deleted_at IS NULL
               AND me.message_id IN (SELECT message_id FROM message_entries WHERE entry_id = ?3)",
        )
        .bind(doc_sha)
        .bind(doc_id)
        .bind(entry_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn queue_wal_erasure(&self) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        pending(&mut tx, "wal", None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn wal_erasure_done(&self) -> Result<()> {
        sqlx::query("DELETE FROM pending_erasures WHERE what = 'wal'")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Replaces a document by its tombstone: text gone, bytes queued for
    /// removal unless shared, the raw message repointed to its rewritten copy.
    pub async fn tombstone_document(
        &self,
        doc: &super::Document,
        by: i64,
        reason: Option<&str>,
        raw: Option<&RawRewrite>,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        // (entry, card, filename, size, sha256)
        type Row = (Option<i64>, i64, Option<String>, i64, String);
        let row: Option<Row> = sqlx::query_as(
            "UPDATE documents SET deleted_at = ?, deleted_by = ?, delete_reason = ?, text = NULL
             WHERE id = ? AND deleted_at IS NULL
             RETURNING entry_id, card_id, filename, size, sha256",
        )
        .bind(&now)
        .bind(by)
        .bind(reason)
        .bind(doc.id)
        .fetch_optional(&mut *tx)
        .await?;
        let doc_id = doc.id;
        let Some((entry_id, card_id, filename, size, sha)) = row else {
            return Err(StoreError::Conflict(
                "this document is already deleted; its tombstone is kept".into(),
            ));
        };
        erase_blob_unless_shared(&mut tx, &sha).await?;
        if let (Some(r), Some(entry)) = (raw, entry_id) {
            // Only the messages behind this entry: the same bytes delivered
            // separately to another card stay as they are there.
            sqlx::query(
                "UPDATE messages SET sha256 = ?, size = ? WHERE sha256 = ?
                 AND id IN (SELECT message_id FROM message_entries WHERE entry_id = ?)",
            )
            .bind(&r.new_sha)
            .bind(r.new_size)
            .bind(&r.old_sha)
            .bind(entry)
            .execute(&mut *tx)
            .await?;
            pending(&mut tx, "spool", Some(&r.old_sha), None).await?;
        }
        if let Some(entry) = entry_id {
            sqlx::query("UPDATE entries SET updated_at = ? WHERE id = ?")
                .bind(&now)
                .bind(entry)
                .execute(&mut *tx)
                .await?;
            pending(&mut tx, "index", None, Some(entry)).await?;
        }
        let mut details = doc_details(&filename, size, &sha);
        details["entry_id"] = j!(entry_id);
        details["reason"] = j!(reason);
        details["raw_message_rewritten"] = j!(raw.is_some());
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "delete_document",
                target: "document",
                target_id: Some(doc_id),
                card_id: Some(card_id),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an entry by its tombstone (kind, time, author and who deleted
    /// it stay; its content, revisions, addresses and documents go), and erases
    /// the raw messages only it used.
    pub async fn tombstone_entry(
        &self,
        entry_id: i64,
        by: i64,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        // The same mail delivered again finds the tombstone by this digest
        // and stays deleted; the Message-ID itself is gone.
        let key: Option<String> =
            sqlx::query_scalar("SELECT dedup_key FROM entries WHERE id = ? AND deleted_at IS NULL")
                .bind(entry_id)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "UPDATE entries SET deleted_at = ?, deleted_by = ?, delete_reason = ?,
                 subject = '', body_text = '', from_json = NULL, to_json = '[]', cc_json = '[]',
                 date = NULL, message_id = NULL, dedup_key = ?, direction = NULL,
                 meta_json = '{}', details_json = '{}', reference_json = NULL, comm_type_id = NULL,
                 responsible_id = NULL, handled_at = NULL, handled_by = NULL, due_at = NULL,
                 task_status = NULL, close_comment = NULL, updated_at = ?
             WHERE id = ? AND deleted_at IS NULL RETURNING card_id, kind, occurred_at",
        )
        .bind(&now)
        .bind(by)
        .bind(reason)
        .bind(key.as_deref().map(deleted_key))
        .bind(&now)
        .bind(entry_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((card_id, kind, occurred_at)) = row else {
            return Err(StoreError::Conflict(
                "this entry is already deleted; its tombstone is kept".into(),
            ));
        };
        let docs: Vec<(i64, Option<String>, i64, String)> = sqlx::query_as(
            "UPDATE documents SET deleted_at = ?, deleted_by = ?, delete_reason = 'entry deleted', text = NULL
             WHERE entry_id = ? AND deleted_at IS NULL RETURNING id, filename, size, sha256",
        )
        .bind(&now)
        .bind(by)
        .bind(entry_id)
        .fetch_all(&mut *tx)
        .await?;
        for (_, _, _, sha) in &docs {
            erase_blob_unless_shared(&mut tx, sha).await?;
        }
        for table in ["entry_revisions", "entry_addresses", "entry_contacts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE entry_id = ?"))
                .bind(entry_id)
                .execute(&mut *tx)
                .await?;
        }
        // Messages no live entry uses any more are erased with their bytes.
        let orphans: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.id, m.sha256 FROM messages m
             WHERE m.state != 'erased'
               AND m.id IN (SELECT message_id FROM message_entries WHERE entry_id = ?1
                            UNION SELECT message_row FROM entries WHERE id = ?1)
               AND NOT EXISTS (SELECT 1 FROM message_entries me JOIN entries e ON e.id = me.entry_id
                               WHERE me.message_id = m.id AND e.deleted_at IS NULL)",
        )
        .bind(entry_id)
        .fetch_all(&mut *tx)
        .await?;
        for (id, sha) in &orphans {
            // What an API caller said about it (subject, text) goes too.
            sqlx::query(
                "UPDATE messages SET state = 'erased', annotations_json = NULL WHERE id = ?",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let users: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM messages WHERE sha256 = ? AND state != 'erased'",
            )
            .bind(sha)
            .fetch_one(&mut *tx)
            .await?;
            if users == 0 {
                pending(&mut tx, "spool", Some(sha), None).await?;
            }
        }
        pending(&mut tx, "index", None, Some(entry_id)).await?;
        let documents: Vec<_> = docs
            .iter()
            .map(|(id, name, size, sha)| {
                let mut d = doc_details(name, *size, sha);
                d["id"] = j!(id);
                d
            })
            .collect();
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "delete_entry",
                target: "entry",
                target_id: Some(entry_id),
                card_id: Some(card_id),
                details: j!({
                    "kind": kind,
                    "occurred_at": occurred_at,
                    "reason": reason,
                    "documents": documents,
                    "raw_messages_erased": orphans.len(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn pending_erasures(&self) -> Result<Vec<PendingErasure>> {
        Ok(
            sqlx::query_as("SELECT id, what, sha256, entry_id FROM pending_erasures ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// True when nothing live refers to these blob bytes any more.
    pub async fn blob_unused(&self, sha: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM documents WHERE sha256 = ? AND deleted_at IS NULL",
        )
        .bind(sha)
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 0)
    }

    /// True when no message that is not erased is stored as these bytes.
    pub async fn spool_unused(&self, sha: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE sha256 = ? AND state != 'erased'",
        )
        .bind(sha)
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 0)
    }

    pub async fn erasures_done(&self, ids: &[i64]) -> Result<()> {
        sqlx::query("DELETE FROM pending_erasures WHERE id IN (SELECT value FROM json_each(?))")
            .bind(super::entries::json(&ids))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Copies the WAL into the database and truncates it, so old page images
    /// (with deleted content) are gone from disk; `secure_delete` has already
    /// zeroed the freed space in the new ones. Readers in the middle of a
    /// query can make SQLite give up; it is retried a few times.
    pub async fn checkpoint(&self) -> Result<bool> {
        for attempt in 0..20u64 {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.writer)
                .await?;
            if busy == 0 {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10 * (attempt + 1))).await;
        }
        Ok(false)
    }
}
