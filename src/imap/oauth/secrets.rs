//! Where OAuth2 secrets come from: a file only its owner can read, or an environment
//! variable named after the account. Read at each token request, so a rotated file is used
//! without a restart. Values never reach a log line or an error message.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Deserialize;

use super::TokenError;

/// Larger secret files are refused (a key file is about 2.5 KiB).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ClientSecret,
    RefreshToken,
    ServiceAccount,
}

impl SecretKind {
    pub fn file_key(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "client_secret_file",
            SecretKind::RefreshToken => "refresh_token_file",
            SecretKind::ServiceAccount => "service_account_file",
        }
    }

    fn env_suffix(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "CLIENT_SECRET",
            SecretKind::RefreshToken => "REFRESH_TOKEN",
            SecretKind::ServiceAccount => "SERVICE_ACCOUNT",
        }
    }
}

/// `DOSSIER_IMAP_<NAME>_<WHAT>`, NAME being the account name upper-cased with every character
/// other than A-Z and 0-9 turned into `_` (account "m365-sales" → `DOSSIER_IMAP_M365_SALES_...`).
pub fn env_name(account: &str, kind: SecretKind) -> String {
    let name: String = account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("DOSSIER_IMAP_{name}_{}", kind.env_suffix())
}

/// The secret's text: from `file` when set, else from the account's environment variable.
pub fn read(account: &str, kind: SecretKind, file: Option<&Path>) -> Result<String, TokenError> {
    let text = match file {
        Some(path) => read_private_file(kind, path)?,
        None => {
            let name = env_name(account, kind);
            std::env::var(&name).map_err(|_| {
                TokenError::Config(format!(
                    "set oauth2.{} or the environment variable {name}",
                    kind.file_key()
                ))
            })?
        }
    };
    // Files written by `echo` end in a newline that is not part of the secret.
    let text = text.trim_end_matches(['\r', '\n']).to_string();
    if text.trim().is_empty() {
        return Err(TokenError::Config(format!(
            "the {} is empty",
            source_name(account, kind, file)
        )));
    }
    Ok(text)
}

/// How an error names the secret's source, never its value.
pub fn source_name(account: &str, kind: SecretKind, file: Option<&Path>) -> String {
    match file {
        Some(p) => format!("{} {}", kind.file_key(), p.display()),
        None => format!("environment variable {}", env_name(account, kind)),
    }
}

/// Refuses files that others could read or change, like ssh does with private keys.
fn read_private_file(kind: SecretKind, path: &Path) -> Result<String, TokenError> {
    let key = kind.file_key();
    let err = |m: String| TokenError::Config(format!("oauth2.{key} {}: {m}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let meta = file.metadata().map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(format!(
            "group or others may access it (mode {mode:04o}): chmod 600 it, owned by the user dossier runs as"
        )));
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(err(format!("larger than {MAX_SECRET_FILE_BYTES} bytes")));
    }
    let mut text = String::new();
    file.take(MAX_SECRET_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| err(format!("not readable as UTF-8 text: {e}")))?;
    Ok(text)
}

/// The fields dossier uses from a Google service account key file (JSON).
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl ServiceAccountKey {
    pub fn parse(text: &str, source: &str) -> Result<Self, TokenError> {
        let key: ServiceAccountKey = serde_json::from_str(text).map_err(|e| {
            // serde_json's message names the position and the expected field, not the content.
            TokenError::Config(format!(
                "the {source} is not a Google service account key (JSON with client_email and private_key): {e}"
            ))
        })?;
        if key.client_email.is_empty() || !key.private_key.contains("PRIVATE KEY") {
            return Err(TokenError::Config(format!(
                "the {source} has no client_email or no PEM private_key"
            )));
        }
        Ok(key)
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_derived_from_the_account() {
        assert_eq!(
            env_name("m365-sales.eu", SecretKind::ClientSecret),
            "DOSSIER_IMAP_M365_SALES_EU_CLIENT_SECRET"
        );
        assert_eq!(
            env_name("g", SecretKind::ServiceAccount),
            "DOSSIER_IMAP_G_SERVICE_ACCOUNT"
        );
    }

    #[test]
    fn readable_files_are_refused_and_private_ones_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read("a", SecretKind::ClientSecret, Some(&path)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("chmod 600") && msg.contains("0644"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read("a", SecretKind::ClientSecret, Some(&path)).unwrap(),
            "s3cr3t-value"
        );
        let missing = read(
            "a",
            SecretKind::ClientSecret,
            Some(&dir.path().join("nope")),
        );
        assert!(missing.unwrap_err().to_string().contains("nope"));
    }

    #[test]
    fn env_secrets_are_read() {
        let name = env_name("env-test-account", SecretKind::RefreshToken);
        std::env::set_var(&name, "rt-from-env");
        assert_eq!(
            read("env-test-account", SecretKind::RefreshToken, None).unwrap(),
            "rt-from-env"
        );
        std::env::remove_var(&name);
        let err = read("env-test-account", SecretKind::RefreshToken, None).unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
    }

    #[test]
    fn key_files_are_checked_and_never_printed() {
        let bad = ServiceAccountKey::parse("{\"private_key\": \"x\"}", "f").unwrap_err();
        assert!(bad.to_string().contains("client_email"), "{bad}");
        let key = ServiceAccountKey::parse(
            r#"{"client_email":"sa@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n"}"#,
            "f",
        )
        .unwrap();
        assert!(!format!("{key:?}").contains("AAA"));
    }
}
