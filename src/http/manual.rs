//! `POST /api/cards/{id}/entries` (notes, calls, SMS, WhatsApp, meetings, and
//! what other systems sent) and `PATCH /api/entries/{id}` (edits, kept as
//! revisions).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::cards::load_card;
use super::error::extract::{Json, Path};
use super::input::{self, IdOrCode};
use super::views::Viewing;
use super::{AppState, Caller, Error};
use crate::domain::{EntryKind, Mailbox};
use crate::ingest::Envelope;
use crate::store::{Annotations, Entry, EntryChange, NewEntry, StoreError, User};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntryBody {
    kind: String,
    #[serde(alias = "subject")]
    title: Option<String>,
    #[serde(alias = "body_text")]
    text: Option<String>,
    occurred_at: Option<String>,
    communication_type: Option<IdOrCode>,
    direction: Option<String>,
    duration_minutes: Option<u32>,
    contact_ids: Option<Vec<i64>>,
    responsible_id: Option<i64>,
    reference: Option<Value>,
    /// The caller's id for this item: posting it again answers 200 with the
    /// entry already made.
    external_id: Option<String>,
    /// The exact original (base64 of the .eml) of mail another system sent.
    original: Option<String>,
    from: Option<Mailbox>,
    #[serde(default)]
    to: Vec<Mailbox>,
    #[serde(default)]
    cc: Vec<Mailbox>,
}

/// Kind-specific details (call and meeting length).
fn details(kind: EntryKind, minutes: Option<u32>) -> Result<Value, Error> {
    match minutes {
        None => Ok(json!({})),
        Some(m) if matches!(kind, EntryKind::Call | EntryKind::Meeting) && m <= 24 * 60 => {
            Ok(json!({ "duration_minutes": m }))
        }
        Some(_) => Err(Error::Unprocessable(
            "duration_minutes is for calls and meetings, at most 1440".into(),
        )),
    }
}

fn mailbox(field: &str, m: &Mailbox) -> Result<Mailbox, Error> {
    let name = m
        .name
        .as_deref()
        .map(|n| input::text(field, n, input::MAX_SHORT_CHARS, false))
        .transpose()?;
    let address = m
        .address
        .as_deref()
        .map(|a| input::text(field, a, 254, false))
        .transpose()?;
    if address
        .as_deref()
        .is_some_and(|a| !a.contains('@') || a.contains(' '))
    {
        return Err(Error::Unprocessable(format!(
            "{field} has an invalid address"
        )));
    }
    Ok(Mailbox { name, address })
}

/// Answers with the entry as the caller sees it.
pub async fn entry_response(
    st: &AppState,
    user: &User,
    status: StatusCode,
    entry: Entry,
) -> Result<Response, Error> {
    let viewing = Viewing::load(st, user, std::slice::from_ref(&entry)).await?;
    Ok((status, axum::Json(viewing.entry(entry))).into_response())
}

/// Makes an entry searchable before the request returns (in step with
/// deletions: a concurrent delete is never undone by this).
pub async fn index_entry(st: &AppState, id: i64) -> Result<Entry, Error> {
    st.eraser.reindex(&[id]).await.map_err(Error::internal)?;
    Ok(st.store.entry(id).await?)
}

