//! Who is asking: every `/api` handler takes a `Caller`.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::{AppState, Error};
use crate::domain::ApiToken;
use crate::store::User;

pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthorized)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(Error::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() || token.len() > 256 {
            return Err(Error::Unauthorized);
        }
        let user = state
            .store
            .user_by_token_hash(&ApiToken::hash_str(token.trim()))
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(Caller(user))
    }
}
