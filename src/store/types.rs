//! Communication types: admin-managed, kept on old entries when deactivated,
//! never deleted while an entry uses them.

use serde::Serialize;
use serde_json::json;

use super::audit::{insert_audit, AuditRecord};
use super::entries::{json, parse};
use super::{now_rfc3339, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommType {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub colour: String,
    /// `general` or `financial`.
    pub log: String,
    pub active: bool,
    /// Ingest rules: mail from these domains gets this type.
    pub sender_domains: Vec<String>,
    /// Ingest rules: a subject containing one of these words gets this type.
    pub subject_keywords: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The settable fields of a type.
#[derive(Debug, Clone)]
pub struct TypeFields {
    pub name: String,
    pub code: String,
    pub colour: String,
    pub log: String,
    pub active: bool,
    pub sender_domains: Vec<String>,
    pub subject_keywords: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct TypeRow {
    id: i64,
    name: String,
    code: String,
    colour: String,
    log: String,
    active: bool,
    sender_domains_json: String,
    subject_keywords_json: String,
    created_at: String,
    updated_at: String,
}

impl TypeRow {
    fn into_type(self) -> Result<CommType> {
        Ok(CommType {
            id: self.id,
            name: self.name,
            code: self.code,
            colour: self.colour,
            log: self.log,
            active: self.active,
            sender_domains: parse(&self.sender_domains_json)?,
            subject_keywords: parse(&self.subject_keywords_json)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const COLS: &str = "id, name, code, colour, log, active, sender_domains_json, \
                    subject_keywords_json, created_at, updated_at";

fn unique_violation(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
            "a communication type with this name or code already exists".into(),
        ),
        e => e.into(),
    }
}

impl Store {
    pub async fn comm_types(&self) -> Result<Vec<CommType>> {
        let rows: Vec<TypeRow> = sqlx::query_as(&format!(
            "SELECT {COLS} FROM communication_types ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TypeRow::into_type).collect()
    }

    pub async fn comm_type(&self, id: i64) -> Result<CommType> {
        let row: TypeRow = sqlx::query_as(&format!(
            "SELECT {COLS} FROM communication_types WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        row.into_type()
    }

    /// How many entries carry the type.
    pub async fn comm_type_usage(&self, id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE comm_type_id = ?")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn create_comm_type(&self, t: &TypeFields, by: i64) -> Result<CommType> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let row: TypeRow = sqlx::query_as(&format!(
            "INSERT INTO communication_types (name, code, colour, log, active, sender_domains_json,
                 subject_keywords_json, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLS}"
        ))
        .bind(&t.name)
        .bind(&t.code)
        .bind(&t.colour)
        .bind(&t.log)
        .bind(t.active)
        .bind(json(&t.sender_domains))
        .bind(json(&t.subject_keywords))
        .bind(&now)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation)?;
        let created = row.into_type()?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "type_create",
                target: "communication_type",
                target_id: Some(created.id),
                card_id: None,
                details: json!({"after": created}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Renames, recolours, (de)activates or changes the rules of a type; the
    /// entries keep pointing at it by id.
    pub async fn update_comm_type(&self, id: i64, t: &TypeFields, by: i64) -> Result<CommType> {
        let before = self.comm_type(id).await?;
        let mut tx = self.writer.begin().await?;
        let row: TypeRow = sqlx::query_as(&format!(
            "UPDATE communication_types SET name = ?, code = ?, colour = ?, log = ?, active = ?,
                 sender_domains_json = ?, subject_keywords_json = ?, updated_at = ?
             WHERE id = ? RETURNING {COLS}"
        ))
        .bind(&t.name)
        .bind(&t.code)
        .bind(&t.colour)
        .bind(&t.log)
        .bind(t.active)
        .bind(json(&t.sender_domains))
        .bind(json(&t.subject_keywords))
        .bind(now_rfc3339())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unique_violation)?
        .ok_or(StoreError::NotFound)?;
        let after = row.into_type()?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "type_update",
                target: "communication_type",
                target_id: Some(id),
                card_id: None,
                details: json!({"before": before, "after": after}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a type no entry uses; otherwise `InUse` with the count.
    pub async fn delete_comm_type(&self, id: i64, by: i64) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE comm_type_id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if used > 0 {
            return Err(StoreError::InUse(used));
        }
        let name: Option<(String, String)> =
            sqlx::query_as("DELETE FROM communication_types WHERE id = ? RETURNING name, code")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((name, code)) = name else {
            return Err(StoreError::NotFound);
        };
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "type_delete",
                target: "communication_type",
                target_id: Some(id),
                card_id: None,
                details: json!({"name": name, "code": code}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
