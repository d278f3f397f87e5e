//! Labels: admins manage traits (on contacts) and actions (on cards) at
//! `/api/admin/labels`; users put active ones on cards and contacts.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::admin::require_admin;
use super::cards::load_card;
use super::error::extract::{Json, Path, Query};
use super::input::{self, IdOrCode};
use super::types::{code, colour};
use super::{AppState, Caller, Error};
use crate::store::{Label, LabelFields, StoreError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelBody {
    /// `trait` or `action` (on create only).
    kind: Option<String>,
    name: Option<String>,
    code: Option<String>,
    colour: Option<String>,
    active: Option<bool>,
}

fn fields(b: &LabelBody, base: Option<&Label>) -> Result<LabelFields, Error> {
    let name = b
        .name
        .clone()
        .or(base.map(|l| l.name.clone()))
        .ok_or_else(|| Error::Unprocessable("name is required".into()))?;
    let name = input::required("name", &name, 100)?;
    let code = match b.code.clone().or(base.map(|l| l.code.clone())) {
        Some(c) => code(&c)?,
        None => code(&name.replace(' ', "_"))?,
    };
    Ok(LabelFields {
        name,
        code,
        colour: colour(
            &b.colour
                .clone()
                .or(base.map(|l| l.colour.clone()))
                .unwrap_or_else(|| "#607d8b".into()),
        )?,
        active: b.active.or(base.map(|l| l.active)).unwrap_or(true),
    })
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound("label"),
        e => e.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindParam {
    kind: Option<String>,
}

fn kind(k: Option<&str>) -> Result<Option<&str>, Error> {
    match k {
        None => Ok(None),
        Some(k @ ("trait" | "action")) => Ok(Some(k)),
        Some(other) => Err(Error::BadRequest(format!(
            "kind must be trait or action, not {other:?}"
        ))),
    }
}

/// Every label with how often it is used (admins).
pub async fn admin_list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(p): Query<KindParam>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    require_admin(&user)?;
    let mut out = Vec::new();
    for l in st.store.labels(kind(p.kind.as_deref())?).await? {
        let used = st.store.label_usage(&l).await?;
        let mut v = json!(l);
        v["used"] = json!(used);
        out.push(v);
    }
    Ok(axum::Json(json!({ "labels": out })))
}

/// Active labels, for everyone (`?kind=trait|action`).
pub async fn list(
    State(st): State<AppState>,
    Caller(_user): Caller,
    Query(p): Query<KindParam>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    let labels: Vec<Label> = st
        .store
        .labels(kind(p.kind.as_deref())?)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .collect();
    Ok(axum::Json(json!({ "labels": labels })))
}

pub async fn create(
    State(st): State<AppState>,
    Caller(user): Caller,
    Json(b): Json<LabelBody>,
) -> Result<(StatusCode, axum::Json<Label>), Error> {
    require_admin(&user)?;
    let k = kind(b.kind.as_deref())
        .map_err(|e| Error::Unprocessable(e.to_string()))?
        .ok_or_else(|| Error::Unprocessable("kind is required: trait or action".into()))?;
    let label = st
        .store
        .create_label(k, &fields(&b, None)?, user.id)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(label)))
}

pub async fn update(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(b): Json<LabelBody>,
) -> Result<axum::Json<Label>, Error> {
    require_admin(&user)?;
    let current = st.store.label(id).await.map_err(not_found)?;
    if b.kind.as_deref().is_some_and(|k| k != current.kind) {
        return Err(Error::Unprocessable("a label's kind cannot change".into()));
    }
    let label = st
        .store
        .update_label(id, &fields(&b, Some(&current))?, user.id)
        .await
        .map_err(not_found)?;
    Ok(axum::Json(label))
}

pub async fn delete(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    require_admin(&user)?;
    st.store
        .delete_label(id, user.id)
        .await
        .map_err(|e| match e {
            StoreError::InUse(n) => Error::InUse(
                format!("this label is on {n} items; remove it there or deactivate it"),
                n,
            ),
            e => not_found(e),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddLabel {
    /// By id or code.
    label: IdOrCode,
}

/// An active label of `kind` by id or code.
async fn pick(st: &AppState, kind: &str, key: &IdOrCode) -> Result<Label, Error> {
    let key = match key {
        IdOrCode::Id(i) => i.to_string(),
        IdOrCode::Code(c) => c.clone(),
    };
    let label = st.store.find_label(kind, &key).await?.ok_or_else(|| {
        Error::Unprocessable(format!(
            "{key:?} is not a{} {kind} label",
            if kind == "action" { "n" } else { "" }
        ))
    })?;
    if !label.active {
        return Err(Error::Unprocessable(format!(
            "label {:?} is inactive",
            label.name
        )));
    }
    Ok(label)
}

/// A label by id that must be of `kind` (the route's: actions on cards,
/// traits on contacts); another kind is not found here.
async fn of_kind(st: &AppState, id: i64, kind: &str) -> Result<Label, Error> {
    st.store.label(id).await.map_err(not_found).and_then(|l| {
        if l.kind == kind {
            Ok(l)
        } else {
            Err(Error::NotFound("label"))
        }
    })
}

/// `POST /api/cards/{id}/labels {"label": …}`: an action on a card.
pub async fn add_to_card(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card): Path<i64>,
    Json(b): Json<AddLabel>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    load_card(&st, &user, card).await?;
    let label = pick(&st, "action", &b.label).await?;
    st.store.add_label(&label, card, user.id).await?;
    Ok(axum::Json(
        json!({"labels": st.store.labels_of("action", card).await?}),
    ))
}

pub async fn remove_from_card(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path((card, label)): Path<(i64, i64)>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    load_card(&st, &user, card).await?;
    let label = of_kind(&st, label, "action").await?;
    st.store.remove_label(&label, card).await?;
    Ok(axum::Json(
        json!({"labels": st.store.labels_of("action", card).await?}),
    ))
}

/// `POST /api/contacts/{id}/labels {"label": …}`: a trait on a contact.
pub async fn add_to_contact(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(contact): Path<i64>,
    Json(b): Json<AddLabel>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    super::contacts::visible_contact(&st, &user, contact).await?;
    let label = pick(&st, "trait", &b.label).await?;
    st.store.add_label(&label, contact, user.id).await?;
    Ok(axum::Json(
        json!({"labels": st.store.labels_of("trait", contact).await?}),
    ))
}

pub async fn remove_from_contact(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path((contact, label)): Path<(i64, i64)>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    super::contacts::visible_contact(&st, &user, contact).await?;
    let label = of_kind(&st, label, "trait").await?;
    st.store.remove_label(&label, contact).await?;
    Ok(axum::Json(
        json!({"labels": st.store.labels_of("trait", contact).await?}),
    ))
}
