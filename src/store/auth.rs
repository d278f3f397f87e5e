//! Sender authentication results beside each message (`message_auth`), and
//! what the worker needs to compute them (the stored SMTP envelope).

use std::collections::HashMap;

use super::entries::{json, parse};
use super::{now_rfc3339, Result, Store};
use crate::domain::AuthResults;

/// A queued message as sender authentication sees it.
#[derive(Debug, Clone)]
pub struct AuthInput {
    pub id: i64,
    pub sha256: String,
    pub source: String,
    /// SMTP: the client's `ip:port`; IMAP: `imap:<account>/<folder>`.
    pub peer: String,
    pub helo: String,
    pub mail_from: String,
    /// Results stored by an earlier processing, reused as they are.
    pub stored: Option<AuthResults>,
}

impl Store {
    /// The envelopes (and any stored results) of these messages.
    pub async fn auth_inputs(&self, ids: &[i64]) -> Result<Vec<AuthInput>> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT m.id, m.sha256, m.source, m.peer, m.helo, m.mail_from, a.details_json
             FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id
             WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id",
        )
        .bind(json(&ids))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, sha256, source, peer, helo, mail_from, stored)| {
                Ok(AuthInput {
                    id,
                    sha256,
                    source,
                    peer: peer.unwrap_or_default(),
                    helo: helo.unwrap_or_default(),
                    mail_from: mail_from.unwrap_or_default(),
                    stored: stored.as_deref().map(parse).transpose()?,
                })
            })
            .collect()
    }

    /// Keeps messages' results, in one transaction; a second write for the
    /// same message (a race) leaves the first.
    pub async fn save_message_auth(&self, results: &[(i64, AuthResults)]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = now_rfc3339();
        let mut tx = self.writer.begin().await?;
        for (id, r) in results {
            sqlx::query(
                "INSERT OR IGNORE INTO message_auth
                     (message_id, spf, dkim, dmarc, aligned, details_json, checked_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(r.spf.as_str())
            .bind(r.dkim.as_str())
            .bind(r.dmarc.as_str())
            .bind(r.aligned)
            .bind(json(r))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored results of these messages (those that have any).
    pub async fn message_auth(&self, ids: &[i64]) -> Result<HashMap<i64, AuthResults>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT message_id, details_json FROM message_auth
             WHERE message_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json(&ids))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, j)| Ok((id, parse(&j)?)))
            .collect()
    }
}
