use serde::Serialize;

use super::{now_rfc3339, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub is_admin: bool,
    pub created_at: String,
}

impl User {
    pub fn viewer(&self) -> super::Viewer {
        super::Viewer {
            user_id: self.id,
            is_admin: self.is_admin,
        }
    }
}

impl Store {
    /// Creates a user with one API token (given as its hash).
    pub async fn create_user(
        &self,
        email: &str,
        name: Option<&str>,
        is_admin: bool,
        token_hash: &str,
    ) -> Result<User> {
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        let user: User = sqlx::query_as(
            "INSERT INTO users (email, name, is_admin, created_at) VALUES (?, ?, ?, ?)
             RETURNING id, email, name, is_admin, created_at",
        )
        .bind(email)
        .bind(name)
        .bind(is_admin)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("a user with email {email} already exists"))
            }
            e => e.into(),
        })?;
        sqlx::query("INSERT INTO tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)")
            .bind(user.id)
            .bind(token_hash)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.email, u.name, u.is_admin, u.created_at
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}

impl Store {
    /// Every user, by id (small: a sales team).
    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(
            sqlx::query_as("SELECT id, email, name, is_admin, created_at FROM users ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn user(&self, id: i64) -> Result<User> {
        sqlx::query_as("SELECT id, email, name, is_admin, created_at FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// (id, lowercased address) of every user: the team, and who forwarded.
    pub async fn team_users(&self) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as("SELECT id, lower(email) FROM users")
            .fetch_all(&self.pool)
            .await?)
    }
}
