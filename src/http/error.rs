//! The one HTTP error type: every failure becomes `{"error": {"code", "message"}}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ingest::IngestError;
use crate::search::SearchError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A rights policy said no (the message names the rule).
    #[error("{0}")]
    Policy(String),
    /// Cannot be deleted while this many items use it.
    #[error("{0}")]
    InUse(String, i64),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// Deleted for good; the tombstone says what was there.
    #[error("{0}")]
    Gone(String),
    #[error("request body too large")]
    TooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    /// The server could not do it in time (a search over its budget).
    #[error("{0}")]
    Unavailable(String),
    /// The request ran out of time.
    #[error("{0}")]
    Timeout(String),
    /// The data disk is below `storage.min_free_bytes`: nothing new is taken.
    #[error("the archive's disk is nearly full; try again later")]
    InsufficientStorage,
    /// A real server-side failure (I/O, database). Logged; the client gets no details.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden(_) | Error::Policy(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::InUse(..) => (StatusCode::CONFLICT, "in_use"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::Gone(_) => (StatusCode::GONE, "gone"),
            Error::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Error::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Error::InsufficientStorage => {
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
            }
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Error::Internal(detail) = &self {
            tracing::error!(%detail, "internal error serving request");
        }
        let mut body = json!({"error": {"code": code, "message": self.to_string()}});
        if let Error::InUse(_, n) = &self {
            body["error"]["in_use"] = json!(n);
        }
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("resource"),
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::InUse(n) => Error::InUse(format!("still used by {n} items"), n),
            StoreError::Invalid(m) => Error::Unprocessable(m),
            e => Error::internal(e),
        }
    }
}

impl From<IngestError> for Error {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::NoSpace { .. } => Error::InsufficientStorage,
            e => Error::internal(e),
        }
    }
}

impl From<SearchError> for Error {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::BadQuery(m) => Error::BadRequest(format!("invalid query: {m}")),
            SearchError::TooMany(n) => Error::BadRequest(format!(
                "q matches {n} entries, more than a listing narrows by; add filters or use /api/search"
            )),
            e @ SearchError::TimedOut(_) => Error::Unavailable(e.to_string()),
            e @ SearchError::Cancelled => Error::Timeout(e.to_string()),
            e => Error::internal(e),
        }
    }
}

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => Error::Unprocessable(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => Error::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                Error::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Error::TooLarge
            }
            other => Error::BadRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(r: PathRejection) -> Self {
        Error::BadRequest(format!("invalid path parameter: {}", r.body_text()))
    }
}

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::BadRequest(r.body_text())
    }
}

/// `Json`, `Path` and `Query` whose rejections are our JSON errors.
pub mod extract {
    use axum::extract::FromRequest;
    use axum::extract::FromRequestParts;

    use super::Error;

    #[derive(FromRequest)]
    #[from_request(via(axum::Json), rejection(Error))]
    pub struct Json<T>(pub T);

    #[derive(FromRequestParts)]
    #[from_request(via(axum::extract::Path), rejection(Error))]
    pub struct Path<T>(pub T);

    #[derive(FromRequestParts)]
    #[from_request(via(axum::extract::Query), rejection(Error))]
    pub struct Query<T>(pub T);
}
