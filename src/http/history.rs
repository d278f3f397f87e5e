//! `GET /api/cards/{id}/history` and the central view `GET /api/entries`:
//! the same filters, totals for the filter bar, newest first with a cursor.

use std::collections::BTreeMap;

use axum::extract::State;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::cards::load_card;
use super::error::extract::{Path, Query};
use super::views::{EntryView, Viewing};
use super::{AppState, Caller, Error, MAX_LIMIT};
use crate::domain::parse_kinds;
use crate::search::SearchRequest;
use crate::store::{AuthorFilter, Cursor, EntryFilter, User};

/// Most entries a text filter (`q`) may narrow a listing to.
const MAX_TEXT_MATCHES: usize = 50_000;

/// The filters of both listings (and of bulk changes, as a JSON body).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Comma-separated kinds: `note,call`.
    kind: Option<String>,
    /// Comma-separated communication types, by id or code.
    #[serde(rename = "type")]
    comm_type: Option<String>,
    /// `general` or `financial`.
    log: Option<String>,
    /// A user id, `me`, `ingest` or `system`.
    author: Option<String>,
    after: Option<String>,
    before: Option<String>,
    has_documents: Option<bool>,
    q: Option<String>,
    /// `false` hides the tombstones of deleted entries.
    deleted: Option<bool>,
    /// A user id, `me` or `none`.
    responsible: Option<String>,
    handled: Option<bool>,
    /// The central view: one card, or cards by campaign, source, action label.
    card_id: Option<i64>,
    campaign: Option<String>,
    source: Option<String>,
    /// An action label on the card, by id or code.
    label: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct Totals {
    pub by_kind: BTreeMap<String, i64>,
    pub handled: i64,
    pub open: i64,
}

#[derive(Serialize)]
pub struct Listing {
    pub total: i64,
    pub totals: Totals,
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

pub fn encode_cursor(c: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.0, c.1))
}

pub fn decode_cursor(s: &str) -> Result<Cursor, Error> {
    let bad = || Error::BadRequest("cursor is not one this server handed out".into());
    let text = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339, as Unix seconds.
pub fn parse_time(field: &str, v: &str) -> Result<i64, Error> {
    let v = v.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(d.timestamp());
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp()
        })
        .map_err(|_| {
            Error::BadRequest(format!(
                "{field} must be a date (YYYY-MM-DD) or an RFC 3339 time, not {v:?}"
            ))
        })
}

/// A user id, or `me`.
fn user_param(field: &str, v: &str, caller: &User) -> Result<i64, Error> {
    if v == "me" {
        return Ok(caller.id);
    }
    v.parse()
        .map_err(|_| Error::BadRequest(format!("{field} must be a user id or \"me\", not {v:?}")))
}

/// A listing's filter and page: the store filter, cursor, offset, limit.
pub struct Resolved {
    pub filter: EntryFilter,
    pub cursor: Option<Cursor>,
    pub offset: i64,
    pub limit: i64,
}

