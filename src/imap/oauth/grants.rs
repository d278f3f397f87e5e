//! The token requests. The `oauth2` crate builds and parses the standard grants (client
//! credentials, refresh token); RFC 7523's JWT-bearer grant, which it lacks, is one form POST
//! whose answer is parsed with the same `oauth2` types. Every request goes through [`send`]:
//! no redirects, a deadline, a cap on the answer's size.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::http::{self, header, Method};
use oauth2::{
    AccessToken, AsyncHttpClient, AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::Serialize;

use super::error::clip;
use super::secrets::ServiceAccountKey;
use super::{Grant, TokenError};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A token answer is well under 10 KiB; anything much larger is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What a token endpoint gave.
pub(crate) struct Obtained {
    pub access: AccessToken,
    pub expires_in: Option<Duration>,
    /// A new refresh token, when the provider rotates them.
    pub refresh_token: Option<RefreshToken>,
}

/// One request's view of the grant, for building messages.
pub(crate) struct Request<'a> {
    pub grant: Grant,
    pub url: &'a str,
    pub scope: Option<&'a str>,
}

pub(crate) async fn client_credentials(
    req: &Request<'_>,
    client_id: &str,
    secret: String,
) -> Result<Obtained, TokenError> {
    let client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(token_url(req.url)?)
        .set_auth_type(AuthType::RequestBody);
    let http = Http::default();
    let result = client
        .exchange_client_credentials()
        .add_scopes(scopes(req.scope))
        .request_async(&http)
        .await;
    finish(req, &http.status, result)
}

pub(crate) async fn refresh_token(
    req: &Request<'_>,
    client_id: &str,
    secret: Option<String>,
    refresh: &RefreshToken,
) -> Result<Obtained, TokenError> {
    let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_token_uri(token_url(req.url)?)
        .set_auth_type(AuthType::RequestBody);
    if let Some(s) = secret {
        client = client.set_client_secret(ClientSecret::new(s));
    }
    let http = Http::default();
    let result = client
        .exchange_refresh_token(refresh)
        .add_scopes(scopes(req.scope))
        .request_async(&http)
        .await;
    finish(req, &http.status, result)
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// RFC 7523 §2.1: a signed assertion of the service account, acting for `subject`.
pub(crate) async fn jwt_bearer(
    req: &Request<'_>,
    key: &ServiceAccountKey,
    subject: &str,
) -> Result<Obtained, TokenError> {
    let signing =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|e| {
            TokenError::Config(format!(
                "the service account key's private_key is not an RSA key in PEM: {e}"
            ))
        })?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        iss: &key.client_email,
        sub: subject,
        scope: req.scope.unwrap_or_default(),
        aud: req.url,
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECS,
    };
    let assertion = jsonwebtoken::encode(&header, &claims, &signing)
        .map_err(|e| TokenError::Config(format!("signing the assertion: {e}")))?;
    let body = oauth2::url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", JWT_BEARER)
        .append_pair("assertion", &assertion)
        .finish();
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(token_url(req.url)?.as_str())
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .map_err(|e| TokenError::Config(format!("token request: {e}")))?;
    let status = AtomicU16::new(0);
    let answer = send(request, &status).await;
    let result = match answer {
        Err(e) => Err(RequestTokenError::Request(e)),
        Ok(a) if a.status() == http::StatusCode::OK => {
            serde_path_to_json::<BasicTokenResponse>(a.body()).map_err(RequestTokenError::Other)
        }
        Ok(a) => match serde_path_to_json::<BasicErrorResponse>(a.body()) {
            Ok(e) => Err(RequestTokenError::ServerResponse(e)),
            Err(e) => Err(RequestTokenError::Other(e)),
        },
    };
    finish(req, &status, result)
}

fn serde_path_to_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn token_url(url: &str) -> Result<TokenUrl, TokenError> {
    TokenUrl::new(url.to_string())
        .map_err(|e| TokenError::Config(format!("oauth2.token_url {url:?}: {e}")))
}

fn scopes(scope: Option<&str>) -> Vec<Scope> {
    scope
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| Scope::new(s.to_string()))
        .collect()
}

/// Turns the crate's outcome into ours; `status` is what [`send`] saw.
fn finish(
    req: &Request<'_>,
    status: &AtomicU16,
    result: Result<BasicTokenResponse, RequestTokenError<HttpError, BasicErrorResponse>>,
) -> Result<Obtained, TokenError> {
    let status = status.load(Ordering::Relaxed);
    match result {
        Ok(t) => {
            if !t.token_type().as_ref().eq_ignore_ascii_case("bearer") {
                return Err(TokenError::BadResponse {
                    status,
                    reason: format!("token_type {:?} is not Bearer", t.token_type().as_ref()),
                });
            }
            Ok(Obtained {
                access: t.access_token().clone(),
                expires_in: t.expires_in(),
                refresh_token: t.refresh_token().cloned(),
            })
        }
        Err(RequestTokenError::ServerResponse(e)) => Err(TokenError::refused(
            req.grant,
            req.scope,
            status,
            Some(e.error().as_ref()),
            e.error_description().map(String::as_str),
        )),
        Err(RequestTokenError::Request(e)) => Err(TokenError::Unreachable {
            url: req.url.to_string(),
            reason: e.0,
        }),
        // An error status without an OAuth2 error body (a proxy's page, an empty answer).
        Err(RequestTokenError::Parse(..) | RequestTokenError::Other(_)) if status != 200 => Err(
            TokenError::refused(req.grant, req.scope, status, None, None),
        ),
        // The body of a 200 may hold a token: its content is never shown.
        Err(RequestTokenError::Parse(e, _)) => Err(TokenError::BadResponse {
            status,
            reason: clip(&e.to_string()),
        }),
        Err(RequestTokenError::Other(m)) => Err(TokenError::BadResponse {
            status,
            reason: clip(&m),
        }),
    }
}

/// oauth2's HTTP client: [`send`], remembering the answer's status for the error message.
#[derive(Default)]
struct Http {
    status: AtomicU16,
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(request, &self.status))
    }
}

/// Why the HTTP exchange failed, as the chain of causes (e.g. "connection refused").
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(String);

fn http_client() -> Result<&'static reqwest::Client, HttpError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                // A token endpoint has no business redirecting a request that carries a secret.
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                // About one request an hour per account: a pooled connection would be stale.
                .pool_max_idle_per_host(0)
                .user_agent(concat!("dossier/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| causes(&e))
        })
        .as_ref()
        .map_err(|e| HttpError(format!("HTTP client: {e}")))
}

pub(crate) async fn send(
    request: HttpRequest,
    status: &AtomicU16,
) -> Result<HttpResponse, HttpError> {
    let client = http_client()?;
    let request = reqwest::Request::try_from(request).map_err(|e| HttpError(causes(&e)))?;
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| HttpError(causes(&e)))?;
    status.store(response.status().as_u16(), Ordering::Relaxed);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| HttpError(causes(&e)))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(HttpError(format!(
                "answer larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    builder.body(body).map_err(|e| HttpError(e.to_string()))
}

/// "error sending request: client error (Connect): tcp connect error: Connection refused".
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}
