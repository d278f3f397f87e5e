//! `POST /api/cards/{id}/documents`: a file (multipart field `file`) becomes a
//! `document` entry on the card, its text searchable like mail attachments.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::cards::load_card;
use super::error::extract::Path;
use super::input::{self, IdOrCode};
use super::manual::{entry_response, index_entry};
use super::{AppState, Caller, Error};
use crate::store::{NewDocument, NewEntry};

/// A file name a user sent, safe to show and to offer as a download name:
/// no directories, no control characters, bounded.
pub fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    (!clean.is_empty()).then_some(clean)
}

#[derive(Default)]
struct Form {
    file: Option<(Option<String>, String, Vec<u8>)>,
    title: Option<String>,
    text: Option<String>,
    communication_type: Option<String>,
    occurred_at: Option<String>,
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge
    } else {
        Error::BadRequest(format!("multipart body: {}", e.body_text()))
    }
}

async fn read_form(mut m: Multipart, max: usize) -> Result<Form, Error> {
    let mut form = Form::default();
    while let Some(field) = m.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                if form.file.is_some() {
                    return Err(Error::Unprocessable("send one file per request".into()));
                }
                let filename = field.file_name().and_then(clean_filename);
                let ct = field
                    .content_type()
                    .map(|c| c.to_ascii_lowercase())
                    .filter(|c| c.contains('/') && c.len() < 128)
                    .unwrap_or_else(|| "application/octet-stream".into());
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > max {
                    return Err(Error::TooLarge);
                }
                form.file = Some((filename, ct, bytes.to_vec()));
            }
            "title" | "text" | "communication_type" | "occurred_at" => {
                let v = field.text().await.map_err(multipart_error)?;
                let slot = match name.as_str() {
                    "title" => &mut form.title,
                    "text" => &mut form.text,
                    "communication_type" => &mut form.communication_type,
                    _ => &mut form.occurred_at,
                };
                *slot = Some(v);
            }
            other => {
                return Err(Error::Unprocessable(format!(
                "unknown form field {other:?} (file, title, text, communication_type, occurred_at)"
            )))
            }
        }
    }
    Ok(form)
}

pub async fn upload(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Error> {
    let multipart = multipart.map_err(|e| {
        Error::UnsupportedMediaType(format!(
            "expected multipart/form-data with a file field: {}",
            e.body_text()
        ))
    })?;
    load_card(&st, &user, card_id).await?;
    st.ingest.check_room()?;
    let form = read_form(multipart, st.max_document_bytes).await?;
    let Some((filename, content_type, bytes)) = form.file else {
        return Err(Error::Unprocessable("the form has no file field".into()));
    };
    if bytes.is_empty() {
        return Err(Error::Unprocessable("the file is empty".into()));
    }
    let comm_type_id = match form
        .communication_type
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        Some(t) => Some(
            input::active_type(&st, &IdOrCode::Code(t.trim().to_owned()))
                .await?
                .id,
        ),
        None => None,
    };
    let occurred_at = form
        .occurred_at
        .as_deref()
        .map(|t| input::time("occurred_at", t))
        .transpose()?
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    let title = match form.title.as_deref() {
        Some(t) => input::text("title", t, input::MAX_TITLE_CHARS, false)?,
        None => filename.clone().unwrap_or_else(|| "Document".into()),
    };
    let text = form
        .text
        .as_deref()
        .map(|t| input::text("text", t, input::MAX_TEXT_CHARS, true))
        .transpose()?
        .unwrap_or_default();

    // The blob on disk (durable) before the row points at it, with no
    // erasure of the same bytes in between. Its text comes from the
    // sandboxed text worker, which this request then waits for (bounded).
    let gate = st.blobs.gate().await;
    let blobs = st.blobs.clone();
    let size = bytes.len();
    let sha256 = tokio::task::spawn_blocking(move || blobs.put_durable(&bytes))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
    let text_status = crate::extract::Kind::initial_status(&content_type, filename.as_deref());
    let document = NewDocument {
        filename,
        content_type,
        size: size as i64,
        sha256,
        text_status: Some(text_status.to_owned()),
        text: None,
    };
    let new = NewEntry {
        card_id,
        kind: "document".into(),
        author_kind: "user".into(),
        author_id: Some(user.id),
        subject: title,
        body_text: text,
        occurred_at,
        comm_type_id,
        details: serde_json::json!({}),
        documents: vec![document],
        ..NewEntry::default()
    };
    let (id, _) = st.store.create_entry(&new).await?;
    drop(gate);
    index_entry(&st, id).await?;
    st.texts.wake();
    st.texts.wait(&st.store, &[id], st.text_wait).await?;
    let entry = st.store.entry(id).await?;
    entry_response(&st, &user, StatusCode::CREATED, entry).await
}

#[cfg(test)]
mod tests {
    use super::clean_filename;

    #[test]
    fn file_names_lose_their_directories_and_control_characters() {
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_filename("C:\\Users\\x\\offer 2026.pdf").as_deref(),
            Some("offer 2026.pdf")
        );
        assert_eq!(clean_filename("a\r\nb.txt").as_deref(), Some("ab.txt"));
        assert_eq!(clean_filename("..."), None);
        assert_eq!(clean_filename("/"), None);
    }
}
