use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::extract::{Json, Path, Query};
use super::{AppState, Caller, Error, Paging};
use crate::config::Visibility;
use crate::domain::ArchiveCode;
use crate::store::{Card, Store, StoreError, User};

#[derive(Serialize)]
pub struct CardView {
    pub id: i64,
    pub title: String,
    pub owner_id: Option<i64>,
    pub status: String,
    pub created_at: String,
    pub archive_address: String,
    /// `everyone` or `private`.
    pub visibility: String,
    pub campaign: Option<String>,
    pub source: Option<String>,
    /// Free-form fields.
    pub fields: serde_json::Value,
}

impl CardView {
    pub fn new(card: Card, domain: &str) -> Self {
        CardView {
            archive_address: format!("{}@{domain}", card.archive_code),
            visibility: card.visibility,
            id: card.id,
            title: card.title,
            owner_id: card.owner_id,
            status: card.status,
            created_at: card.created_at,
            campaign: card.campaign,
            source: card.source,
            fields: serde_json::from_str(&card.fields_json).unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCard {
    pub title: String,
    pub visibility: Option<Visibility>,
    pub status: Option<String>,
    pub campaign: Option<String>,
    pub source: Option<String>,
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A status from `cards.statuses`.
fn status(st: &AppState, s: &str) -> Result<String, Error> {
    if st.statuses.iter().any(|x| x == s) {
        Ok(s.to_owned())
    } else {
        Err(Error::Unprocessable(format!(
            "status must be one of {} (cards.statuses), not {s:?}",
            st.statuses.join(", ")
        )))
    }
}

/// Free-form card fields: short names, scalar values.
fn card_fields(
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    use serde_json::Value;
    if fields.len() > 50 {
        return Err(Error::Unprocessable("a card has at most 50 fields".into()));
    }
    for (k, v) in fields {
        let reserved = ["title", "status", "campaign", "source", "visibility"];
        if k.is_empty()
            || k.len() > 64
            || !k.chars().all(|c| c.is_alphanumeric() || c == '_')
            || reserved.contains(&k.as_str())
        {
            return Err(Error::Unprocessable(format!(
                "field name {k:?} must be 1-64 letters, digits or _ and not a card column"
            )));
        }
        let ok = match v {
            Value::Null | Value::Bool(_) | Value::Number(_) => true,
            Value::String(s) => s.chars().count() <= 2000,
            _ => false,
        };
        if !ok {
            return Err(Error::Unprocessable(format!(
                "field {k:?} must be a string (at most 2000 characters), number, boolean or null"
            )));
        }
    }
    Ok(fields.clone())
}

fn short(field: &str, v: &Option<String>) -> Result<Option<String>, Error> {
    v.as_deref()
        .map(|s| super::input::text(field, s, super::input::MAX_SHORT_CHARS, false))
        .transpose()
        .map(|s| s.filter(|s| !s.is_empty()))
}

pub const MAX_TITLE_CHARS: usize = 500;

/// Validates a title: trimmed, non-empty, bounded, no control characters.
pub fn clean_title(title: &str) -> Result<String, String> {
    let t = title.trim();
    if t.is_empty() {
        return Err("title must not be empty".into());
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(format!(
            "title must be at most {MAX_TITLE_CHARS} characters"
        ));
    }
    if t.chars().any(char::is_control) {
        return Err("title must not contain control characters".into());
    }
    Ok(t.to_owned())
}

/// A fresh code that was never issued before (collisions at 80 bits are
/// practically impossible, but a retry costs nothing).
pub async fn fresh_code(store: &Store) -> Result<ArchiveCode, StoreError> {
    loop {
        let code = ArchiveCode::generate();
        if !store.code_in_use(code.as_str()).await? {
            return Ok(code);
        }
    }
}

pub async fn create(
    State(st): State<AppState>,
    Caller(user): Caller,
    Json(body): Json<NewCard>,
) -> Result<(StatusCode, axum::Json<CardView>), Error> {
    let title = clean_title(&body.title).map_err(Error::Unprocessable)?;
    let card_status = match &body.status {
        Some(s) => status(&st, s)?,
        None => st.statuses[0].clone(),
    };
    let campaign = short("campaign", &body.campaign)?;
    let source = short("source", &body.source)?;
    let mut fields = card_fields(&body.fields)?;
    // On a new card, `null` just means no value.
    fields.retain(|_, v| !v.is_null());
    let code = fresh_code(&st.store).await?;
    let visibility = body.visibility.unwrap_or(st.default_visibility);
    let mut card = st
        .store
        .create_card_with_status(
            &title,
            Some(user.id),
            code.as_str(),
            visibility.as_str(),
            &card_status,
        )
        .await?;
    if campaign.is_some() || source.is_some() || !fields.is_empty() {
        st.store
            .set_card_details(card.id, campaign.as_deref(), source.as_deref(), &fields)
            .await?;
        card = st.store.card(card.id).await?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(CardView::new(card, &st.archive_domain)),
    ))
}

#[derive(Serialize)]
pub struct CardList {
    total: i64,
    cards: Vec<CardView>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardListParams {
    /// An action label, by id or code.
    label: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(p): Query<CardListParams>,
) -> Result<axum::Json<CardList>, Error> {
    let (limit, offset) = Paging {
        limit: p.limit,
        offset: p.offset,
    }
    .resolve(50)?;
    let label = match &p.label {
        Some(key) => Some(
            st.store
                .find_label("action", key)
                .await?
                .ok_or_else(|| Error::BadRequest(format!("label {key:?} is not an action label")))?
                .id,
        ),
        None => None,
    };
    let (total, cards) = st.store.cards(user.viewer(), label, limit, offset).await?;
    Ok(axum::Json(CardList {
        total,
        cards: cards
            .into_iter()
            .map(|c| CardView::new(c, &st.archive_domain))
            .collect(),
    }))
}

/// The card, if the caller may see it. A card they may not see is a 404, so
/// its existence is not revealed.
pub async fn load_card(st: &AppState, user: &User, id: i64) -> Result<Card, Error> {
    if !st.store.can_see(user.viewer(), id).await? {
        return Err(Error::NotFound("card"));
    }
    st.store.card(id).await.map_err(|e| match e {
        StoreError::NotFound => Error::NotFound("card"),
        e => e.into(),
    })
}

/// The card, if the caller may change its settings: its owner or an admin.
async fn owned_card(
    st: &AppState,
    user: &User,
    id: i64,
    what: &'static str,
) -> Result<Card, Error> {
    let card = load_card(st, user, id).await?;
    if !user.is_admin && card.owner_id != Some(user.id) {
        return Err(Error::Forbidden(what));
    }
    Ok(card)
}

#[derive(Serialize)]
pub struct CardDetail {
    #[serde(flatten)]
    card: CardView,
    /// Users a private card is shared with.
    shared_with: Vec<i64>,
    /// Action labels.
    labels: Vec<crate::store::Label>,
    /// Open tasks, shown apart from the history (soonest due first).
    open_tasks: Vec<super::views::EntryView>,
    contacts: Vec<crate::store::Contact>,
}

async fn detail(st: &AppState, user: &User, card: Card) -> Result<axum::Json<CardDetail>, Error> {
    let shared_with = st.store.card_shares(card.id).await?;
    let tasks = st.store.open_tasks(card.id).await?;
    let viewing = super::views::Viewing::load(st, user, &tasks).await?;
    Ok(axum::Json(CardDetail {
        shared_with,
        labels: st.store.labels_of("action", card.id).await?,
        open_tasks: viewing.entries(tasks),
        contacts: st.store.card_contacts(card.id).await?,
        card: CardView::new(card, &st.archive_domain),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardUpdate {
    visibility: Option<Visibility>,
    title: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    campaign: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    source: Option<Option<String>>,
    /// Free-form fields to set; `null` removes one.
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
}

/// Absent → None, `null` → Some(None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /api/cards/{id}`: title, status, campaign, source and fields (each
/// change a `status_change` / `field_change` entry), and visibility (owner
/// or admin only).
pub async fn update(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(body): Json<CardUpdate>,
) -> Result<axum::Json<CardDetail>, Error> {
    load_card(&st, &user, id).await?;
    let change = crate::store::CardChange {
        title: body
            .title
            .as_deref()
            .map(clean_title)
            .transpose()
            .map_err(Error::Unprocessable)?,
        status: body.status.as_deref().map(|s| status(&st, s)).transpose()?,
        campaign: body
            .campaign
            .as_ref()
            .map(|c| short("campaign", c))
            .transpose()?,
        source: body
            .source
            .as_ref()
            .map(|c| short("source", c))
            .transpose()?,
        fields: card_fields(&body.fields)?,
    };
    if let Some(visibility) = body.visibility {
        owned_card(
            &st,
            &user,
            id,
            "only the card's owner or an admin may change who sees it",
        )
        .await?;
        st.store.set_visibility(id, visibility.as_str()).await?;
    }
    let created = st.store.update_card_fields(id, &change, user.id).await?;
    for entry in created {
        super::manual::index_entry(&st, entry).await?;
    }
    detail(&st, &user, st.store.card(id).await?).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    user_id: i64,
}

pub async fn share(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(body): Json<Share>,
) -> Result<axum::Json<CardDetail>, Error> {
    let card = owned_card(
        &st,
        &user,
        id,
        "only the card's owner or an admin may share it",
    )
    .await?;
    st.store
        .share_card(id, body.user_id)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => Error::Unprocessable(m),
            e => e.into(),
        })?;
    detail(&st, &user, card).await
}

pub async fn unshare(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<axum::Json<CardDetail>, Error> {
    let card = owned_card(
        &st,
        &user,
        id,
        "only the card's owner or an admin may share it",
    )
    .await?;
    st.store.unshare_card(id, user_id).await?;
    detail(&st, &user, card).await
}

pub async fn show(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CardDetail>, Error> {
    let card = load_card(&st, &user, id).await?;
    detail(&st, &user, card).await
}

/// Issues a new archive address; the old one is refused from then on.
/// Only the card's owner or an admin may do this.
pub async fn regenerate_address(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CardView>, Error> {
    let card = owned_card(
        &st,
        &user,
        id,
        "only the card's owner or an admin may regenerate its archive address",
    )
    .await?;
    let code = fresh_code(&st.store).await?;
    let new = st.store.replace_archive_code(id, code.as_str()).await?;
    st.ingest.forget_code(&card.archive_code);
    Ok(axum::Json(CardView::new(new, &st.archive_domain)))
}

pub async fn me(Caller(user): Caller) -> axum::Json<User> {
    axum::Json(user)
}

/// Everyone on the team (to pick a responsible user).
pub async fn users(
    State(st): State<AppState>,
    Caller(_user): Caller,
) -> Result<axum::Json<serde_json::Value>, Error> {
    let users: Vec<super::views::UserRef> =
        st.store.users().await?.iter().map(Into::into).collect();
    Ok(axum::Json(serde_json::json!({ "users": users })))
}
