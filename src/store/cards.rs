use super::{now_rfc3339, Result, Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Card {
    pub id: i64,
    pub title: String,
    pub owner_id: Option<i64>,
    pub status: String,
    pub created_at: String,
    pub archive_code: String,
    pub visibility: String,
    pub campaign: Option<String>,
    pub source: Option<String>,
    pub fields_json: String,
}

const CARD_COLS: &str =
    "id, title, owner_id, status, created_at, archive_code, visibility, campaign, source, fields_json";

/// Who is asking, for visibility checks.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user_id: i64,
    pub is_admin: bool,
}

/// SQL condition: the card `c` is visible to the viewer bound twice as ?.
pub(super) const VISIBLE: &str = "(c.visibility = 'everyone' OR c.owner_id = ?
    OR EXISTS (SELECT 1 FROM card_shares s WHERE s.card_id = c.id AND s.user_id = ?))";

impl Store {
    pub async fn create_card(
        &self,
        title: &str,
        owner_id: Option<i64>,
        code: &str,
        visibility: &str,
    ) -> Result<Card> {
        self.create_card_with_status(title, owner_id, code, visibility, "open")
            .await
    }

    pub async fn create_card_with_status(
        &self,
        title: &str,
        owner_id: Option<i64>,
        code: &str,
        visibility: &str,
        status: &str,
    ) -> Result<Card> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO cards (title, owner_id, status, created_at, archive_code, visibility)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING {CARD_COLS}"
        ))
        .bind(title)
        .bind(owner_id)
        .bind(status)
        .bind(now_rfc3339())
        .bind(code)
        .bind(visibility)
        .fetch_one(&self.writer)
        .await?)
    }

    pub async fn card(&self, id: i64) -> Result<Card> {
        sqlx::query_as(&format!("SELECT {CARD_COLS} FROM cards WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The cards the viewer may see, newest first, with their exact count;
    /// optionally only those with an action label.
    pub async fn cards(
        &self,
        viewer: Viewer,
        label: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<Card>)> {
        let all = i64::from(viewer.is_admin);
        let cond = format!(
            "(? OR {VISIBLE}) AND (?4 IS NULL OR EXISTS
                 (SELECT 1 FROM card_labels l WHERE l.card_id = c.id AND l.label_id = ?4))"
        );
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM cards c WHERE {cond}"))
            .bind(all)
            .bind(viewer.user_id)
            .bind(viewer.user_id)
            .bind(label)
            .fetch_one(&self.pool)
            .await?;
        let cards = sqlx::query_as(&format!(
            "SELECT {CARD_COLS} FROM cards c WHERE {cond} ORDER BY id DESC LIMIT ?5 OFFSET ?6"
        ))
        .bind(all)
        .bind(viewer.user_id)
        .bind(viewer.user_id)
        .bind(label)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, cards))
    }

    pub async fn can_see(&self, viewer: Viewer, card_id: i64) -> Result<bool> {
        if viewer.is_admin {
            return Ok(true);
        }
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM cards c WHERE c.id = ? AND {VISIBLE}"
        ))
        .bind(card_id)
        .bind(viewer.user_id)
        .bind(viewer.user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Cards the viewer may NOT see (for filtering search; private cards are
    /// the exception, so this list stays short). Empty for admins.
    pub async fn hidden_cards(&self, viewer: Viewer) -> Result<Vec<i64>> {
        if viewer.is_admin {
            return Ok(vec![]);
        }
        Ok(
            sqlx::query_scalar(&format!("SELECT c.id FROM cards c WHERE NOT {VISIBLE}"))
                .bind(viewer.user_id)
                .bind(viewer.user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn set_visibility(&self, card_id: i64, visibility: &str) -> Result<()> {
        sqlx::query("UPDATE cards SET visibility = ? WHERE id = ?")
            .bind(visibility)
            .bind(card_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn share_card(&self, card_id: i64, user_id: i64) -> Result<()> {
        sqlx::query("INSERT OR IGNORE INTO card_shares (card_id, user_id) VALUES (?, ?)")
            .bind(card_id)
            .bind(user_id)
            .execute(&self.writer)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                    StoreError::Conflict(format!("no user {user_id}"))
                }
                e => e.into(),
            })?;
        Ok(())
    }

    pub async fn unshare_card(&self, card_id: i64, user_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM card_shares WHERE card_id = ? AND user_id = ?")
            .bind(card_id)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn card_shares(&self, card_id: i64) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar(
                "SELECT user_id FROM card_shares WHERE card_id = ? ORDER BY user_id",
            )
            .bind(card_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// The card a live archive code routes to; retired codes route nowhere.
    pub async fn card_id_by_code(&self, code: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM cards WHERE archive_code = ?")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Replaces the card's code; the old one is retired for good.
    pub async fn replace_archive_code(&self, id: i64, new_code: &str) -> Result<Card> {
        let mut tx = self.writer.begin().await?;
        // Write first, so the transaction takes the write lock before reading.
        let retired = sqlx::query(
            "INSERT INTO retired_codes (code, card_id, retired_at)
             SELECT archive_code, id, ? FROM cards WHERE id = ?",
        )
        .bind(now_rfc3339())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if retired.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE cards SET archive_code = ? WHERE id = ?")
            .bind(new_code)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.card(id).await
    }

    /// True when the code was ever issued (live or retired), so it is never reissued.
    pub async fn code_in_use(&self, code: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM cards WHERE archive_code = ?1)
                  + (SELECT COUNT(*) FROM retired_codes WHERE code = ?1)",
        )
        .bind(code)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}

impl Store {
    /// (card id, owner) of these cards, for rights checks on a page of entries.
    pub async fn card_owners(&self, ids: &[i64]) -> Result<Vec<(i64, Option<i64>)>> {
        Ok(sqlx::query_as(
            "SELECT id, owner_id FROM cards WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(ids).expect("ids serialize"))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Campaign, source and fields of a new card (no history: nothing changed).
    pub async fn set_card_details(
        &self,
        card_id: i64,
        campaign: Option<&str>,
        source: Option<&str>,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        sqlx::query("UPDATE cards SET campaign = ?, source = ?, fields_json = ? WHERE id = ?")
            .bind(campaign)
            .bind(source)
            .bind(serde_json::to_string(fields).expect("json serializes"))
            .bind(card_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
