use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Serialize;

use super::cards::load_card;
use super::error::extract::{Path, Query};
use super::{AppState, Caller, Error, Paging};
use crate::domain::Mailbox;
use crate::store::{Document, Entry, StoreError};

#[derive(Serialize)]
pub struct EntryView {
    pub id: i64,
    pub card_id: i64,
    pub kind: String,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub date: Option<String>,
    pub occurred_at: String,
    pub created_at: String,
    pub body_text: String,
    pub message_id: Option<String>,
    /// `incoming` (from outside the team) or `outgoing`.
    pub direction: Option<String>,
    /// For a forward: the salesperson who forwarded it, when, and their note.
    pub forwarded_by: Option<Mailbox>,
    pub forwarded_at: Option<String>,
    pub forward_note: Option<String>,
    pub forward_chain: Vec<Mailbox>,
    /// The date as written in a forwarded header block.
    pub date_raw: Option<String>,
    /// True when `date` is the forward's date because the original's could not be read.
    pub date_is_fallback: bool,
    pub attachments: Vec<Document>,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        EntryView {
            id: e.id,
            card_id: e.card_id,
            kind: e.kind,
            subject: e.subject,
            from: e.from,
            to: e.to,
            cc: e.cc,
            date: e.date,
            occurred_at: chrono::DateTime::from_timestamp(e.occurred_at, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            created_at: e.created_at,
            body_text: e.body_text,
            message_id: e.message_id,
            direction: e.direction,
            forwarded_by: e.meta.forwarded_by,
            forwarded_at: e.meta.forwarded_at,
            forward_note: e.meta.forward_note,
            forward_chain: e.meta.forward_chain,
            date_raw: e.meta.date_raw,
            date_is_fallback: e.meta.date_is_fallback,
            attachments: e.documents,
        }
    }
}

#[derive(Serialize)]
pub struct History {
    total: i64,
    entries: Vec<EntryView>,
}

pub async fn history(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<History>, Error> {
    let (limit, offset) = paging.resolve(50)?;
    load_card(&st, &user, card_id).await?;
    let (total, entries) = st.store.history(card_id, limit, offset).await?;
    Ok(axum::Json(History {
        total,
        entries: entries.into_iter().map(EntryView::from).collect(),
    }))
}

fn not_found(what: &'static str) -> impl Fn(StoreError) -> Error {
    move |e| match e {
        StoreError::NotFound => Error::NotFound(what),
        e => e.into(),
    }
}

/// 404 unless the caller may see the card the item belongs to.
async fn check_card(
    st: &AppState,
    user: &crate::store::User,
    card_id: i64,
    what: &'static str,
) -> Result<(), Error> {
    if st.store.can_see(user.viewer(), card_id).await? {
        Ok(())
    } else {
        Err(Error::NotFound(what))
    }
}

pub async fn show(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<EntryView>, Error> {
    let entry = st.store.entry(id).await.map_err(not_found("entry"))?;
    check_card(&st, &user, entry.card_id, "entry").await?;
    Ok(axum::Json(entry.into()))
}

/// The exact bytes received.
pub async fn raw(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let entry = st.store.entry(id).await.map_err(not_found("entry"))?;
    check_card(&st, &user, entry.card_id, "entry").await?;
    let sha = st
        .store
        .entry_raw_sha(id)
        .await
        .map_err(not_found("entry"))?;
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
    let doc = st.store.document(id).await.map_err(not_found("document"))?;
    check_card(&st, &user, doc.card_id, "document").await?;
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
