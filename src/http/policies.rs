//! Rights (`GET/PUT /api/admin/policies`) and the audit log (`GET /api/admin/audit`).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::admin::require_admin;
use super::error::extract::{Json, Query};
use super::{AppState, Caller, Error, MAX_LIMIT};
use crate::domain::rights::Policies;
use crate::store::AuditFilter;

pub async fn show(
    State(st): State<AppState>,
    Caller(user): Caller,
) -> Result<axum::Json<Policies>, Error> {
    require_admin(&user)?;
    Ok(axum::Json(st.store.policies().await?))
}

/// Replaces every rule at once (the body has the same shape as GET); audited.
pub async fn replace(
    State(st): State<AppState>,
    Caller(user): Caller,
    Json(p): Json<Policies>,
) -> Result<axum::Json<Policies>, Error> {
    require_admin(&user)?;
    p.validate().map_err(Error::Unprocessable)?;
    Ok(axum::Json(st.store.set_policies(&p, user.id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    action: Option<String>,
    actor_id: Option<i64>,
    card_id: Option<i64>,
    /// Events older than this id (the `next_before_id` of the last page).
    before_id: Option<i64>,
    limit: Option<i64>,
}

/// Newest first: deletions, reopens, rights and type changes, with who and when.
pub async fn audit(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(p): Query<AuditParams>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    require_admin(&user)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let filter = AuditFilter {
        action: p.action,
        actor_id: p.actor_id,
        card_id: p.card_id,
        before_id: p.before_id,
    };
    let (total, events) = st.store.audit_events(&filter, limit).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(
        json!({"total": total, "events": events, "next_before_id": next}),
    ))
}
