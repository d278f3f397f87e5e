//! The append-only audit log (the database refuses UPDATE and DELETE on it).

use serde::Serialize;
use serde_json::Value;

use super::entries::{json, parse};
use super::{now_rfc3339, Result, Store};

pub struct AuditRecord<'a> {
    pub actor_id: Option<i64>,
    /// `delete_document`, `delete_entry`, `reopen_task`, `policy_change`,
    /// `type_create`, `type_update`, `type_delete`, `label_*`.
    pub action: &'a str,
    pub target: &'a str,
    pub target_id: Option<i64>,
    pub card_id: Option<i64>,
    pub details: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub target_id: Option<i64>,
    pub card_id: Option<i64>,
    pub details: Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: String,
    actor_id: Option<i64>,
    action: String,
    target: String,
    target_id: Option<i64>,
    card_id: Option<i64>,
    details_json: String,
}

pub(super) async fn insert_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    r: &AuditRecord<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, action, target, target_id, card_id, details_json)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(now_rfc3339())
    .bind(r.actor_id)
    .bind(r.action)
    .bind(r.target)
    .bind(r.target_id)
    .bind(r.card_id)
    .bind(json(&r.details))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<i64>,
    pub card_id: Option<i64>,
    /// Events with an id below this (newest first paging).
    pub before_id: Option<i64>,
}

impl Store {
    /// Newest first.
    pub async fn audit_events(
        &self,
        f: &AuditFilter,
        limit: i64,
    ) -> Result<(i64, Vec<AuditEvent>)> {
        let cond = "(?1 IS NULL OR action = ?1) AND (?2 IS NULL OR actor_id = ?2)
                    AND (?3 IS NULL OR card_id = ?3)";
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE {cond}"))
                .bind(&f.action)
                .bind(f.actor_id)
                .bind(f.card_id)
                .fetch_one(&self.pool)
                .await?;
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT id, at, actor_id, action, target, target_id, card_id, details_json
             FROM audit_log WHERE {cond} AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
        ))
        .bind(&f.action)
        .bind(f.actor_id)
        .bind(f.card_id)
        .bind(f.before_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .into_iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.id,
                    at: r.at,
                    actor_id: r.actor_id,
                    action: r.action,
                    target: r.target,
                    target_id: r.target_id,
                    card_id: r.card_id,
                    details: parse(&r.details_json)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((total, events))
    }

    /// Writes one audit event on its own (for changes that are one statement).
    pub async fn audit(&self, r: &AuditRecord<'_>) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        insert_audit(&mut tx, r).await?;
        tx.commit().await?;
        Ok(())
    }
}
