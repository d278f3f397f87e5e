//! IMAP messages over the size limit, kept without their bytes (migration 0006).

use serde::Serialize;

use super::{now_rfc3339, Result, Store, StoreError};

/// What the poller knows of a message it did not fetch.
#[derive(Debug, Clone)]
pub struct NewImapSkipped {
    pub account: String,
    pub folder: String,
    pub uid_validity: i64,
    pub uid: i64,
    pub size: i64,
    pub max_bytes: i64,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ImapSkipped {
    pub id: i64,
    pub account: String,
    pub folder: String,
    pub uid_validity: i64,
    pub uid: i64,
    pub size: i64,
    /// The account's limit when it was skipped.
    pub max_message_bytes: i64,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub message_id: Option<String>,
    pub skipped_at: String,
    /// `skipped`, `retry` (waiting for the next poll) or `gone`.
    pub state: String,
    pub note: Option<String>,
}

/// What a retry found.
#[derive(Debug, Clone)]
pub enum ImapRetryOutcome {
    /// Fetched and handed to ingest: the row goes.
    Taken,
    /// Not on the server any more (or the folder was renumbered).
    Gone(String),
    /// Still over the account's limit.
    StillTooLarge(String),
}

const COLUMNS: &str =
    "id, account, folder, uid_validity, uid, size, max_bytes AS max_message_bytes,
    subject, sender AS \"from\", message_id, skipped_at, state, note";

impl Store {
    /// Idempotent: the same message skipped again (after a crash) keeps its first row.
    pub async fn record_imap_skipped(&self, m: &NewImapSkipped) -> Result<()> {
        sqlx::query(
            "INSERT INTO imap_skipped (account, folder, uid_validity, uid, size, max_bytes,
                 subject, sender, message_id, skipped_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (account, folder, uid_validity, uid) DO NOTHING",
        )
        .bind(&m.account)
        .bind(&m.folder)
        .bind(m.uid_validity)
        .bind(m.uid)
        .bind(m.size)
        .bind(m.max_bytes)
        .bind(&m.subject)
        .bind(&m.from)
        .bind(&m.message_id)
        .bind(now_rfc3339())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn imap_skipped(&self, limit: i64, offset: i64) -> Result<(i64, Vec<ImapSkipped>)> {
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM imap_skipped")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM imap_skipped ORDER BY id DESC LIMIT ? OFFSET ?"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, rows))
    }

    pub async fn imap_skipped_one(&self, id: i64) -> Result<ImapSkipped> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM imap_skipped WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Messages of the account not fetched yet (skipped or waiting for a retry).
    pub async fn imap_skipped_count(&self, account: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM imap_skipped WHERE account = ? AND state IN ('skipped', 'retry')",
        )
        .bind(account)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The folder's retries an admin asked for: (id, uid_validity, uid).
    pub async fn imap_retries(&self, account: &str, folder: &str) -> Result<Vec<(i64, i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT id, uid_validity, uid FROM imap_skipped
             WHERE account = ? AND folder = ? AND state = 'retry' ORDER BY uid",
        )
        .bind(account)
        .bind(folder)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn request_imap_retry(&self, id: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE imap_skipped SET state = 'retry', note = NULL WHERE id = ? AND state != 'gone'",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn finish_imap_retry(&self, id: i64, outcome: &ImapRetryOutcome) -> Result<()> {
        let q = match outcome {
            ImapRetryOutcome::Taken => sqlx::query("DELETE FROM imap_skipped WHERE id = ?"),
            ImapRetryOutcome::Gone(note) => {
                sqlx::query("UPDATE imap_skipped SET state = 'gone', note = ? WHERE id = ?")
                    .bind(note)
            }
            ImapRetryOutcome::StillTooLarge(note) => {
                sqlx::query("UPDATE imap_skipped SET state = 'skipped', note = ? WHERE id = ?")
                    .bind(note)
            }
        };
        q.bind(id).execute(&self.writer).await?;
        Ok(())
    }

    /// An admin handled the message by hand.
    pub async fn dismiss_imap_skipped(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM imap_skipped WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
