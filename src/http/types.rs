//! Communication types: admins manage them at `/api/admin/communication-types`;
//! everyone lists the active ones at `/api/communication-types`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::admin::require_admin;
use super::error::extract::{Json, Path, Query};
use super::input;
use super::{AppState, Caller, Error};
use crate::store::{CommType, StoreError, TypeFields};

#[derive(Serialize)]
pub struct TypeView {
    #[serde(flatten)]
    ty: CommType,
    /// How many entries carry it (a type in use cannot be deleted).
    entries: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeBody {
    name: Option<String>,
    code: Option<String>,
    colour: Option<String>,
    log: Option<String>,
    active: Option<bool>,
    sender_domains: Option<Vec<String>>,
    subject_keywords: Option<Vec<String>>,
}

/// `#rgb` or `#rrggbb`.
pub fn colour(v: &str) -> Result<String, Error> {
    let v = v.trim();
    let hex = v.strip_prefix('#').unwrap_or("");
    if matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(Error::Unprocessable(format!(
            "colour must be #rgb or #rrggbb, not {v:?}"
        )))
    }
}

/// Letters, digits, `-` and `_`, at most 40: it is the tag of a plus address.
pub fn code(v: &str) -> Result<String, Error> {
    let v = v.trim().to_lowercase();
    if v.is_empty()
        || v.len() > 40
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Unprocessable(format!(
            "code must be 1-40 letters, digits, - or _ (it is used as <code>+<card>@domain), not {v:?}"
        )));
    }
    Ok(v)
}

fn words(field: &str, list: &[String], domain: bool) -> Result<Vec<String>, Error> {
    input::list_len(field, list)?;
    let mut out = Vec::new();
    for w in list {
        let w = input::required(field, w, 100)?.to_lowercase();
        if domain && (w.contains('@') || w.contains(char::is_whitespace) || !w.contains('.')) {
            return Err(Error::Unprocessable(format!(
                "{field}: {w:?} is not a domain"
            )));
        }
        if !out.contains(&w) {
            out.push(w);
        }
    }
    Ok(out)
}

impl TypeBody {
    /// The fields after this body, over `base` (a PATCH) or from scratch (a POST).
    fn apply(&self, base: Option<&CommType>) -> Result<TypeFields, Error> {
        let pick = |new: &Option<String>, old: Option<&String>| new.clone().or(old.cloned());
        let name = pick(&self.name, base.map(|b| &b.name))
            .ok_or_else(|| Error::Unprocessable("name is required".into()))?;
        let code_value = pick(&self.code, base.map(|b| &b.code))
            .ok_or_else(|| Error::Unprocessable("code is required".into()))?;
        let log = pick(&self.log, base.map(|b| &b.log)).unwrap_or_else(|| "general".into());
        if !matches!(log.as_str(), "general" | "financial") {
            return Err(Error::Unprocessable(format!(
                "log must be general or financial, not {log:?}"
            )));
        }
        let list = |new: &Option<Vec<String>>, old: Option<&Vec<String>>| {
            new.clone().or(old.cloned()).unwrap_or_default()
        };
        Ok(TypeFields {
            name: input::required("name", &name, 100)?,
            code: code(&code_value)?,
            colour: colour(
                &pick(&self.colour, base.map(|b| &b.colour)).unwrap_or_else(|| "#607d8b".into()),
            )?,
            log,
            active: self.active.or(base.map(|b| b.active)).unwrap_or(true),
            sender_domains: words(
                "sender_domains",
                &list(&self.sender_domains, base.map(|b| &b.sender_domains)),
                true,
            )?,
            subject_keywords: words(
                "subject_keywords",
                &list(&self.subject_keywords, base.map(|b| &b.subject_keywords)),
                false,
            )?,
        })
    }
}

async fn view(st: &AppState, ty: CommType) -> Result<TypeView, Error> {
    Ok(TypeView {
        entries: st.store.comm_type_usage(ty.id).await?,
        ty,
    })
}

pub async fn admin_list(
    State(st): State<AppState>,
    Caller(user): Caller,
) -> Result<axum::Json<serde_json::Value>, Error> {
    require_admin(&user)?;
    let mut out = Vec::new();
    for t in st.store.comm_types().await? {
        out.push(view(&st, t).await?);
    }
    Ok(axum::Json(serde_json::json!({ "types": out })))
}

pub async fn create(
    State(st): State<AppState>,
    Caller(user): Caller,
    Json(b): Json<TypeBody>,
) -> Result<(StatusCode, axum::Json<TypeView>), Error> {
    require_admin(&user)?;
    let fields = b.apply(None)?;
    let ty = st.store.create_comm_type(&fields, user.id).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&st, ty).await?)))
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound("communication type"),
        e => e.into(),
    }
}

/// Renames (entries keep the link), recolours, (de)activates, changes rules.
pub async fn update(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(b): Json<TypeBody>,
) -> Result<axum::Json<TypeView>, Error> {
    require_admin(&user)?;
    let current = st.store.comm_type(id).await.map_err(not_found)?;
    let fields = b.apply(Some(&current))?;
    let ty = st
        .store
        .update_comm_type(id, &fields, user.id)
        .await
        .map_err(not_found)?;
    Ok(axum::Json(view(&st, ty).await?))
}

/// 204; 409 `in_use` with the number of entries that carry it.
pub async fn delete(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Error> {
    require_admin(&user)?;
    st.store.delete_comm_type(id, user.id).await.map_err(|e| match e {
        StoreError::InUse(n) => Error::InUse(
            format!("{n} entries use this communication type; deactivate it instead (PATCH {{\"active\": false}})"),
            n,
        ),
        e => not_found(e),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Include inactive types (they stay on old entries).
    #[serde(default)]
    all: bool,
}

/// The types a user may pick: the active ones (`?all=true`: every type).
pub async fn list(
    State(st): State<AppState>,
    Caller(_user): Caller,
    Query(p): Query<ListParams>,
) -> Result<axum::Json<serde_json::Value>, Error> {
    let types: Vec<CommType> = st
        .store
        .comm_types()
        .await?
        .into_iter()
        .filter(|t| p.all || t.active)
        .collect();
    Ok(axum::Json(serde_json::json!({ "types": types })))
}
