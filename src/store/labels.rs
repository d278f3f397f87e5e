//! Admin-managed labels: traits on contacts, actions on cards. A label in use
//! cannot be deleted (deactivate it instead).

use serde::Serialize;
use serde_json::json;

use super::audit::{insert_audit, AuditRecord};
use super::{now_rfc3339, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Label {
    pub id: i64,
    /// `trait` (on contacts) or `action` (on cards).
    pub kind: String,
    pub name: String,
    pub code: String,
    pub colour: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct LabelFields {
    pub name: String,
    pub code: String,
    pub colour: String,
    pub active: bool,
}

const COLS: &str = "id, kind, name, code, colour, active, created_at, updated_at";

fn unique_violation(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
            "a label of this kind with this name or code already exists".into(),
        ),
        e => e.into(),
    }
}

/// The table that links labels of this kind to what they label, and its column.
fn links(kind: &str) -> (&'static str, &'static str) {
    if kind == "trait" {
        ("contact_labels", "contact_id")
    } else {
        ("card_labels", "card_id")
    }
}

impl Store {
    pub async fn labels(&self, kind: Option<&str>) -> Result<Vec<Label>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLS} FROM labels WHERE ?1 IS NULL OR kind = ?1 ORDER BY kind, name"
        ))
        .bind(kind)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn label(&self, id: i64) -> Result<Label> {
        sqlx::query_as(&format!("SELECT {COLS} FROM labels WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// A label by id or code (`?label=` accepts either).
    pub async fn find_label(&self, kind: &str, key: &str) -> Result<Option<Label>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLS} FROM labels WHERE kind = ?1
               AND (CAST(id AS TEXT) = ?2 OR code = ?2 COLLATE NOCASE)"
        ))
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn label_usage(&self, label: &Label) -> Result<i64> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE label_id = ?",
            links(&label.kind).0
        ))
        .bind(label.id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn create_label(&self, kind: &str, f: &LabelFields, by: i64) -> Result<Label> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let label: Label = sqlx::query_as(&format!(
            "INSERT INTO labels (kind, name, code, colour, active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {COLS}"
        ))
        .bind(kind)
        .bind(&f.name)
        .bind(&f.code)
        .bind(&f.colour)
        .bind(f.active)
        .bind(&now)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation)?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "label_create",
                target: "label",
                target_id: Some(label.id),
                card_id: None,
                details: json!({"after": label}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(label)
    }

    pub async fn update_label(&self, id: i64, f: &LabelFields, by: i64) -> Result<Label> {
        let before = self.label(id).await?;
        let mut tx = self.writer.begin().await?;
        let after: Label = sqlx::query_as(&format!(
            "UPDATE labels SET name = ?, code = ?, colour = ?, active = ?, updated_at = ?
             WHERE id = ? RETURNING {COLS}"
        ))
        .bind(&f.name)
        .bind(&f.code)
        .bind(&f.colour)
        .bind(f.active)
        .bind(now_rfc3339())
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation)?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "label_update",
                target: "label",
                target_id: Some(id),
                card_id: None,
                details: json!({"before": before, "after": after}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_label(&self, id: i64, by: i64) -> Result<()> {
        let label = self.label(id).await?;
        let mut tx = self.writer.begin().await?;
        let used: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE label_id = ?",
            links(&label.kind).0
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if used > 0 {
            return Err(StoreError::InUse(used));
        }
        sqlx::query("DELETE FROM labels WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                actor_id: Some(by),
                action: "label_delete",
                target: "label",
                target_id: Some(id),
                card_id: None,
                details: json!({"kind": label.kind, "name": label.name, "code": label.code}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts an active label of the right kind on a card (`action`) or a
    /// contact (`trait`); `false` when it was already there.
    pub async fn add_label(&self, label: &Label, target: i64, by: i64) -> Result<bool> {
        let (table, col) = links(&label.kind);
        let done = sqlx::query(&format!(
            "INSERT OR IGNORE INTO {table} ({col}, label_id, added_at, added_by) VALUES (?, ?, ?, ?)"
        ))
        .bind(target)
        .bind(label.id)
        .bind(now_rfc3339())
        .bind(by)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn remove_label(&self, label: &Label, target: i64) -> Result<bool> {
        let (table, col) = links(&label.kind);
        let done = sqlx::query(&format!(
            "DELETE FROM {table} WHERE {col} = ? AND label_id = ?"
        ))
        .bind(target)
        .bind(label.id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Labels on a card (actions) or a contact (traits).
    pub async fn labels_of(&self, kind: &str, target: i64) -> Result<Vec<Label>> {
        let (table, col) = links(kind);
        Ok(sqlx::query_as(&format!(
            "SELECT l.id, l.kind, l.name, l.code, l.colour, l.active, l.created_at, l.updated_at
             FROM labels l JOIN {table} t ON t.label_id = l.id WHERE t.{col} = ? ORDER BY l.name"
        ))
        .bind(target)
        .fetch_all(&self.pool)
        .await?)
    }
}
