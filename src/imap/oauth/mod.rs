//! OAuth2 access tokens for IMAP sign-in (SASL OAUTHBEARER / XOAUTH2): obtained by dossier
//! itself with the account's grant, cached in memory, refreshed ahead of expiry and on demand
//! after the server refused one.

mod error;
mod grants;
pub(crate) mod sasl;
mod secrets;
mod settings;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use oauth2::{AccessToken, RefreshToken};

pub use error::TokenError;
pub use secrets::{env_name, SecretKind};
pub use settings::{Grant, OAuth2Settings, GOOGLE_SCOPE, GOOGLE_TOKEN_URL, MICROSOFT_SCOPE};

use grants::{Obtained, Request};
use secrets::ServiceAccountKey;

/// Renew this long before expiry at most (a quarter of the lifetime for short-lived tokens).
const REFRESH_AHEAD_MAX: Duration = Duration::from_secs(60);

/// An access token and when it stops being valid. `Debug` does not show the token.
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    pub token: AccessToken,
    pub expires: Option<Instant>,
}

/// When the account's token was last obtained and until when it is valid, for the status.
#[derive(Debug, Clone, Default)]
pub struct TokenInfo {
    pub refreshed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    /// The newest refresh token when the provider rotated it (kept in memory only).
    rotated: Option<RefreshToken>,
    info: TokenInfo,
}

struct Current {
    bearer: Bearer,
    refresh_at: Option<Instant>,
}

/// The tokens of one account. One per account task; shared by reference only.
pub struct TokenSource {
    account: String,
    username: String,
    settings: OAuth2Settings,
    state: Mutex<State>,
}

impl TokenSource {
    /// `account` names the environment variables; `username` is the default subject.
    pub fn new(account: &str, username: &str, settings: &OAuth2Settings) -> TokenSource {
        TokenSource {
            account: account.to_string(),
            username: username.to_string(),
            settings: settings.clone(),
            state: Mutex::new(State::default()),
        }
    }

    pub fn grant(&self) -> Grant {
        self.settings.grant()
    }

    pub fn info(&self) -> TokenInfo {
        self.lock().info.clone()
    }

    /// The cached token while it is not due for renewal, else a fresh one.
    pub(crate) async fn token(&self) -> Result<Bearer, TokenError> {
        if let Some(c) = &self.lock().current {
            if c.refresh_at.is_none_or(|at| Instant::now() < at) {
                return Ok(c.bearer.clone());
            }
        }
        self.refresh().await
    }

    /// True when the cached token (if any) should be renewed now.
    pub(crate) fn due(&self) -> bool {
        self.lock()
            .current
            .as_ref()
            .is_none_or(|c| c.refresh_at.is_some_and(|at| Instant::now() >= at))
    }

    /// Time left until the cached token is due for renewal (None: no token or no expiry).
    pub(crate) fn renew_in(&self) -> Option<Duration> {
        let st = self.lock();
        let at = st.current.as_ref()?.refresh_at?;
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// A fresh token from the endpoint, replacing the cached one.
    pub(crate) async fn refresh(&self) -> Result<Bearer, TokenError> {
        let obtained = self.request().await?;
        let now = Instant::now();
        let expires = obtained.expires_in.map(|d| now + d);
        let refresh_at = obtained
            .expires_in
            .map(|d| now + d - (d / 4).min(REFRESH_AHEAD_MAX));
        let bearer = Bearer {
            token: obtained.access,
            expires,
        };
        let wall = Utc::now();
        let mut st = self.lock();
        if let Some(rt) = obtained.refresh_token {
            st.rotated = Some(rt);
        }
        st.info = TokenInfo {
            refreshed_at: Some(wall),
            expires_at: obtained
                .expires_in
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| wall + d),
        };
        st.current = Some(Current {
            bearer: bearer.clone(),
            refresh_at,
        });
        tracing::info!(
            account = %self.account,
            grant = self.grant().as_str(),
            expires_in_secs = bearer.expires.map(|e| e.saturating_duration_since(now).as_secs()),
            "obtained an OAuth2 access token"
        );
        Ok(bearer)
    }

    async fn request(&self) -> Result<Obtained, TokenError> {
        let s = &self.settings;
        let grant = s.grant();
        let file = |f: &Option<std::path::PathBuf>| f.clone();
        match grant {
            Grant::ClientCredentials => {
                let secret = secrets::read(
                    &self.account,
                    SecretKind::ClientSecret,
                    file(&s.client_secret_file).as_deref(),
                )?;
                let req = self.req(grant, s.token_url.as_deref().unwrap_or_default());
                grants::client_credentials(&req, s.client_id.as_deref().unwrap_or_default(), secret)
                    .await
            }
            Grant::RefreshToken => {
                let rotated = self.lock().rotated.clone();
                let refresh = match rotated {
                    Some(rt) => rt,
                    None => RefreshToken::new(secrets::read(
                        &self.account,
                        SecretKind::RefreshToken,
                        file(&s.refresh_token_file).as_deref(),
                    )?),
                };
                let secret = self.optional_client_secret()?;
                let req = self.req(grant, s.token_url.as_deref().unwrap_or_default());
                let client_id = s.client_id.as_deref().unwrap_or_default();
                grants::refresh_token(&req, client_id, secret, &refresh).await
            }
            Grant::JwtBearer => {
                let path = file(&s.service_account_file);
                let text =
                    secrets::read(&self.account, SecretKind::ServiceAccount, path.as_deref())?;
                let source = secrets::source_name(
                    &self.account,
                    SecretKind::ServiceAccount,
                    path.as_deref(),
                );
                let key = ServiceAccountKey::parse(&text, &source)?;
                let url = s
                    .token_url
                    .clone()
                    .or_else(|| key.token_uri.clone())
                    .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_string());
                let subject = s.subject.as_deref().unwrap_or(&self.username);
                grants::jwt_bearer(&self.req(grant, &url), &key, subject).await
            }
        }
    }

    fn req<'a>(&'a self, grant: Grant, url: &'a str) -> Request<'a> {
        Request {
            grant,
            url,
            scope: self.settings.scope(),
        }
    }

    /// A refresh-token client's secret, when it has one (file or environment).
    fn optional_client_secret(&self) -> Result<Option<String>, TokenError> {
        let file = self.settings.client_secret_file.as_deref();
        let env = env_name(&self.account, SecretKind::ClientSecret);
        if file.is_none() && std::env::var_os(&env).is_none() {
            return Ok(None);
        }
        secrets::read(&self.account, SecretKind::ClientSecret, file).map(Some)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
