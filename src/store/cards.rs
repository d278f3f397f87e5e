use super::{now_rfc3339, Result, Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Card {
    pub id: i64,
    pub title: String,
    pub owner_id: Option<i64>,
    pub status: String,
    pub created_at: String,
    pub archive_code: String,
}

const CARD_COLS: &str = "id, title, owner_id, status, created_at, archive_code";

impl Store {
    pub async fn create_card(
        &self,
        title: &str,
        owner_id: Option<i64>,
        code: &str,
    ) -> Result<Card> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO cards (title, owner_id, status, created_at, archive_code)
             VALUES (?, ?, 'open', ?, ?) RETURNING {CARD_COLS}"
        ))
        .bind(title)
        .bind(owner_id)
        .bind(now_rfc3339())
        .bind(code)
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

    pub async fn cards(&self, limit: i64, offset: i64) -> Result<(i64, Vec<Card>)> {
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM cards")
            .fetch_one(&self.pool)
            .await?;
        let cards = sqlx::query_as(&format!(
            "SELECT {CARD_COLS} FROM cards ORDER BY id DESC LIMIT ? OFFSET ?"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, cards))
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