pub async fn create(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
    Json(b): Json<NewEntryBody>,
) -> Result<Response, Error> {
    load_card(&st, &user, card_id).await?;
    let kind = EntryKind::parse(&b.kind)
        .filter(|k| k.is_postable())
        .ok_or_else(|| {
            Error::Unprocessable(format!(
                "kind must be note, call, sms, whatsapp, meeting or email (tasks: POST /api/cards/{{id}}/tasks), not {:?}",
                b.kind
            ))
        })?;
    let comm_type_id = match &b.communication_type {
        Some(t) => Some(input::active_type(&st, t).await?.id),
        None => None,
    };
    let reference = b.reference.as_ref().map(input::reference).transpose()?;
    let external_id = b
        .external_id
        .as_deref()
        .map(|x| input::required("external_id", x, input::MAX_SHORT_CHARS))
        .transpose()?;
    let direction = match (&b.direction, kind.has_direction()) {
        (Some(d), true) => Some(input::direction(d)?),
        (Some(_), false) => {
            return Err(Error::Unprocessable(format!(
                "{} has no direction",
                kind.as_str()
            )))
        }
        (None, _) => None,
    };
    let occurred_at = b
        .occurred_at
        .as_deref()
        .map(|t| input::time("occurred_at", t))
        .transpose()?;
    let title = b
        .title
        .as_deref()
        .map(|t| input::text("title", t, input::MAX_TITLE_CHARS, false))
        .transpose()?;
    let text = b
        .text
        .as_deref()
        .map(|t| input::text("text", t, input::MAX_TEXT_CHARS, true))
        .transpose()?;
    let responsible_id = match b.responsible_id {
        Some(id) => Some(input::user(&st, "responsible_id", id).await?),
        None => None,
    };
    let contact_ids = b.contact_ids.clone().unwrap_or_default();
    input::list_len("contact_ids", &contact_ids)?;
    input::list_len("to", &b.to)?;
    input::list_len("cc", &b.cc)?;

    if let Some(original) = &b.original {
        if kind != EntryKind::Email {
            return Err(Error::Unprocessable("original is for kind email".into()));
        }
        // The mail itself says who wrote to whom; these have no place next to it.
        let extra = [
            ("from", b.from.is_some()),
            ("to", !b.to.is_empty()),
            ("cc", !b.cc.is_empty()),
            ("contact_ids", !contact_ids.is_empty()),
            ("responsible_id", responsible_id.is_some()),
            ("duration_minutes", b.duration_minutes.is_some()),
        ];
        if let Some((field, _)) = extra.iter().find(|(_, given)| *given) {
            return Err(Error::Unprocessable(format!(
                "{field} cannot be given with original (title, text, occurred_at, direction, communication_type, reference and external_id can)"
            )));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(original.trim())
            .map_err(|_| Error::Unprocessable("original must be the message in base64".into()))?;
        if raw.is_empty() {
            return Err(Error::Unprocessable("original is empty".into()));
        }
        if raw.len() > st.max_message_bytes {
            return Err(Error::TooLarge);
        }
        let annotations = Annotations {
            author_id: Some(user.id),
            comm_type_id,
            reference,
            external_id,
            subject: title,
            body_text: text,
            occurred_at,
            direction,
        };
        return log_original(&st, &user, card_id, raw, annotations).await;
    }

    let text = text.unwrap_or_default();
    let title = title.unwrap_or_default();
    if title.is_empty() && text.trim().is_empty() {
        return Err(Error::Unprocessable("give a title or a text".into()));
    }
    let from = b.from.as_ref().map(|m| mailbox("from", m)).transpose()?;
    let to =
        b.to.iter()
            .map(|m| mailbox("to", m))
            .collect::<Result<_, _>>()?;
    let cc =
        b.cc.iter()
            .map(|m| mailbox("cc", m))
            .collect::<Result<_, _>>()?;
    if kind != EntryKind::Email && (from.is_some() || !b.to.is_empty() || !b.cc.is_empty()) {
        return Err(Error::Unprocessable(
            "from, to and cc are for kind email".into(),
        ));
    }
    let new = NewEntry {
        card_id,
        kind: kind.as_str().into(),
        author_kind: "user".into(),
        author_id: Some(user.id),
        subject: title,
        body_text: text,
        occurred_at: occurred_at.unwrap_or_else(|| chrono::Utc::now().timestamp()),
        direction,
        comm_type_id,
        reference,
        details: details(kind, b.duration_minutes)?,
        responsible_id,
        from,
        to,
        cc,
        dedup_key: external_id.map(|x| format!("ext:{x}")),
        contact_ids,
        ..NewEntry::default()
    };
    let (id, created) = st.store.create_entry(&new).await?;
    let entry = index_entry(&st, id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    entry_response(&st, &user, status, entry).await
}

/// An original given by another system goes the one ingest path (spool,
/// queue, worker), with what the caller said about it.
async fn log_original(
    st: &AppState,
    user: &User,
    card_id: i64,
    raw: Vec<u8>,
    annotations: Annotations,
) -> Result<Response, Error> {
    let envelope = Envelope {
        mail_from: user.email.clone(),
        helo: String::new(),
        peer: format!("api: logged by user {}", user.id),
        rcpt_to: vec![],
    };
    let queue_id = st
        .ingest
        .accept_annotated(
            envelope,
            raw,
            (card_id, format!("api:{card_id}")),
            annotations,
        )
        .await?;
    super::upload::processed_response(st, user, queue_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    #[serde(alias = "subject")]
    title: Option<String>,
    #[serde(alias = "body_text")]
    text: Option<String>,
    occurred_at: Option<String>,
    direction: Option<String>,
    duration_minutes: Option<u32>,
    contact_ids: Option<Vec<i64>>,
    reference: Option<Value>,
    /// Workflow fields, open to everyone who sees the card:
    #[serde(default, with = "nullable")]
    communication_type: Option<Option<IdOrCode>>,
    #[serde(default, with = "nullable")]
    responsible_id: Option<Option<i64>>,
    handled: Option<bool>,
    #[serde(default, with = "nullable")]
    due_at: Option<Option<String>>,
}

/// Absent → None, `null` → Some(None), a value → Some(Some(v)).
mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

pub async fn edit(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(b): Json<EditBody>,
) -> Result<Response, Error> {
    let entry = super::entries::visible_entry(&st, &user, id).await?;
    if entry.is_deleted() {
        return Err(Error::Conflict("a deleted entry cannot be changed".into()));
    }
    let viewing = Viewing::load(&st, &user, std::slice::from_ref(&entry)).await?;
    let kind = EntryKind::parse(&entry.kind);
    let content = b.title.is_some()
        || b.text.is_some()
        || b.occurred_at.is_some()
        || b.direction.is_some()
        || b.duration_minutes.is_some()
        || b.contact_ids.is_some()
        || b.reference.is_some();
    if content && !viewing.can_edit(&entry) {
        return Err(Error::Policy(
            "only its author (within the edit window) or whom the edit_others_entry policy names may edit this entry; workflow fields (responsible_id, handled, due_at, communication_type) are open to everyone who sees the card".into(),
        ));
    }
    let mut change = EntryChange::default();
    if let Some(t) = &b.title {
        change.subject = Some(input::text("title", t, input::MAX_TITLE_CHARS, false)?);
    }
    if let Some(t) = &b.text {
        change.body_text = Some(input::text("text", t, input::MAX_TEXT_CHARS, true)?);
    }
    if let Some(t) = &b.occurred_at {
        change.occurred_at = Some(input::time("occurred_at", t)?);
    }
    if let Some(d) = &b.direction {
        if !kind.is_some_and(EntryKind::has_direction) {
            return Err(Error::Unprocessable(format!(
                "{} has no direction",
                entry.kind
            )));
        }
        change.direction = Some(Some(input::direction(d)?));
    }
    if let Some(m) = b.duration_minutes {
        let mut d: Map<String, Value> = entry.details.as_object().cloned().unwrap_or_default();
        let extra = details(kind.unwrap_or(EntryKind::Note), Some(m))?;
        d.extend(extra.as_object().cloned().unwrap_or_default());
        change.details = Some(Value::Object(d));
    }
    if let Some(c) = &b.contact_ids {
        input::list_len("contact_ids", c)?;
        change.contact_ids = Some(c.clone());
    }
    if let Some(r) = &b.reference {
        change.reference = Some(if r.is_null() {
            None
        } else {
            Some(input::reference(r)?)
        });
    }
    if let Some(t) = &b.communication_type {
        change.comm_type_id = Some(match t {
            Some(t) => Some(input::active_type(&st, t).await?.id),
            None => None,
        });
    }
    if let Some(r) = b.responsible_id {
        change.responsible_id = Some(match r {
            Some(id) => Some(input::user(&st, "responsible_id", id).await?),
            None => None,
        });
    }
    if let Some(h) = b.handled {
        if kind == Some(EntryKind::Task) {
            return Err(Error::Unprocessable(
                "a task is handled by closing it: POST /api/tasks/{id}/close".into(),
            ));
        }
        change.handled = Some(h);
    }
    if let Some(due) = &b.due_at {
        if kind != Some(EntryKind::Task) {
            return Err(Error::Unprocessable("due_at is for tasks".into()));
        }
        change.due_at = Some(
            due.as_deref()
                .map(|d| input::time("due_at", d).map(input::rfc3339))
                .transpose()?,
        );
    }
    let label = if content { "edit" } else { "update" };
    st.store
        .update_entry(id, &change, user.id, label, None)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Error::Conflict("a deleted entry cannot be changed".into()),
            e => e.into(),
        })?;
    let entry = index_entry(&st, id).await?;
    entry_response(&st, &user, StatusCode::OK, entry).await
}
