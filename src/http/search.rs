use axum::extract::State;
use serde::Deserialize;

use super::error::extract::Query;
use super::{AppState, Caller, Error, Paging};
use crate::search::{SearchRequest, SearchResults};

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    card_id: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
}

const MAX_QUERY_CHARS: usize = 1000;

pub async fn search(
    State(st): State<AppState>,
    _caller: Caller,
    Query(p): Query<SearchParams>,
) -> Result<axum::Json<SearchResults>, Error> {
    let (limit, offset) = Paging {
        limit: p.limit,
        offset: p.offset,
    }
    .resolve(20)?;
    if p.q.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::BadRequest(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let req = SearchRequest {
        q: p.q,
        card_id: p.card_id,
        limit: limit as usize,
        offset: offset as usize,
    };
    let searcher = st.searcher.clone();
    let results = tokio::task::spawn_blocking(move || searcher.search(&req))
        .await
        .map_err(Error::internal)??;
    Ok(axum::Json(results))
}
