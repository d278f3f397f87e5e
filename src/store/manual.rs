//! Entries people and other systems write (notes, calls, tasks, documents,
//! logged mail), their edits with revisions, and card changes that leave a
//! `status_change` / `field_change` entry.

use serde::Serialize;
use serde_json::{json as j, Map, Value};
use sqlx::{QueryBuilder, Sqlite};

use super::audit::{insert_audit, AuditRecord};
use super::entries::{json, parse};
use super::{now_rfc3339, NewDocument, Result, Store, StoreError};
use crate::domain::Mailbox;

/// A new entry that is not ingested mail.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub card_id: i64,
    pub kind: String,
    /// `user` or `system`.
    pub author_kind: String,
    pub author_id: Option<i64>,
    pub subject: String,
    pub body_text: String,
    pub occurred_at: i64,
    pub direction: Option<String>,
    pub comm_type_id: Option<i64>,
    pub reference: Option<Value>,
    pub details: Value,
    pub responsible_id: Option<i64>,
    pub due_at: Option<String>,
    pub task_status: Option<String>,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Set by callers that may retry (another system's `external_id`).
    pub dedup_key: Option<String>,
    pub contact_ids: Vec<i64>,
    pub documents: Vec<NewDocument>,
}

/// What an edit changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EntryChange {
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub occurred_at: Option<i64>,
    pub comm_type_id: Option<Option<i64>>,
    pub responsible_id: Option<Option<i64>>,
    pub handled: Option<bool>,
    pub due_at: Option<Option<String>>,
    pub task_status: Option<String>,
    pub close_comment: Option<Option<String>>,
    pub direction: Option<Option<String>>,
    pub details: Option<Value>,
    pub reference: Option<Option<Value>>,
    pub contact_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Revision {
    pub id: i64,
    pub revised_at: String,
    pub revised_by: Option<i64>,
    /// `edit`, `close`, `reopen`, `assign`, `handled`, ...
    pub change: String,
    #[serde(skip)]
    pub before_json: String,
    #[serde(skip)]
    pub after_json: String,
}

impl Revision {
    pub fn before(&self) -> Value {
        serde_json::from_str(&self.before_json).unwrap_or(Value::Null)
    }
    pub fn after(&self) -> Value {
        serde_json::from_str(&self.after_json).unwrap_or(Value::Null)
    }
}

/// A card's own fields, before and after a change.
#[derive(Debug, Clone, Default)]
pub struct CardChange {
    pub title: Option<String>,
    pub status: Option<String>,
    pub campaign: Option<Option<String>>,
    pub source: Option<Option<String>>,
    /// Free-form fields; `None` as a value removes the field.
    pub fields: Map<String, Value>,
}

async fn link_contacts(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    entry: i64,
    card: i64,
    contacts: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM entry_contacts WHERE entry_id = ?")
        .bind(entry)
        .execute(&mut **tx)
        .await?;
    let mut contacts = contacts.to_vec();
    contacts.sort_unstable();
    contacts.dedup();
    if contacts.is_empty() {
        return Ok(());
    }
    let linked = sqlx::query(
        "INSERT INTO entry_contacts (entry_id, contact_id)
         SELECT ?, c.id FROM contacts c
         WHERE c.card_id = ? AND c.id IN (SELECT value FROM json_each(?))",
    )
    .bind(entry)
    .bind(card)
    .bind(json(&contacts))
    .execute(&mut **tx)
    .await?;
    if linked.rows_affected() as usize != contacts.len() {
        return Err(StoreError::Invalid(
            "contact_ids must be contacts of this card".into(),
        ));
    }
    Ok(())
}

pub(super) async fn insert_entry(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    e: &NewEntry,
    now: &str,
) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO entries (card_id, kind, dedup_key, subject, from_json, to_json, cc_json,
             occurred_at, body_text, direction, created_at, author_kind, author_id, comm_type_id,
             reference_json, details_json, responsible_id, due_at, task_status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (card_id, dedup_key) DO NOTHING RETURNING id",
    )
    .bind(e.card_id)
    .bind(&e.kind)
    .bind(&e.dedup_key)
    .bind(&e.subject)
    .bind(e.from.as_ref().map(json))
    .bind(json(&e.to))
    .bind(json(&e.cc))
    .bind(e.occurred_at)
    .bind(&e.body_text)
    .bind(&e.direction)
    .bind(now)
    .bind(&e.author_kind)
    .bind(e.author_id)
    .bind(e.comm_type_id)
    .bind(e.reference.as_ref().map(json))
    .bind(json(&e.details))
    .bind(e.responsible_id)
    .bind(&e.due_at)
    .bind(&e.task_status)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    super::email::insert_addresses(tx, id, e.from.as_ref(), &e.to, &e.cc).await?;
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
        .bind(now)
        .bind(e.author_id)
        .execute(&mut **tx)
        .await?;
    }
    link_contacts(tx, id, e.card_id, &e.contact_ids).await?;
    Ok(Some(id))
}

