//! Rights policies, one row per action.

use serde_json::json;

use super::audit::{insert_audit, AuditRecord};
use super::{now_rfc3339, Result, Store, StoreError};
use crate::domain::rights::{Action, Policies, Rule, Who};

impl Store {
    pub async fn policies(&self) -> Result<Policies> {
        let rows: Vec<(String, String, Option<i64>)> =
            sqlx::query_as("SELECT action, who, within_days FROM policies")
                .fetch_all(&self.pool)
                .await?;
        let mut p = Policies::default();
        for (action, who, within) in rows {
            let (Some(action), Some(who)) = (Action::parse(&action), Who::parse(&who)) else {
                return Err(StoreError::Corrupt(format!("policy {action}: {who}")));
            };
            p.set(
                action,
                Rule {
                    who,
                    within_days: within.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
                },
            );
        }
        Ok(p)
    }

    /// Replaces every rule; the change is audited with the rules before and after.
    pub async fn set_policies(&self, new: &Policies, by: i64) -> Result<Policies> {
        let old = self.policies().await?;
        let mut tx = self.writer.begin().await?;
        let now = now_rfc3339();
        for action in Action::ALL {
            let rule = new.rule(action);
            sqlx::query(
                "INSERT INTO policies (action, who, within_days, updated_at, updated_by)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (action) DO UPDATE SET who = excluded.who,
                     within_days = excluded.within_days, updated_at = excluded.updated_at,
                     updated_by = excluded.updated_by",
            )
            .bind(action.as_str())
            .bind(rule.who.as_str())
            .bind(rule.within_days.map(i64::from))
            .bind(&now)
            .bind(by)
            .execute(&mut *tx)
            .await?;
        }
        if old != *new {
            insert_audit(
                &mut tx,
                &AuditRecord {
                    actor_id: Some(by),
                    action: "policy_change",
                    target: "policies",
                    target_id: None,
                    card_id: None,
                    details: json!({"before": old, "after": new}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(*new)
    }
}
