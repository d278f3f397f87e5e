use axum::extract::State;
use serde::Deserialize;

use super::error::extract::Query;
use super::{AppState, Caller, Error, Paging};
use crate::search::{SearchRequest, SearchResults, Sort};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    card_id: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// The same filters as the query operators, as URL parameters.
    kind: Option<String>,
    from: Option<String>,
    after: Option<String>,
    before: Option<String>,
    has_attachment: Option<bool>,
    /// `relevance` (default) or `date` (newest first).
    sort: Option<String>,
    /// `true`: counts by kind, card, sender domain and year.
    #[serde(default)]
    facets: bool,
}

pub const MAX_QUERY_CHARS: usize = 1000;

/// A URL parameter as a query operator (the value quoted when it has spaces).
fn operator(field: &str, value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("{field}:\"{}\"", value.replace('"', ""))
    } else {
        format!("{field}:{value}")
    }
}

pub async fn search(
    State(st): State<AppState>,
    Caller(user): Caller,
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
    let sort = match p.sort.as_deref() {
        None | Some("relevance") => Sort::Relevance,
        Some("date") => Sort::Date,
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "sort must be relevance or date, not {other:?}"
            )))
        }
    };
    let mut q = p.q;
    let params = [
        ("kind", &p.kind),
        ("from", &p.from),
        ("after", &p.after),
        ("before", &p.before),
    ];
    for (field, value) in params {
        if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            q.push(' ');
            q.push_str(&operator(field, v.trim()));
        }
    }
    match p.has_attachment {
        Some(true) => q.push_str(" has:attachment"),
        Some(false) => q.push_str(" -has:attachment"),
        None => {}
    }
    let req = SearchRequest {
        q,
        card_id: p.card_id,
        limit: limit as usize,
        offset: offset as usize,
        sort,
        facets: p.facets,
        // Totals and facets count only what the caller may see.
        hidden_cards: st.store.hidden_cards(user.viewer()).await?,
        types: st
            .store
            .comm_types()
            .await?
            .into_iter()
            .map(|t| (t.code.to_lowercase(), t.id))
            .collect(),
        budget: st.searcher.budget(),
    };
    // Dropped with this future when the request ends: the search stops too.
    let _cancel = req.budget.cancel_on_drop();
    let searcher = st.searcher.clone();
    let results = tokio::task::spawn_blocking(move || searcher.search(&req))
        .await
        .map_err(Error::internal)??;
    Ok(axum::Json(results))
}
