//! A small OAuth2 authorization server on loopback for the IMAP OAuth2 tests: the token
//! endpoint (client_credentials, RFC 7523 jwt-bearer with the assertion's RS256 signature,
//! audience, issuer, subject and scope verified, refresh_token) and the RFC 7662
//! introspection endpoint the test Dovecot's `oauth2` passdb asks. Tokens are opaque and
//! short-lived on demand; they can be revoked, and the whole server can go down and come back
//! on the same port.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const CLIENT_ID: &str = "dossier-test-app";
pub const CLIENT_SECRET: &str = "cc-secret-4f1d9a";
pub const REFRESH_CLIENT_ID: &str = "dossier-refresh-client";
pub const REFRESH_TOKEN: &str = "rt-7c2e61b0";
pub const SA_EMAIL: &str = "dossier@test-project.iam.gserviceaccount.com";
pub const MS_SCOPE: &str = "https://outlook.office365.com/.default";
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

struct Issued {
    user: String,
    expires: Instant,
    revoked: bool,
}

/// What the server knows and does; tests change it through [`TokenServer`]'s methods.
struct Inner {
    /// The mailbox every grant acts for (Dovecot's user).
    mailbox: String,
    token_url: String,
    sa_public_pem: Option<Vec<u8>>,
    expires_in: u64,
    /// While set, introspection calls every token of the mailbox inactive (access withdrawn).
    mailbox_revoked: bool,
    tokens: HashMap<String, Issued>,
    /// The grant of every token issued, in order, and when.
    issued: Vec<String>,
    issued_at: Vec<Instant>,
    /// Each introspection: when, and whether the token was active.
    introspected: Vec<(Instant, bool)>,
    /// Requests the token endpoint refused, with the error code.
    refused: Vec<String>,
    introspections: usize,
    seq: u64,
}

type Shared = Arc<Mutex<Inner>>;

