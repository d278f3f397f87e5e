//! Signing in on a connected client: LOGIN with the password, or AUTHENTICATE OAUTHBEARER /
//! XOAUTH2 with an access token (a fresh one once if the server refuses the first).

use std::time::Instant;

use tokio::io::AsyncWriteExt;

use async_imap::imap_proto::{Capability, RequestId, Response, Status};
use async_imap::types::Capabilities;

use super::conn::{open, Caps, Client, Conn, Session, COMMAND_TIMEOUT};
use super::error::{server_words, step};
use super::oauth::sasl::{BearerAuth, Mechanism};
use super::oauth::{Bearer, Grant, TokenSource};
use super::{AuthMethod, ImapAccount, ImapError};

/// Responses read while waiting for CAPABILITY's end; a sane server sends two lines.
const MAX_CAPABILITY_LINES: usize = 100;
/// async-imap tags its commands A0001, A0002...: this one cannot collide.
const CAPABILITY_TAG: &str = "dossier-cap";

/// Connects and signs in; learns the extensions the poller uses.
pub(crate) async fn connect(account: &ImapAccount, creds: &Credentials) -> Result<Conn, ImapError> {
    let client = open(account).await?;
    let signed = sign_in(client, account, creds).await?;
    let (mut session, caps) = (signed.session, signed.caps);
    let caps = match caps {
        Some(c) => c,
        None => step("CAPABILITY", COMMAND_TIMEOUT, session.capabilities()).await?,
    };
    let has = |name: &str| {
        caps.iter().any(
            |c| matches!(c, async_imap::types::Capability::Atom(a) if a.eq_ignore_ascii_case(name)),
        )
    };
    let caps = Caps {
        idle: has("IDLE"),
        mv: has("MOVE"),
        uidplus: has("UIDPLUS"),
    };
    Ok(Conn {
        session,
        caps,
        token_expires: signed.token_expires,
    })
}

/// How an account signs in, with its token cache. Built once per account task.
pub(crate) enum Credentials {
    Password,
    OAuth2(Box<TokenSource>),
}

impl Credentials {
    pub fn for_account(account: &ImapAccount) -> Credentials {
        match (&account.auth, &account.oauth2) {
            (AuthMethod::OAuth2, Some(settings)) => Credentials::OAuth2(Box::new(
                TokenSource::new(&account.name, &account.username, settings),
            )),
            // `validate` refuses oauth2 without settings; the password path then reports it.
            _ => Credentials::Password,
        }
    }

    pub fn tokens(&self) -> Option<&TokenSource> {
        match self {
            Credentials::Password => None,
            Credentials::OAuth2(t) => Some(t),
        }
    }
}

/// A signed-in session, the capabilities the server sent with its OK (if any), and when the
/// token it signed in with expires.
pub(crate) struct SignedIn {
    pub session: Session,
    pub caps: Option<Capabilities>,
    pub token_expires: Option<Instant>,
}

pub(crate) async fn sign_in(
    client: Client,
    account: &ImapAccount,
    creds: &Credentials,
) -> Result<SignedIn, ImapError> {
    match creds {
        Credentials::Password => login(client, account).await,
        Credentials::OAuth2(tokens) => oauth2(client, account, tokens).await,
    }
}

async fn login(client: Client, account: &ImapAccount) -> Result<SignedIn, ImapError> {
    let password = account.resolve_password()?;
    let attempt = tokio::time::timeout(
        COMMAND_TIMEOUT,
        client.login_with_capabilities(&account.username, &password),
    )
    .await
    .map_err(|_| ImapError::Timeout {
        context: "LOGIN".into(),
        after: COMMAND_TIMEOUT,
    })?;
    match attempt {
        Ok((session, caps)) => Ok(SignedIn {
            session,
            caps,
            token_expires: None,
        }),
        Err((async_imap::error::Error::No(reason) | async_imap::error::Error::Bad(reason), _)) => {
            Err(ImapError::Auth {
                user: account.username.clone(),
                reason: server_words(&reason),
            })
        }
        Err((e, _)) => Err(ImapError::from_imap("LOGIN", e)),
    }
}

async fn oauth2(
    mut client: Client,
    account: &ImapAccount,
    tokens: &TokenSource,
) -> Result<SignedIn, ImapError> {
    let offered = announced_mechanisms(&mut client).await?;
    let mechanism = Mechanism::pick(offered.iter().map(String::as_str)).ok_or_else(|| {
        ImapError::Auth {
            user: account.username.clone(),
            reason: format!(
                "the server announces neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2 (it offers: {}); check host and port",
                if offered.is_empty() { "nothing".to_string() } else { offered.join(" ") }
            ),
        }
    })?;
    let bearer = tokens.token().await?;
    let client = match authenticate(client, account, mechanism, &bearer).await? {
        Ok(session) => return Ok(signed_in(session, &bearer)),
        Err((client, why)) => {
            // The cached token may have been revoked or cut short: one fresh token, once.
            tracing::info!(account = %account.name, mechanism = mechanism.name(),
                "IMAP server refused the OAuth2 token ({why}); fetching a fresh one");
            client
        }
    };
    let bearer = tokens.refresh().await?;
    match authenticate(client, account, mechanism, &bearer).await? {
        Ok(session) => Ok(signed_in(session, &bearer)),
        Err((_, why)) => Err(ImapError::Auth {
            user: account.username.clone(),
            reason: format!(
                "the IMAP server refused the OAuth2 access token ({}), a freshly obtained one too: {why}; {}",
                mechanism.name(),
                refusal_hint(tokens.grant(), account)
            ),
        }),
    }
}