impl ListParams {
    /// Checks every parameter (400 naming the bad one) and builds the filter.
    pub async fn resolve(&self, st: &AppState, caller: &User) -> Result<Resolved, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if !(0..=1_000_000).contains(&offset) {
            return Err(Error::BadRequest(
                "offset must be between 0 and 1000000".into(),
            ));
        }
        let cursor = self.cursor.as_deref().map(decode_cursor).transpose()?;
        if cursor.is_some() && offset > 0 {
            return Err(Error::BadRequest(
                "use either cursor or offset, not both".into(),
            ));
        }
        if let Some(card) = self.card_id {
            load_card(st, caller, card).await?;
        }
        let mut f = EntryFilter {
            card_id: self.card_id,
            has_documents: self.has_documents,
            handled: self.handled,
            campaign: self.campaign.clone(),
            source: self.source.clone(),
            include_deleted: self.deleted.unwrap_or(true),
            ..EntryFilter::default()
        };
        if let Some(k) = &self.kind {
            f.kinds = parse_kinds(k)
                .map_err(Error::BadRequest)?
                .into_iter()
                .map(|k| k.as_str().to_owned())
                .collect();
        }
        let types = st.store.comm_types().await?;
        if let Some(list) = &self.comm_type {
            for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                let t = types
                    .iter()
                    .find(|t| t.id.to_string() == key || t.code.eq_ignore_ascii_case(key))
                    .ok_or_else(|| {
                        Error::BadRequest(format!("type {key:?} is not a communication type"))
                    })?;
                f.type_ids.push(t.id);
            }
        }
        f.log = match self.log.as_deref() {
            None => None,
            Some(l @ ("general" | "financial")) => Some(l.to_owned()),
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "log must be general or financial, not {other:?}"
                )))
            }
        };
        f.author = match self.author.as_deref() {
            None => None,
            Some(k @ ("ingest" | "system")) => Some(AuthorFilter::Kind(k.to_owned())),
            Some(v) => Some(AuthorFilter::User(user_param("author", v, caller)?)),
        };
        f.responsible = match self.responsible.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(v) => Some(Some(user_param("responsible", v, caller)?)),
        };
        f.after = self
            .after
            .as_deref()
            .map(|v| parse_time("after", v))
            .transpose()?;
        f.before = self
            .before
            .as_deref()
            .map(|v| parse_time("before", v))
            .transpose()?;
        if let Some(key) = &self.label {
            let label = st.store.find_label("action", key).await?.ok_or_else(|| {
                Error::BadRequest(format!("label {key:?} is not an action label"))
            })?;
            f.card_label = Some(label.id);
        }
        if let Some(q) = self.q.as_deref().filter(|q| !q.trim().is_empty()) {
            f.ids = Some(text_matches(st, caller, q, self.card_id, types).await?);
        }
        Ok(Resolved {
            filter: f,
            cursor,
            offset,
            limit,
        })
    }
}

/// Entry ids a text query matches, within what the caller may see.
async fn text_matches(
    st: &AppState,
    caller: &User,
    q: &str,
    card_id: Option<i64>,
    types: Vec<crate::store::CommType>,
) -> Result<Vec<i64>, Error> {
    if q.chars().count() > super::search::MAX_QUERY_CHARS {
        return Err(Error::BadRequest(format!(
            "q must be at most {} characters",
            super::search::MAX_QUERY_CHARS
        )));
    }
    let req = SearchRequest {
        q: q.to_owned(),
        card_id,
        hidden_cards: st.store.hidden_cards(caller.viewer()).await?,
        types: types
            .into_iter()
            .map(|t| (t.code.to_lowercase(), t.id))
            .collect(),
        budget: st.searcher.budget(),
        ..SearchRequest::default()
    };
    let _cancel = req.budget.cancel_on_drop();
    let searcher = st.searcher.clone();
    Ok(
        tokio::task::spawn_blocking(move || searcher.matching_ids(&req, MAX_TEXT_MATCHES))
            .await
            .map_err(Error::internal)??,
    )
}

async fn listing(st: &AppState, caller: &User, r: Resolved) -> Result<axum::Json<Listing>, Error> {
    // A single card was checked already; across cards, only visible ones.
    let viewer = r.filter.card_id.is_none().then(|| caller.viewer());
    let page = st
        .store
        .list_entries(&r.filter, viewer, r.cursor, r.offset, r.limit)
        .await?;
    let viewing = Viewing::load(st, caller, &page.entries).await?;
    Ok(axum::Json(Listing {
        total: page.total,
        totals: Totals {
            by_kind: page.by_kind,
            handled: page.handled,
            open: page.open,
        },
        entries: viewing.entries(page.entries),
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// A card's history: everything but its open tasks (`GET .../tasks`).
pub async fn history(
    State(st): State<AppState>,
    Caller(user): Caller,
    Path(card_id): Path<i64>,
    Query(mut p): Query<ListParams>,
) -> Result<axum::Json<Listing>, Error> {
    if p.card_id.is_some_and(|c| c != card_id) {
        return Err(Error::BadRequest(
            "card_id is the card of the path here".into(),
        ));
    }
    p.card_id = Some(card_id);
    let r = p.resolve(&st, &user).await?;
    listing(&st, &user, r).await
}

/// Every card the caller may see, open tasks included.
pub async fn central(
    State(st): State<AppState>,
    Caller(user): Caller,
    Query(p): Query<ListParams>,
) -> Result<axum::Json<Listing>, Error> {
    let mut r = p.resolve(&st, &user).await?;
    r.filter.include_open_tasks = true;
    listing(&st, &user, r).await
}
