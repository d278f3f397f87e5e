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

    /// Back to the queue, marked so the sender check lets it through.
    pub async fn release(&self, id: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE messages SET state = 'queued', released = 1, attempts = 0, last_error = NULL
             WHERE id = ? AND state = 'quarantined'",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a quarantined message's rows; returns its digest and whether any
    /// other message still uses the same raw bytes (so the caller may remove
    /// the spool file).
    pub async fn delete_quarantined(&self, id: i64) -> Result<(String, bool)> {
        let mut tx = self.writer.begin().await?;
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

    /// Lowercased addresses of every user: part of the team.
    pub async fn user_addresses(&self) -> Result<Vec<String>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT lower(email) FROM users")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }
}
