//! Admin-only routes: the quarantine.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::error::extract::{Path, Query};
use super::{AppState, Caller, Error, Paging};
use crate::domain::AuthResults;
use crate::store::{AuditRecord, Quarantined, StoreError, User};

pub fn require_admin(user: &User) -> Result<(), Error> {
    if user.is_admin {
        Ok(())
    } else {
        Err(Error::Forbidden("admins only"))
    }
}

#[derive(Serialize)]
struct QuarantineItem {
    #[serde(flatten)]
    message: Quarantined,
    card_ids: Vec<i64>,
    /// The From and Subject headers, to judge the message without opening it.
    from: Option<String>,
    subject: Option<String>,
    /// SPF, DKIM, DMARC and alignment, when the message was checked.
    auth: Option<AuthResults>,
}

async fn item(st: &AppState, q: Quarantined, auth: Option<AuthResults>) -> QuarantineItem {
    let spool = st.spool.clone();
    let sha = q.sha256.clone();
    let raw = tokio::task::spawn_blocking(move || spool.get_prefix(&sha, 64 * 1024).ok())
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let headers = mail_parser::MessageParser::default().parse_headers(&raw[..]);
    let from = headers
        .as_ref()
        .and_then(|m| m.from())
        .and_then(|a| a.first())
        .map(|a| {
            crate::domain::Mailbox {
                name: a.name().map(str::to_owned),
                address: a.address().map(str::to_owned),
            }
            .display()
        });
    let subject = headers
        .as_ref()
        .and_then(|m| m.subject().map(str::to_owned));
    QuarantineItem {
        card_ids: q
            .card_list
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter_map(|c| c.parse().ok())
            .collect(),
        message: q,
        from,
        subject,
        auth,
    }
}

pub async fn quarantine_list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    require_admin(&user)?;
    let (limit, offset) = paging.resolve(50)?;
    let (total, rows) = st.store.quarantined(limit, offset).await?;
    let ids: Vec<i64> = rows.iter().map(|q| q.id).collect();
    let mut auth = st.store.message_auth(&ids).await?;
    let mut items = Vec::with_capacity(rows.len());
    for q in rows {
        let a = auth.remove(&q.id);
        items.push(item(&st, q, a).await);
    }
    Ok(axum::Json(json!({"total": total, "messages": items})))
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound("quarantined message"),
        e => e.into(),
    }
}

/// Lands the message on its card(s); answers with the entries once processed.
pub async fn quarantine_release(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    require_admin(&user)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Release {
        card_id: Option<i64>,
    }
    let card = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let r: Option<Release> = serde_json::from_slice(&body)
            .map_err(|e| Error::Unprocessable(format!("expected {{\"card_id\": N}}: {e}")))?;
        r.and_then(|r| r.card_id)
    };
    if let Some(card) = card {
        super::cards::load_card(&st, &user, card).await?;
    }
    let held = st.store.quarantined_one(id).await.map_err(not_found)?;
    let auth = st.store.message_auth(&[id]).await?.remove(&id);
    let audit = AuditRecord {
        actor_id: Some(user.id),
        action: "quarantine_release",
        target: "message",
        target_id: Some(id),
        card_id: card.or_else(|| held.card_list.as_deref()?.split(',').next()?.parse().ok()),
        // The verdict, not the sender's address or subject: the log outlives
        // a permanent deletion of the mail.
        details: json!({
            "source": held.source,
            "spoofed_looking": auth.as_ref().is_some_and(AuthResults::looks_spoofed),
            "auth": auth.as_ref().map(|a| json!({
                "spf": a.spf, "dkim": a.dkim, "dmarc": a.dmarc, "aligned": a.aligned,
                "from_domain": a.from_domain, "dmarc_policy": a.dmarc_policy,
            })),
        }),
    };
    st.store
        .release(id, card, &audit)
        .await
        .map_err(not_found)?;
    tracing::info!(message = id, admin = user.id, "released from quarantine");
    st.ingest.wake_worker();
    match super::upload::wait_processed(&st, id).await? {
        Some(entries) => {
            let viewing = super::views::Viewing::load(&st, &user, &entries).await?;
            let views = viewing.entries(entries);
            Ok((
                StatusCode::OK,
                axum::Json(json!({"id": id, "entries": views})),
            )
                .into_response())
        }
        None => Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({"id": id, "status": "queued"})),
        )
            .into_response()),
    }
}

/// Deletes the message for good, including its raw bytes when nothing else
/// uses them.
pub async fn quarantine_delete(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    require_admin(&user)?;
    let (sha, shared) = st.store.delete_quarantined(id).await.map_err(not_found)?;
    if !shared {
        let spool = st.spool.clone();
        tokio::task::spawn_blocking(move || spool.remove(&sha))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
    }
    tracing::info!(message = id, admin = user.id, "deleted from quarantine");
    Ok(StatusCode::NO_CONTENT)
}

/// Each IMAP account: last poll, last success, last error, messages taken.
pub async fn imap_status(
    State(st): State<AppState>,
    Caller(user): Caller,
) -> Result<axum::Json<serde_json::Value>, Error> {
    require_admin(&user)?;
    let accounts: Vec<crate::imap::AccountStatus> = st
        .imap_status
        .iter()
        .map(|s| {
            s.lock()
                .map(|g| g.clone())
                .unwrap_or_else(|p| p.into_inner().clone())
        })
        .collect();
    Ok(axum::Json(json!({ "accounts": accounts })))
}

/// Messages parked as failed after `ingest.max_attempts`, with their error.
pub async fn failed_list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    require_admin(&user)?;
    let (limit, offset) = paging.resolve(50)?;
    let (total, rows) = st.store.failed_messages(limit, offset).await?;
    Ok(axum::Json(json!({"total": total, "messages": rows})))
}

pub async fn failed_retry(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    require_admin(&user)?;
    st.store.retry_failed(id).await.map_err(|e| match e {
        StoreError::NotFound => Error::NotFound("failed message"),
        e => e.into(),
    })?;
    st.ingest.wake_worker();
    Ok(StatusCode::ACCEPTED)
}
