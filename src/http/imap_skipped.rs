//! IMAP messages skipped as too large, in the failed list: their account, folder, UID, size
//! and header fields, but no bytes. "Retry" asks the poller to fetch one on its next pass,
//! which is possible once the account's `max_message_bytes` allows its size.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::admin::require_admin;
use super::error::extract::{Path, Query};
use super::{AppState, Caller, Error, Paging};
use crate::store::{ImapSkipped, StoreError};

/// The newest this many are listed; `imap_skipped_total` counts them all.
const LISTED: i64 = 200;

#[derive(Serialize)]
pub struct Item {
    #[serde(flatten)]
    row: ImapSkipped,
    /// Whether `POST .../retry` can fetch it with the account's current limit.
    can_retry: bool,
    /// What an admin can do about it.
    retry: String,
}

/// `GET /api/admin/failed`: the failed messages, plus `imap_skipped` (the newest 200) and
/// `imap_skipped_total`.
pub async fn failed_list(
    State(st): State<AppState>,
    Caller(user): Caller,
    query: Query<Paging>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    let axum::Json(mut body) =
        super::admin::failed_list(State(st.clone()), Caller(user), query).await?;
    let (total, items) = list(&st).await?;
    body["imap_skipped_total"] = json!(total);
    body["imap_skipped"] = serde_json::to_value(items).map_err(Error::internal)?;
    Ok(axum::Json(body))
}

async fn list(st: &AppState) -> Result<(i64, Vec<Item>), Error> {
    let (total, rows) = st.store.imap_skipped(LISTED, 0).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let (can_retry, retry) = retry_advice(st, &row);
            Item {
                row,
                can_retry,
                retry,
            }
        })
        .collect();
    Ok((total, items))
}

/// The account's current limit, from its status (None: no longer configured).
fn current_limit(st: &AppState, account: &str) -> Option<u64> {
    st.imap_status.iter().find_map(|s| {
        let s = s.lock().unwrap_or_else(|p| p.into_inner());
        (s.name == account).then_some(s.max_message_bytes)
    })
}

fn retry_advice(st: &AppState, row: &ImapSkipped) -> (bool, String) {
    if row.state == "gone" {
        return (
            false,
            "no longer on the server: dismiss it with DELETE".into(),
        );
    }
    match current_limit(st, &row.account) {
        None => (
            false,
            format!("account {:?} is no longer configured", row.account),
        ),
        Some(limit) if (row.size as u64) > limit => (
            false,
            format!(
                "the message has {} bytes, over max_message_bytes {limit} of account {:?}: raise it (and restart), then POST /api/admin/failed/imap/{}/retry; or handle it in the mailbox and dismiss it with DELETE",
                row.size, row.account, row.id
            ),
        ),
        Some(_) if row.state == "retry" => (true, "waiting for the account's next poll".into()),
        Some(_) => (
            true,
            format!(
                "POST /api/admin/failed/imap/{}/retry fetches it on the account's next poll",
                row.id
            ),
        ),
    }
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound("skipped IMAP message"),
        e => e.into(),
    }
}

/// 202: the poller fetches it on its next pass. 409 while the limit is still too low.
pub async fn retry(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<serde_json::Value>), Error> {
    require_admin(&user)?;
    let row = st.store.imap_skipped_one(id).await.map_err(not_found)?;
    let (can_retry, advice) = retry_advice(&st, &row);
    if !can_retry {
        return Err(Error::Conflict(advice));
    }
    st.store.request_imap_retry(id).await.map_err(not_found)?;
    tracing::info!(skipped = id, admin = user.id, "IMAP retry requested");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": id, "state": "retry"})),
    ))
}

/// Forgets the message (an admin dealt with it in the mailbox).
pub async fn dismiss(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    require_admin(&user)?;
    st.store.dismiss_imap_skipped(id).await.map_err(not_found)?;
    tracing::info!(
        skipped = id,
        admin = user.id,
        "skipped IMAP message dismissed"
    );
    Ok(StatusCode::NO_CONTENT)
}
