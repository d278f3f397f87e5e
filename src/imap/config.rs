//! Account configuration, deserialized from the config file's `[[imap.accounts]]` tables.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::oauth::OAuth2Settings;
use super::ImapError;

/// Default cap on one message's size; larger ones are skipped and reported.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 50 * 1024 * 1024;
/// Default least wait after refused credentials.
pub const DEFAULT_AUTH_FAILURE_BACKOFF_SECS: u64 = 30;

/// One polled mailbox. `Debug` is hand-written so the password never reaches a log line.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapAccount {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `password` (LOGIN) or `oauth2` (SASL OAUTHBEARER / XOAUTH2, tokens per `oauth2`).
    #[serde(default)]
    pub auth: AuthMethod,
    #[serde(default)]
    pub oauth2: Option<OAuth2Settings>,
    /// Least wait before signing in again after the server or the token endpoint refused
    /// the credentials, so a wrong secret does not hammer the provider (or lock the account).
    #[serde(default = "default_auth_failure_backoff_secs")]
    pub auth_failure_backoff_secs: u64,
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default)]
    pub after: AfterAction,
    #[serde(default)]
    pub move_to: Option<String>,
    #[serde(default = "default_keyword")]
    pub keyword: String,
    /// Messages larger than this are not fetched; they are skipped with an error recorded.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    /// The authserv-id this mailbox's own server writes in
    /// `Authentication-Results`; only its results are trusted (none if unset).
    #[serde(default)]
    pub authserv_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    #[default]
    Password,
    OAuth2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    Tls,
    Starttls,
    /// Cleartext, password included: only sensible on loopback.
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterAction {
    /// Set `\Seen` and the account's keyword; the message stays in the folder.
    #[default]
    Flag,
    /// Move to `move_to`.
    Move,
    /// Delete (expunge) from the server.
    Delete,
}

pub fn default_folders() -> Vec<String> {
    vec!["INBOX".to_string()]
}

pub fn default_poll_interval_secs() -> u64 {
    60
}

pub fn default_keyword() -> String {
    "$Archived".to_string()
}

pub fn default_max_message_bytes() -> u64 {
    DEFAULT_MAX_MESSAGE_BYTES
}

pub fn default_auth_failure_backoff_secs() -> u64 {
    DEFAULT_AUTH_FAILURE_BACKOFF_SECS
}

impl ImapAccount {
    /// An account with every optional setting at its default and an inline password.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        security: Security,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        ImapAccount {
            name: name.into(),
            host: host.into(),
            port,
            security,
            username: username.into(),
            password: Some(password.into()),
            password_file: None,
            auth: AuthMethod::Password,
            oauth2: None,
            auth_failure_backoff_secs: default_auth_failure_backoff_secs(),
            folders: default_folders(),
            poll_interval_secs: default_poll_interval_secs(),
            after: AfterAction::default(),
            move_to: None,
            keyword: default_keyword(),
            max_message_bytes: default_max_message_bytes(),
            authserv_id: None,
        }
    }

    /// Checks what serde cannot: exactly one password source, a target for `move`,
    /// a keyword that is a valid IMAP atom. Call at config load to fail early.
    pub fn validate(&self) -> Result<(), ImapError> {
        let bad = |m: String| {
            Err(ImapError::Config(format!(
                "imap account {:?}: {m}",
                self.name
            )))
        };
        if self.name.is_empty() || self.host.is_empty() || self.username.is_empty() {
            return bad("name, host and username must not be empty".into());
        }
        self.validate_auth().or_else(bad)?;
        if self.folders.is_empty() {
            return bad("folders must not be empty".into());
        }
        let text_ok = |s: &str| !s.is_empty() && !s.chars().any(|c| c == '\r' || c == '\n');
        if let Some(f) = self.folders.iter().find(|f| !text_ok(f)) {
            return bad(format!("invalid folder name {f:?}"));
        }
        if self.after == AfterAction::Move {
            match &self.move_to {
                Some(m) if text_ok(m) => {
                    if self.folders.iter().any(|f| f == m) {
                        return bad("move_to must not be one of the polled folders".into());
                    }
                }
                Some(m) => return bad(format!("invalid move_to {m:?}")),
                None => return bad("after = \"move\" needs move_to".into()),
            }
        }
        // A keyword is an IMAP atom; `\` would make it a system flag.
        let atom_ok = |c: char| c.is_ascii_graphic() && !"(){%*\"\\]".contains(c);
        if self.keyword.is_empty() || !self.keyword.chars().all(atom_ok) {
            return bad(format!("invalid keyword {:?}", self.keyword));
        }
        if self.max_message_bytes == 0 {
            return bad("max_message_bytes must be positive".into());
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), String> {
        let password_set = self.password.is_some() || self.password_file.is_some();
        match (self.auth, &self.oauth2) {
            (AuthMethod::Password, None) => match (&self.password, &self.password_file) {
                (Some(_), None) | (None, Some(_)) => Ok(()),
                _ => Err("set exactly one of password and password_file".into()),
            },
            (AuthMethod::Password, Some(_)) => Err("oauth2 settings need auth = \"oauth2\"".into()),
            (AuthMethod::OAuth2, _) if password_set => {
                Err("auth = \"oauth2\" takes no password or password_file".into())
            }
            (AuthMethod::OAuth2, None) => Err("auth = \"oauth2\" needs an oauth2 table".into()),
            (AuthMethod::OAuth2, Some(o)) => o.validate(&self.name),
        }
    }

    /// Cleartext LOGIN sends the password in the clear: fine on loopback, suspicious elsewhere.
    pub(crate) fn warn_if_cleartext(&self) {
        let loopback = self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if self.security == Security::Plain && !loopback {
            tracing::warn!(account = %self.name, host = %self.host,
                "security = \"plain\" sends the IMAP credentials unencrypted to a non-loopback host");
        }
    }

    /// The password, read from `password_file` at each connect so a rotated file is picked up.
    pub(crate) fn resolve_password(&self) -> Result<String, ImapError> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        let path = self.password_file.as_ref().ok_or_else(|| {
            ImapError::Config(format!("imap account {:?}: no password", self.name))
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            ImapError::Config(format!("reading password_file {}: {e}", path.display()))
        })?;
        // Files written by `echo` end in a newline that is not part of the password.
        Ok(text.trim_end_matches(['\r', '\n']).to_string())
    }
}

impl fmt::Debug for ImapAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapAccount")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("auth", &self.auth)
            .field("oauth2", &self.oauth2)
            .field("auth_failure_backoff_secs", &self.auth_failure_backoff_secs)
            .field("folders", &self.folders)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("after", &self.after)
            .field("move_to", &self.move_to)
            .field("keyword", &self.keyword)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish()
    }
}
