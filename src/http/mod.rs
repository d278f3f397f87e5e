//! The HTTP server: JSON API under `/api`, the web UI at `/`.

mod admin;
mod auth;
pub mod cards;
mod contacts;
mod documents;
mod entries;
mod error;
mod export;
mod history;
mod imap_skipped;
mod input;
mod labels;
mod manual;
mod policies;
mod search;
mod tasks;
mod types;
mod upload;
mod views;

use std::future::Future;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use auth::Caller;
pub use error::Error;

use crate::blobs::ContentStore;
use crate::ingest::Ingest;
use crate::search::Searcher;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub searcher: Searcher,
    pub spool: ContentStore,
    pub blobs: ContentStore,
    pub archive_domain: String,
    pub default_visibility: crate::config::Visibility,
    pub ingest: Ingest,
    pub imap_status: std::sync::Arc<Vec<ImapStatus>>,
    /// The index writer, for entries written over HTTP (searchable at once).
    pub index: crate::search::IndexHandle,
    pub eraser: crate::erase::Eraser,
    /// Wakes the attachment text worker; tells when it did a step.
    pub texts: crate::ingest::TextSignals,
    /// How long an upload waits for its attachments' text before answering
    /// with `text_status: "pending"`.
    pub text_wait: Duration,
    /// `cards.statuses`; the first is a new card's.
    pub statuses: std::sync::Arc<Vec<String>>,
    pub edit_window_minutes: u64,
    pub max_document_bytes: usize,
    pub max_message_bytes: usize,
}

pub type ImapStatus = std::sync::Arc<std::sync::Mutex<crate::imap::AccountStatus>>;

pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Raw messages (uploads) may be as large as SMTP allows.
    pub max_message_bytes: usize,
    pub max_document_bytes: usize,
}

pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    let api = Router::new()
        .route("/cards", get(cards::list).post(cards::create))
        .route("/cards/{id}", get(cards::show).patch(cards::update))
        .route("/cards/{id}/shares", post(cards::share))
        .route("/cards/{id}/shares/{user_id}", delete(cards::unshare))
        .route(
            "/cards/{id}/archive-address",
            post(cards::regenerate_address),
        )
        .route("/cards/{id}/history", get(history::history))
        .route("/cards/{id}/entries", post(manual::create))
        .route("/cards/{id}/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/cards/{id}/contacts",
            get(contacts::card_list).post(contacts::create),
        )
        .route("/cards/{id}/labels", post(labels::add_to_card))
        .route(
            "/cards/{id}/labels/{label_id}",
            delete(labels::remove_from_card),
        )
        .route("/cards/{id}/export", get(export::export))
        .route(
            "/cards/{id}/messages",
            post(upload::upload).layer(DefaultBodyLimit::max(limits.max_message_bytes)),
        )
        .route(
            "/cards/{id}/documents",
            // The file plus the form around it.
            post(documents::upload)
                .layer(DefaultBodyLimit::max(limits.max_document_bytes + 64 * 1024)),
        )
        .route("/entries", get(history::central))
        .route(
            "/entries/{id}",
            get(entries::show)
                .patch(manual::edit)
                .delete(entries::delete),
        )
        .route("/entries/{id}/raw", get(entries::raw))
        .route(
            "/documents/{id}",
            get(entries::document).delete(entries::delete_document),
        )
        .route("/tasks/assign", post(tasks::assign))
        .route("/tasks/{id}/close", post(tasks::close))
        .route("/tasks/{id}/reopen", post(tasks::reopen))
        .route("/contacts", get(contacts::list))
        .route(
            "/contacts/{id}",
            get(contacts::show)
                .patch(contacts::update)
                .delete(contacts::delete),
        )
        .route("/contacts/{id}/history", get(contacts::history))
        .route("/contacts/{id}/labels", post(labels::add_to_contact))
        .route(
            "/contacts/{id}/labels/{label_id}",
            delete(labels::remove_from_contact),
        )
        .route("/communication-types", get(types::list))
        .route("/labels", get(labels::list))
        .route("/users", get(cards::users))
        .route("/search", get(search::search))
        .route("/me", get(cards::me))
        .route(
            "/admin/communication-types",
            get(types::admin_list).post(types::create),
        )
        .route(
            "/admin/communication-types/{id}",
            axum::routing::patch(types::update).delete(types::delete),
        )
        .route(
            "/admin/labels",
            get(labels::admin_list).post(labels::create),
        )
        .route(
            "/admin/labels/{id}",
            axum::routing::patch(labels::update).delete(labels::delete),
        )
        .route(
            "/admin/policies",
            get(policies::show).put(policies::replace),
        )
        .route("/admin/audit", get(policies::audit))
        .route("/admin/quarantine", get(admin::quarantine_list))
        .route("/admin/imap", get(admin::imap_status))
        .route("/admin/failed", get(imap_skipped::failed_list))
        .route("/admin/failed/{id}/retry", post(admin::failed_retry))
        .route("/admin/failed/imap/{id}", delete(imap_skipped::dismiss))
        .route("/admin/failed/imap/{id}/retry", post(imap_skipped::retry))
        .route("/admin/quarantine/{id}", delete(admin::quarantine_delete))
        .route(
            "/admin/quarantine/{id}/release",
            post(admin::quarantine_release),
        );
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/", get(crate::web::index))
        .nest("/api", api)
        .fallback(|| async { Error::NotFound("route") })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({"error": {"code": "method_not_allowed", "message": "method not allowed"}})),
            )
        })
        .layer(axum::middleware::map_response(json_for_bare_errors))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Layers (timeouts, body limits) answer with an empty or plain-text body;
/// give those the same JSON error shape as everything else.
async fn json_for_bare_errors(resp: axum::response::Response) -> axum::response::Response {
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match resp.status() {
        StatusCode::REQUEST_TIMEOUT if !is_json => {
            use axum::response::IntoResponse;
            (
                StatusCode::REQUEST_TIMEOUT,
                axum::Json(serde_json::json!({"error": {"code": "timeout", "message": "request took too long"}})),
            )
                .into_response()
        }
        StatusCode::PAYLOAD_TOO_LARGE if !is_json => {
            use axum::response::IntoResponse;
            Error::TooLarge.into_response()
        }
        _ => resp,
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `?limit=&offset=` with bounds: a page is at most `MAX_LIMIT` items.
#[derive(Debug, Deserialize)]
pub struct Paging {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub const MAX_LIMIT: i64 = 200;

impl Paging {
    pub fn resolve(&self, default: i64) -> Result<(i64, i64), Error> {
        let limit = self.limit.unwrap_or(default);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        if !(0..=1_000_000).contains(&offset) {
            return Err(Error::BadRequest(
                "offset must be between 0 and 1000000".into(),
            ));
        }
        Ok((limit, offset))
    }
}
