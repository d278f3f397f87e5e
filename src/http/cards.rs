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
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCard {
    pub title: String,
    pub visibility: Option<Visibility>,
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
    let code = fresh_code(&st.store).await?;
    let visibility = body.visibility.unwrap_or(st.default_visibility);
    let card = st
        .store
        .create_card(&title, Some(user.id), code.as_str(), visibility.as_str())
        .await?;
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

pub async fn list(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<CardList>, Error> {
    let (limit, offset) = paging.resolve(50)?;
    let (total, cards) = st.store.cards(user.viewer(), limit, offset).await?;
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
}

async fn detail(st: &AppState, card: Card) -> Result<axum::Json<CardDetail>, Error> {
    let shared_with = st.store.card_shares(card.id).await?;
    Ok(axum::Json(CardDetail {
        card: CardView::new(card, &st.archive_domain),
        shared_with,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardUpdate {
    visibility: Visibility,
}

/// `PATCH /api/cards/{id}` `{"visibility": "private" | "everyone"}`.
pub async fn update(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Json(body): Json<CardUpdate>,
) -> Result<axum::Json<CardDetail>, Error> {
    owned_card(
        &st,
        &user,
        id,
        "only the card's owner or an admin may change who sees it",
    )
    .await?;
    st.store
        .set_visibility(id, body.visibility.as_str())
        .await?;
    detail(&st, st.store.card(id).await?).await
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
    detail(&st, card).await
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
    detail(&st, card).await
}

pub async fn show(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<CardDetail>, Error> {
    let card = load_card(&st, &user, id).await?;
    detail(&st, card).await
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
