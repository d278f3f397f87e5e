//! Contact persons of a card, and one person's correspondence across cards.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cards::load_card;
use super::error::extract::{Json, Path, Query};
use super::history::{decode_cursor, encode_cursor};
use super::input;
use super::views::{EntryView, Viewing};
use super::{AppState, Caller, Error, Paging, MAX_LIMIT};
use crate::store::{Contact, ContactFields, Label, StoreError, User};

#[derive(Serialize)]
pub struct ContactView {
    #[serde(flatten)]
    contact: Contact,
    /// Trait labels.
    labels: Vec<Label>,
}

async fn view(st: &AppState, c: Contact) -> Result<ContactView, Error> {
    Ok(ContactView {
        labels: st.store.labels_of("trait", c.id).await?,
        contact: c,
    })
}

/// The contact, if the caller may see its card.
pub async fn visible_contact(st: &AppState, user: &User, id: i64) -> Result<Contact, Error> {
    let c = st.store.contact(id).await.map_err(|e| match e {
        StoreError::NotFound => Error::NotFound("contact"),
        e => e.into(),
    })?;
    if !st.store.can_see(user.viewer(), c.card_id).await? {
        return Err(Error::NotFound("contact"));
    }
    Ok(c)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    name: Option<String>,
    #[serde(default)]
    emails: Option<Vec<String>>,
    phone: Option<String>,
    role: Option<String>,
}

fn fields(b: &ContactBody, base: Option<&Contact>) -> Result<ContactFields, Error> {
    let name = b
        .name
        .clone()
        .or(base.map(|c| c.name.clone()))
        .ok_or_else(|| Error::Unprocessable("name is required".into()))?;
    let emails = b
        .emails
        .clone()
        .or(base.map(|c| c.emails.clone()))
        .unwrap_or_default();
    input::list_len("emails", &emails)?;
    let mut clean = Vec::new();
    for e in &emails {
        let e = input::required("emails", e, 254)?.to_lowercase();
        if !matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty())
            || e.contains(' ')
        {
            return Err(Error::Unprocessable(format!(
                "emails: {e:?} is not an address"
            )));
        }
        if !clean.contains(&e) {
            clean.push(e);
        }
    }
    let opt = |field: &str,
               v: &Option<String>,
               old: Option<&Option<String>>|
     -> Result<Option<String>, Error> {
        match v {
            Some(v) => Ok(Some(input::text(field, v, input::MAX_SHORT_CHARS, false)?)
                .filter(|s| !s.is_empty())),
            None => Ok(old.cloned().flatten()),
        }
    };
    Ok(ContactFields {
        name: input::required("name", &name, input::MAX_SHORT_CHARS)?,
        emails: clean,
        phone: opt("phone", &b.phone, base.map(|c| &c.phone))?,
        role: opt("role", &b.role, base.map(|c| &c.role))?,
    })
}

pub async fn create(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card): Path<i64>,
    Json(b): Json<ContactBody>,
) -> Result<(StatusCode, axum::Json<ContactView>), Error> {
    load_card(&st, &user, card).await?;
    let c = st.store.create_contact(card, &fields(&b, None)?).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&st, c).await?)))
}

pub async fn card_list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card): Path<i64>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    load_card(&st, &user, card).await?;
    let mut out = Vec::new();
    for c in st.store.card_contacts(card).await? {
        out.push(view(&st, c).await?);
    }
    Ok(axum::Json(json!({"total": out.len(), "contacts": out})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// A trait label, by id or code.
    label: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Contacts on every card the caller may see, optionally by trait.
pub async fn list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(p): Query<ListParams>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    let (limit, offset) = Paging {
        limit: p.limit,
        offset: p.offset,
    }
    .resolve(50)?;
    let label = match &p.label {
        Some(key) => Some(
            st.store
                .find_label("trait", key)
                .await?
                .ok_or_else(|| Error::BadRequest(format!("label {key:?} is not a trait label")))?
                .id,
        ),
        None => None,
    };
    let (total, contacts) = st
        .store
        .contacts(user.viewer(), label, limit, offset)
        .await?;
    let mut out = Vec::new();
    for c in contacts {
        out.push(view(&st, c).await?);
    }
    Ok(axum::Json(json!({"total": total, "contacts": out})))
}

pub async fn show(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<ContactView>, Error> {
    let c = visible_contact(&st, &user, id).await?;
    Ok(axum::Json(view(&st, c).await?))
}

pub async fn update(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(b): Json<ContactBody>,
) -> Result<axum::Json<ContactView>, Error> {
    let current = visible_contact(&st, &user, id).await?;
    let c = st
        .store
        .update_contact(id, &fields(&b, Some(&current))?)
        .await?;
    Ok(axum::Json(view(&st, c).await?))
}

pub async fn delete(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    visible_contact(&st, &user, id).await?;
    st.store.delete_contact(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct ContactHistory {
    total: i64,
    entries: Vec<EntryView>,
    next_cursor: Option<String>,
}

/// Everything this person took part in, on every card the caller may see:
/// mail by their addresses, manual entries linked to them.
pub async fn history(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Query(p): Query<HistoryParams>,
) -> Result<axum::Json<ContactHistory>, Error> {
    visible_contact(&st, &user, id).await?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let cursor = p.cursor.as_deref().map(decode_cursor).transpose()?;
    let (total, entries, next) = st
        .store
        .contact_history(id, user.viewer(), cursor, limit)
        .await?;
    let viewing = Viewing::load(&st, &user, &entries).await?;
    Ok(axum::Json(ContactHistory {
        total,
        entries: viewing.entries(entries),
        next_cursor: next.map(encode_cursor),
    }))
}
