//! `POST /api/cards/{id}/messages`: a raw `.eml` through the same ingest path
//! as SMTP (spool, queue, worker, dedup).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::cards::load_card;
use super::error::extract::Path;
use super::{AppState, Caller, Error};
use crate::domain::Source;
use crate::ingest::Envelope;
use crate::store::{Entry, User};

/// How long the request waits for the worker before answering 202.
const WAIT_FOR_ENTRY: Duration = Duration::from_secs(5);

pub async fn upload(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("message/rfc822") {
        return Err(Error::UnsupportedMediaType(
            "expected Content-Type: message/rfc822 with the raw message as the body".into(),
        ));
    }
    if body.is_empty() {
        return Err(Error::Unprocessable("the message is empty".into()));
    }
    let card = load_card(&st, &user, card_id).await?;
    let envelope = Envelope {
        mail_from: user.email.clone(),
        helo: String::new(),
        peer: format!("http upload by user {}", user.id),
        rcpt_to: vec![],
    };
    let queue_id = st
        .ingest
        .accept_for(
            Source::Upload,
            envelope,
            body.to_vec(),
            vec![(card.id, format!("upload:{}", card.id))],
        )
        .await?;

    processed_response(&st, &user, queue_id).await
}

/// Usually the worker is done within milliseconds: answer with the entry
/// then (201 new, 200 already on the card); else 202 with the queue id.
pub async fn processed_response(
    st: &AppState,
    user: &User,
    queue_id: i64,
) -> Result<Response, Error> {
    match wait_processed(st, queue_id).await? {
        Some(entries) => {
            let duplicate = st
                .store
                .message_entries(queue_id)
                .await?
                .first()
                .is_some_and(|(_, dup)| *dup);
            let Some(entry) = entries.into_iter().next() else {
                return Err(Error::internal("processed message has no entry"));
            };
            let status = if duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            super::manual::entry_response(st, user, status, entry).await
        }
        None => {
            let body = json!({"queue_id": queue_id, "status": "queued"});
            Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
        }
    }
}

/// Waits (bounded) for the worker to finish a queued message; returns its
/// entries, or None if it is still queued (or was quarantined) at the deadline.
pub async fn wait_processed(st: &AppState, queue_id: i64) -> Result<Option<Vec<Entry>>, Error> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_ENTRY;
    loop {
        match st.store.message_state(queue_id).await?.as_deref() {
            Some("done") => break,
            Some("failed") => {
                return Err(Error::Unprocessable(
                    "the message could not be processed".into(),
                ))
            }
            Some("quarantined") => return Ok(None),
            _ if tokio::time::Instant::now() >= deadline => return Ok(None),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    // Their attachments' text too, when it comes in time.
    let ids: Vec<i64> = st
        .store
        .message_entries(queue_id)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    st.texts.wait(&st.store, &ids, st.text_wait).await?;
    let mut entries = Vec::new();
    for id in ids {
        entries.push(st.store.entry(id).await?);
    }
    Ok(Some(entries))
}
