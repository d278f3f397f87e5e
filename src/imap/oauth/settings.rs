//! The `oauth2` table of an `[[imap.accounts]]` entry. It holds no secret: secrets come from
//! files (mode checked) or the environment, see [`super::secrets`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secrets::{env_name, SecretKind};

/// Microsoft 365's scope for IMAP with an app registration's application permission.
pub const MICROSOFT_SCOPE: &str = "https://outlook.office365.com/.default";
/// Google's scope for full IMAP access.
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
/// Used when a service account key file names no `token_uri`.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// How dossier obtains access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// RFC 6749 §4.4, an app registration's own identity (Microsoft 365).
    ClientCredentials,
    /// RFC 7523, a service account's signed assertion acting for `subject` (Google Workspace).
    JwtBearer,
    /// RFC 6749 §6, a refresh token obtained elsewhere (other providers).
    RefreshToken,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::JwtBearer => "jwt_bearer",
            Grant::RefreshToken => "refresh_token",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Settings {
    /// Inferred when absent: `service_account_file` means jwt_bearer, `refresh_token_file`
    /// refresh_token, anything else client_credentials. Needed only when the secret comes
    /// from the environment for jwt_bearer or refresh_token.
    #[serde(default)]
    pub grant: Option<Grant>,
    /// The provider's token endpoint. jwt_bearer defaults to the key file's `token_uri`.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Space-separated; defaults per grant (see [`OAuth2Settings::scope`]).
    #[serde(default)]
    pub scope: Option<String>,
    /// Google's JSON key file of the service account.
    #[serde(default)]
    pub service_account_file: Option<PathBuf>,
    /// The mailbox the service account acts for; defaults to the account's `username`.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub refresh_token_file: Option<PathBuf>,
}

impl OAuth2Settings {
    pub fn grant(&self) -> Grant {
        match (
            self.grant,
            &self.service_account_file,
            &self.refresh_token_file,
        ) {
            (Some(g), _, _) => g,
            (None, Some(_), _) => Grant::JwtBearer,
            (None, None, Some(_)) => Grant::RefreshToken,
            (None, None, None) => Grant::ClientCredentials,
        }
    }

    /// The configured scope, else the grant's usual one (none for refresh_token: the refresh
    /// keeps the scope the token was granted with).
    pub fn scope(&self) -> Option<&str> {
        match (&self.scope, self.grant()) {
            (Some(s), _) => Some(s.as_str()),
            (None, Grant::ClientCredentials) => Some(MICROSOFT_SCOPE),
            (None, Grant::JwtBearer) => Some(GOOGLE_SCOPE),
            (None, Grant::RefreshToken) => None,
        }
    }

    /// Checks that the grant has what it needs and nothing it would ignore, and that every
    /// secret has exactly one source. `account` names the environment variables.
    pub fn validate(&self, account: &str) -> Result<(), String> {
        let grant = self.grant();
        let g = grant.as_str();
        let unused = |key: &str, set: bool| {
            if set {
                Err(format!(
                    "oauth2.{key} is not used by the {g} grant: remove it"
                ))
            } else {
                Ok(())
            }
        };
        if let Some(u) = &self.token_url {
            check_token_url(u)?;
        }
        if self.scope.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err("oauth2.scope must not be empty".into());
        }
        match grant {
            Grant::ClientCredentials | Grant::RefreshToken => {
                if self.token_url.is_none() {
                    return Err(format!("the {g} grant needs oauth2.token_url"));
                }
                if self.client_id.as_deref().is_none_or(str::is_empty) {
                    return Err(format!("the {g} grant needs oauth2.client_id"));
                }
                unused("service_account_file", self.service_account_file.is_some())?;
                unused("subject", self.subject.is_some())?;
            }
            Grant::JwtBearer => {
                unused("client_id", self.client_id.is_some())?;
                unused("client_secret_file", self.client_secret_file.is_some())?;
                unused("refresh_token_file", self.refresh_token_file.is_some())?;
                if self.subject.as_deref().is_some_and(str::is_empty) {
                    return Err("oauth2.subject must not be empty".into());
                }
            }
        }
        match grant {
            Grant::ClientCredentials => {
                unused("refresh_token_file", self.refresh_token_file.is_some())?;
                one_source(account, SecretKind::ClientSecret, &self.client_secret_file)
            }
            Grant::RefreshToken => {
                one_source(account, SecretKind::RefreshToken, &self.refresh_token_file)?;
                // A public client has no secret; a confidential one may give it either way.
                both_not(account, SecretKind::ClientSecret, &self.client_secret_file)
            }
            Grant::JwtBearer => one_source(
                account,
                SecretKind::ServiceAccount,
                &self.service_account_file,
            ),
        }
    }
}

/// https, or http to a loopback address (a local test or proxy): secrets travel in the body.
fn check_token_url(u: &str) -> Result<(), String> {
    let url = oauth2::url::Url::parse(u)
        .map_err(|e| format!("oauth2.token_url {u:?} is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(oauth2::url::Host::Domain(d)) => d == "localhost",
        Some(oauth2::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(oauth2::url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "oauth2.token_url {u:?} must be https (http only to a loopback address)"
        )),
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn one_source(account: &str, kind: SecretKind, file: &Option<PathBuf>) -> Result<(), String> {
    let env = env_name(account, kind);
    match (file.is_some(), env_set(&env)) {
        (true, false) | (false, true) => Ok(()),
        (true, true) => Err(format!(
            "both oauth2.{} and the environment variable {env} are set: keep one",
            kind.file_key()
        )),
        (false, false) => Err(format!(
            "set oauth2.{} or the environment variable {env}",
            kind.file_key()
        )),
    }
}

fn both_not(account: &str, kind: SecretKind, file: &Option<PathBuf>) -> Result<(), String> {
    let env = env_name(account, kind);
    if file.is_some() && env_set(&env) {
        return Err(format!(
            "both oauth2.{} and the environment variable {env} are set: keep one",
            kind.file_key()
        ));
    }
    Ok(())
}
