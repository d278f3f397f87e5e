//! The durable ingest queue (`messages` + `message_cards`).

use super::{now_rfc3339, Result, Store};

/// A message whose raw bytes are already fsync'd in the spool.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sha256: String,
    pub size: i64,
    pub source: &'static str,
    pub mail_from: String,
    pub helo: String,
    pub peer: String,
    /// (card id, the recipient address that routed to it)
    pub cards: Vec<(i64, String)>,
    /// Put there by an authenticated user (upload, import): the
    /// `archive.accept_from` sender check does not apply.
    pub trusted: bool,
    /// Set when the message must wait for an admin (e.g. no card found).
    pub quarantine: Option<String>,
    /// What an API caller said about the message.
    pub annotations: Option<Annotations>,
}

/// What another system said about an original it logged through the API; the
/// worker puts it on the entries the message yields.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Annotations {
    pub author_id: Option<i64>,
    pub comm_type_id: Option<i64>,
    pub reference: Option<serde_json::Value>,
    /// The caller's id for the item: a retry with the same id is a duplicate.
    pub external_id: Option<String>,
    /// Fields the caller gave that win over the parsed ones.
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub occurred_at: Option<i64>,
    pub direction: Option<String>,
}

#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: i64,
    pub sha256: String,
    pub received_at: String,
    pub size: i64,
    /// Counting the one in progress.
    pub attempts: i64,
    pub released: bool,
    /// (card, the recipient address that routed to it)
    pub cards: Vec<(i64, String)>,
    pub annotations: Option<Annotations>,
}

impl QueuedMessage {
    pub fn card_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.cards.iter().map(|(c, _)| *c)
    }
}

impl Store {
    /// Inserts a batch of messages in ONE transaction (group commit): when this
    /// returns Ok, every row is durable.
    pub async fn enqueue(&self, batch: &[NewMessage]) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let mut ids = Vec::with_capacity(batch.len());
        for m in batch {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO messages (sha256, size, source, mail_from, helo, peer, received_at, released,
                                       state, last_error, annotations_json)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&m.sha256)
            .bind(m.size)
            .bind(m.source)
            .bind(&m.mail_from)
            .bind(&m.helo)
            .bind(&m.peer)
            .bind(&now)
            .bind(m.trusted)
            .bind(if m.quarantine.is_some() { "quarantined" } else { "queued" })
            .bind(&m.quarantine)
            .bind(m.annotations.as_ref().map(|a| serde_json::to_string(a).expect("plain data")))
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT OR IGNORE INTO message_cards (message_id, card_id, rcpt)
                 SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
            )
            .bind(id)
            .bind(serde_json::to_string(&m.cards).expect("pairs serialize"))
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The next batch, oldest first, with its attempt counted durably before
    /// the caller processes it. `stored` rows are included: processing is
    /// idempotent, and a row left `stored` by a failed state update must not
    /// wait for a restart.
    ///
    /// A message whose attempts were interrupted `max_attempts` times (the
    /// process died with it) is parked as `failed` first. A message with an
    /// earlier attempt is a suspect and gets a batch of its own, so the one
    /// that stops the process is told apart from its batch mates.
    pub async fn take_batch(
        &self,
        limit: u32,
        max_bytes: u64,
        max_attempts: u32,
    ) -> Result<Vec<QueuedMessage>> {
        sqlx::query(
            "UPDATE messages SET state = 'failed',
                    last_error = 'processing was interrupted ' || attempts || ' times: the gateway \
stopped (crashed, was killed or ran out of memory) while handling this message'
                                 || COALESCE(' (last error: ' || last_error || ')', '')
             WHERE state IN ('queued', 'stored') AND attempts >= ?",
        )
        .bind(max_attempts)
        .execute(&self.writer)
        .await?;
        let rows = self.queued(limit).await?;
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        for m in rows {
            let suspect = m.attempts > 0;
            if !batch.is_empty() && (suspect || bytes + m.size as u64 > max_bytes) {
                break;
            }
            bytes += m.size as u64;
            batch.push(m);
            if suspect {
                break;
            }
        }
        if batch.is_empty() {
            return Ok(batch);
        }
        let ids: Vec<i64> = batch.iter().map(|m| m.id).collect();
        sqlx::query(
            "UPDATE messages SET attempts = attempts + 1
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&ids).expect("ids serialize"))
        .execute(&self.writer)
        .await?;
        for m in &mut batch {
            m.attempts += 1;
        }
        Ok(batch)
    }

    async fn queued(&self, limit: u32) -> Result<Vec<QueuedMessage>> {
        type Row = (
            i64,
            String,
            String,
            i64,
            i64,
            bool,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT m.id, m.sha256, m.received_at, m.size, m.attempts, m.released,
                    (SELECT json_group_array(json_array(card_id, rcpt)) FROM message_cards
                     WHERE message_id = m.id),
                    m.annotations_json
             FROM messages m WHERE m.state IN ('queued', 'stored') ORDER BY m.id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(id, sha256, received_at, size, attempts, released, cards, annotations)| {
                    Ok(QueuedMessage {
                        id,
                        sha256,
                        received_at,
                        size,
                        attempts,
                        released,
                        cards: cards
                            .as_deref()
                            .map(super::entries::parse)
                            .transpose()?
                            .unwrap_or_default(),
                        annotations: annotations
                            .as_deref()
                            .map(super::entries::parse)
                            .transpose()?,
                    })
                },
            )
            .collect()
    }

    /// One statement for the whole batch: each statement is a round trip to
    /// SQLite's worker thread.
    /// Only queue states change: a message erased meanwhile stays erased.
    pub async fn set_message_state(&self, ids: &[i64], state: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE messages SET state = ?
             WHERE state IN ('queued', 'stored', 'done') AND id IN (SELECT value FROM json_each(?))",
        )
            .bind(state)
            .bind(serde_json::to_string(ids).expect("ids serialize"))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records why an attempt (already counted by `take_batch`) failed; after
    /// `max_attempts` the message is parked as `failed` (kept with its error,
    /// never dropped).
    pub async fn message_failed(&self, id: i64, error: &str, max_attempts: u32) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET last_error = ?,
                    state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'queued' END
             WHERE id = ?",
        )
        .bind(error)
        .bind(max_attempts)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// At start-up: entries of `stored` messages may not have reached the index
    /// before a crash, so they go through the (idempotent) worker again.
    pub async fn requeue_unindexed(&self) -> Result<u64> {
        Ok(
            sqlx::query("UPDATE messages SET state = 'queued' WHERE state = 'stored'")
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }

    pub async fn pending_count(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE state IN ('queued', 'stored')")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

impl Store {
    /// The queue state of a message (`queued`, `stored`, `done`, `failed`).
    pub async fn message_state(&self, id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM messages WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// A stored message as an export needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRef {
    pub id: i64,
    pub sha256: String,
    pub mail_from: Option<String>,
    pub received_at: String,
}

impl Store {
    /// The distinct messages behind a card's email entries, in the order the
    /// correspondence happened.
    pub async fn card_messages(&self, card_id: i64) -> Result<Vec<MessageRef>> {
        Ok(sqlx::query_as(
            "SELECT m.id, m.sha256, m.mail_from, m.received_at
             FROM entries e JOIN messages m ON m.id = e.message_row
             WHERE e.card_id = ? AND e.deleted_at IS NULL AND m.state != 'erased'
             GROUP BY m.id ORDER BY MIN(e.occurred_at), m.id",
        )
        .bind(card_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