fn signed_in(session: Session, bearer: &Bearer) -> SignedIn {
    SignedIn {
        session,
        caps: None,
        token_expires: bearer.expires,
    }
}

/// What to check when the token endpoint gives tokens that the IMAP server refuses.
fn refusal_hint(grant: Grant, account: &ImapAccount) -> String {
    let user = &account.username;
    match grant {
        Grant::ClientCredentials => format!(
            "check that the app registration has the Office 365 Exchange Online application permission IMAP.AccessAsApp with admin consent, that its service principal is registered in Exchange Online (New-ServicePrincipal) with FullAccess to {user} (Add-MailboxPermission), and that username is that mailbox"
        ),
        Grant::JwtBearer => format!(
            "check that {user} is the mailbox the service account acts for (oauth2.subject) and that IMAP is enabled for it in the Google Admin console"
        ),
        Grant::RefreshToken => format!(
            "check that the refresh token was issued to {user} with a scope that allows IMAP"
        ),
    }
}

/// Ok(Ok(session)) signed in; Ok(Err((client, why))) refused, the client can try again.
type Attempt = Result<Session, (Client, String)>;

async fn authenticate(
    client: Client,
    account: &ImapAccount,
    mechanism: Mechanism,
    bearer: &Bearer,
) -> Result<Attempt, ImapError> {
    let context = format!("AUTHENTICATE {}", mechanism.name());
    let mut auth = BearerAuth::new(
        mechanism,
        &account.username,
        &account.host,
        account.port,
        &bearer.token,
    );
    let result = tokio::time::timeout(
        COMMAND_TIMEOUT,
        client.authenticate(mechanism.name(), &mut auth),
    )
    .await
    .map_err(|_| ImapError::Timeout {
        context: context.clone(),
        after: COMMAND_TIMEOUT,
    })?;
    use async_imap::error::Error as E;
    match result {
        Ok(session) => Ok(Ok(session)),
        Err((E::No(reason) | E::Bad(reason), client)) => {
            let said = auth
                .server_error
                .map(|e| format!(" (error challenge {e})"))
                .unwrap_or_default();
            Ok(Err((client, format!("{}{said}", server_words(&reason)))))
        }
        Err((e, _)) => Err(ImapError::from_imap(&context, e)),
    }
}

/// The SASL mechanisms of the server's CAPABILITY (its `AUTH=` atoms), upper-cased.
async fn announced_mechanisms(client: &mut Client) -> Result<Vec<String>, ImapError> {
    // async-imap runs arbitrary tagged commands only inside the crate: write this one on the
    // transport (nothing else is buffered before sign-in) and read the answer through it.
    let id = RequestId(CAPABILITY_TAG.to_string());
    let io_err = |source| ImapError::Io {
        context: "CAPABILITY".into(),
        source,
    };
    let write = async {
        let t = client.get_mut();
        t.write_all(format!("{CAPABILITY_TAG} CAPABILITY\r\n").as_bytes())
            .await?;
        t.flush().await
    };
    tokio::time::timeout(COMMAND_TIMEOUT, write)
        .await
        .map_err(|_| ImapError::Timeout {
            context: "CAPABILITY".into(),
            after: COMMAND_TIMEOUT,
        })?
        .map_err(io_err)?;
    let mut mechanisms = Vec::new();
    for _ in 0..MAX_CAPABILITY_LINES {
        let response = tokio::time::timeout(COMMAND_TIMEOUT, client.read_response())
            .await
            .map_err(|_| ImapError::Timeout {
                context: "CAPABILITY".into(),
                after: COMMAND_TIMEOUT,
            })?
            .map_err(io_err)?
            .ok_or_else(|| ImapError::Io {
                context: "CAPABILITY".into(),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            })?;
        match response.parsed() {
            Response::Capabilities(caps) => {
                mechanisms.extend(caps.iter().filter_map(|c| match c {
                    Capability::Auth(m) => Some(m.to_ascii_uppercase()),
                    _ => None,
                }));
            }
            Response::Done {
                tag,
                status,
                outcome,
            } if *tag == id => {
                if *status != Status::Ok {
                    return Err(ImapError::Protocol {
                        context: "CAPABILITY".into(),
                        reason: format!("{status:?} {:?}", outcome.information),
                    });
                }
                return Ok(mechanisms);
            }
            _ => {}
        }
    }
    Err(ImapError::Protocol {
        context: "CAPABILITY".into(),
        reason: format!("no end after {MAX_CAPABILITY_LINES} lines"),
    })
}
