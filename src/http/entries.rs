use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::error::extract::{Path, Query};
use super::manual::entry_response;
use super::views::Viewing;
use super::{AppState, Caller, Error};
use crate::domain::rights::Action;
use crate::erase::{Deletion, EraseError};
use crate::store::{Document, Entry, StoreError, User};

fn not_found(what: &'static str) -> impl Fn(StoreError) -> Error {
    move |e| match e {
        StoreError::NotFound => Error::NotFound(what),
        e => e.into(),
    }
}

/// 404 unless the caller may see the card the item belongs to.
async fn check_card(
    st: &AppState,
    user: &User,
    card_id: i64,
    what: &'static str,
) -> Result<(), Error> {
    if st.store.can_see(user.viewer(), card_id).await? {
        Ok(())
    } else {
        Err(Error::NotFound(what))
    }
}

/// The entry, if the caller may see its card (tombstones included).
pub async fn visible_entry(st: &AppState, user: &User, id: i64) -> Result<Entry, Error> {
    let entry = st.store.entry(id).await.map_err(not_found("entry"))?;
    check_card(st, user, entry.card_id, "entry").await?;
    Ok(entry)
}

async fn visible_document(st: &AppState, user: &User, id: i64) -> Result<Document, Error> {
    let doc = st.store.document(id).await.map_err(not_found("document"))?;
    check_card(st, user, doc.card_id, "document").await?;
    Ok(doc)
}

/// An entry with its revisions.
pub async fn show(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<super::views::EntryView>, Error> {
    let entry = visible_entry(&st, &user, id).await?;
    let viewing = Viewing::load(&st, &user, std::slice::from_ref(&entry)).await?;
    let revisions = viewing.revisions(st.store.revisions(id).await?);
    let mut view = viewing.entry(entry);
    view.revisions = Some(revisions);
    Ok(axum::Json(view))
}

/// The exact bytes received.
pub async fn raw(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let entry = visible_entry(&st, &user, id).await?;
    if entry.is_deleted() {
        return Err(Error::Gone(
            "this entry was deleted; its raw message is gone".into(),
        ));
    }
    let sha = st
        .store
        .entry_raw_sha(id)
        .await
        .map_err(not_found("raw message"))?;
    let spool = st.spool.clone();
    let bytes = tokio::task::spawn_blocking(move || spool.get(&sha))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
    Ok(download(
        bytes,
        "message/rfc822",
        &format!("entry-{id}.eml"),
    ))
}

pub async fn document(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let doc = visible_document(&st, &user, id).await?;
    if let Some(at) = &doc.deleted_at {
        return Err(Error::Gone(format!(
            "this document was deleted at {at}; its bytes are gone"
        )));
    }
    let blobs = st.blobs.clone();
    let sha = doc.sha256.clone();
    let bytes = tokio::task::spawn_blocking(move || blobs.get(&sha))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
    let name = doc
        .filename
        .clone()
        .unwrap_or_else(|| format!("document-{id}"));
    Ok(download(bytes, &doc.content_type, &name))
}

/// `?reason=` or `{"reason": "..."}` on a DELETE.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    reason: Option<String>,
}

impl Reason {
    fn from_parts(query: Reason, body: &[u8]) -> Result<Option<String>, Error> {
        let body: Reason = if body.iter().all(u8::is_ascii_whitespace) {
            Reason::default()
        } else {
            serde_json::from_slice(body).map_err(|e| {
                Error::Unprocessable(format!("expected {{\"reason\": \"...\"}}: {e}"))
            })?
        };
        body.reason
            .or(query.reason)
            .map(|r| super::input::text("reason", &r, super::input::MAX_TITLE_CHARS, false))
            .transpose()
            .map(|r| r.filter(|r| !r.is_empty()))
    }
}

fn deletion(user: &User, reason: Option<String>) -> Deletion {
    Deletion {
        by: user.id,
        by_name: user.name.clone().unwrap_or_else(|| user.email.clone()),
        reason,
    }
}

fn erase_error(e: EraseError) -> Error {
    match e {
        EraseError::Store(e) => e.into(),
        EraseError::Busy => Error::Conflict(e.to_string()),
        e => Error::internal(e),
    }
}

/// Deletes an entry for good (as the delete_entry policy allows); answers
/// with its tombstone.
pub async fn delete(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Query(q): Query<Reason>,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    let reason = Reason::from_parts(q, &body)?;
    let entry = visible_entry(&st, &user, id).await?;
    if entry.is_deleted() {
        return Err(Error::Conflict(
            "this entry is already deleted; its tombstone is kept".into(),
        ));
    }
    let viewing = Viewing::load(&st, &user, std::slice::from_ref(&entry)).await?;
    viewing.require(Action::DeleteEntry, viewing.can_delete_entry(&entry))?;
    st.eraser
        .delete_entry(entry, deletion(&user, reason))
        .await
        .map_err(erase_error)?;
    tracing::info!(entry = id, user = user.id, "entry deleted");
    entry_response(&st, &user, StatusCode::OK, st.store.entry(id).await?).await
}

/// Deletes a document for good (as the delete_document policy allows);
/// answers with its tombstone.
pub async fn delete_document(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Query(q): Query<Reason>,
    body: axum::body::Bytes,
) -> Result<axum::Json<super::views::DocumentView>, Error> {
    let reason = Reason::from_parts(q, &body)?;
    let doc = visible_document(&st, &user, id).await?;
    if doc.is_deleted() {
        return Err(Error::Conflict(
            "this document is already deleted; its tombstone is kept".into(),
        ));
    }
    let entry = match doc.entry_id {
        Some(e) => Some(st.store.entry(e).await?),
        None => None,
    };
    let viewing = Viewing::load(&st, &user, entry.as_slice()).await?;
    viewing.require(Action::DeleteDocument, viewing.can_delete_document(&doc))?;
    st.eraser
        .delete_document(doc, entry, deletion(&user, reason))
        .await
        .map_err(erase_error)?;
    tracing::info!(document = id, user = user.id, "document deleted");
    Ok(axum::Json(viewing.document(st.store.document(id).await?)))
}

/// Always an attachment, never sniffed or rendered inline: a document is
/// user-supplied content and must not run as a page of this origin.
fn download(bytes: Vec<u8>, content_type: &str, filename: &str) -> Response {
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(filename)
    );
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, ct);
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    resp
}

/// RFC 5987 value characters; everything else is %-encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
