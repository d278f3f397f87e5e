//! Messages held back because their sender is not allowed to archive.

use serde::Serialize;

use super::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Quarantined {
    pub id: i64,
    pub received_at: String,
    pub source: String,
    /// The envelope sender (SMTP MAIL FROM) where there was one.
    pub mail_from: Option<String>,
    pub reason: Option<String>,
    pub size: i64,
    #[serde(skip)]
    pub sha256: String,
    #[serde(skip)]
    pub card_list: Option<String>,
}

impl Store {
    pub async fn quarantine(&self, id: i64, reason: &str) -> Result<()> {
        sqlx::query("UPDATE messages SET state = 'quarantined', last_error = ? WHERE id = ?")
            .bind(reason)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Total size of the raw messages held in the quarantine (an index-only
    /// sum over the `messages_quarantined_size` index).
    pub async fn quarantine_bytes(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(SUM(size), 0) FROM messages WHERE state = 'quarantined'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn quarantined(&self, limit: i64, offset: i64) -> Result<(i64, Vec<Quarantined>)> {
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE state = 'quarantined'")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(
            "SELECT m.id, m.received_at, m.source, m.mail_from, m.last_error AS reason, m.size, m.sha256,
                    (SELECT group_concat(card_id) FROM message_cards WHERE message_id = m.id) AS card_list
             FROM messages m WHERE m.state = 'quarantined' ORDER BY m.id DESC LIMIT ? OFFSET ?",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, rows))
    }

    pub async fn quarantined_one(&self, id: i64) -> Result<Quarantined> {
        sqlx::query_as(
            "SELECT m.id, m.received_at, m.source, m.mail_from, m.last_error AS reason, m.size, m.sha256,
                    (SELECT group_concat(card_id) FROM message_cards WHERE message_id = m.id) AS card_list
             FROM messages m WHERE m.id = ? AND m.state = 'quarantined'",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Back to the queue, marked so the sender check lets it through; `card`
    /// routes a message that had no card. `audit` (who released it, and the
    /// sender authentication verdict) is written in the same transaction.
    pub async fn release(
        &self,
        id: i64,
        card: Option<i64>,
        audit: &super::AuditRecord<'_>,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        // Write first, so the transaction holds the write lock before it reads.
        let done = sqlx::query(
            "UPDATE messages SET state = 'queued', released = 1, attempts = 0, last_error = NULL
             WHERE id = ? AND state = 'quarantined'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(card) = card {
            sqlx::query(
                "INSERT OR IGNORE INTO message_cards (message_id, card_id, rcpt)
                 VALUES (?, ?, 'released by admin')",
            )
            .bind(id)
            .bind(card)
            .execute(&mut *tx)
            .await?;
        }
        let routed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM message_cards WHERE message_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if routed == 0 {
            // Dropping the transaction rolls the release back.
            return Err(StoreError::Conflict(
                "this message routes to no card: release it with {\"card_id\": N}".into(),
            ));
        }
        super::audit::insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a quarantined message's rows; returns its digest and whether any
    /// other message still uses the same raw bytes (so the caller may remove
    /// the spool file).
    pub async fn delete_quarantined(&self, id: i64) -> Result<(String, bool)> {
        let mut tx = self.writer.begin().await?;
        // A message that already produced entries (quarantined again after a
        // config change) is history now: deleting it is a history operation.
        let entries: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM message_entries WHERE message_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if entries > 0 {
            return Err(StoreError::Conflict(
                "this message already has entries on a card; it cannot be deleted from the quarantine".into(),
            ));
        }
        // The routing rows reference the message, so they go first.
        sqlx::query(
            "DELETE FROM message_cards WHERE message_id =
                 (SELECT id FROM messages WHERE id = ? AND state = 'quarantined')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let sha: String = sqlx::query_scalar(
            "DELETE FROM messages WHERE id = ? AND state = 'quarantined' RETURNING sha256",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let shared: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE sha256 = ?")
            .bind(&sha)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((sha, shared > 0))
    }

    /// True when these exact bytes already wait in the quarantine (an IMAP
    /// rescan fetches them again).
    pub async fn is_quarantined(&self, sha256: &str) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM messages WHERE sha256 = ? AND state = 'quarantined'",
        )
        .bind(sha256)
        .fetch_one(&self.pool)
        .await?
            > 0)
    }
}

impl Store {
    pub async fn imap_cursor(&self, account: &str, folder: &str) -> Result<Option<(i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT uid_validity, last_uid FROM imap_cursors WHERE account = ? AND folder = ?",
        )
        .bind(account)
        .bind(folder)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn save_imap_cursor(
        &self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        last_uid: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO imap_cursors (account, folder, uid_validity, last_uid) VALUES (?, ?, ?, ?)
             ON CONFLICT (account, folder) DO UPDATE SET uid_validity = excluded.uid_validity,
                                                         last_uid = excluded.last_uid",
        )
        .bind(account)
        .bind(folder)
        .bind(uid_validity)
        .bind(last_uid)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

/// A message that could not be processed after `ingest.max_attempts` tries.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FailedMessage {
    pub id: i64,
    pub received_at: String,
    pub source: String,
    pub attempts: i64,
    pub error: Option<String>,
}

impl Store {
    pub async fn failed_messages(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<FailedMessage>)> {
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE state = 'failed'")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(
            "SELECT id, received_at, source, attempts, last_error AS error
             FROM messages WHERE state = 'failed' ORDER BY id DESC LIMIT ? OFFSET ?",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, rows))
    }

    /// Gives a failed message a fresh set of attempts.
    pub async fn retry_failed(&self, id: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE messages SET state = 'queued', attempts = 0 WHERE id = ? AND state = 'failed'",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
