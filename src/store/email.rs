//! Email entries as the ingest worker stores them, and what became of each
//! queued message.

use std::collections::HashMap;

use super::entries::json;
use super::erase::{deleted_key, erase_blob_unless_shared, pending};
use super::{now_rfc3339, Result, Store};
use super::{NewEmailEntry, StoredEntry};
use crate::domain::Mailbox;

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

/// Who took part in an email, for contacts' history.
pub(super) async fn insert_addresses(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    entry: i64,
    from: Option<&Mailbox>,
    to: &[Mailbox],
    cc: &[Mailbox],
) -> Result<()> {
    let mut rows: Vec<(String, &str)> = Vec::new();
    let people = from
        .into_iter()
        .map(|m| (m, "from"))
        .chain(to.iter().map(|m| (m, "to")))
        .chain(cc.iter().map(|m| (m, "cc")));
    for (m, role) in people {
        if let Some(a) = m.address.as_deref() {
            rows.push((a.trim().to_lowercase(), role));
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT OR IGNORE INTO entry_addresses (entry_id, address, role)
         SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
    )
    .bind(entry)
    .bind(json(&rows))
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
        // Tombstones of the same mail, in one statement for the batch.
        let keys: Vec<(i64, String)> = entries
            .iter()
            .map(|e| (e.card_id, deleted_key(&e.dedup_key)))
            .collect();
        let deleted: HashMap<(i64, String), i64> = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT e.card_id, e.dedup_key, e.id FROM json_each(?) j
             JOIN entries e ON e.card_id = json_extract(j.value, '$[0]')
                           AND e.dedup_key = json_extract(j.value, '$[1]')",
        )
        .bind(json(&keys))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(card, key, id)| ((card, key), id))
        .collect();
        for (e, key) in entries.iter().zip(keys) {
            if let Some(&tomb) = deleted.get(&key) {
                link(&mut tx, e.message_row, tomb, true).await?;
                for d in &e.documents {
                    erase_blob_unless_shared(&mut tx, &d.sha256).await?;
                }
                out.push(StoredEntry::Deleted(tomb));
                continue;
            }
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO entries (card_id, kind, message_row, dedup_key, subject, from_json,
                     to_json, cc_json, date, occurred_at, body_text, message_id, direction,
                     meta_json, created_at, author_kind, author_id, comm_type_id, reference_json)
                 VALUES (?, 'email', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
            .bind(e.author_kind)
            .bind(e.author_id)
            .bind(e.comm_type_id)
            .bind(e.reference.as_ref().map(json))
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
                                            text, text_status, created_at, uploaded_by)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                .bind(e.author_id)
                .execute(&mut *tx)
                .await?;
            }
            insert_addresses(&mut tx, id, e.from.as_ref(), &e.to, &e.cc).await?;
            link(&mut tx, e.message_row, id, false).await?;
            out.push(StoredEntry::Inserted(id));
        }
        sqlx::query(
            "UPDATE messages SET state = 'stored'
             WHERE state IN ('queued', 'stored') AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(json(&messages))
        .execute(&mut *tx)
        .await?;
        if out.iter().any(|s| matches!(s, StoredEntry::Deleted(_))) {
            // A message that only brought deleted mail back goes, bytes and all.
            let gone: Vec<String> = sqlx::query_scalar(
                "UPDATE messages SET state = 'erased', annotations_json = NULL
                 WHERE id IN (SELECT value FROM json_each(?))
                   AND NOT EXISTS (SELECT 1 FROM message_entries me JOIN entries e ON e.id = me.entry_id
                                   WHERE me.message_id = messages.id AND e.deleted_at IS NULL)
                 RETURNING sha256",
            )
            .bind(json(&messages))
            .fetch_all(&mut *tx)
            .await?;
            for sha in gone {
                pending(&mut tx, "spool", Some(&sha), None).await?;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

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
