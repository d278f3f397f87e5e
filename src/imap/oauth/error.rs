//! Why no access token could be had, in words an admin can act on. Never holds a secret.

use super::Grant;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A missing or unusable secret, key file or setting.
    #[error("OAuth2 configuration: {0}")]
    Config(String),
    /// No HTTP answer: DNS, refused, timeout, TLS.
    #[error("token endpoint {url} unreachable: {reason}; dossier retries")]
    Unreachable { url: String, reason: String },
    /// The endpoint answered with an error: `hint` says what to check.
    #[error("token endpoint answered {status}{detail}: {hint}")]
    Refused {
        status: u16,
        /// ` (invalid_client: description)` or empty.
        detail: String,
        hint: String,
    },
    /// An answer that is no OAuth2 token response.
    #[error("token endpoint answered {status} with something that is not an OAuth2 token response: {reason}")]
    BadResponse { status: u16, reason: String },
}

impl TokenError {
    /// True when retrying soon cannot help (a wrong secret, a revoked grant, a bad setting):
    /// the account then waits `auth_failure_backoff_secs` between attempts.
    pub fn is_permanent(&self) -> bool {
        match self {
            TokenError::Config(_) => true,
            TokenError::Refused { status, .. } => (400..500).contains(status) && *status != 429,
            TokenError::Unreachable { .. } | TokenError::BadResponse { .. } => false,
        }
    }

    /// Builds the actionable message for an error answer (RFC 6749 §5.2 codes).
    pub(crate) fn refused(
        grant: Grant,
        scope: Option<&str>,
        status: u16,
        code: Option<&str>,
        description: Option<&str>,
    ) -> TokenError {
        let detail = match (code, description) {
            (Some(c), Some(d)) => format!(" ({c}: {})", clip(d)),
            (Some(c), None) => format!(" ({c})"),
            (None, Some(d)) => format!(" ({})", clip(d)),
            (None, None) => String::new(),
        };
        let scope = scope.unwrap_or("(none)");
        let hint = match (code.unwrap_or(""), grant) {
            (_, _) if status >= 500 => "the provider failed; dossier retries".to_string(),
            (_, _) if status == 429 => "the provider throttles; dossier retries later".to_string(),
            ("invalid_client", Grant::JwtBearer) | ("", Grant::JwtBearer) if status == 401 => {
                "check the service account key: deleted or disabled in the Google Cloud console?".into()
            }
            ("invalid_client", _) | ("", _) if status == 401 => {
                "check the client secret and oauth2.client_id (Microsoft 365: the app registration's Certificates & secrets; secrets expire)".into()
            }
            ("invalid_grant", Grant::JwtBearer) => format!(
                "check the service account's domain-wide delegation (Google Admin console, Security > API controls) for scope {scope}, that oauth2.subject is a mailbox of the domain, and this host's clock"
            ),
            ("unauthorized_client", Grant::JwtBearer) => format!(
                "the service account may not act for the mailbox: grant its client ID domain-wide delegation for scope {scope} in the Google Admin console"
            ),
            ("invalid_grant", Grant::RefreshToken) => {
                "the refresh token was revoked or has expired: obtain a new one and put it in oauth2.refresh_token_file".into()
            }
            ("invalid_scope", _) => format!("the provider refuses scope {scope}: check oauth2.scope"),
            ("unauthorized_client", _) => {
                "the app may not use this grant: check the app registration".into()
            }
            (_, Grant::ClientCredentials) => format!(
                "check oauth2.token_url (the tenant), oauth2.client_id and oauth2.scope ({scope})"
            ),
            (_, Grant::JwtBearer) => "check the service account key file and oauth2.subject".into(),
            (_, Grant::RefreshToken) => {
                "check oauth2.token_url, oauth2.client_id and the refresh token".into()
            }
        };
        TokenError::Refused {
            status,
            detail,
            hint,
        }
    }
}

/// Providers' descriptions run long (trace ids, timestamps): keep the first sentence's worth.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 240;
    let s = s.trim();
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_check() {
        let e = TokenError::refused(
            Grant::ClientCredentials,
            None,
            401,
            Some("invalid_client"),
            None,
        );
        let m = e.to_string();
        assert!(
            m.starts_with("token endpoint answered 401 (invalid_client): check the client secret"),
            "{m}"
        );
        assert!(e.is_permanent());
        let e = TokenError::refused(
            Grant::JwtBearer,
            Some("https://mail.google.com/"),
            400,
            Some("unauthorized_client"),
            Some("Client is unauthorized to retrieve access tokens using this method"),
        );
        assert!(e.to_string().contains("domain-wide delegation"), "{e}");
        let e = TokenError::refused(Grant::RefreshToken, None, 503, None, None);
        assert!(
            !e.is_permanent() && e.to_string().contains("retries"),
            "{e}"
        );
        assert_eq!(clip(&"x".repeat(1000)).chars().count(), 241);
    }
}
