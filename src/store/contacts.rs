//! Contact persons of a card: name, e-mail addresses, phone, role.

use serde::Serialize;

use super::cards::VISIBLE;
use super::entries::json;
use super::{now_rfc3339, Result, Store, StoreError, Viewer};

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: i64,
    pub card_id: i64,
    pub name: String,
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub role: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Default)]
pub struct ContactFields {
    pub name: String,
    /// Lowercased, deduplicated by the caller.
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub role: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    card_id: i64,
    name: String,
    phone: Option<String>,
    role: Option<String>,
    created_at: String,
    updated_at: String,
    emails: Option<String>,
}

const COLS: &str = "c.id, c.card_id, c.name, c.phone, c.role, c.created_at, c.updated_at,
    (SELECT json_group_array(email) FROM (SELECT email FROM contact_emails
        WHERE contact_id = c.id ORDER BY email)) AS emails";

impl ContactRow {
    fn into_contact(self) -> Contact {
        Contact {
            id: self.id,
            card_id: self.card_id,
            name: self.name,
            emails: self
                .emails
                .and_then(|e| serde_json::from_str(&e).ok())
                .unwrap_or_default(),
            phone: self.phone,
            role: self.role,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

async fn set_emails(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: i64,
    emails: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM contact_emails WHERE contact_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT OR IGNORE INTO contact_emails (contact_id, email)
         SELECT ?, value FROM json_each(?)",
    )
    .bind(id)
    .bind(json(&emails))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    pub async fn create_contact(&self, card_id: i64, f: &ContactFields) -> Result<Contact> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO contacts (card_id, name, phone, role, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(card_id)
        .bind(&f.name)
        .bind(&f.phone)
        .bind(&f.role)
        .bind(&now)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        set_emails(&mut tx, id, &f.emails).await?;
        tx.commit().await?;
        self.contact(id).await
    }

    pub async fn update_contact(&self, id: i64, f: &ContactFields) -> Result<Contact> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE contacts SET name = ?, phone = ?, role = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&f.name)
        .bind(&f.phone)
        .bind(&f.role)
        .bind(now_rfc3339())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        set_emails(&mut tx, id, &f.emails).await?;
        tx.commit().await?;
        self.contact(id).await
    }

    /// Removes the person from the card; their correspondence stays.
    pub async fn delete_contact(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM contacts WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn contact(&self, id: i64) -> Result<Contact> {
        let row: ContactRow =
            sqlx::query_as(&format!("SELECT {COLS} FROM contacts c WHERE c.id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
        Ok(row.into_contact())
    }

    pub async fn card_contacts(&self, card_id: i64) -> Result<Vec<Contact>> {
        let rows: Vec<ContactRow> = sqlx::query_as(&format!(
            "SELECT {COLS} FROM contacts c WHERE c.card_id = ? ORDER BY c.name, c.id"
        ))
        .bind(card_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ContactRow::into_contact).collect())
    }

    /// Contacts on cards the viewer may see, optionally with a trait label.
    pub async fn contacts(
        &self,
        viewer: Viewer,
        label: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<Contact>)> {
        let visible = if viewer.is_admin {
            "1 = 1".to_owned()
        } else {
            VISIBLE.replacen('?', &viewer.user_id.to_string(), 2)
        };
        let cond = format!(
            "FROM contacts c0 JOIN cards c ON c.id = c0.card_id WHERE {visible}
               AND (?1 IS NULL OR EXISTS (SELECT 1 FROM contact_labels l
                                          WHERE l.contact_id = c0.id AND l.label_id = ?1))"
        );
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {cond}"))
            .bind(label)
            .fetch_one(&self.pool)
            .await?;
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT c0.id {cond} ORDER BY c0.name, c0.id LIMIT ?2 OFFSET ?3"
        ))
        .bind(label)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.contact(id).await?);
        }
        Ok((total, out))
    }
}

impl Store {
    /// (card, lowercased email, contact id, name) for the contacts of these cards.
    pub async fn contact_addresses(
        &self,
        cards: &[i64],
    ) -> Result<Vec<(i64, String, i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT c.card_id, lower(ce.email), c.id, c.name FROM contacts c
             JOIN contact_emails ce ON ce.contact_id = c.id
             WHERE c.card_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json(&cards))
        .fetch_all(&self.pool)
        .await?)
    }

    /// (entry, contact id, name) links of manual entries.
    pub async fn entry_contact_links(&self, entries: &[i64]) -> Result<Vec<(i64, i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT ec.entry_id, c.id, c.name FROM entry_contacts ec
             JOIN contacts c ON c.id = ec.contact_id
             WHERE ec.entry_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json(&entries))
        .fetch_all(&self.pool)
        .await?)
    }
}