pub struct TokenServer {
    addr: SocketAddr,
    inner: Shared,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl TokenServer {
    pub async fn start(mailbox: &str) -> TokenServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            mailbox: mailbox.to_string(),
            token_url: format!("http://{addr}/token"),
            sa_public_pem: None,
            expires_in: 3600,
            mailbox_revoked: false,
            tokens: HashMap::new(),
            issued: Vec::new(),
            issued_at: Vec::new(),
            introspected: Vec::new(),
            refused: Vec::new(),
            introspections: 0,
            seq: 0,
        }));
        let mut server = TokenServer {
            addr,
            inner,
            running: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/token", post(token))
            .route("/introspect", post(introspect))
            .with_state(self.inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        self.running = Some((tx, task));
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn introspection_url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// Trust this public key (PEM) for jwt-bearer assertions.
    pub fn trust_service_account(&self, public_pem: Vec<u8>) {
        self.lock().sa_public_pem = Some(public_pem);
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.lock().expires_in = secs;
    }

    /// Withdraws (or gives back) the mailbox's access: introspection then says inactive.
    pub fn revoke_mailbox(&self, revoked: bool) {
        self.lock().mailbox_revoked = revoked;
    }

    /// Revokes every token issued so far; new ones are fine.
    pub fn revoke_issued(&self) {
        for t in self.lock().tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// The grants of the tokens issued so far, in order.
    pub fn issued(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    pub fn refused(&self) -> Vec<String> {
        self.lock().refused.clone()
    }

    pub fn introspections(&self) -> usize {
        self.lock().introspections
    }

    /// When each token was issued.
    pub fn issued_at(&self) -> Vec<Instant> {
        self.lock().issued_at.clone()
    }

    /// Every introspection: when, and whether the token was found active.
    pub fn introspected(&self) -> Vec<(Instant, bool)> {
        self.lock().introspected.clone()
    }

    /// Stops listening: new connections are refused until [`TokenServer::resume`].
    pub async fn stop(&mut self) {
        if let Some((tx, task)) = self.running.take() {
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding {}: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

fn refuse(inner: &Shared, status: StatusCode, code: &str, description: &str) -> Response {
    inner.lock().unwrap().refused.push(code.to_string());
    oauth_error(status, code, description)
}

/// client_secret_post or client_secret_basic (RFC 6749 §2.3.1).
fn client_credentials_of(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    use base64::Engine;
    if let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded).to_string();
        let (id, secret) = text.split_once(':').unwrap_or((&text, ""));
        return (id.to_string(), secret.to_string());
    }
    (
        form.get("client_id").cloned().unwrap_or_default(),
        form.get("client_secret").cloned().unwrap_or_default(),
    )
}

async fn token(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let (scope_ok, grant_name) = match grant.as_str() {
        "client_credentials" => {
            let (id, secret) = client_credentials_of(&headers, &form);
            if id != CLIENT_ID || secret != CLIENT_SECRET {
                return refuse(
                    &inner,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided.",
                );
            }
            (
                form.get("scope").map(String::as_str) == Some(MS_SCOPE),
                "client_credentials",
            )
        }
        JWT_BEARER => match verify_assertion(&inner, form.get("assertion")) {
            Ok(()) => (true, "jwt_bearer"),
            Err(why) => return refuse(&inner, StatusCode::BAD_REQUEST, "invalid_grant", &why),
        },
        "refresh_token" => {
            let (id, _) = client_credentials_of(&headers, &form);
            if form.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN)
                || id != REFRESH_CLIENT_ID
            {
                return refuse(
                    &inner,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            (true, "refresh_token")
        }
        other => {
            return refuse(
                &inner,
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant {other:?}"),
            )
        }
    };
    if !scope_ok {
        return refuse(&inner, StatusCode::BAD_REQUEST, "invalid_scope", "scope");
    }
    let mut st = inner.lock().unwrap();
    st.seq += 1;
    let access = format!("at-{}-{:08x}", st.seq, rand::random::<u32>());
    let expires_in = st.expires_in;
    let user = st.mailbox.clone();
    st.tokens.insert(
        access.clone(),
        Issued {
            user,
            expires: Instant::now() + Duration::from_secs(expires_in),
            revoked: false,
        },
    );
    st.issued.push(grant_name.to_string());
    st.issued_at.push(Instant::now());
    // ext_expires_in: Microsoft's extra field, which a client must tolerate.
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    sub: String,
    scope: String,
}

/// RFC 7523 §3: signature (RS256, the trusted key), iss, aud = this token URL, exp; plus
/// Google's rules: sub = the mailbox, scope = full mail access.
fn verify_assertion(inner: &Shared, assertion: Option<&String>) -> Result<(), String> {
    let (key, aud, mailbox) = {
        let st = inner.lock().unwrap();
        (
            st.sa_public_pem
                .clone()
                .ok_or("no service account trusted")?,
            st.token_url.clone(),
            st.mailbox.clone(),
        )
    };
    let assertion = assertion.ok_or("no assertion")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&key).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[SA_EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v)
        .map_err(|e| format!("Invalid JWT: {e}"))?;
    if data.claims.sub != mailbox {
        return Err(format!("subject {} is not the mailbox", data.claims.sub));
    }
    if data.claims.scope != GOOGLE_SCOPE {
        return Err(format!("scope {} not delegated", data.claims.scope));
    }
    Ok(())
}

async fn introspect(
    State(inner): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    let mut st = inner.lock().unwrap();
    st.introspections += 1;
    let active = form
        .get("token")
        .and_then(|t| st.tokens.get(t))
        .and_then(|t| {
            (!t.revoked && !st.mailbox_revoked && Instant::now() < t.expires)
                .then(|| t.user.clone())
        });
    st.introspected.push((Instant::now(), active.is_some()));
    match active {
        Some(user) => Json(json!({"active": true, "username": user})),
        None => Json(json!({"active": false})),
    }
}

/// A service account key pair made with openssl: Google's JSON key file (mode 0600, its
/// `token_uri` set to `token_url`) and the public key in PEM.
pub fn service_account(dir: &Path, token_url: &str) -> (PathBuf, Vec<u8>) {
    let key = dir.join("sa-key.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().unwrap(),
    ]);
    let public = run(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    let private = std::fs::read_to_string(&key).unwrap();
    let json = json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "k1",
        "private_key": private,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_url,
    });
    let path = dir.join("service-account.json");
    write_private(&path, json.to_string().as_bytes());
    (path, public)
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, data: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