/// The fields an edit may touch, as they are now.
#[derive(sqlx::FromRow)]
struct Editable {
    card_id: i64,
    subject: String,
    body_text: String,
    occurred_at: i64,
    comm_type_id: Option<i64>,
    responsible_id: Option<i64>,
    handled_at: Option<String>,
    due_at: Option<String>,
    task_status: Option<String>,
    close_comment: Option<String>,
    direction: Option<String>,
    details_json: String,
    reference_json: Option<String>,
}

impl Store {
    /// Creates an entry; with a `dedup_key` already on the card, returns the
    /// existing entry's id and `false`.
    pub async fn create_entry(&self, e: &NewEntry) -> Result<(i64, bool)> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        match insert_entry(&mut tx, e, &now).await? {
            Some(id) => {
                tx.commit().await?;
                Ok((id, true))
            }
            None => {
                let id = sqlx::query_scalar(
                    "SELECT id FROM entries WHERE card_id = ? AND dedup_key = ?",
                )
                .bind(e.card_id)
                .bind(&e.dedup_key)
                .fetch_one(&mut *tx)
                .await?;
                Ok((id, false))
            }
        }
    }

    /// Applies an edit and keeps what it changed as a revision (`change` names
    /// it). Returns false when nothing differed. Tombstones are never edited.
    pub async fn update_entry(
        &self,
        id: i64,
        change: &EntryChange,
        by: i64,
        label: &str,
        audit: Option<AuditRecord<'_>>,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let cur: Editable = sqlx::query_as(
            "SELECT card_id, subject, body_text, occurred_at, comm_type_id, responsible_id,
                    handled_at, due_at, task_status, close_comment, direction, details_json,
                    reference_json
             FROM entries WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut before = Map::new();
        let mut after = Map::new();
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE entries SET updated_at = ");
        qb.push_bind(now.clone());
        macro_rules! field {
            ($name:literal, $col:literal, $new:expr, $old:expr) => {
                if let Some(new) = $new {
                    let old = $old;
                    if new != old {
                        before.insert($name.into(), j!(old));
                        after.insert($name.into(), j!(new));
                        qb.push(concat!(", ", $col, " = ")).push_bind(new);
                    }
                }
            };
        }
        field!(
            "subject",
            "subject",
            change.subject.clone(),
            cur.subject.clone()
        );
        field!(
            "text",
            "body_text",
            change.body_text.clone(),
            cur.body_text.clone()
        );
        field!(
            "occurred_at",
            "occurred_at",
            change.occurred_at,
            cur.occurred_at
        );
        field!(
            "communication_type_id",
            "comm_type_id",
            change.comm_type_id,
            cur.comm_type_id
        );
        field!(
            "responsible_id",
            "responsible_id",
            change.responsible_id,
            cur.responsible_id
        );
        field!(
            "due_at",
            "due_at",
            change.due_at.clone(),
            cur.due_at.clone()
        );
        field!(
            "task_status",
            "task_status",
            change.task_status.clone().map(Some),
            cur.task_status.clone()
        );
        field!(
            "close_comment",
            "close_comment",
            change.close_comment.clone(),
            cur.close_comment.clone()
        );
        field!(
            "direction",
            "direction",
            change.direction.clone(),
            cur.direction.clone()
        );
        if let Some(handled) = change.handled {
            if handled != cur.handled_at.is_some() {
                before.insert("handled_at".into(), j!(cur.handled_at));
                if handled {
                    after.insert("handled_at".into(), j!(now));
                    qb.push(", handled_at = ")
                        .push_bind(now.clone())
                        .push(", handled_by = ")
                        .push_bind(by);
                } else {
                    after.insert("handled_at".into(), Value::Null);
                    qb.push(", handled_at = NULL, handled_by = NULL");
                }
            }
        }
        if let Some(details) = &change.details {
            let old: Value = parse(&cur.details_json)?;
            if *details != old {
                before.insert("details".into(), old);
                after.insert("details".into(), details.clone());
                qb.push(", details_json = ").push_bind(json(details));
            }
        }
        if let Some(reference) = &change.reference {
            let old: Option<Value> = cur.reference_json.as_deref().map(parse).transpose()?;
            if *reference != old {
                before.insert("reference".into(), j!(old));
                after.insert("reference".into(), j!(reference));
                qb.push(", reference_json = ")
                    .push_bind(reference.as_ref().map(json));
            }
        }
        if let Some(contacts) = &change.contact_ids {
            let old: Vec<i64> = sqlx::query_scalar(
                "SELECT contact_id FROM entry_contacts WHERE entry_id = ? ORDER BY contact_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let mut new = contacts.clone();
            new.sort_unstable();
            new.dedup();
            if new != old {
                before.insert("contact_ids".into(), j!(old));
                after.insert("contact_ids".into(), j!(new));
                link_contacts(&mut tx, id, cur.card_id, &new).await?;
            }
        }
        if after.is_empty() {
            return Ok(false);
        }
        qb.push(" WHERE id = ").push_bind(id);
        qb.build().execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO entry_revisions (entry_id, revised_at, revised_by, change, before_json, after_json)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&now)
        .bind(by)
        .bind(label)
        .bind(json(&before))
        .bind(json(&after))
        .execute(&mut *tx)
        .await?;
        // The audit log is append-only: it gets what the caller chose to
        // record, never the entry's content (which a deletion must reach).
        if let Some(a) = audit {
            insert_audit(&mut tx, &a).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn revisions(&self, entry_id: i64) -> Result<Vec<Revision>> {
        Ok(sqlx::query_as(
            "SELECT id, revised_at, revised_by, change, before_json, after_json
             FROM entry_revisions WHERE entry_id = ? ORDER BY id",
        )
        .bind(entry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn entry_contact_ids(&self, entry_id: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT contact_id FROM entry_contacts WHERE entry_id = ? ORDER BY contact_id",
        )
        .bind(entry_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Changes a card's title, status, campaign, source or free-form fields;
    /// every change that differs becomes a `status_change` / `field_change`
    /// entry by `by`, in the same transaction. Returns the new entries' ids.
    pub async fn update_card_fields(
        &self,
        card_id: i64,
        change: &CardChange,
        by: i64,
    ) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let (title, status, campaign, source, fields_json): (
            String,
            String,
            Option<String>,
            Option<String>,
            String,
        ) = sqlx::query_as(
            "SELECT title, status, campaign, source, fields_json FROM cards WHERE id = ?",
        )
        .bind(card_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut fields: Map<String, Value> = parse(&fields_json)?;
        // (kind, field, old, new)
        let mut changes: Vec<(&str, String, Value, Value)> = Vec::new();
        if let Some(t) = change.title.as_ref().filter(|t| **t != title) {
            changes.push(("field_change", "title".into(), j!(title), j!(t)));
        }
        if let Some(s) = change.status.as_ref().filter(|s| **s != status) {
            changes.push(("status_change", "status".into(), j!(status), j!(s)));
        }
        if let Some(c) = change.campaign.as_ref().filter(|c| **c != campaign) {
            changes.push(("field_change", "campaign".into(), j!(campaign), j!(c)));
        }
        if let Some(s) = change.source.as_ref().filter(|s| **s != source) {
            changes.push(("field_change", "source".into(), j!(source), j!(s)));
        }
        for (k, v) in &change.fields {
            let old = fields.get(k).cloned().unwrap_or(Value::Null);
            if old != *v {
                changes.push(("field_change", k.clone(), old, v.clone()));
                if v.is_null() {
                    fields.remove(k);
                } else {
                    fields.insert(k.clone(), v.clone());
                }
            }
        }
        if changes.is_empty() {
            return Ok(vec![]);
        }
        sqlx::query(
            "UPDATE cards SET title = ?, status = ?, campaign = ?, source = ?, fields_json = ?
             WHERE id = ?",
        )
        .bind(change.title.as_ref().unwrap_or(&title))
        .bind(change.status.as_ref().unwrap_or(&status))
        .bind(change.campaign.clone().unwrap_or(campaign))
        .bind(change.source.clone().unwrap_or(source))
        .bind(json(&fields))
        .bind(card_id)
        .execute(&mut *tx)
        .await?;
        let occurred = chrono::Utc::now().timestamp();
        let mut ids = Vec::with_capacity(changes.len());
        for (kind, field, old, new) in changes {
            let show = |v: &Value| match v {
                Value::Null => "(none)".to_owned(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let subject = if kind == "status_change" {
                format!("Status: {} → {}", show(&old), show(&new))
            } else {
                format!("{field}: {} → {}", show(&old), show(&new))
            };
            let e = NewEntry {
                card_id,
                kind: kind.into(),
                author_kind: "user".into(),
                author_id: Some(by),
                subject,
                occurred_at: occurred,
                details: j!({"field": field, "old": old, "new": new}),
                ..NewEntry::default()
            };
            let id = insert_entry(&mut tx, &e, &now)
                .await?
                .ok_or_else(|| StoreError::Corrupt("change entry collided".into()))?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Gives these entries a new responsible user in one transaction, with a
    /// revision on each that changed; returns how many changed.
    pub async fn assign_entries(
        &self,
        ids: &[i64],
        responsible: Option<i64>,
        by: i64,
    ) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let changed: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, responsible_id FROM entries
             WHERE id IN (SELECT value FROM json_each(?1)) AND deleted_at IS NULL
               AND responsible_id IS NOT ?2",
        )
        .bind(json(&ids))
        .bind(responsible)
        .fetch_all(&mut *tx)
        .await?;
        for (id, old) in &changed {
            sqlx::query("UPDATE entries SET responsible_id = ?, updated_at = ? WHERE id = ?")
                .bind(responsible)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO entry_revisions (entry_id, revised_at, revised_by, change, before_json, after_json)
                 VALUES (?, ?, ?, 'assign', ?, ?)",
            )
            .bind(id)
            .bind(&now)
            .bind(by)
            .bind(json(&j!({"responsible_id": old})))
            .bind(json(&j!({"responsible_id": responsible})))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed.len() as u64)
    }
}
